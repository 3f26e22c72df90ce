"""The engine in a process of its own, behind a pipe.

The model step is Python driving hundreds of small torch ops; in one interpreter it
competes with the HTTP event loop for the GIL at every op. So, as vLLM does, the engine
runs in a child process: the server sends requests and aborts, the child answers each
step with the new text of every sequence (detokenised and stop-checked there too).
"""
from __future__ import annotations

import asyncio
import itertools
import multiprocessing as mp
import os
import threading
from typing import AsyncIterator

from .config import CheckpointError
from .scheduler import QueueFull
from .sequence import RequestOutput, SamplingParams, check_prompt


def _child(conn, model_dir: str, device: str, dtype: str, compile: bool, threads: int | None, engine_kw: dict) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
    if dtype == "auto":
        # bf16 on GPUs, and on CPUs with native bf16 dot products (AVX512-BF16/AMX: about 3x fp32
        # speed for a 125M model on 2 cores); elsewhere fp32, as emulated bf16 is slower.
        dtype = "bfloat16" if device.startswith("cuda") or _cpu_has_bf16() else "float32"
    from .engine import LLMEngine
    from .loader import load_checkpoint, load_model

    try:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise CheckpointError("--device cuda: no CUDA device is available to this torch build")
        ckpt = load_checkpoint(model_dir)
        model = load_model(ckpt, device=device, dtype=getattr(torch, dtype))
        if compile:
            model.compile_dense()
        num_blocks = kv_blocks_for(ckpt.config, device, getattr(torch, dtype), engine_kw["block_size"],
                                   engine_kw.pop("max_kv_tokens"), engine_kw.pop("kv_memory_fraction"))
        eng = LLMEngine(ckpt, model, num_blocks=num_blocks, **engine_kw)
    except Exception as e:  # reported to the parent as one line
        conn.send(("error", f"{type(e).__name__}: {e}" if not isinstance(e, CheckpointError) else str(e)))
        return
    conn.send(("ready", {"max_model_len": eng.max_model_len}))
    by_rid, rid_of = {}, {}
    while True:
        changed = False
        # Block only when idle; otherwise take whatever arrived and go on stepping.
        while not eng.has_work() or conn.poll():
            msg = conn.recv()
            if msg[0] == "add":
                _, rid, ids, params = msg
                try:
                    seq = eng.make_sequence(ids, params)
                except Exception as e:  # the parent checks first; this is only a safety net
                    conn.send(("step", [RequestOutput(rid, "", True, "error", len(ids), 0, 0, None, error=str(e))],
                               eng.snapshot()))
                    continue
                by_rid[rid], rid_of[seq.id] = seq, rid
                eng.add(seq)
            elif msg[0] == "abort":
                seq = by_rid.pop(msg[1], None)
                if seq is not None:
                    rid_of.pop(seq.id, None)
                    eng.abort(seq)
            elif msg[0] == "stop":
                return
            changed = True
            if not eng.has_work() and not conn.poll():
                conn.send(("step", [], eng.snapshot()))  # idle: let /metrics see the aborts
                changed = False
        try:
            outs = eng.step()
        except Exception as e:  # a failed step fails its requests, not the server
            outs = []
            for seq in list(eng.scheduler.running) + list(eng.scheduler.waiting):
                eng.abort(seq)
                outs.append(RequestOutput(seq.id, "", True, "error", seq.prompt_len, seq.num_output, 0, None,
                                          error=f"engine failure: {type(e).__name__}: {e}"))
        sent = []
        for o in outs:
            rid = rid_of.get(o.seq_id)
            if rid is None:
                continue
            if o.finished:
                del rid_of[o.seq_id]
                by_rid.pop(rid, None)
            o.seq_id = rid
            sent.append(o)
        if sent or changed:
            conn.send(("step", sent, eng.snapshot()))


def kv_blocks_for(config, device: str, dtype, block_size: int, max_kv_tokens: int | None,
                  memory_fraction: float | None = None) -> int:
    """Cache size: --max-kv-tokens if given, else a share of the memory left after the weights."""
    import torch

    if max_kv_tokens:
        return max(2, -(-max_kv_tokens // block_size))
    per_token = 2 * config.num_layers * config.num_kv_heads * config.head_dim * torch.tensor([], dtype=dtype).element_size()
    if device.startswith("cuda"):
        free, _total = torch.cuda.mem_get_info()
        budget = int(free * (memory_fraction or 0.85))
    else:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        budget = int(avail * memory_fraction) if memory_fraction else min(int(avail * 0.2), 4 << 30)
    tokens = min(budget // per_token, 1 << 20)
    return max(2, tokens // block_size)


def _cpu_has_bf16() -> bool:
    import torch

    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool((probe and probe()) or (amx and amx()))


class EngineProcess:
    """Parent side: submit requests, stream their outputs into asyncio queues."""

    def __init__(self, model_dir: str, *, device: str, dtype: str, compile: bool = False, threads: int | None = None,
                 max_inflight: int = 320, **engine_kw):
        self.args = (str(model_dir), device, dtype, compile, threads, engine_kw)
        self.max_inflight = max_inflight
        self.queues: dict[int, tuple[asyncio.Queue, asyncio.AbstractEventLoop]] = {}
        self.lock = threading.Lock()
        self.ids = itertools.count()
        self.stats: dict = {}
        self.max_model_len = 0
        self.alive = False

    def start(self) -> None:
        """Spawn the child and wait until the model is loaded; CheckpointError if it cannot be."""
        ctx = mp.get_context("spawn")  # fork would copy the parent's threads and CUDA state
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(child, *self.args), daemon=True, name="r1gate-engine")
        # OpenMP workers that spin between ops starve everything else once the cores are
        # oversubscribed (this process, the clients, other services): on a busy 2-core box a
        # decode step took 117 ms spinning against 20 ms sleeping. The child inherits this.
        saved = os.environ.get("OMP_WAIT_POLICY")
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            self.proc.start()
        finally:
            if saved is None:
                os.environ.pop("OMP_WAIT_POLICY", None)
        child.close()
        try:
            kind, info = self.conn.recv()
        except EOFError:
            raise CheckpointError(f"the engine process died while loading {self.args[0]}") from None
        if kind == "error":
            self.proc.join(timeout=10)
            raise CheckpointError(info)
        self.max_model_len, self.alive = info["max_model_len"], True
        self.reader = threading.Thread(target=self._read, name="r1gate-engine-reader", daemon=True)
        self.reader.start()

    def stop(self) -> None:
        if self.alive:
            try:
                with self.lock:
                    self.conn.send(("stop",))
                self.proc.join(timeout=10)
            except OSError:  # the child is already gone
                pass
        if self.proc.is_alive():
            self.proc.terminate()
        self.alive = False

    def _read(self) -> None:
        while True:
            try:
                _, outs, stats = self.conn.recv()
            except (EOFError, OSError):
                break
            self.stats = stats
            by_loop: dict = {}  # one wake-up per event loop per step, not one per token
            for out in outs:
                target = self.queues.pop(out.seq_id, None) if out.finished else self.queues.get(out.seq_id)
                if target is not None:
                    by_loop.setdefault(target[1], []).append((target[0], out))
            for loop, items in by_loop.items():
                _call_soon(loop, _deliver, items)
        # The child is gone: fail whoever is still waiting.
        self.alive = False
        for rid, (q, loop) in list(self.queues.items()):
            out = RequestOutput(rid, "", True, "error", 0, 0, 0, None, error="the engine process exited")
            _call_soon(loop, q.put_nowait, out)
        self.queues.clear()

    def submit(self, prompt_ids: list[int], params: SamplingParams) -> tuple[int, asyncio.Queue]:
        check_prompt(prompt_ids, params, self.max_model_len)
        if len(self.queues) >= self.max_inflight:
            raise QueueFull(f"{len(self.queues)} requests in flight")
        if not self.alive:
            raise QueueFull("the engine process is not running")
        rid, q = next(self.ids), asyncio.Queue()
        self.queues[rid] = (q, asyncio.get_running_loop())
        with self.lock:
            self.conn.send(("add", rid, list(prompt_ids), params))
        return rid, q

    def abort(self, rid: int) -> None:
        self.queues.pop(rid, None)
        if self.alive:
            with self.lock:
                self.conn.send(("abort", rid))

    async def stream(self, rid: int, q: asyncio.Queue, idle: float | None = None) -> AsyncIterator[RequestOutput | None]:
        """Outputs until finished, and None after each `idle` seconds without one (for keep-alives).

        Leaving early (client gone) aborts the sequence and frees its blocks.
        """
        finished = False
        try:
            while not finished:
                try:
                    out = await asyncio.wait_for(q.get(), idle)
                except TimeoutError:
                    yield None
                    continue
                finished = out.finished
                yield out
        finally:
            if not finished:
                self.abort(rid)


def _deliver(items) -> None:
    for q, out in items:
        q.put_nowait(out)


def _call_soon(loop, fn, arg) -> None:
    try:
        loop.call_soon_threadsafe(fn, arg)
    except RuntimeError:  # that event loop has closed: nobody is waiting any more
        pass

