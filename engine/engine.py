"""The engine: scheduler + model runner + sampler + detokenisation, one step at a time.

`LLMEngine` is synchronous and single-threaded: tests drive it directly, and the server
runs it in a process of its own (worker.py).
"""
from __future__ import annotations

import time

import torch

from .kv_cache import BlockManager
from .loader import Checkpoint
from .runner import ModelRunner
from .sampler import sample
from .scheduler import Scheduler
from .sequence import RequestOutput, SamplingParams, Sequence, Status, check_prompt

END_THINK = "</think>"


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
        check_prompt(prompt_ids, params, self.max_model_len)
        seq = Sequence(list(prompt_ids), params)
        if params.seed is not None:
            seq.generator = torch.Generator(device=self.runner.device).manual_seed(params.seed)
        seq.decoder = _new_decoder()
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

    def snapshot(self) -> dict:
        """Counters and gauges for /metrics."""
        return {**self.stats, "preemptions": self.scheduler.num_preemptions, "running": len(self.scheduler.running),
                "waiting": len(self.scheduler.waiting), "kv_blocks_total": self.blocks.num_blocks,
                "kv_blocks_free": self.blocks.num_free}

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


def _new_decoder():
    try:
        from tokenizers.decoders import DecodeStream  # tokenizers >= 0.21

        return DecodeStream(skip_special_tokens=True)
    except ImportError:
        return _PrefixDecoder()


class _PrefixDecoder:
    """Incremental detokenisation for older `tokenizers`: decode a short window of recent
    ids and emit what it adds, holding back text that ends in an incomplete UTF-8 sequence."""

    def __init__(self):
        self.ids: list[int] = []
        self.prefix = self.read = 0

    def step(self, tokenizer, token_id: int) -> str | None:
        self.ids.append(token_id)
        before = tokenizer.decode(self.ids[self.prefix:self.read], skip_special_tokens=True)
        after = tokenizer.decode(self.ids[self.prefix:], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.prefix, self.read = self.read, len(self.ids)
            return after[len(before):]
        return None

