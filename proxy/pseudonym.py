"""Pseudonymize a request for the cloud, and restore the values in its answer.

Each detected value becomes a placeholder such as `[PERSON_7F3A9C]`: the entity type,
which tells the model what it stands for, and a keyed hash (HMAC with the deployment
secret, per team) of the normalised value, so the same value gets the same placeholder in
every message and every turn, and placeholders never correlate across teams or reveal
anything. The mapping lives only for the request: a conversation sends its history
again, and the same placeholders come out of it.

Restoring replaces only the placeholders this request produced, so an answer can never
receive another request's values; text the model invented is left as it is.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

PLACEHOLDER = re.compile(r"\[([A-Z][A-Z0-9_]{0,39})_([0-9A-F]{6,16})\]")
_MAX_LEN = 1 + 40 + 1 + 16 + 1


@dataclass(frozen=True, slots=True)
class Span:
    """A value to pseudonymize: where it is (a text field's path and offsets) and its type."""

    path: str
    start: int
    end: int
    entity_type: str


class Pseudonymizer:
    def __init__(self, secret: bytes, team: str) -> None:
        self._key = hmac.new(secret, b"r1gate placeholders\x00" + team.encode(), hashlib.sha256).digest()

    def placeholder(self, entity_type: str, value: str, digits: int = 6) -> str:
        canonical = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
        digest = hmac.new(self._key, f"{entity_type}\x00{canonical}".encode(), hashlib.sha256).hexdigest()
        kind = re.sub(r"[^A-Z0-9_]", "_", entity_type.upper())[:40] or "VALUE"
        return f"[{kind}_{digest[:digits].upper()}]"

    def redact(self, body: dict[str, Any], spans: Iterable[Span]) -> tuple[dict[str, Any], dict[str, str]]:
        """A copy of `body` with each span replaced by its placeholder, and the mapping
        placeholder → value. Raises `KeyError` for a span it cannot place (fail closed)."""
        by_path: dict[str, list[Span]] = {}
        for span in spans:
            by_path.setdefault(span.path, []).append(span)
        redacted = json.loads(json.dumps(body))  # a deep copy: the client's body stays as sent
        mapping: dict[str, str] = {}
        for path, found in by_path.items():
            text = _get(redacted, path)
            if not isinstance(text, str):
                raise KeyError(path)
            pieces, cursor = [], 0
            for span in _outermost(found):
                value = text[span.start:span.end]
                tag = self._unique(span.entity_type, value, mapping)
                pieces += [text[cursor:span.start], tag]
                cursor = span.end
            _set(redacted, path, "".join(pieces) + text[cursor:])
        return redacted, mapping

    def _unique(self, entity_type: str, value: str, mapping: dict[str, str]) -> str:
        """The value's placeholder, longer when two values of this request share a prefix."""
        for digits in (6, 8, 12, 16):
            tag = self.placeholder(entity_type, value, digits)
            known = mapping.get(tag)
            if known is None or _same(known, value):
                mapping.setdefault(tag, value)
                return tag
        raise KeyError("placeholder collision")


def _same(a: str, b: str) -> bool:
    norm = lambda s: " ".join(unicodedata.normalize("NFKC", s).casefold().split())  # noqa: E731
    return norm(a) == norm(b)


def _outermost(spans: list[Span]) -> list[Span]:
    """Sorted, with spans inside an earlier, longer one dropped (it covers them)."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if kept and span.start < kept[-1].end:
            if span.end > kept[-1].end:  # overlapping: widen to cover both
                kept[-1] = Span(span.path, kept[-1].start, span.end, kept[-1].entity_type)
            continue
        kept.append(span)
    return kept


_STEP = re.compile(r"\.([^.\[#]+)|\[(\d+)\]")


def _steps(path: str) -> list[str | int]:
    if "#" in path:
        raise KeyError(path)  # an object key: cannot be renamed safely, so not pseudonymized
    steps: list[str | int] = []
    for m in _STEP.finditer("." + path):
        steps.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    return steps


def _get(node: Any, path: str) -> Any:
    for step in _steps(path):
        node = node[step]
    return node


def _set(node: Any, path: str, value: Any) -> None:
    *parents, last = _steps(path)
    for step in parents:
        node = node[step]
    node[last] = value


class Restorer:
    """Puts the values back into the text of an answer, also as it streams.

    `feed` returns what can be sent now and holds back only the shortest tail that could
    still become a placeholder; `flush` releases it at the end, as it is.
    `json_escaped`: the text is inside a JSON string (tool-call arguments), so values are
    escaped the way that string needs them.
    """

    def __init__(self, mapping: dict[str, str], json_escaped: bool = False) -> None:
        self._mapping = mapping
        self._escape = json_escaped
        self._held = ""

    def restore(self, text: str) -> str:
        if not self._mapping or "[" not in text:
            return text
        return PLACEHOLDER.sub(self._value, text)

    def _value(self, m: re.Match[str]) -> str:
        value = self._mapping.get(m.group(0))
        if value is None:
            return m.group(0)  # not ours: the model's own text
        return json.dumps(value, ensure_ascii=False)[1:-1] if self._escape else value

    def feed(self, text: str) -> str:
        if not self._mapping:
            return text
        text = self._held + text
        cut = _pending_start(text)
        self._held = text[cut:]
        return self.restore(text[:cut])

    def flush(self) -> str:
        held, self._held = self._held, ""
        return self.restore(held)


_PREFIX = re.compile(r"\[(?:[A-Z][A-Z0-9_]{0,39}(?:_[0-9A-F]{0,16})?)?\Z")


def _pending_start(text: str) -> int:
    """Where the tail that could still grow into a placeholder starts (len(text): none)."""
    start = text.rfind("[", max(len(text) - _MAX_LEN, 0))
    while start >= 0:
        if _PREFIX.match(text, start):
            return start
        start = text.rfind("[", max(len(text) - _MAX_LEN, 0), start)
    return len(text)
