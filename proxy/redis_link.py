"""The shared Redis connection, behind a circuit breaker.

Every call is bounded by a short timeout: each socket operation, without retries, and the
call as a whole at twice that. A failure opens the breaker for a few seconds,
during which callers fall back at once (no cache, local budgets) instead of waiting on a
Redis that is down or slow; the first call after that probes Redis again.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, TypeVar
from urllib.parse import urlsplit

from .errors import ConfigError

T = TypeVar("T")
OPEN_FOR_S = 5.0


class RedisDown(Exception):
    """Redis is unavailable now; the caller carries on without it."""


class RedisLink:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.client = _client(url, timeout_s)
        self._timeout = timeout_s
        self._open_until = 0.0

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._open_until

    async def call(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        if not self.up:
            raise RedisDown()
        try:
            result = await asyncio.wait_for(fn(self.client), 2 * self._timeout)  # a busy event loop delays replies
        except Exception as exc:  # timeouts, refused connections, a Redis that lost its data…
            self._open_until = time.monotonic() + OPEN_FOR_S
            raise RedisDown() from exc
        return result

    async def aclose(self) -> None:
        await self.client.aclose()


def _client(url: str, timeout_s: float) -> Any:
    """redis://, rediss:// and unix:// (one server), redis+cluster://host:port (Redis Cluster),
    redis+sentinel://host:port,host:port/master-name[/db] (Sentinel)."""
    import redis.asyncio as redis

    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    # No retries: each would wait the timeout again on a frozen Redis.
    options = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s, "retry": Retry(NoBackoff(), 0)}
    if url.startswith(("redis://", "rediss://", "unix://")):
        return redis.from_url(url, **options)
    if url.startswith("redis+cluster://"):
        from redis.asyncio.cluster import RedisCluster

        return RedisCluster.from_url("redis://" + url.removeprefix("redis+cluster://"), **options)
    if url.startswith("redis+sentinel://"):
        from redis.asyncio.sentinel import Sentinel

        parts = urlsplit(url)
        hosts = [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1]) if ":" in h else 26379)
                 for h in parts.netloc.split("@")[-1].split(",")]
        path = [p for p in parts.path.split("/") if p]
        if not path:
            raise ConfigError("R1GATE_REDIS_URL: a Sentinel URL names the master: redis+sentinel://h:p/master")
        db = int(path[1]) if len(path) > 1 else 0
        return Sentinel(hosts, **options).master_for(path[0], db=db, password=parts.password, **options)
    raise ConfigError("R1GATE_REDIS_URL: must start with redis://, rediss://, unix://, redis+cluster:// "
                      "or redis+sentinel://")
