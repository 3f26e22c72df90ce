"""The chat-completions pipeline, from a validated request to the client's answer:
decide the route, call the upstream (retries, allowed fallbacks), normalise the answer.

Fallback only ever goes from the cloud to on-prem. A request decided on-prem is never
sent to the cloud, whatever fails (invariant 1).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Mapping

from starlette.responses import Response, StreamingResponse

from . import sse
from .config import Settings
from .errors import Blocked, GatewayError, RateLimited, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from .keys import Principal
from .normalize import Normalizer
from .request import ChatRequest, upstream_body
from .routing import BLOCKED, CLOUD, ONPREM, Decision, RouteContext, Router, decide_fail_closed
from .upstream import Upstream, UpstreamFailure


@dataclass
class Outcome:
    """What happened to one request; the access log line and response headers come from it."""

    request_id: str
    started: float = field(default_factory=time.monotonic)
    principal: Principal | None = None
    model: str | None = None
    stream: bool = False
    decision: Decision | None = None
    upstream: str | None = None  # the upstream that answered
    status: int = 200
    error: str | None = None  # error code, never a message (messages may quote upstreams)
    usage: dict[str, Any] | None = None
    cache: str = "bypass"

    @property
    def route(self) -> str | None:
        return self.upstream or (self.decision.route if self.decision else None)


class ChatService:
    def __init__(self, settings: Settings, router: Router, upstreams: Mapping[str, Upstream]) -> None:
        self._settings = settings
        self.router = router
        self._upstreams = upstreams

    async def decide(self, req: ChatRequest, principal: Principal, headers: Mapping[str, str]) -> Decision:
        ctx = RouteContext(team=principal.team, model=req.model, headers=headers)
        return await decide_fail_closed(self.router, req.body, ctx, self._settings.inspection_timeout_s)

    async def complete(self, req: ChatRequest, principal: Principal, headers: Mapping[str, str],
                       outcome: Outcome) -> Response:
        decision = outcome.decision = await self.decide(req, principal, headers)
        if decision.route == BLOCKED:
            raise Blocked(decision.message or "This request was blocked by the gateway's policy.")
        plan = [ONPREM] if decision.route == ONPREM else (
            [CLOUD, ONPREM] if self._settings.fallback_to_onprem else [CLOUD])
        deadline = time.monotonic() + self._settings.timeouts.total_s
        forwarded = {"x-request-id": outcome.request_id}
        failures: list[UpstreamFailure] = []
        for name in plan:
            upstream = self._upstreams[name]
            model = (req.settings.cloud if name == CLOUD else req.settings.onprem) or req.model
            normalizer = Normalizer(req.model, split_think=name == ONPREM and upstream.think_tags == "auto",
                                    opened=req.settings.reasoner)
            try:
                response = await upstream.open(upstream_body(req, model), forwarded, deadline)
                if req.stream:
                    outcome.upstream = name
                    return StreamingResponse(self._relay(upstream, response, normalizer, req, outcome, deadline),
                                             media_type="text/event-stream",
                                             headers={"cache-control": "no-cache"})
                try:
                    raw = await upstream.read(response, deadline)
                finally:
                    await response.aclose()
                data = _json_object(raw, name)
            except UpstreamFailure as failure:
                if failure.client_error:
                    raise _client_error(failure) from None
                failures.append(failure)
                continue
            outcome.upstream = name
            normalizer.completion(data)
            outcome.usage = normalizer.usage
            return Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")),
                            media_type="application/json")
        raise _unavailable(decision, failures)

    async def _relay(self, upstream: Upstream, response: Any, normalizer: Normalizer, req: ChatRequest,
                     outcome: Outcome, deadline: float) -> AsyncIterator[bytes]:
        """The upstream's stream, chunk by chunk, in DeepSeek's shape. An upstream that dies
        mid-stream ends it with an error event, which the OpenAI SDK raises as an APIError."""
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
                if chunk.get("usage") is not None and not req.include_usage:
                    del chunk["usage"]  # asked for by the gateway (for the ledger), not the client
                    if not chunk.get("choices"):
                        continue
                yield sse.encode(chunk)
            yield sse.DONE
        except UpstreamFailure as failure:
            error = _client_error(failure) if failure.client_error else _stream_error(failure)
            outcome.status, outcome.error = error.status, error.code
            yield sse.encode(error.body())
        finally:
            outcome.usage = normalizer.usage
            await response.aclose()


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
