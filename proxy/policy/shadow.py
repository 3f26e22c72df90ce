"""A candidate policy decided beside the active one, and the recent findings it is tried on.

The shadow policy decides every live request from the findings the active policy's
inspection produced: the detectors run once, so a shadow decision costs only its rules.
It never routes; the audit record keeps where it would have sent the request. Findings are
types, scores and places (never values) and are kept, a bounded number, so that the
console's editor can re-decide recent traffic with an edited policy.
"""
from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from typing import Sequence

from ..extract import TextField
from ..routing import Decision, Finding, RouteContext
from .rules import CompiledPolicy

RECENT = 1000


@dataclass(frozen=True, slots=True)
class Seen:
    """One recent request as a policy sees it, without its text: its findings, and its
    context with only the headers a rule of the active policy reads."""

    findings: tuple[Finding, ...]
    ctx: RouteContext


class Shadow:
    def __init__(self, policy: CompiledPolicy | None = None, recent: int = RECENT) -> None:
        self.policy = policy
        self.recent: deque[Seen] = deque(maxlen=recent)
        self._headers: tuple[str, frozenset[str]] = ("", frozenset())  # (policy version, header names)

    def observe(self, active: CompiledPolicy, decision: Decision, findings: Sequence[Finding],
                fields: Sequence[TextField], ctx: RouteContext) -> Decision:
        """Keeps the request's findings, and adds the shadow policy's decision to `decision`."""
        if self._headers[0] != active.version:
            self._headers = (active.version, frozenset(h.lower() for r in active.policy.rules for h in r.when.headers))
        kept = {k.lower(): v for k, v in ctx.headers.items() if k.lower() in self._headers[1]}
        self.recent.append(Seen(tuple(findings), RouteContext(ctx.team, ctx.model, kept)))
        if self.policy is None:
            return decision
        return dataclasses.replace(decision, shadow=self.policy.decide(findings, fields, ctx))
