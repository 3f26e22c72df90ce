"""The Messages API as a `Shape` of the pipeline (`proxy.chat`): what each route receives,
and the answer in Anthropic's shape whichever route served it."""
from __future__ import annotations

import dataclasses
from typing import Any, AsyncIterator

from starlette.responses import Response

from .. import sse
from ..chat import Answer, error_message, event_stream, json_object, json_response, normalizer
from ..errors import Failure, GatewayError, UpstreamFailure, client_error
from ..metrics import Metrics
from ..policy.decide import Redaction
from ..request import ChatRequest, upstream_body
from ..routing import Route
from ..upstream import Upstream
from . import events
from .errors import error_body
from .request import MessagesRequest, dumps, inspected
from .translate import from_anthropic_usage, from_chat, to_chat

CLOUD_PATH = "anthropic/v1/messages"  # under the cloud's base URL, as DeepSeek serves it
ONPREM_PATH = "messages"  # under an engine's base URL (`…/v1`), as vLLM and SGLang serve it


class MessagesShape:
    name = "messages"

    def inspected(self, body: dict[str, Any]) -> dict[str, Any]:
        return inspected(body)

    def upstream_request(self, req: ChatRequest, upstream: Upstream, model: str,
                         redaction: Redaction | None) -> tuple[str, bytes]:
        assert isinstance(req, MessagesRequest)
        path = upstream.messages_path
        if path is None:  # an engine that speaks only OpenAI's chat API
            chat = dataclasses.replace(req, body=to_chat(req.body, model))
            return "chat/completions", upstream_body(chat, model)
        if upstream.name == Route.ONPREM:  # the engine's own Messages API, under its served name
            return path, dumps({**req.body, "model": model})
        if redaction is None and req.rename is None:
            return path, req.raw  # nothing to change: the client's own bytes
        body = redaction.body if redaction else req.body
        return path, dumps({**body, "model": req.rename} if req.rename else body)

    def answer(self, req: ChatRequest, upstream: Upstream, model: str, data: dict[str, Any],
               mapping: dict[str, str] | None) -> tuple[dict[str, Any], Answer]:
        if upstream.messages_path is None:  # translated: the engine's own usage, reasoning tokens included
            normalized = normalizer(req, upstream)
            message = from_chat(normalized.completion(data), req.model)
            usage = normalized.usage
        else:
            message = {**data, "model": req.model}
            usage = from_anthropic_usage(message)
        answer = Answer(Route(upstream.name), model, usage, message)
        return (events.restore_message(message, mapping) if mapping else message), answer

    def relay(self, req: ChatRequest, upstream: Upstream, response: Any, model: str,
              mapping: dict[str, str] | None, deadline: float, *, assemble: bool, metrics: Metrics) -> Relay:
        return Relay(req, upstream, response, model, mapping, deadline, assemble=assemble, metrics=metrics)

    def replay(self, hit: dict[str, Any], req: ChatRequest, mapping: dict[str, str] | None) -> Response:
        message = {**(events.restore_message(hit, mapping) if mapping else hit), "model": req.model}
        if not req.stream:
            return json_response(message)

        async def stream() -> AsyncIterator[bytes]:
            for event in events.replay(message):
                yield events.encode(event)

        return event_stream(stream())

    def usage(self, hit: dict[str, Any]) -> dict[str, Any] | None:
        return from_anthropic_usage(hit)


MESSAGES = MessagesShape()


class Relay:
    """A stream of Anthropic events for the client: the upstream's own events (the cloud's, or
    an engine's that serves Messages), with the values restored, or an engine's chat chunks
    translated one by one. An upstream that dies mid-stream ends it with an `error` event,
    which the Anthropic SDK raises."""

    def __init__(self, req: ChatRequest, upstream: Upstream, response: Any, model: str,
                 mapping: dict[str, str] | None, deadline: float, *, assemble: bool, metrics: Metrics) -> None:
        self._req, self._upstream, self._response, self._model = req, upstream, response, model
        self._restoring = events.Restoring(mapping) if mapping else None
        self._deadline, self._metrics = deadline, metrics
        self._assembler = events.Assembler()  # also what the ledger reads the usage from
        self._assemble = assemble
        self._message: dict[str, Any] | None = None
        self._engine_usage: dict[str, Any] | None = None  # translated: the engine's own, reasoning tokens included
        self._error: GatewayError | None = None

    @property
    def answer(self) -> Answer:
        message = self._message
        usage = self._engine_usage or (from_anthropic_usage(message) if message else None)
        return Answer(Route(self._upstream.name), self._model, usage,
                      message if self._assemble else None, self._error)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._relay()

    async def _relay(self) -> AsyncIterator[bytes]:
        upstream = self._upstream
        source = self._translated() if upstream.messages_path is None else self._native()
        stop: events.Event | None = None  # goes out last, once the answer is whole
        try:
            async for event in source:
                self._assembler.add(event)
                for sent in self._restoring.event(event) if self._restoring else (event,):
                    if sent.get("type") == "message_stop":
                        stop = sent
                    else:
                        yield events.encode(sent)
            self._message = self._assembler.message()
            if self._message is None or stop is None:
                raise UpstreamFailure(upstream.name, Failure.PROTOCOL, detail="the stream ended early")
            yield sse.Final(events.encode(stop))
        except UpstreamFailure as failure:
            self._metrics.upstream_errors.labels(upstream.name, failure.reason).inc()
            self._error = client_error([failure], mid_stream=True)
            yield events.encode(error_body(self._error))
        finally:
            await self._response.aclose()

    async def _native(self) -> AsyncIterator[events.Event]:
        async for kind, payload in sse.events(self._upstream.lines(self._response, self._deadline)):
            if kind == "comment":
                continue
            event = json_object(payload.encode(), self._upstream.name)
            if event.get("type") == "error":
                raise UpstreamFailure(self._upstream.name, Failure.HTTP, status=502,
                                      detail=error_message(event.get("error")))
            if event.get("type") == "message_start" and isinstance(event.get("message"), dict):
                event = {**event, "message": {**event["message"], "model": self._req.model}}
            yield event

    async def _translated(self) -> AsyncIterator[events.Event]:
        normalize, translate = normalizer(self._req, self._upstream).chunk, events.FromChat(self._req.model)
        async for kind, payload in sse.events(self._upstream.lines(self._response, self._deadline)):
            if kind == "comment":
                continue
            if payload == "[DONE]":
                break
            chunk = json_object(payload.encode(), self._upstream.name)
            if "error" in chunk:
                raise UpstreamFailure(self._upstream.name, Failure.HTTP, status=502,
                                      detail=error_message(chunk["error"]))
            for event in translate.chunk(normalize(chunk)):
                yield event
        self._engine_usage = translate.usage or None
        for event in translate.end():
            yield event
