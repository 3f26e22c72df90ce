"""Parse and validate a chat-completions body, and shape it for an upstream.

Validation is deliberately shallow: it checks what the gateway relies on (types that
routing, inspection and the upstream call need) and names the offending `param`, and
leaves the rest to the upstream, which knows its own limits better.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .config import ModelSettings
from .errors import InvalidRequest, NotFound

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_NUMBERS = {"temperature": (0, 2), "top_p": (0, 1), "presence_penalty": (-2, 2),
            "frequency_penalty": (-2, 2)}
_POSITIVE_INTS = ("max_tokens", "max_completion_tokens", "n", "top_logprobs")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    body: dict[str, Any]
    model: str  # as the client named it; every answer carries this name back
    settings: ModelSettings
    stream: bool
    include_usage: bool  # the client asked for the usage chunk at the end of the stream
    size: int  # bytes of the body as received: bounds the prompt's tokens for budgets


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid UTF-8 (byte {exc.start}).") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc.msg} "
                             f"(line {exc.lineno}, column {exc.colno}).") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def parse_chat(body: dict[str, Any], models: dict[str, ModelSettings], size: int) -> ChatRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a string.", param="model")
    if model not in models:
        # The name itself is not echoed: error messages carry no client text (invariant 4).
        raise NotFound(f"The model does not exist. Available: {', '.join(sorted(models))}.",
                       param="model")
    _check_messages(body.get("messages"))
    for name, (lo, hi) in _NUMBERS.items():
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not lo <= value <= hi):
            raise InvalidRequest(f"'{name}' must be a number between {lo} and {hi}.", param=name)
    for name in _POSITIVE_INTS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidRequest(f"'{name}' must be a positive integer.", param=name)
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise InvalidRequest("'stream' must be a boolean.", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object.", param="stream_options")
    stop = body.get("stop")
    if stop is not None and not (isinstance(stop, str) or (
            isinstance(stop, list) and all(isinstance(s, str) for s in stop))):
        raise InvalidRequest("'stop' must be a string or a list of strings.", param="stop")
    tools = body.get("tools")
    if tools is not None and not (isinstance(tools, list) and all(isinstance(t, dict) for t in tools)):
        raise InvalidRequest("'tools' must be a list of objects.", param="tools")
    for name in ("user", "seed"):
        value = body.get(name)
        expected = str if name == "user" else int
        if value is not None and (isinstance(value, bool) or not isinstance(value, expected)):
            raise InvalidRequest(f"'{name}' must be {'a string' if expected is str else 'an integer'}.",
                                 param=name)
    return ChatRequest(body, model, models[model], bool(stream),
                       bool((options or {}).get("include_usage")), size)


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' is required and must be a non-empty list.", param="messages")
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise InvalidRequest(f"'{where}' must be an object.", param=where)
        if m.get("role") not in ROLES:
            raise InvalidRequest(f"'{where}.role' must be one of {', '.join(sorted(ROLES))}.",
                                 param=f"{where}.role")
        content = m.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    raise InvalidRequest(f"'{where}.content[{j}]' must be an object with a 'type'.",
                                         param=f"{where}.content[{j}]")
        elif content is not None and not isinstance(content, str):
            raise InvalidRequest(f"'{where}.content' must be a string or a list of parts.",
                                 param=f"{where}.content")
        elif content is None and not m.get("tool_calls") and m["role"] != "assistant":
            raise InvalidRequest(f"'{where}.content' is required.", param=f"{where}.content")


def upstream_body(req: ChatRequest, upstream_model: str) -> bytes:
    """The body as an upstream gets it: its own model name, usage always asked for (the
    ledger needs it), and previous reasoning removed where the model rejects it."""
    body = dict(req.body)
    body["model"] = upstream_model
    if req.stream:
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    if req.settings.strip_history_reasoning and any(
            isinstance(m, dict) and "reasoning_content" in m for m in body["messages"]):
        body["messages"] = [{k: v for k, v in m.items() if k != "reasoning_content"}
                            for m in body["messages"]]
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
