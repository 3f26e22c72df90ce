"""Health and other special-category data (GDPR art. 9-10), when said about someone.

The terms, and the words that say who a sentence is about, are language data
(`data/languages/*.yaml`: `special`, `subjects`, `verbs`, `possessives`); this module only
decides whether a term is said about a person: a possessive right before it ("my diagnosis",
« son arrêt maladie »), or a subject and a verb of having or being in the same sentence ("she
was diagnosed", « il est en arrêt maladie », "Staff no. 02-4098 has joined Unite"), or a
named person as the subject ("Paul has diabetes").
"""
from __future__ import annotations

import re
from typing import Iterator

import regex

from ..given_names import is_given_name
from ..hit import Hit
from ..languages import Language, Languages, alternation

_WORD = re.compile(r"[^\W\d_]+")
_WORD_BEFORE = re.compile(r"\w*$")  # the letters of a compound before its last term
# A character inside a sentence: a stop ends one only before a space ("34 J.: HIV-1", "2.5 mg",
# "Pat.-ID 4471" go on), and the dot of an abbreviation ("Staff no. 12", "n.º 7712" read
# "n.o", "Dr. Okafor") ends none.
_INSIDE = r"(?:[^.!?\n]|[.!?](?!\s))"
_SENTENCE_START = regex.compile(rf"(?:(?<!\b(?i:n|no|nr|n°|dr|mr|mrs|ms|st|prof))[.!?](?=\s)|\n)"
                                rf"(?:{_INSIDE}|(?<=\b(?i:n|no|nr|n°|dr|mr|mrs|ms|st|prof))\.)*$")
# After a record's label: "n.", "nº", "#", a short code ("SNS"), then a number.
_NUMBERED = r"(?:\s*(?:[:#°]|n(?:\.?[°ºo]\.?|\.)|no\.|nr\.?))*(?-i:\s+[A-Z]{2,5})?\s*[\w./-]*\d[\w./-]*(?!\w)"
_NOTE = 300  # characters of a clinical note after its heading record
# English contractions are written in every language's prompts ("I'm", "she's").
_CONTRACTED = rf"|(?:^|[^\w'’])(?:i|we|you|he|she|they)['’](?:m|s|re|ve|d)\b{_INSIDE}{{0,40}}$"


class _Terms:
    """One entity's terms, tried only where a word opens with a term's first letters: a single
    alternation of hundreds of terms, tried at every position, costs a millisecond a text."""

    def __init__(self, terms: list[str]) -> None:
        # "*verslaving" closes a compound: searched once as the end of a word, then widened to it
        tails = [t[1:] for t in terms if t.startswith("*")]
        terms = [t for t in terms if not t.startswith("*")]
        # a term may open a compound ("HIV-Infektion", "cancer-free"), not close one ("Long-COVID")
        self._pattern = re.compile(rf"(?i)(?<![\w-])(?:{alternation(terms)})(?!\w)")
        prefixes = [_literal_prefix(t).lower() for t in terms]
        self._openings = frozenset(p[:3] for p in prefixes)
        loose = [t for t, p in zip(terms, prefixes) if len(p) < 3]  # opens with a class or group
        self._loose = re.compile(rf"(?i)(?<![\w-])(?:{alternation(loose)})(?!\w)") if loose else None
        self._tails = re.compile(rf"(?i)\B(?:{alternation(tails)})(?![\w-])") if tails else None

    def finditer(self, text: str, openings: list[tuple[int, str]]) -> Iterator[tuple[int, int]]:
        """The (start, end) of each term in `text`, given each word's start and first three
        letters in lower case (`openings`, read once for every entity's terms)."""
        for start, opening in openings:
            if opening in self._openings:
                m = self._pattern.match(text, start)
                if m:
                    yield m.span()
        if self._loose:
            yield from (m.span() for m in self._loose.finditer(text))
        for m in self._tails.finditer(text) if self._tails else ():
            yield _WORD_BEFORE.search(text, max(0, m.start() - 40), m.start()).start(), m.end()  # "Brustkrebs"


def _literal_prefix(term: str) -> str:
    m = re.match(r"[^.^$*+?{}\[\]\\|()]*", term)
    prefix = m.group() if m else ""
    # a quantifier applies to the last literal character: "cancers?" is sure of "cancer" only
    return prefix[:-1] if len(prefix) < len(term) and term[len(prefix)] in "*?{" else prefix


class SpecialCategoryDetector:
    name = "special"
    entities = frozenset({"HEALTH_DATA", "SPECIAL_CATEGORY"})

    def __init__(self, languages: Languages) -> None:
        self._languages = languages
        # A term counts in any configured language: prompts mix them.
        entities = sorted({e for lang in languages.each.values() for e in lang.special})
        self._terms = {entity: _Terms([t for lang in languages.each.values() for t in lang.special.get(entity, ())])
                       for entity in entities}
        # A record's label too ("Processo 4410/2023:" in a text short enough to read as Italian).
        records = languages.entries("records")
        self._about = {code: _about_someone(lang, records) for code, lang in languages.each.items()}
        self._named = {code: _named_subject(lang) for code, lang in languages.each.items()}
        # A record's label and number heading a clinical note ("Cartella n. 1180947 – donna, 52
        # anni. Ricovero per…"): the note's later sentences are about that person too.
        self._heading = re.compile(rf"(?im)^[ \t]*(?:{alternation(records)})\.?{_NUMBERED}")

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        code = lang if lang in self._about else self._languages.codes[0]
        openings = [(w.start(), w.group()[:3].lower()) for w in _WORD.finditer(text)]
        for entity, pattern in self._terms.items():
            for start, end in pattern.finditer(text, openings):
                before = text[max(0, start - 90):start]
                cut = _SENTENCE_START.search(before)
                if cut:
                    before = before[cut.start() + 1:]
                if self._about[code].search(before) or _named(self._named[code], before) or self._headed(text, start):
                    yield Hit(entity, start, end, 0.8, f"special.{entity.lower()}")

    def _headed(self, text: str, start: int) -> bool:
        """A record heading the paragraph the term is in, within `_NOTE` characters before it."""
        window = text[max(0, start - _NOTE):start]
        return bool(self._heading.search(window, window.rfind("\n\n") + 1))


def _about_someone(lang: Language, records: tuple[str, ...]) -> re.Pattern[str]:
    """A possessive right before the term, a subject and a verb earlier in the sentence, or a
    number that stands for a person ("IPP 594726692 : la biopsie…", "utente n.º SNS 284719305"),
    labelled in any language."""
    subjects, verbs = alternation(lang.subjects), alternation(lang.verbs)
    return re.compile(
        rf"(?i)(?:\b(?:{alternation(lang.possessives)})\s+(?:[\w'’-]+\s+){{0,2}}$"
        rf"|(?<!\w)(?:{alternation(records)})\.?{_NUMBERED}{_INSIDE}{{0,60}}$"
        rf"|(?:^|[^\w'’])(?:{subjects}),?\s+(?:[\w'’-]+,?\s+){{0,3}}?(?:{verbs})(?!\w){_INSIDE}{{0,40}}$"
        rf"{_CONTRACTED})")


def _named_subject(lang: Language) -> regex.Pattern[str]:
    """Someone named as the subject: "Marie Dupont has diabetes", « Paul est en arrêt maladie »."""
    return regex.compile(rf"(?:^|[^\w'’])(\p{{Lu}}[\w'’-]+)(?:\s+\p{{Lu}}[\w'’-]+){{0,2}}\s+(?:[\w'’-]+\s+){{0,3}}?"
                         rf"(?i:{alternation(lang.verbs)})\b{_INSIDE}{{0,40}}$")


def _named(pattern: regex.Pattern[str], before: str) -> bool:
    """A given name opens the subject of the sentence the term is in."""
    m = pattern.search(before)
    return bool(m) and is_given_name(m.group(1))
