"""Health and other special-category data (GDPR art. 9-10), when said about someone.

The term lists are data (`data/special_categories.yaml`); this module only decides whether a
term is said about a person: a possessive right before it ("my diagnosis", « son arrêt
maladie »), or a subject and a verb of having or being in the same sentence ("she was
diagnosed", « il est en arrêt maladie »).
"""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Iterator

import regex
import yaml

from ..hit import Hit
from .person import _is_given_name

_SUBJECTS = {
    "en": r"i|i['’]m|i['’]ve|we|he|she|they|(?:my|his|her|our|their) \w+|patients?|employees?|colleagues?|"
          r"co-?workers?|staff|candidates?|clients?|customers?",
    "fr": r"je|j['’]|nous|il|elle|ils|elles|(?:mon|ma|mes|son|sa|ses|notre|nos|leur) \w+|collègues?|"
          r"salariée?s?|collaborat\w+|agents?|employée?s?|patiente?s?|candidate?s?|cliente?s?",
}
_VERBS = {
    "en": r"has|have|had|is|am|are|was|were|been|['’]s|['’]m|suffer\w*|diagnosed|got|gets|takes?|taking|"
          r"took|battling|recovering|living|underwent|undergoing|tested|treated",
    "fr": r"a|ai|as|avons|avez|ont|avait|avais|est|suis|es|sont|était|étais|été|souffr\w*|atteinte?s?|"
          r"prend\w*|sous|suit|vit|fait|revient",
}
_POSSESSIVE = r"my|his|her|their|our|mon|ma|mes|son|sa|ses|leurs?|notre|nos"
# Per language: a possessive right before the term, or a subject and a verb earlier in the sentence.
_ABOUT_SOMEONE = {lang: re.compile(
    rf"(?i)(?:\b(?:{_POSSESSIVE})\s+(?:[\w'’-]+\s+){{0,2}}$"
    rf"|(?:^|[^\w'’])(?:{_SUBJECTS[lang]})\s+(?:[\w'’-]+\s+){{0,3}}?(?:{_VERBS[lang]})\b[^.!?\n]{{0,40}}$"
    rf"|(?:^|[^\w'’])(?:i|we|you|he|she|they)['’](?:m|s|re|ve|d)\b[^.!?\n]{{0,40}}$)")
    for lang in _SUBJECTS}
_SENTENCE_START = re.compile(r"[.!?\n][^.!?\n]*$")
# Someone named as the subject: "Marie Dupont has diabetes", « Paul est en arrêt maladie ».
_NAMED_SUBJECT = {lang: regex.compile(
    rf"(?:^|[^\w'’])(\p{{Lu}}[\w'’-]+)(?:\s+\p{{Lu}}[\w'’-]+){{0,2}}\s+(?:[\w'’-]+\s+){{0,3}}?"
    rf"(?i:{_VERBS[lang]})\b[^.!?\n]{{0,40}}$") for lang in _VERBS}


@lru_cache(maxsize=1)
def _terms() -> dict[str, re.Pattern[str]]:
    data = yaml.safe_load(resources.files("proxy.inspect").joinpath(
        "data/special_categories.yaml").read_text("utf-8"))
    return {entity: re.compile(rf"(?i)(?<![\w-])(?:{'|'.join(terms)})(?![\w-])")
            for entity, terms in data.items()}


class SpecialCategoryDetector:
    name = "special"
    entities = frozenset({"HEALTH_DATA", "SPECIAL_CATEGORY"})

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        for entity, pattern in _terms().items():
            for m in pattern.finditer(text):
                before = text[max(0, m.start() - 90):m.start()]
                cut = _SENTENCE_START.search(before)
                if cut:
                    before = before[cut.start() + 1:]
                if _ABOUT_SOMEONE.get(lang, _ABOUT_SOMEONE["en"]).search(before) or _named(before, lang):
                    yield Hit(entity, m.start(), m.end(), 0.8, f"special.{entity.lower()}")


def _named(before: str, lang: str) -> bool:
    """A given name opens the subject of the sentence the term is in."""
    m = _NAMED_SUBJECT.get(lang, _NAMED_SUBJECT["en"]).search(before)
    return bool(m) and _is_given_name(m.group(1))
