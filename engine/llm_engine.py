"""The engine: schedule, run the model, sample, detokenise, postprocess, one step at a time.

`LLMEngine` is synchronous and single-threaded: tests drive it directly, and the server
runs it in a process of its own (worker.py).
"""
from __future__ import annotations

import time

import torch
from tokenizers.decoders import DecodeStream

from .config import EngineConfig
from .loader import Checkpoint
from .model_runner import ModelRunner
from .sampler import logprobs, sample
from .sampling_params import SamplingParams
from .scheduler import Scheduler, sampled
from .sequence import RequestOutput, Sequence, Status, check_prompt

END_THINK = "</think>"


class LLMEngine:
    def __init__(self, ckpt: Checkpoint, model, config: EngineConfig):
        self.config, self.ckpt, self.tokenizer = config, ckpt, ckpt.tokenizer
        self.runner = ModelRunner(model, config)
        # The last token must fit a block with room for one more decode step.
        self.max_model_len = min(ckpt.config.max_position, self.runner.num_blocks * config.block_size - 1,
                                 config.max_model_len or 1 << 62)
        self.eos = set(ckpt.eos_token_ids)
        self.scheduler = Scheduler(config, self.runner.num_blocks, self.eos, self.max_model_len)
        self.gen = torch.Generator(device=self.runner.device).manual_seed(0)
        self.seqs: dict[int, Sequence] = {}
        self.logits_hook = None  # called with (seqs, logits) before sampling: parity tests, debugging
        self.stats = {"requests": 0, "finished": 0, "aborted": 0, "prompt_tokens": 0,
                      "generation_tokens": 0, "steps": 0, "step_seconds": 0.0}

    @classmethod
    def from_config(cls, config: EngineConfig) -> "LLMEngine":
        from .loader import load_checkpoint, load_model

        ckpt = load_checkpoint(config.model)
        model = load_model(ckpt, device=config.device, dtype=getattr(torch, resolve_dtype(config)))
        return cls(ckpt, model, config)

    # --- requests ----------------------------------------------------------------------
    def make_sequence(self, prompt_ids: list[int], params: SamplingParams) -> Sequence:
        check_prompt(prompt_ids, params, self.max_model_len)
        return self._equip(Sequence(list(prompt_ids), params))

    def _equip(self, seq: Sequence) -> Sequence:
        if seq.params.seed is not None:  # each choice its own reproducible stream
            seed = (seq.params.seed + seq.index) & 0xFFFFFFFFFFFFFFF
            seq.generator = torch.Generator(device=self.runner.device).manual_seed(seed)
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
        """Abort seq and every other choice of its request."""
        for s in [s for s in self.seqs.values() if s.request_id == seq.request_id] or [seq]:
            if s.status != Status.FINISHED:
                self.scheduler.finish(s, "abort")
                self.stats["aborted"] += 1
            self.seqs.pop(s.id, None)

    def has_work(self) -> bool:
        return self.scheduler.has_work()

    def snapshot(self) -> dict:
        """Counters and gauges for /metrics."""
        s, blocks = self.scheduler, self.scheduler.blocks
        return {**self.stats, "preemptions": s.num_preemptions, "running": len(s.running),
                "waiting": len(s.waiting), "kv_blocks_total": blocks.num_blocks, "kv_blocks_free": blocks.num_free}

    # --- the step ----------------------------------------------------------------------
    def step(self) -> list[RequestOutput]:
        t0 = time.perf_counter()
        batch = self.scheduler.schedule()
        if not batch:
            return []
        self.stats["steps"] += 1
        seqs = sampled(batch)
        logits = self.runner.run(batch)
        tokens = []
        if seqs:
            seqs, logits = self._fork(batch, seqs, logits)
            if self.logits_hook is not None:
                self.logits_hook(seqs, logits)
            tokens = sample(logits, seqs, self.gen)
            wanted = [i for i, s in enumerate(seqs) if s.params.logprobs]
            if wanted:
                found = logprobs(logits[wanted], [tokens[i] for i in wanted],
                                 [seqs[i].params.top_logprobs for i in wanted])
                for i, lp in zip(wanted, found):
                    seqs[i].logprobs.append(lp)
        stopped = [self._detokenize(seq, tok) for seq, tok in zip(seqs, tokens)]
        self.scheduler.postprocess(batch, tokens, stopped)
        outs = [self._output(seq) for seq in seqs]
        self.stats["generation_tokens"] += len(seqs)
        self.stats["step_seconds"] += time.perf_counter() - t0
        return outs

    def _fork(self, batch, seqs: list[Sequence], logits: torch.Tensor):
        """Requests with n > 1 whose prompt is now computed fork their other choices, which
        sample their first token from the same logits in this step (rows repeated)."""
        rows = list(range(len(seqs)))
        for i, seq in enumerate(seqs):
            if seq.params.n > 1 and seq.index == 0 and seq.num_output == 0:
                forked, copies = self.scheduler.fork(seq)
                self.runner.copy_blocks(copies)
                for child in [s for s in self.scheduler.waiting if s.request_id == seq.request_id] + forked:
                    self.seqs[child.id] = self._equip(child)
                for child in forked:
                    batch.append((child, 0))
                    rows.append(i)
        if len(rows) == len(seqs):
            return seqs, logits
        return sampled(batch), logits[rows]

    def _detokenize(self, seq: Sequence, tok: int) -> bool:
        """Add tok's text to seq.text; True when a stop string now ends it (cut off there)."""
        if tok in self.eos and not seq.params.ignore_eos:
            return False
        piece = seq.decoder.step(self.tokenizer, tok)
        if not piece:
            return False
        before = len(seq.text)
        seq.text += piece
        if seq.reasoning_tokens is None and END_THINK in seq.text[max(0, before - len(END_THINK)):]:
            seq.reasoning_tokens = seq.num_output + 1  # this token included
        for s in seq.params.stop:
            # Search only where a new match can be: the stop may straddle earlier pieces.
            i = seq.text.find(s, max(0, before - len(s) + 1))
            if i >= 0:
                seq.text = seq.text[:i]
                return True
        return False

    def _output(self, seq: Sequence) -> RequestOutput:
        finished = seq.status == Status.FINISHED
        if finished:
            self.seqs.pop(seq.id, None)
            self.stats["finished"] += 1
            upto = len(seq.text)
        else:
            # Hold back a tail that could still turn out to begin a stop string.
            hold = max((len(s) for s in seq.params.stop), default=1) - 1
            upto = max(seq.sent, len(seq.text) - hold)
        delta, seq.sent = seq.text[seq.sent:upto], upto
        lps, seq.logprobs = seq.logprobs or None, []
        return RequestOutput(seq.request_id, delta, finished, seq.finish_reason, seq.prompt_len, seq.num_output,
                             seq.num_cached_tokens, seq.reasoning_tokens, index=seq.index, logprobs=lps)

    def generate(self, prompts: list[list[int]], params: SamplingParams | list[SamplingParams]) -> list[list[int]]:
        """Run prompts to completion together; returns each one's output token ids (tests, offline use)."""
        plist = params if isinstance(params, list) else [SamplingParams(**vars(params)) for _ in prompts]
        seqs = [self.add_request(p, sp) for p, sp in zip(prompts, plist)]
        while self.has_work():
            self.step()
        return [s.output_ids for s in seqs]


def resolve_dtype(config: EngineConfig) -> str:
    """bf16 on GPUs, and on CPUs with native bf16 dot products (AVX512-BF16/AMX: about 3x fp32
    speed for a 125M model on 2 cores); elsewhere fp32, as emulated bf16 is slower."""
    if config.dtype != "auto":
        return config.dtype
    if config.device.startswith("cuda"):
        return "bfloat16"
    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return "bfloat16" if (probe and probe()) or (amx and amx()) else "float32"
