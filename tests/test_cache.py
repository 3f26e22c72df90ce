"""The response cache, against a real Redis (and the in-process one): invariants 4 and 6."""
from __future__ import annotations

import asyncio

import httpx
import pytest
import redis

from proxy.response_cache import ResponseCache
from proxy.config import CacheSettings
from tests.fake_deepseek import ANSWER, REASONING

Q = [{"role": "user", "content": "List three prime numbers."}]


def ask(gw, stream=False, key=None, messages=Q, **kw):
    """One request over HTTP, read to its end; returns (headers, text of the whole answer)."""
    client = gw.client(api_key=key or gw.key)
    if stream:
        with client.chat.completions.with_streaming_response.create(
                model="deepseek-reasoner", messages=messages, stream=True, **kw) as r:
            chunks = list(r.parse())
            headers = r.headers
        text = ("".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices),
                "".join(c.choices[0].delta.content or "" for c in chunks if c.choices),
                chunks[-1].usage.model_dump() if chunks[-1].usage else None)
        return headers, text
    raw = client.chat.completions.with_raw_response.create(model="deepseek-reasoner", messages=messages, **kw)
    r = raw.parse()
    return raw.headers, (r.choices[0].message.reasoning_content, r.choices[0].message.content, r.usage.model_dump())


@pytest.fixture(params=["memory", "redis"])
def cached_gateway(request, make_gateway, cloud, onprem):
    if request.param == "redis":
        return make_gateway(redis_url=request.getfixturevalue("redis_server").url)
    return make_gateway()


def test_hit_after_miss_and_replay_equality(cached_gateway, cloud):
    h1, first = ask(cached_gateway, temperature=0)
    h2, second = ask(cached_gateway, temperature=0)
    assert (h1["x-r1gate-cache"], h2["x-r1gate-cache"]) == ("miss", "hit")
    assert first == second == (REASONING, ANSWER, first[2])
    # A non-streamed entry serves a streamed request, reasoning and usage included.
    h3, streamed = ask(cached_gateway, stream=True, temperature=0, stream_options={"include_usage": True})
    assert h3["x-r1gate-cache"] == "hit" and streamed == (REASONING, ANSWER, first[2])
    assert len(cloud.bodies) == 1


def test_streamed_entry_serves_both(cached_gateway, cloud):
    _, live = ask(cached_gateway, stream=True, temperature=0, stream_options={"include_usage": True})
    h, replayed = ask(cached_gateway, stream=True, temperature=0, stream_options={"include_usage": True})
    assert h["x-r1gate-cache"] == "hit" and replayed == live
    h, whole = ask(cached_gateway, temperature=0)
    assert h["x-r1gate-cache"] == "hit" and whole == live
    assert len(cloud.bodies) == 1


def test_entries_are_per_team(cached_gateway, cloud):
    from proxy.keys import KeyStore

    other = KeyStore(cached_gateway.db()).create("team-b")
    ask(cached_gateway, temperature=0)
    h, _ = ask(cached_gateway, key=other, temperature=0)
    assert h["x-r1gate-cache"] == "miss" and len(cloud.bodies) == 2


def test_what_is_cached(cached_gateway, cloud, onprem):
    assert ask(cached_gateway, temperature=0.6)[0]["x-r1gate-cache"] == "bypass"
    opt_in = {"extra_headers": {"cache-control": "max-age=60"}}
    assert ask(cached_gateway, temperature=0.6, **opt_in)[0]["x-r1gate-cache"] == "miss"
    assert ask(cached_gateway, temperature=0.6, **opt_in)[0]["x-r1gate-cache"] == "hit"
    assert ask(cached_gateway, temperature=0, extra_headers={"cache-control": "no-store"})[0]["x-r1gate-cache"] == "bypass"
    fresh = {"extra_headers": {"cache-control": "no-cache"}}
    assert ask(cached_gateway, temperature=0, **fresh)[0]["x-r1gate-cache"] == "miss"
    assert ask(cached_gateway, temperature=0)[0]["x-r1gate-cache"] == "hit"  # no-cache still stored
    sensitive = [{"role": "user", "content": "Mail jeanne.martin@example.fr the primes."}]
    for _ in range(2):
        h, _ = ask(cached_gateway, messages=sensitive, temperature=0)
        assert (h["x-r1gate-route"], h["x-r1gate-cache"]) == ("onprem", "bypass")
    assert len(onprem.bodies) == 2


def test_keys_and_values_reveal_nothing(make_gateway, redis_server, cloud):
    gw = make_gateway(redis_url=redis_server.url)
    ask(gw, temperature=0)
    r = redis.Redis(port=redis_server.port)
    keys = r.keys("*")
    assert len(keys) == 1 and keys[0].startswith(b"r1gate:cache:")
    value = r.get(keys[0])
    for clear in (b"prime", b"Hello", ANSWER.encode()[:10], b"team-a"):
        assert clear not in keys[0] and clear not in value


def test_key_depends_on_team_route_model_policy():
    cache = ResponseCache(CacheSettings(), b"s" * 32, None)
    base = dict(team="a", route="cloud", upstream_model="m", policy_version="p1", body={"messages": Q, "model": "x"})
    variants = [dict(base, team="b"), dict(base, route="onprem"), dict(base, upstream_model="m2"),
                dict(base, policy_version="p2"), dict(base, body={"messages": Q, "model": "x", "temperature": 0})]
    keys = {cache.key(**v) for v in variants + [base]}
    assert len(keys) == len(variants) + 1
    # The stream flag and the client's name for the model do not split entries.
    assert cache.key(**dict(base, body={"messages": Q, "model": "y", "stream": True})) == cache.key(**base)
    assert ResponseCache(CacheSettings(), b"t" * 32, None).key(**base) != cache.key(**base)


async def test_single_flight_across_replicas(make_gateway, redis_server, cloud):
    a = make_gateway(redis_url=redis_server.url)
    b = make_gateway(redis_url=redis_server.url)
    cloud.delay_s = 0.5  # the first answer takes a while; everyone else arrives meanwhile
    clients = [a.async_client(), b.async_client()]
    results = await asyncio.gather(*(clients[i % 2].chat.completions.with_raw_response.create(
        model="deepseek-reasoner", messages=Q, temperature=0) for i in range(50)))
    assert len(cloud.bodies) == 1
    assert all(r.parse().choices[0].message.content == ANSWER for r in results)
    assert sorted(r.headers["x-r1gate-cache"] for r in results) == ["hit"] * 49 + ["miss"]
    for c in clients:
        await c.close()


def test_redis_killed_mid_run(make_gateway, redis_server, cloud):
    gw = make_gateway(redis_url=redis_server.url)
    assert ask(gw, temperature=0)[0]["x-r1gate-cache"] == "miss"
    assert ask(gw, temperature=0)[0]["x-r1gate-cache"] == "hit"
    redis_server.stop()
    for _ in range(3):  # still answering, from the upstream
        h, answer = ask(gw, temperature=0)
        assert answer[1] == ANSWER
    assert len(cloud.bodies) == 4
    ready = httpx.get(f"{gw.url}/readyz").json()
    assert ready["cache"] == "down" and ready["status"] == "degraded"
    assert "r1gate_redis_up 0.0" in httpx.get(f"{gw.url}/metrics").text


def _policy_with(tmp_path, **rule_cache):
    """The shipped policy, with a `cache` setting on its personal-data rule."""
    import yaml

    from tests.conftest import ROOT

    policy = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    for rule in policy["rules"]:
        if rule["id"] == "personal-data":
            rule["cache"] = rule_cache
    path = tmp_path / f"policy-{len(rule_cache)}-{'-'.join(map(str, rule_cache.values()))}.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True))
    return str(path)


def test_policy_rules_set_caching(make_gateway, tmp_path, cloud, onprem, redis_server):
    sensitive = [{"role": "user", "content": "Mail jeanne.martin@example.fr the primes."}]
    gw = make_gateway(policy=_policy_with(tmp_path, onprem=True, ttl_s=60), redis_url=redis_server.url)
    assert [ask(gw, messages=sensitive, temperature=0)[0]["x-r1gate-cache"] for _ in range(2)] == ["miss", "hit"]
    assert len(onprem.bodies) == 1
    ttl = redis.Redis(port=redis_server.port).pttl(redis.Redis(port=redis_server.port).keys("r1gate:cache:*")[0])
    assert 0 < ttl <= 60_000
    never = make_gateway(policy=_policy_with(tmp_path, ttl_s=0), cache={"onprem": True})
    assert ask(never, messages=sensitive, temperature=0)[0]["x-r1gate-cache"] == "bypass"


def test_fallback_answers_are_not_cached_for_the_cloud(make_gateway, cloud, onprem):
    gw = make_gateway()
    cloud.fail(503, times=3)  # the cloud is down: on-prem answers instead
    h, _ = ask(gw, temperature=0)
    assert (h["x-r1gate-route"], h["x-r1gate-cache"]) == ("onprem", "miss")
    h, _ = ask(gw, temperature=0)  # the cloud is back: it answers, and only now is the entry stored
    assert (h["x-r1gate-route"], h["x-r1gate-cache"]) == ("cloud", "miss")
    assert ask(gw, temperature=0)[0]["x-r1gate-cache"] == "hit"
    assert len(onprem.bodies) == 1 and len(cloud.bodies) == 4
