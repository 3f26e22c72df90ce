"""Turns a scheduled batch into flat model inputs and attention metadata, and runs the model."""
from __future__ import annotations

import torch

from .attention import AttnMeta, PrefillChunk
from .sequence import Sequence


class ModelRunner:
    def __init__(self, model, num_blocks: int, block_size: int):
        self.model, self.block_size = model, block_size
        self.device = model.embed_tokens.weight.device
        model.allocate_kv_cache(num_blocks, block_size)

    @torch.inference_mode()
    def run(self, batch: list[tuple[Sequence, int]]) -> tuple[torch.Tensor | None, list[Sequence]]:
        """Compute K/V for the scheduled tokens; logits [S, V] for the sequences whose last token was fed."""
        bs = self.block_size
        # Single-token rows (decodes) first: they share one batched attention call.
        batch = sorted(batch, key=lambda x: x[1] != 1)
        ids, pos, slots, sample_rows, sampling = [], [], [], [], []
        dec_tables, dec_ctx, prefills = [], [], []
        for seq, n in batch:
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
                sample_rows.append(len(ids) - 1)
                sampling.append(seq)
        dev = self.device
        meta = AttnMeta(slot_mapping=torch.tensor(slots, dtype=torch.long, device=dev), prefills=prefills)
        if dec_tables:
            width = max(len(t) for t in dec_tables)
            # Padding points at block 0; the context-length mask hides whatever it holds.
            meta.num_decode = len(dec_tables)
            meta.decode_block_tables = torch.tensor([t + [0] * (width - len(t)) for t in dec_tables], device=dev)
            ctx = torch.tensor(dec_ctx, device=dev)
            meta.decode_mask = (torch.arange(width * bs, device=dev)[None, :] < ctx[:, None])[:, None, None, :]
        hidden = self.model(torch.tensor(ids, device=dev), torch.tensor(pos, device=dev), meta)
        for seq, n in batch:
            seq.num_computed += n
        if not sampling:
            return None, []
        return self.model.logits(hidden[torch.tensor(sample_rows, device=dev)]), sampling
