"""Which language a text is in, among the configured ones, by counting stop words.

Good enough to pick a NER model for a prompt and cheap (a set lookup a word); a text with no
telling word gets the first configured language.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Sequence

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_SAMPLE = 2000  # characters: the opening of a long text says which language it is in


@lru_cache(maxsize=16)
def _stop_words(lang: str) -> frozenset[str]:
    import spacy.util  # imported when first needed: spaCy (and torch under it) load slowly

    return frozenset(spacy.util.get_lang_class(lang).Defaults.stop_words)


def detect_language(text: str, languages: Sequence[str]) -> str:
    words = [w.lower() for w in _WORD.findall(text[:_SAMPLE])]
    best, best_count = languages[0], 0
    for lang in languages:
        stops = _stop_words(lang)
        count = sum(w in stops for w in words)
        if count > best_count:
            best, best_count = lang, count
    return best
