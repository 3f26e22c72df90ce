"""The routing decision: where a request may go, and why.

A `Router` looks at a request and returns a `Decision`. The pipeline does not care how
the decision was made; the gateway's router is `policy.PolicyRouter`, driven by the policy
file. `policy.decide` calls it, fails closed (invariant 2) and pseudonymizes for `redact`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Mapping, Protocol


class Route(StrEnum):
    """Where a request goes."""

    CLOUD = "cloud"
    ONPREM = "onprem"
    BLOCKED = "blocked"


class Action(StrEnum):
    """What a policy rule does with the requests it matches."""

    CLOUD = "cloud"
    REDACT = "redact"  # to the cloud, with the values replaced by placeholders
    ONPREM = "onprem"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Finding:
    """A detected value, described without the value itself (invariant 4)."""

    entity_type: str
    path: str
    start: int
    end: int
    score: float
    detector: str

    def as_dict(self) -> dict[str, Any]:
        return {"entity_type": self.entity_type, "path": self.path, "start": self.start,
                "end": self.end, "score": round(self.score, 3), "detector": self.detector}


@dataclass(frozen=True, slots=True)
class RouteContext:
    team: str
    model: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    route: Route
    rules: tuple[str, ...] = ()
    message: str | None = None  # why, in words a user can act on; shown when blocked
    findings: tuple[Finding, ...] = ()
    policy_version: str = ""
    action: Action | None = None  # None for routers without a policy
    entity_counts: Mapping[str, int] = field(default_factory=dict)  # for the audit record
    redact: tuple[Finding, ...] = ()  # with action `redact`: the values to pseudonymize
    cache_ttl_s: float | None = None  # set by the rules that matched; 0: do not cache
    cache_onprem: bool = False  # the rules allow caching this on-prem answer (encrypted)
    shadow: "Decision | None" = None  # the shadow policy's decision from the same findings; never routes

    def as_dict(self) -> dict[str, Any]:
        return {"route": self.route, "action": self.action or self.route, "rules": list(self.rules),
                "message": self.message, "policy_version": self.policy_version,
                "entity_counts": dict(self.entity_counts),
                "findings": [f.as_dict() for f in self.findings]}


class Router(Protocol):
    version: str

    async def decide(self, body: dict[str, Any], ctx: RouteContext) -> Decision: ...

