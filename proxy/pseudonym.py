"""Pseudonymize a request's text for the cloud, and restore the values in its answer
(`policy/decide.py` decides when, and verifies the result).

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

import copy
import dataclasses
import hashlib
import hmac
import json
import re
import unicodedata
from typing import Any, Iterable

from .routing import Finding

PLACEHOLDER = re.compile(r"\[([A-Z][A-Z0-9_]{0,39})_([0-9A-F]{6,16})\]")
_MAX_LEN = 1 + 40 + 1 + 16 + 1


class Pseudonymizer:
    def __init__(self, secret: bytes, team: str) -> None:
        self._key = hmac.new(secret, b"r1gate placeholders\x00" + team.encode(), hashlib.sha256).digest()

    def placeholder(self, entity_type: str, value: str, digits: int = 6) -> str:
        canonical = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
        digest = hmac.new(self._key, f"{entity_type}\x00{canonical}".encode(), hashlib.sha256).hexdigest()
        kind = re.sub(r"[^A-Z0-9_]", "_", entity_type.upper())[:40] or "VALUE"
        return f"[{kind}_{digest[:digits].upper()}]"

    def redact(self, body: dict[str, Any], spans: Iterable[Finding]) -> tuple[dict[str, Any], dict[str, str]]:
        """A copy of `body` with each finding's span replaced by its placeholder, and the
        mapping placeholder → value. Raises `KeyError` for a span it cannot place."""
        by_path: dict[str, list[Finding]] = {}
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


def _outermost(spans: list[Finding]) -> list[Finding]:
    """Sorted, with spans inside an earlier, longer one dropped (it covers them)."""
    kept: list[Finding] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if kept and span.start < kept[-1].end:
            if span.end > kept[-1].end:  # overlapping: widen to cover both
                kept[-1] = dataclasses.replace(kept[-1], end=span.end)
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


def counts(mapping: dict[str, str]) -> dict[str, int]:
    """Pseudonymized values by entity type."""
    found: dict[str, int] = {}
    for tag in mapping:
        kind = PLACEHOLDER.fullmatch(tag).group(1)  # type: ignore[union-attr]  # our own tags
        found[kind] = found.get(kind, 0) + 1
    return found


class AnswerRestorer:
    """Restores the values in everything a client receives: `content`, `reasoning_content`
    and tool-call arguments of every choice, in a whole completion or chunk by chunk."""

    _FIELDS = ("content", "reasoning_content")

    def __init__(self, mapping: dict[str, str]) -> None:
        self._mapping = mapping
        self._streams: dict[tuple[int, str, int], Restorer] = {}

    def completion(self, data: dict[str, Any]) -> dict[str, Any]:
        """A restored copy; `data` itself keeps its placeholders (for the cache)."""
        data = copy.deepcopy(data)
        for choice in data.get("choices") or ():
            message = choice.get("message") or {}
            for name in self._FIELDS:
                if isinstance(message.get(name), str):
                    message[name] = Restorer(self._mapping).restore(message[name])
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                if isinstance(function.get("arguments"), str):
                    function["arguments"] = Restorer(self._mapping, json_escaped=True).restore(function["arguments"])
        return data

    def chunk(self, data: dict[str, Any]) -> None:
        """Restores one chunk in place; a choice's last chunk carries what was held back."""
        for choice in data.get("choices") or ():
            index, delta = choice.get("index", 0), choice.get("delta")
            if not isinstance(delta, dict):
                continue
            for name in self._FIELDS:
                if isinstance(delta.get(name), str):
                    delta[name] = self._stream(index, name, 0).feed(delta[name])
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                if isinstance(function.get("arguments"), str):
                    function["arguments"] = self._stream(index, "tool", call.get("index", 0)).feed(
                        function["arguments"])
            if choice.get("finish_reason") is not None:
                self._flush(index, delta)

    def rest(self) -> list[dict[str, Any]]:
        """Deltas for what is still held back, for a stream that ended without finishing."""
        deltas: list[dict[str, Any]] = []
        for index in sorted({k[0] for k in self._streams}):
            delta: dict[str, Any] = {}
            self._flush(index, delta)
            if delta:
                deltas.append({"index": index, "delta": delta})
        return deltas

    def _stream(self, index: int, name: str, sub: int) -> Restorer:
        key = (index, name, sub)
        if key not in self._streams:
            self._streams[key] = Restorer(self._mapping, json_escaped=name == "tool")
        return self._streams[key]

    def _flush(self, index: int, delta: dict[str, Any]) -> None:
        for (i, name, sub), restorer in list(self._streams.items()):
            if i != index:
                continue
            rest = restorer.flush()
            del self._streams[(i, name, sub)]
            if not rest:
                continue
            if name == "tool":
                delta.setdefault("tool_calls", []).append({"index": sub, "function": {"arguments": rest}})
            else:
                delta[name] = (delta.get(name) or "") + rest
