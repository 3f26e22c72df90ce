"""Every piece of text the upstream would receive, with where it sits (invariant 3).

Rather than listing the fields that may hold text, this walks the whole request and
yields every string value, every number (as its JSON text: a card number sent as a
number is still a card number) and every free-form object key, skipping only values the
gateway itself validated against a closed set or a range. A field OpenAI adds tomorrow is
therefore inspected by default: fail closed.

A value can also be split across the user's turns ("FR76 3000" then "6000 0112 …"):
around each seam between two consecutive user texts, a window joining both is inspected
too, and only a finding across the seam counts there (the rest is found in each text). A
value dictated in halves with words around them ("first half 5355 2200" … "the rest is
1234 5678") is joined too: the last number near the end of a user text to the first near
the start of the next.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

from .request import INTEGERS, NUMBERS

# Values from a closed set carry no personal data; anything else under these keys is text.
_CLOSED_VALUES = {
    "role": frozenset({"system", "developer", "user", "assistant", "tool", "function"}),
    "type": frozenset({"text", "image_url", "input_audio", "file", "function", "json_object",
                       "json_schema", "string", "number", "integer", "boolean", "object",
                       "array", "null"}),
    "detail": frozenset({"auto", "low", "high"}),
    "reasoning_effort": frozenset({"low", "medium", "high"}),
}
# Top-level fields validated against the configuration or a range (request.py).
_CHECKED_KEYS = frozenset({"model", *NUMBERS, *INTEGERS})
# Characters taken on each side of a seam between two user texts: more than any value
# (an IBAN, a card number, an address) that one would split.
_SEAM_REACH = 128
SEAMS_PATH = "messages#user-turns"
# A number (letters inside: an IBAN's country, a check letter), and how close to the end of a
# user text, or to the start of the next, one half of a value stands.
_NUMBER = re.compile(r"(?<!\w)[A-Z]{0,2}\d[\dA-Z]*(?:[ .-][\dA-Z]+)*(?!\w)")
_NUMBER_EDGE = 40
# Keys of the OpenAI schema itself; any other key inside the request is inspected as text.
_SCHEMA_KEYS = frozenset({
    "model", "messages", "role", "content", "name", "tool_calls", "id", "type", "function",
    "arguments", "tool_call_id", "tools", "tool_choice", "description", "parameters",
    "properties", "required", "items", "enum", "text", "image_url", "url", "detail", "stream",
    "stream_options", "include_usage", "temperature", "top_p", "max_tokens", "n", "stop",
    "seed", "response_format", "json_schema", "schema", "strict", "logprobs", "top_logprobs",
    "presence_penalty", "frequency_penalty", "user", "reasoning_content", "prefix",
    "additionalProperties", "default", "title", "format", "minimum", "maximum", "anyOf",
    "oneOf", "allOf", "$ref", "$defs", "definitions", "max_completion_tokens",
    "parallel_tool_calls", "reasoning_effort", "refusal", "audio", "input_audio", "file",
})


@dataclass(frozen=True, slots=True)
class TextField:
    """A text the upstream would see. `path` is JSONPath-like: `messages[2].content[0].text`;
    a `#` marks where no placeholder can go (a key, a number, a window across turns)."""

    path: str
    text: str
    seams: tuple[int, ...] = ()  # in a window across user turns: where one text ends

    def counts(self, start: int, end: int) -> bool:
        """Whether a hit at `[start, end)` counts: in a window across turns, only one that
        crosses a seam (the separator at `seam` plus a character on each side)."""
        return not self.seams or any(start < seam and end > seam + 1 for seam in self.seams)


def texts(body: dict[str, Any]) -> list[TextField]:
    return [*_walk(body, ""), *_seams(body.get("messages"))]


def _walk(node: Any, path: str) -> Iterator[TextField]:
    if isinstance(node, str):
        if node:
            yield TextField(path, node)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield TextField(f"{path}#number", repr(node))
    elif isinstance(node, dict):
        for key, value in node.items():
            key = str(key)
            sub = f"{path}.{key}" if path else key
            if key not in _SCHEMA_KEYS:
                yield TextField(f"{sub}#key", key)
            if (not path and key in _CHECKED_KEYS) or (
                    isinstance(value, str) and value in _CLOSED_VALUES.get(key, ())):
                continue
            yield from _walk(value, sub)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def _seams(messages: Any) -> Iterator[TextField]:
    """Windows across the seams between consecutive user texts, merged where they overlap."""
    pieces = [t.strip() for m in messages if isinstance(m, dict) and m.get("role") == "user"
              for t in _user_texts(m.get("content"))] if isinstance(messages, list) else []
    pieces = [p for p in pieces if p]
    if len(pieces) < 2:
        return
    joined, seams = pieces[0], []
    for piece in pieces[1:]:
        seams.append(len(joined))
        joined += " " + piece
    windows: list[list[int]] = []  # [start, end, seams...]
    for seam in seams:
        start, end = max(0, seam - _SEAM_REACH), seam + 1 + _SEAM_REACH
        if windows and start <= windows[-1][1]:
            windows[-1][1] = end
            windows[-1].append(seam)
        else:
            windows.append([start, end, seam])
    for start, end, *inside in windows:
        yield TextField(SEAMS_PATH, joined[start:end], tuple(s - start for s in inside))
    # A value dictated in halves, with words around them: "first half 5355 2200" … "the rest is …".
    for before, after in zip(pieces, pieces[1:]):
        last = [m.group() for m in _NUMBER.finditer(before, max(0, len(before) - _NUMBER_EDGE - 40))
                if len(before) - m.end() <= _NUMBER_EDGE and _digits(m.group()) >= 4]
        first = [m.group() for m in _NUMBER.finditer(after, 0, _NUMBER_EDGE + 40)
                 if m.start() <= _NUMBER_EDGE and _digits(m.group()) >= 4]
        if last and first:
            yield TextField(SEAMS_PATH, f"{last[-1]} {first[0]}", (len(last[-1]),))


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _user_texts(content: Any) -> list[Any]:
    if isinstance(content, list):
        return [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return [content] if isinstance(content, str) else []


# Parts whose content is not text: the policy cannot see what they hold (invariant 3).
_OPAQUE = frozenset({"image", "image_url", "input_image", "input_audio", "audio", "file", "input_file"})


def unreadable(body: dict[str, Any]) -> bool:
    """Whether a message carries a part the gateway cannot read: an image, audio, a file, or a
    document that is not text (OpenAI content parts, Anthropic blocks, inside tool results too)."""
    messages = body.get("messages")
    return isinstance(messages, list) and any(
        isinstance(m, dict) and _opaque_parts(m.get("content")) for m in messages)


def _opaque_parts(content: Any) -> bool:
    if not isinstance(content, list):
        return False
    for part in content:
        if not isinstance(part, dict):
            continue
        kind, source = part.get("type"), part.get("source")
        if kind in _OPAQUE or (kind == "tool_result" and _opaque_parts(part.get("content"))):
            return True
        if kind == "document" and not (isinstance(source, dict) and (
                source.get("type") == "text" or str(source.get("media_type", "")).startswith("text/")
                or (source.get("type") == "content" and not _opaque_parts(source.get("content"))))):
            return True
    return False
