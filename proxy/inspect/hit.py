"""What a detector reports, and what a detector is.

Inspection has two stages, with one type each: a `Hit` is a typed span of one text, found
here; the policy layer places it in the request (which message, which field) and calls it a
`Finding` (`proxy.routing`). Neither holds the value itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol


@dataclass(frozen=True, slots=True)
class Hit:
    entity: str
    start: int
    end: int
    score: float
    detector: str  # "<detector name>.<rule>": what `r1gate explain` shows as the reason


class Detector(Protocol):
    """Finds one family of values. `lang` is the text's language ("en", "fr", ...).

    `name` keys the detector in the registry and opens the label of each of its hits;
    `entities` are the types it may report (the policy schema accepts these)."""

    name: str
    entities: frozenset[str]

    def detect(self, text: str, lang: str) -> Iterable[Hit]: ...
