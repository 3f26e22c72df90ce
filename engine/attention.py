"""Paged attention in plain torch: K/V live in fixed-size blocks, a block table per sequence.

A step's tokens are laid out flat: first one token per decoding sequence, then the
chunks of sequences still prefilling. Decode rows are batched in one SDPA call (their
blocks gathered into a padded tensor); prefill chunks go one SDPA call each.
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
    decode_block_tables: torch.Tensor | None = None  # [D, max_blocks]
    decode_mask: torch.Tensor | None = None  # [D, 1, 1, max_blocks * block_size]: True where a key is real
    prefills: list[PrefillChunk] | None = None
    decode_mask: torch.Tensor | None = None


def write_kv(k_cache: torch.Tensor, v_cache: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slots: torch.Tensor) -> None:
    # Cache layout is [num_blocks, block_size, kv_heads, head_dim]; a slot is block * size + offset.
    k_cache.view(-1, *k_cache.shape[2:]).index_copy_(0, slots, k)
    v_cache.view(-1, *v_cache.shape[2:]).index_copy_(0, slots, v)


def paged_attention(q, k, v, k_cache, v_cache, meta: AttnMeta, scale: float) -> torch.Tensor:
    """q: [T, heads, dim]; k, v: [T, kv_heads, dim] for the new tokens. Returns [T, heads*dim]."""
    write_kv(k_cache, v_cache, k, v, meta.slot_mapping)
    T, heads, dim = q.shape
    kv_heads = k.shape[1]
    out = torch.empty_like(q)
    d = meta.num_decode
    if d:
        out[:d] = _decode(q[:d], k_cache, v_cache, meta.decode_block_tables, meta.decode_mask, scale)
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


def _gather(cache: torch.Tensor, block_table: torch.Tensor, context: int) -> torch.Tensor:
    return cache[block_table].reshape(-1, *cache.shape[2:])[:context]


def _decode(q, k_cache, v_cache, block_tables, mask, scale):
    # One query per sequence. Viewing the query heads of a KV group as a "query length"
    # turns GQA into plain attention with no K/V repetition: q [D, kv_heads, group, dim].
    D, heads, dim = q.shape
    kv_heads = k_cache.shape[2]
    k = k_cache[block_tables].reshape(D, -1, kv_heads, dim).transpose(1, 2)
    v = v_cache[block_tables].reshape(D, -1, kv_heads, dim).transpose(1, 2)
    qg = q.view(D, kv_heads, heads // kv_heads, dim)
    o = F.scaled_dot_product_attention(qg, k, v, attn_mask=mask, scale=scale)
    return o.reshape(D, heads, dim)
