"""IBANs of the EU/EEA and neighbours, with separators or not, validated by length and mod-97."""
from __future__ import annotations

import re
from typing import Iterator

from ..checksums import iban_ok
from ..hit import Hit

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ \-./\u00a0]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
_SEP = re.compile(r"[ \-./\u00a0]")


class IbanDetector:
    name = "iban"
    entities = frozenset({"IBAN_CODE"})

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        pos = 0
        while m := _IBAN.search(text, pos):
            raw = m.group()
            compact = _SEP.sub("", raw).upper()
            pos = m.start() + 1
            # The match may run into the next words ("FR76… et", "GB29 … 19 and DE89 …"): trim
            # to the country's length, and look for the next one right after.
            for length in (27, 24, 22, 28, 20, 18, 16, 31, 25, 21, 26, 23, 19, 15, 29, 30):
                if len(compact) >= length and iban_ok(compact[:length]):
                    pos = m.start() + _end_of(raw, length)
                    yield Hit("IBAN_CODE", m.start(), pos, 0.95, "iban")
                    break


def _end_of(raw: str, n_chars: int) -> int:
    """Index in `raw` just after its `n_chars`-th non-separator character."""
    seen = 0
    for i, ch in enumerate(raw):
        if not _SEP.match(ch):
            seen += 1
            if seen == n_chars:
                return i + 1
    return len(raw)
