"""Budgets, rate limits, the priced ledger, the audit trail, reports and metrics."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy import ledger
from proxy.config import ModelSettings, OnpremCost, ReferencePrice
from proxy.keys import KeyStore
from proxy.prices import PriceTable, Pricing, Usage
from tests.conftest import CLOUD_KEY, wait_healthy
from tests.helpers import free_port, postgres_url

ROOT = Path(__file__).resolve().parent.parent
Q = [{"role": "user", "content": "Name a prime number."}]
UTC = timezone.utc


def test_price_windows_and_dates():
    table = PriceTable.load()
    at = lambda s: datetime.fromisoformat(s).replace(tzinfo=UTC)  # noqa: E731
    assert table.price("deepseek-reasoner", at("2025-03-03T12:00")).output == 2.19  # launch price
    assert table.price("deepseek-reasoner", at("2025-03-03T17:00")).output == 0.55  # off-peak 16:30-00:30
    assert table.price("deepseek-reasoner", at("2025-03-04T00:29")).output == 0.55  # wraps midnight
    assert table.price("deepseek-reasoner", at("2025-03-04T00:30")).output == 2.19
    assert table.price("deepseek-reasoner", at("2025-10-01T17:00")).output == 0.42  # discount ended
    assert table.price("deepseek-v4-pro", at("2026-11-27T02:00")).output == 3.96  # Friday, peak hours
    assert table.price("deepseek-v4-pro", at("2026-11-28T02:00")).output == 1.98  # Saturday: off-peak
    assert table.price("deepseek-v4-pro", at("2026-08-16T15:59")) is None  # not yet in force
    pricing = Pricing(table, OnpremCost(gpu_hour_usd=3.6, prompt_tokens_per_s=1000, completion_tokens_per_s=100),
                      ReferencePrice(input=15, output=60))
    usage = Usage(prompt_hit=1_000_000, prompt_miss=1_000_000, completion=1_000_000)
    costs = pricing.costs(ModelSettings(), "deepseek-reasoner", "cloud", usage, at("2025-03-03T12:00"))
    assert (round(costs.cost, 6), round(costs.reference, 6)) == (0.14 + 0.55 + 2.19, 30 + 60)
    onprem = pricing.costs(ModelSettings(), "deepseek-reasoner", "onprem", usage, at("2025-03-03T12:00"))
    assert round(onprem.cost, 6) == round((2_000_000 / 1000 + 1_000_000 / 100) * 3.6 / 3600, 6)
    assert onprem.cloud == costs.cloud


def test_bad_price_table(tmp_path):
    from proxy.errors import ConfigError

    path = tmp_path / "prices.yaml"
    path.write_text("- {model: m, from: 2026-01-01, hours: ['25:00-26:00'], input_cache_hit: 1, "
                    "input_cache_miss: 1, output: 1}\n")
    with pytest.raises(ConfigError, match="entry 1: hours"):
        PriceTable.load(path)


def test_ledger_matches_upstream_usage_and_audit_has_no_values(make_gateway, cloud, onprem):
    gw = make_gateway()
    client = gw.client()
    for i in range(5):
        client.chat.completions.create(model="deepseek-reasoner", messages=[{"role": "user", "content": "x " * i}])
    list(client.chat.completions.create(model="deepseek-chat", messages=Q, stream=True))
    client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "mail alain.roux@dupont-industries.fr"}])
    gw.stop()
    db = gw.db()
    rows = db.fetchall("SELECT prompt_hit_tokens + prompt_miss_tokens, completion_tokens, reasoning_tokens, "
                       "cost_usd, route FROM ledger")
    reported = cloud.reported + onprem.reported
    assert len(rows) == len(reported) == 7
    assert sum(r[0] for r in rows) == sum(u["prompt_tokens"] for u in reported)
    assert sum(r[1] for r in rows) == sum(u["completion_tokens"] for u in reported)
    assert sum(r[2] for r in rows) == sum(u["completion_tokens_details"]["reasoning_tokens"] for u in reported)
    assert all(r[3] > 0 for r in rows)
    trail = ledger.audit(db, rule="personal-data")
    assert len(trail) == 1 and trail[0]["route"] == "onprem" and trail[0]["entities"] == {"EMAIL_ADDRESS": 1}
    dump = json.dumps(ledger.audit(db))
    assert "alain.roux" not in dump and "prime" not in dump


def test_budget_rejects_before_the_upstream(make_gateway, cloud):
    gw = make_gateway()
    tiny = KeyStore(gw.db()).create("frugal", budget_usd=0.0001)
    with pytest.raises(openai.RateLimitError) as err:
        gw.client(api_key=tiny).chat.completions.create(model="deepseek-reasoner", messages=Q)  # reserves 32K tokens
    assert err.value.code == "insufficient_quota" and "Lower max_tokens" in err.value.message
    assert cloud.received == []
    r = gw.client(api_key=tiny).chat.completions.create(model="deepseek-reasoner", messages=Q, max_tokens=50)
    assert r.choices[0].message.content


def test_team_budget_and_rate_limit(make_gateway, cloud, tmp_path):
    gw = make_gateway(rate_limits={"*": {"rpm": 3}})
    env = {**os.environ, "PYTHONPATH": str(ROOT), "R1GATE_DATABASE_URL": gw.settings.database_url}
    subprocess.run([sys.executable, "-m", "proxy.cli", "budgets", "set", "--team", "team-a", "--usd", "0"],
                   env=env, check=True, capture_output=True)
    with pytest.raises(openai.RateLimitError, match="team 'team-a' has \\$0.0000 left of its \\$0.00 budget"):
        gw.client().chat.completions.create(model="deepseek-chat", messages=Q, max_tokens=10)
    fresh = make_gateway(rate_limits={"*": {"rpm": 3}}, database_url=f"sqlite:///{tmp_path / 'other.db'}")
    for _ in range(3):
        fresh.client().chat.completions.create(model="deepseek-chat", messages=Q)
    with pytest.raises(openai.RateLimitError) as err:
        fresh.client().chat.completions.create(model="deepseek-chat", messages=Q)
    # A sliding window: the refusal holds across a minute's boundary, until the three fade out of it.
    assert "3 requests in the last minute" in err.value.message
    assert 1 <= int(err.value.response.headers["retry-after"]) <= 80


def test_replicas_sharing_redis_share_a_teams_rate_window(make_gateway, cloud, redis_server):
    one, two = (make_gateway(redis_url=redis_server.url, rate_limits={"*": {"rpm": 3}}) for _ in range(2))
    for gw in (one, two, one):
        gw.client().chat.completions.create(model="deepseek-chat", messages=Q)
    with pytest.raises(openai.RateLimitError, match="more than 3 requests in the last minute"):
        two.client().chat.completions.create(model="deepseek-chat", messages=Q)
    with pytest.raises(openai.RateLimitError):  # the refusal was not counted, and the window is the same
        one.client().chat.completions.create(model="deepseek-chat", messages=Q)
    assert len(cloud.received) == 3  # refused requests never reach the cloud

def test_budget_race_two_gateway_processes(tmp_path, redis_server, cloud):
    """100 concurrent requests on two `r1gate serve` processes sharing Redis never spend
    more than the budget plus one request's reservation."""
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    from proxy.db import Database

    budget = 0.002
    key = KeyStore(Database(db_url)).create("racers", budget_usd=budget)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "R1GATE_CLOUD_URL": cloud.url, "R1GATE_CLOUD_API_KEY": CLOUD_KEY,
           "R1GATE_ONPREM_URL": "http://127.0.0.1:9/v1", "R1GATE_DATABASE_URL": db_url,
           "R1GATE_REDIS_URL": redis_server.url}
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, "-m", "proxy.cli", "serve", "--port", str(p)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p in ports]
    try:
        for p, proc in zip(ports, procs):
            wait_healthy(f"http://127.0.0.1:{p}", proc)

        async def race() -> list[int]:
            async with httpx.AsyncClient(timeout=30) as client:
                responses = await asyncio.gather(*(client.post(
                    f"http://127.0.0.1:{ports[i % 2]}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                    json={"model": "deepseek-reasoner", "max_tokens": 300,
                          "messages": [{"role": "user", "content": f"question {i} " * 20}]}) for i in range(100)))
            return [r.status_code for r in responses]

        statuses = asyncio.run(race())
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    ok = statuses.count(200)
    assert 0 < ok < 100 and statuses.count(429) == 100 - ok
    spent = Database(db_url).fetchone("SELECT SUM(cost_usd), COUNT(*) FROM ledger")
    assert spent[1] == ok == len(cloud.bodies)
    one_reservation = (300 * 2.19 + 200 * 0.55) / 1e6  # the launch price table is the dearest for R1
    assert spent[0] <= budget + one_reservation


def test_spend_report_and_endpoint(make_gateway, cloud, onprem):
    gw = make_gateway()
    admin = KeyStore(gw.db()).create("platform", admin=True)
    client = gw.client()
    client.chat.completions.create(model="deepseek-reasoner", messages=Q, temperature=0)
    client.chat.completions.create(model="deepseek-reasoner", messages=Q, temperature=0)  # a cache hit
    client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "mail beatrice.roux@dupont-industries.fr"}])
    gw.stop()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "R1GATE_DATABASE_URL": gw.settings.database_url}
    out = subprocess.run([sys.executable, "-m", "proxy.cli", "spend", "report", "--by", "route", "--format", "json"],
                         env=env, capture_output=True, text=True, check=True).stdout
    by_route = {row["route"]: row for row in json.loads(out)}
    assert by_route["cloud"]["requests"] == 2 and by_route["cloud"]["cache_hits"] == 1
    assert by_route["cloud"]["cache_saved_usd"] > 0 and by_route["onprem"]["requests"] == 1
    assert by_route["onprem"]["all_cloud_usd"] > 0 and by_route["cloud"]["reference_usd"] > by_route["cloud"]["cost_usd"]
    table = subprocess.run([sys.executable, "-m", "proxy.cli", "spend", "report", "--by", "day"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert "TOTAL" in table and datetime.now(UTC).strftime("%Y-%m-%d") in table
    audit = subprocess.run([sys.executable, "-m", "proxy.cli", "audit", "--route", "onprem", "--format", "csv"],
                           env=env, capture_output=True, text=True, check=True).stdout
    assert "personal-data" in audit and "EMAIL_ADDRESS=1" in audit and "beatrice" not in audit
    again = make_gateway(database_url=gw.settings.database_url)
    r = httpx.get(f"{again.url}/v1/spend?by=team", headers={"authorization": f"Bearer {admin}"})
    assert r.status_code == 200 and r.json()["data"][0]["team"] == "team-a"
    denied = httpx.get(f"{again.url}/v1/spend", headers={"authorization": f"Bearer {again.key}"})
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_error"


def test_metrics_scrape(gateway, cloud):
    gateway.client().chat.completions.create(model="deepseek-chat", messages=Q, temperature=0)
    gateway.client().chat.completions.create(model="deepseek-chat", messages=Q, temperature=0)
    text = httpx.get(f"{gateway.url}/metrics").text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("r1gate_requests_total", (("api", "chat"), ("route", "cloud"), ("status", "200"),
                                              ("team", "team-a")))] == 2
    assert samples[("r1gate_cache_requests_total", (("result", "hit"),))] == 1
    assert samples[("r1gate_cost_usd_total", (("route", "cloud"), ("team", "team-a")))] > 0
    assert samples[("r1gate_in_flight", ())] == 0
    cloud.hang_after = 2  # a stream that stays open
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers={"authorization": f"Bearer {gateway.key}"},
                      json={"model": "deepseek-chat", "messages": Q, "stream": True}) as r:
        lines = r.iter_lines()  # kept: a dropped line iterator closes the response
        assert next(lines).startswith("data: ")
        assert "r1gate_in_flight 1.0" in httpx.get(f"{gateway.url}/metrics").text


@pytest.fixture
def pg_schema():
    """A fresh schema in the test PostgreSQL; yields (host-less URL suffix, admin Database)."""
    from proxy.db import Database

    url = postgres_url()
    admin = Database(url)
    schema = f"r1gate_outage_{os.getpid()}"
    admin.execute(f"CREATE SCHEMA {schema}")
    yield url, schema
    admin.execute(f"DROP SCHEMA {schema} CASCADE")
    admin.close()


def test_database_outage_loses_no_ledger_record(make_gateway, cloud, pg_schema):
    from urllib.parse import urlsplit

    from tests.tcp_proxy import TcpProxy

    url, schema = pg_schema
    parts = urlsplit(url)
    proxy = TcpProxy(parts.port or 5432)
    proxy.start()
    via_proxy = f"{parts.scheme}://{parts.username or 'postgres'}@127.0.0.1:{proxy.port}{parts.path}" \
                f"?options=-csearch_path%3D{schema}"
    gw = make_gateway(database_url=via_proxy)
    client = gw.client()
    client.chat.completions.create(model="deepseek-chat", messages=Q)  # the key is verified and cached now
    unseen = KeyStore(gw.db()).create("team-b")
    proxy.cut()
    for i in range(5):  # answered while the database is down
        assert client.chat.completions.create(model="deepseek-chat", messages=Q).choices[0].message.content
    with pytest.raises(openai.InternalServerError) as err:  # a key it cannot check: retry later, not a bug
        gw.client(api_key=unseen).chat.completions.create(model="deepseek-chat", messages=Q)
    assert err.value.status_code == 503 and err.value.code == "database_unavailable"
    assert err.value.response.headers["retry-after"] == "5"
    ready = httpx.get(f"{gw.url}/readyz")
    assert ready.status_code == 503 and ready.json()["database"] == "unavailable"
    proxy.start()  # the database is back, on the same port
    gw.stop()  # shutdown flushes what is still queued
    from proxy.db import Database

    direct = Database(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}")
    assert direct.fetchone("SELECT COUNT(*) FROM ledger")[0] == 6
    assert direct.fetchone("SELECT COUNT(*) FROM audit")[0] == 6
    direct.close()
    proxy.cut()
