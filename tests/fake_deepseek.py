"""A fake DeepSeek API (and on-prem engine) for tests: the outside world, written by us.

It serves OpenAI's chat API and DeepSeek's Anthropic Messages API (`/anthropic/v1/messages`;
as an on-prem engine, vLLM's and SGLang's `/v1/messages`).
It behaves like the real thing where clients can tell: reasoner-style answers with
`reasoning_content` (or vLLM's `reasoning`, or raw `</think>` text), SSE streams with
`: keep-alive` comments and usage on the last chunk, tool calls streamed in argument
fragments, `n` choices, DeepSeek's error bodies; Anthropic messages with thinking, text and
tool_use blocks, streamed as Anthropic's events. Tests inject errors and delays and read
back exactly what it received (`raw`: the bytes).
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

    @property
    def messages(self) -> list[dict[str, Any]]:
        """What the Anthropic endpoint received: path, headers, body and `raw` bytes."""
        with self.lock:
            return [r for r in self.received if r["path"].endswith("/messages")]


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
        if problem := _invalid_tools(body):  # DeepSeek refuses a body it cannot deserialize
            return JSONResponse({"error": {"message": f"Failed to deserialize the JSON body into the target type: "
                                           f"{problem}", "type": "invalid_request_error", "param": None,
                                           "code": "invalid_request_error"}}, status_code=400)
        if body.get("stream"):
            return StreamingResponse(_stream(fake, body), media_type="text/event-stream")
        return JSONResponse(_completion(fake, body))

    async def messages(request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw)
        with fake.lock:
            fake.received.append({"path": request.url.path, "headers": dict(request.headers), "body": body,
                                  "raw": raw})
            error = fake.errors.popleft() if fake.errors else None
        if fake.delay_s:
            await asyncio.sleep(fake.delay_s)
        if error:
            status, message, headers = error
            kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}.get(
                status, "api_error")
            return JSONResponse({"type": "error", "error": {"type": kind, "message": message}},
                                status_code=status, headers=headers)
        if body.get("stream"):
            return StreamingResponse(_message_events(fake, body), media_type="text/event-stream")
        return JSONResponse(_message(fake, body))

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": "deepseek-chat", "object": "model", "owned_by": "deepseek"},
            {"id": "deepseek-reasoner", "object": "model", "owned_by": "deepseek"}]})

    return Starlette(routes=[
        Route("/chat/completions", chat, methods=["POST"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/models", models), Route("/v1/models", models),
        Route("/anthropic/v1/messages", messages, methods=["POST"]),
        Route("/v1/messages", messages, methods=["POST"]),
    ])


def _invalid_tools(body: dict[str, Any]) -> str | None:
    """What DeepSeek's deserializer says of a malformed `tools` list, or None."""
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return "tools: invalid type, expected a sequence"
    for i, tool in enumerate(tools or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return f"tools[{i}]: missing field `function.name`"
    return None


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
    # Like a model, it calls a tool once, then answers with what the tool returned.
    wants_tool = bool(body.get("tools")) and body.get("tool_choice") != "none" and (
        body["messages"][-1].get("role") != "tool")
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


# DeepSeek's Anthropic Messages API.

def _message_said(body: dict[str, Any]) -> str:
    """Everything the user turns said (text and tool results), as an echoing model repeats it."""
    said = []
    for m in body["messages"]:
        if m.get("role") != "user":
            continue
        content = m["content"]
        for block in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            inner = block.get("content") if block.get("type") == "tool_result" else [block]
            for part in [{"type": "text", "text": inner}] if isinstance(inner, str) else inner or ():
                if part.get("type") == "text":
                    said.append(part["text"])
    return " | ".join(said)


def _message_blocks(fake: Fake, body: dict[str, Any]) -> list[dict[str, Any]]:
    thinking = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
    said = _message_said(body) if fake.echo else ""
    blocks: list[dict[str, Any]] = []
    if thinking:
        blocks.append({"type": "thinking", "thinking": f"The user wrote: {said}" if fake.echo else REASONING,
                       "signature": "sig-fake-0123"})
    last = body["messages"][-1]["content"]
    answered = isinstance(last, list) and any(b.get("type") == "tool_result" for b in last)
    wants_tool = bool(body.get("tools")) and (body.get("tool_choice") or {}).get("type") != "none" and not answered
    blocks.append({"type": "text", "text": f"You said: {said}" if fake.echo else ANSWER})
    if wants_tool:
        blocks.append({"type": "tool_use", "id": "toolu_fake0", "name": body["tools"][0]["name"],
                       "input": {"said": said, "nested": [{"said": said}]} if fake.echo else json.loads(TOOL_ARGS)})
    return blocks


def _message_usage(fake: Fake, body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
    words = sum(len((b.get("text") or b.get("thinking") or json.dumps(b.get("input"))).split()) for b in blocks)
    usage = {"input_tokens": max(len(json.dumps(body["messages"])) // 4, 1), "output_tokens": words,
             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 3}
    with fake.lock:
        fake.reported.append(usage)
    return usage


def _message(fake: Fake, body: dict[str, Any]) -> dict[str, Any]:
    blocks = _message_blocks(fake, body)
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": "deepseek-v4-flash",
            "content": blocks, "stop_reason": "tool_use" if blocks[-1]["type"] == "tool_use" else "end_turn",
            "stop_sequence": None, "usage": _message_usage(fake, body, blocks)}


def _event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


async def _message_events(fake: Fake, body: dict[str, Any]) -> AsyncIterator[bytes]:
    message = _message(fake, body)
    events = [{"type": "message_start", "message": {**message, "content": [], "stop_reason": None,
                                                    "usage": {**message["usage"], "output_tokens": 0}}},
              {"type": "ping"}]
    for i, block in enumerate(message["content"]):
        if block["type"] == "tool_use":
            events.append({"type": "content_block_start", "index": i, "content_block": {**block, "input": {}}})
            args = json.dumps(block["input"])
            events += [{"type": "content_block_delta", "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": args[k:k + 7]}}
                       for k in range(0, len(args), 7)]
        else:
            field = block["type"]
            events.append({"type": "content_block_start", "index": i,
                           "content_block": {**block, field: "", **({"signature": ""} if field == "thinking" else {})}})
            events += [{"type": "content_block_delta", "index": i, "delta": {"type": f"{field}_delta", field: piece}}
                       for piece in _pieces(block[field])]
            if field == "thinking":
                events.append({"type": "content_block_delta", "index": i,
                               "delta": {"type": "signature_delta", "signature": block["signature"]}})
        events.append({"type": "content_block_stop", "index": i})
    events += [{"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]}},
               {"type": "message_stop"}]
    try:
        for _ in range(fake.keepalives):
            yield _event({"type": "ping"})
        for sent, event in enumerate(events, 1):
            yield _event(event)
            if fake.hang_after is not None and sent >= fake.hang_after:
                await asyncio.Event().wait()  # until the client goes away
    finally:
        fake.stream_closed.set()
