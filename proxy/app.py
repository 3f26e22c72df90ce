"""The HTTP edge: routes, authentication, and the one place where errors become HTTP answers.

Every answer, error or not, carries `x-request-id` and the `x-r1gate-*` headers, and every
request ends in one access-log line.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from . import config, logs
from .chat import ChatService, Outcome
from .config import Settings
from .db import Database
from .errors import BodyTooLarge, GatewayError, Unauthorized
from .keys import KeyStore, Principal
from .request import parse_chat, parse_json
from .routing import CLOUD, ONPREM, Router, SimpleRouter
from .upstream import Upstream

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class Gateway:
    """The parts one gateway process holds for its lifetime."""

    def __init__(self, settings: Settings, router: Router | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.keys = KeyStore(self.db, settings.key_cache_ttl_s)
        self.upstreams = {
            CLOUD: Upstream(CLOUD, settings.cloud, settings.timeouts, settings.retries,
                            required_key_setting="R1GATE_CLOUD_API_KEY or DEEPSEEK_API_KEY"),
            ONPREM: Upstream(ONPREM, settings.onprem, settings.timeouts, settings.retries),
        }
        self.chat = ChatService(settings, router or SimpleRouter(), self.upstreams)
        self._ready: tuple[float, dict[str, Any]] | None = None

    async def aclose(self) -> None:
        for upstream in self.upstreams.values():
            await upstream.aclose()
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
        serving = database == "ok" and "ok" in states
        report["status"] = ("ready" if all(s == "ok" for s in states) else "degraded") if serving else "unavailable"
        self._ready = (time.monotonic() + 5.0, report)
        return report


def create_app(settings: Settings, router: Router | None = None) -> Starlette:
    holder: dict[str, Gateway] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway = holder["gw"] = Gateway(settings, router)
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
        principal = outcome.principal = await gw().authenticate(request)
        req = parse_chat(parse_json(await _read_body(request, settings.max_body_bytes)), settings.models)
        outcome.model, outcome.stream = req.model, req.stream
        return await gw().chat.complete(req, principal, request.headers, outcome)

    async def route_explain(request: Request, outcome: Outcome) -> Response:
        principal = outcome.principal = await gw().authenticate(request)
        req = parse_chat(parse_json(await _read_body(request, settings.max_body_bytes)), settings.models)
        outcome.model = req.model
        decision = outcome.decision = await gw().chat.decide(req, principal, request.headers)
        upstream_model = {CLOUD: req.settings.cloud, ONPREM: req.settings.onprem}.get(decision.route)
        return JSONResponse({**decision.as_dict(), "model": req.model,
                             "upstream_model": (upstream_model or req.model) if decision.route != "blocked" else None})

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

    chat_endpoint = _edge(chat_completions)
    routes = [
        Route("/v1/chat/completions", chat_endpoint, methods=["POST"]),
        Route("/chat/completions", chat_endpoint, methods=["POST"]),
        Route("/v1/models", _edge(models), methods=["GET"]),
        Route("/models", _edge(models), methods=["GET"]),
        Route("/v1/route/explain", _edge(route_explain), methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})


def create_app_from_env() -> Starlette:
    """The factory uvicorn workers import; `r1gate serve` validated the settings already."""
    logs.setup()
    return create_app(config.load(os.environ.get("R1GATE_CONFIG") or None))


def _edge(handler: Callable[[Request, Outcome], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
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
            response.body_iterator = _log_when_done(response.body_iterator, outcome)
        else:
            logs.request(outcome)
        return response

    return endpoint


async def _log_when_done(body: AsyncIterator[Any], outcome: Outcome) -> AsyncIterator[Any]:
    try:
        async for part in body:
            yield part
    finally:
        logs.request(outcome)


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
