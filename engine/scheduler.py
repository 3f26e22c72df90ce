"""Continuous batching: which tokens of which sequences go into the next forward pass,
and what the step's sampled tokens do to them.

Every running sequence has some tokens whose K/V are not yet computed: a whole prompt
(or its remainder), or the one token sampled last step. A step takes them oldest
sequence first under a token budget, so a long prompt is prefilled in chunks while the
others keep decoding. New requests join between steps. When the cache runs out, the
newest sequence is preempted: its blocks are freed and it later recomputes them (often
from the prefix cache).
"""
from __future__ import annotations

from collections import deque

from .block_manager import BlockManager
from .config import EngineConfig
from .sequence import Sequence, Status

Batch = list[tuple[Sequence, int]]  # each scheduled sequence with its number of tokens to compute


class QueueFull(Exception):
    """More requests are waiting than the configured bound."""


class Scheduler:
    def __init__(self, config: EngineConfig, num_blocks: int, eos: set[int], max_model_len: int):
        self.blocks = BlockManager(num_blocks, config.block_size)
        self.max_batched_tokens, self.max_seqs = config.max_batched_tokens, config.max_seqs
        self.max_waiting = config.max_waiting
        self.eos, self.max_model_len = eos, max_model_len
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.num_preemptions = 0

    def add(self, seq: Sequence) -> None:
        if len(self.waiting) >= self.max_waiting:
            raise QueueFull(f"{len(self.waiting)} requests already waiting")
        self.waiting.append(seq)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def schedule(self) -> Batch:
        budget = self.max_batched_tokens
        batch: Batch = []
        preempted = False
        i = 0
        while i < len(self.running) and budget > 0:
            seq = self.running[i]
            n = min(len(seq.token_ids) - seq.num_computed, budget)
            while not self.blocks.ensure(seq, seq.num_computed + n):
                victim = self.running[-1]
                self._preempt(victim)
                preempted = True
                if victim is seq:
                    break
            else:
                batch.append((seq, n))
                budget -= n
                i += 1
        # Admitting while preempting would only thrash: wait until the running set fits.
        while self.waiting and budget > 0 and len(self.running) < self.max_seqs and not preempted:
            seq = self.waiting[0]
            hits = self.blocks.match_prefix(seq)
            # Room for the whole remaining sequence plus one decode step, so that admitting
            # it does not immediately force a preemption.
            need = self.blocks.blocks_for(len(seq.token_ids) + 1) - len(hits)
            reusable = sum(1 for b in hits if self.blocks.ref[b] == 0)
            if need > self.blocks.num_free - reusable:
                break
            self.waiting.popleft()
            self.blocks.admit(seq, hits)
            if not seq.admitted_once:
                seq.num_cached_tokens, seq.admitted_once = seq.num_computed, True
            n = min(len(seq.token_ids) - seq.num_computed, budget)
            self.blocks.ensure(seq, seq.num_computed + n)
            seq.status = Status.RUNNING
            self.running.append(seq)
            batch.append((seq, n))
            budget -= n
        return batch

    def postprocess(self, batch: Batch, tokens: list[int], stopped: list[bool]) -> None:
        """After the forward: the batch's K/V are computed (full blocks join the prefix cache),
        and each sampled sequence (those of `sampled(batch)`, in order) takes its token and
        finishes on EOS, on a stop string (`stopped`, found by the detokeniser) or on length."""
        seqs = sampled(batch)
        for seq, n in batch:
            seq.num_computed += n
            self.blocks.commit(seq)
        for seq, tok, stop in zip(seqs, tokens, stopped):
            seq.token_ids.append(tok)
            if (tok in self.eos and not seq.params.ignore_eos) or stop:
                self.finish(seq, "stop")
            elif seq.num_output >= seq.params.max_tokens or len(seq.token_ids) >= self.max_model_len:
                self.finish(seq, "length")

    def fork(self, parent: Sequence) -> tuple[list[Sequence], list[tuple[int, int]]]:
        """The other n - 1 choices of parent, whose prompt this step computed: they run now on
        its blocks (returned: those sampled this step, and the blocks whose K/V to copy), or,
        when no block or sequence slot is free, wait to be prefilled from the prefix cache."""
        forked, copies = [], []
        for index in range(1, parent.params.n):
            child = parent.fork(index)
            copy = self.blocks.fork(parent, child) if len(self.running) < self.max_seqs else None
            if copy is None:
                child.status, child.admitted_once = Status.WAITING, False
                self.waiting.append(child)
                continue
            if copy[0] >= 0:
                copies.append(copy)
            self.running.append(child)
            forked.append(child)
        return forked, copies

    def _preempt(self, seq: Sequence) -> None:
        self.running.remove(seq)
        self.blocks.release(seq)
        seq.status = Status.WAITING
        self.waiting.appendleft(seq)
        self.num_preemptions += 1

    def finish(self, seq: Sequence, reason: str) -> None:
        """End seq (done or aborted) wherever it is, and give its blocks back."""
        if seq.status == Status.FINISHED:
            return
        if seq.status == Status.RUNNING:
            self.running.remove(seq)
        else:
            try:
                self.waiting.remove(seq)
            except ValueError:
                pass
        self.blocks.release(seq)
        seq.status, seq.finish_reason = Status.FINISHED, reason


def sampled(batch: Batch) -> list[Sequence]:
    """The sequences whose last token this step computes: each gets a new token."""
    return [seq for seq, n in batch if seq.num_computed + n == len(seq.token_ids)]
