"""Words near a value that say what it is: they settle a score a value alone leaves open."""
from __future__ import annotations

import re
from typing import Iterable

BEFORE, AFTER = 60, 30  # characters: "BSN: 123456782", "123456782 (BSN)"


def words_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """Any of `words`, any case, on word boundaries, a space matching any run of whitespace."""
    parts = sorted({r"\s+".join(map(re.escape, w.split())) for w in words if w.strip()}, key=len, reverse=True)
    return re.compile(rf"(?i)(?<![\w])(?:{'|'.join(parts)})(?![\w])") if parts else None


def near(text: str, start: int, end: int, words: re.Pattern[str] | None) -> bool:
    """Whether one of `words` stands just before or just after text[start:end]."""
    return words is not None and bool(
        words.search(text, max(0, start - BEFORE), start) or words.search(text, end, end + AFTER))
