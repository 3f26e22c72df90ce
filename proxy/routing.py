"""The routing decision: where a request may go, and why.

A `Router` looks at a request and returns a `Decision`. The pipeline does not care how
the decision was made; `SimpleRouter` below is the built-in rule set, and the policy
engine plugs in behind the same interface. Whatever the router, a failure or a timeout
while deciding counts as sensitive (invariant 2): see `decide_fail_closed`.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from .extract import TextField, texts
from .inspect.checksums import iban_ok as _iban_ok, luhn_ok as _luhn_ok

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


# --- the built-in rule set: obvious personal data goes on-prem -----------------------------

_SIMPLE_RULES: tuple[tuple[str, re.Pattern[str], Any], ...] = (
    ("EMAIL_ADDRESS", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}"), None),
    ("PHONE_NUMBER", re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(0\)[ .-]?)?|0)\d(?:[ .-]?\d{2}){4}(?!\d)"
                                r"|\(\d{3}\)[ .-]?\d{3}[ .-]?\d{4}(?!\d)"), None),
    ("IBAN_CODE", re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b"),
     lambda m: _iban_ok(m.replace(" ", ""))),
    ("CREDIT_CARD", re.compile(r"(?<!\d)\d{4}(?:[ -]?\d{4}){2}[ -]?\d{1,7}(?!\d)"),
     lambda m: 13 <= len(d := re.sub(r"\D", "", m)) <= 19 and _luhn_ok(d)),
)


class SimpleRouter:
    """E-mail addresses, phone numbers, IBANs and card numbers go on-prem; the rest to the cloud."""

    version = "builtin-simple-1"

    async def decide(self, body: dict[str, Any], ctx: RouteContext) -> Decision:
        findings = tuple(self.scan(texts(body)))
        if findings:
            rules = tuple(sorted({f"personal-data:{f.entity_type}" for f in findings}))
            return Decision(ONPREM, rules=rules, findings=findings, policy_version=self.version,
                            message="personal data found: answered on-prem")
        return Decision(CLOUD, policy_version=self.version)

    @staticmethod
    def scan(fields: list[TextField]):
        for f in fields:
            for entity, pattern, check in _SIMPLE_RULES:
                for m in pattern.finditer(f.text):
                    if check is None or check(m.group()):
                        yield Finding(entity, f.path, m.start(), m.end(), 1.0, "simple")
