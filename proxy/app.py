"""The HTTP edge: routes, authentication, and the one place where errors become HTTP answers.

Every answer, error or not, carries `x-request-id` and the `x-r1gate-*` headers, and every
request ends in one access-log line.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import os
import re
import secrets
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount
from starlette.routing import Route as Endpoint

from . import anthropic, config, logs, sse
from .response_cache import ResponseCache
from .chat import CHAT, ChatService, Exchange, Reply, Shape
from .console import console_app
from .config import Settings
from .db import Database, DatabaseUnavailable
from .errors import (BodyTooLarge, ConfigError, DatabaseDown, Forbidden, GatewayError, InternalError, InvalidRequest,
                     PathNotFound, Unauthorized, routing_error)
from .keys import KeyStore, Principal
from .ledger import GROUPS, Ledger
from .ledger import spend as spend_report
from .limits import Limits
from .metrics import CONTENT_TYPE, Metrics
from .prices import PriceTable, Pricing
from .redis_link import RedisDown, RedisLink
from .request import ChatRequest, parse_chat_body, parse_json
from .policy.loader import PolicyError
from .policy.router import PolicyRouter
from .policy.decide import explain
from .routing import Route, RouteContext, Router
from .upstream import Upstream

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# An endpoint behind authentication: (request, the caller, the request id) -> its answer.
Handler = Callable[[Request, Principal, str], Awaitable[Response | Reply]]
ErrorBody = Callable[[GatewayError], dict[str, Any]]  # an error in the shape of the endpoint's API


class Gateway:
    """The parts one gateway process holds for its lifetime."""

    def __init__(self, settings: Settings, router: Router | None = None) -> None:
        self.settings = settings
        # The policy first: a broken policy file stops the start-up with its lint messages.
        self.policy_router = None if router else policy_router(settings)
        self.db = Database(settings.database_url)
        self.upstreams = {
            Route.CLOUD: Upstream(Route.CLOUD, settings.cloud, settings.timeouts, settings.retries,
                                  required_key_setting="R1GATE_CLOUD_API_KEY or DEEPSEEK_API_KEY",
                                  messages_path=anthropic.CLOUD_PATH),
            Route.ONPREM: Upstream(Route.ONPREM, settings.onprem, settings.timeouts, settings.retries,
                                   messages_path=anthropic.ONPREM_PATH
                                   if settings.onprem.messages_api == "native" else None),
        }
        secret = (settings.secret or self.db.deployment_value("secret", lambda: secrets.token_hex(32))).encode()
        self.redis = RedisLink(settings.redis_url, settings.cache.redis_timeout_s) if settings.redis_url else None
        self.keys = KeyStore(self.db, settings.key_cache_ttl_s, self.redis)
        self.metrics = Metrics()
        self.ledger = Ledger(self.db, settings.audit_retention_days)
        self.chat = ChatService(
            settings, router or self.policy_router, self.upstreams, secret=secret,
            cache=ResponseCache(settings.cache, secret, self.redis, settings.timeouts.total_s),
            limits=Limits(self.db, self.redis, settings.global_budget_usd, settings.rate_limits,
                          lease_s=settings.timeouts.total_s + 60),
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

    async def request_id(self, request: Request) -> str:
        """The client's `x-request-id` if it has an id's shape and inspection finds nothing in
        it (it goes upstream, to the log and the database); otherwise a new one."""
        given = request.headers.get("x-request-id", "")
        if _REQUEST_ID.fullmatch(given):
            try:
                async with asyncio.timeout(self.settings.inspection_timeout_s):
                    found = await self.chat.router.decide({"x-request-id": given}, RouteContext("", ""))
                if not found.entity_counts:  # no finding at the policy's thresholds
                    return given
            except Exception:  # not shown clean: not used (fail closed)
                pass
        return uuid.uuid4().hex

    async def authenticate(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            key = request.headers.get("x-api-key", "")  # Anthropic's SDKs send it there
        if not key.strip():
            raise Unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.")
        return await self.keys.verify(key.strip())

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
                   cloud_configured=gateway.upstreams[Route.CLOUD].missing_setting is None,
                   policy=gateway.chat.router.version)
        try:
            yield
        finally:
            await gateway.aclose()

    def gw() -> Gateway:
        return holder["gw"]

    async def chat_completions(request: Request, principal: Principal, request_id: str) -> Reply:
        req = await _parse_chat(request)
        return await gw().chat.complete(req, principal, request.headers, request_id)

    async def messages(request: Request, principal: Principal, request_id: str) -> Reply:
        req = await _parse_messages(request)
        return await gw().chat.complete(req, principal, request.headers, request_id, anthropic.MESSAGES)

    async def route_explain(request: Request, principal: Principal, request_id: str) -> Reply:
        return await _explain(request, principal, await _parse_chat(request), CHAT)

    async def messages_explain(request: Request, principal: Principal, request_id: str) -> Reply:
        return await _explain(request, principal, await _parse_messages(request), anthropic.MESSAGES)

    async def _explain(request: Request, principal: Principal, req: ChatRequest, shape: Shape) -> Reply:
        routed = await gw().chat.explain(req, principal, request.headers, shape)
        route = routed.decision.route
        upstream_model = {Route.CLOUD: req.settings.cloud, Route.ONPREM: req.settings.onprem}.get(route)
        return Reply(req, routed, response=JSONResponse({
            **explain(routed), "model": req.model,
            "upstream_model": (upstream_model or req.model) if route != Route.BLOCKED else None}))

    async def _parse_chat(request: Request) -> ChatRequest:
        raw = await _read_body(request, settings.max_body_bytes)
        # Off the event loop: a large body takes a while to parse, and others keep being served.
        return await asyncio.to_thread(parse_chat_body, raw, settings.models, settings.body_limits)

    async def _parse_messages(request: Request, counting: bool = False) -> anthropic.MessagesRequest:
        raw = await _read_body(request, settings.max_body_bytes)
        # Bounded and off the event loop, as for chat completions.
        return await asyncio.to_thread(lambda: anthropic.parse_messages(
            raw, parse_json(raw, settings.body_limits), settings.models, counting=counting))

    async def count_tokens(request: Request, principal: Principal, request_id: str) -> Response:
        # An estimate made here (about 4 bytes a token): counting upstream would send the text out.
        req = await _parse_messages(request, counting=True)
        return JSONResponse({"input_tokens": req.size // 4 + 1})

    async def anthropic_models(request: Request, principal: Principal, request_id: str) -> Response:
        names = sorted(name for name in settings.models if "*" not in name)  # patterns name no model
        return JSONResponse({"data": [{"type": "model", "id": name, "display_name": name,
                                       "created_at": "1970-01-01T00:00:00Z"} for name in names],
                             "has_more": False, "first_id": names[0], "last_id": names[-1]})

    async def spend(request: Request, principal: Principal, request_id: str) -> Response:
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
        """Team labels only for a caller with the metrics token, or, without a token set, one
        connected to a loopback address; with `metrics.listen` the parent process serves them."""
        token = settings.metrics.token
        if settings.metrics.listen:
            raise PathNotFound(f"Metrics are served on {settings.metrics.listen}.")
        if token and not secrets.compare_digest(request.headers.get("authorization", "").encode(),
                                                f"Bearer {token}".encode()):
            raise Unauthorized("/metrics needs 'Authorization: Bearer <metrics.token>'.")
        gw().metrics.ledger_backlog.set(gw().ledger.backlog)
        teams = bool(token) or _loopback(request.scope.get("server"))
        return Response(gw().metrics.render(teams=teams), media_type=CONTENT_TYPE)

    async def models(request: Request, principal: Principal, request_id: str) -> Response:
        return JSONResponse({"object": "list", "data": [
            {"id": name, "object": "model", "owned_by": "r1gate"} for name in settings.models]})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        report = await gw().readiness()
        return JSONResponse(report, status_code=503 if report["status"] == "unavailable" else 200)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error_response(routing_error(exc.status_code, exc.detail), uuid.uuid4().hex)

    async def gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return _error_response(exc, uuid.uuid4().hex)

    async def finish_chat(exchange: Exchange) -> None:
        gw().metrics.in_flight.dec()
        await gw().chat.finish(exchange)

    async def log_only(exchange: Exchange) -> None:
        logs.request(exchange)

    def edge(handler: Handler, finish: Callable[[Exchange], Awaitable[None]], *, in_flight: bool = False,
             error_body: ErrorBody = GatewayError.body,
             api: str = CHAT.name) -> Callable[[Request], Awaitable[Response]]:
        """Authenticates, runs `handler`, maps what went wrong to HTTP, sets the headers, and
        runs `finish` once the whole answer has been sent (after the last chunk of a stream)."""

        async def endpoint(request: Request) -> Response:
            started = time.monotonic()
            request_id = await gw().request_id(request)
            if in_flight:
                gw().metrics.in_flight.inc()  # `finish` takes it back, whatever happens
            principal: Principal | None = None
            result: Response | Reply | None = None
            failed: Exception | None = None
            try:
                principal = await gw().authenticate(request)
                result = await handler(request, principal, request_id)
            except Exception as exc:
                failed = exc
            reply = result if isinstance(result, Reply) else None
            failed = failed or (reply.error if reply else None)
            error = _client_error(failed, request_id) if failed else None
            exchange = Exchange(request_id, started, principal, reply, error, api)
            response = _error_response(error, request_id, error_body) if error else (
                reply.response if reply else result)
            assert response is not None
            headers = response.headers
            headers["x-request-id"] = request_id
            headers["x-r1gate-cache"] = exchange.cache
            if exchange.route:
                headers["x-r1gate-route"] = exchange.route
            if exchange.decision:
                headers["x-r1gate-rules"] = ",".join(exchange.decision.rules)
            if isinstance(response, StreamingResponse):
                response.body_iterator = _then(response.body_iterator, finish, exchange)
            else:
                await finish(exchange)
            return response

        return endpoint

    chat_endpoint = edge(chat_completions, finish_chat, in_flight=True)
    anthropic_edge = functools.partial(edge, error_body=anthropic.error_body, api=anthropic.MESSAGES.name)
    routes = [
        Endpoint("/anthropic/v1/messages", anthropic_edge(messages, finish_chat, in_flight=True), methods=["POST"]),
        Endpoint("/anthropic/v1/messages/count_tokens", anthropic_edge(count_tokens, log_only), methods=["POST"]),
        Endpoint("/anthropic/v1/models", anthropic_edge(anthropic_models, log_only), methods=["GET"]),
        Endpoint("/anthropic/v1/route/explain", anthropic_edge(messages_explain, log_only), methods=["POST"]),
        Endpoint("/v1/chat/completions", chat_endpoint, methods=["POST"]),
        Endpoint("/chat/completions", chat_endpoint, methods=["POST"]),
        Endpoint("/v1/models", edge(models, log_only), methods=["GET"]),
        Endpoint("/models", edge(models, log_only), methods=["GET"]),
        Endpoint("/v1/route/explain", edge(route_explain, log_only), methods=["POST"]),
        Endpoint("/v1/spend", edge(spend, log_only), methods=["GET"]),
        Endpoint("/healthz", healthz, methods=["GET"]),
        Endpoint("/readyz", readyz, methods=["GET"]),
        Endpoint("/metrics", metrics, methods=["GET"]),
        Mount("/console", console_app(gw)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, GatewayError: gateway_error})
    # Starlette would redirect `/v1/spend/` to a URL built from the Host header, POSTs too.
    app.router.redirect_slashes = False
    return app


def policy_router(settings: Settings) -> PolicyRouter:
    """The policy file's router; `ConfigError` with the lint messages if the file is broken."""
    try:
        return PolicyRouter(settings.policy, workers=settings.inspection_workers, shadow=settings.shadow_policy)
    except PolicyError as exc:
        shadow = settings.shadow_policy and str(Path(settings.shadow_policy))
        setting = "shadow_policy" if exc.problems[0].file == shadow else "R1GATE_POLICY"
        raise ConfigError(f"{setting}: {exc.problems[0].file} is not a valid policy: "
                          + "; ".join(str(p) for p in exc.problems)) from None


def create_app_from_env() -> Starlette:
    """The factory uvicorn workers import; `r1gate serve` validated the settings already."""
    logs.setup()
    return create_app(config.load(os.environ.get("R1GATE_CONFIG") or None))


def _client_error(exc: Exception, request_id: str) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, DatabaseUnavailable):  # an outage, not a bug: the client may retry
        return DatabaseDown("The gateway's database is unavailable; try again shortly.", headers={"retry-after": "5"})
    # A bug: the client learns nothing internal.
    logs.event("internal_error", 40, request_id=request_id, exception=type(exc).__name__, at=_where(exc))
    return InternalError("The gateway failed to process this request.")


async def _then(body: AsyncIterator[Any], finish: Callable[[Exchange], Awaitable[None]],
                exchange: Exchange) -> AsyncIterator[Any]:
    async def account() -> None:
        with anyio.CancelScope(shield=True):  # a client that went away cancels us: account for it all the same
            await finish(exchange)

    finished = False
    try:
        async for part in body:
            if isinstance(part, sse.Final) and not finished:  # the answer is whole: billed before it ends
                finished = True
                await account()
            yield part
    finally:
        if not finished:
            await account()


def _error_response(error: GatewayError, request_id: str, body: ErrorBody = GatewayError.body) -> Response:
    return JSONResponse(body(error), status_code=error.status,
                        headers={**error.headers, "x-request-id": request_id})


def _loopback(server: tuple[str, int] | None) -> bool:
    """Whether the connection came in on a loopback address (not reachable from elsewhere)."""
    try:
        return server is not None and ipaddress.ip_address(server[0]).is_loopback
    except ValueError:  # a Unix socket's path
        return False


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
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise BodyTooLarge(f"The request body is larger than the limit of {limit} bytes.")
    except ClientDisconnect:  # gone, or cut for sending too slowly (serve.body_timeout_s)
        raise InvalidRequest("The client closed the connection before the end of the body.") from None
    return bytes(body)
