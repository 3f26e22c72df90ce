"""Parse and validate a Messages API body, find its model, and say what of it is inspected.

Validation is shallow, as for chat completions: what the gateway relies on, naming the
offending `param`; DeepSeek judges the rest. Fields DeepSeek ignores (`context_management`,
`output_config`, `container`, `anthropic-beta` features) pass through untouched.
"""
from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any

from ..config import ModelSettings
from ..errors import InvalidRequest, NotFound
from ..request import ChatRequest, check_typed_list

# Claude names as DeepSeek maps them, for deployments whose `models:` says nothing about
# them; a `models:` entry (an exact name, or a pattern such as `claude-opus*`) wins.
CLAUDE = {
    "claude-opus*": ModelSettings(cloud="deepseek-v4-pro", onprem="deepseek-reasoner", reasoner=True),
    "claude*": ModelSettings(cloud="deepseek-flash", onprem="deepseek-chat"),
}
ROLES = frozenset({"user", "assistant", "system"})  # Claude Code sends `system` turns mid-conversation
_NUMBERS = {"temperature": (0, 2), "top_p": (0, 1)}
# An opaque id: letters, digits and the punctuation of ids and of Claude Code's JSON of ids.
_OPAQUE_ID = re.compile(r'[\w\-:.{}",]{1,512}')
# What a coding agent's own boilerplate (system prompt, tool definitions, system turns) says
# that is nobody's personal data, masked at the same length for the policy's eyes only:
# organisations' role mailboxes (`noreply@anthropic.com`) and the vendor's product names
# (`Claude Code`, `Claude Opus 4.8`), which a given-name detector would take for a person.
_BOILERPLATE = [
    (re.compile(r"\b(?:no-?reply|do-?not-?reply|support|postmaster|hostmaster|webmaster|abuse|security|info|"
                r"admin|help|sales|contact|privacy|billing|notifications?)@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b",
                re.IGNORECASE), lambda m: m.group(0).replace("@", " ")),
    (re.compile(r"\bClaude(?= (?:Code|Opus|Sonnet|Haiku|Agent|API|Desktop|agent|models?)\b)"),
     lambda m: "_" * len(m.group(0))),
]
# Claude Code's attribution line (its version and entry point), sent as the first system block.
_BILLING_HEADER = re.compile(r"x-anthropic-billing-header:(?: [a-z_]+=[\w.\-]+;)+")


@dataclass(frozen=True, slots=True)
class MessagesRequest(ChatRequest):
    raw: bytes = b""  # the body as received: what the cloud gets when nothing was pseudonymized
    rename: str | None = None  # the model name the cloud gets instead of the client's; None: as sent


def parse_messages(raw: bytes, body: dict[str, Any], models: dict[str, ModelSettings], *,
                   counting: bool = False) -> MessagesRequest:
    """A Messages API body; `counting`: for `count_tokens`, which takes no `max_tokens`."""
    json.loads(raw, object_pairs_hook=_unique_keys)  # the bytes may go to the cloud as they are
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a string.", param="model")
    settings, exact = model_settings(models, model)
    if settings is None:
        raise NotFound(f"The model does not exist. Available: {', '.join(sorted(models))} and claude-*.",
                       param="model")
    max_tokens = body.get("max_tokens", 1 if counting else None)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InvalidRequest("'max_tokens' is required and must be a positive integer.", param="max_tokens")
    _check_system(body.get("system"))
    _check_messages(body.get("messages"))
    for name, (lo, hi) in _NUMBERS.items():
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not lo <= value <= hi):
            raise InvalidRequest(f"'{name}' must be a number between {lo} and {hi}.", param=name)
    top_k = body.get("top_k")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
        raise InvalidRequest("'top_k' must be a non-negative integer.", param="top_k")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean.", param="stream")
    stops = body.get("stop_sequences")
    if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        raise InvalidRequest("'stop_sequences' must be a list of strings.", param="stop_sequences")
    tools = body.get("tools")
    if tools is not None and not (isinstance(tools, list) and all(
            isinstance(t, dict) and isinstance(t.get("name"), str) for t in tools)):
        raise InvalidRequest("'tools' must be a list of objects with a 'name'.", param="tools")
    for name in ("tool_choice", "thinking", "metadata"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise InvalidRequest(f"'{name}' must be an object.", param=name)
    rename = settings.cloud if exact and settings.cloud not in (None, model) else None
    return MessagesRequest(body, model, settings, bool(stream), True, len(raw), raw, rename)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuses a key given twice: the gateway inspects the last value, and another parser,
    upstream, might take the first one."""
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise InvalidRequest("The request body has a key twice in one object.")
    return dict(pairs)


def model_settings(models: dict[str, ModelSettings], name: str) -> tuple[ModelSettings | None, bool]:
    """The settings for `name`, and whether an entry named it exactly. A pattern stands for
    names DeepSeek maps itself, so the cloud gets those as the client sent them."""
    if name in models:
        return models[name], True
    for table in (models, CLAUDE):
        patterns = sorted((p for p in table if "*" in p and fnmatch.fnmatchcase(name, p)), key=len, reverse=True)
        if patterns:
            return table[patterns[0]], False
    return None, False


def inspected(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the policy sees it: every field, except that `metadata.user_id`, when it is
    an opaque id (Claude Code's device hash and session id), and thinking signatures (the
    upstream's own opaque tokens) are left out, and what an agent's boilerplate says that is
    nobody's data is masked (`_BOILERPLATE`). Lengths and paths stay as they are, so findings
    still point into the body itself; only a document sent as base64 text is also shown
    decoded, beside it (`source.decoded`): a value found there cannot be pseudonymized in
    place, so `redact` keeps such a request on-prem."""
    view = dict(body)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str) and (
            "@" not in metadata["user_id"] and _OPAQUE_ID.fullmatch(metadata["user_id"])):
        view["metadata"] = {k: v for k, v in metadata.items() if k != "user_id"}
    if "system" in body:
        view["system"] = _masked(body["system"])
    if isinstance(body.get("tools"), list):
        view["tools"] = _masked(body["tools"])
    if isinstance(body.get("messages"), list):
        view["messages"] = [_masked(m) if isinstance(m, dict) and m.get("role") == "system" else _blocks_seen(m)
                            for m in body["messages"]]
    return view


def _masked(node: Any) -> Any:
    if isinstance(node, str):
        if _BILLING_HEADER.fullmatch(node):
            return ""
        for pattern, mask in _BOILERPLATE:
            node = pattern.sub(mask, node)
        return node
    if isinstance(node, list):
        return [_masked(v) for v in node]
    if isinstance(node, dict):
        return {k: _masked(v) for k, v in node.items()}
    return node


def _blocks_seen(node: Any) -> Any:
    """A message (or a tool result) with its blocks as the policy sees them."""
    if not isinstance(node, dict) or not isinstance(node.get("content"), list):
        return node
    return {**node, "content": [_block_seen(block) for block in node["content"]]}


def _block_seen(block: Any) -> Any:
    if not isinstance(block, dict):
        return block
    if block.get("type") in ("thinking", "redacted_thinking"):
        return {k: v for k, v in block.items() if k != "signature"}
    if block.get("type") == "tool_result":
        return _blocks_seen(block)
    source = block.get("source")
    if block.get("type") == "document" and (text := base64_text(source)) is not None:
        return {**block, "source": {**source, "decoded": text}}
    return block


def base64_text(source: Any) -> str | None:
    """A base64 source's bytes as text, or None when it holds none (a PDF, an image)."""
    if not isinstance(source, dict) or source.get("type") != "base64" or not isinstance(source.get("data"), str):
        return None
    try:
        return base64.b64decode(source["data"], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list) or not all(
            isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str) for b in system):
        raise InvalidRequest("'system' must be a string or a list of text blocks.", param="system")


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' is required and must be a non-empty list.", param="messages")
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise InvalidRequest(f"'{where}' must be an object.", param=where)
        if not isinstance(m.get("role"), str) or m["role"] not in ROLES:
            raise InvalidRequest(f"'{where}.role' must be one of {', '.join(sorted(ROLES))}.", param=f"{where}.role")
        content = m.get("content")
        if isinstance(content, list):
            check_typed_list(content, f"{where}.content")
        elif not isinstance(content, str):
            raise InvalidRequest(f"'{where}.content' must be a string or a list of content blocks.",
                                 param=f"{where}.content")


def dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
