"""Server-sent events as OpenAI-compatible APIs use them: `data: {json}` lines, `: comment`
lines (DeepSeek's keep-alive), and `data: [DONE]` at the end."""
from __future__ import annotations

import json
from typing import Any, AsyncIterator



class Final(bytes):
    """A stream's closing part (`[DONE]`, Anthropic's `message_stop`). The edge accounts for
    the request before sending it: a client that holds the whole answer was billed."""


DONE = Final(b"data: [DONE]\n\n")


async def events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """(`"data"`, payload) for each event and (`"comment"`, line) for each comment line."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "data", "\n".join(data)
                data = []
        elif line.startswith(":"):
            yield "comment", line
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        # other fields (event:, id:, retry:) carry nothing for chat completions
    if data:
        yield "data", "\n".join(data)


def encode(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def comment(line: str) -> bytes:
    return line.encode() + b"\n\n"
