"""Our model against transformers' reference implementation of the same architecture."""
from __future__ import annotations

import pytest
import torch

from engine.config import EngineConfig
from engine.llm_engine import LLMEngine
from engine.sampling_params import SamplingParams

transformers = pytest.importorskip("transformers")

from engine_variants import VARIANTS  # noqa: E402

GREEDY = SamplingParams(max_tokens=16, temperature=0, ignore_eos=True)
# The compiled decode (--compile) beside the eager one. Its graphs, one per padded batch size
# up to max_seqs, compile when an engine starts: max_seqs 4 makes three of them (1, 2, 4).
# Marked `compile`: about 2 minutes with inductor's cache cold on 2 shared cores, 20 s warm;
# `make test PYTEST_ARGS='-m "not compile"'` leaves them out.
PATHS = {"eager": {}, "compiled": {"compile": True, "max_seqs": 4}}
PATH_PARAMS = ["eager", pytest.param("compiled", marks=pytest.mark.compile)]


@pytest.fixture(autouse=True)
def _no_recompiles():
    # Every decode graph is compiled at start-up: a step that recompiles fails the test.
    with torch.compiler.set_stance("fail_on_recompile"):
        yield


@pytest.fixture(scope="module")
def reference(checkpoint_dir):
    models = {}

    def get(name):
        if name not in models:
            models[name] = transformers.AutoModelForCausalLM.from_pretrained(
                checkpoint_dir(name), dtype=torch.float32).eval()
        return models[name]

    return get


def small_cache(ck, **kw) -> EngineConfig:
    return EngineConfig(str(ck.path), max_kv_tokens=256, block_size=4, **kw)


def prompt(n: int, seed: int) -> list[int]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(2, 500, (n,), generator=g).tolist()


@pytest.mark.parametrize("path", PATH_PARAMS)
@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("chunk", [512, 7])  # whole prompt at once, and chunked prefill over cached context
def test_logits_match_transformers_at_every_step(name, chunk, path, make_engine, reference):
    eng = make_engine(name, max_batched_tokens=chunk, **PATHS[path])
    seen = []
    eng.logits_hook = lambda seqs, logits: seen.append((list(seqs[0].token_ids), logits[0].clone()))
    ids = prompt(37, seed=1)
    out = eng.generate([ids], GREEDY)[0]
    assert len(seen) == GREEDY.max_tokens
    hf = reference(name)
    with torch.no_grad():
        full = hf(torch.tensor([ids + out])).logits[0]
    for tokens, ours in seen:
        ref = full[len(tokens) - 1]
        torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("path", PATH_PARAMS)
@pytest.mark.parametrize("name", list(VARIANTS))
def test_greedy_tokens_match_generate(name, path, make_engine, reference):
    ids = prompt(23, seed=2)
    with torch.no_grad():
        ref = reference(name).generate(torch.tensor([ids]), max_new_tokens=16, do_sample=False,
                                       attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    assert make_engine(name, **PATHS[path]).generate([ids], GREEDY)[0] == ref[0, len(ids):].tolist()


@pytest.mark.parametrize("path", PATH_PARAMS)
@pytest.mark.parametrize("name", ["qwen2-untied", "llama-untied"])
def test_greedy_same_with_batching_and_prefix_sharing(name, path, make_engine, reference):
    shared = prompt(40, seed=3)  # ten full blocks of a shared "system prompt"
    prompts = [shared + prompt(n, seed=10 + n) for n in (1, 5, 13, 30)] + [prompt(9, seed=4)]
    hf = reference(name)
    expected = []
    for ids in prompts:
        with torch.no_grad():
            ref = hf.generate(torch.tensor([ids]), max_new_tokens=16, do_sample=False,
                              attention_mask=torch.ones(1, len(ids), dtype=torch.long))
        expected.append(ref[0, len(ids):].tolist())
    eng = make_engine(name, max_batched_tokens=48, **PATHS[path])
    assert eng.generate(prompts, GREEDY) == expected
    # Second round on the same engine: the shared prefix now comes from the prefix cache.
    seqs = [eng.add_request(p, SamplingParams(**vars(GREEDY))) for p in prompts]
    while eng.has_work():
        eng.step()
    assert [s.output_ids for s in seqs] == expected
    assert all(s.num_cached_tokens >= 40 for s in seqs[:4])


@pytest.mark.compile
def test_compiled_decode_calls_packed_linears(checkpoint_dir, make_engine):
    # bf16 packing needs AVX512 or AVX-NE-CONVERT; fp32 packing, on any oneDNN CPU, stands in
    # for it here: the compiled graph must reach PackedLinear's weights through its own op.
    from engine.loader import load_checkpoint, load_model
    from engine.model import PackedLinear

    ck = load_checkpoint(checkpoint_dir("llama-untied"))
    runs = []
    for path in PATHS.values():
        model = load_model(ck)
        for layer in model.layers:
            for parent, attr in ((layer.self_attn, "qkv_proj"), (layer.mlp, "down_proj")):
                lin = getattr(parent, attr)
                setattr(parent, attr, PackedLinear(lin.weight.data, None if lin.bias is None else lin.bias.data))
        eng = LLMEngine(ck, model, small_cache(ck, **path))
        seen = []
        eng.logits_hook = lambda seqs, logits: seen.append(logits.clone())
        runs.append((eng.generate([prompt(21, seed=6), prompt(5, seed=7)], GREEDY), seen))
    assert runs[0][0] == runs[1][0]
    for eager, compiled in zip(runs[0][1], runs[1][1]):
        torch.testing.assert_close(compiled, eager, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["qwen2-tied", "llama-untied"])
def test_prepacked_bf16_linears_match_plain_ones_exactly(name, checkpoint_dir):
    from engine.loader import load_checkpoint, load_model
    from engine.model import PackedLinear

    ck = load_checkpoint(checkpoint_dir(name))
    packed = load_model(ck, dtype=torch.bfloat16)
    if not isinstance(packed.lm_head, PackedLinear):
        pytest.skip("this CPU or torch build has no oneDNN bf16 packing")
    plain = load_model(ck, dtype=torch.bfloat16, pack=False)
    runs = []
    for model in (packed, plain):
        eng = LLMEngine(ck, model, small_cache(ck))
        seen = []
        eng.logits_hook = lambda seqs, logits: seen.append(logits.clone())
        out = eng.generate([prompt(21, seed=6), prompt(5, seed=7)], GREEDY)
        runs.append((out, seen))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
