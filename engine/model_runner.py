"""Turns a scheduled batch into flat model inputs and attention metadata, and runs the model."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from .attention import AttnMeta, PrefillChunk
from .config import EngineConfig
from .scheduler import Batch


@dataclass
class ModelInputs:
    ids: torch.Tensor  # [T] the step's tokens, decodes first
    positions: torch.Tensor  # [T]
    meta: AttnMeta
    sample_rows: torch.Tensor | slice | None  # rows whose logits are sampled, in batch order
    graph: tuple | None = None  # a decode-only step padded for decode_graphs.py: (ids, positions, tables, lengths)


class Buffer:
    """A preallocated int64 input, written through a numpy view of its host memory (pinned for
    a GPU); `take` gives the written part on the device."""

    def __init__(self, shape: tuple[int, ...], device: torch.device):
        self.host = torch.zeros(shape, dtype=torch.long, pin_memory=device.type == "cuda")
        self.np = self.host.numpy()
        self.dev = self.host if device.type == "cpu" else torch.zeros(shape, dtype=torch.long, device=device)

    def take(self, *index: slice) -> torch.Tensor:
        if self.dev is not self.host:
            self.dev[index].copy_(self.host[index], non_blocking=True)
        return self.dev[index]


class StepBuffers:
    """A step's token inputs, and the decode rows' block tables and context lengths, allocated
    once: a step writes them in place instead of building tensors from Python lists."""

    def __init__(self, tokens: int, rows: int, max_blocks: int, block_size: int, device: torch.device):
        self.ids, self.positions, self.slots = (Buffer((tokens,), device) for _ in range(3))
        self.tables = Buffer((rows, max_blocks), device)  # a decode row's blocks, left-aligned
        self.context_lens = Buffer((rows,), device)  # a decode row's context, its new token included
        self.gathered_slots = Buffer((rows,), device)  # a decode row's new token in the gathered keys
        self.key_index = torch.arange(max_blocks * block_size, device=device)


class ModelRunner:
    def __init__(self, model, config: EngineConfig):
        self.model, self.block_size = model, config.block_size
        self.device = model.embed_tokens.weight.device
        self.num_blocks = kv_blocks_for(model.cfg, config, model.embed_tokens.weight.dtype)
        model.allocate_kv_cache(self.num_blocks, self.block_size)
        # A sequence never spans more blocks than the cache, nor than its longest position needs.
        max_blocks = min(self.num_blocks, -(-model.cfg.max_position // self.block_size) + 1)
        # A step holds at most max_seqs sequences and max_batched_tokens tokens.
        self.buffers = StepBuffers(config.max_batched_tokens, config.max_seqs, max_blocks, self.block_size,
                                   self.device)
        self.graphs = None
        if config.compile:
            from .decode_graphs import DecodeGraphs

            self.graphs = DecodeGraphs(model, self.buffers, min(config.max_seqs, config.max_batched_tokens))

    def run(self, batch: Batch) -> torch.Tensor | None:
        """Compute K/V for the scheduled tokens. Returns logits [S, V], one row per sequence
        whose last token was fed (`scheduler.sampled(batch)`, same order), or None if none was."""
        return self.forward(self.prepare(batch))

    @torch.inference_mode()
    def forward(self, inputs: "ModelInputs") -> torch.Tensor | None:
        if inputs.graph is not None:
            return self.graphs.run(inputs.graph, inputs.meta.slot_mapping)[inputs.sample_rows]
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
        bs, buf = self.block_size, self.buffers
        # Single-token rows (decodes) first: they share one batched attention call.
        order = sorted(range(len(batch)), key=lambda i: batch[i][1] != 1)
        tokens = decodes = width = 0  # width: the most blocks a decode row spans
        prefills, last_row, first_table = [], {}, None
        for i in order:
            seq, n = batch[i]
            past, table = seq.num_computed, seq.block_table
            ctx = past + n
            buf.ids.np[tokens:tokens + n] = seq.token_ids[past:ctx]
            if n == 1:
                blocks = -(-ctx // bs)
                buf.positions.np[tokens] = past
                buf.slots.np[tokens] = table[past // bs] * bs + past % bs
                buf.tables.np[decodes, :blocks] = table[:blocks]
                buf.context_lens.np[decodes] = ctx
                if first_table is None:
                    first_table = table[:blocks]
                decodes, width = decodes + 1, max(width, blocks)
            else:
                buf.positions.np[tokens:tokens + n] = range(past, ctx)
                buf.slots.np[tokens:tokens + n] = [table[p // bs] * bs + p % bs for p in range(past, ctx)]
                prefills.append(self._chunk(tokens, n, past, table[:-(-ctx // bs)]))
            if ctx == len(seq.token_ids):
                last_row[i] = tokens + n - 1
            tokens += n
        rows = [last_row[i] for i in sorted(last_row)]  # batch order, as scheduler.sampled lists them
        # Every row sampled means every row is a decode, in batch order: a view, no index.
        sample_rows = slice(0, tokens) if len(rows) == tokens else (
            torch.tensor(rows, device=self.device) if rows else None)
        meta = AttnMeta(slot_mapping=buf.slots.take(slice(0, tokens)), num_decode=decodes, prefills=prefills)
        if self.graphs is not None and decodes == tokens:
            return ModelInputs(buf.ids.take(slice(0, tokens)), buf.positions.take(slice(0, tokens)), meta,
                               sample_rows, self.graphs.pad(decodes, width))
        if decodes:
            self._decode_layout(meta, decodes, width, first_table)
        return ModelInputs(buf.ids.take(slice(0, tokens)), buf.positions.take(slice(0, tokens)), meta, sample_rows)

    def _chunk(self, start: int, n: int, past: int, table: list[int]) -> PrefillChunk:
        ctx = past + n
        bt = torch.tensor(table, dtype=torch.long, device=self.device)
        mask = None
        if past:  # queries at past..ctx-1 see keys up to their own position
            qpos = torch.arange(past, ctx, device=self.device)
            mask = torch.arange(ctx, device=self.device)[None, :] <= qpos[:, None]
        return PrefillChunk(start, n, ctx, bt, mask)

    def _decode_layout(self, meta: AttnMeta, rows: int, width: int, first_table: list[int]) -> None:
        """Where the eager decode reads its keys: a view of the cache when one row's blocks are
        contiguous, else every row's blocks gathered, padded to `width` blocks."""
        bs, buf = self.block_size, self.buffers
        first = first_table[0]
        if rows == 1 and first_table == list(range(first, first + len(first_table))):
            meta.decode_span = (first * bs, int(buf.context_lens.np[0]))  # no copy, no mask
            return
        # Padding is whatever the buffer holds (valid block ids); the context-length mask hides it.
        meta.decode_blocks = buf.tables.take(slice(0, rows), slice(0, width)).reshape(-1)
        np.add(np.arange(rows) * (width * bs) - 1, buf.context_lens.np[:rows], out=buf.gathered_slots.np[:rows])
        meta.decode_slots = buf.gathered_slots.take(slice(0, rows))
        ctx = buf.context_lens.take(slice(0, rows))
        meta.decode_mask = (buf.key_index[:width * bs][None, :] < ctx[:, None])[:, None, None, :]
        self.model.reserve_decode_kv(rows * width)


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
