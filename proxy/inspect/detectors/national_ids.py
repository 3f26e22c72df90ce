"""National identifiers that carry a check character (Spanish DNI/NIE and social security
number, Italian codice fiscale, German Steuer-ID and identity card, Dutch BSN, Portuguese NIF,
cartão de cidadão and social security number, Belgian national register number, Austrian
social insurance number, Irish PPS number, Polish PESEL) or an unmistakable shape (UK
National Insurance number), and the numbers a hospital or an employer identifies a person by.

Every run of letters and digits joined by single separators is collected once; the run, or a
run of its pieces (two numbers side by side), is compacted and tried against each identifier's
length, shape and validator. What the data (`data/identifiers.yaml`) says per identifier: how
much a valid value alone is worth, and the words, per language, that settle it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

from ..checksums import VALIDATORS
from ..context import alternation, lowered, near, words_pattern
from ..data_files import yaml_data
from ..examples import dummy_number
from ..hit import Hit

# Pieces holding a digit, joined by one separator; a lone leading letter (NIE "X-…"), two to
# six leading capitals (National Insurance "AB 12 34 56 C", codice fiscale "RSSMRA 85T10 A562S")
# or a trailing letter (DNI "…678-Z") belong to the run too.
_PIECE = r"[A-Za-z]*\d[A-Za-z0-9]*"
_RUN = re.compile(rf"(?<![\w.\-/])(?:[XYZxyz][ .\-]|[A-Z]{{2,6}} )?{_PIECE}(?:[ .\-/]{_PIECE})*(?:[ .\-][A-Za-z](?![\w]))?(?![\w\-])")
_PIECES = re.compile(r"[A-Za-z0-9]+")
_MAX_PIECES = 12
_EXPONENT = re.compile(r"\d[eE][-+]\d")  # 1.19209290E-07 is a float, not a DNI and its neighbour
CONTEXT_SCORE = 0.95
UNCHECKED_SCORE = 0.7  # a value of the shape whose check fails, right after a word that names it
_NAMED_BEFORE = 24  # characters before the value in which that word stands
# "Personalnummer: 4711", "Staff no. 02-4098", "IPP 594726692", "patient #A-20931", and as a
# key of structured data: `"patient_id": "7730158"`, `patnr=7730158`.
_NUMBER = re.compile(r"(?:[\"']?\s*[_-]?(?:n\.?[°ºo]\.?|no\.|nr\.?|num(?:ber|éro|ero)?\.?|#|id\b|:|=|-|\.|\|))*\s*[\"']?"
                     r"(?P<code>\d{3}(?: \d{3}){2,3}(?!\w| \d)|[A-Za-z]{0,4}[-/]?\d(?:[\d.\-/]*\d)?)(?![\w])", re.IGNORECASE)  # "482 771 903"
_MIN_DIGITS = 4
_YEAR = re.compile(r"(?:19|20)\d\d")


@dataclass(frozen=True, slots=True)
class NationalId:
    entity: str
    validator: str
    lengths: frozenset[int]
    shape: re.Pattern[str]
    alone: float
    context: re.Pattern[str] | None
    check_character: bool  # False where the validator checks a shape only (UK_NINO's prefixes)


@lru_cache(maxsize=1)
def _data() -> dict:
    return yaml_data("identifiers.yaml")


@lru_cache(maxsize=1)
def national_ids() -> tuple[NationalId, ...]:
    return tuple(
        NationalId(entity, spec["validator"], frozenset(spec["lengths"]), re.compile(spec["shape"]),
                   spec["alone"], words_pattern(w for words in spec["context"].values() for w in words),
                   spec.get("check_character", True))
        for entity, spec in _data()["national"].items())


@lru_cache(maxsize=1)
def person_number_labels() -> tuple[tuple[str, frozenset[str]], ...]:
    """(entity, its labels as a table's header writes them: lower case, `_` as a space)."""
    return tuple((entity, frozenset(" ".join(w.lower().replace("_", " ").split()) for ws in langs.values() for w in ws))
                 for entity, langs in _data()["person_numbers"].items())


@lru_cache(maxsize=1)
def _person_numbers() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(entity, its labels): searched in the lower-cased text (see ..context); not inside a
    reference ("2024-PT-55410" is an order)."""
    return tuple(
        (entity, re.compile(rf"(?<![\w/-])(?:{alternation(w.lower() for ws in langs.values() for w in ws)})(?![^\W_])"))
        for entity, langs in _data()["person_numbers"].items())


class NationalIdDetector:
    name = "national-ids"
    entities = frozenset(_data()["national"])

    def __init__(self) -> None:
        self._ids = national_ids()
        self._lengths = frozenset().union(*(i.lengths for i in self._ids))

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        for m in _RUN.finditer(text):
            pieces = [(p.start() + m.start(), p.end() + m.start()) for p in _PIECES.finditer(m.group())]
            if len(pieces) > _MAX_PIECES or _EXPONENT.search(m.group()):
                continue
            # The whole run first, then ever shorter runs of its pieces, each piece used once.
            i = 0
            while i < len(pieces):
                for j in range(len(pieces), i, -1):
                    start, end = pieces[i][0], pieces[j - 1][1]
                    compact = "".join(text[a:b] for a, b in pieces[i:j]).upper()
                    hit = len(compact) in self._lengths and _classify(text, compact, start, end, self._ids)
                    if hit:
                        yield from hit
                        i = j - 1
                        break
                i += 1


def _classify(text: str, compact: str, start: int, end: int, ids: tuple[NationalId, ...]) -> list[Hit]:
    """A valid value (settled by a context word nearby), or one whose check character fails
    right after a word that names it ("PPS number 7612345FA … the portal rejects it"): a
    mistyped identifier still identifies someone; a dummy one ("DNI 12345678A") nobody."""
    hits = []
    for nid in ids:
        if len(compact) not in nid.lengths or not nid.shape.fullmatch(compact):
            continue
        if VALIDATORS[nid.validator](compact):
            score = CONTEXT_SCORE if near(text, start, end, nid.context) else nid.alone
            hits.append(Hit(nid.entity, start, end, score, f"national-ids.{nid.validator}"))
        elif (nid.check_character and nid.context is not None and not dummy_number(compact)
              and nid.context.search(text, max(0, start - _NAMED_BEFORE), start)):
            hits.append(Hit(nid.entity, start, end, UNCHECKED_SCORE, f"national-ids.{nid.validator}-unchecked"))
    return hits


class PersonNumberDetector:
    """A patient or staff number right after the label that says so. Where a patient number
    stands, health data is said about the person it identifies."""

    name = "person-numbers"
    entities = frozenset(_data()["person_numbers"])

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        low = lowered(text)
        for entity, labels in _person_numbers():
            for label in labels.finditer(low):
                m = _NUMBER.match(text, label.end())
                if not m or (label.end() - label.start() <= 2 and text.startswith("-", label.end())):
                    continue  # "PT-2024-11-3381": a country's code opening an order's reference, not "pt #…"
                code = m.group("code")
                digits = [c for c in code if c.isdigit()]
                if len(set(digits)) == 1 or dummy_number(code):
                    continue  # "Employee ID 00000": a form's blank
                if len(digits) >= _MIN_DIGITS and not _YEAR.fullmatch(code):
                    yield Hit(entity, m.start("code"), m.end("code"), 0.85, f"person-numbers.{entity.lower()}")
