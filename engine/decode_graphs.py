"""`--compile`: the decode step as torch.compile graphs, one per padded batch size.

A decode-only step (every row one new token: the steady state of serving) runs
`Transformer.decode`, which writes nothing: each layer reads its cached K/V through the
rows' block tables, and the new tokens' K/V come back to be written to the cache in one
copy. Rows are padded up to the next of 1, 2, 4, 8 … max_seqs so that every graph has a
fixed batch size (inductor then fuses the norms, rotary, residual adds and casts around the
matmuls, and recompiles nothing); the block-table width stays symbolic, so one graph per
size serves every context length. Each layer is one nested compile region, so a graph
compiles in about the time of one layer. All graphs are compiled when the engine starts.
Steps with a prefill chunk run eagerly.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .model import Transformer
    from .model_runner import StepBuffers


def batch_sizes(max_rows: int) -> list[int]:
    """1, 2, 4 … up to max_rows, which is always the last."""
    sizes = [1]
    while sizes[-1] * 2 < max_rows:
        sizes.append(sizes[-1] * 2)
    return sizes + [max_rows] if sizes[-1] < max_rows else sizes


class DecodeGraphs:
    def __init__(self, model: "Transformer", buffers: "StepBuffers", max_rows: int):
        self.model, self.buffers = model, buffers
        self.sizes = batch_sizes(max_rows)
        # One graph per size, and one set per model and cache shape in a process (tests):
        # dynamo's per-function limit (8 by default) would otherwise fall back to eager.
        torch._dynamo.config.recompile_limit += len(self.sizes)
        self.decode = torch.compile(model.decode, dynamic=False)
        self.warm_up()

    @torch.inference_mode()
    @torch.compiler.set_stance("default")  # compiling is the point here, whatever the caller's stance
    def warm_up(self) -> None:
        """Compile every size on dummy rows (block 0, context 1), the width marked symbolic."""
        for size in self.sizes:
            self.buffers.context_lens.np[:size] = 1
            args = self.pad(size, 2)
            torch._dynamo.mark_dynamic(args[2], 1)
            self.decode(*args, self.model.kv_cache)

    def pad(self, rows: int, width: int) -> tuple:
        """The step's inputs (written by ModelRunner.prepare into the buffers) padded to the
        next size: extra rows see only their own token. Width >= 2: dynamo would specialise a 1."""
        size = next(s for s in self.sizes if s >= rows)
        buf = self.buffers
        buf.context_lens.np[rows:size] = 1
        whole = slice(0, size)
        return (buf.ids.take(whole), buf.positions.take(whole), buf.tables.take(whole, slice(0, max(width, 2))),
                buf.context_lens.take(whole))

    def run(self, args: tuple, slots: torch.Tensor) -> torch.Tensor:
        """Logits of every padded row; the real rows' new K/V written at `slots`."""
        cache = self.model.kv_cache
        logits, new_kv = self.decode(*args, cache)
        cache.view(*cache.shape[:2], -1, *cache.shape[4:]).index_copy_(2, slots, new_kv[:, :, :len(slots)])
        return logits
