"""The chat-completions pipeline, from a validated request to the client's answer:
decide the route, answer from the cache or reserve the budget and call the upstream
(retries, allowed fallbacks), normalise the answer; then account for it.

Fallback only ever goes from the cloud to on-prem. A request decided on-prem is never
sent to the cloud, whatever fails (invariant 1).
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Mapping

from starlette.responses import Response, StreamingResponse

from . import logs, sse
from .cache import Flight, ResponseCache, plan
from .config import Settings
from .errors import Blocked, GatewayError, RateLimited, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from .keys import Principal
from .ledger import Ledger, Record
from .limits import Limits, Reservation
from .metrics import Metrics
from .normalize import Normalizer
from .prices import Costs, Pricing, Usage
from .pseudonym import AnswerRestorer, Pseudonymizer, counts, pseudonymize
from .replay import Assembler, chunks
from .request import ChatRequest, upstream_body
from .routing import BLOCKED, CLOUD, ONPREM, Decision, RouteContext, Router, decide_fail_closed
from .upstream import Upstream, UpstreamFailure


@dataclass(frozen=True)
class Redaction:
    """A request pseudonymized for the cloud: what the cloud receives, and how to restore."""

    request: ChatRequest
    mapping: dict[str, str]  # placeholder → value; lives only as long as the request
    counts: dict[str, int]  # pseudonymized values by entity type, for the audit record


@dataclass
class Outcome:
    """What happened to one request: the response headers, the log line, the ledger and
    audit record and the metrics all come from it, once the answer is complete."""

    request_id: str
    started: float = field(default_factory=time.monotonic)
    principal: Principal | None = None
    request: ChatRequest | None = None
    model: str | None = None
    stream: bool = False
    decision: Decision | None = None
    upstream: str | None = None  # the upstream that answered
    upstream_model: str | None = None
    status: int = 200
    error: str | None = None  # error code, never a message (messages may quote upstreams)
    usage: dict[str, Any] | None = None
    cache: str = "bypass"
    cache_key: str | None = None
    cache_ttl_s: float = 0.0
    completion: dict[str, Any] | None = None  # the whole answer, to store in the cache
    flight: Flight | None = None
    reservation: Reservation | None = None
    redaction: Redaction | None = None

    @property
    def route(self) -> str | None:
        return self.upstream or (self.decision.route if self.decision else None)


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

    async def decide(self, req: ChatRequest, principal: Principal, headers: Mapping[str, str]) -> Decision:
        ctx = RouteContext(team=principal.team, model=req.model, headers=headers)
        started = time.monotonic()
        decision = await decide_fail_closed(self.router, req.body, ctx, self._settings.inspection_timeout_s)
        self._metrics.inspection_latency.observe(time.monotonic() - started)
        return decision

    async def prepare(self, req: ChatRequest, principal: Principal,
                      headers: Mapping[str, str]) -> tuple[Decision, Redaction | None]:
        """The decision and, for `redact`, the pseudonymized request (see `pseudonymize`)."""
        decision = await self.decide(req, principal, headers)

        async def redecide(body: dict[str, Any]) -> Decision:
            return await self.decide(dataclasses.replace(req, body=body), principal, headers)

        decision, done = await pseudonymize(decision, req.body, Pseudonymizer(self._secret, principal.team), redecide)
        if done is None:
            return decision, None
        body, mapping = done
        return decision, Redaction(dataclasses.replace(req, body=body), mapping, counts(mapping))

    async def complete(self, req: ChatRequest, principal: Principal, headers: Mapping[str, str],
                       outcome: Outcome) -> Response:
        outcome.request = req
        decision, outcome.redaction = await self.prepare(req, principal, headers)
        outcome.decision = decision
        if decision.route == BLOCKED:
            raise Blocked(decision.message or "This request was blocked by the gateway's policy.")
        sent = outcome.redaction.request if outcome.redaction else req
        hit = await self._lookup(sent, principal, decision, headers, outcome)
        if hit is not None:
            return self._replay(hit, req, outcome)
        await self._limits.admit(principal.team)
        now = datetime.now(timezone.utc)
        max_tokens = (req.body.get("max_tokens") or req.body.get("max_completion_tokens") or
                      req.settings.max_output_tokens) * (req.body.get("n") or 1)
        outcome.reservation = await self._limits.reserve(principal, max(
            self._pricing.max_cost(req.settings, req.model, name, req.size // 3 + 1, max_tokens, now)
            for name in self._plan(decision)))
        return await self._call(req, decision, outcome)

    def _plan(self, decision: Decision) -> list[str]:
        if decision.route == ONPREM:
            return [ONPREM]
        return [CLOUD, ONPREM] if self._settings.fallback_to_onprem else [CLOUD]

    async def _lookup(self, req: ChatRequest, principal: Principal, decision: Decision,
                      headers: Mapping[str, str], outcome: Outcome) -> dict[str, Any] | None:
        """A cached answer, or None; also joins identical requests in flight (single-flight)."""
        cache_plan = plan(self._settings.cache, req.settings, req.body, decision, headers)
        if cache_plan is None:
            return None
        key = self._cache.key(team=principal.team, route=decision.route, upstream_model=_upstream_model(
            req, decision.route), policy_version=decision.policy_version, body=req.body)
        outcome.cache, outcome.cache_key, outcome.cache_ttl_s = "miss", key, cache_plan.ttl_s
        if not cache_plan.read:
            return None
        hit = await self._cache.get(key)
        if hit is None:
            outcome.flight = await self._cache.join(key)
            hit = outcome.flight.value
        if hit is not None:
            outcome.cache, outcome.usage = "hit", hit.get("usage")
            outcome.upstream_model = hit.get("model")
        return hit

    def _replay(self, hit: dict[str, Any], req: ChatRequest, outcome: Outcome) -> Response:
        if outcome.redaction is not None:  # entries keep their placeholders; values come from this request
            hit = AnswerRestorer(outcome.redaction.mapping).completion(hit)
        hit["model"] = req.model
        if not req.stream:
            return _json_response(hit)

        async def stream() -> AsyncIterator[bytes]:
            for chunk in chunks(hit, req.include_usage):
                yield sse.encode(chunk)
            yield sse.DONE

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    async def _call(self, req: ChatRequest, decision: Decision, outcome: Outcome) -> Response:
        deadline = time.monotonic() + self._settings.timeouts.total_s
        forwarded = {"x-request-id": outcome.request_id}
        failures: list[UpstreamFailure] = []
        for name in self._plan(decision):
            upstream = self._upstreams[name]
            model = _upstream_model(req, name)
            normalizer = Normalizer(req.model, split_think=name == ONPREM and upstream.think_tags == "auto",
                                    opened=req.settings.reasoner)
            # The cloud gets the pseudonymized request; a fallback on-prem may see the values.
            redaction = outcome.redaction if name == CLOUD else None
            restorer = AnswerRestorer(redaction.mapping) if redaction else None
            started = time.monotonic()
            try:
                sent = redaction.request if redaction else req
                response = await upstream.open(upstream_body(sent, model), forwarded, deadline)
                self._metrics.upstream_latency.labels(name).observe(time.monotonic() - started)
                outcome.upstream_model = model
                if req.stream:
                    outcome.upstream = name
                    return StreamingResponse(self._relay(upstream, response, normalizer, restorer, req, outcome,
                                                         deadline),
                                             media_type="text/event-stream",
                                             headers={"cache-control": "no-cache"})
                try:
                    raw = await upstream.read(response, deadline)
                finally:
                    await response.aclose()
                data = _json_object(raw, name)
            except UpstreamFailure as failure:
                self._metrics.upstream_errors.labels(name, failure.reason).inc()
                if failure.client_error:
                    raise _client_error(failure) from None
                failures.append(failure)
                continue
            outcome.upstream = name
            normalizer.completion(data)
            outcome.usage = normalizer.usage
            outcome.completion = data  # as the upstream wrote it, placeholders included, for the cache
            return _json_response(restorer.completion(data) if restorer else data)
        raise _unavailable(decision, failures)

    async def _relay(self, upstream: Upstream, response: Any, normalizer: Normalizer,
                     restorer: AnswerRestorer | None, req: ChatRequest, outcome: Outcome,
                     deadline: float) -> AsyncIterator[bytes]:
        """The upstream's stream, chunk by chunk, in DeepSeek's shape. An upstream that dies
        mid-stream ends it with an error event, which the OpenAI SDK raises as an APIError."""
        assembler = Assembler() if outcome.cache_key else None
        try:
            async for kind, payload in sse.events(upstream.lines(response, deadline)):
                if kind == "comment":
                    yield sse.comment(payload)  # DeepSeek's `: keep-alive` under load
                    continue
                if payload == "[DONE]":
                    break
                chunk = _json_object(payload.encode(), upstream.name)
                if "error" in chunk:
                    raise UpstreamFailure(upstream.name, "http", status=502, detail=_message(chunk["error"]))
                normalizer.chunk(chunk)
                if assembler is not None:
                    assembler.add(chunk)
                if restorer is not None:
                    restorer.chunk(chunk)
                if chunk.get("usage") is not None and not req.include_usage:
                    del chunk["usage"]  # asked for by the gateway (for the ledger), not the client
                    if not chunk.get("choices"):
                        continue
                yield sse.encode(chunk)
            if restorer is not None and (rest := restorer.rest()):  # a stream that never finished
                yield sse.encode({"object": "chat.completion.chunk", "model": req.model, "choices": rest})
            yield sse.DONE
            outcome.completion = assembler.completion() if assembler is not None else None
        except UpstreamFailure as failure:
            self._metrics.upstream_errors.labels(upstream.name, failure.reason).inc()
            error = _client_error(failure) if failure.client_error else _stream_error(failure)
            outcome.status, outcome.error = error.status, error.code
            yield sse.encode(error.body())
        finally:
            outcome.usage = normalizer.usage
            await response.aclose()

    async def finish(self, outcome: Outcome) -> None:
        """After the answer (or the error) went out: cache, budget, ledger, audit, metrics, log."""
        # Only an answer from the decided route is stored under its key: a fallback on-prem
        # answer saw the values the cloud key was made without, and on-prem caching is opt-in.
        if (outcome.completion is not None and outcome.cache_key and outcome.status == 200
                and outcome.decision is not None and outcome.upstream == outcome.decision.route):
            await self._cache.put(outcome.cache_key, outcome.completion, outcome.cache_ttl_s)
        if outcome.flight is not None:
            await outcome.flight.done()
        principal, req, decision = outcome.principal, outcome.request, outcome.decision
        usage = Usage.from_dict(outcome.usage) if outcome.usage else None
        costs, saved = None, 0.0
        if usage is not None and req is not None and outcome.route in (CLOUD, ONPREM):
            costs = self._pricing.costs(req.settings, req.model, outcome.route, usage, datetime.now(timezone.utc))
            if outcome.cache == "hit":  # the answer cost nothing this time
                costs, saved = Costs(0.0, costs.cloud, costs.reference), costs.cost
        await self._limits.settle(outcome.reservation, costs.cost if costs else 0.0)
        if principal is not None:
            if usage is not None and outcome.cache != "hit":
                await self._limits.count_tokens(principal.team, usage.prompt + usage.completion)
            self._ledger.record(Record(
                request_id=outcome.request_id, team=principal.team, key_id=principal.key_id, model=outcome.model,
                route=outcome.route, status=outcome.status, error=outcome.error,
                action=decision.action if decision else None,
                pseudonymized=outcome.redaction.counts if outcome.redaction else {},
                policy_version=decision.policy_version if decision else None,
                rules=decision.rules if decision else (),
                entities=dict(decision.entity_counts) if decision else {}, shadow=decision.shadow if decision else None,
                upstream_model=outcome.upstream_model, cache=outcome.cache, usage=usage, costs=costs, saved=saved))
        self._observe(outcome, usage, costs, saved)
        logs.request(outcome)

    def _observe(self, outcome: Outcome, usage: Usage | None, costs: Costs | None, saved: float) -> None:
        m, team, route = self._metrics, outcome.principal.team if outcome.principal else "", outcome.route or "none"
        m.requests.labels(route, team, str(outcome.status)).inc()
        m.latency.labels(route).observe(time.monotonic() - outcome.started)
        m.cache.labels(outcome.cache).inc()
        m.ledger_backlog.set(self._ledger.backlog)
        if outcome.error in ("insufficient_quota", "rate_limit_exceeded") and outcome.upstream is None:
            m.budget_rejections.labels(team).inc()
        for rule in outcome.decision.rules if outcome.decision else ():
            m.rule_matches.labels(rule).inc()
        if usage is not None and outcome.cache != "hit":
            m.tokens.labels(team, route, "prompt").inc(usage.prompt)
            m.tokens.labels(team, route, "completion").inc(usage.completion)
            m.tokens.labels(team, route, "reasoning").inc(usage.reasoning)
        if costs is not None:
            m.cost.labels(team, route).inc(costs.cost)
        if saved:
            m.saved.labels(team).inc(saved)


def _upstream_model(req: ChatRequest, route: str) -> str:
    return (req.settings.cloud if route == CLOUD else req.settings.onprem) or req.model


def _json_response(data: dict[str, Any]) -> Response:
    return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")), media_type="application/json")


def _json_object(raw: bytes, upstream: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UpstreamFailure(upstream, "protocol", detail="the answer is not a JSON object")
    return data


def _message(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else error
    return str(message)[:300] if message else ""


_WHO = {CLOUD: "the cloud upstream", ONPREM: "the on-prem engine"}
_SETTING = {CLOUD: "R1GATE_CLOUD_URL", ONPREM: "R1GATE_ONPREM_URL"}


def _describe(failure: UpstreamFailure) -> str:
    who = _WHO[failure.upstream]
    if failure.reason == "not_configured":
        return f"{who} is not configured ({failure.detail})"
    if failure.reason == "unreachable":
        return f"{who} is unreachable (check {_SETTING[failure.upstream]})"
    if failure.reason == "timeout":
        return f"{who} timed out"
    if failure.reason == "protocol":
        return f"{who} sent an invalid answer"
    if failure.status in (401, 403):
        # DeepSeek quotes part of the key in its 401 message: never pass that on.
        return f"{who} rejected the gateway's credentials (HTTP {failure.status})"
    if failure.status == 402:
        return f"{who} refused for insufficient balance (HTTP 402)"
    return f"{who} answered HTTP {failure.status}" + (f": {failure.detail}" if failure.detail else "")


def _client_error(failure: UpstreamFailure) -> GatewayError:
    error = GatewayError(failure.detail or f"The upstream rejected the request (HTTP {failure.status}).",
                         code="invalid_request")
    error.status, error.type = failure.status or 400, "invalid_request_error"
    return error


def _stream_error(failure: UpstreamFailure) -> GatewayError:
    cls = UpstreamTimeout if failure.reason == "timeout" else UpstreamError
    return cls(f"The answer was interrupted: {_describe(failure)}.")


def _unavailable(decision: Decision, failures: list[UpstreamFailure]) -> GatewayError:
    what = "; ".join(_describe(f) for f in failures)
    retry = {"x-should-retry": "true"}
    if decision.route == ONPREM:
        return UpstreamUnavailable(
            f"This request must be answered on-prem and is never sent to the cloud, "
            f"but {what}. Try again later.", headers=retry)
    last = failures[-1]
    message = f"No upstream could answer: {what}."
    if last.reason == "timeout":
        return UpstreamTimeout(message, headers=retry)
    if last.reason == "http" and last.status == 429:
        after = {"retry-after": f"{last.retry_after:.0f}"} if last.retry_after is not None else {}
        return RateLimited(message, headers={**retry, **after})
    if last.reason in ("unreachable", "not_configured") or last.status == 503:
        return UpstreamUnavailable(message, headers=retry)
    return UpstreamError(message)
