"""Sampling for a whole batch at once, with per-request settings and generators."""
from __future__ import annotations

import torch

from .sequence import Sequence


def sample(logits: torch.Tensor, seqs: list[Sequence], default_gen: torch.Generator) -> list[int]:
    """logits: [S, V] fp32, one row per sequence in `seqs`. Returns one token id per row."""
    ps = [s.params for s in seqs]
    if any(p.presence_penalty or p.frequency_penalty for p in ps):
        logits = logits.clone()
        for i, (s, p) in enumerate(zip(seqs, ps)):
            if (p.presence_penalty or p.frequency_penalty) and s.num_output:
                out = torch.tensor(s.output_ids, device=logits.device)
                counts = torch.bincount(out, minlength=logits.shape[1]).to(logits.dtype)
                logits[i] -= p.frequency_penalty * counts + p.presence_penalty * (counts > 0).to(logits.dtype)
    argmax = logits.argmax(dim=-1)
    if all(p.greedy for p in ps):  # decided in Python: no extra tensors for a greedy batch
        return argmax.tolist()
    greedy = torch.tensor([p.greedy for p in ps], device=logits.device)
    temps = torch.tensor([p.temperature if p.temperature > 0 else 1.0 for p in ps], device=logits.device)
    logits = logits / temps[:, None]
    order = None
    if any(p.top_k > 0 or p.top_p < 1.0 for p in ps):
        logits, order = _top_k_top_p(logits, ps)
    probs = torch.softmax(logits, dim=-1)
    # Inverse-CDF draw with one uniform per row: far cheaper on CPU than a noise value per
    # vocabulary entry, and each seeded request draws from its own generator, so its output
    # does not depend on what else is in the batch.
    u = torch.empty(len(seqs), 1, device=probs.device)
    unseeded = [i for i, s in enumerate(seqs) if s.generator is None]
    if unseeded:
        u[unseeded] = torch.rand(len(unseeded), 1, generator=default_gen, device=probs.device)
    for i, s in enumerate(seqs):
        if s.generator is not None:
            u[i] = torch.rand(1, generator=s.generator, device=probs.device)
    cdf = probs.cumsum(dim=-1)
    # 1 - u lies in (0, 1]: a zero-probability token can never be the first to reach it.
    picked = torch.searchsorted(cdf, (1.0 - u) * cdf[:, -1:]).squeeze(1).clamp_(max=probs.shape[1] - 1)
    if order is not None:
        picked = order.gather(1, picked[:, None]).squeeze(1)
    return torch.where(greedy, argmax, picked).tolist()


def logprobs(logits: torch.Tensor, tokens: list[int], top: list[int]) -> list[tuple]:
    """For each row: (token, its log-probability, [(alternative, log-probability)] * top[i]),
    under the model's own distribution (before penalties and temperature), as OpenAI reports it."""
    lp = torch.log_softmax(logits, dim=-1)
    chosen = lp.gather(1, torch.tensor(tokens, device=lp.device)[:, None]).squeeze(1).tolist()
    k = max(top)
    best = lp.topk(k, dim=-1) if k else None
    out = []
    for i, (tok, p) in enumerate(zip(tokens, chosen)):
        alts = list(zip(best.indices[i, :top[i]].tolist(), best.values[i, :top[i]].tolist())) if top[i] else []
        out.append((tok, p, alts))
    return out


def _top_k_top_p(logits: torch.Tensor, ps) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask in sorted order; returns the sorted logits and the permutation back to token ids."""
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    V = logits.shape[1]
    ks = torch.tensor([p.top_k if p.top_k > 0 else V for p in ps], device=logits.device)
    rank = torch.arange(V, device=logits.device)[None, :]
    mask = rank >= ks[:, None]
    top_p = torch.tensor([p.top_p for p in ps], device=logits.device, dtype=logits.dtype)
    probs = torch.softmax(sorted_logits.masked_fill(mask, float("-inf")), dim=-1)
    # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
    mask |= (probs.cumsum(dim=-1) - probs) >= top_p[:, None]
    return sorted_logits.masked_fill(mask, float("-inf")), order
