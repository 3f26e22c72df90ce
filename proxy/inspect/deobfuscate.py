"""Undo the cheap tricks that hide a value from a detector (invisible characters, full-width
digits, JSON escapes, `name [at] domain [dot] com`), keeping a map back to the original.

Detectors run on the clear text; their spans are mapped back with `Deobfuscated.span`, so a
finding always points at the characters the user actually sent.
"""
from __future__ import annotations

import unicodedata

import regex as re  # variable-width look-behind, for the `x at y dot com` form
from dataclasses import dataclass

# Where a character may need more than copying: a possible JSON escape, anything not ASCII.
_SPECIAL = re.compile(r"[\\\x80-\U0010ffff]")
# Invisible characters used to split a value so that no pattern matches it.
_INVISIBLE = frozenset("\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e"
                       "\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\ufeff")
# The top-level domains a spelt-out address ends with: without one, "at what point should…" is prose.
_TLD = (r"(?:com|org|net|edu|gov|info|biz|io|co|ai|app|dev|eu|fr|de|es|it|nl|pt|be|at|ch|uk|ie|lu|dk|se|no|fi"
        r"|pl|cz|gr|ro|hu|sk|si|hr|bg|lt|lv|ee|cy|mt|us|ca|br|mx|ar|jp|cn|in|au|ru|ua|tr|il|za|me|tv|cat|eus|gal)\b")
# `name [at] domain [dot] com`, `name (at) domain (point) fr`, `name arobase domain point fr`.
_AT = re.compile(r"\s*[\[\(\{<]\s*(?:at|arobase|@)\s*[\]\)\}>]\s*|\s+(?:arobase|at)\s+(?=[\w-]+\s*"
                 rf"(?:[\[\(\{{<]\s*(?:dot|point)\s*[\]\)\}}>]\s*|\s(?:dot|point)\s){_TLD})", re.IGNORECASE)
# Tool-call arguments and tool results are JSON, which most encoders write with `\u00e9` for
# "é" and `\n` for a line break: a name or a line seen through escapes is not seen at all.
# Only the hex digits ignore case: "C:\Temp" and "\N" are no escapes.
_JSON_ESCAPE = re.compile(r"\\(?:u(?i:d[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2}|[0-9a-f]{4})|[nrt\"/])")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\n", "t": " ", '"': '"', "/": "/"}
_DOT = re.compile(r"\s*[\[\(\{<]\s*(?:dot|point)\s*[\]\)\}>]\s*|(?<=@[\w-]{1,63})\s+(?:dot|point)\s+"
                  rf"(?={_TLD})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Deobfuscated:
    """The clear text and, per character, the original span it came from."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the non-empty clear span [start, end)."""
        return self.starts[start], self.ends[end - 1]


def deobfuscate(text: str) -> Deobfuscated:
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    escapes = {m.start(): m for m in _JSON_ESCAPE.finditer(text)} if "\\" in text else {}
    i, n = 0, len(text)
    while i < n:
        # Plain ASCII up to the next escape or non-ASCII character (less the base character
        # before it, which combining marks may compose with) maps to itself: copied at once.
        stop = _SPECIAL.search(text, i)
        plain = (stop.start() if stop else n) - (1 if stop and text[stop.start()] != "\\" else 0)
        if plain > i:
            chars.append(text[i:plain])
            starts.extend(range(i, plain))
            ends.extend(range(i + 1, plain + 1))
            i = plain
            continue
        ch = text[i]
        escape = escapes.get(i)
        if escape is not None:
            out = _unescape(escape.group())
            chars.extend(out)
            starts.extend([i] * len(out))
            ends.extend([escape.end()] * len(out))
            i = escape.end()
            continue
        if ch in _INVISIBLE:
            i += 1
            continue
        # A base character with its combining marks forms one unit for NFKC composition.
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        unit = text[i:j]
        out = unit if unit.isascii() else unicodedata.normalize("NFKC", unit)
        for c in out:
            chars.append(c)
            starts.append(i)
            ends.append(j)
        i = j
    norm = "".join(chars)
    if "at" in norm.lower() or "[" in norm or "(" in norm or "arobase" in norm.lower():
        norm, starts, ends = _replace(norm, starts, ends, _AT, "@")
        norm, starts, ends = _replace(norm, starts, ends, _DOT, ".")
    return Deobfuscated(norm, tuple(starts), tuple(ends))


def _unescape(escape: str) -> str:
    if escape[1] != "u":
        return _SIMPLE_ESCAPES[escape[1]]
    units = [int(escape[i + 2:i + 6], 16) for i in range(0, len(escape), 6)]
    code = units[0] if len(units) == 1 else 0x10000 + ((units[0] - 0xD800) << 10) + (units[1] - 0xDC00)
    return unicodedata.normalize("NFKC", chr(code)) if 0xD800 > code or code > 0xDFFF else "\ufffd"


def _replace(text: str, starts: list[int], ends: list[int], pattern: re.Pattern,
             repl: str) -> tuple[str, list[int], list[int]]:
    """Replace every match by `repl`, whose characters map to the whole matched original span."""
    pieces: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    last = 0
    for m in pattern.finditer(text):
        if m.start() == m.end():
            continue
        pieces.append(text[last:m.start()])
        new_starts.extend(starts[last:m.start()])
        new_ends.extend(ends[last:m.start()])
        pieces.append(repl)
        new_starts.extend([starts[m.start()]] * len(repl))
        new_ends.extend([ends[m.end() - 1]] * len(repl))
        last = m.end()
    if not pieces:
        return text, starts, ends
    pieces.append(text[last:])
    new_starts.extend(starts[last:])
    new_ends.extend(ends[last:])
    return "".join(pieces), new_starts, new_ends
