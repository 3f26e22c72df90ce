"""Every piece of text the upstream would receive, with where it sits (invariant 3).

Rather than listing the fields that may hold text, this walks the whole request and
yields every string value and every free-form object key, skipping only fields whose
value the gateway itself validated against a closed set. A field OpenAI adds tomorrow is
therefore inspected by default: fail closed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

# Values from a closed set carry no personal data; anything else under these keys is text.
_CLOSED_VALUES = {
    "role": frozenset({"system", "developer", "user", "assistant", "tool", "function"}),
    "type": frozenset({"text", "image_url", "input_audio", "file", "function", "json_object",
                       "json_schema", "string", "number", "integer", "boolean", "object",
                       "array", "null"}),
    "detail": frozenset({"auto", "low", "high"}),
    "reasoning_effort": frozenset({"low", "medium", "high"}),
}
# Top-level fields validated against the configuration, not sent upstream as given.
_ROUTING_KEYS = frozenset({"model"})
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
    """A text the upstream would see. `path` is JSONPath-like: `messages[2].content[0].text`."""

    path: str
    text: str


def texts(body: dict[str, Any]) -> list[TextField]:
    return list(_walk(body, ""))


def _walk(node: Any, path: str) -> Iterator[TextField]:
    if isinstance(node, str):
        if node:
            yield TextField(path, node)
    elif isinstance(node, dict):
        for key, value in node.items():
            key = str(key)
            sub = f"{path}.{key}" if path else key
            if key not in _SCHEMA_KEYS:
                yield TextField(f"{sub}#key", key)
            if (not path and key in _ROUTING_KEYS) or (
                    isinstance(value, str) and value in _CLOSED_VALUES.get(key, ())):
                continue
            yield from _walk(value, sub)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")
