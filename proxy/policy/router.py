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

from ..extract import texts
from ..inspect import InspectionService
from ..routing import ONPREM, Decision, Finding, RouteContext
from .loader import PolicyError, load_policy
from .rules import CompiledPolicy
from .shadow import Shadow

log = logging.getLogger("r1gate.policy")


class PolicyRouter:
    """Construct, `start()` before serving (loads models, starts workers), `close()` at exit.

    `workers`: inspection processes (default: one per core; 0: a thread of this process).
    `timeout_s`: inspection time allowed per request; beyond it the request goes on-prem.
    """

    def __init__(self, path: str | Path, *, workers: int | None = None, timeout_s: float = 2.0,
                 cache_entries: int = 50_000, cache_key: bytes | None = None,
                 shadow: str | Path | None = None) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.service = InspectionService(workers=workers, cache_entries=cache_entries, cache_key=cache_key)
        self._stat = self._file_stat()
        self._active = self._load()  # a broken file at start-up is an error: nothing to fall back on
        self.shadow = Shadow(_compile(shadow) if shadow else None)

    @property
    def version(self) -> str:
        return self._active.version

    @property
    def policy(self) -> CompiledPolicy:
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
            log.error("policy file %s unreadable (%s); keeping version %s", self.path, exc.strerror, self.version)
            return False
        if stat == self._stat:
            return False
        self._stat = stat  # a broken file is reported once, not at every request
        try:
            candidate = self._load()
        except PolicyError as exc:
            log.error("policy file %s rejected, keeping version %s:\n%s", self.path, self.version, exc)
            return False
        if candidate.version == self._active.version:
            return False
        log.info("policy %s: version %s replaces %s", self.path, candidate.version, self.version)
        self._active = candidate
        return True

    async def decide(self, body: dict[str, Any], ctx: RouteContext) -> Decision:
        self.reload_if_changed()
        policy = self._active
        fields = texts(body)
        try:
            results = await asyncio.wait_for(
                self.service.inspect([f.text for f in fields], policy.settings), self.timeout_s)
        except Exception as exc:  # timeout or any failure: the request counts as sensitive (invariant 2)
            reason = "timeout" if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) else "error"
            log.warning("inspection %s (%s): routed on-prem", reason, type(exc).__name__)
            return Decision(ONPREM, rules=(f"inspection-{reason}",), action=ONPREM,
                            message=f"inspection {reason}: routed on-prem (fail closed)",
                            policy_version=policy.version)
        findings = [Finding(h.entity, f.path, h.start, h.end, h.score, h.detector)
                    for f, hits in zip(fields, results) for h in hits]
        return self.shadow.observe(policy, policy.decide(findings, fields, ctx), findings, fields, ctx)

    def _file_stat(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size

    def _load(self) -> CompiledPolicy:
        return _compile(self.path)


def _compile(path: str | Path) -> CompiledPolicy:
    loaded = load_policy(path)
    return CompiledPolicy.build(loaded.policy, loaded.version)
