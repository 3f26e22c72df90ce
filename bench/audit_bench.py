"""What the compliance evidence costs: shadow deciding per request, and hash-chained audit writes.

    .venv/bin/python bench/audit_bench.py [--postgres postgresql://postgres@127.0.0.1:5432/test]

1. Shadow policy: 300 prompts (names, e-mails, phone numbers, secrets, harmless questions)
   are inspected once with the shipped policy; then, per request, the time of what a live
   request now adds after its findings are known: keeping them as recent traffic (always),
   and the shadow policy's decision from the same findings (when `shadow_policy` is set).
   The candidate is the shipped policy with e-mail addresses no longer kept on-prem.
2. Audit chain: the ledger's batches (500 records, ledger and audit rows in one transaction)
   written with the hash chain (lock the chain's head, skip ids already written, hash each
   record, move the head) and plain (the inserts alone), alternately, on SQLite and PostgreSQL.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import machine  # noqa: E402
from proxy.db import Database  # noqa: E402
from proxy.extract import texts  # noqa: E402
from proxy.ledger import _LEDGER, BATCH, Ledger, Record  # noqa: E402
from proxy.policy.loader import parse_policy  # noqa: E402
from proxy.policy.router import PolicyRouter  # noqa: E402
from proxy.policy.rules import CompiledPolicy  # noqa: E402
from proxy.policy.shadow import Shadow  # noqa: E402
from proxy.prices import Costs, Usage  # noqa: E402
from proxy.routing import Finding, RouteContext  # noqa: E402

POLICY = ROOT / "policies" / "default.yaml"
PLAIN_AUDIT = ("INSERT INTO audit (id, ts, request_id, team, key_id, model, policy_version, route, rules, entities, "
               "status, error, cost_usd, action, pseudonymized, shadow_version, shadow_route, shadow_rules) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING")
PROMPTS = [
    "Please write to {first}.{last}@example.fr and tell {First} {Last} that the contract is ready.",
    "Call {First} {Last} on +33 6 12 34 {n:02d} {n:02d} about the delivery.",
    "Explain the difference between a list and a tuple in Python, with example {n}.",
    "My config has aws_access_key_id = AKIAQ3EGRT5YH7UJ9K{n:02d}, why does it fail?",
    "Summarise the quarterly report for the board in five bullet points ({n}).",
    "{First} {Last}, born 12/03/1985, lives at {n} rue de la Paix, 75002 Paris.",
]
NAMES = [("Marie", "Dupont"), ("Julien", "Moreau"), ("Sophie", "Lefebvre"), ("Thomas", "Garnier"),
         ("Camille", "Chevalier")]


def prompts(n: int) -> list[str]:
    out = []
    for i in range(n):
        first, last = NAMES[i % len(NAMES)]
        out.append(PROMPTS[i % len(PROMPTS)].format(first=first.lower(), last=last.lower(), First=first, Last=last,
                                                    n=i % 100))
    return out


def shadow_cost(count: int, rounds: int) -> None:
    router = PolicyRouter(POLICY, workers=0, cache_entries=0)
    router.start()
    active = router.policy
    edited = POLICY.read_text().replace("type: [PERSON, EMAIL_ADDRESS, PHONE_NUMBER,", "type: [PERSON, PHONE_NUMBER,", 1)
    loaded = parse_policy(edited.encode(), "candidate.yaml")
    candidate = CompiledPolicy.build(loaded.policy, loaded.version)
    requests = []
    for text in prompts(count):
        body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": text}]}
        fields = texts(body)
        results = asyncio.run(router.service.inspect([f.text for f in fields], active.settings))
        findings = [Finding(h.entity, f.path, h.start, h.end, h.score, h.detector)
                    for f, hits in zip(fields, results) for h in hits]
        requests.append((findings, fields, RouteContext("team-a", "deepseek-chat", {"x-request-id": "r"})))
    router.close()

    def per_request_us(work) -> list[float]:
        times = []
        for _ in range(rounds):
            for findings, fields, ctx in requests:
                start = time.perf_counter_ns()
                work(findings, fields, ctx)
                times.append((time.perf_counter_ns() - start) / 1000)
        return times

    recent, shadow = Shadow(None), Shadow(candidate)
    rows = {
        "active policy's decision (for scale)": per_request_us(lambda f, x, c: active.decide(f, x, c)),
        "recent traffic kept (every request)": per_request_us(
            lambda f, x, c: recent.observe(active, active.decide(f, x, c), f, x, c)),
        "recent traffic + shadow decision": per_request_us(
            lambda f, x, c: shadow.observe(active, active.decide(f, x, c), f, x, c)),
    }
    base = statistics.median(rows["active policy's decision (for scale)"])
    print(f"\n{count} requests x {rounds} rounds, {sum(len(r[0]) for r in requests) / count:.1f} findings per request")
    print("\n| per request | p50 µs | p99 µs | added p50 µs |\n|---|---|---|---|")
    for name, times in rows.items():
        p50, p99 = statistics.median(times), statistics.quantiles(times, n=100)[98]
        added = "" if name.startswith("active") else f"{p50 - base:.1f}"
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {added} |")


def chain_cost(urls: dict[str, str], batches: int, rounds: int) -> None:
    print(f"\n| database | plain records/s | chained records/s | chained slower by |\n|---|---|---|---|")
    for name, url in urls.items():
        db = Database(url)
        ledger = Ledger(db)
        rates: dict[str, list[float]] = {"plain": [], "chained": []}
        for r in range(rounds):
            for mode in ("plain", "chained") if r % 2 == 0 else ("chained", "plain"):
                records = [Record(request_id=f"{mode}-{r}-{i}", team="t", key_id="k", model="bench", route="onprem",
                                  status=200, policy_version="v", rules=("personal-data",),
                                  entities={"PERSON": 1, "EMAIL_ADDRESS": 1}, action="onprem",
                                  usage=Usage(1, 2, 3, 4), costs=Costs(0.1, 0.1, 0.2))
                           for i in range(batches * BATCH)]
                start = time.perf_counter()
                for i in range(0, len(records), BATCH):
                    batch = records[i:i + BATCH]
                    if mode == "chained":
                        ledger._write(batch)
                    else:
                        with db.transaction() as tx:
                            tx.executemany(_LEDGER, [x.ledger_row() for x in batch])
                            tx.executemany(PLAIN_AUDIT, [x.audit_row() for x in batch])
                rates[mode].append(len(records) / (time.perf_counter() - start))
        plain, chained = statistics.median(rates["plain"]), statistics.median(rates["chained"])
        print(f"| {name} | {plain:.0f} | {chained:.0f} | {(plain / chained - 1) * 100:.1f}% |")
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batches", type=int, default=20, help="ledger batches of 500 per measurement")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(machine())
    shadow_cost(args.prompts, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        urls = {"SQLite": f"sqlite:///{tmp}/audit.db"}
        schema = "r1gate_audit_bench"
        try:
            admin = Database(args.postgres)
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            admin.execute(f"CREATE SCHEMA {schema}")
            urls["PostgreSQL"] = f"{args.postgres}{'&' if '?' in args.postgres else '?'}options=-csearch_path%3D{schema}"
        except Exception as exc:
            admin = None
            print(f"(PostgreSQL skipped: {exc})")
        try:
            chain_cost(urls, args.batches, 4)
        finally:
            if admin is not None:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")
                admin.close()


if __name__ == "__main__":
    main()
