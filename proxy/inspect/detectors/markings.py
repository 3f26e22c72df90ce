"""Confidentiality markings ("CONFIDENTIAL", « diffusion restreinte »…) from an editable list.

A phrase that only a marking uses ("ne pas diffuser", "internal only") counts wherever it is.
A single adjective ("confidential") counts when it is written as a marking: in capitals, at
the start of a line, in brackets, before a colon or dash, or after "strictly"/"document".
Elsewhere ("how do I keep files confidential?") it is talk about confidentiality, with a low
score that the policy's threshold keeps below the line.
"""
from __future__ import annotations

import re
from typing import Iterator, Sequence

from ..hit import Hit

_MARKING_CONTEXT_BEFORE = re.compile(
    r"(?i)(?:(?:^|\n)\s*(?:document|note|memo|email|e-mail|mail|rapport|report|fichier|file)?|[\[(*_#«\"“|]|"
    r"\b(?:strictly|highly|company|strictement|hautement|mention|classification|classé|classified|"
    r"marked|marqué|sensitivity|sensibilité|label|étiquette|niveau|level)\s*:?)\s*$")
_MARKING_CONTEXT_AFTER = re.compile(r"^\s*(?:[:\-—–|\])*_»\"”]|\n|$)")
# `SECRET = os.environ[…]`, `Level.CONFIDENTIAL`: code, not a marking.
_CODE_AROUND = re.compile(r"^\s*(?:=|\(|\.[a-z_])")
_CONJUNCTIONS = {"and": "(?:and|&)", "et": "(?:et|&)"}


class MarkingDetector:
    name = "marking"
    entities = frozenset({"CONFIDENTIAL_MARKING"})

    def __init__(self, phrases: Sequence[str]) -> None:
        single = [p for p in phrases if " " not in p.strip()]
        multi = [p for p in phrases if " " in p.strip()]
        self._multi = _alternation(multi)
        self._single = _alternation(single)

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        if self._multi:
            for m in self._multi.finditer(text):
                yield Hit("CONFIDENTIAL_MARKING", m.start(), m.end(), 0.9, "marking.phrase")
        if self._single:
            for m in self._single.finditer(text):
                word = m.group()
                if _CODE_AROUND.match(text[m.end():m.end() + 3]) or text[max(0, m.start() - 1):m.start()] == ".":
                    continue
                as_marking = (word.isupper() and len(word) > 3) \
                    or _MARKING_CONTEXT_BEFORE.search(text[max(0, m.start() - 24):m.start()]) \
                    or _MARKING_CONTEXT_AFTER.match(text[m.end():m.end() + 3])
                yield Hit("CONFIDENTIAL_MARKING", m.start(), m.end(), 0.9 if as_marking else 0.3,
                          "marking.word")


def _alternation(phrases: Sequence[str]) -> re.Pattern[str] | None:
    if not phrases:
        return None
    parts = sorted((r"\s+".join(_CONJUNCTIONS.get(w.lower(), re.escape(w)) for w in p.split()) for p in phrases),
                   key=len, reverse=True)
    return re.compile(rf"(?i)(?<![\w])(?:{'|'.join(parts)})(?![\w])")
