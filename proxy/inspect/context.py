"""Words near a value that say what it is: they settle a score a value alone leaves open.

Long word lists are searched case-sensitively in a lower-cased copy of the text: Python's
`re` skips ahead on the first letters of a case-sensitive alternation, not under (?i), where
fifty words cost some thirty times more.
"""
from __future__ import annotations

import re
from typing import Iterable

BEFORE, AFTER = 60, 30  # characters: "BSN: 123456782", "123456782 (BSN)"


def alternation(words: Iterable[str]) -> str:
    """`words` as a regex alternation, longest first, a space matching any run of whitespace."""
    parts = {r"\s+".join(map(re.escape, w.split())) for w in words if w.strip()}
    return "|".join(sorted(parts, key=len, reverse=True))


def words_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """Any of `words`, any case, on word boundaries."""
    parts = alternation(words)
    return re.compile(rf"(?i)(?<![\w])(?:{parts})(?![\w])") if parts else None


def lowered(text: str) -> str:
    """`text` in lower case, each character in its place (the rare "İ" whose lower case is
    two characters long stays as it is), so that offsets hold in both."""
    low = text.lower()
    return low if len(low) == len(text) else "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def near(text: str, start: int, end: int, words: re.Pattern[str] | None) -> bool:
    """Whether one of `words` stands just before or just after text[start:end]."""
    return words is not None and bool(
        words.search(text, max(0, start - BEFORE), start) or words.search(text, end, end + AFTER))
