"""Company-specific recognizers from the policy file (employee ids, code names, customer
numbers): Presidio pattern recognizers built from regexes and word lists, no code."""
from __future__ import annotations

from typing import Iterator, Sequence

from ..hit import Hit
from ..settings import CustomSpec


class CustomDetector:
    name = "custom"

    def __init__(self, specs: Sequence[CustomSpec]) -> None:
        # Imported here: Presidio (and spaCy, torch under it) take seconds to import, which
        # commands that never inspect anything should not pay.
        from presidio_analyzer import Pattern, PatternRecognizer

        self._recognizers = [
            PatternRecognizer(
                supported_entity=spec.entity, name=spec.id, supported_language="any",
                patterns=[Pattern(spec.id, rx, spec.score) for rx in spec.patterns] or None,
                deny_list=list(spec.words) or None, deny_list_score=spec.score)
            for spec in specs]
        self.entities = frozenset(spec.entity for spec in specs)

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        for recognizer in self._recognizers:
            for r in recognizer.analyze(text, [recognizer.supported_entities[0]]):
                yield Hit(r.entity_type, r.start, r.end, r.score, f"custom.{recognizer.name}")
