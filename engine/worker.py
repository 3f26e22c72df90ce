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
from dataclasses import dataclass, replace
from typing import AsyncIterator

from .config import CheckpointError, EngineConfig
from .sampling_params import SamplingParams
from .scheduler import QueueFull
from .sequence import RequestOutput, check_prompt


# libgomp's settings for --wait-policy. Unset, a worker spins a bounded while (GOMP_SPINCOUNT,
# 300k iterations) before it sleeps, so the ~2,000 ops of a decode step find their threads
# awake: about 2x faster on cores of its own, but 10-25x slower once other busy processes
# share them (the spinning thread holds the core the others need). PASSIVE sleeps at once and
# pays a wake-up per op. Measured in bench/README.md ("Threads and waiting").
OMP_WAIT_POLICY = {"spin": None, "passive": "PASSIVE"}


# --- messages: server → engine process ---------------------------------------------------
@dataclass
class Add:
    rid: int
    prompt_ids: list[int]
    params: SamplingParams


@dataclass
class Abort:
    rid: int


@dataclass
class GetStats:
    pass


@dataclass
class Stop:
    pass


# --- messages: engine process → server ---------------------------------------------------
@dataclass
class Ready:
    max_model_len: int


@dataclass
class Failed:
    message: str  # one line, shown to the operator


@dataclass
class Outputs:
    outputs: list[RequestOutput]  # seq_id is the server's request id
    stats: dict | None = None  # a /metrics snapshot, sent when asked for (GetStats)


def _child(conn, config: EngineConfig) -> None:
    import torch

    from .llm_engine import LLMEngine

    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        if config.device.startswith("cuda") and not torch.cuda.is_available():
            raise CheckpointError("--device cuda: no CUDA device is available to this torch build")
        eng = LLMEngine.from_config(config)
    except Exception as e:  # reported to the parent as one line
        conn.send(Failed(f"{type(e).__name__}: {e}" if not isinstance(e, CheckpointError) else str(e)))
        return
    conn.send(Ready(eng.max_model_len))
    by_rid, rid_of, left = {}, {}, {}  # request id ↔ its first sequence; choices not finished
    while True:
        # Block only when idle; otherwise take whatever arrived and go on stepping.
        while not eng.has_work() or conn.poll():
            msg = conn.recv()
            if isinstance(msg, Add):
                try:
                    seq = eng.make_sequence(msg.prompt_ids, msg.params)
                except Exception as e:  # the parent checks first; this is only a safety net
                    failed = RequestOutput(msg.rid, "", True, "error", len(msg.prompt_ids), 0, 0, None, error=str(e))
                    conn.send(Outputs([failed]))
                    continue
                by_rid[msg.rid], rid_of[seq.id], left[msg.rid] = seq, msg.rid, msg.params.n
                eng.add(seq)
            elif isinstance(msg, Abort):
                seq = by_rid.pop(msg.rid, None)
                if seq is not None:
                    rid_of.pop(seq.id, None)
                    left.pop(msg.rid, None)
                    eng.abort(seq)
            elif isinstance(msg, GetStats):
                conn.send(Outputs([], eng.snapshot()))
            elif isinstance(msg, Stop):
                return
        try:
            outs = eng.step()
        except Exception as e:  # a failed step fails its requests, not the server
            outs = []
            for seq in list(eng.seqs.values()):
                eng.abort(seq)
                outs.append(RequestOutput(seq.request_id, "", True, "error", seq.prompt_len, seq.num_output, 0,
                                          None, error=f"engine failure: {type(e).__name__}: {e}", index=seq.index))
        sent = []
        for o in outs:
            rid = rid_of.get(o.seq_id)
            if rid is None:
                continue
            if o.finished:
                left[rid] -= 1
                if not left[rid]:
                    del rid_of[o.seq_id], left[rid]
                    by_rid.pop(rid, None)
            o.seq_id = rid
            sent.append(o)
        if sent:
            conn.send(Outputs(sent))


class EngineProcess:
    """Parent side: submit requests, stream their outputs into asyncio queues."""

    def __init__(self, config: EngineConfig, max_inflight: int):
        self.config = config
        self.max_inflight = max_inflight
        self.queues: dict[int, tuple[asyncio.Queue, asyncio.AbstractEventLoop]] = {}
        self.left: dict[int, int] = {}  # request id → choices not finished
        self.lock = threading.Lock()
        self.ids = itertools.count()
        self.stats: dict = {}
        self.stats_waiters: list[tuple[asyncio.Future, asyncio.AbstractEventLoop]] = []
        self.max_model_len = 0
        self.alive = False

    def start(self) -> None:
        """Spawn the child and wait until the model is loaded; CheckpointError if it cannot be."""
        ctx = mp.get_context("spawn")  # fork would copy the parent's threads and CUDA state
        self.conn, child = ctx.Pipe()
        # The parent bounds what is in flight; the child's own queue must never refuse.
        config = replace(self.config, max_waiting=self.max_inflight + 1)
        self.proc = ctx.Process(target=_child, args=(child, config), daemon=True, name="r1gate-engine")
        # OpenMP reads its wait policy once, when the child loads it: set it for the spawn only.
        saved = os.environ.get("OMP_WAIT_POLICY")
        _set_env("OMP_WAIT_POLICY", OMP_WAIT_POLICY[self.config.wait_policy])
        try:
            self.proc.start()
        finally:
            _set_env("OMP_WAIT_POLICY", saved)
        child.close()
        try:
            msg = self.conn.recv()
        except EOFError:
            raise CheckpointError(f"the engine process died while loading {self.config.model}") from None
        if isinstance(msg, Failed):
            self.proc.join(timeout=10)
            raise CheckpointError(msg.message)
        self.max_model_len, self.alive = msg.max_model_len, True
        self.reader = threading.Thread(target=self._read, name="r1gate-engine-reader", daemon=True)
        self.reader.start()

    def _send(self, msg) -> None:
        with self.lock:
            self.conn.send(msg)

    def stop(self) -> None:
        if self.alive:
            try:
                self._send(Stop())
                self.proc.join(timeout=10)
            except OSError:  # the child is already gone
                pass
        if self.proc.is_alive():
            self.proc.terminate()
        self.alive = False

    def _read(self) -> None:
        while True:
            try:
                msg: Outputs = self.conn.recv()
            except (EOFError, OSError):
                break
            if msg.stats is not None:
                self.stats = msg.stats
                with self.lock:
                    waiters, self.stats_waiters = self.stats_waiters, []
                for fut, loop in waiters:
                    _call_soon(loop, _resolve, fut)
            by_loop: dict = {}  # one wake-up per event loop per step, not one per token
            for out in msg.outputs:
                target = self.queues.get(out.seq_id)
                if out.finished and target is not None:
                    self.left[out.seq_id] -= 1
                    if not self.left[out.seq_id]:
                        del self.queues[out.seq_id], self.left[out.seq_id]
                if target is not None:
                    by_loop.setdefault(target[1], []).append((target[0], out))
            for loop, items in by_loop.items():
                _call_soon(loop, _deliver, items)
        # The child is gone: fail whoever is still waiting.
        self.alive = False
        with self.lock:
            waiters, self.stats_waiters = self.stats_waiters, []
        for fut, loop in waiters:
            _call_soon(loop, _resolve, fut)
        for rid, (q, loop) in list(self.queues.items()):
            out = RequestOutput(rid, "", True, "error", 0, 0, 0, None, error="the engine process exited")
            _call_soon(loop, q.put_nowait, out)
        self.queues.clear()
        self.left.clear()

    async def fresh_stats(self, timeout: float = 2.0) -> dict:
        """The engine's counters as of now (asked for: steps do not send them), else the last seen."""
        if self.alive:
            loop = asyncio.get_running_loop()
            fut = loop.create_future()
            with self.lock:
                self.stats_waiters.append((fut, loop))
                self.conn.send(GetStats())
            try:
                await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                pass
        return self.stats

    def submit(self, prompt_ids: list[int], params: SamplingParams) -> tuple[int, asyncio.Queue]:
        check_prompt(prompt_ids, params, self.max_model_len)
        if len(self.queues) >= self.max_inflight:
            raise QueueFull(f"{len(self.queues)} requests in flight")
        if not self.alive:
            raise QueueFull("the engine process is not running")
        rid, q = next(self.ids), asyncio.Queue()
        self.queues[rid], self.left[rid] = (q, asyncio.get_running_loop()), params.n
        self._send(Add(rid, list(prompt_ids), params))
        return rid, q

    def abort(self, rid: int) -> None:
        self.queues.pop(rid, None)
        self.left.pop(rid, None)
        if self.alive:
            self._send(Abort(rid))

    async def stream(self, rid: int, q: asyncio.Queue, n: int = 1,
                     idle: float | None = None) -> AsyncIterator[RequestOutput | None]:
        """Outputs until all n choices finished, and None after each `idle` seconds without one
        (for keep-alives). Leaving early (client gone) aborts the sequences and frees their blocks.
        """
        left = n
        try:
            while left:
                try:
                    out = await asyncio.wait_for(q.get(), idle)
                except TimeoutError:
                    yield None
                    continue
                # An error ends the request whichever choice it came from.
                left = 0 if out.error else left - out.finished
                yield out
        finally:
            if left:
                self.abort(rid)


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


def _deliver(items) -> None:
    for q, out in items:
        q.put_nowait(out)


def _call_soon(loop, fn, arg) -> None:
    try:
        loop.call_soon_threadsafe(fn, arg)
    except RuntimeError:  # that event loop has closed: nobody is waiting any more
        pass
