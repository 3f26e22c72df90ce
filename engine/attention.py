"""Paged attention in plain torch: K/V live in fixed-size blocks, a block table per sequence.

A step's tokens are laid out flat: first one token per decoding sequence, then the
chunks of sequences still prefilling. Decode rows are batched in one SDPA call per layer
over keys laid out [rows, keys]: when one row's blocks are contiguous, a view of the
cache; otherwise every layer's blocks are gathered at once, at the start of the step, and
each layer adds its new token to the gathered copy as it writes it to the cache. Prefill
chunks go one SDPA call each.

The compiled decode step (`--compile`, decode_graphs.py) uses `decode_attention` instead,
which writes nothing: mutating the cache inside a torch.compile graph makes inductor copy it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

_HAS_GQA = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 5)


@dataclass
class PrefillChunk:
    start: int  # offset of the chunk's first token in the flat batch
    length: int  # tokens in the chunk
    context: int  # tokens of context after this chunk (cached + chunk)
    block_table: torch.Tensor  # block ids covering `context`
    mask: torch.Tensor | None = None  # built once per step, used by every layer


@dataclass
class AttnMeta:
    slot_mapping: torch.Tensor  # [T] cache slot each new token's K/V is written to
    num_decode: int = 0
    # Decode rows, one of two layouts:
    decode_span: tuple[int, int] | None = None  # one row over contiguous blocks: (first slot, context)
    decode_blocks: torch.Tensor | None = None  # [D * max_blocks] every row's blocks, padded, to gather
    decode_slots: torch.Tensor | None = None  # [D] each row's new token in the gathered keys, flat
    decode_mask: torch.Tensor | None = None  # [D, 1, 1, max_blocks * block_size]: True where a key is real
    prefills: list[PrefillChunk] | None = None


def gather_decode_kv(kv_cache: torch.Tensor, meta: AttnMeta, out: torch.Tensor) -> torch.Tensor | None:
    """All layers' K/V of the decode rows in one copy: [layers, 2, D, keys, kv_heads, dim]."""
    if meta.decode_blocks is None:
        return None
    L, _, _, bs, kv_heads, dim = kv_cache.shape
    n = meta.decode_blocks.numel()
    buf = out[: L * 2 * n * bs * kv_heads * dim].view(L, 2, n, bs, kv_heads, dim)
    torch.index_select(kv_cache, 2, meta.decode_blocks, out=buf)
    return buf.view(L, 2, meta.num_decode, -1, kv_heads, dim)


def write_kv(k_cache: torch.Tensor, v_cache: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slots: torch.Tensor) -> None:
    # Cache layout is [num_blocks, block_size, kv_heads, head_dim]; a slot is block * size + offset.
    k_cache.view(-1, *k_cache.shape[2:]).index_copy_(0, slots, k)
    v_cache.view(-1, *v_cache.shape[2:]).index_copy_(0, slots, v)


def paged_attention(q, k, v, k_cache, v_cache, meta: AttnMeta, scale: float,
                    decode_kv: torch.Tensor | None = None) -> torch.Tensor:
    """q: [T, heads, dim]; k, v: [T, kv_heads, dim] for the new tokens; decode_kv: this layer's
    [2, D, keys, kv_heads, dim] from gather_decode_kv. Returns [T, heads*dim]."""
    write_kv(k_cache, v_cache, k, v, meta.slot_mapping)
    T, heads, dim = q.shape
    kv_heads = k.shape[1]
    out = torch.empty_like(q)
    d = meta.num_decode
    if d:
        if meta.decode_span is not None:
            first, ctx = meta.decode_span
            dk = k_cache.view(-1, kv_heads, dim)[first:first + ctx].unsqueeze(0)
            dv = v_cache.view(-1, kv_heads, dim)[first:first + ctx].unsqueeze(0)
        else:
            dk, dv = decode_kv[0], decode_kv[1]
            dk.view(-1, kv_heads, dim).index_copy_(0, meta.decode_slots, k[:d])
            dv.view(-1, kv_heads, dim).index_copy_(0, meta.decode_slots, v[:d])
        out[:d] = _decode(q[:d], dk, dv, meta.decode_mask, scale)
    for c in meta.prefills or ():
        qs = q[c.start : c.start + c.length].transpose(0, 1).unsqueeze(0)  # [1, H, L, D]
        if c.context == c.length:
            # Nothing cached before this chunk: attend to the fresh K/V, plain causal mask.
            ks = k[c.start : c.start + c.length]
            vs = v[c.start : c.start + c.length]
            mask, causal = None, True
        else:
            ks = _gather(k_cache, c.block_table, c.context)
            vs = _gather(v_cache, c.block_table, c.context)
            mask, causal = c.mask, False
        ks, vs = ks.transpose(0, 1).unsqueeze(0), vs.transpose(0, 1).unsqueeze(0)
        gqa = {}
        if heads != kv_heads:
            if _HAS_GQA:
                gqa = {"enable_gqa": True}
            else:  # torch < 2.5 (the [engine] extra allows 2.4)
                ks, vs = ks.repeat_interleave(heads // kv_heads, 1), vs.repeat_interleave(heads // kv_heads, 1)
        o = F.scaled_dot_product_attention(qs, ks, vs, attn_mask=mask, is_causal=causal, scale=scale, **gqa)
        out[c.start : c.start + c.length] = o.squeeze(0).transpose(0, 1)
    return out.reshape(T, heads * dim)


def decode_attention(q, k, v, kv: torch.Tensor, block_tables: torch.Tensor, context_lens: torch.Tensor,
                     scale: float) -> torch.Tensor:
    """Decode rows, one new token each, with no writes. q: [D, heads, dim]; k, v: [D, kv_heads, dim]
    (the new tokens, which the caller writes to the cache afterwards); kv: the layer's cache
    [2, blocks, block_size, kv_heads, dim]; block_tables: [D, W]; context_lens: [D], the new
    token included. A row attends to the first context - 1 keys of its blocks, then to its new
    token, appended after them. Returns [D, heads*dim]."""
    rows, width = block_tables.shape
    _, _, bs, kv_heads, dim = kv.shape
    past = width * bs
    key = torch.arange(past + 1, device=q.device)
    mask = (key[None, :] < context_lens[:, None] - 1) | (key == past)[None, :]
    dk = torch.cat([kv[0][block_tables].view(rows, past, kv_heads, dim), k[:, None]], dim=1)
    dv = torch.cat([kv[1][block_tables].view(rows, past, kv_heads, dim), v[:, None]], dim=1)
    return _decode(q, dk, dv, mask[:, None, None, :], scale).reshape(rows, -1)


def _gather(cache: torch.Tensor, block_table: torch.Tensor, context: int) -> torch.Tensor:
    return cache[block_table].reshape(-1, *cache.shape[2:])[:context]


def _decode(q, k, v, mask, scale):
    # One query per sequence; k, v: [D, keys, kv_heads, dim]. Viewing the query heads of a KV
    # group as a "query length" turns GQA into plain attention with no K/V repetition.
    D, heads, dim = q.shape
    kv_heads = k.shape[2]
    qg = q.view(D, kv_heads, heads // kv_heads, dim)
    o = F.scaled_dot_product_attention(qg, k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask, scale=scale)
    return o.reshape(D, heads, dim)
