"""Evaluate a policy's rules against a request's findings and context.

Every rule is checked (the decision lists all that matched); the most protective action
wins (block > onprem > redact > cloud); when none matches, the policy's `default` applies.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from ..extract import TextField
from ..routing import Action, Decision, Finding, Route, RouteContext
from ..inspect import DetectorSettings, CustomSpec
from .schema import PRECEDENCE, Policy, Rule

# `redact` goes to the cloud with the values replaced by placeholders (see policy/decide.py).
ROUTE_OF = {Action.CLOUD: Route.CLOUD, Action.REDACT: Route.CLOUD, Action.ONPREM: Route.ONPREM,
            Action.BLOCK: Route.BLOCKED}


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    policy: Policy
    version: str
    settings: DetectorSettings
    patterns: dict[str, tuple[re.Pattern[str], ...]]  # rule id -> compiled text patterns

    @staticmethod
    def build(policy: Policy, version: str) -> "CompiledPolicy":
        det = policy.detectors
        settings = DetectorSettings.make(
            languages=tuple(det.languages.items()), allow=tuple(det.allow), markings=tuple(det.markings),
            custom=tuple(CustomSpec(c.id, c.entity or "", tuple(c.patterns), tuple(c.words), c.score,
                                    c.validator or "", tuple(c.context), c.recognizer or "")
                         for c in det.custom))
        patterns = {r.id: tuple(re.compile(p, re.IGNORECASE) for p in r.when.patterns) for r in policy.rules}
        return CompiledPolicy(policy, version, settings, patterns)

    def threshold(self, entity: str) -> float:
        det = self.policy.detectors
        return det.thresholds.get(entity, det.default_threshold)

    def decide(self, findings: Sequence[Finding], fields: Sequence[TextField], ctx: RouteContext) -> Decision:
        kept = tuple(f for f in findings if f.score >= self.threshold(f.entity_type))
        matched = [r for r in self.policy.rules if self._matches(r, kept, fields, ctx)]
        action = max((r.action for r in matched), key=PRECEDENCE.__getitem__, default=self.policy.default)
        winner = next((r for r in matched if r.action == action), None)
        message = winner.message if winner and winner.message else _default_message(action, winner)
        redact: tuple[Finding, ...] = ()
        if action == Action.REDACT:
            redact, kept_back = self._redactable([r for r in matched if r.action == Action.REDACT], kept)
            if kept_back:
                action = Action.ONPREM
                message = f"{', '.join(sorted(kept_back))} may not be pseudonymized: answered on-prem"
        # The shortest TTL any matched rule sets applies; on-prem answers are cached only if
        # every rule with the winning action allows it.
        ttls = [r.cache.ttl_s for r in matched if r.cache and r.cache.ttl_s is not None]
        winners = [r for r in matched if r.action == action]
        return Decision(ROUTE_OF[action], rules=tuple(r.id for r in matched), message=message,
                        findings=kept, policy_version=self.version, action=action,
                        entity_counts=dict(Counter(f.entity_type for f in kept)), redact=redact,
                        cache_ttl_s=min(ttls) if ttls else None,
                        cache_onprem=bool(winners) and all(r.cache and r.cache.onprem for r in winners))

    def _redactable(self, rules: list[Rule], findings: Sequence[Finding]) -> tuple[tuple[Finding, ...], set[str]]:
        """The findings to pseudonymize, and the types the redact rules matched but may not
        pseudonymize (or that sit where no placeholder can go, such as an object key)."""
        allowed: set[str] = set()
        governed: set[str] = set()
        for rule in rules:
            allowed |= set(rule.redactable if rule.redactable is not None else self.policy.redactable)
            governed |= {t for c in rule.when.entities for t in c.types}
        redact = tuple(f for f in findings if f.entity_type in allowed)
        kept_back = {f.entity_type for f in findings if f.entity_type in governed and f.entity_type not in allowed}
        kept_back |= {f.entity_type for f in redact if "#" in f.path}
        return redact, kept_back

    def _matches(self, rule: Rule, findings: Sequence[Finding], fields: Sequence[TextField],
                 ctx: RouteContext) -> bool:
        when = rule.when
        if when.teams and ctx.team not in when.teams:
            return False
        if when.models and ctx.model not in when.models:
            return False
        if when.headers and not _header_matches(when.headers, ctx.headers):
            return False
        if when.patterns and not any(p.search(f.text) for p in self.patterns[rule.id] for f in fields):
            return False
        if when.entities and not any(
                sum(f.entity_type in c.types and f.score >= (c.min_score if c.min_score is not None
                                                            else self.threshold(f.entity_type))
                    for f in findings) >= c.min_count
                for c in when.entities):
            return False
        return True


def _header_matches(wanted: dict[str, str | list[str]], headers) -> bool:
    present = {k.lower(): v.strip().lower() for k, v in headers.items()}
    for name, values in wanted.items():
        options = [values] if isinstance(values, str) else values
        if present.get(name.lower()) in {o.lower() for o in options}:
            return True
    return False


def _default_message(action: Action, rule: Rule | None) -> str | None:
    if rule is None:
        return None if action == Action.CLOUD else f"policy default: {action}"
    return rule.description or None
