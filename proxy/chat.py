"""The pipeline, from a validated request to the client's answer, in stages that each return
an immutable result: the routing decision (`policy.decide`: `Routed`), the cache (`Lookup`),
the budget (`Reservation`) and the upstream's answer (`Answer`, or for a stream the `Relay`
that has it once sent). `finish` then accounts for what they returned.

One pipeline serves two request shapes: OpenAI's chat completions (`CHAT`, here) and
Anthropic's messages (`proxy.anthropic`). A `Shape` is what differs at the edges: the body
each upstream gets, and the answer's shape, whole, streamed or replayed from the cache.

Fallback only ever goes from the cloud to on-prem. A request decided on-prem is never
sent to the cloud, whatever fails (invariant 1).
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Mapping, Protocol

from starlette.responses import Response, StreamingResponse

from . import logs, sse
from .config import Settings
from .errors import Blocked, ClientGone, Failure, GatewayError, UpstreamFailure, client_error
from .keys import Principal
from .ledger import Ledger, Record
from .limits import Limits, Reservation
from .metrics import Metrics
from .answer_shape import Normalizer
from .policy.decide import Redaction, Routed, decide
from .prices import Costs, Pricing, Usage
from .pseudonym import AnswerRestorer, Pseudonymizer
from .replay import Assembler, chunks
from .request import ChatRequest, upstream_body
from .response_cache import BYPASS, Lookup, ResponseCache, plan
from .routing import Decision, Route, RouteContext, Router
from .upstream import Upstream


@dataclass(frozen=True, slots=True)
class Answer:
    """What answered the request, and with what."""

    upstream: Route | None  # None: the cache
    upstream_model: str | None
    usage: dict[str, Any] | None = None
    completion: dict[str, Any] | None = None  # the whole answer as the upstream wrote it, to cache
    error: GatewayError | None = None  # the upstream broke the stream off


class Relay:
    """The upstream's stream, chunk by chunk, in DeepSeek's shape. An upstream that dies
    mid-stream, or sends something else than a stream, ends it with an error event, which
    the OpenAI SDK raises as an APIError. `answer` holds what was relayed so far: all of it
    once the stream has been sent; for a client that went away, the usage up to then (the
    upstream generated, and bills, those tokens) and `ClientGone`."""

    def __init__(self, upstream: Upstream, response: Any, model: str, normalizer: Normalizer,
                 restorer: AnswerRestorer | None, req: ChatRequest, deadline: float, *, assemble: bool,
                 metrics: Metrics) -> None:
        self._upstream, self._response, self._model = upstream, response, model
        self._normalizer, self._restorer, self._req, self._deadline = normalizer, restorer, req, deadline
        self._assembler = Assembler() if assemble else None
        self._metrics = metrics
        self._completion: dict[str, Any] | None = None
        self._error: GatewayError | None = None
        self._streamed = 0  # characters of answer relayed: estimates the usage of a stream cut short

    @property
    def answer(self) -> Answer:
        usage = self._normalizer.usage
        if usage is None and isinstance(self._error, ClientGone):
            usage = {"prompt_tokens": _tokens(self._req.size), "completion_tokens": _tokens(self._streamed)}
        return Answer(Route(self._upstream.name), self._model, usage, self._completion, self._error)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._relay()

    async def _relay(self) -> AsyncIterator[bytes]:
        upstream, req, restorer, assembler = self._upstream, self._req, self._restorer, self._assembler
        ended = False  # the stream went out whole, or with its error event: not cut short by the client
        done = False  # the upstream sent [DONE]
        try:
            async for kind, payload in sse.events(upstream.lines(self._response, self._deadline)):
                if kind == "comment":
                    yield sse.comment(payload)  # DeepSeek's `: keep-alive` under load
                    continue
                if payload == "[DONE]":
                    done = True
                    break
                chunk = json_object(payload.encode(), upstream.name)
                if "error" in chunk:
                    raise UpstreamFailure(upstream.name, Failure.HTTP, status=502, detail=error_message(chunk["error"]))
                self._normalizer.chunk(chunk)
                self._streamed += _chars(chunk)
                if assembler is not None:
                    assembler.add(chunk)
                if restorer is not None:
                    restorer.chunk(chunk)
                if chunk.get("usage") is not None and not req.include_usage:
                    del chunk["usage"]  # asked for by the gateway (for the ledger), not the client
                    if not chunk.get("choices"):
                        continue
                yield sse.encode(chunk)
            if not done and self._normalizer.usage is None:  # no [DONE], no usage: not a whole stream
                raise UpstreamFailure(upstream.name, Failure.PROTOCOL, detail="the stream ended early")
            if restorer is not None and (rest := restorer.rest()):  # a stream that never finished
                yield sse.encode({"object": "chat.completion.chunk", "model": req.model, "choices": rest})
            self._completion = assembler.completion() if assembler is not None else None
            ended = True
            yield sse.DONE
        except UpstreamFailure as failure:
            self._metrics.upstream_errors.labels(upstream.name, failure.reason).inc()
            self._error = client_error([failure], mid_stream=True)
            ended = True
            yield sse.encode(self._error.body())
        finally:
            if not ended:
                self._completion, self._error = None, ClientGone("The client closed the connection mid-stream.")
            await self._response.aclose()


class Streamed(Protocol):
    """A streamed answer: its bytes for the client, then what was sent (`Relay`)."""

    @property
    def answer(self) -> Answer: ...

    def __aiter__(self) -> AsyncIterator[bytes]: ...


class Shape(Protocol):
    """A request shape at the pipeline's edges (see the module's docstring)."""

    name: str  # keeps the shapes' cache entries apart

    def inspected(self, body: dict[str, Any]) -> dict[str, Any]:
        """What of the body the policy inspects (`policy.decide`)."""

    def upstream_request(self, req: ChatRequest, upstream: Upstream, model: str,
                         redaction: Redaction | None) -> tuple[str, bytes]:
        """The path under the upstream's base URL and the body it receives."""

    def answer(self, req: ChatRequest, upstream: Upstream, model: str, data: dict[str, Any],
               mapping: dict[str, str] | None) -> tuple[dict[str, Any], Answer]:
        """A whole answer: the client's copy (values restored) and the `Answer` to account for."""

    def relay(self, req: ChatRequest, upstream: Upstream, response: Any, model: str,
              mapping: dict[str, str] | None, deadline: float, *, assemble: bool, metrics: Metrics) -> Streamed:
        """A streamed answer, relayed as the upstream sends it."""

    def replay(self, hit: dict[str, Any], req: ChatRequest, mapping: dict[str, str] | None) -> Response:
        """A cached answer, whole or as a stream."""

    def usage(self, hit: dict[str, Any]) -> dict[str, Any] | None:
        """A cached answer's usage in DeepSeek's terms, as the ledger counts it."""


class ChatShape:
    """OpenAI's chat completions, as DeepSeek serves them."""

    name = "chat"

    def inspected(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def upstream_request(self, req: ChatRequest, upstream: Upstream, model: str,
                         redaction: Redaction | None) -> tuple[str, bytes]:
        sent = dataclasses.replace(req, body=redaction.body) if redaction else req
        return "chat/completions", upstream_body(sent, model)

    def answer(self, req: ChatRequest, upstream: Upstream, model: str, data: dict[str, Any],
               mapping: dict[str, str] | None) -> tuple[dict[str, Any], Answer]:
        normalized = normalizer(req, upstream)
        normalized.completion(data)
        # The completion as the upstream wrote it, placeholders included, for the cache.
        answer = Answer(Route(upstream.name), model, normalized.usage, data)
        return (AnswerRestorer(mapping).completion(data) if mapping else data), answer

    def relay(self, req: ChatRequest, upstream: Upstream, response: Any, model: str,
              mapping: dict[str, str] | None, deadline: float, *, assemble: bool, metrics: Metrics) -> Streamed:
        return Relay(upstream, response, model, normalizer(req, upstream),
                     AnswerRestorer(mapping) if mapping else None, req, deadline, assemble=assemble, metrics=metrics)

    def replay(self, hit: dict[str, Any], req: ChatRequest, mapping: dict[str, str] | None) -> Response:
        if mapping is not None:  # entries keep their placeholders; values come from this request
            hit = AnswerRestorer(mapping).completion(hit)
        hit = {**hit, "model": req.model}
        if not req.stream:
            return json_response(hit)

        async def stream() -> AsyncIterator[bytes]:
            for chunk in chunks(hit, req.include_usage):
                yield sse.encode(chunk)
            yield sse.DONE

        return event_stream(stream())

    def usage(self, hit: dict[str, Any]) -> dict[str, Any] | None:
        return hit.get("usage")


CHAT = ChatShape()


def normalizer(req: ChatRequest, upstream: Upstream) -> Normalizer:
    """DeepSeek's answer shape for this request, from whichever upstream answers it."""
    return Normalizer(req.model, split_think=upstream.name == Route.ONPREM and upstream.think_tags == "auto",
                      opened=req.settings.reasoner)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the pipeline came to: each stage's result (None: the stage did not run), and
    the response to send, or what ended the pipeline early."""

    request: ChatRequest
    routed: Routed | None = None
    lookup: Lookup = BYPASS
    reservation: Reservation | None = None
    answer: Answer | Streamed | None = None
    response: Response | None = None
    error: Exception | None = None  # `app.py` turns it into the client's error


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request as the edge saw it, built once its handler returned: the response
    headers, the log line, the ledger and audit record and the metrics read it."""

    request_id: str
    started: float
    principal: Principal | None = None
    reply: Reply | None = None
    error: GatewayError | None = None  # the error the client received
    api: str = CHAT.name  # the API the client called: a `Shape`'s name

    @property
    def request(self) -> ChatRequest | None:
        return self.reply.request if self.reply else None

    @property
    def decision(self) -> Decision | None:
        return self.reply.routed.decision if self.reply and self.reply.routed else None

    @property
    def answer(self) -> Answer | None:
        answer = self.reply.answer if self.reply else None
        return answer if answer is None or isinstance(answer, Answer) else answer.answer

    @property
    def route(self) -> Route | None:
        answer, decision = self.answer, self.decision
        return (answer.upstream if answer else None) or (decision.route if decision else None)

    @property
    def cache(self) -> str:
        return self.reply.lookup.status if self.reply else BYPASS.status

    @property
    def failure(self) -> GatewayError | None:
        """The error the client received, before or while the answer was sent."""
        answer = self.answer
        return self.error or (answer.error if answer else None)

    @property
    def status(self) -> int:
        return self.failure.status if self.failure else 200


class ChatService:
    def __init__(self, settings: Settings, router: Router, upstreams: Mapping[str, Upstream], *, secret: bytes,
                 cache: ResponseCache, limits: Limits, pricing: Pricing, ledger: Ledger, metrics: Metrics) -> None:
        self._settings = settings
        self._secret = secret
        self.router = router
        self._upstreams = upstreams
        self._cache = cache
        self._limits = limits
        self._pricing = pricing
        self._ledger = ledger
        self._metrics = metrics

    async def decide(self, req: ChatRequest, principal: Principal, headers: Mapping[str, str],
                     shape: Shape = CHAT) -> Routed:
        """The decision and, for `redact`, the pseudonymized request (see `policy.decide`)."""
        ctx = RouteContext(team=principal.team, model=req.model, headers=headers)
        started = time.monotonic()
        routed = await decide(self.router, req.body, ctx, Pseudonymizer(self._secret, principal.team),
                              self._settings.inspection_timeout_s, shape.inspected)
        self._metrics.inspection_latency.observe(time.monotonic() - started)
        return routed

    async def explain(self, req: ChatRequest, principal: Principal, headers: Mapping[str, str],
                      shape: Shape = CHAT) -> Routed:
        """The decision alone (the explain endpoints): inspection costs as much as for a
        request answered, so it counts against the same per-team rate limits."""
        await self._limits.admit(principal.team)
        return await self.decide(req, principal, headers, shape)

    async def complete(self, req: ChatRequest, principal: Principal, headers: Mapping[str, str],
                       request_id: str, shape: Shape = CHAT) -> Reply:
        """Runs the stages in turn; an error ends the pipeline with the results of those before."""
        routed: Routed | None = None
        lookup, reservation = BYPASS, None
        try:
            routed = await self.decide(req, principal, headers, shape)
            decision, redaction = routed.decision, routed.redaction
            if decision.route == Route.BLOCKED:
                raise Blocked(decision.message or "This request was blocked by the gateway's policy.")
            sent = dataclasses.replace(req, body=redaction.body) if redaction else req
            lookup = await self._lookup(sent, principal, decision, headers, shape)
            if lookup.hit is not None:
                hit = Answer(None, lookup.hit.get("model"), shape.usage(lookup.hit))
                response = shape.replay(lookup.hit, req, redaction.mapping if redaction else None)
                return Reply(req, routed, lookup, answer=hit, response=response)
            await self._limits.admit(principal.team)
            reservation = await self._limits.reserve(principal, self._max_cost(req, decision))
            response, answer = await self._call(req, routed, lookup, request_id, shape)
            return Reply(req, routed, lookup, reservation, answer, response)
        except Exception as exc:
            return Reply(req, routed, lookup, reservation, error=exc)

    def _max_cost(self, req: ChatRequest, decision: Decision) -> float:
        now = datetime.now(timezone.utc)
        max_tokens = (req.body.get("max_tokens") or req.body.get("max_completion_tokens") or
                      req.settings.max_output_tokens) * (req.body.get("n") or 1)
        return max(self._pricing.max_cost(req.settings, req.model, name, req.size // 3 + 1, max_tokens, now)
                   for name in self._plan(decision))

    def _plan(self, decision: Decision) -> list[Route]:
        if decision.route == Route.ONPREM:
            return [Route.ONPREM]
        return [Route.CLOUD, Route.ONPREM] if self._settings.fallback_to_onprem else [Route.CLOUD]

    async def _lookup(self, req: ChatRequest, principal: Principal, decision: Decision,
                      headers: Mapping[str, str], shape: Shape) -> Lookup:
        """A cached answer, or the key to store this one under; also joins identical requests
        in flight (single-flight)."""
        cache_plan = plan(self._settings.cache, req.settings, req.body, decision, headers)
        if cache_plan is None:
            return BYPASS
        key = self._cache.key(team=principal.team, route=decision.route, upstream_model=_upstream_model(
            req, decision.route), policy_version=decision.policy_version, body=req.body, api=shape.name)
        return await self._cache.lookup(key, cache_plan)

    async def _call(self, req: ChatRequest, routed: Routed, lookup: Lookup, request_id: str,
                    shape: Shape) -> tuple[Response, Answer | Streamed]:
        deadline = time.monotonic() + self._settings.timeouts.total_s
        forwarded = {"x-request-id": request_id}
        failures: list[UpstreamFailure] = []
        for name in self._plan(routed.decision):
            upstream = self._upstreams[name]
            model = _upstream_model(req, name)
            # The cloud gets the pseudonymized request; a fallback on-prem may see the values.
            redaction = routed.redaction if name == Route.CLOUD else None
            mapping = redaction.mapping if redaction else None
            started = time.monotonic()
            try:
                path, body = shape.upstream_request(req, upstream, model, redaction)
                response = await upstream.open(body, forwarded, deadline, path)
                self._metrics.upstream_latency.labels(name).observe(time.monotonic() - started)
                if req.stream:
                    if not response.headers.get("content-type", "").startswith("text/event-stream"):
                        await response.aclose()  # a 200 that is not the stream asked for: fall back
                        raise UpstreamFailure(name, Failure.PROTOCOL, detail="the answer is not an event stream")
                    relay = shape.relay(req, upstream, response, model, mapping, deadline,
                                        assemble=lookup.key is not None, metrics=self._metrics)
                    return event_stream(relay), relay
                try:
                    raw = await upstream.read(response, deadline)
                finally:
                    await response.aclose()
                data = json_object(raw, name)
            except UpstreamFailure as failure:
                self._metrics.upstream_errors.labels(name, failure.reason).inc()
                if failure.clients_fault:
                    raise client_error([failure]) from None
                failures.append(failure)
                continue
            client, answer = shape.answer(req, upstream, model, data, mapping)
            return json_response(client), answer
        raise client_error(failures, onprem_only=routed.decision.route == Route.ONPREM)

    async def finish(self, exchange: Exchange) -> None:
        """After the answer (or the error) went out: cache, budget, ledger, audit, metrics, log."""
        reply, answer, decision = exchange.reply, exchange.answer, exchange.decision
        lookup = reply.lookup if reply else BYPASS
        # Only an answer from the decided route is stored under its key: a fallback on-prem
        # answer saw the values the cloud key was made without, and on-prem caching is opt-in.
        if (answer is not None and answer.completion is not None and lookup.key and exchange.status == 200
                and decision is not None and answer.upstream == decision.route):
            await self._cache.put(lookup.key, answer.completion, lookup.ttl_s)
        if lookup.flight is not None:
            await lookup.flight.done()
        principal, req, route = exchange.principal, exchange.request, exchange.route
        usage = Usage.from_dict(answer.usage) if answer and answer.usage else None
        costs, saved = None, 0.0
        if usage is not None and req is not None and route in (Route.CLOUD, Route.ONPREM):
            costs = self._pricing.costs(req.settings, req.model, route, usage, datetime.now(timezone.utc))
            if exchange.cache == "hit":  # the answer cost nothing this time
                costs, saved = Costs(0.0, costs.cloud, costs.reference), costs.cost
        await self._limits.settle(reply.reservation if reply else None, costs.cost if costs else 0.0)
        if principal is not None:
            if usage is not None and exchange.cache != "hit":
                await self._limits.count_tokens(principal.team, usage.prompt + usage.completion)
            failure = exchange.failure
            await self._ledger.commit(Record(
                request_id=exchange.request_id, team=principal.team, key_id=principal.key_id,
                model=req.model if req else None, route=route, status=exchange.status,
                error=failure.code if failure else None, action=decision.action if decision else None,
                pseudonymized=reply.routed.redaction.counts if reply and reply.routed and reply.routed.redaction
                else {},
                policy_version=decision.policy_version if decision else None,
                rules=decision.rules if decision else (),
                entities=dict(decision.entity_counts) if decision else {}, shadow=decision.shadow if decision else None,
                upstream_model=answer.upstream_model if answer else None, cache=exchange.cache, usage=usage,
                costs=costs, saved=saved))
        self._observe(exchange, usage, costs, saved)
        logs.request(exchange)

    def _observe(self, exchange: Exchange, usage: Usage | None, costs: Costs | None, saved: float) -> None:
        m, team = self._metrics, exchange.principal.team if exchange.principal else ""
        route, answer, failure = exchange.route or "none", exchange.answer, exchange.failure
        m.requests.labels(route, team, str(exchange.status), exchange.api).inc()
        m.latency.labels(route, exchange.api).observe(time.monotonic() - exchange.started)
        m.cache.labels(exchange.cache).inc()
        m.ledger_backlog.set(self._ledger.backlog)
        if failure and failure.code in ("insufficient_quota", "rate_limit_exceeded") and (
                answer is None or answer.upstream is None):
            m.budget_rejections.labels(team).inc()
        for rule in exchange.decision.rules if exchange.decision else ():
            m.rule_matches.labels(rule).inc()
        if usage is not None and exchange.cache != "hit":
            m.tokens.labels(team, route, "prompt").inc(usage.prompt)
            m.tokens.labels(team, route, "completion").inc(usage.completion)
            m.tokens.labels(team, route, "reasoning").inc(usage.reasoning)
        if costs is not None:
            m.cost.labels(team, route).inc(costs.cost)
        if saved:
            m.saved.labels(team).inc(saved)


def _upstream_model(req: ChatRequest, route: Route) -> str:
    return (req.settings.cloud if route == Route.CLOUD else req.settings.onprem) or req.model


def json_response(data: dict[str, Any]) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")), media_type="application/json")


def event_stream(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers={"cache-control": "no-cache"})


def json_object(raw: bytes, upstream: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UpstreamFailure(upstream, Failure.PROTOCOL, detail="the answer is not a JSON object")
    return data


def _chars(chunk: dict[str, Any]) -> int:
    """Characters of answer in a chunk (reasoning, content, tool-call arguments)."""
    n = 0
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        n += len(delta.get("reasoning_content") or "") + len(delta.get("content") or "")
        n += sum(len((call.get("function") or {}).get("arguments") or "") for call in delta.get("tool_calls") or ())
    return n


def _tokens(chars: int) -> int:
    """DeepSeek's rule of thumb, about 0.3 tokens per character: the estimate the ledger
    records when the upstream sent no usage."""
    return math.ceil(chars * 0.3)


def error_message(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else error
    return str(message)[:300] if message else ""
