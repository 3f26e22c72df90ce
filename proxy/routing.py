"""The routing decision: where a request may go, and why.

A `Router` looks at a request and returns a `Decision`. The pipeline does not care how
the decision was made; the gateway's router is `policy.PolicyRouter`, driven by the policy
file. Whatever the router, a failure or a timeout while deciding counts as sensitive
(invariant 2): see `decide_fail_closed`.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol


CLOUD, ONPREM, BLOCKED = "cloud", "onprem", "blocked"


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
    route: str  # CLOUD | ONPREM | BLOCKED
    rules: tuple[str, ...] = ()
    message: str | None = None  # why, in words a user can act on; shown when blocked
    findings: tuple[Finding, ...] = ()
    policy_version: str = ""
    action: str = ""  # the policy's action (cloud|onprem|redact|block); "" for routers without one
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


async def decide_fail_closed(router: Router, body: dict[str, Any], ctx: RouteContext,
                             timeout_s: float) -> Decision:
    """The router's decision, or on-prem if it fails or is too slow (invariant 2)."""
    try:
        async with asyncio.timeout(timeout_s):  # no extra task, unlike wait_for
            return await router.decide(body, ctx)
    except Exception as exc:  # any failure to decide must keep the request away from the cloud
        reason = "timeout" if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) else "error"
        return Decision(ONPREM, rules=(f"inspection-{reason}",),
                        message=f"inspection {reason}: routed on-prem (fail closed)",
                        policy_version=getattr(router, "version", ""), action=ONPREM)
