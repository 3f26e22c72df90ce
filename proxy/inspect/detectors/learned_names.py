"""Given names in lower case that are also words ("roos zit al 2 weken thuis", "bianca è in
malattia", "rose said she'd cover"): the one question the rules leave to a learned tagger.

A lower-case given name that is no word is the rules' (`name_shapes.py`); one that is a word
of a configured language ("rose", "luz", "chiara") they must leave, since only the words
around it tell "prices rose" from "rose said". Here the tagger (`tagger.py`) reads those words
and a name it is sure of becomes a PERSON. Measured on held-out sets, asking it about every
word it calls a name (capitalised brands and places included) over-routed far more than it
fixed (bench/README.md, "Round 22"), so it is asked nothing else:
not about function words, months or listed public names written in lower case.
"""
from __future__ import annotations

from typing import Iterator

import regex

from ..given_names import common_words, is_given_name, word_names
from ..hit import Hit
from ..languages import Languages
from ..tagger import NameTagger
from .name_shapes import LOWER_WORD, in_a_listed_name
from .person import Ner, lone_given_name

_SURE = 0.9  # the tagger's least odds over the word's tokens; 0.8 and below broke harmless text
# Lower-case names are chat: a message, not a document's piece. On a 50 KB document the tagger
# asked about every such word cost five times all the rules together (bench/README.md).
_CHAT = 1000
_CAPITALISED_NEXT = regex.compile(r"[ \t]+\p{Lu}")


class LearnedNameDetector:
    name = "learned-name"
    entities = frozenset({"PERSON"})

    def __init__(self, ner: Ner, languages: Languages, tagger: NameTagger) -> None:
        self._ner = ner
        self._tagger = tagger
        self._function = languages.function_words

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        if len(text) > _CHAT:
            return
        words = list(LOWER_WORD.finditer(text))
        # Before a capitalised word it is a title or part of a name the capitals tell ("regina
        # Margherita"), not chat.
        asked = [w for i, w in enumerate(words) if self._open_question(w.group(), lang) and not in_a_listed_name(text, words, i)
                 and not _CAPITALISED_NEXT.match(text, w.end())]
        if not asked:
            return
        for word, odds in zip(asked, self._tagger.name_odds(text, [w.span() for w in asked])):
            if odds >= _SURE:
                yield Hit("PERSON", word.start(), word.end(), 0.7, "learned-name.lower-case")

    def _open_question(self, word: str, lang: str) -> bool:
        """A given name that the text's language, or English, also uses as a word: the rules'
        `lone_given_name` leaves it."""
        return len(word) > 2 and is_given_name(word) and word not in self._function and (
            not lone_given_name(word, self._ner, lang) or word in common_words(lang) or word in word_names(lang))

