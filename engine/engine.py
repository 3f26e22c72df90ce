"""The engine: scheduler + model runner + sampler + detokenisation, one step at a time.

`LLMEngine` is synchronous and single-threaded (tests drive it directly); `AsyncEngine`
runs it on a background thread and hands outputs to asyncio tasks.
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import AsyncIterator

import torch

from .kv_cache import BlockManager
from .loader import Checkpoint
from .runner import ModelRunner
from .sampler import sample
from .scheduler import QueueFull, Scheduler
from .sequence import SamplingParams, Sequence, Status

END_THINK = "</think>"


class RequestError(Exception):
    """A request the engine cannot serve as asked; `param` names the offending field."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


@dataclass
class RequestOutput:
    seq_id: int
    delta: str
    finished: bool
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int | None
    error: str | None = None


class LLMEngine:
    def __init__(self, ckpt: Checkpoint, model, *, num_blocks: int, block_size: int = 16,
                 max_batched_tokens: int = 512, max_seqs: int = 64, max_waiting: int = 256,
                 max_model_len: int | None = None):
        self.ckpt, self.tokenizer = ckpt, ckpt.tokenizer
        self.blocks = BlockManager(num_blocks, block_size)
        self.scheduler = Scheduler(self.blocks, max_batched_tokens, max_seqs, max_waiting)
        self.runner = ModelRunner(model, num_blocks, block_size)
        # The last token must fit a block with room for one more decode step.
        self.max_model_len = min(ckpt.config.max_position, num_blocks * block_size - 1,
                                 max_model_len or 1 << 62)
        self.eos = set(ckpt.eos_token_ids)
        self.gen = torch.Generator(device=self.runner.device).manual_seed(0)
        self.seqs: dict[int, Sequence] = {}
        self.logits_hook = None  # called with (seqs, logits) before sampling: parity tests, debugging
        self.stats = {"requests": 0, "finished": 0, "aborted": 0, "prompt_tokens": 0,
                      "generation_tokens": 0, "steps": 0, "step_seconds": 0.0}

    # --- requests ----------------------------------------------------------------------
    def make_sequence(self, prompt_ids: list[int], params: SamplingParams) -> Sequence:
        """Validate and build a sequence (cheap, safe from any thread)."""
        if not prompt_ids:
            raise RequestError("the prompt is empty", "messages")
        if len(prompt_ids) >= self.max_model_len:
            raise RequestError(
                f"This model's maximum context length is {self.max_model_len} tokens; the prompt has "
                f"{len(prompt_ids)} tokens, leaving no room for output.", "messages")
        params.max_tokens = min(params.max_tokens, self.max_model_len - len(prompt_ids))
        seq = Sequence(list(prompt_ids), params)
        if params.seed is not None:
            seq.generator = torch.Generator(device=self.runner.device).manual_seed(params.seed)
        from tokenizers.decoders import DecodeStream

        seq.decoder = DecodeStream(skip_special_tokens=True)
        return seq

    def add(self, seq: Sequence) -> None:
        self.scheduler.add(seq)
        self.seqs[seq.id] = seq
        self.stats["requests"] += 1
        self.stats["prompt_tokens"] += seq.prompt_len

    def add_request(self, prompt_ids: list[int], params: SamplingParams | None = None) -> Sequence:
        seq = self.make_sequence(prompt_ids, params or SamplingParams())
        self.add(seq)
        return seq

    def abort(self, seq: Sequence) -> None:
        if seq.status != Status.FINISHED:
            self.scheduler.finish(seq, "abort")
            self.stats["aborted"] += 1
        self.seqs.pop(seq.id, None)

    def has_work(self) -> bool:
        return self.scheduler.has_work()

    # --- the step ----------------------------------------------------------------------
    def step(self) -> list[RequestOutput]:
        t0 = time.perf_counter()
        batch = self.scheduler.schedule()
        if not batch:
            return []
        self.stats["steps"] += 1
        logits, seqs = self.runner.run(batch)
        for seq, _ in batch:
            self.blocks.commit(seq)
        outs = []
        if seqs:
            if self.logits_hook is not None:
                self.logits_hook(seqs, logits)
            tokens = sample(logits, seqs, self.gen)
            outs = [self._append(seq, tok) for seq, tok in zip(seqs, tokens)]
        self.stats["step_seconds"] += time.perf_counter() - t0
        return outs

    def _append(self, seq: Sequence, tok: int) -> RequestOutput:
        seq.token_ids.append(tok)
        self.stats["generation_tokens"] += 1
        p = seq.params
        reason = None
        if tok in self.eos and not p.ignore_eos:
            reason = "stop"
        else:
            piece = seq.decoder.step(self.tokenizer, tok)
            if piece:
                before = len(seq.text)
                seq.text += piece
                if seq.reasoning_tokens is None and END_THINK in seq.text[max(0, before - len(END_THINK)):]:
                    seq.reasoning_tokens = seq.num_output
                for s in p.stop:
                    # Search only where a new match can be: the stop may straddle earlier pieces.
                    i = seq.text.find(s, max(0, before - len(s) + 1))
                    if i >= 0:
                        seq.text, reason = seq.text[:i], "stop"
                        break
        if reason is None and (seq.num_output >= p.max_tokens or len(seq.token_ids) >= self.max_model_len):
            reason = "length"
        if reason is not None:
            self.scheduler.finish(seq, reason)
            self.seqs.pop(seq.id, None)
            self.stats["finished"] += 1
            upto = len(seq.text)
        else:
            # Hold back a tail that could still turn out to begin a stop string.
            hold = max((len(s) for s in p.stop), default=1) - 1
            upto = max(seq.sent, len(seq.text) - hold)
        delta, seq.sent = seq.text[seq.sent:upto], upto
        return RequestOutput(seq.id, delta, reason is not None, reason, seq.prompt_len, seq.num_output,
                             seq.num_cached_tokens, seq.reasoning_tokens)

    def generate(self, prompts: list[list[int]], params: SamplingParams | list[SamplingParams]) -> list[list[int]]:
        """Run prompts to completion together; returns each one's output token ids (tests, offline use)."""
        plist = params if isinstance(params, list) else [SamplingParams(**vars(params)) for _ in prompts]
        seqs = [self.add_request(p, sp) for p, sp in zip(prompts, plist)]
        while self.has_work():
            self.step()
        return [s.output_ids for s in seqs]


def _deliver(items) -> None:
    for q, out in items:
        q.put_nowait(out)


class AsyncEngine:
    """Runs an LLMEngine on its own thread; requests and aborts cross over under one condition."""

    def __init__(self, engine: LLMEngine):
        self.engine = engine
        self.cond = threading.Condition()
        self.pending: list[tuple[Sequence, asyncio.Queue, asyncio.AbstractEventLoop]] = []
        self.aborts: list[Sequence] = []
        self.queues: dict[int, tuple[asyncio.Queue, asyncio.AbstractEventLoop]] = {}
        self.stopping = False
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="r1gate-engine", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify()
        if self.thread:
            self.thread.join(timeout=10)

    def _loop(self) -> None:
        eng = self.engine
        while True:
            with self.cond:
                while not (self.pending or self.aborts or eng.has_work() or self.stopping):
                    self.cond.wait()
                if self.stopping:
                    return
                new, self.pending = self.pending, []
                aborts, self.aborts = self.aborts, []
            for seq, q, loop in new:
                self.queues[seq.id] = (q, loop)
                eng.add(seq)
            for seq in aborts:
                eng.abort(seq)
                self.queues.pop(seq.id, None)
            try:
                outs = eng.step()
            except Exception as e:  # a failed step fails its requests, not the server
                outs = []
                for seq in list(eng.scheduler.running) + list(eng.scheduler.waiting):
                    eng.abort(seq)
                    outs.append(RequestOutput(seq.id, "", True, "error", seq.prompt_len, seq.num_output, 0, None,
                                              error=f"engine failure: {type(e).__name__}: {e}"))
            # One wake-up of each event loop per step, not one per token.
            by_loop: dict = {}
            for out in outs:
                target = self.queues.get(out.seq_id)
                if target is None:
                    continue
                if out.finished:
                    del self.queues[out.seq_id]
                q, loop = target
                by_loop.setdefault(loop, []).append((q, out))
            for loop, items in by_loop.items():
                loop.call_soon_threadsafe(_deliver, items)

    def submit(self, prompt_ids: list[int], params: SamplingParams) -> tuple[Sequence, asyncio.Queue]:
        seq = self.engine.make_sequence(prompt_ids, params)
        q: asyncio.Queue = asyncio.Queue()
        with self.cond:
            if len(self.pending) + len(self.engine.scheduler.waiting) >= self.engine.scheduler.max_waiting:
                raise QueueFull("too many requests waiting")
            self.pending.append((seq, q, asyncio.get_running_loop()))
            self.cond.notify()
        return seq, q

    def abort(self, seq: Sequence) -> None:
        with self.cond:
            self.aborts.append(seq)
            self.cond.notify()

    async def stream(self, seq: Sequence, q: asyncio.Queue) -> AsyncIterator[RequestOutput]:
        """Outputs until finished; leaving early (client gone) aborts the sequence and frees its blocks."""
        finished = False
        try:
            while not finished:
                out = await q.get()
                finished = out.finished
                yield out
        finally:
            if not finished:
                self.abort(seq)
