"""The console's pages: a Starlette sub-application the gateway mounts at `/console`.

Every page but sign-in needs an admin session; every form carries a CSRF token; every
answer carries a strict Content-Security-Policy (no script at all: the pages are HTML forms
and SVG drawn on the server). Pages read the audit trail and the ledger, which hold types,
counts and rule ids, never a detected value; only the playground shows text, the text the
signed-in user typed, in the answer to that user.
"""
from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable
from urllib.parse import parse_qs

import yaml
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import audit, ledger
from ..errors import GatewayError, Unauthorized
from ..keys import Principal
from . import charts, divergence, editor, playground
from .session import PRESESSION, SESSION, TTL_S, Sessions

if TYPE_CHECKING:
    from ..app import Gateway

PREFIX = "/console"
LABELS: dict[str, dict[str, str]] = yaml.safe_load((Path(__file__).parent / "labels.yaml").read_text("utf-8"))
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
FORM_LIMIT = 1024 * 1024
Handler = Callable[[Request, Principal, dict[str, str]], Awaitable[Response]]


class Console:
    def __init__(self, gateway: Callable[[], "Gateway"]) -> None:
        self._gw = gateway
        self._sessions: Sessions | None = None
        self._env = Environment(loader=PackageLoader("proxy.console"), autoescape=select_autoescape(default=True))

    @property
    def gw(self) -> "Gateway":
        return self._gw()

    @property
    def sessions(self) -> Sessions:
        if self._sessions is None:  # the gateway (and its database) exist once it has started
            self._sessions = Sessions(self.gw.db)
        return self._sessions

    def app(self) -> Starlette:
        static = StaticFiles(directory=Path(__file__).parent / "static")
        return Starlette(routes=[
            Route("/", self._admin(self.home), methods=["GET"]),
            Route("/signin", self.signin, methods=["GET", "POST"]),
            Route("/signout", self._admin(self.signout), methods=["POST"]),
            Route("/playground", self._admin(self.playground), methods=["GET", "POST"]),
            Route("/decisions", self._admin(self.decisions), methods=["GET"]),
            Route("/decisions/{record_id}", self._admin(self.record), methods=["GET"]),
            Route("/spend", self._admin(self.spend), methods=["GET"]),
            Route("/keys", self._admin(self.keys), methods=["GET", "POST"]),
            Route("/report", self._admin(self.report), methods=["GET"]),
            Route("/policy", self._admin(self.policy), methods=["GET", "POST"]),
            Route("/shadow", self._admin(self.shadow), methods=["GET", "POST"]),
            Mount("/static", static),
        ])

    # --- the frame every page shares ---------------------------------------------------

    def _lang(self, request: Request) -> str:
        asked = request.query_params.get("lang") or request.cookies.get("r1gate_lang")
        if asked in LABELS:
            return asked
        accept = request.headers.get("accept-language", "")
        return "fr" if accept[:2].lower() == "fr" else "en"

    def render(self, request: Request, template: str, status: int = 200, bound: str | None = None,
               **context: Any) -> HTMLResponse:
        """`bound`: what the page's CSRF token is bound to (default: the request's cookie)."""
        lang = self._lang(request)
        cookie = bound or request.cookies.get(SESSION) or request.cookies.get(PRESESSION) or ""
        html = self._env.get_template(template).render(
            t=LABELS[lang], lang=lang, other="en" if lang == "fr" else "fr", prefix=PREFIX, path=request.url.path,
            csrf=self.sessions.csrf(cookie) if cookie else "", **context)
        response = HTMLResponse(html, status_code=status)
        if request.query_params.get("lang") in LABELS:
            response.set_cookie("r1gate_lang", lang, max_age=365 * 86400, samesite="strict", path=PREFIX)
        return _secure(response)

    def _admin(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Only for an admin session; a POST also needs the form's CSRF token."""

        async def endpoint(request: Request) -> Response:
            cookie = request.cookies.get(SESSION)
            principal = await asyncio.to_thread(self.sessions.admin_of, cookie)
            if principal is None:
                if request.method != "GET":
                    return self.render(request, "error.html", 403, message="forged")
                return _secure(RedirectResponse(f"{PREFIX}/signin", 303))
            form: dict[str, str] = {}
            if request.method == "POST":
                form = await _form(request)
                if not self.sessions.csrf_ok(cookie, form.get("csrf")):
                    return self.render(request, "error.html", 403, message="forged")
            return await handler(request, principal, form)

        return endpoint

    # --- sign-in -----------------------------------------------------------------------

    async def signin(self, request: Request) -> Response:
        pre = request.cookies.get(PRESESSION)
        if request.method == "GET" or not pre:
            pre = pre or secrets.token_hex(16)
            response = self.render(request, "signin.html", 200 if request.method == "GET" else 403, bound=pre,
                                   error=None if request.method == "GET" else "forged")
            _cookie(response, request, PRESESSION, pre, 3600)
            return response
        form = await _form(request)
        if not self.sessions.csrf_ok(pre, form.get("csrf")):
            return self.render(request, "signin.html", 403, bound=pre, error="forged")
        try:
            principal = await self.gw.keys.verify(form.get("key", "").strip())
        except Unauthorized:
            return self.render(request, "signin.html", 401, bound=pre, error="wrong_key")
        if not principal.admin:
            return self.render(request, "signin.html", 403, bound=pre, error="not_admin")
        response = _secure(RedirectResponse(f"{PREFIX}/playground", 303))
        _cookie(response, request, SESSION, self.sessions.issue(principal.key_id), TTL_S)
        response.delete_cookie(PRESESSION, path=PREFIX)
        return response

    async def signout(self, request: Request, principal: Principal, form: dict[str, str]) -> Response:
        response = _secure(RedirectResponse(f"{PREFIX}/signin", 303))
        response.delete_cookie(SESSION, path=PREFIX)
        return response

    async def home(self, request: Request, principal: Principal, form: dict[str, str]) -> Response:
        return _secure(RedirectResponse(f"{PREFIX}/playground", 303))

    # --- pages -------------------------------------------------------------------------

    async def playground(self, request: Request, principal: Principal, form: dict[str, str]) -> Response:
        text = form.get("text", "")
        context: dict[str, Any] = {"text": text, "result": None, "tests": None, "error": None}
        if form.get("do") == "tests":
            context["tests"] = await playground.run_tests(self.gw)
        elif request.method == "POST" and text.strip():
            try:
                context["result"] = await playground.explain(self.gw, text, principal)
            except GatewayError as exc:
                context["error"] = exc.message
        return self.render(request, "playground.html", 400 if context["error"] else 200, **context)

    async def decisions(self, request: Request, principal: Principal, form: dict[str, str]) -> Response:
        filters, bad = _audit_filters(request.query_params)
        if bad:
            return self.render(request, "error.html", 400, message="bad_input", detail=bad)
        rows = await asyncio.to_thread(ledger.audit, self.gw.db, limit=200, newest_first=True, **filters)
        per_day, per_rule = await asyncio.to_thread(ledger.audit_counts, self.gw.db, **filters)
        days = sorted({d for d, _, _ in per_day})
        routes = sorted({r for _, r, _ in per_day})
        counts = {(d, r): n for d, r, n in per_day}
        over_time = charts.stacked(days, {r: [counts.get((d, r), 0) for d in days] for r in routes})
        return self.render(request, "decisions.html", rows=rows, filters=request.query_params,
                           over_time=over_time, per_rule=charts.bars(per_rule[:15]))

    async def record(self, request: Request, principal: Principal, form: dict[str, str]) -> Response:
        found = await asyncio.to_thread(audit.one, self.gw.db, request.path_params["record_id"])
        if found is None:
            return self.render(request, "error.html", 404, message="no_records")
        return self.render(request, "record.html", record=found)

    async def spend(self, request: Request, principal: Principal, form: dict[str, str]) -> Response:
        q = request.query_params
        by = q.get("by", "team")
        (since, until), bad = _period(q)
        if by not in ledger.GROUPS or bad:
            return self.render(request, "error.html", 400, message="bad_input", detail=bad or "by")
        rows = await asyncio.to_thread(ledger.spend, self.gw.db, by=by, since=since, until=until)
        totals = {k: sum(r[k] for r in rows) for k in ("requests", "cost_usd", "all_cloud_usd", "reference_usd",
                                                        "cache_saved_usd")}
        budgets = await asyncio.to_thread(_budgets, self.gw)
        return self.render(request, "spend.html", by=by, rows=rows, totals=totals, budgets=budgets,
                           groups=list(ledger.GROUPS), since=since or "", until=until or "",
                           cost=charts.bars([(str(r[by]), r["cost_usd"]) for r in rows], "${:,.6f}"),
                           compare=charts.bars([("cost", totals["cost_usd"]), ("all-cloud", totals["all_cloud_usd"]),
                                                ("reference", totals["reference_usd"])], "${:,.6f}"))

    async def keys(self, request: Request, principal: Principal, form: dict[str, str]) -> Response:
        created, error = None, None
        do = form.get("do")
        try:
            if do == "create":
                team = form.get("team", "").strip()
                if not team:
                    raise ValueError("team")
                created = await asyncio.to_thread(self.gw.keys.create, team, _usd(form.get("budget_usd")),
                                                  form.get("admin") == "on")
            elif do == "revoke":
                await asyncio.to_thread(self.gw.keys.revoke, form.get("id", ""))
            elif do == "budget":
                team = form.get("team", "").strip()
                if not team:
                    raise ValueError("team")
                await asyncio.to_thread(ledger.set_team_budget, self.gw.db, team, _usd(form.get("usd")))
        except ValueError as exc:
            error = str(exc)
        keys = await asyncio.to_thread(self.gw.keys.list)
        budgets = await asyncio.to_thread(ledger.team_budgets, self.gw.db)
        response = self.render(request, "keys.html", 400 if error else 200, keys=keys, budgets=budgets,
                               created=created, error=error, me=principal.key_id)
        return response

    async def policy(self, request: Request, principal: Principal, form: dict[str, str]) -> Response:
        """The editor: the active policy, or the edited copy with its lint, tests and diff."""
        saving = self.gw.settings.console_policy_saving
        text = form.get("text") or Path(self.gw.settings.policy).read_text("utf-8")
        result, saved, shadowed = None, False, False
        if form.get("do") == "save" and saving:
            result = await editor.save(self.gw, text, principal)
            saved = result.passed
        elif form.get("do") in ("check", "save", "shadow"):
            result, candidate = await editor.check(self.gw, text)
            if form["do"] == "shadow" and candidate is not None and self.gw.policy_router is not None:
                self.gw.policy_router.shadow.policy = candidate
                shadowed = True
        status = 400 if result is not None and not result.passed else 200
        return self.render(request, "policy.html", status, text=text, result=result, saved=saved, saving=saving,
                           attempted=form.get("do") == "save", shadowed=shadowed, active=self.gw.chat.router.version)

    async def shadow(self, request: Request, principal: Principal, form: dict[str, str]) -> Response:
        """The shadow policy now decided, and where each candidate decided otherwise than the active policy."""
        router = self.gw.policy_router
        if form.get("do") == "stop" and router is not None:
            router.shadow.policy = None
        current = router.shadow.policy.version if router and router.shadow.policy else None
        versions = await asyncio.to_thread(ledger.shadow_versions, self.gw.db)
        version = request.query_params.get("version") or current or (versions[0] if versions else None)
        pairs = await asyncio.to_thread(ledger.shadow_decisions, self.gw.db, version) if version else []
        return self.render(request, "shadow.html", current=current, version=version, versions=versions,
                           decided=len(pairs), divergences=divergence.summarize(pairs))

    async def report(self, request: Request, principal: Principal, form: dict[str, str]) -> Response:
        (since, until), bad = _period(request.query_params)
        if bad:
            return self.render(request, "error.html", 400, message="bad_input", detail=bad)
        rep = await asyncio.to_thread(audit.report, self.gw.db, audit.protected_types(self.gw.settings.policy),
                                      since, until)
        return self.render(request, "report.html", rep=rep, destinations=audit.DESTINATIONS,
                           since=since or "", until=until or "")


def _budgets(gw: "Gateway") -> list[dict[str, Any]]:
    """Each team budget with this month's spend and its projection to the month's end."""
    now = datetime.now(timezone.utc)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start.replace(month=start.month % 12 + 1, year=start.year + start.month // 12))
    elapsed = (now - start) / (following - start)
    rows = []
    for team, budget in ledger.team_budgets(gw.db).items():
        spent = ledger.month_spend(gw.db, "team", team, start.isoformat())
        projection = spent / elapsed if elapsed > 0 else spent
        rows.append({"team": team, "budget": budget, "spent": spent, "projection": projection,
                     "used_pct": min(spent / budget * 100, 100) if budget else 100,
                     "over": projection > budget})
    return rows


def _audit_filters(q: Any) -> tuple[dict[str, Any], str | None]:
    """The decisions page's filters from its query; the name of a malformed one, if any."""
    filters: dict[str, Any] = {}
    for name in ("team", "route", "action", "rule", "entity", "since", "until"):
        if q.get(name):
            filters[name] = q[name]
    if q.get("status"):
        if not q["status"].isdigit():
            return {}, "status"
        filters["status"] = int(q["status"])
    if "entity" in filters and not filters["entity"].replace("_", "").isalnum():
        return {}, "entity"
    return filters, _period(q)[1]


def _period(q: Any) -> tuple[tuple[str | None, str | None], str | None]:
    """`since` and `until` from a query (None when absent); the name of one that is not a date, if any."""
    period = (q.get("since") or None, q.get("until") or None)
    for name, value in zip(("since", "until"), period):
        try:
            if value is not None:
                datetime.fromisoformat(value)
        except ValueError:
            return period, name
    return period, None


def _usd(value: str | None) -> float | None:
    if not value or not value.strip():
        return None
    try:
        usd = float(value)
    except ValueError:
        raise ValueError("budget") from None
    if usd < 0 or usd != usd:
        raise ValueError("budget")
    return usd


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form's fields (the last value of each), up to `FORM_LIMIT` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in fields.items()}


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True, secure=secure, samesite="strict")


def _secure(response: Response) -> Response:
    response.headers.update({"content-security-policy": CSP, "x-content-type-options": "nosniff",
                             "referrer-policy": "no-referrer", "cache-control": "no-store",
                             "x-frame-options": "DENY"})
    return response


def console_app(gateway: Callable[[], "Gateway"]) -> Starlette:
    return Console(gateway).app()

