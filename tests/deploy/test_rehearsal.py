"""Multi-replica rehearsal: two `r1gate serve` behind HAProxy (deploy/local/cluster.py), one
PostgreSQL, one Redis, fake DeepSeek upstreams; mixed traffic while one replica is SIGKILLed
and the other gets SIGTERM, each then restarted.

Only public interfaces: the CLI, HTTP through the OpenAI SDK, R1GATE_* variables, HAProxy's
stats socket, and the ledger table as the gateway writes it. The scenario runs once per
module; each test checks one promise and the figures are printed.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
import openai
import pytest

from tests.conftest import ROOT
from tests.fake_deepseek import Fake, app as fake_app
from tests.servers import ServerThread

sys.path.insert(0, str(ROOT / "deploy" / "local"))
import cluster as local_cluster  # noqa: E402  (deploy/local/cluster.py)

R1GATE = [sys.executable, "-m", "proxy.cli"]
BUDGET_USD = 0.0001  # team "tight": a handful of requests at max_tokens=50
MARKER = "dupont-industries.fr"  # in every sensitive prompt, in an e-mail address
SETTINGS = """
cache: {flight_wait_s: 5}
retries: {attempts: 2, backoff_s: 0.05, max_backoff_s: 0.2}
timeouts: {connect_s: 2, first_byte_s: 30, idle_s: 30, total_s: 60}
"""
RETRYABLE = {"503", "reset"}


def slow_stream(app: Any, chunk_delay_s: float) -> Any:
    """A DeepSeek that streams slowly, as under load: each SSE chunk waits a little."""

    async def wrapped(scope: dict, receive: Any, send: Any) -> None:
        async def slow_send(message: dict) -> None:
            if message["type"] == "http.response.body" and message.get("more_body"):
                await asyncio.sleep(chunk_delay_s)
            await send(message)

        await app(scope, receive, slow_send)

    return wrapped


@dataclass
class Result:
    id: str
    kind: str  # plain | stream | sensitive | cached | tight | drain
    phase: str  # warm | kill | after-kill | drain | after-restart
    outcome: str = ""  # "200", another status, "reset" (connection lost), or "other:<exception>"
    replica: str | None = None  # who answered, from HAProxy's x-r1gate-replica header
    route: str | None = None
    cache: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    complete: bool = False  # the whole answer arrived (a stream: up to its usage chunk)


@dataclass
class Rehearsal:
    results: list[Result] = field(default_factory=list)
    cloud_bodies: list[dict] = field(default_factory=list)
    upstream_calls: Counter = field(default_factory=Counter)  # x-request-id → calls the fakes received
    ledger: dict[str, list[tuple]] = field(default_factory=dict)  # request_id → rows
    killed_pid: int = 0
    drain_exit: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def of(self, **kw: Any) -> list[Result]:
        return [r for r in self.results if all(getattr(r, k) == v for k, v in kw.items())]


def _messages(kind: str, n: int) -> list[dict]:
    text = {
        "plain": f"Plan a team offsite for {n + 8} people in spring.",
        "stream": f"Explain step {n} of brewing coffee.",
        "sensitive": f"Write to jean.martin{n}@{MARKER} about his contract renewal.",
        "cached": "What is the capital of France?",
        "tight": f"Summarise the meeting notes, part {n}.",
        "drain": f"Tell a long story, chapter {n}.",
    }[kind]
    return [{"role": "user", "content": text}]


class Driver:
    def __init__(self, lb: str, keys: dict[str, str]) -> None:
        self.lb, self.keys, self.results, self._n = lb, keys, [], 0

    def client(self, team: str, base: str | None = None) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{base or self.lb}/v1", api_key=self.keys[team], max_retries=0,
                                  timeout=60)

    def _new(self, kind: str, phase: str) -> Result:
        self._n += 1
        result = Result(f"rh-{phase}-{kind}-{self._n}", kind, phase)
        self.results.append(result)
        return result

    async def send(self, kind: str, phase: str) -> Result:
        r = self._new(kind, phase)
        team = "tight" if kind == "tight" else "apps"
        args: dict[str, Any] = {"model": "deepseek-chat", "messages": _messages(kind, self._n),
                                "extra_headers": {"x-request-id": r.id}}
        if kind == "stream":
            args.update(model="deepseek-reasoner", stream=True, stream_options={"include_usage": True})
        if kind == "cached":
            args["temperature"] = 0
        if kind == "tight":
            args["max_tokens"] = 50
        try:
            raw = await self.client(team).chat.completions.with_raw_response.create(**args)
            self._headers(r, raw.headers)
            r.outcome = "200"
            if kind == "stream":
                await self._read_stream(r, raw.parse())
            else:
                self._usage(r, raw.parse().usage)
                r.complete = True
        except openai.APIStatusError as exc:
            r.outcome = str(exc.status_code)
            self._headers(r, exc.response.headers)
        except (openai.APIConnectionError, httpx.TransportError):
            r.outcome = "reset"
        except Exception as exc:  # anything else is a failure the assertions report
            r.outcome = f"other:{type(exc).__name__}"
        return r

    async def open_stream(self, base: str, replica: str, phase: str) -> tuple[Result, Any]:
        """A stream straight to one replica, returned once its first chunk arrived."""
        r = self._new("drain", phase)
        r.replica = replica
        raw = await self.client("apps", base).chat.completions.with_raw_response.create(
            model="deepseek-reasoner", messages=_messages("drain", self._n), stream=True,
            stream_options={"include_usage": True}, extra_headers={"x-request-id": r.id})
        self._headers(r, raw.headers)
        r.outcome = "200"
        stream = raw.parse()
        first = await stream.__anext__()
        assert first.choices, "the first chunk carries a delta"
        return r, stream

    async def finish_stream(self, r: Result, stream: Any) -> None:
        try:
            await self._read_stream(r, stream)
        except (openai.APIConnectionError, httpx.TransportError):
            r.outcome = "reset"

    async def _read_stream(self, r: Result, stream: Any) -> None:
        async for chunk in stream:
            if chunk.usage is not None:
                self._usage(r, chunk.usage)
        r.complete = r.prompt_tokens is not None  # the stream ended with [DONE], after its usage

    @staticmethod
    def _headers(r: Result, headers: Any) -> None:
        r.replica = headers.get("x-r1gate-replica", r.replica)
        r.route, r.cache = headers.get("x-r1gate-route"), headers.get("x-r1gate-cache")

    @staticmethod
    def _usage(r: Result, usage: Any) -> None:
        r.prompt_tokens, r.completion_tokens = usage.prompt_tokens, usage.completion_tokens

    async def batch(self, phase: str, mix: dict[str, int]) -> list[Result]:
        kinds = [k for k, n in mix.items() for _ in range(n)]
        return await asyncio.gather(*(self.send(kind, phase) for kind in kinds))


MIX = {"plain": 8, "stream": 8, "sensitive": 8, "cached": 6, "tight": 4}


async def _scenario(c: local_cluster.Cluster, driver: Driver, cloud: Fake, onprem: Fake, rh: Rehearsal) -> None:
    loop = asyncio.get_running_loop()
    gw1, gw2 = c.replicas
    t0 = loop.time()

    # Warm: every kind once, the cached answer stored (later ones are hits, on either replica).
    await driver.send("cached", "warm")
    await driver.batch("warm", {k: 2 for k in MIX})
    rh.seconds["warm"] = loop.time() - t0

    # SIGKILL gw1 while a batch is in flight: once several of its requests reached the fakes.
    t = loop.time()
    batch = asyncio.ensure_future(driver.batch("kill", MIX))
    while sum(1 for r in driver.results if r.phase == "kill" and rh_calls(cloud, onprem)[r.id]) < 8:
        if batch.done():
            break
        await asyncio.sleep(0.01)
    rh.killed_pid = gw1.proc.pid if gw1.proc else 0
    await asyncio.to_thread(gw1.kill)
    await batch
    rh.seconds["kill"] = loop.time() - t

    # gw1 restarts while gw2 serves alone: no client sees an error.
    t = loop.time()
    await asyncio.to_thread(gw1.start)
    await driver.batch("after-kill", MIX)
    await asyncio.to_thread(gw1.wait_ready)
    await asyncio.to_thread(c.wait_backends, {"gw1": "UP"})
    rh.seconds["after-kill"] = loop.time() - t

    # SIGTERM gw2 with streams in flight on it and traffic through the load balancer.
    t = loop.time()
    streams = await asyncio.gather(*(driver.open_stream(gw2.url, "gw2", "drain") for _ in range(4)))
    traffic = asyncio.ensure_future(driver.batch("drain", MIX))
    gw2.terminate()
    await asyncio.gather(*(driver.finish_stream(r, s) for r, s in streams))
    await traffic
    rh.drain_exit = await asyncio.to_thread(gw2.wait_exit)
    rh.seconds["drain"] = loop.time() - t

    # gw2 comes back; traffic throughout.
    t = loop.time()
    await asyncio.to_thread(gw2.start)
    await driver.batch("after-restart", MIX)
    await asyncio.to_thread(gw2.wait_ready)
    await asyncio.to_thread(c.wait_backends, {"gw1": "UP", "gw2": "UP"})
    await driver.batch("after-restart", MIX)
    rh.seconds["after-restart"] = loop.time() - t


def rh_calls(cloud: Fake, onprem: Fake) -> Counter:
    """How many times each x-request-id reached a fake upstream."""
    calls: Counter = Counter()
    for fake in (cloud, onprem):
        with fake.lock:
            calls.update(r["headers"].get("x-request-id") for r in fake.received
                         if r["path"].endswith("chat/completions"))
    return calls


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*R1GATE, *args], env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory, _redis_server: Any) -> Iterator[Rehearsal]:
    import psycopg

    if shutil.which("haproxy") is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI needs haproxy")
        pytest.skip("haproxy is not installed")
    url = os.environ.get("R1GATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        admin = psycopg.connect(url, autocommit=True)
    except psycopg.Error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL at {url} (CI requires one)")
    schema = f"r1gate_rehearsal_{os.getpid()}"
    admin.execute(f"CREATE SCHEMA {schema}")
    db_url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    _redis_server.flush()
    workdir = tmp_path_factory.mktemp("rehearsal")
    (workdir / "r1gate.yaml").write_text(SETTINGS)
    cloud, onprem = Fake(delay_s=0.1), Fake()
    rh = Rehearsal()
    try:
        with ServerThread(slow_stream(fake_app(cloud), 0.05)) as cloud_srv, ServerThread(fake_app(onprem)) as onprem_srv:
            env = {"R1GATE_DATABASE_URL": db_url, "R1GATE_REDIS_URL": _redis_server.url,
                   "R1GATE_CLOUD_URL": cloud_srv.url, "R1GATE_CLOUD_API_KEY": "sk-cloud-rehearsal-0123456789",
                   "R1GATE_ONPREM_URL": f"{onprem_srv.url}/v1", "R1GATE_INSPECTION_WORKERS": "1",
                   "R1GATE_POLICY": str(ROOT / "policies" / "default.yaml")}
            keys = {team: _cli(env, "keys", "create", "--team", team).split()[-1] for team in ("apps", "tight")}
            _cli(env, "budgets", "set", "--team", "tight", "--usd", str(BUDGET_USD))
            with local_cluster.running(workdir, env, 2, workdir / "r1gate.yaml") as c:
                driver = Driver(c.url, keys)
                asyncio.run(_scenario(c, driver, cloud, onprem, rh))
            # Both replicas stopped with SIGTERM: whatever they queued for the ledger is written.
            rh.results = driver.results
            rh.cloud_bodies = cloud.bodies
            rh.upstream_calls = rh_calls(cloud, onprem)
        with psycopg.connect(db_url) as conn:
            for row in conn.execute("SELECT request_id, team, route, status, cache, prompt_hit_tokens + "
                                    "prompt_miss_tokens, completion_tokens, cost_usd FROM ledger"):
                rh.ledger.setdefault(row[0], []).append(row)
        yield rh
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def _killed(rh: Rehearsal, r: Result) -> bool:
    """Answered by the gw1 process that was SIGKILLed (the restarted one serves later phases)."""
    return r.replica == "gw1" and r.phase in ("warm", "kill")


def test_figures(rehearsal: Rehearsal, capsys: pytest.CaptureFixture) -> None:
    rh = rehearsal
    outcomes = {p: dict(Counter(r.outcome for r in rh.results if r.phase == p))
                for p in ("warm", "kill", "after-kill", "drain", "after-restart")}
    answered = [r for r in rh.results if r.complete]
    lost = [r for r in answered if _killed(rh, r) and r.id not in rh.ledger]
    with capsys.disabled():
        print("\nrehearsal: 2 replicas behind HAProxy, PostgreSQL, Redis, fake DeepSeek (loopback)")
        print(f"  requests {len(rh.results)}, answered completely {len(answered)}, "
              f"phases (s): {', '.join(f'{k} {v:.1f}' for k, v in rh.seconds.items())}")
        for phase, counts in outcomes.items():
            print(f"  {phase:<14} {counts}")
        print(f"  routes: {dict(Counter(r.route for r in answered))}, cache: {dict(Counter(r.cache for r in answered))}, "
              f"replicas: {dict(Counter(r.replica for r in answered))}")
        print(f"  upstream calls {sum(rh.upstream_calls.values())} (cloud {len(rh.cloud_bodies)}), "
              f"ledger rows {sum(map(len, rh.ledger.values()))}, answered by the killed replica without "
              f"a ledger row: {len(lost)}")
        tight = sum(row[7] for rows in rh.ledger.values() for row in rows if row[1] == "tight")
        print(f"  team 'tight': spent ${tight:.7f} of ${BUDGET_USD}, "
              f"{len([r for r in rh.results if r.kind == 'tight' and r.outcome == '429'])} refused (429)")
        print(f"  SIGTERM: {len(rh.of(kind='drain', complete=True))}/{len(rh.of(kind='drain'))} in-flight streams "
              f"finished, exit status {rh.drain_exit}")
    assert rh.results


def test_no_sensitive_request_reaches_the_cloud(rehearsal: Rehearsal) -> None:
    assert not [b for b in rehearsal.cloud_bodies if MARKER in json.dumps(b)]
    sensitive = [r for r in rehearsal.results if r.kind == "sensitive" and r.outcome == "200"]
    assert sensitive and {r.route for r in sensitive} == {"onprem"}


def test_clients_see_only_retryable_errors_and_only_during_the_kill(rehearsal: Rehearsal) -> None:
    def errors(phase: str) -> list[str]:
        return [r.outcome for r in rehearsal.results if r.phase == phase and r.outcome != "200"
                and not (r.kind == "tight" and r.outcome == "429")]

    assert set(errors("kill")) <= RETRYABLE
    for phase in ("warm", "after-kill", "drain", "after-restart"):
        assert errors(phase) == [], phase
    assert all(r.complete for r in rehearsal.results if r.outcome == "200" and r.phase != "kill")


def test_sigterm_drains_in_flight_streams(rehearsal: Rehearsal) -> None:
    drained = rehearsal.of(kind="drain")
    assert len(drained) == 4 and all(r.complete and r.completion_tokens for r in drained)
    assert rehearsal.drain_exit is not None  # it did exit, after the streams ended


def test_every_answered_request_has_one_ledger_record_matching_the_upstream(rehearsal: Rehearsal) -> None:
    rh = rehearsal
    assert all(len(rows) == 1 for rows in rh.ledger.values()), "a request recorded twice"
    survivors = [r for r in rh.results if r.complete and not _killed(rh, r)]
    assert survivors and all(r.id in rh.ledger for r in survivors)
    for r in survivors:
        (row,) = rh.ledger[r.id]
        if r.cache != "hit":  # billed with the usage of the upstream call that was answered
            # HAProxy resends a request the killed replica took but never answered: if that
            # replica had already called the upstream, the upstream saw it twice.
            assert rh.upstream_calls[r.id] == 1 or (r.phase == "kill" and rh.upstream_calls[r.id] == 2), r.id
            assert (row[5], row[6]) == (r.prompt_tokens, r.completion_tokens), r.id
        else:
            assert rh.upstream_calls[r.id] == 0, r.id
    billed = [r for r in survivors if r.cache != "hit"]
    ledger_sum = sum(rh.ledger[r.id][0][6] for r in billed)
    assert ledger_sum == sum(r.completion_tokens for r in billed)
    # Outside the kill, every upstream call belongs to exactly one answered, recorded request.
    calm = [rid for rid in rh.upstream_calls if rid and "-kill-" not in rid and "-warm-" not in rid]
    assert all(rh.upstream_calls[rid] == 1 and rid in rh.ledger for rid in calm)


def test_team_budget_is_never_overspent(rehearsal: Rehearsal) -> None:
    rh = rehearsal
    spent = sum(row[7] for rows in rh.ledger.values() for row in rows if row[1] == "tight")
    # Reservations are atomic in Redis across replicas: spend stays within the budget (the
    # promise allows one reservation more; a SIGKILLed reservation holds budget back until its lease lapses).
    assert 0 < spent <= BUDGET_USD + 1e-12
    assert rh.of(kind="tight", outcome="429"), "the budget was reached"


def test_sigkill_loses_no_answered_ledger_record(rehearsal: Rehearsal) -> None:
    killed = [r for r in rehearsal.results if r.complete and _killed(rehearsal, r)]
    assert [r.id for r in killed if r.id not in rehearsal.ledger] == []
