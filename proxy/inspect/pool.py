"""Inspection off the event loop: a process pool sized to the cores, and a per-text cache.

Detection is CPU-bound Python and spaCy, so threads would still hold the GIL: each worker
process loads the models once and keeps one `Inspector` per detector settings. Only texts not
in the cache are sent, so a growing conversation costs its new message only; a long text is
cut into pieces spread over the workers.

The workers are shared fairly between teams: batches wait in a bounded queue per team, and
the teams take turns (oldest batch first within a team), so one team's flood delays another
team's prompt by one batch per worker, not by the whole flood.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections import deque
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from typing import Sequence

from .cache import FindingsCache
from .chunks import CHUNK, chunks
from .inspector import Inspector, merge
from .hit import Hit
from .ner import NerModels
from .settings import DetectorSettings

# (text index, offset of the piece in the text, the piece)
_Item = tuple[int, int, str]
_Result = list[tuple[int, list[Hit]]]
QUEUE_PER_TEAM = 1024  # batches one team may have waiting; past it its requests fail (closed)

# --- in each worker process ----------------------------------------------------------------
_inspectors: dict[str, Inspector] = {}
_models: dict[tuple[tuple[str, str], ...], NerModels] = {}


def _inspector(settings: DetectorSettings) -> Inspector:
    inspector = _inspectors.get(settings.key)
    if inspector is None:
        if len(_inspectors) >= 8:  # old policy versions: drop them, keep the loaded models
            _inspectors.clear()
        models = _models.setdefault(settings.languages, NerModels(dict(settings.languages)))
        inspector = _inspectors[settings.key] = Inspector(settings, models)
    return inspector


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: the gateway drains its requests first and
    # then stops the pool itself, so a worker must not stop on SIGINT before that.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _warm(settings: DetectorSettings) -> int:
    _inspector(settings).warm_up()
    return os.getpid()


def _inspect_items(settings: DetectorSettings, items: list[_Item]) -> list[tuple[int, list[Hit]]]:
    inspector = _inspector(settings)
    return [(index, inspector.inspect_piece(piece, offset)) for index, offset, piece in items]


# --- in the gateway process ----------------------------------------------------------------
class InspectionBusy(Exception):
    """This team has too much inspection waiting already; the request fails closed."""


@dataclass(frozen=True, slots=True)
class _Job:
    settings: DetectorSettings
    items: list[_Item]
    future: asyncio.Future[_Result]


class TeamQueues:
    """Batches waiting for a worker: a bounded queue per team, served oldest first, the
    teams taking turns."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._queues: dict[str, deque[_Job]] = {}  # in turn order: a served team goes last

    def put(self, team: str, job: _Job) -> None:
        queue = self._queues.setdefault(team, deque())
        if len(queue) >= self._limit:
            raise InspectionBusy()
        queue.append(job)

    def take(self) -> _Job | None:
        if not self._queues:
            return None
        team = next(iter(self._queues))
        queue = self._queues.pop(team)
        job = queue.popleft()
        if queue:
            self._queues[team] = queue  # back of the line
        return job


class InspectionService:
    """`workers=0` inspects in a thread of this process (CLI, tests); otherwise a process pool
    of `workers` processes (default: one per core)."""

    def __init__(self, *, workers: int | None = None, cache_entries: int = 50_000,
                 cache_key: bytes | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.cache = FindingsCache(cache_entries, cache_key)
        self._pool: Executor | None = None
        self._waiting = TeamQueues(QUEUE_PER_TEAM)
        # Batches that may run now: one per worker; inline, as many as asyncio's default threads.
        self._idle = self.workers if self.workers > 0 else min(32, (os.cpu_count() or 1) + 4)

    def start(self, settings: DetectorSettings) -> None:
        """Start the workers and load the models in each (seconds): call before serving."""
        if self.workers <= 0 or self._pool is not None:
            _warm(settings)
            return
        self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_ignore_sigint)
        # As many warm-up tasks as workers, submitted at once: each lands in its own process.
        for future in [self._pool.submit(_warm, settings) for _ in range(self.workers)]:
            future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def inspect(self, texts: Sequence[str], settings: DetectorSettings,
                      team: str = "") -> list[tuple[Hit, ...]]:
        """Findings per text, in the order of `texts`; `team` waits its turn for the workers."""
        keys = [self.cache.key(settings.key, t) for t in texts]
        results: list[tuple[Hit, ...] | None] = [self.cache.get(k) for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            items = [(i, offset, piece) for i in todo for offset, piece in chunks(texts[i])]
            found: dict[int, list[list[Hit]]] = {i: [] for i in todo}
            for batch in await asyncio.gather(*(self._queue(team, settings, b) for b in self._batches(items))):
                for index, hits in batch:
                    found[index].append(hits)
            for i in todo:
                results[i] = tuple(merge(found[i]))
                self.cache.put(keys[i], results[i])
        return results  # type: ignore[return-value]  # every slot is filled above

    async def _queue(self, team: str, settings: DetectorSettings, items: list[_Item]) -> _Result:
        future: asyncio.Future[_Result] = asyncio.get_running_loop().create_future()
        self._waiting.put(team, _Job(settings, items, future))
        self._dispatch()
        return await future  # a request that timed out cancels it: its batch is skipped

    def _dispatch(self) -> None:
        while self._idle > 0 and (job := self._waiting.take()) is not None:
            if job.future.cancelled():
                continue
            self._idle -= 1
            asyncio.ensure_future(self._run(job.settings, job.items)).add_done_callback(
                partial(self._finished, job.future))

    def _finished(self, future: asyncio.Future[_Result], run: asyncio.Future[_Result]) -> None:
        self._idle += 1
        if not future.cancelled():
            if run.cancelled():
                future.cancel()
            elif run.exception() is not None:
                future.set_exception(run.exception())
            else:
                future.set_result(run.result())
        self._dispatch()

    async def _run(self, settings: DetectorSettings, items: list[_Item]) -> _Result:
        if self._pool is None:
            return await asyncio.to_thread(_inspect_items, settings, items)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, _inspect_items, settings, items)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): this request fails closed, the next gets
            # a fresh pool.
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_ignore_sigint)
            raise

    def _batches(self, items: list[_Item]) -> list[list[_Item]]:
        """One batch for a short request (one round trip); for long texts, one per worker."""
        total = sum(len(piece) for _, _, piece in items)
        n = max(1, min(self.workers, len(items), total // CHUNK))
        batches: list[list[_Item]] = [[] for _ in range(n)]
        sizes = [0] * n
        for item in sorted(items, key=lambda it: -len(it[2])):
            k = sizes.index(min(sizes))
            batches[k].append(item)
            sizes[k] += len(item[2])
        return batches
