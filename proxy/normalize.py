"""Answers in DeepSeek's shape, whichever upstream served them.

vLLM ≥ 0.11 names the reasoning `reasoning`; engines without a reasoning parser leave
R1's thoughts in `content`, closed by `</think>` (the template already opened the block);
usage may lack DeepSeek's cache and reasoning counts. Clients see none of this: they get
`reasoning_content`, DeepSeek's usage fields, and the model name they asked for.
"""
from __future__ import annotations

from typing import Any

OPEN, CLOSE = "<think>", "</think>"


class ThinkSplitter:
    """Splits a text arriving in pieces into (reasoning, content) at `</think>`.

    `opened`: the prompt already opened the think block (R1 templates do), so text is
    reasoning until `</think>`; a stream that never closes it was all reasoning, as vLLM's
    R1 parser has it. Otherwise only a text that starts with `<think>` has reasoning.
    Only the shortest tail that could still become a tag is held back.
    """

    def __init__(self, opened: bool) -> None:
        self._opened = opened
        self._state = "start"  # start → reasoning → after → content
        self._held = ""
        self._reasoned = False  # some reasoning was emitted: its leading blank space is gone

    def feed(self, text: str) -> tuple[str, str]:
        self._held += text
        reasoning = content = ""
        if self._state == "start":
            head = self._held.lstrip()
            if OPEN.startswith(head) and len(head) < len(OPEN):
                return "", ""  # may still become `<think>`
            if head.startswith(OPEN):
                self._held, self._state = head[len(OPEN):], "reasoning"
            elif self._opened:
                self._state = "reasoning"
            else:
                self._state = "content"
        if self._state == "reasoning":
            if not self._reasoned:
                self._held = self._held.lstrip()
            end = self._held.find(CLOSE)
            if end < 0:
                # Hold back a possible tag and the blank space before it, so the reasoning
                # ends without the whitespace R1 writes before `</think>`.
                keep = _partial_suffix(self._held, CLOSE)
                cut = len(self._held[:len(self._held) - keep].rstrip())
                reasoning, self._held = self._held[:cut], self._held[cut:]
                self._reasoned = self._reasoned or bool(reasoning)
                return reasoning, ""
            reasoning, self._held = self._held[:end].rstrip(), self._held[end + len(CLOSE):]
            self._state = "after"
        if self._state == "after":  # the blank line R1 writes after `</think>` is not content
            self._held = self._held.lstrip()
            if not self._held:
                return reasoning, ""
            self._state = "content"
        content, self._held = self._held, ""
        return reasoning, content

    def finish(self) -> tuple[str, str]:
        held, self._held = self._held, ""
        if self._state == "reasoning" or (self._state == "start" and self._opened):
            return held, ""
        return "", held if self._state != "after" else ""


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def complete_usage(usage: dict[str, Any], reasoning_chars: int, content_chars: int) -> dict[str, Any]:
    """Adds DeepSeek's usage fields an upstream left out. Reasoning tokens, when not
    reported, are estimated from the share of reasoning in the answer's characters."""
    prompt = usage.get("prompt_tokens") or 0
    if "prompt_cache_hit_tokens" not in usage:
        hit = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        usage["prompt_cache_hit_tokens"] = hit
        usage["prompt_cache_miss_tokens"] = max(prompt - hit, 0)
    details = usage.get("completion_tokens_details") or {}
    if details.get("reasoning_tokens") is None:
        total = reasoning_chars + content_chars
        completion = usage.get("completion_tokens") or 0
        details = {**details, "reasoning_tokens": round(completion * reasoning_chars / total) if total else 0}
        usage["completion_tokens_details"] = details
    return usage


class Normalizer:
    """Rewrites one answer (a whole completion, or the chunks of one stream) in place."""

    def __init__(self, model: str, *, split_think: bool, opened: bool) -> None:
        self._model = model
        self._split_think = split_think
        self._opened = opened
        self._splitters: dict[int, ThinkSplitter | None] = {}
        self.reasoning_chars = 0
        self.content_chars = 0
        self.usage: dict[str, Any] | None = None

    def completion(self, data: dict[str, Any]) -> dict[str, Any]:
        data["model"] = self._model
        for choice in data.get("choices") or ():
            message = choice.get("message")
            if isinstance(message, dict):
                self._fields(choice.get("index", 0), message, final=True)
        if isinstance(data.get("usage"), dict):
            self.usage = complete_usage(data["usage"], self.reasoning_chars, self.content_chars)
        return data

    def chunk(self, data: dict[str, Any]) -> dict[str, Any]:
        data["model"] = self._model
        for choice in data.get("choices") or ():
            delta = choice.get("delta")
            if isinstance(delta, dict):
                # The last chunk of a choice flushes what the splitter held back.
                self._fields(choice.get("index", 0), delta, final=choice.get("finish_reason") is not None)
        if isinstance(data.get("usage"), dict):
            self.usage = complete_usage(data["usage"], self.reasoning_chars, self.content_chars)
        return data

    def _fields(self, index: int, message: dict[str, Any], final: bool) -> None:
        if "reasoning" in message:
            reasoning = message.pop("reasoning")
            if message.get("reasoning_content") is None:
                message["reasoning_content"] = reasoning
        if message.get("reasoning_content"):
            self._splitters[index] = None  # the upstream parses reasoning itself
        splitter = self._splitter(index)
        if splitter is not None:
            content = message.get("content")
            reasoning, text = splitter.feed(content) if isinstance(content, str) else ("", "")
            if final:
                more_reasoning, more_text = splitter.finish()
                reasoning, text = reasoning + more_reasoning, text + more_text
            if isinstance(content, str) or reasoning or text:
                message["content"] = text
                message["reasoning_content"] = (message.get("reasoning_content") or "") + reasoning or None
        self.reasoning_chars += len(message.get("reasoning_content") or "")
        self.content_chars += len(message.get("content") or "") if isinstance(message.get("content"), str) else 0

    def _splitter(self, index: int) -> ThinkSplitter | None:
        if index not in self._splitters:
            self._splitters[index] = ThinkSplitter(self._opened) if self._split_think else None
        return self._splitters[index]
