"""What a detector reports: a typed span of the normalised text, never the value itself."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol


@dataclass(frozen=True, slots=True)
class Hit:
    entity: str
    start: int
    end: int
    score: float
    detector: str

    def shifted(self, offset: int) -> "Hit":
        return Hit(self.entity, self.start + offset, self.end + offset, self.score, self.detector)


class Detector(Protocol):
    """Finds one family of values. `lang` is the text's language ("en", "fr", ...)."""

    name: str
    entities: frozenset[str]

    def detect(self, text: str, lang: str) -> Iterable[Hit]: ...
