"""Inspection off the event loop: a process pool sized to the cores, and a per-text cache.

Detection is CPU-bound Python and spaCy, so threads would still hold the GIL: each worker
process loads the models once and keeps one `Inspector` per detector settings. Only texts not
in the cache are sent, so a growing conversation costs its new message only; a long text is
cut into pieces spread over the workers.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Sequence

from .cache import FindingsCache
from .chunks import CHUNK, chunks
from .inspector import Inspector, merge
from .hit import Hit
from .ner import NerModels
from .settings import DetectorSettings

# (text index, offset of the piece in the text, the piece)
_Item = tuple[int, int, str]

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
class InspectionService:
    """`workers=0` inspects in a thread of this process (CLI, tests); otherwise a process pool
    of `workers` processes (default: one per core)."""

    def __init__(self, *, workers: int | None = None, cache_entries: int = 50_000,
                 cache_key: bytes | None = None) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.cache = FindingsCache(cache_entries, cache_key)
        self._pool: Executor | None = None

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

    async def inspect(self, texts: Sequence[str], settings: DetectorSettings) -> list[tuple[Hit, ...]]:
        """Findings per text, in the order of `texts`."""
        keys = [self.cache.key(settings.key, t) for t in texts]
        results: list[tuple[Hit, ...] | None] = [self.cache.get(k) for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            items = [(i, offset, piece) for i in todo for offset, piece in chunks(texts[i])]
            found: dict[int, list[list[Hit]]] = {i: [] for i in todo}
            for batch in await asyncio.gather(*(self._run(settings, b) for b in self._batches(items))):
                for index, hits in batch:
                    found[index].append(hits)
            for i in todo:
                results[i] = tuple(merge(found[i]))
                self.cache.put(keys[i], results[i])
        return results  # type: ignore[return-value]  # every slot is filled above

    async def _run(self, settings: DetectorSettings, items: list[_Item]) -> list[tuple[int, list[Hit]]]:
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
