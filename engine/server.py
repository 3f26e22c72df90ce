"""OpenAI-compatible HTTP server (Starlette) in front of the engine process, shaped like DeepSeek's API."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from .chat import ChatFormatter, ReasoningSplitter, TemplateError
from .config import EngineConfig
from .sampling_params import SamplingParams
from .scheduler import QueueFull
from .sequence import RequestError, RequestOutput
from .worker import EngineProcess

DEFAULT_MAX_TOKENS = 4096
MAX_CHOICES = 16  # n: each choice is a sequence decoded alongside the others
MAX_TOP_LOGPROBS = 20  # OpenAI's bound


class ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.type, self.param, self.code, self.headers = status, type_, param, code, headers


def error_response(e: ApiError) -> JSONResponse:
    body = {"error": {"message": str(e), "type": e.type, "param": e.param, "code": e.code}}
    return JSONResponse(body, status_code=e.status, headers=e.headers)


def bad(param: str, message: str) -> ApiError:
    return ApiError(400, message, param=param, code="invalid_parameter")


def _number(body, name, default, lo, hi, kind=float):
    v = body.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int)):
        raise bad(name, f"'{name}' must be {'an integer' if kind is int else 'a number'}")
    if not lo <= v <= hi:
        raise bad(name, f"'{name}' must be between {lo} and {hi}, got {v}")
    return kind(v)


def parse_params(body: dict) -> SamplingParams:
    want_logprobs = body.get("logprobs")
    if want_logprobs is not None and not isinstance(want_logprobs, bool):
        raise bad("logprobs", "'logprobs' must be a boolean")
    top_logprobs = _number(body, "top_logprobs", 0, 0, MAX_TOP_LOGPROBS, int)
    if top_logprobs and not want_logprobs:
        raise bad("top_logprobs", "'top_logprobs' needs 'logprobs': true")
    stop = body.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop) or len(stop) > 16:
        raise bad("stop", "'stop' must be a non-empty string or a list of up to 16 of them")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise bad("seed", "'seed' must be an integer")
    return SamplingParams(
        max_tokens=_number({name: max_tokens}, name, DEFAULT_MAX_TOKENS, 1, 1 << 30, int),
        temperature=_number(body, "temperature", 0.6, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 1e-9, 1.0),
        top_k=max(0, _number(body, "top_k", 0, -1, 1 << 30, int)),
        seed=None if seed is None else seed & 0xFFFFFFFFFFFFFFF,
        presence_penalty=_number(body, "presence_penalty", 0.0, -2.0, 2.0),
        frequency_penalty=_number(body, "frequency_penalty", 0.0, -2.0, 2.0),
        stop=stop,
        ignore_eos=bool(body.get("ignore_eos", False)),  # vLLM's extension: benchmarks need fixed lengths
        n=_number(body, "n", 1, 1, MAX_CHOICES, int),
        logprobs=bool(want_logprobs),
        top_logprobs=top_logprobs,
    )


def parse_messages(body: dict) -> list[dict]:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise bad("messages", "'messages' must be a non-empty list")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool", "developer"):
            raise bad(f"messages[{i}].role", f"messages[{i}] needs a role of system, user, assistant or tool")
        c = m.get("content")
        if not (c is None or isinstance(c, (str, list))):
            raise bad(f"messages[{i}].content", f"messages[{i}].content must be a string or a list of parts")
        if m["role"] == "developer":  # OpenAI's newer name for the system role
            msgs[i] = {**m, "role": "system"}
    return msgs


class App:
    def __init__(self, engine: EngineProcess, tokenizer, formatter: ChatFormatter, served_name: str,
                 keepalive_s: float = 10.0):
        self.engine, self.tokenizer, self.formatter, self.name = engine, tokenizer, formatter, served_name
        self.keepalive_s = keepalive_s
        self.created = int(time.time())

    def starlette(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(_app):
            try:
                yield
            finally:
                self.engine.stop()

        async def on_http(_req, exc: HTTPException):
            return error_response(ApiError(exc.status_code, exc.detail, "invalid_request_error"))

        app = Starlette(routes=[
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
        ], lifespan=lifespan, exception_handlers={HTTPException: on_http})
        app.state.engine = self.engine  # for operators' hooks and tests
        return app

    async def health(self, _req: Request) -> Response:
        if not self.engine.alive:
            return JSONResponse({"status": "engine process exited"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def models(self, _req: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{
            "id": self.name, "object": "model", "created": self.created, "owned_by": "r1gate",
            "max_model_len": self.engine.max_model_len}]})

    async def metrics(self, _req: Request) -> Response:
        s = {"requests": 0, "finished": 0, "aborted": 0, "prompt_tokens": 0, "generation_tokens": 0, "steps": 0,
             "step_seconds": 0.0, "preemptions": 0, "running": 0, "waiting": 0, "kv_blocks_total": 0,
             "kv_blocks_free": 0, **await self.engine.fresh_stats()}
        lines = []
        for key, kind, value in [
            ("requests_total", "counter", s["requests"]), ("requests_finished_total", "counter", s["finished"]),
            ("requests_aborted_total", "counter", s["aborted"]), ("prompt_tokens_total", "counter", s["prompt_tokens"]),
            ("generation_tokens_total", "counter", s["generation_tokens"]),
            ("preemptions_total", "counter", s["preemptions"]),
            ("steps_total", "counter", s["steps"]), ("step_seconds_total", "counter", round(s["step_seconds"], 6)),
            ("requests_running", "gauge", s["running"]), ("requests_waiting", "gauge", s["waiting"]),
            ("requests_in_flight", "gauge", len(self.engine.queues)),
            ("kv_blocks_total", "gauge", s["kv_blocks_total"]), ("kv_blocks_free", "gauge", s["kv_blocks_free"]),
        ]:
            lines += [f"# TYPE r1gate_engine_{key} {kind}", f"r1gate_engine_{key} {value}"]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    async def chat(self, req: Request) -> Response:
        try:
            return await self._chat(req)
        except ApiError as e:
            return error_response(e)

    async def _chat(self, req: Request) -> Response:
        try:
            body = await req.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        model = body.get("model")
        if model != self.name:
            if not isinstance(model, str) or not model:
                raise bad("model", "'model' is required")
            raise ApiError(404, f"The model `{model}` does not exist (this server has `{self.name}`).",
                           param="model", code="model_not_found")
        messages = parse_messages(body)
        params = parse_params(body)
        stream = bool(body.get("stream", False))
        opts = body.get("stream_options") or {}
        include_usage = stream and isinstance(opts, dict) and bool(opts.get("include_usage"))
        try:
            prompt = self.formatter.render(messages, body.get("tools"))
        except TemplateError as e:
            raise bad("messages", str(e)) from None
        ids = self.tokenizer.encode(prompt, add_special_tokens=False).ids
        try:
            handle, queue = self.engine.submit(ids, params)
        except RequestError as e:
            code = "context_length_exceeded" if e.param == "messages" else "invalid_parameter"
            raise ApiError(400, str(e), param=e.param, code=code) from None
        except QueueFull:
            raise ApiError(503, "The engine is overloaded; retry shortly.", "server_error",
                           code="overloaded", headers={"retry-after": "1"}) from None
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        splitters = [ReasoningSplitter(prompt) for _ in range(params.n)]
        if stream:
            # Like DeepSeek's API, an SSE comment while a request waits, so proxies keep the stream open.
            outputs = self.engine.stream(handle, queue, params.n, idle=self.keepalive_s)
            return StreamingResponse(self._sse(rid, created, outputs, splitters, include_usage),
                                     media_type="text/event-stream", headers={"cache-control": "no-cache"})
        return await self._complete(req, rid, created, self.engine.stream(handle, queue, params.n), splitters,
                                    params.logprobs)

    def _usage(self, last: list[RequestOutput], splitters: list[ReasoningSplitter]) -> dict:
        """Usage of all choices together: the prompt once, every choice's output tokens."""
        first = last[0]
        completion = sum(o.completion_tokens for o in last)
        reasoning = sum(o.completion_tokens if o.reasoning_tokens is None and s.in_reasoning else o.reasoning_tokens or 0
                        for o, s in zip(last, splitters))
        return {
            "prompt_tokens": first.prompt_tokens, "completion_tokens": completion,
            "total_tokens": first.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": first.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": reasoning},
            # DeepSeek's own names for the prefix-cache split
            "prompt_cache_hit_tokens": first.cached_tokens,
            "prompt_cache_miss_tokens": first.prompt_tokens - first.cached_tokens,
        }

    def _logprobs(self, entries) -> list[dict]:
        """OpenAI's logprobs.content entries for (token, logprob, alternatives) triples."""
        def one(tok: int, lp: float) -> dict:
            text = self.tokenizer.decode([tok], skip_special_tokens=False)
            return {"token": text, "logprob": lp, "bytes": list(text.encode())}

        return [{**one(tok, lp), "top_logprobs": [one(t, p) for t, p in alts]} for tok, lp, alts in entries]

    async def _complete(self, req, rid, created, outputs, splitters, want_logprobs: bool) -> Response:
        n = len(splitters)
        reasoning, content, logprobs = [[] for _ in range(n)], [[] for _ in range(n)], [[] for _ in range(n)]
        last: list[RequestOutput | None] = [None] * n

        async def collect():
            async for out in outputs:
                i = out.index
                r, c = splitters[i].feed(out.delta, final=out.finished)
                reasoning[i].append(r)
                content[i].append(c)
                logprobs[i] += out.logprobs or ()
                last[i] = out
                if out.error:
                    raise ApiError(500, out.error, "server_error")

        # The client may hang up while we generate: stop generating for it at once.
        work = asyncio.ensure_future(collect())
        gone = asyncio.ensure_future(_disconnected(req))
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()  # the cancellation runs EngineProcess.stream's cleanup, which aborts
            await asyncio.gather(work, return_exceptions=True)
            return Response(status_code=499)
        gone.cancel()
        work.result()  # raises the engine's error, if any
        choices = []
        for i, (out, splitter) in enumerate(zip(last, splitters)):
            message, thought = {"role": "assistant", "content": "".join(content[i])}, "".join(reasoning[i])
            if thought or splitter.in_reasoning or out.reasoning_tokens is not None:
                message["reasoning_content"] = thought
            lp = {"content": self._logprobs(logprobs[i])} if want_logprobs else None
            choices.append({"index": i, "message": message, "logprobs": lp, "finish_reason": out.finish_reason})
        return JSONResponse({
            "id": rid, "object": "chat.completion", "created": created, "model": self.name,
            "choices": choices, "usage": self._usage(last, splitters), "system_fingerprint": None,
        })

    async def _sse(self, rid, created, outputs, splitters, include_usage):
        def chunk(index=0, delta=None, finish=None, usage=None, logprobs=None, choices=True):
            body = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": self.name,
                    "system_fingerprint": None,
                    "choices": [{"index": index, "delta": delta or {}, "logprobs": logprobs, "finish_reason": finish}]
                    if choices else []}
            if usage is not None:
                body["usage"] = usage
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        last: list[RequestOutput | None] = [None] * len(splitters)
        try:
            for i in range(len(splitters)):
                yield chunk(i, {"role": "assistant", "content": ""})
            async for out in outputs:
                if out is None:
                    yield ": keep-alive\n\n"
                    continue
                if out.error:
                    err = {"error": {"message": out.error, "type": "server_error", "param": None, "code": None}}
                    yield f"data: {json.dumps(err)}\n\n"
                    return
                i, last[i] = out.index, out
                r, c = splitters[i].feed(out.delta, final=out.finished)
                # The step's token log-probabilities ride on its first chunk (an empty one if its text is held back).
                lp = {"content": self._logprobs(out.logprobs)} if out.logprobs else None
                if r:
                    yield chunk(i, {"reasoning_content": r}, logprobs=lp)
                    lp = None
                if c:
                    yield chunk(i, {"content": c}, logprobs=lp)
                    lp = None
                if lp is not None:
                    yield chunk(i, {}, logprobs=lp)
                if out.finished:
                    yield chunk(i, finish=out.finish_reason)
            if include_usage:
                yield chunk(usage=self._usage(last, splitters), choices=False)
            yield "data: [DONE]\n\n"
        finally:
            await outputs.aclose()  # aborts the sequences if the client left early


async def _disconnected(req: Request) -> None:
    while True:
        message = await req.receive()
        if message["type"] == "http.disconnect":
            return


def build_app(config: EngineConfig, *, served_name: str | None = None, keepalive_s: float = 10.0) -> Starlette:
    """Load the checkpoint (the weights in the engine process) and return the ASGI app.

    Raises CheckpointError, naming the problem, when the checkpoint cannot be served.
    """
    from pathlib import Path

    from .loader import load_checkpoint

    ckpt = load_checkpoint(config.model)
    formatter = ChatFormatter(ckpt.chat_template, ckpt.bos_token, ckpt.eos_token)
    engine = EngineProcess(config, max_inflight=config.max_seqs + config.max_waiting)
    engine.start()
    name = served_name or Path(config.model).resolve().name
    return App(engine, ckpt.tokenizer, formatter, name, keepalive_s).starlette()
