"""The audit trail's hash chain on real SQLite and PostgreSQL: tampering with a row in SQL is
named by `r1gate audit verify`; pruning, retried batches and concurrent replicas keep it whole;
`audit report` and `audit export` read it back."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from proxy import audit
from proxy.db import Database
from proxy.ledger import Ledger, Record
from proxy.prices import Costs, Usage
from tests.test_spend import pg_schema  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parent.parent
POLICY = str(ROOT / "policies" / "default.yaml")
UTC = timezone.utc


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.db'}"
    url, schema = request.getfixturevalue("pg_schema")  # a fresh schema, dropped after the test
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def record(i: int, *, route: str = "cloud", action: str = "cloud", entities: dict | None = None,
           pseudonymized: dict | None = None, ts: datetime | None = None, version: str = "v1") -> Record:
    return Record(request_id=f"req-{i}", team="team-a", key_id="k1", model="deepseek-chat", route=route,
                  status=200, policy_version=version, rules=("personal-data",) if entities else (),
                  entities=entities or {}, action=action, pseudonymized=pseudonymized or {},
                  usage=Usage(prompt_miss=10, completion=5), costs=Costs(0.000123 * i, 0.2, 0.3),
                  ts=ts or datetime.now(UTC))


def write(url: str, records: list[Record]) -> None:
    """Writes through the ledger, as the gateway does (its shutdown flushes the queue)."""
    db = Database(url)
    led = Ledger(db)
    for r in records:
        led.record(r)
    asyncio.run(led.aclose())
    db.close()


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "R1GATE_DATABASE_URL": url, "R1GATE_POLICY": POLICY}
    return subprocess.run([sys.executable, "-m", "proxy.cli", "audit", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60)


def test_intact_chain_then_an_edited_row_is_named(db_url):
    write(db_url, [record(i) for i in range(1, 8)])
    ok = cli(db_url, "verify")
    assert ok.returncode == 0, ok.stderr
    assert "audit chain intact: 7 records, seq 1..7" in ok.stdout

    db = Database(db_url)
    target = db.fetchone("SELECT id, request_id FROM audit WHERE seq = 4")
    db.execute("UPDATE audit SET route = 'onprem' WHERE seq = 4")  # someone hides a cloud request
    broken = cli(db_url, "verify")
    assert broken.returncode == 1
    assert f"BROKEN at record seq 4 (id {target[0]}, request {target[1]}" in broken.stdout
    assert "edited after it was written" in broken.stdout

    # Re-hashing the edited row does not help: the next record's previous-hash gives it away.
    row = db.fetchone(f"{audit._SELECT} WHERE seq = 4")
    db.execute("UPDATE audit SET hash = ? WHERE seq = 4", (audit.link(row[-2], 4, row[:len(audit.COLUMNS)]),))
    again = json.loads(cli(db_url, "verify", "--format", "json").stdout)
    assert again["intact"] is False and again["broken"]["seq"] == 5
    assert "previous-hash" in again["broken"]["reason"]
    db.close()


@pytest.mark.parametrize("tamper, seq, reason", [
    ("DELETE FROM audit WHERE seq = 3", 3, "missing (deleted)"),
    ("DELETE FROM audit WHERE seq = 5", 5, "last records were deleted"),
    ("UPDATE audit SET entities = '{}' WHERE seq = 2", 2, "edited"),
])
def test_deleted_or_emptied_rows_are_named(db_url, tamper, seq, reason):
    write(db_url, [record(i, entities={"PERSON": 1}, route="onprem", action="onprem") for i in range(1, 6)])
    db = Database(db_url)
    db.execute(tamper)
    result = audit.verify(db)
    assert not result.intact and result.broken["seq"] == seq and reason in result.broken["reason"]
    db.close()


def test_retried_batch_and_concurrent_replicas_make_one_chain(db_url):
    first = record(0)
    write(db_url, [first])
    write(db_url, [first])  # a retried batch whose commit had landed: not chained twice
    # Two replicas, each its own connection, flushing 1200 records each at the same time.
    threads = [threading.Thread(target=write, args=(db_url, [record(i) for i in range(1200)]))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db = Database(db_url)
    result = audit.verify(db)
    assert result.intact, result.broken
    assert (result.checked, result.head_seq) == (2401, 2401)
    assert db.fetchone("SELECT COUNT(*), COUNT(DISTINCT seq) FROM audit") == (2401, 2401)
    db.close()


def test_pruning_keeps_the_rest_verifiable(db_url):
    old = datetime.now(UTC) - timedelta(days=300)  # within the ledger's retention (400 days) when written
    write(db_url, [record(i, ts=old) for i in range(5)] + [record(i) for i in range(5, 9)])
    db = Database(db_url)
    now = datetime.now(UTC)
    gone = audit.prune(db, (now - timedelta(days=200)).isoformat(), now.isoformat())
    assert gone == 5
    result = audit.verify(db)
    assert result.intact and result.anchor_seq == 5 and (result.first_seq, result.checked) == (6, 4)
    assert "records up to seq 5 pruned" in result.summary()
    db.execute("UPDATE audit SET team = 'team-b' WHERE seq = 6")
    assert audit.verify(db).broken["seq"] == 6
    db.close()


def test_report_says_where_findings_went_and_what_reached_the_cloud(db_url):
    write(db_url, [
        record(1),
        record(2, route="onprem", action="onprem", entities={"PERSON": 2, "EMAIL_ADDRESS": 1}),
        record(3, route="cloud", action="redact", entities={"PERSON": 1}, pseudonymized={"PERSON": 1}),
        record(4, route="blocked", action="block", entities={"SECRET": 1}, version="v2"),
        record(5, route="cloud", action="cloud", entities={"FR_SIREN": 1}, version="v2"),  # public: not protected
    ])
    out = cli(db_url, "report", "--format", "json")
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["requests"] == 5
    assert rep["by_route"] == {"cloud": 3, "onprem": 1, "blocked": 1}
    assert rep["by_action"] == {"cloud": 2, "onprem": 1, "redact": 1, "block": 1}
    assert rep["findings"]["PERSON"] == {"onprem": 2, "redacted": 1, "blocked": 0, "not_sent": 0,
                                         "cloud_in_clear": 0}
    assert rep["findings"]["FR_SIREN"]["cloud_in_clear"] == 1 and "FR_SIREN" not in rep["protected_types"]
    assert {"PERSON", "SECRET", "EMAIL_ADDRESS"} <= set(rep["protected_types"])
    assert rep["policy_versions"]["v1"]["requests"] == 3 and rep["policy_versions"]["v2"]["requests"] == 2
    assert rep["verification"]["intact"] is True
    assert rep["statement"].startswith("No request with a finding of a protected type reached the cloud in clear")

    text = cli(db_url, "report").stdout
    assert "PERSON *" in text and "audit chain intact" in text

    write(db_url, [record(6, route="cloud", action="cloud", entities={"PERSON": 1})])  # a leak
    rep = json.loads(cli(db_url, "report", "--format", "json").stdout)
    assert rep["statement"].startswith("1 findings of a protected type reached the cloud in clear")

    db = Database(db_url)
    db.execute("UPDATE audit SET route = 'onprem' WHERE seq = 6")  # and someone hides it
    db.close()
    hidden = cli(db_url, "report", "--format", "json")
    assert hidden.returncode == 1
    assert json.loads(hidden.stdout)["statement"].startswith("No statement can be made: the audit chain is broken")


def test_export_streams_json_lines_in_a_period(db_url):
    day = datetime(2026, 11, 2, 9, tzinfo=UTC)
    write(db_url, [record(i, ts=day + timedelta(days=i), entities={"PERSON": 1}, route="onprem")
                   for i in range(4)])
    out = cli(db_url, "export", "--since", "2026-11-03", "--until", "2026-11-05")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["request_id"] for r in lines] == ["req-1", "req-2"]
    assert lines[0]["entities"] == {"PERSON": 1} and lines[0]["rules"] == ["personal-data"]
    assert lines[1]["prev_hash"] == lines[0]["hash"] and len(lines[0]["hash"]) == 64


def test_bad_dates_exit_2(tmp_path):
    out = cli(f"sqlite:///{tmp_path / 'a.db'}", "report", "--since", "last week")
    assert out.returncode == 2 and "--since: expected a date" in out.stderr


def test_gateway_traffic_is_chained(make_gateway, cloud, onprem):
    gw = make_gateway()
    client = gw.client()
    client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "Name a prime."}])
    client.chat.completions.create(model="deepseek-chat", messages=[
        {"role": "user", "content": "Write to beatrice.martin@example.fr about her contract."}])
    gw.stop()
    url = gw.settings.database_url
    assert cli(url, "verify").returncode == 0
    exported = cli(url, "export").stdout
    assert "beatrice" not in exported and '"EMAIL_ADDRESS":1' in exported
    rep = json.loads(cli(url, "report", "--format", "json").stdout)
    assert rep["findings"]["EMAIL_ADDRESS"]["onprem"] == 1 and rep["by_route"] == {"cloud": 1, "onprem": 1}
