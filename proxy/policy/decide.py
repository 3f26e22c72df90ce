"""Where a request goes, decided once: the router's decision, failing closed, and for
`redact` the pseudonymized request, verified before the cloud may see it.

This is the one place a decision is turned to on-prem after the policy made it: when
deciding fails or times out (invariant 2), when the request carries content the gateway
cannot read (an image, a PDF: invariant 3), and when a pseudonymized request cannot be shown
to hold no value any more (invariant 5).
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable

from .. import logs
from ..extract import texts, unreadable
from ..pseudonym import Pseudonymizer, counts
from ..routing import Action, Decision, Route, RouteContext, Router

_UNVERIFIED = "the pseudonymized request could not be verified: answered on-prem"
_UNREADABLE = "the request holds an image, audio, a file or a document that is not text, which the gateway cannot inspect: answered on-prem"


@dataclass(frozen=True, slots=True)
class Redaction:
    """A request pseudonymized for the cloud: what the cloud receives, and how to restore."""

    body: dict[str, Any]
    mapping: dict[str, str]  # placeholder → value; lives only as long as the request
    counts: dict[str, int]  # pseudonymized values by entity type, for the audit record


@dataclass(frozen=True, slots=True)
class Routed:
    """The decision, and with `redact` the pseudonymized request the cloud receives."""

    decision: Decision
    redaction: Redaction | None = None


def whole(body: dict[str, Any]) -> dict[str, Any]:
    return body


async def decide(router: Router, body: dict[str, Any], ctx: RouteContext, pseudonymizer: Pseudonymizer,
                 timeout_s: float, inspected: Callable[[dict[str, Any]], dict[str, Any]] = whole) -> Routed:
    """Decide, then for `redact` pseudonymize and check twice: a value left in another form,
    or a second scan that still finds something to hide, keeps the request on-prem.

    `inspected`: what of a body the router sees. A request shape may leave out values that
    are opaque ids, never text (an Anthropic `metadata.user_id`), but the paths into the
    body must stay the same: findings are redacted in the body itself."""
    decision = await _decide(router, inspected(body), ctx, timeout_s)
    if decision.route == Route.CLOUD and unreadable(body):
        return Routed(_onprem(decision, "unreadable-content", _UNREADABLE))
    if decision.action != Action.REDACT or decision.route != Route.CLOUD:
        return Routed(decision)
    try:
        redacted, mapping = pseudonymizer.redact(body, decision.redact)
    except KeyError:
        return Routed(_onprem(decision, "redact-unplaceable", _UNVERIFIED))
    if still_present(inspected(redacted), mapping):
        return Routed(_onprem(decision, "redact-value-left", _UNVERIFIED))
    second = await _decide(router, inspected(redacted), ctx, timeout_s)
    if second.route != Route.CLOUD or second.redact:
        return Routed(_onprem(decision, "redact-second-scan", _UNVERIFIED))
    return Routed(decision, Redaction(redacted, mapping, counts(mapping)))


def explain(routed: Routed) -> dict[str, Any]:
    """The decision as `POST /v1/route/explain` and `r1gate explain --json` show it: findings
    as types and offsets, and for `redact` what the cloud would receive (placeholders only)."""
    explained = routed.decision.as_dict()
    if routed.redaction is not None:
        explained["cloud_request"] = routed.redaction.body
        explained["pseudonymized"] = routed.redaction.counts
    return explained


async def _decide(router: Router, body: dict[str, Any], ctx: RouteContext, timeout_s: float) -> Decision:
    """The router's decision, or on-prem if it fails or is too slow (invariant 2)."""
    try:
        async with asyncio.timeout(timeout_s):  # no extra task, unlike wait_for
            return await router.decide(body, ctx)
    except Exception as exc:  # any failure to decide must keep the request away from the cloud
        reason = "timeout" if isinstance(exc, TimeoutError) else "error"
        logs.event("inspection_failed", logging.WARNING, reason=reason, exception=type(exc).__name__)
        return _onprem(Decision(Route.ONPREM, policy_version=router.version), f"inspection-{reason}",
                       f"inspection {reason}: routed on-prem (fail closed)")


def _onprem(decision: Decision, rule: str, message: str) -> Decision:
    return dataclasses.replace(decision, route=Route.ONPREM, action=Action.ONPREM, rules=decision.rules + (rule,),
                               message=message)


def still_present(body: dict[str, Any], mapping: dict[str, str]) -> bool:
    """Whether a pseudonymized value still shows in the request in another form: the same
    letters in another case or spacing, or, for a name, one of its words of four letters
    or more (a first name alone, say). Then the request must not go to the cloud."""
    sent = " ".join(f.text for f in texts(body)).casefold()
    compact = "".join(sent.split())
    for tag, value in mapping.items():
        words = {value.casefold(), "".join(value.casefold().split())}
        if tag.startswith("[PERSON_"):
            words |= {w for w in re.split(r"[\s\-']+", value.casefold()) if len(w) >= 4}
        if any(w and (w in sent or w in compact) for w in words):
            return True
    return False
