"""Leaks and over-routing of labelled request sets, end to end through `r1gate serve`.

    .venv/bin/python bench/routing_quality.py SET.jsonl [SET.jsonl ...] [--concurrency 4] [--json]

Starts a fake DeepSeek cloud and a fake on-prem engine (`tests/fake_deepseek.py`, real HTTP
servers on loopback) and `r1gate serve` as a subprocess with the shipped default policy, a
scratch SQLite database and a key of team `eval`. Every request of every set goes over HTTP
as is (cache bypassed); leaks and over-routing are counted by `tests/inspection/evaluate.py`
on what the fake cloud actually received. Prints totals, then leaks and over-routing by
category and by language, then the ids of the failures; never a value.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx
from harness import ROOT, free_port

sys.path.insert(0, str(ROOT))
from tests.conftest import wait_healthy  # noqa: E402
from tests.fake_deepseek import Fake, app as fake_app  # noqa: E402
from tests.inspection.evaluate import Report, evaluate, load  # noqa: E402
from tests.servers import ServerThread  # noqa: E402


@dataclass
class Outcome:
    status: int | None  # None: no HTTP answer at all
    route: str  # x-r1gate-route, or "" without one
    sent: str | None  # what the fake cloud received for it, or None


def gateway_env(cloud: str, onprem: str, workdir: Path) -> dict[str, str]:
    """The environment without any R1GATE_* the caller has set, so the embedded defaults apply."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("R1GATE_")}
    return {**env, "R1GATE_CLOUD_URL": cloud, "R1GATE_CLOUD_API_KEY": "sk-eval-cloud",
            "R1GATE_ONPREM_URL": f"{onprem}/v1", "R1GATE_POLICY": str(ROOT / "policies" / "default.yaml"),
            "R1GATE_DATABASE_URL": f"sqlite:///{workdir / 'eval.db'}", "PYTHONPATH": str(ROOT)}


async def send_all(records: list[dict], base: str, key: str, cloud: Fake, concurrency: int) -> dict[int, Outcome]:
    """Every record's request through the gateway; outcomes keyed by id() of the request dict."""
    answers: dict[int, tuple[str, int | None, str]] = {}
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120, headers={
            "authorization": f"Bearer {key}", "cache-control": "no-store"}) as client:
        async def one(n: int, request: dict) -> None:
            request_id = f"eval-{n}"
            async with gate:
                try:
                    r = await client.post("/v1/chat/completions", json=request, headers={"x-request-id": request_id})
                    answers[id(request)] = (request_id, r.status_code, r.headers.get("x-r1gate-route", ""))
                except httpx.HTTPError:
                    answers[id(request)] = (request_id, None, "")

        await asyncio.gather(*(one(n, r["request"]) for n, r in enumerate(records)))
    seen = defaultdict(list)  # request id -> everything the cloud received for it (retries too)
    with cloud.lock:
        for x in cloud.received:
            seen[x["headers"].get("x-request-id")].append(x)
    return {k: Outcome(status, route, json.dumps(seen[rid], ensure_ascii=False) if seen.get(rid) else None)
            for k, (rid, status, route) in answers.items()}


def breakdown(records: list[dict], report: Report, field: str) -> dict[str, dict]:
    leaks, over = set(report.leaks), set(report.over_routed)
    rows: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        row = rows[r[field]]
        if r["sensitive"]:
            row["sensitive"] += 1
            row["leaks"] += r["id"] in leaks
        else:
            row["harmless"] += 1
            row["over_routed"] += r["id"] in over
    return {name: _rates(dict(row)) for name, row in sorted(rows.items())}


def _rates(row: dict) -> dict:
    sensitive, harmless = row.get("sensitive", 0), row.get("harmless", 0)
    return {"sensitive": sensitive, "leaks": row.get("leaks", 0),
            "leak_rate": row.get("leaks", 0) / sensitive if sensitive else None,
            "harmless": harmless, "over_routed": row.get("over_routed", 0),
            "over_routing_rate": row.get("over_routed", 0) / harmless if harmless else None}


async def measure(path: str, records: list[dict], outcomes: dict[int, Outcome]) -> dict:
    async def cloud_received(request: dict) -> str | None:
        return outcomes[id(request)].sent

    report = await evaluate(records, cloud_received)
    mine = [outcomes[id(r["request"])] for r in records]
    return {
        "file": path, "total": report.total,
        **_rates({"sensitive": report.sensitive, "leaks": len(report.leaks),
                  "harmless": report.harmless, "over_routed": len(report.over_routed)}),
        "routes": dict(Counter(o.route or "none" for o in mine)),
        "by_category": breakdown(records, report, "category"),
        "by_lang": breakdown(records, report, "lang"),
        "leak_ids": report.leaks, "over_routed_ids": report.over_routed,
        "errors": {r["id"]: o.status for r, o in zip(records, mine) if o.status not in (200, 403)},
    }


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def table(title: str, rows: dict[str, dict]) -> list[str]:
    lines = [f"| {title} | sensitive | leaks | leak rate | harmless | over-routed | over-routing |",
             "|---|---|---|---|---|---|---|"]
    for name, x in rows.items():
        lines.append(f"| {name} | {x['sensitive']} | {x['leaks']} | {_pct(x['leak_rate'])} | "
                     f"{x['harmless']} | {x['over_routed']} | {_pct(x['over_routing_rate'])} |")
    return lines


def text(result: dict) -> str:
    lines = [f"## {result['file']}",
             f"{result['total']} requests: {result['leaks']} leaks of {result['sensitive']} sensitive "
             f"({_pct(result['leak_rate'])}), {result['over_routed']} over-routed of {result['harmless']} harmless "
             f"({_pct(result['over_routing_rate'])}); routes: "
             + ", ".join(f"{k} {v}" for k, v in sorted(result["routes"].items())), ""]
    lines += table("category", result["by_category"]) + [""] + table("language", result["by_lang"]) + [""]
    lines.append("leaks: " + (", ".join(result["leak_ids"]) or "none"))
    lines.append("over-routed: " + (", ".join(result["over_routed_ids"]) or "none"))
    if result["errors"]:
        lines.append("errors (not 200/403): " + ", ".join(f"{i} ({s or 'no answer'})"
                                                          for i, s in result["errors"].items()))
    return "\n".join(lines) + "\n"


def commit() -> str:
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return head.stdout.strip() + ("+changes" if dirty else "") if head.returncode == 0 else "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="+", help="labelled JSONL files (id, lang, category, sensitive, values, request)")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args()
    sets = {}
    for path in args.sets:
        try:
            sets[path] = load(path)
        except (OSError, ValueError) as exc:
            ap.exit(2, f"{path}: {exc}\n")
    workdir = Path(tempfile.mkdtemp(prefix="r1gate-eval-"))
    cloud, onprem = Fake(), Fake()
    with ServerThread(fake_app(cloud)) as cloud_srv, ServerThread(fake_app(onprem)) as onprem_srv:
        env = gateway_env(cloud_srv.url, onprem_srv.url, workdir)
        made = subprocess.run([sys.executable, "-m", "proxy.cli", "keys", "create", "--team", "eval"],
                              env=env, cwd=ROOT, capture_output=True, text=True)
        if made.returncode:
            ap.exit(2, f"r1gate keys create failed: {made.stderr.strip()}\n")
        port = free_port()
        with open(workdir / "gateway.log", "w") as log:  # JSON log lines: no prompt text
            gateway = subprocess.Popen([sys.executable, "-m", "proxy.cli", "serve", "--port", str(port)],
                                       env=env, cwd=ROOT, stdout=log, stderr=log)
        try:
            base = f"http://127.0.0.1:{port}"
            try:
                wait_healthy(base, gateway)
            except AssertionError as exc:
                ap.exit(2, f"{exc}; see {workdir / 'gateway.log'}\n")
            everything = [r for records in sets.values() for r in records]
            outcomes = asyncio.run(send_all(everything, base, made.stdout.split()[-1], cloud, args.concurrency))
        finally:
            gateway.terminate()
            gateway.wait()
    results = [asyncio.run(measure(path, records, outcomes)) for path, records in sets.items()]
    if args.json:
        print(json.dumps({"commit": commit(), "policy": "policies/default.yaml", "sets": results}, indent=1))
    else:
        print(f"r1gate {commit()}, shipped default policy, concurrency {args.concurrency}\n")
        print("\n".join(text(r) for r in results))


if __name__ == "__main__":
    main()
