"""Answers in DeepSeek's shape, whichever upstream served them.

vLLM ≥ 0.11 names the reasoning `reasoning`; engines without a reasoning parser leave
R1's thoughts in `content`, closed by `</think>` (the template already opened the block);
usage may lack DeepSeek's cache and reasoning counts. Clients see none of this: they get
`reasoning_content`, DeepSeek's usage fields, and the model name they asked for.
"""
from __future__ import annotations

from typing import Any

from .think import ThinkSplitter

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
