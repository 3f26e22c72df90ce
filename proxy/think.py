"""The `</think>` splitter: R1 writes its reasoning, then `</think>`, then the answer.

Shared by the gateway (`answer_shape.py`, for engines without a reasoning parser) and
the on-prem engine (`engine/chat.py`); it imports nothing else, so the engine can use it
without the gateway's dependencies.
"""
from __future__ import annotations

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
                keep = partial_suffix(self._held, CLOSE)
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


def partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0
