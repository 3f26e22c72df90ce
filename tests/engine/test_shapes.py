"""The R1-Distill-Qwen-1.5B shape through scheduler, runner and model on PyTorch's meta device.

No GPU is available to the test suite: this checks the shapes the CUDA path computes with
(prefill, decode batches gathered and contiguous, forks, logits), not its numbers.
"""
from __future__ import annotations

import torch

from engine.config import EngineConfig, ModelConfig
from engine.model import Transformer
from engine.model_runner import ModelRunner
from engine.sampling_params import SamplingParams
from engine.scheduler import Scheduler, sampled
from engine.sequence import Sequence

SHAPE_1_5B = {"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960,
              "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
              "max_position_embeddings": 131072, "rope_theta": 10000.0, "eos_token_id": 151643}


def test_1_5b_shapes_through_every_stage():
    cfg = ModelConfig.from_dict(SHAPE_1_5B)
    with torch.device("meta"):
        model = Transformer(cfg).to(torch.bfloat16)
    config = EngineConfig("unused", device="cuda", max_kv_tokens=8192, block_size=16, max_batched_tokens=128)
    runner = ModelRunner(model, config)
    assert model.kv_cache.shape == (28, 2, 512, 16, 2, 128)
    sched = Scheduler(config, runner.num_blocks, set(cfg.eos_token_ids), 8000)
    seqs = [Sequence(list(range(2, 2 + n)), SamplingParams(max_tokens=3, ignore_eos=True)) for n in (40, 7, 200)]
    for s in seqs:
        sched.add(s)
    while sched.has_work():
        batch = sched.schedule()
        rows = sampled(batch)
        logits = runner.run(batch)
        assert (logits is None and not rows) or logits.shape == (len(rows), 151936)
        sched.postprocess(batch, [5] * len(rows), [False] * len(rows))
    assert [s.num_output for s in seqs] == [3, 3, 3]
    # A lone decode row over contiguous blocks (a fresh cache hands them out in order) reads them in place.
    sched = Scheduler(config, runner.num_blocks, set(cfg.eos_token_ids), 8000)
    sched.add(Sequence(list(range(2, 40)), SamplingParams(max_tokens=2, ignore_eos=True)))
    sched.postprocess(sched.schedule(), [5], [False])
    inputs = runner.prepare(sched.schedule())
    assert inputs.meta.decode_span is not None and runner.forward(inputs).shape == (1, 151936)
