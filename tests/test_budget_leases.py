"""A replica killed mid-request holds the budget it reserved only until its lease lapses.

Two `Limits`, as two replicas would have, share a real Redis and database; the first one
reserves and then never settles (what SIGKILL leaves behind)."""
from __future__ import annotations

import asyncio
import time

import pytest
import redis

from proxy.db import Database
from proxy.errors import QuotaExceeded
from proxy.keys import Principal
from proxy.limits import Limits
from proxy.redis_link import RedisLink

WHO = Principal("key-1", "team-a", budget_usd=1.0)
LEASE_S = 0.5


def _limits(db: Database, url: str) -> Limits:
    return Limits(db, RedisLink(url, 0.5), None, {}, lease_s=LEASE_S)


def _wait_until_lapsed(url: str) -> None:
    """Until Redis' clock (the one the leases use) is past every lease now held."""
    r = redis.Redis.from_url(url)
    expiries = [score for key in r.scan_iter("r1gate:{budget}:*:leases")
                for _, score in r.zrange(key, 0, -1, withscores=True)]
    while (lambda t: t[0] + t[1] / 1e6)(r.time()) <= max(expiries):
        time.sleep(0.05)  # polls a condition; nothing waits on a guess


def _held(url: str) -> tuple[float, float]:
    r = redis.Redis.from_url(url)
    (key,) = [k for k in r.scan_iter("r1gate:{budget}:*:key:key-1")]
    spent, reserved = r.hmget(key, "spent", "reserved")
    return float(spent), float(reserved)


def test_a_dead_replicas_reservation_is_released_when_its_lease_lapses(tmp_path, redis_server):
    db = Database(f"sqlite:///{tmp_path / 'ledger.db'}")
    dead, alive = _limits(db, redis_server.url), _limits(db, redis_server.url)

    async def scenario() -> None:
        await dead.reserve(WHO, 0.8)  # then SIGKILL: never settled
        with pytest.raises(QuotaExceeded):
            await alive.reserve(WHO, 0.5)
        await asyncio.to_thread(_wait_until_lapsed, redis_server.url)
        kept = await alive.reserve(WHO, 0.5)
        await alive.settle(kept, 0.25)

    asyncio.run(scenario())
    assert _held(redis_server.url) == pytest.approx((0.25, 0.0))


def test_a_lapsed_lease_is_released_once_even_if_its_request_settles_late(tmp_path, redis_server):
    db = Database(f"sqlite:///{tmp_path / 'ledger.db'}")
    slow, other = _limits(db, redis_server.url), _limits(db, redis_server.url)

    async def scenario() -> None:
        late = await slow.reserve(WHO, 0.6)
        await asyncio.to_thread(_wait_until_lapsed, redis_server.url)
        await other.reserve(WHO, 0.3)  # its sweep releases the lapsed lease
        await slow.settle(late, 0.1)  # the cost counts; the reservation is not released twice

    asyncio.run(scenario())
    assert _held(redis_server.url) == pytest.approx((0.1, 0.3))
