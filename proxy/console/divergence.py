"""Where two policies decide differently, summed up the way compliance staff read it: "the
candidate would have sent 14 requests to the cloud that went on-prem: rule personal-data
no longer matches". Routes and rule ids only, never a value."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class Divergence:
    active_route: str
    candidate_route: str
    lost: tuple[str, ...]  # rules that matched under the active policy only
    gained: tuple[str, ...]  # rules that match under the candidate only
    rules: tuple[str, ...]  # every rule the candidate matched
    count: int


def summarize(pairs: Iterable[tuple[str, Sequence[str], str, Sequence[str]]]) -> list[Divergence]:
    """(active route, active rules, candidate route, candidate rules) per request → the
    divergences, most frequent first. Requests decided the same way are left out."""
    counts: Counter[tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = Counter()
    for route, rules, other_route, other_rules in pairs:
        lost = tuple(sorted(set(rules) - set(other_rules)))
        gained = tuple(sorted(set(other_rules) - set(rules)))
        if route != other_route or lost or gained:
            counts[(route, other_route, lost, gained, tuple(sorted(other_rules)))] += 1
    return [Divergence(*key, n) for key, n in counts.most_common()]
