"""Turns a scheduled batch into flat model inputs and attention metadata, and runs the model."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .attention import AttnMeta, PrefillChunk
from .config import EngineConfig
from .scheduler import Batch


@dataclass
class ModelInputs:
    ids: torch.Tensor  # [T] the step's tokens, decodes first
    positions: torch.Tensor  # [T]
    meta: AttnMeta
    sample_rows: torch.Tensor | None  # rows whose logits are sampled, in batch order


class ModelRunner:
    def __init__(self, model, config: EngineConfig):
        self.model, self.block_size = model, config.block_size
        self.device = model.embed_tokens.weight.device
        self.num_blocks = kv_blocks_for(model.cfg, config, model.embed_tokens.weight.dtype)
        model.allocate_kv_cache(self.num_blocks, self.block_size)

    def run(self, batch: Batch) -> torch.Tensor | None:
        """Compute K/V for the scheduled tokens. Returns logits [S, V], one row per sequence
        whose last token was fed (`scheduler.sampled(batch)`, same order), or None if none was."""
        return self.forward(self.prepare(batch))

    @torch.inference_mode()
    def forward(self, inputs: "ModelInputs") -> torch.Tensor | None:
        hidden = self.model(inputs.ids, inputs.positions, inputs.meta)
        if inputs.sample_rows is None:
            return None
        return self.model.logits(hidden[inputs.sample_rows])

    @torch.inference_mode()
    def copy_blocks(self, copies: list[tuple[int, int]]) -> None:
        """Copy every layer's K/V of block src into block dst, for each (src, dst)."""
        if copies:
            src, dst = (torch.tensor(x, device=self.device) for x in zip(*copies))
            cache = self.model.kv_cache
            cache.index_copy_(2, dst, cache.index_select(2, src))

    def prepare(self, batch: Batch) -> "ModelInputs":
        bs = self.block_size
        # Single-token rows (decodes) first: they share one batched attention call.
        order = sorted(range(len(batch)), key=lambda i: batch[i][1] != 1)
        ids, pos, slots, last_row = [], [], [], {}
        dec_tables, dec_ctx, prefills = [], [], []
        for i in order:
            seq, n = batch[i]
            start, past = len(ids), seq.num_computed
            ids += seq.token_ids[past:past + n]
            pos += range(past, past + n)
            table = seq.block_table
            slots += [table[p // bs] * bs + p % bs for p in range(past, past + n)]
            ctx = past + n
            if n == 1:
                dec_tables.append(table[:-(-ctx // bs)])
                dec_ctx.append(ctx)
            else:
                bt = torch.tensor(table[:-(-ctx // bs)], dtype=torch.long, device=self.device)
                mask = None
                if past:  # queries at past..ctx-1 see keys up to their own position
                    qpos = torch.arange(past, ctx, device=self.device)
                    mask = torch.arange(ctx, device=self.device)[None, :] <= qpos[:, None]
                prefills.append(PrefillChunk(start, n, ctx, bt, mask))
            if ctx == len(seq.token_ids):
                last_row[i] = len(ids) - 1
        dev = self.device
        meta = AttnMeta(slot_mapping=torch.tensor(slots, dtype=torch.long, device=dev), prefills=prefills)
        if dec_tables:
            meta.num_decode = len(dec_tables)
            first = dec_tables[0][0]
            if len(dec_tables) == 1 and dec_tables[0] == list(range(first, first + len(dec_tables[0]))):
                meta.decode_span = (first * bs, dec_ctx[0])  # a view of the cache: no copy, no mask
            else:
                width = max(len(t) for t in dec_tables)
                # Padding points at block 0; the context-length mask hides whatever it holds.
                meta.decode_blocks = torch.tensor([b for t in dec_tables for b in t + [0] * (width - len(t))],
                                                  device=dev)
                meta.decode_slots = torch.tensor([d * width * bs + c - 1 for d, c in enumerate(dec_ctx)], device=dev)
                ctx = torch.tensor(dec_ctx, device=dev)
                meta.decode_mask = (torch.arange(width * bs, device=dev)[None, :] < ctx[:, None])[:, None, None, :]
                self.model.reserve_decode_kv(len(dec_tables) * width)
        rows = [last_row[i] for i in sorted(last_row)]  # batch order, as scheduler.sampled lists them
        return ModelInputs(torch.tensor(ids, device=dev), torch.tensor(pos, device=dev), meta,
                           torch.tensor(rows, device=dev) if rows else None)


def kv_blocks_for(model_cfg, config: EngineConfig, dtype) -> int:
    """Cache size: --max-kv-tokens if given, else a share of the memory left after the weights."""
    block_size = config.block_size
    if config.max_kv_tokens:
        return max(2, -(-config.max_kv_tokens // block_size))
    per_token = 2 * model_cfg.num_layers * model_cfg.num_kv_heads * model_cfg.head_dim * dtype.itemsize
    if config.device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info()
        budget = int(free * (config.kv_memory_fraction or 0.85))
    else:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        fraction = config.kv_memory_fraction
        budget = int(avail * fraction) if fraction else min(int(avail * 0.2), 4 << 30)
    tokens = min(budget // per_token, 1 << 20)
    return max(2, tokens // block_size)
