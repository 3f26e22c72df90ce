"""`r1gate keys revoke` bites at once on every replica sharing Redis, though the key was
verified (and cached) by each of them a moment before."""
from __future__ import annotations

import openai
import pytest

from tests.test_cli import run

Q = [{"role": "user", "content": "Say hello."}]


def test_revoked_key_is_refused_at_once_by_every_replica(make_gateway, redis_server, cloud):
    a = make_gateway(redis_url=redis_server.url, key_cache_ttl_s=3600)  # the cache alone would keep it an hour
    b = make_gateway(redis_url=redis_server.url, key_cache_ttl_s=3600)
    key = run("keys", "create", "--team", "ops", env={"R1GATE_DATABASE_URL": a.settings.database_url}
              ).stdout.strip().splitlines()[-1]
    for gw in (a, b):
        assert gw.client(api_key=key).chat.completions.create(model="deepseek-chat", messages=Q).choices
    revoked = run("keys", "revoke", key.split("-")[2],
                  env={"R1GATE_DATABASE_URL": a.settings.database_url, "R1GATE_REDIS_URL": redis_server.url})
    assert revoked.returncode == 0 and revoked.stderr == ""
    for gw in (a, b):
        with pytest.raises(openai.AuthenticationError, match="revoked"):
            gw.client(api_key=key).chat.completions.create(model="deepseek-chat", messages=Q)
        with pytest.raises(openai.AuthenticationError, match="revoked"):
            gw.client(api_key=key).post("/route/explain", cast_to=object, body={"model": "deepseek-chat",
                                                                                "messages": Q})
    assert a.client().chat.completions.create(model="deepseek-chat", messages=Q).choices  # other keys work


def test_revoke_says_when_replicas_cannot_be_told_at_once(make_gateway, cloud):
    gw = make_gateway()
    env = {"R1GATE_DATABASE_URL": gw.settings.database_url, "R1GATE_REDIS_URL": "redis://127.0.0.1:9/0"}
    revoked = run("keys", "revoke", gw.key.split("-")[2], env=env)
    assert revoked.returncode == 0 and "Redis is unreachable" in revoked.stderr and "2 s" in revoked.stderr
