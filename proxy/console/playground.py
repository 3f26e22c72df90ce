"""The playground: a text or a whole request decided as `POST /v1/route/explain` decides it,
with each finding marked in the text it came from; and the policy's test cases, decided
by the active policy or an edited one, with the gateway's own detectors."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..extract import texts
from ..keys import Principal
from ..policy.commands import _cases
from ..policy.rules import CompiledPolicy
from ..request import parse_chat
from ..routing import Decision, Finding, RouteContext
from .divergence import summarize

if TYPE_CHECKING:
    from ..app import Gateway


@dataclass(frozen=True)
class Piece:
    text: str
    finding: Finding | None = None


def as_request(text: str, model: str) -> dict[str, Any]:
    """A pasted chat request (a JSON object with `messages`) as it is; any other text as
    the one user message of a request."""
    if text.lstrip().startswith("{"):
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and "messages" in body:
            return {"model": model, **body}
    return {"model": model, "messages": [{"role": "user", "content": text}]}


async def explain(gw: "Gateway", text: str, principal: Principal) -> dict[str, Any]:
    body = as_request(text, next(iter(gw.settings.models)))
    req = parse_chat(body, gw.settings.models, len(text.encode()), gw.settings.body_limits)
    routed = await gw.chat.decide(req, principal, {})
    decision, redaction = routed.decision, routed.redaction
    fields = [(f.path, marked(f.text, [x for x in decision.findings if x.path == f.path])) for f in texts(req.body)]
    return {"decision": decision, "fields": fields,
            "cloud_request": json.dumps(redaction.body, indent=2, ensure_ascii=False) if redaction else None}


def marked(text: str, findings: list[Finding]) -> list[Piece]:
    """The text cut into plain pieces and found ones; an overlapping finding is listed in
    the findings table but marks no second time."""
    pieces, at = [], 0
    for f in sorted(findings, key=lambda f: (f.start, -f.end)):
        if f.start < at:
            continue
        if f.start > at:
            pieces.append(Piece(text[at:f.start]))
        pieces.append(Piece(text[f.start:f.end], f))
        at = f.end
    if at < len(text):
        pieces.append(Piece(text[at:]))
    return pieces


def cases(gw: "Gateway") -> list[dict[str, Any]]:
    """The active policy's test cases: the `tests/` folder beside the policy file."""
    folder = Path(gw.settings.policy).parent / "tests"
    return [dict(case, file=file.name) for file in sorted(folder.glob("*.yaml")) for case in _cases(file)]


async def decide_with(gw: "Gateway", policy: CompiledPolicy | None, body: dict[str, Any],
                      ctx: RouteContext) -> Decision:
    """`policy`'s decision (None: the active one's), from its own detector settings, outside
    the live path: nothing is kept as recent traffic, no shadow decides."""
    router = gw.policy_router
    if router is None:  # a gateway built with another router (tests): its own decision
        return await gw.chat.router.decide(body, ctx)
    policy = policy or router.policy
    fields = texts(body)
    results = await router.service.inspect([f.text for f in fields], policy.settings)
    return policy.decide([Finding(h.entity, f.path, h.start, h.end, h.score, h.detector)
                          for f, hits in zip(fields, results) for h in hits], fields, ctx)


async def run_tests(gw: "Gateway", policy: CompiledPolicy | None = None) -> dict[str, Any]:
    """The test cases decided by `policy` (None: the active one), as `r1gate policy test` runs them."""
    rows = []
    for case in cases(gw):
        decision = await decide_with(gw, policy, case["request"], case["ctx"])
        ok = decision.route == case["expect"] and set(case["rules"]) <= set(decision.rules)
        rows.append({"ok": ok, "case": f"{case['file']}: {case['name']}", "expected": case["expect"],
                     "got": decision.route, "rules": ",".join(decision.rules) or "-"})
    return {"rows": rows, "failed": sum(not r["ok"] for r in rows),
            "version": policy.version if policy else gw.chat.router.version}


async def diff(gw: "Gateway", candidate: CompiledPolicy) -> dict[str, Any]:
    """The requests the active policy and `candidate` decide differently, among the test
    cases and the recent requests this worker decided (their findings, re-decided: the
    texts are not kept, so rules with text `patterns` cannot match there). Routes and rule
    ids only."""
    pairs = []
    for case in cases(gw):
        active = await decide_with(gw, None, case["request"], case["ctx"])
        other = await decide_with(gw, candidate, case["request"], case["ctx"])
        pairs.append((active.route, active.rules, other.route, other.rules))
    compared = len(pairs)
    recent = list(gw.policy_router.shadow.recent) if gw.policy_router else []
    for seen in recent:
        active, other = (p.decide(seen.findings, (), seen.ctx) for p in (gw.policy_router.policy, candidate))
        pairs.append((active.route, active.rules, other.route, other.rules))
    return {"compared": compared, "recent": len(recent), "divergences": summarize(pairs)}
