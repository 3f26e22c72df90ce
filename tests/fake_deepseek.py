"""A fake DeepSeek API (and on-prem engine) for tests: the outside world, written by us.

It behaves like the real thing where clients can tell: reasoner-style answers with
`reasoning_content` (or vLLM's `reasoning`, or raw `</think>` text), SSE streams with
`: keep-alive` comments and usage on the last chunk, tool calls streamed in argument
fragments, `n` choices, DeepSeek's error bodies. Tests inject errors and delays and read
back exactly what it received.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

REASONING = "The user greets me. I should answer politely."
ANSWER = "Hello! How can I help you today?"
TOOL_ARGS = '{"city": "Paris", "unit": "celsius"}'


@dataclass
class Fake:
    """Behaviour knobs and a record of traffic; safe to use from the test thread."""

    url: str = ""  # where it listens, once started
    # "deepseek": reasoning_content; "vllm": reasoning; "tags": R1 text with `</think>` in content
    style: str = "deepseek"
    usage_style: str = "deepseek"  # "openai": no DeepSeek cache/reasoning fields
    keepalives: int = 0  # `: keep-alive` comments before the first chunk
    delay_s: float = 0.0  # before answering at all
    hang_after: int | None = None  # stream this many chunks, then wait until disconnected
    echo: bool = False  # answer with the users' messages quoted back (in reasoning, content, tool args)
    cuts: list[int] | None = None  # stream the content cut at these positions (default: by word)
    errors: deque = field(default_factory=deque)  # (status, message, headers) for the next requests
    received: list[dict[str, Any]] = field(default_factory=list)
    reported: list[dict[str, Any]] = field(default_factory=list)  # the usage of each answer sent
    stream_closed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.style, self.usage_style, self.keepalives, self.delay_s = "deepseek", "deepseek", 0, 0.0
            self.hang_after, self.echo, self.cuts = None, False, None
            self.errors.clear()
            self.received.clear()
            self.reported.clear()
            self.stream_closed.clear()

    def fail(self, status: int, message: str = "fake failure", times: int = 1,
             headers: dict[str, str] | None = None) -> None:
        for _ in range(times):
            self.errors.append((status, message, headers or {}))

    @property
    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["body"] for r in self.received if r["path"].endswith("chat/completions")]


def app(fake: Fake) -> Starlette:
    async def chat(request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw)
        with fake.lock:
            fake.received.append({"path": request.url.path, "headers": dict(request.headers), "body": body})
            error = fake.errors.popleft() if fake.errors else None
        if fake.delay_s:
            await asyncio.sleep(fake.delay_s)
        if error:
            status, message, headers = error
            return JSONResponse({"error": {"message": message, "type": "fake_error", "param": None,
                                           "code": str(status)}}, status_code=status, headers=headers)
        if body.get("stream"):
            return StreamingResponse(_stream(fake, body), media_type="text/event-stream")
        return JSONResponse(_completion(fake, body))

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": "deepseek-chat", "object": "model", "owned_by": "deepseek"},
            {"id": "deepseek-reasoner", "object": "model", "owned_by": "deepseek"}]})

    return Starlette(routes=[
        Route("/chat/completions", chat, methods=["POST"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/models", models), Route("/v1/models", models),
    ])


def _reasoner(body: dict[str, Any]) -> bool:
    return "reasoner" in body["model"] or "r1" in body["model"].lower()


def _usage(fake: Fake, body: dict[str, Any], reasoning: str, answer: str) -> dict[str, Any]:
    prompt = max(len(json.dumps(body["messages"])) // 4, 1)
    reasoning_tokens = len(reasoning.split())
    completion = (reasoning_tokens + len(answer.split())) * body.get("n", 1)
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if fake.usage_style == "deepseek":
        usage.update(prompt_cache_hit_tokens=0, prompt_cache_miss_tokens=prompt,
                     completion_tokens_details={"reasoning_tokens": reasoning_tokens * body.get("n", 1)},
                     prompt_tokens_details={"cached_tokens": 0})
    with fake.lock:
        fake.reported.append(usage)
    return usage


def _said(body: dict[str, Any]) -> str:
    """Everything the users said, as text: what an echoing model repeats back."""
    said = []
    for m in body["messages"]:
        if m.get("role") == "user":
            content = m.get("content")
            said += [content] if isinstance(content, str) else [p.get("text", "") for p in content or ()]
    return " | ".join(said)


def _parts(fake: Fake, body: dict[str, Any]) -> tuple[str, str, bool]:
    reasoning = REASONING if _reasoner(body) else ""
    wants_tool = bool(body.get("tools")) and body.get("tool_choice") != "none"
    answer = ANSWER
    if fake.echo:
        reasoning = f"The user wrote: {_said(body)}" if reasoning else ""
        answer = f"You said: {_said(body)}"
    return reasoning, "" if wants_tool else answer, wants_tool


def _tool_args(fake: Fake, body: dict[str, Any]) -> str:
    return json.dumps({"said": _said(body)}, ensure_ascii=False) if fake.echo else TOOL_ARGS


def _tool_call(fake: Fake, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": "call_0", "type": "function",
            "function": {"name": body["tools"][0]["function"]["name"], "arguments": _tool_args(fake, body)}}


def _completion(fake: Fake, body: dict[str, Any]) -> dict[str, Any]:
    reasoning, answer, wants_tool = _parts(fake, body)
    choices = []
    for i in range(body.get("n", 1)):
        message: dict[str, Any] = {"role": "assistant", "content": answer}
        if fake.style == "tags":
            message["content"] = f"{reasoning}\n</think>\n\n{answer}" if reasoning else answer
        elif fake.style == "vllm":
            message["reasoning"] = reasoning or None
        else:
            message["reasoning_content"] = reasoning or None
        if wants_tool:
            message["tool_calls"] = [_tool_call(fake, body)]
        choices.append({"index": i, "message": message, "logprobs": None,
                        "finish_reason": "tool_calls" if wants_tool else "stop"})
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "choices": choices, "usage": _usage(fake, body, reasoning, answer),
            "system_fingerprint": "fp_fake"}


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


async def _stream(fake: Fake, body: dict[str, Any]) -> AsyncIterator[bytes]:
    reasoning, answer, wants_tool = _parts(fake, body)
    n = body.get("n", 1)
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body["model"], "system_fingerprint": "fp_fake"}

    def chunk(i: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {**base, "choices": [{"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return b"data: " + json.dumps(data).encode() + b"\n\n"

    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    field_name = {"deepseek": "reasoning_content", "vllm": "reasoning"}.get(fake.style)
    for piece in _pieces(reasoning) if reasoning else []:
        deltas.append({field_name: piece} if field_name else {"content": piece})
    if reasoning and not field_name:
        deltas += [{"content": "\n</thi"}, {"content": "nk>\n\n"}]  # the tag split across chunks
    pieces = _pieces(answer) if fake.cuts is None else [
        answer[a:b] for a, b in zip([0, *fake.cuts], [*fake.cuts, len(answer)])]
    for piece in pieces if answer else []:
        deltas.append({"content": piece})
    if wants_tool:
        call, args = _tool_call(fake, body), _tool_args(fake, body)
        deltas.append({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                       "function": {"name": call["function"]["name"], "arguments": ""}}]})
        for k in range(0, len(args), 7):
            deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": args[k:k + 7]}}]})
    try:
        for _ in range(fake.keepalives):
            yield b": keep-alive\n\n"
        sent = 0
        for delta in deltas:
            for i in range(n):
                yield chunk(i, delta)
            sent += 1
            if fake.hang_after is not None and sent >= fake.hang_after:
                await asyncio.Event().wait()  # until the client goes away
        for i in range(n):
            yield chunk(i, {"content": ""}, "tool_calls" if wants_tool else "stop")
        usage = _usage(fake, body, reasoning, answer)
        if (body.get("stream_options") or {}).get("include_usage"):
            yield b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"
    finally:
        fake.stream_closed.set()
