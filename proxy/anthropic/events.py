"""Anthropic's stream events: made from an OpenAI-compatible engine's chunks, restored as
they pass, assembled into a whole message (for the cache) and played back from one.

A stream is `message_start`, `ping`, then for each content block (thinking, text,
tool_use) `content_block_start`, its deltas (`thinking_delta`, `text_delta`,
`input_json_delta`) and `content_block_stop`, then `message_delta` (stop reason, usage)
and `message_stop`.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Iterator

from ..pseudonym import Restorer
from .translate import STOP_REASONS, message_id, to_anthropic_usage, tool_id

Event = dict[str, Any]
_DELTA_FIELD = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}
_EMPTY = {"text": {"type": "text", "text": ""}, "thinking": {"type": "thinking", "thinking": "", "signature": ""}}


def encode(event: Event) -> bytes:
    return (f"event: {event['type']}\ndata: ".encode()
            + json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n")


def start(model: str, usage: dict[str, Any] | None = None, id: str | None = None) -> list[Event]:
    return [{"type": "message_start", "message": {
        "id": id or message_id(), "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": usage or {"input_tokens": 0, "output_tokens": 0}}}, {"type": "ping"}]


class FromChat:
    """Turns an engine's chat-completion chunks (DeepSeek's shape, first choice) into events."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._index = -1
        self._kind: str | None = None  # the open block's kind
        self._calls: dict[int, int] = {}  # the chunk's tool-call index → its block's index
        self._stop: str | None = None
        self.usage: dict[str, Any] = {}

    def chunk(self, chunk: dict[str, Any]) -> list[Event]:
        events = [] if self._started else start(self._model)
        self._started = True
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in (chunk.get("choices") or ())[:1]:
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                events += self._open("thinking") + [self._delta("thinking_delta", delta["reasoning_content"])]
            if delta.get("content"):
                events += self._open("text") + [self._delta("text_delta", delta["content"])]
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                if call.get("index", 0) not in self._calls:
                    events += self._close()
                    self._index += 1
                    self._kind, self._calls[call.get("index", 0)] = "tool_use", self._index
                    events.append({"type": "content_block_start", "index": self._index, "content_block": {
                        "type": "tool_use", "id": call.get("id") or tool_id(), "name": function.get("name") or "",
                        "input": {}}})
                if function.get("arguments"):
                    events.append({"type": "content_block_delta", "index": self._calls[call.get("index", 0)],
                                   "delta": {"type": "input_json_delta", "partial_json": function["arguments"]}})
            if choice.get("finish_reason"):
                self._stop = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return events

    def end(self) -> list[Event]:
        """The closing events, once the engine's stream is over."""
        events = ([] if self._started else start(self._model)) + self._close()
        self._started = True
        return events + [{"type": "message_delta", "delta": {"stop_reason": self._stop or "end_turn",
                                                             "stop_sequence": None},
                          "usage": to_anthropic_usage(self.usage)}, {"type": "message_stop"}]

    def _open(self, kind: str) -> list[Event]:
        if self._kind == kind:
            return []
        events = self._close()
        self._index += 1
        self._kind = kind
        return events + [{"type": "content_block_start", "index": self._index,
                          "content_block": dict(_EMPTY[kind])}]

    def _close(self) -> list[Event]:
        if self._kind is None:
            return []
        self._kind = None
        return [{"type": "content_block_stop", "index": self._index}]

    def _delta(self, kind: str, text: str) -> Event:
        return {"type": "content_block_delta", "index": self._index,
                "delta": {"type": kind, _DELTA_FIELD[kind]: text}}


class Restoring:
    """Puts the values back into text, thinking and tool input deltas as they pass. Each
    block holds back only a tail that could still become a placeholder and releases it in
    one more delta before its `content_block_stop`; tool input is partial JSON, so values
    go in escaped for a JSON string and the JSON stays whole."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self._mapping = mapping
        self._blocks: dict[int, tuple[str, Restorer]] = {}

    def event(self, event: Event) -> list[Event]:
        kind, index = event.get("type"), event.get("index")
        if kind == "content_block_delta" and isinstance(event.get("delta"), dict):
            delta = event["delta"]
            field = _DELTA_FIELD.get(delta.get("type", ""))
            if field is None or not isinstance(delta.get(field), str):
                return [event]
            restorer = self._restorer(index, delta["type"])
            return [{**event, "delta": {**delta, field: restorer.feed(delta[field])}}]
        if kind == "content_block_stop" and index in self._blocks:
            delta_type, restorer = self._blocks.pop(index)
            rest = restorer.flush()
            if rest:
                return [{"type": "content_block_delta", "index": index,
                         "delta": {"type": delta_type, _DELTA_FIELD[delta_type]: rest}}, event]
        if kind == "content_block_start" and isinstance(event.get("content_block"), dict):
            return [{**event, "content_block": restore_block(event["content_block"], self._mapping)}]
        return [event]

    def _restorer(self, index: Any, delta_type: str) -> Restorer:
        if index not in self._blocks:
            self._blocks[index] = (delta_type, Restorer(self._mapping, json_escaped=delta_type == "input_json_delta"))
        return self._blocks[index][1]


def restore_message(message: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """A restored copy; `message` keeps its placeholders (for the cache)."""
    message = copy.deepcopy(message)
    message["content"] = [restore_block(b, mapping) for b in message.get("content") or ()]
    return message


def restore_block(block: Any, mapping: dict[str, str]) -> Any:
    if not isinstance(block, dict):
        return block
    restorer = Restorer(mapping)
    if isinstance(block.get("text"), str):
        block = {**block, "text": restorer.restore(block["text"])}
    if isinstance(block.get("thinking"), str):
        block = {**block, "thinking": restorer.restore(block["thinking"])}
    if "input" in block:
        block = {**block, "input": _restore_json(block["input"], restorer)}
    return block


def _restore_json(node: Any, restorer: Restorer) -> Any:
    if isinstance(node, str):
        return restorer.restore(node)
    if isinstance(node, list):
        return [_restore_json(v, restorer) for v in node]
    if isinstance(node, dict):
        return {k: _restore_json(v, restorer) for k, v in node.items()}
    return node


class Assembler:
    """Builds the whole message from the events of a stream, as they pass."""

    def __init__(self) -> None:
        self._message: dict[str, Any] | None = None
        self._partial: dict[int, str] = {}
        self._stopped = False

    def add(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "message_start":
            self._message = copy.deepcopy(event.get("message") or {})
            self._message["content"] = []
        elif self._message is None:
            return
        elif kind == "content_block_start":
            self._message["content"].append(copy.deepcopy(event.get("content_block") or {}))
        elif kind == "content_block_delta" and self._message["content"]:
            block, delta = self._message["content"][-1], event.get("delta") or {}
            if delta.get("type") == "input_json_delta":
                self._partial[len(self._message["content"]) - 1] = (
                    self._partial.get(len(self._message["content"]) - 1, "") + (delta.get("partial_json") or ""))
            elif delta.get("type") == "signature_delta":
                block["signature"] = block.get("signature", "") + (delta.get("signature") or "")
            elif (field := _DELTA_FIELD.get(delta.get("type", ""))) is not None:
                block[field] = block.get(field, "") + (delta.get(field) or "")
        elif kind == "message_delta":
            self._message.update(event.get("delta") or {})
            self._message["usage"] = {**(self._message.get("usage") or {}), **(event.get("usage") or {})}
        elif kind == "message_stop":
            self._stopped = True

    def message(self) -> dict[str, Any] | None:
        """The whole message, or None if the stream did not end with `message_stop`."""
        if self._message is None or not self._stopped:
            return None
        for index, partial in self._partial.items():
            try:
                self._message["content"][index]["input"] = json.loads(partial or "{}")
            except ValueError:
                return None
        return self._message


def replay(message: dict[str, Any]) -> Iterator[Event]:
    """A whole message as the events of a stream."""
    usage = message.get("usage") or {}
    yield from start(message.get("model", ""), {**usage, "output_tokens": 0}, message.get("id"))
    for index, block in enumerate(message.get("content") or ()):
        kind = block.get("type")
        if kind == "tool_use":
            yield {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
            yield {"type": "content_block_delta", "index": index, "delta": {
                "type": "input_json_delta", "partial_json": json.dumps(block.get("input") or {}, ensure_ascii=False)}}
        elif kind in _EMPTY:
            field = "text" if kind == "text" else "thinking"
            yield {"type": "content_block_start", "index": index, "content_block": {**block, field: ""}}
            yield {"type": "content_block_delta", "index": index, "delta": {
                "type": f"{field}_delta", field: block.get(field, "")}}
        else:
            yield {"type": "content_block_start", "index": index, "content_block": block}
        yield {"type": "content_block_stop", "index": index}
    yield {"type": "message_delta", "delta": {"stop_reason": message.get("stop_reason"),
                                              "stop_sequence": message.get("stop_sequence")}, "usage": usage}
    yield {"type": "message_stop"}
