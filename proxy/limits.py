"""Budgets and rate limits, enforced atomically across replicas through Redis.

Before calling an upstream, a request reserves its maximum cost against every budget that
applies to it (its key's, its team's, the global one; per calendar month, UTC). After the
answer the real cost replaces the reservation; a failed request releases it. A Lua script
checks and reserves all budgets in one step, so concurrent requests on many replicas
cannot overspend by more than one request's reservation. Each reservation is also a lease
that lapses when no request can still be running (the upstream's total timeout), so a
replica killed mid-request holds its budget back only that long. Without Redis (or while it
is down) the same rules hold within this process.
"""
from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from .config import RateLimit
from .db import Database, DatabaseUnavailable
from .errors import QuotaExceeded, RateLimited
from .keys import Principal
from .ledger import month_spend
from .redis_link import RedisDown, RedisLink

# KEYS: each budget's hash, then its leases (a sorted set: "id:amount" by expiry time).
_RESERVE = """
local amount, lease, ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
for i = 1, #KEYS, 2 do
  local spent = redis.call('HGET', KEYS[i], 'spent')
  if not spent then return -(i + 1) / 2 end
  -- Lapsed leases belong to requests that cannot still be running (their replica died).
  for _, held in ipairs(redis.call('ZRANGEBYSCORE', KEYS[i + 1], '-inf', now)) do
    redis.call('HINCRBYFLOAT', KEYS[i], 'reserved', -tonumber(string.match(held, ':(.*)$')))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], '-inf', now)
  local reserved = tonumber(redis.call('HGET', KEYS[i], 'reserved') or '0')
  if tonumber(spent) + reserved + amount > tonumber(ARGV[(i + 1) / 2 + 3]) + 1e-9 then return (i + 1) / 2 end
end
for i = 1, #KEYS, 2 do
  redis.call('HINCRBYFLOAT', KEYS[i], 'reserved', ARGV[1])
  redis.call('ZADD', KEYS[i + 1], now + ttl, lease .. ':' .. ARGV[1])
  redis.call('EXPIRE', KEYS[i], 3456000)
  redis.call('EXPIRE', KEYS[i + 1], 3456000)
end
return 0
"""
# A lease that already lapsed was released by the sweep above: release it only once.
_SETTLE = """
for i = 1, #KEYS, 2 do
  if redis.call('ZREM', KEYS[i + 1], ARGV[3] .. ':' .. ARGV[1]) == 1 then
    redis.call('HINCRBYFLOAT', KEYS[i], 'reserved', '-' .. ARGV[1])
  end
  redis.call('HINCRBYFLOAT', KEYS[i], 'spent', ARGV[2])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Budget:
    scope: str  # key | team | global
    name: str | None
    limit_usd: float
    month: str  # YYYY-MM, UTC

    @property
    def redis_key(self) -> str:
        # One hash tag: a Lua script may only touch keys of one Redis Cluster slot.
        return f"r1gate:{{budget}}:{self.month}:{self.scope}:{self.name or '*'}"

    @property
    def redis_keys(self) -> tuple[str, str]:
        return self.redis_key, f"{self.redis_key}:leases"

    def describe(self) -> str:
        return {"key": "this key", "team": f"team '{self.name}'", "global": "the gateway"}[self.scope]


@dataclass
class Reservation:
    budgets: tuple[Budget, ...]
    amount: float
    shared: bool  # held in Redis (else in this process)
    lease: str = ""  # its id in Redis


class Limits:
    def __init__(self, db: Database, redis: RedisLink | None, global_budget_usd: float | None,
                 rate_limits: dict[str, RateLimit], lease_s: float) -> None:
        self._db = db
        self._lease_s = lease_s
        self._redis = redis
        self._global = global_budget_usd
        self._rates = rate_limits
        self._local: dict[str, list[float]] = {}  # redis_key → [spent, reserved]
        self._local_counts: dict[tuple[str, int], int] = {}  # (key, minute) → count, the last two minutes
        self._team_budgets: tuple[float, dict[str, float]] = (0.0, {})

    # --- budgets ------------------------------------------------------------------------

    async def reserve(self, principal: Principal, amount: float) -> Reservation | None:
        budgets = await self._budgets(principal)
        if not budgets:
            return None
        if self._redis is not None:
            try:
                lease = uuid.uuid4().hex
                await self._reserve_shared(budgets, amount, lease)
                return Reservation(budgets, amount, shared=True, lease=lease)
            except RedisDown:
                pass  # enforced within this process until Redis is back
        for b in budgets:
            if b.redis_key not in self._local:
                self._local[b.redis_key] = [await asyncio.to_thread(self._recorded, b), 0.0]
        for b in budgets:  # no await between check and reserve: atomic within the event loop
            spent, reserved = self._local[b.redis_key]
            if spent + reserved + amount > b.limit_usd + 1e-9:
                raise self._over(b, spent + reserved)
        for b in budgets:
            self._local[b.redis_key][1] += amount
        return Reservation(budgets, amount, shared=False)

    async def _reserve_shared(self, budgets: tuple[Budget, ...], amount: float, lease: str) -> None:
        keys = [k for b in budgets for k in b.redis_keys]
        args = [repr(amount), lease, self._lease_s, *(b.limit_usd for b in budgets)]
        for _ in range(len(budgets) + 1):
            result = int(await self._redis.call(lambda r: r.eval(_RESERVE, len(keys), *keys, *args)))
            if result == 0:
                return
            if result > 0:
                b = budgets[result - 1]
                used = await self._redis.call(lambda r: r.hmget(b.redis_key, "spent", "reserved"))
                raise self._over(b, sum(float(x or 0) for x in used))
            # First use this month (or Redis lost its data): start from the ledger's sum.
            b = budgets[-result - 1]
            spent = await asyncio.to_thread(self._recorded, b)
            await self._redis.call(lambda r: r.hsetnx(b.redis_key, "spent", spent))

    async def settle(self, reservation: Reservation | None, cost: float) -> None:
        """Replaces the reservation by the real cost (0 when the request failed)."""
        if reservation is None:
            return
        if reservation.shared:
            keys = [k for b in reservation.budgets for k in b.redis_keys]
            args = [repr(reservation.amount), repr(cost), reservation.lease]
            with contextlib.suppress(RedisDown):  # the cost is in the ledger whatever happens here
                await self._redis.call(lambda r: r.eval(_SETTLE, len(keys), *keys, *args))
            return
        for b in reservation.budgets:
            entry = self._local[b.redis_key]
            entry[0] += cost
            entry[1] = max(entry[1] - reservation.amount, 0.0)

    async def _budgets(self, principal: Principal) -> tuple[Budget, ...]:
        month = datetime.now(timezone.utc).strftime("%Y-%m")
        team_limit = (await self._team_limits()).get(principal.team)
        found = [Budget("key", principal.key_id, principal.budget_usd, month) if principal.budget_usd is not None else None,
                 Budget("team", principal.team, team_limit, month) if team_limit is not None else None,
                 Budget("global", None, self._global, month) if self._global is not None else None]
        return tuple(b for b in found if b is not None)

    async def _team_limits(self) -> dict[str, float]:
        loaded_at, limits = self._team_budgets
        if time.monotonic() - loaded_at > 10:
            try:
                rows = await asyncio.to_thread(self._db.fetchall, "SELECT team, budget_usd FROM team_budgets")
            except DatabaseUnavailable:
                if not loaded_at:
                    raise
                return limits  # the last known limits, while the database is down; asked again next time
            limits = {team: float(limit) for team, limit in rows}
            self._team_budgets = (time.monotonic(), limits)
        return limits

    def _recorded(self, b: Budget) -> float:
        return month_spend(self._db, b.scope, b.name, f"{b.month}-01")

    @staticmethod
    def _over(b: Budget, used: float) -> QuotaExceeded:
        return QuotaExceeded(f"Budget exceeded: {b.describe()} has ${max(b.limit_usd - used, 0):.4f} left of its "
                             f"${b.limit_usd:.2f} budget for {b.month}, less than this request may cost. Lower "
                             f"max_tokens, or ask the platform team to raise the budget.")

    # --- rate limits --------------------------------------------------------------------
    # A sliding window: the previous minute's count, weighted by how much of it the last 60 s
    # still cover, plus this minute's. A fixed window would let a team send twice its limit
    # across a minute's boundary.

    async def admit(self, team: str) -> None:
        """Counts one request against the team's per-minute limits; 429 when over (a refused
        request is not counted, so a client that waits as told gets through)."""
        limit = self._rates.get(team) or self._rates.get("*")
        if limit is None:
            return
        minute, elapsed = divmod(time.time(), 60)
        if limit.tpm is not None:
            window = await self._count(team, int(minute), "tokens", 0)
            if window.full(elapsed, limit.tpm):
                raise RateLimited(f"Rate limit: team '{team}' used its {limit.tpm} tokens in the last minute.",
                                  headers={"retry-after": window.retry_after(elapsed, limit.tpm)})
        if limit.rpm is not None:
            window = await self._count(team, int(minute), "requests", 1)
            if window.full(elapsed, limit.rpm):
                await self._count(team, int(minute), "requests", -1)
                raise RateLimited(f"Rate limit: team '{team}' sent more than {limit.rpm} requests in the last minute.",
                                  headers={"retry-after": window.retry_after(elapsed, limit.rpm)})

    async def count_tokens(self, team: str, tokens: int) -> None:
        if (self._rates.get(team) or self._rates.get("*")) is not None and tokens:
            await self._count(team, int(time.time() // 60), "tokens", tokens)

    async def _count(self, team: str, minute: int, kind: str, add: int) -> _Window:
        """Adds `add` to this minute's count; returns the window as it was before."""
        key, previous_key = (f"r1gate:rate:{team}:{m}:{kind}" for m in (minute, minute - 1))
        if self._redis is not None:
            try:
                async def incr(r) -> _Window:
                    async with r.pipeline(transaction=False) as p:  # one round trip
                        p.incrby(key, add).expire(key, 180).get(previous_key)
                        current, _, previous = await p.execute()
                    return _Window(int(previous or 0), int(current) - add)
                return await self._redis.call(incr)
            except RedisDown:
                pass
        for old in [k for k in self._local_counts if k[1] < minute - 1]:  # out of every window now
            del self._local_counts[old]
        window = _Window(self._local_counts.get((previous_key, minute - 1), 0), self._local_counts.get((key, minute), 0))
        self._local_counts[(key, minute)] = window.current + add
        return window


@dataclass(frozen=True)
class _Window:
    previous: int  # the previous minute's count
    current: int  # this minute's, before this request

    def full(self, elapsed: float, limit: int) -> bool:
        """Whether one more request (or token) would go over `limit` in the last 60 s."""
        return self.previous * (1 - elapsed / 60) + self.current + 1 > limit

    def retry_after(self, elapsed: float, limit: int) -> str:
        """Whole seconds until there is room for one more."""
        room = limit - 1 - self.current  # what the previous minute's share must fade to
        if room >= 0 and self.previous:  # later this minute
            wait = 60 * (1 - room / self.previous) - elapsed
        else:  # next minute, as this one fades in turn
            wait = 60 - elapsed + 60 * (1 - (limit - 1) / self.current)
        return str(max(1, math.ceil(wait - 1e-9)))  # 1e-9: 60 * (1 - 2/3) is not quite 20
