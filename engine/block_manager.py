"""Which cache blocks each sequence holds, with prefix sharing by block hashes.

The K/V tensors themselves live in the model (model.py); this is only their bookkeeping.

A full block is named by the hash of (previous block's hash, its tokens), so equal
prompt prefixes (a shared system prompt, a growing multi-turn history) map to the same
blocks. Freed blocks keep their contents and hash until reused, in least-recently-freed
order, so a later request, or a preempted one coming back, can still hit them.
"""
from __future__ import annotations

from collections import OrderedDict

from .sequence import Sequence


class BlockManager:
    def __init__(self, num_blocks: int, block_size: int):
        self.num_blocks, self.block_size = num_blocks, block_size
        self.ref = [0] * num_blocks
        self.hash: list[int | None] = [None] * num_blocks
        self.tokens: list[tuple | None] = [None] * num_blocks
        self.by_hash: dict[int, int] = {}
        self.free: OrderedDict[int, None] = OrderedDict((b, None) for b in range(num_blocks))

    @property
    def num_free(self) -> int:
        return len(self.free)

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_size)

    def _take(self) -> int:
        block, _ = self.free.popitem(last=False)
        h = self.hash[block]
        if h is not None and self.by_hash.get(h) == block:
            del self.by_hash[h]
        self.hash[block] = self.tokens[block] = None
        self.ref[block] = 1
        return block

    def match_prefix(self, seq: Sequence) -> list[int]:
        """Cached blocks holding a prefix of seq. The last token is never covered: its logits are needed."""
        bs, h, hits = self.block_size, None, []
        for i in range((len(seq.token_ids) - 1) // bs):
            toks = tuple(seq.token_ids[i * bs:(i + 1) * bs])
            h = hash((h, toks))
            b = self.by_hash.get(h)
            if b is None or self.tokens[b] != toks:
                break
            hits.append(b)
        return hits

    def admit(self, seq: Sequence, hits: list[int]) -> None:
        for b in hits:
            if self.ref[b] == 0:
                del self.free[b]
            self.ref[b] += 1
        seq.block_table = list(hits)
        seq.num_hashed = len(hits)
        seq.num_computed = len(hits) * self.block_size
        seq.last_hash = self.hash[hits[-1]] if hits else None

    def ensure(self, seq: Sequence, tokens: int) -> bool:
        """Give seq enough blocks for `tokens` tokens; False (nothing taken) if the cache is short."""
        need = self.blocks_for(tokens) - len(seq.block_table)
        if need > len(self.free):
            return False
        for _ in range(max(need, 0)):
            seq.block_table.append(self._take())
        return True

    def release(self, seq: Sequence) -> None:
        # Tail blocks first, so that they are the first to be recycled and shared prefixes last.
        for b in reversed(seq.block_table):
            self.ref[b] -= 1
            if self.ref[b] == 0:
                self.free[b] = None
        seq.block_table = []
        seq.num_computed = seq.num_hashed = 0
        seq.last_hash = None

    def fork(self, parent: Sequence, child: Sequence) -> tuple[int, int] | None:
        """Give child parent's computed prompt: its full blocks shared, the partial last one
        copied into a fresh block. Returns (source, copy) blocks for the K/V copy, (-1, -1) if
        the prompt ends on a block boundary, None (nothing taken) if no block is free."""
        bs, ctx = self.block_size, parent.prompt_len
        full = parent.block_table[: ctx // bs]
        copy = (-1, -1)
        if ctx % bs:
            if not self.free:
                return None
            copy = (parent.block_table[ctx // bs], self._take())
        for b in full:
            self.ref[b] += 1
        child.block_table = full + ([copy[1]] if copy[1] >= 0 else [])
        child.num_computed, child.num_hashed, child.last_hash = ctx, parent.num_hashed, parent.last_hash
        return copy

    def commit(self, seq: Sequence) -> None:
        """Publish the hashes of seq's blocks that are now full of computed K/V."""
        bs = self.block_size
        while (seq.num_hashed + 1) * bs <= seq.num_computed:
            i = seq.num_hashed
            toks = tuple(seq.token_ids[i * bs:(i + 1) * bs])
            h = hash((seq.last_hash, toks))
            b = seq.block_table[i]
            if self.hash[b] is None:
                self.hash[b], self.tokens[b] = h, toks
                self.by_hash.setdefault(h, b)
            seq.last_hash = h
            seq.num_hashed += 1
