"""Parse and validate a chat-completions body, and shape it for an upstream.

Parsing is bounded: the body's size, nesting, number of keys, values and messages, and
the digits of its numbers are checked while or right after parsing, before any other work,
so a pathological body costs a cheap 400 (run it off the event loop: `parse_chat_body`).
Validation is otherwise shallow: it checks what the gateway relies on and the numeric
parameters' real ranges, names the offending `param`, and leaves the rest to the upstream.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from .config import BodyLimits, ModelSettings
from .errors import InvalidRequest, NotFound

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# Parameters with a real range; their values are checked, hence not inspected (extract.py).
NUMBERS = {"temperature": (0, 2), "top_p": (0, 1), "presence_penalty": (-2, 2),
           "frequency_penalty": (-2, 2)}
INTEGERS = {"max_tokens": (1, 1 << 20), "max_completion_tokens": (1, 1 << 20), "n": (1, 128),
            "top_logprobs": (0, 20)}
# Only a `\uD800`-style escape can put a lone surrogate in the text (UTF-8 cannot hold one).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class ChatRequest:
    body: dict[str, Any]
    model: str  # as the client named it; every answer carries this name back
    settings: ModelSettings
    stream: bool
    include_usage: bool  # the client asked for the usage chunk at the end of the stream
    size: int  # bytes of the body as received: bounds the prompt's tokens for budgets


def parse_chat_body(raw: bytes, models: dict[str, ModelSettings], limits: BodyLimits) -> ChatRequest:
    """The whole parse of a chat body, bounded; blocking, for a worker thread."""
    return parse_chat(parse_json(raw, limits), models, len(raw), limits)


def parse_json(raw: bytes, limits: BodyLimits) -> dict[str, Any]:
    # Each string or key costs two quotes: too many of them is refused before parsing.
    quotes = raw.count(b'"') - raw.count(b'\\"')
    if quotes // 2 > limits.max_keys + limits.max_values:
        raise InvalidRequest(f"The request body has more than {limits.max_keys + limits.max_values} "
                             "strings and keys.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid UTF-8 (byte {exc.start}).") from None
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc.msg} "
                             f"(line {exc.lineno}, column {exc.colno}).") from None
    except RecursionError:
        raise InvalidRequest(f"The request body is nested deeper than {limits.max_depth} levels.") from None
    except ValueError:  # an integer past Python's digit limit for conversions
        raise InvalidRequest(f"A number in the request body has more than {limits.max_number_digits} "
                             "digits.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    _check_shape(body, limits, surrogates=_SURROGATE_ESCAPE.search(raw) is not None)
    return body


def _no_constant(name: str) -> Any:
    raise InvalidRequest(f"The request body is not valid JSON: {name} is not a JSON number.")


def _check_shape(body: dict[str, Any], limits: BodyLimits, surrogates: bool) -> None:
    """Depth, counts, numbers and lone surrogates, in one pass without recursion. A node's
    path is built only to name it in an error (`parents` links each node to its parent)."""
    biggest = 10 ** limits.max_number_digits
    keys = values = 0
    stack: list[tuple[Any, int, Any]] = [(body, 1, None)]
    while stack:
        node, depth, where = stack.pop()
        if isinstance(node, str):
            values += 1
            if surrogates and _SURROGATE.search(node):
                raise InvalidRequest("A string holds a lone UTF-16 surrogate, which is not text.",
                                     param=_path(where))
        elif isinstance(node, (dict, list)):
            if depth > limits.max_depth:
                raise InvalidRequest(f"The request body is nested deeper than {limits.max_depth} levels.",
                                     param=_path(where))
            if isinstance(node, dict):
                keys += len(node)
                for key, value in node.items():
                    if surrogates and _SURROGATE.search(key):
                        raise InvalidRequest("A key holds a lone UTF-16 surrogate, which is not text.",
                                             param=_path(where))
                    stack.append((value, depth + 1, (where, key)))
            elif len(node) > limits.max_values:  # refused before walking a million items
                raise InvalidRequest(f"A list holds more than {limits.max_values} items.", param=_path(where))
            else:
                stack.extend((value, depth + 1, (where, i)) for i, value in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node) or (
                isinstance(node, int) and not isinstance(node, bool) and not -biggest < node < biggest):
            raise InvalidRequest(f"A number in the request body is out of range (more than "
                                 f"{limits.max_number_digits} digits).", param=_path(where))
        elif node is not None and not isinstance(node, bool):
            values += 1
        if keys > limits.max_keys or values > limits.max_values:
            raise InvalidRequest(f"The request body has more than {limits.max_keys} keys or "
                                 f"{limits.max_values} strings and numbers.")


def _path(where: Any) -> str | None:
    """`messages[0].content` from the parent links `((None, "messages"), 0), "content")`."""
    steps: list[str | int] = []
    while where is not None:
        where, step = where
        steps.append(step)
    path = ""
    for step in reversed(steps):
        path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else str(step))
    return path or None


def parse_chat(body: dict[str, Any], models: dict[str, ModelSettings], size: int,
               limits: BodyLimits) -> ChatRequest:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a string.", param="model")
    if model not in models:
        # The name itself is not echoed: error messages carry no client text (invariant 4).
        raise NotFound(f"The model does not exist. Available: {', '.join(sorted(models))}.",
                       param="model")
    _check_messages(body.get("messages"), limits)
    for name, (lo, hi) in NUMBERS.items():
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not lo <= value <= hi):
            raise InvalidRequest(f"'{name}' must be a number between {lo} and {hi}.", param=name)
    for name, (lo, hi) in INTEGERS.items():
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not lo <= value <= hi):
            raise InvalidRequest(f"'{name}' must be an integer between {lo} and {hi}.", param=name)
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


def _check_messages(messages: Any, limits: BodyLimits) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' is required and must be a non-empty list.", param="messages")
    if len(messages) > limits.max_messages:
        raise InvalidRequest(f"'messages' holds more than {limits.max_messages} messages.", param="messages")
    parts = sum(len(m["content"]) for m in messages if isinstance(m, dict) and isinstance(m.get("content"), list))
    if parts > limits.max_parts:
        raise InvalidRequest(f"The messages hold more than {limits.max_parts} content parts.", param="messages")
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise InvalidRequest(f"'{where}' must be an object.", param=where)
        if not isinstance(m.get("role"), str) or m["role"] not in ROLES:
            raise InvalidRequest(f"'{where}.role' must be one of {', '.join(sorted(ROLES))}.",
                                 param=f"{where}.role")
        content = m.get("content")
        if isinstance(content, list):
            check_typed_list(content, f"{where}.content")
        elif content is not None and not isinstance(content, str):
            raise InvalidRequest(f"'{where}.content' must be a string or a list of parts.",
                                 param=f"{where}.content")
        elif content is None and not m.get("tool_calls") and m["role"] != "assistant":
            raise InvalidRequest(f"'{where}.content' is required.", param=f"{where}.content")


def check_typed_list(items: list[Any], where: str) -> None:
    """Content parts (chat) or blocks (Anthropic): objects, each with a string `type`."""
    for j, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise InvalidRequest(f"'{where}[{j}]' must be an object with a 'type'.", param=f"{where}[{j}]")


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
