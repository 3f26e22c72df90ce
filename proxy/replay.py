"""Between the two shapes of one answer: a stream of chunks and a whole completion.

The cache stores whole completions; `Assembler` builds one from a stream as it passes,
and `chunks` plays one back as a stream with DeepSeek's chunk shape (reasoning first,
then content, tool calls, the finish reason, usage last), so a cached answer serves
streamed and non-streamed requests alike.
"""
from __future__ import annotations

from typing import Any, Iterator


class Assembler:
    def __init__(self) -> None:
        self._head: dict[str, Any] | None = None
        self._choices: dict[int, dict[str, Any]] = {}
        self._usage: dict[str, Any] | None = None

    def add(self, chunk: dict[str, Any]) -> None:
        if self._head is None:
            self._head = {k: chunk.get(k) for k in ("id", "created", "model", "system_fingerprint")}
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            state = self._choices.setdefault(choice.get("index", 0), {
                "content": "", "reasoning_content": "", "tool_calls": {}, "finish_reason": None})
            delta = choice.get("delta") or {}
            state["content"] += delta.get("content") or ""
            state["reasoning_content"] += delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls") or ():
                slot = state["tool_calls"].setdefault(call.get("index", 0), {
                    "id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                state["finish_reason"] = choice["finish_reason"]

    def completion(self) -> dict[str, Any] | None:
        """The whole answer, or None if the stream did not finish every choice."""
        if self._head is None or not self._choices or any(
                c["finish_reason"] is None for c in self._choices.values()):
            return None
        choices = []
        for index in sorted(self._choices):
            c = self._choices[index]
            message: dict[str, Any] = {"role": "assistant", "content": c["content"],
                                       "reasoning_content": c["reasoning_content"] or None}
            if c["tool_calls"]:
                message["tool_calls"] = [c["tool_calls"][i] for i in sorted(c["tool_calls"])]
            choices.append({"index": index, "message": message, "logprobs": None,
                            "finish_reason": c["finish_reason"]})
        return {**self._head, "object": "chat.completion", "choices": choices, "usage": self._usage}


def chunks(completion: dict[str, Any], include_usage: bool) -> Iterator[dict[str, Any]]:
    head = {"id": completion.get("id"), "object": "chat.completion.chunk", "created": completion.get("created"),
            "model": completion.get("model"), "system_fingerprint": completion.get("system_fingerprint")}

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    for choice in completion.get("choices") or ():
        i, message = choice.get("index", 0), choice.get("message") or {}
        yield chunk(i, {"role": "assistant", "content": ""})
        if message.get("reasoning_content"):
            yield chunk(i, {"reasoning_content": message["reasoning_content"]})
        if message.get("content"):
            yield chunk(i, {"content": message["content"]})
        for n, call in enumerate(message.get("tool_calls") or ()):
            yield chunk(i, {"tool_calls": [{"index": n, **call}]})
        yield chunk(i, {}, choice.get("finish_reason") or "stop")
    if include_usage and completion.get("usage"):
        yield {**head, "choices": [], "usage": completion["usage"]}
