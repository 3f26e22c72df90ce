"""Which language a text is in, among the configured ones, by counting telling words.

A language's words are spaCy's stop words for it plus the plain words of its data file
(sentence openers, cues, pronouns, months). A word shared by several languages ("il", "de")
counts for each as a share, so that the words only one language has decide between close
ones. Cheap (a dict lookup a word); a text with no telling word gets the first configured
language.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

from .languages import language

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_PLAIN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)?\*?")
_SAMPLE = 2000  # characters: the opening of a long text says which language it is in
_DATA_KEYS = ("openers", "person_cues", "name_cues", "subjects", "verbs", "possessives", "months", "titles",
              "form_labels", "marking_labels")


@lru_cache(maxsize=16)
def _vocabulary(lang: str) -> frozenset[str]:
    import spacy.util  # imported when first needed: spaCy (and torch under it) load slowly

    data = language(lang)
    words = {w.lower() for key in _DATA_KEYS for entry in getattr(data, key) for w in entry.split()
             if _PLAIN.fullmatch(w) and not w.endswith("*")}
    return frozenset(spacy.util.get_lang_class(lang).Defaults.stop_words | words)


@lru_cache(maxsize=16)
def _weights(languages: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """word -> {language: its share}: 1 / the number of configured languages that have it."""
    weights: dict[str, dict[str, float]] = {}
    for lang in languages:
        for word in _vocabulary(lang):
            weights.setdefault(word, {})[lang] = 1.0
    for shares in weights.values():
        for lang in shares:
            shares[lang] = 1.0 / len(shares)
    return weights


def detect_language(text: str, languages: Sequence[str]) -> str:
    weights = _weights(tuple(languages))
    scores = dict.fromkeys(languages, 0.0)
    for word in _WORD.findall(text[:_SAMPLE]):
        for lang, share in weights.get(word.lower(), {}).items():
            scores[lang] += share
    best = max(languages, key=lambda lang: scores[lang])  # first configured on a tie
    return best if scores[best] > 0 else languages[0]
