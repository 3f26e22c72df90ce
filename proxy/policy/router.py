"""`PolicyRouter`: the `Router` the gateway uses, driven by a policy file compliance staff edit.

The file is re-read when it changes (checked with one `stat` per request): a good file
becomes active at once; a broken one is refused with its lint messages in the log and the
last good policy stays active. A policy's version is its content hash.
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from .. import logs
from ..extract import texts
from ..inspect import InspectionService
from ..routing import Decision, Finding, RouteContext
from .loader import PolicyError, load_policy
from .rules import CompiledPolicy
from .shadow import Shadow


class PolicyRouter:
    """Construct, `start()` before serving (loads models, starts workers), `close()` at exit.

    `workers`: inspection processes (default: one per core; 0: a thread of this process).
    A failure or a timeout while deciding is `policy.decide`'s to handle (it fails closed).
    """

    def __init__(self, path: str | Path, *, workers: int | None = None, cache_entries: int = 50_000,
                 cache_key: bytes | None = None, shadow: str | Path | None = None) -> None:
        self.path = Path(path)
        self.service = InspectionService(workers=workers, cache_entries=cache_entries, cache_key=cache_key)
        self._stat = self._file_stat() if self.path.is_file() else (0, 0)  # missing: `_load` says so
        self._active = self._load()  # a broken file at start-up is an error: nothing to fall back on
        self.shadow = Shadow(_compile(shadow) if shadow else None)

    @property
    def version(self) -> str:
        return self._active.version

    @property
    def policy(self) -> CompiledPolicy:
        """The active policy (the console's editor and shadow compare candidates with it)."""
        return self._active

    def start(self) -> None:
        self.service.start(self._active.settings)

    def close(self) -> None:
        self.service.close()

    def reload_if_changed(self) -> bool:
        """Pick up a changed file; True when a new policy became active."""
        try:
            stat = self._file_stat()
        except OSError as exc:
            logs.event("policy_unreadable", logging.ERROR, path=str(self.path), reason=exc.strerror,
                       kept_version=self.version)
            return False
        if stat == self._stat:
            return False
        self._stat = stat  # a broken file is reported once, not at every request
        try:
            candidate = self._load()
        except PolicyError as exc:
            logs.event("policy_rejected", logging.ERROR, path=str(self.path), kept_version=self.version,
                       problems=[str(p) for p in exc.problems])
            return False
        if candidate.version == self._active.version:
            return False
        logs.event("policy_reloaded", path=str(self.path), version=candidate.version, replaces=self.version)
        self._active = candidate
        return True

    async def decide(self, body: dict[str, Any], ctx: RouteContext) -> Decision:
        self.reload_if_changed()
        policy = self._active
        fields = await asyncio.to_thread(texts, body)  # a large body: not on the event loop
        results = await self.service.inspect([f.text for f in fields], policy.settings, ctx.team)
        findings = [Finding(h.entity, f.path, h.start, h.end, h.score, h.detector)
                    for f, hits in zip(fields, results) for h in hits if f.counts(h.start, h.end)]
        return self.shadow.observe(policy, policy.decide(findings, fields, ctx), findings, fields, ctx)

    def _file_stat(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size

    def _load(self) -> CompiledPolicy:
        return _compile(self.path)


def _compile(path: str | Path) -> CompiledPolicy:
    loaded = load_policy(path)
    return CompiledPolicy.build(loaded.policy, loaded.version)
