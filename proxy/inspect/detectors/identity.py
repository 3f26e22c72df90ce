"""Dates of birth and passport numbers: only with the words that say what they are, since a
date or an alphanumeric code alone is neither."""
from __future__ import annotations

import re
from typing import Iterator

from ..hit import Hit

_MONTHS = (r"jan(?:uary|vier)?|feb(?:ruary)?|f[ée]v(?:rier)?|mar(?:ch|s)?|apr(?:il)?|avr(?:il)?|may|mai|"
           r"june?|juin|july?|juil(?:let)?|aug(?:ust)?|ao[uû]t|sep(?:t(?:ember|embre)?)?|oct(?:ober|obre)?|"
           r"nov(?:ember|embre)?|dec(?:ember)?|d[ée]c(?:embre)?")
_DATE = re.compile(
    rf"(?i)\b(?:\d{{1,2}}[/.\-]\d{{1,2}}[/.\-](?:19|20)?\d{{2}}|(?:19|20)\d{{2}}-\d{{2}}-\d{{2}}|"
    rf"\d{{1,2}}(?:er|st|nd|rd|th)?\s+(?:{_MONTHS})\.?\s+(?:19|20)\d{{2}}|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}})\b")
_BIRTH_CUES = re.compile(r"(?i)(?:\bborn|\bbirth|\bD\.?O\.?B\b|\bn[ée]e?\b|naissance|anniversaire|birthday)[^.!?\n]{0,24}$")
_PASSPORT = re.compile(r"(?<![\w-])(?=[A-Z0-9]*\d)[A-Z0-9]{6,9}(?![\w-])")
# "no." and "nr." abbreviate "number": their dot ends no sentence.
_PASSPORT_CUES = re.compile(r"(?i)(?:passport|passeport|pasaporte|passaporto|reisepass|titre de séjour|"
                            r"carte d['’]identit[ée]|ID card|identity card)(?:[^.!?\n]|\b(?:no|nr|num)\.){0,32}$")
_FR_PASSPORT = re.compile(r"(?<![\w-])\d{2}[A-Z]{2}\d{5}(?![\w-])")


class IdentityDetector:
    name = "identity"
    entities = frozenset({"DATE_OF_BIRTH", "PASSPORT"})

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        for m in _DATE.finditer(text):
            if _BIRTH_CUES.search(text[max(0, m.start() - 48):m.start()]):
                yield Hit("DATE_OF_BIRTH", m.start(), m.end(), 0.85, "identity.birth-date")
        for m in _PASSPORT.finditer(text):
            if _PASSPORT_CUES.search(text[max(0, m.start() - 56):m.start()]):
                yield Hit("PASSPORT", m.start(), m.end(), 0.85, "identity.passport")
            elif _FR_PASSPORT.fullmatch(m.group()):
                yield Hit("PASSPORT", m.start(), m.end(), 0.5, "identity.fr-passport-shape")
