"""The HTTP edge: routes, authentication, and the one place where errors become HTTP answers.

Every answer, error or not, carries `x-request-id` and the `x-r1gate-*` headers, and every
request ends in one access-log line.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from . import config, logs
from .cache import ResponseCache
from .chat import ChatService, Outcome
from .console import console_app
from .config import Settings
from .db import Database
from .errors import BodyTooLarge, ConfigError, Forbidden, GatewayError, InvalidRequest, Unauthorized
from .keys import KeyStore, Principal
from .ledger import GROUPS, Ledger
from .ledger import spend as spend_report
from .limits import Limits
from .metrics import CONTENT_TYPE, Metrics
from .prices import PriceTable, Pricing
from .redis_link import RedisDown, RedisLink
from .request import parse_chat, parse_json
from .policy.loader import PolicyError
from .policy.router import PolicyRouter
from .routing import CLOUD, ONPREM, Router
from .upstream import Upstream

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class Gateway:
    """The parts one gateway process holds for its lifetime."""

    def __init__(self, settings: Settings, router: Router | None = None) -> None:
        self.settings = settings
        # The policy first: a broken policy file stops the start-up with its lint messages.
        self.policy_router = None if router else policy_router(settings)
        self.db = Database(settings.database_url)
        self.keys = KeyStore(self.db, settings.key_cache_ttl_s)
        self.upstreams = {
            CLOUD: Upstream(CLOUD, settings.cloud, settings.timeouts, settings.retries,
                            required_key_setting="R1GATE_CLOUD_API_KEY or DEEPSEEK_API_KEY"),
            ONPREM: Upstream(ONPREM, settings.onprem, settings.timeouts, settings.retries),
        }
        secret = (settings.secret or self.db.deployment_value("secret", lambda: secrets.token_hex(32))).encode()
        self.redis = RedisLink(settings.redis_url, settings.cache.redis_timeout_s) if settings.redis_url else None
        self.metrics = Metrics()
        self.ledger = Ledger(self.db, settings.audit_retention_days)
        self.chat = ChatService(
            settings, router or self.policy_router, self.upstreams, secret=secret,
            cache=ResponseCache(settings.cache, secret, self.redis),
            limits=Limits(self.db, self.redis, settings.global_budget_usd, settings.rate_limits),
            pricing=Pricing(PriceTable.load(settings.prices_file), settings.onprem_cost, settings.reference_price),
            ledger=self.ledger, metrics=self.metrics)
        self._ready: tuple[float, dict[str, Any]] | None = None

    async def start(self) -> None:
        self.ledger.start()
        if self.policy_router is not None:
            await asyncio.to_thread(self.policy_router.start)  # loads the models in each worker

    async def aclose(self) -> None:
        if self.policy_router is not None:
            await asyncio.to_thread(self.policy_router.close)
        for upstream in self.upstreams.values():
            await upstream.aclose()
        await self.ledger.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        self.db.close()

    async def authenticate(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.")
        return await self.keys.verify_async(key.strip())

    async def readiness(self) -> dict[str, Any]:
        """Database and upstream reachability, checked at most every 5 seconds."""
        if self._ready and self._ready[0] > time.monotonic():
            return self._ready[1]
        try:
            await asyncio.to_thread(self.db.ping)
            database = "ok"
        except Exception:
            database = "unavailable"

        async def probe(upstream: Upstream) -> str:
            if upstream.missing_setting:
                return "not_configured"
            return "ok" if await upstream.reachable() else "unreachable"

        states = await asyncio.gather(*(probe(u) for u in self.upstreams.values()))
        report: dict[str, Any] = {"database": database, **dict(zip(self.upstreams, states))}
        report["cache"] = "memory" if self.redis is None else ("ok" if await self._redis_ok() else "down")
        report["ledger_backlog"] = self.ledger.backlog
        serving = database == "ok" and "ok" in states
        healthy = all(s == "ok" for s in states) and report["cache"] != "down" and self.ledger.healthy
        report["status"] = ("ready" if healthy else "degraded") if serving else "unavailable"
        self._ready = (time.monotonic() + 5.0, report)
        return report

    async def _redis_ok(self) -> bool:
        assert self.redis is not None
        try:
            await self.redis.call(lambda r: r.ping())
        except RedisDown:
            pass
        up = self.redis.up
        self.metrics.redis_up.set(1 if up else 0)
        return up


def create_app(settings: Settings, router: Router | None = None) -> Starlette:
    holder: dict[str, Gateway] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway = holder["gw"] = Gateway(settings, router)
        await gateway.start()
        logs.event("started", cloud=settings.cloud.url, onprem=settings.onprem.url,
                   cloud_configured=gateway.upstreams[CLOUD].missing_setting is None,
                   policy=gateway.chat.router.version)
        try:
            yield
        finally:
            await gateway.aclose()

    def gw() -> Gateway:
        return holder["gw"]

    async def chat_completions(request: Request, outcome: Outcome) -> Response:
        gw().metrics.in_flight.inc()  # finish_chat takes it back, whatever happens
        principal = outcome.principal = await gw().authenticate(request)
        raw = await _read_body(request, settings.max_body_bytes)
        req = parse_chat(parse_json(raw), settings.models, len(raw))
        outcome.model, outcome.stream = req.model, req.stream
        return await gw().chat.complete(req, principal, request.headers, outcome)

    async def route_explain(request: Request, outcome: Outcome) -> Response:
        principal = outcome.principal = await gw().authenticate(request)
        raw = await _read_body(request, settings.max_body_bytes)
        req = parse_chat(parse_json(raw), settings.models, len(raw))
        outcome.model = req.model
        decision, redaction = await gw().chat.prepare(req, principal, request.headers)
        outcome.decision = decision
        upstream_model = {CLOUD: req.settings.cloud, ONPREM: req.settings.onprem}.get(decision.route)
        explained = {**decision.as_dict(), "model": req.model,
                     "upstream_model": (upstream_model or req.model) if decision.route != "blocked" else None}
        if redaction is not None:  # what the cloud would receive: placeholders, never the values
            explained["cloud_request"] = redaction.request.body
            explained["pseudonymized"] = redaction.counts
        return JSONResponse(explained)

    async def spend(request: Request, outcome: Outcome) -> Response:
        principal = outcome.principal = await gw().authenticate(request)
        if not principal.admin:
            raise Forbidden("Spend reports need an admin key (r1gate keys create --admin).")
        q = request.query_params
        by = q.get("by", "team")
        if by not in GROUPS:
            raise InvalidRequest(f"'by' must be one of {', '.join(GROUPS)}.", param="by")
        rows = await asyncio.to_thread(spend_report, gw().db, by=by, team=q.get("team"), since=q.get("since"),
                                       until=q.get("until"))
        return JSONResponse({"object": "list", "by": by, "data": rows})

    async def metrics(request: Request) -> Response:
        gw().metrics.ledger_backlog.set(gw().ledger.backlog)
        return Response(gw().metrics.render(), media_type=CONTENT_TYPE)

    async def models(request: Request, outcome: Outcome) -> Response:
        outcome.principal = await gw().authenticate(request)
        return JSONResponse({"object": "list", "data": [
            {"id": name, "object": "model", "owned_by": "r1gate"} for name in settings.models]})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        report = await gw().readiness()
        return JSONResponse(report, status_code=503 if report["status"] == "unavailable" else 200)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        hint = " This gateway serves POST /v1/chat/completions and GET /v1/models." if exc.status_code == 404 else ""
        error = GatewayError(f"{exc.detail}.{hint}", code="not_found" if exc.status_code == 404 else "invalid_request")
        error.status, error.type = exc.status_code, "invalid_request_error"
        return _error_response(error, _request_id(request))

    async def finish_chat(outcome: Outcome) -> None:
        gw().metrics.in_flight.dec()
        await gw().chat.finish(outcome)

    async def log_only(outcome: Outcome) -> None:
        logs.request(outcome)

    chat_endpoint = _edge(chat_completions, finish_chat)
    routes = [
        Route("/v1/chat/completions", chat_endpoint, methods=["POST"]),
        Route("/chat/completions", chat_endpoint, methods=["POST"]),
        Route("/v1/models", _edge(models, log_only), methods=["GET"]),
        Route("/models", _edge(models, log_only), methods=["GET"]),
        Route("/v1/route/explain", _edge(route_explain, log_only), methods=["POST"]),
        Route("/v1/spend", _edge(spend, log_only), methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Mount("/console", console_app(gw)),
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})


def policy_router(settings: Settings) -> PolicyRouter:
    """The policy file's router; `ConfigError` with the lint messages if the file is broken."""
    try:
        return PolicyRouter(settings.policy, workers=settings.inspection_workers,
                            timeout_s=settings.inspection_timeout_s, shadow=settings.shadow_policy)
    except PolicyError as exc:
        shadow = settings.shadow_policy and str(Path(settings.shadow_policy))
        setting = "shadow_policy" if exc.problems[0].file == shadow else "R1GATE_POLICY"
        raise ConfigError(f"{setting}: {exc.problems[0].file} is not a valid policy: "
                          + "; ".join(str(p) for p in exc.problems)) from None


def create_app_from_env() -> Starlette:
    """The factory uvicorn workers import; `r1gate serve` validated the settings already."""
    logs.setup()
    return create_app(config.load(os.environ.get("R1GATE_CONFIG") or None))


def _edge(handler: Callable[[Request, Outcome], Awaitable[Response]],
          finish: Callable[[Outcome], Awaitable[None]]) -> Callable[[Request], Awaitable[Response]]:
    """Runs `handler`, maps its errors to HTTP, sets the headers, and runs `finish` once the
    whole answer has been sent (after the last chunk of a stream)."""

    async def endpoint(request: Request) -> Response:
        outcome = Outcome(_request_id(request))
        try:
            response = await handler(request, outcome)
        except GatewayError as exc:
            outcome.status, outcome.error = exc.status, exc.code
            response = _error_response(exc, outcome.request_id)
        except Exception as exc:  # a bug: the client learns nothing internal
            logs.event("internal_error", 40, request_id=outcome.request_id, exception=type(exc).__name__,
                       at=_where(exc))
            error = GatewayError("The gateway failed to process this request.", code="internal_error")
            outcome.status, outcome.error = 500, error.code
            response = _error_response(error, outcome.request_id)
        headers = response.headers
        headers["x-request-id"] = outcome.request_id
        headers["x-r1gate-cache"] = outcome.cache
        if outcome.route:
            headers["x-r1gate-route"] = outcome.route
        if outcome.decision:
            headers["x-r1gate-rules"] = ",".join(outcome.decision.rules)
        if isinstance(response, StreamingResponse):
            response.body_iterator = _then(response.body_iterator, finish, outcome)
        else:
            await finish(outcome)
        return response

    return endpoint


async def _then(body: AsyncIterator[Any], finish: Callable[[Outcome], Awaitable[None]],
                outcome: Outcome) -> AsyncIterator[Any]:
    try:
        async for part in body:
            yield part
    finally:
        await finish(outcome)


def _error_response(error: GatewayError, request_id: str) -> Response:
    return JSONResponse(error.body(), status_code=error.status,
                        headers={**error.headers, "x-request-id": request_id})


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb and tb.tb_next:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise BodyTooLarge(f"The request body is larger than the limit of {limit} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(f"The request body is larger than the limit of {limit} bytes.")
    return bytes(body)
