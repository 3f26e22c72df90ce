"""Between Anthropic's Messages API and OpenAI's chat API, for on-prem engines that speak
only the latter: the request one way, the answer (and its usage) the other way.

Roles and system, `tool_use` ↔ `tool_calls` with their ids, `tool_result` ↔ `tool`
messages, `thinking` ↔ `reasoning_content`, stop reasons and usage keep their meaning.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from ..answer_shape import complete_usage
from ..errors import InvalidRequest
from .request import base64_text

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "function_call": "tool_use", "content_filter": "refusal"}
_TOOL_CHOICE = {"auto": "auto", "any": "required", "none": "none"}


def to_chat(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The chat-completions body that asks an OpenAI-compatible engine the same thing."""
    messages: list[dict[str, Any]] = []
    if body.get("system"):
        messages.append({"role": "system", "content": _text(body["system"], "system")})
    for i, m in enumerate(body["messages"]):
        messages += _messages(m, f"messages[{i}]")
    chat: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": body["max_tokens"],
                            "stream": bool(body.get("stream"))}
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("top_k"):  # an extra field vLLM, SGLang and r1gate's engine take; 0 restricts nothing
        chat["top_k"] = body["top_k"]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    if body.get("tools"):
        chat["tools"] = [{"type": "function", "function": {
            "name": t["name"], "description": t.get("description", ""),
            "parameters": t.get("input_schema") or {"type": "object", "properties": {}}}} for t in body["tools"]]
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice.get("type") in _TOOL_CHOICE:
        chat["tool_choice"] = _TOOL_CHOICE[choice["type"]]
    return chat


def _messages(m: dict[str, Any], where: str) -> list[dict[str, Any]]:
    content = m["content"]
    if isinstance(content, str):
        return [{"role": m["role"], "content": content}]
    if m["role"] == "assistant":
        message: dict[str, Any] = {"role": "assistant", "content": "".join(
            b.get("text", "") for b in content if b["type"] == "text")}
        thinking = "".join(b.get("thinking", "") for b in content if b["type"] == "thinking")
        if thinking:
            message["reasoning_content"] = thinking
        calls = [{"id": b.get("id"), "type": "function", "function": {
            "name": b.get("name"), "arguments": json.dumps(b.get("input") or {}, ensure_ascii=False)}}
            for b in content if b["type"] == "tool_use"]
        if calls:
            message["tool_calls"] = calls
        return [message]
    # Tool results answer the previous assistant turn's calls, so they come first, each its own message.
    out = [{"role": "tool", "tool_call_id": b.get("tool_use_id"),
            "content": _text(b.get("content") or "", f"{where}.content[{j}].content")}
           for j, b in enumerate(content) if b["type"] == "tool_result"]
    parts = []
    for j, b in enumerate(content):
        if b["type"] == "text":
            parts.append({"type": "text", "text": b.get("text", "")})
        elif b["type"] == "image" and isinstance(b.get("source"), dict):
            source = b["source"]
            url = source.get("url") or f"data:{source.get('media_type')};base64,{source.get('data')}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif b["type"] == "document":
            parts.append({"type": "text", "text": _document(b, f"{where}.content[{j}]")})
        elif b["type"] != "tool_result":
            raise InvalidRequest(f"'{where}.content[{j}]': '{b['type'][:40]}' blocks cannot be answered on-prem.",
                                 param=f"{where}.content[{j}]")
    if parts:
        out.append({"role": m["role"], "content": parts})
    return out


def _document(block: dict[str, Any], where: str) -> str:
    """A document's text. An engine reads text only, and the gateway fetches nothing: a PDF,
    a URL or a file id is refused with a 400 rather than left out of what the model sees."""
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "text" and isinstance(source.get("data"), str):
        return source["data"]
    if kind == "content" and isinstance(source.get("content"), (str, list)):
        return _text(source["content"], f"{where}.source.content")
    if kind == "base64" and str(source.get("media_type", "")).startswith("text/"):
        text = base64_text(source)
        if text is None:
            raise InvalidRequest(f"'{where}.source.data' is not UTF-8 text in base64.", param=f"{where}.source.data")
        return text
    what = str(source.get("media_type") if kind == "base64" else kind)[:40]
    raise InvalidRequest(f"'{where}': a '{what}' document cannot be answered on-prem: engines read text "
                         f"documents only (text, content, or base64 text/* sources).", param=f"{where}.source")


def _text(content: Any, where: str) -> str:
    """A system prompt or tool result (a string or blocks) as one text, documents included."""
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") if b.get("type") == "text" else _document(b, f"{where}[{j}]")
                     for j, b in enumerate(content) if isinstance(b, dict) and b.get("type") in ("text", "document"))


def from_chat(data: dict[str, Any], model: str) -> dict[str, Any]:
    """A chat completion (DeepSeek's shape, first choice) as an Anthropic message."""
    choice = (data.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        content.append({"type": "thinking", "thinking": message["reasoning_content"], "signature": ""})
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id") or tool_id(), "name": function.get("name"),
                        "input": _arguments(function.get("arguments"))})
    return {"id": message_id(), "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
            "stop_sequence": None, "usage": to_anthropic_usage(data.get("usage") or {})}


def _arguments(arguments: Any) -> Any:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}  # an engine's broken JSON: an empty input, as a client can still parse it
    return value if isinstance(value, dict) else {}


def to_anthropic_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """DeepSeek's usage (the normalizer completed it) in Anthropic's terms: `input_tokens`
    excludes what was read from the prompt cache."""
    hit = int(usage.get("prompt_cache_hit_tokens") or 0)
    return {"input_tokens": max(int(usage.get("prompt_tokens") or 0) - hit, 0),
            "output_tokens": int(usage.get("completion_tokens") or 0),
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": hit}


def from_anthropic_usage(message: dict[str, Any]) -> dict[str, Any]:
    """A message's usage in DeepSeek's terms, which the ledger, budgets and metrics count;
    reasoning tokens, which Anthropic does not report apart, by the thinking's share of the text."""
    usage = message.get("usage") or {}
    read = int(usage.get("cache_read_input_tokens") or 0)
    miss = int(usage.get("input_tokens") or 0) + int(usage.get("cache_creation_input_tokens") or 0)
    output = int(usage.get("output_tokens") or 0)
    blocks = [b for b in message.get("content") or () if isinstance(b, dict)]
    return complete_usage({"prompt_tokens": read + miss, "completion_tokens": output,
                           "total_tokens": read + miss + output, "prompt_cache_hit_tokens": read,
                           "prompt_cache_miss_tokens": miss},
                          sum(len(b.get("thinking") or "") for b in blocks),
                          sum(len(b.get("text") or "") for b in blocks))


def message_id() -> str:
    return f"msg_{uuid.uuid4().hex[:24]}"


def tool_id() -> str:
    return f"toolu_{uuid.uuid4().hex[:24]}"
