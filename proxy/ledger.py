"""The spend ledger and the audit trail: one record per request.

Records queue in memory and a background task writes them in batches. A request's record
is committed before its answer ends (`commit`): records that arrive while a batch is being
written form the next batch, so under load the database sees one transaction per batch,
not per request, and a replica killed right after answering has lost no record. When the
database is unavailable answers stop waiting for it; the batch stays queued and is retried
with backoff; shutdown flushes what is left. A batch is one transaction, and inserts are idempotent (each record has its own
id), so a retried batch whose commit was lost is not counted twice. Audit records hold
rule ids and entity types and counts, never a detected value (invariant 4), and are hash
chained (proxy/audit.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import audit as chain
from . import logs
from .db import Database
from .prices import Costs, Usage
from .routing import Decision

_LEDGER = ("INSERT INTO ledger (id, ts, request_id, team, key_id, model, upstream_model, route, status, cache, "
           "prompt_hit_tokens, prompt_miss_tokens, completion_tokens, reasoning_tokens, cost_usd, cloud_cost_usd, "
           "reference_cost_usd, saved_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
           "ON CONFLICT (id) DO NOTHING")
BATCH = 500
COMMIT_WAIT_S = 1.0  # an answer waits at most this long for its record (a locked database)


@dataclass(frozen=True)
class Record:
    request_id: str
    team: str | None
    key_id: str | None
    model: str | None
    route: str | None
    status: int
    policy_version: str | None = None
    rules: tuple[str, ...] = ()
    entities: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    action: str | None = None  # the policy's action: cloud, onprem, redact or block
    pseudonymized: dict[str, int] = field(default_factory=dict)  # values replaced, by entity type
    upstream_model: str | None = None
    cache: str = "bypass"
    usage: Usage | None = None  # None: nothing was billed (an error before any upstream answered)
    costs: Costs | None = None
    saved: float = 0.0
    shadow: Decision | None = None  # the shadow policy's decision, if one is set
    ts: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def ledger_row(self) -> tuple:
        u, c = self.usage or Usage(), self.costs or Costs(0.0, 0.0, 0.0)
        return (self.id, _iso(self.ts), self.request_id, self.team, self.key_id, self.model, self.upstream_model,
                self.route, self.status, self.cache, u.prompt_hit, u.prompt_miss, u.completion, u.reasoning,
                c.cost, c.cloud, c.reference, self.saved)

    def audit_row(self) -> tuple:  # in `audit.COLUMNS` order
        # Commas around the ids let `rules LIKE '%,id,%'` find one rule exactly.
        rules = f",{','.join(self.rules)}," if self.rules else ""
        return (self.id, _iso(self.ts), self.request_id, self.team, self.key_id, self.model, self.policy_version,
                self.route, rules, json.dumps(self.entities, sort_keys=True), self.status, self.error,
                self.costs.cost if self.costs else 0.0, self.action, json.dumps(self.pseudonymized, sort_keys=True),
                self.shadow.policy_version if self.shadow else None, self.shadow.route if self.shadow else None,
                f",{','.join(self.shadow.rules)}," if self.shadow and self.shadow.rules else None)


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="microseconds")


class Ledger:
    def __init__(self, db: Database, audit_retention_days: int = 400) -> None:
        self._db = db
        self._retention = timedelta(days=audit_retention_days)
        self._pending: list[Record] = []
        self._committed: dict[str, asyncio.Future[None]] = {}  # record id → resolved once written (or failed)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._purged_at = 0.0
        self.healthy = True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def record(self, record: Record) -> None:
        """Queues a record; never blocks, never fails the request."""
        self._pending.append(record)
        if len(self._pending) >= BATCH:
            self._wake.set()

    async def commit(self, record: Record) -> None:
        """Queues a record and waits until it is written: at most `COMMIT_WAIT_S`, and not at
        all while the database is failing (the record stays queued). Never fails the request."""
        if not self.healthy or self._task is None:
            self.record(record)
            return
        done = self._committed[record.id] = asyncio.get_running_loop().create_future()
        self.record(record)
        self._wake.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(done), COMMIT_WAIT_S)
        finally:
            self._committed.pop(record.id, None)

    @property
    def backlog(self) -> int:
        return len(self._pending)

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=0.5)
            except TimeoutError:
                pass
            self._wake.clear()
            if await self._write_some():
                backoff = 0.5
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _write_some(self) -> bool:
        """Writes what is pending; False when the database refused (the records stay queued)."""
        while self._pending:
            batch = self._pending[:BATCH]
            try:
                await asyncio.to_thread(self._write, batch)
            except Exception as exc:
                if self.healthy:
                    logs.event("ledger_write_failed", 30, pending=len(self._pending), error=type(exc).__name__)
                self.healthy = False
                self._release(self._pending)  # their answers go out; the records stay queued
                return False
            del self._pending[:len(batch)]
            self._release(batch)
            if not self.healthy:
                logs.event("ledger_write_recovered", pending=len(self._pending))
            self.healthy = True
        if time.monotonic() - self._purged_at > 3600:
            self._purged_at = time.monotonic()
            now = datetime.now(timezone.utc)
            try:
                await asyncio.to_thread(chain.prune, self._db, _iso(now - self._retention), _iso(now))
            except Exception as exc:  # pruning waits for the next hour; the writer must not die
                logs.event("audit_prune_failed", 30, error=type(exc).__name__)
        return True

    def _release(self, records: list[Record]) -> None:
        for r in records:
            done = self._committed.get(r.id)
            if done is not None and not done.done():
                done.set_result(None)

    def _write(self, batch: list[Record]) -> None:
        with self._db.transaction() as tx:
            tx.executemany(_LEDGER, [r.ledger_row() for r in batch if r.usage is not None])
            # After a failed attempt, its commit may have landed all the same.
            chain.append(tx, [r.audit_row() for r in batch], self._db.postgres, retry=not self.healthy)

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Stops the writer and flushes, retrying until `timeout_s`; reports what is left."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        deadline = time.monotonic() + timeout_s
        while not await self._write_some() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        if self._pending:
            logs.event("ledger_records_unwritten", 40, count=len(self._pending))


# --- reading it back ---------------------------------------------------------------------

GROUPS = {"team": "team", "model": "model", "route": "route", "day": "substr(ts, 1, 10)"}


def spend(db: Database, *, by: str = "team", team: str | None = None, since: str | None = None,
          until: str | None = None) -> list[dict[str, Any]]:
    """Spend grouped `by` team, model, route or day, with what the same traffic would have
    cost all in the cloud and at the reference price, and what the cache saved."""
    group = GROUPS[by]
    where, params = _filters(team=team, since=since, until=until)
    rows = db.fetchall(
        f"SELECT {group} AS g, COUNT(*), SUM(CASE WHEN cache = 'hit' THEN 1 ELSE 0 END), "
        "SUM(prompt_hit_tokens + prompt_miss_tokens), SUM(completion_tokens), SUM(reasoning_tokens), "
        "SUM(cost_usd), SUM(cloud_cost_usd), SUM(reference_cost_usd), SUM(saved_usd) "
        f"FROM ledger{where} GROUP BY {group} ORDER BY {group}", params)
    names = ("requests", "cache_hits", "prompt_tokens", "completion_tokens", "reasoning_tokens", "cost_usd",
             "all_cloud_usd", "reference_usd", "cache_saved_usd")
    return [{by: r[0], **{n: (round(v, 6) if isinstance(v, float) else int(v or 0)) for n, v in zip(names, r[1:])}}
            for r in rows]


def audit(db: Database, *, limit: int = 1000, newest_first: bool = False, **filters: Any) -> list[dict[str, Any]]:
    """Audit records matching `filters` (see `audit_filters`), oldest first unless `newest_first`."""
    where, params = audit_filters(**filters)
    rows = db.fetchall("SELECT ts, request_id, team, key_id, model, policy_version, route, rules, entities, "
                       f"status, error, cost_usd, action, pseudonymized, id FROM audit{where} "
                       f"ORDER BY ts {'DESC' if newest_first else ''} LIMIT {int(limit)}", params)
    return [{"ts": r[0], "request_id": r[1], "team": r[2], "key_id": r[3], "model": r[4], "policy_version": r[5],
             "route": r[6], "action": r[12], "rules": [x for x in r[7].split(",") if x],
             "entities": json.loads(r[8]), "pseudonymized": json.loads(r[13] or "{}"),
             "status": r[9], "error": r[10], "cost_usd": r[11], "id": r[14]} for r in rows]


def audit_filters(*, team: str | None = None, rule: str | None = None, route: str | None = None,
                  action: str | None = None, status: int | None = None, entity: str | None = None,
                  since: str | None = None, until: str | None = None) -> tuple[str, list[Any]]:
    """The WHERE clause for the audit trail's filters; `rule` and `entity` match one id or type exactly."""
    where, params = _filters(team=team, route=route, action=action, status=status, since=since, until=until)
    for column, pattern in (("rules", f"%,{rule},%" if rule else None),
                            ("entities", f'%"{entity}":%' if entity else None)):
        if pattern:
            where += (" AND " if where else " WHERE ") + f"{column} LIKE ?"
            params.append(pattern)
    return where, params


def audit_counts(db: Database, **filters: Any) -> tuple[list[tuple[str, str, int]], list[tuple[str, int]]]:
    """Requests per (day, route), and per rule, for the audit records matching `filters`."""
    where, params = audit_filters(**filters)
    per_day = db.fetchall(f"SELECT substr(ts, 1, 10), COALESCE(route, 'none'), COUNT(*) FROM audit{where} "
                          "GROUP BY substr(ts, 1, 10), COALESCE(route, 'none') ORDER BY 1, 2", params)
    per_rule: dict[str, int] = {}
    for rules, n in db.fetchall(f"SELECT rules, COUNT(*) FROM audit{where} GROUP BY rules", params):
        for rule in filter(None, rules.split(",")):
            per_rule[rule] = per_rule.get(rule, 0) + n
    return [(d, r, int(n)) for d, r, n in per_day], sorted(per_rule.items(), key=lambda kv: -kv[1])


def shadow_decisions(db: Database, version: str, since: str | None = None
                     ) -> list[tuple[str, tuple[str, ...], str, tuple[str, ...]]]:
    """(route, rules, shadow route, shadow rules) of each request the shadow policy `version` decided."""
    where, params = _filters(shadow_version=version, since=since)
    rows = db.fetchall(f"SELECT route, rules, shadow_route, shadow_rules FROM audit{where}", params)
    split = lambda rules: tuple(r for r in (rules or "").split(",") if r)  # noqa: E731
    return [(route or "none", split(rules), shadow or "none", split(shadow_rules))
            for route, rules, shadow, shadow_rules in rows]


def shadow_versions(db: Database) -> list[str]:
    """The shadow policy versions the audit trail holds decisions of, the latest first."""
    rows = db.fetchall("SELECT shadow_version, MAX(ts) FROM audit WHERE shadow_version IS NOT NULL "
                       "GROUP BY shadow_version ORDER BY 2 DESC")
    return [r[0] for r in rows]


def set_team_budget(db: Database, team: str, usd: float | None) -> None:
    """A team's monthly budget; None removes it."""
    if usd is None:
        db.execute("DELETE FROM team_budgets WHERE team = ?", (team,))
    else:
        db.execute("INSERT INTO team_budgets (team, budget_usd) VALUES (?, ?) "
                   "ON CONFLICT (team) DO UPDATE SET budget_usd = excluded.budget_usd", (team, usd))


def team_budgets(db: Database) -> dict[str, float]:
    return {team: float(usd) for team, usd in db.fetchall("SELECT team, budget_usd FROM team_budgets ORDER BY team")}


def month_spend(db: Database, scope: str, name: str | None, month_start: str) -> float:
    """This month's recorded spend of a key, a team, or everyone (`scope` key|team|global)."""
    column = {"key": "key_id", "team": "team"}.get(scope)
    where = f" AND {column} = ?" if column else ""
    params = [month_start] + ([name] if column else [])
    row = db.fetchone(f"SELECT COALESCE(SUM(cost_usd), 0) FROM ledger WHERE ts >= ?{where}", params)
    return float(row[0]) if row else 0.0


def _filters(**given: str | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for name, value in given.items():
        if value is None:
            continue
        clauses.append({"since": "ts >= ?", "until": "ts < ?"}.get(name, f"{name} = ?"))
        params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params
