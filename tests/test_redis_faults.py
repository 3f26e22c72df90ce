"""A Redis that freezes or leaves a lock behind costs each request a bounded moment, never
its answer: cache, single-flight, budgets and rate limits carry on as when Redis is down."""
from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Iterator

import pytest
import redis

from tests.conftest import RedisServer
from tests.helpers import free_port

Q = [{"role": "user", "content": "List three prime numbers."}]


@pytest.fixture
def own_redis(tmp_path: Path, _redis_server: RedisServer) -> Iterator[RedisServer]:
    """A redis-server of this test alone, which it may freeze (SIGSTOP); skips as the shared one does."""
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGCONT)
    server.stop()


async def test_frozen_redis_costs_a_request_well_under_a_second(make_gateway, own_redis, cloud):
    gw = make_gateway(redis_url=own_redis.url, global_budget_usd=100.0, rate_limits={"*": {"rpm": 1000}})
    client = gw.async_client()
    first = await client.chat.completions.with_raw_response.create(model="deepseek-chat", messages=Q, temperature=0)
    assert first.headers["x-r1gate-cache"] == "miss"
    assert own_redis.proc is not None
    os.kill(own_redis.proc.pid, signal.SIGSTOP)

    async def ask(n: int) -> str:  # cache read, single-flight lock, rate limit, budget: each on a frozen Redis
        answer = await client.chat.completions.create(
            model="deepseek-chat", messages=[{"role": "user", "content": f"Name {n} colours."}], temperature=0)
        return answer.choices[0].message.content

    # Answered before a client that waits one second gives up; then Redis is skipped at once.
    assert await asyncio.wait_for(ask(2), 1.0)
    assert all(await asyncio.wait_for(asyncio.gather(*(ask(n) for n in range(3, 11))), 1.0))


def test_lock_left_behind_is_waited_on_no_longer_than_the_upstream_timeout(make_gateway, own_redis, cloud):
    gw = make_gateway(redis_url=own_redis.url, timeouts={"total_s": 1})
    client = gw.client(timeout=10.0)
    client.chat.completions.create(model="deepseek-chat", messages=Q, temperature=0)
    r = redis.Redis(port=own_redis.port)
    [entry] = r.keys("r1gate:cache:*")
    r.delete(entry)
    r.set(entry + b":lock", b"1", px=120_000)  # as a leader cut off by a stalled Redis left it
    raw = client.chat.completions.with_raw_response.create(model="deepseek-chat", messages=Q, temperature=0)
    assert raw.parse().choices[0].message.content and raw.headers["x-r1gate-cache"] == "miss"
    assert len(cloud.bodies) == 2
