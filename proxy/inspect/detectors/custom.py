"""Company-specific recognizers from the policy file (employee ids, code names, customer
numbers): regexes and word lists, optionally checked by a validator of `checksums.VALIDATORS`
and raised by context words; or any Presidio `EntityRecognizer`, loaded by its import path
(third-party packages ship them for many countries)."""
from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Iterator, Sequence

from ..checksums import VALIDATORS
from ..context import near, words_pattern
from ..hit import Hit
from ..settings import CustomSpec

if TYPE_CHECKING:
    from presidio_analyzer import EntityRecognizer

# What a context word adds to a match's score: Presidio's own default context boost.
CONTEXT_BOOST = 0.35
_SEPARATORS = re.compile(r"[\s.\-/]")


class RecognizerLoadError(Exception):
    """A `recognizer:` import path that does not give a usable Presidio recognizer."""


def load_recognizer(path: str) -> "EntityRecognizer":
    """An instance of the `EntityRecognizer` class at `path` ("package.module.Class" or
    "package.module:Class"), created with its defaults."""
    # Imported here: Presidio (and spaCy, torch under it) take seconds to import, which
    # commands that never inspect anything should not pay.
    from presidio_analyzer import EntityRecognizer

    module_name, _, attribute = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attribute)
    except Exception as exc:  # a third-party module may fail to import in any way
        raise RecognizerLoadError(f"cannot import {path!r}: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, EntityRecognizer)):
        raise RecognizerLoadError(f"{path!r} is not a Presidio EntityRecognizer class")
    try:
        return cls()
    except Exception as exc:
        raise RecognizerLoadError(f"{path!r} cannot be created with its defaults: {type(exc).__name__}: {exc}") from None


def build_recognizer(spec: CustomSpec) -> "EntityRecognizer":
    if spec.recognizer:
        return load_recognizer(spec.recognizer)
    from presidio_analyzer import Pattern, PatternRecognizer

    return PatternRecognizer(
        supported_entity=spec.entity, name=spec.id, supported_language="any",
        patterns=[Pattern(spec.id, rx, spec.score) for rx in spec.patterns] or None,
        deny_list=list(spec.words) or None, deny_list_score=spec.score)


class CustomDetector:
    name = "custom"

    def __init__(self, specs: Sequence[CustomSpec]) -> None:
        self._recognizers = []
        for spec in specs:
            recognizer = build_recognizer(spec)
            entities = [spec.entity] if spec.entity else list(recognizer.supported_entities)
            context = words_pattern(spec.context or getattr(recognizer, "context", None) or ())
            self._recognizers.append((spec, recognizer, entities, context))
        self.entities = frozenset(e for _, _, entities, _ in self._recognizers for e in entities)

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        for spec, recognizer, entities, context in self._recognizers:
            for r in recognizer.analyze(text, entities, None):
                if r.entity_type not in entities:
                    continue
                if spec.validator and not VALIDATORS[spec.validator](_SEPARATORS.sub("", text[r.start:r.end]).upper()):
                    continue
                score = min(1.0, r.score + CONTEXT_BOOST) if near(text, r.start, r.end, context) else r.score
                yield Hit(r.entity_type, r.start, r.end, score, f"custom.{spec.id}")
