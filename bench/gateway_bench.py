"""The gateway's added latency and throughput, side by side with calling the upstream directly.

    .venv/bin/python bench/gateway_bench.py [--requests 2000] [--concurrency 16] [--redis URL]

One run starts a bare fake upstream (its own process), gateways (`r1gate serve`, one worker
each, full inspection with the shipped policy: one on the embedded defaults, one with Redis)
in front of it, and a lean keep-alive HTTP/1.1 client, then measures every path with the same
client: prompts that change on every request (cache misses, nothing inspected twice), and one
repeated prompt at temperature 0 (cache hits, through Redis); the same prompts through the
Anthropic Messages API (`/anthropic/v1/messages`), and a recorded Claude Code turn (70 KB of
system prompt and tools, repeated: the inspection cache is warm, as on every agent turn after
the first). Then the ledger's write throughput on SQLite and PostgreSQL. Prints Markdown tables.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from harness import (create_key, free_port, gateway_env, latency, machine, p50, pct, start_gateway,
                     start_upstream, throughput, wait_port)

WORDS = ("quarterly roadmap kubernetes migration budget onboarding checklist latency dashboard "
         "release notes backlog grooming retrospective architecture caching strategy").split()


def prompt(i: int) -> bytes:
    """~300 characters, different every time."""
    words = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(30))
    text = f"Request {i}: summarise our discussion about {words}. Keep it short and actionable, three bullets."
    return json.dumps({"model": "deepseek-chat", "messages": [{"role": "user", "content": text}]}).encode()


def message(i: int) -> bytes:
    """A prompt like `prompt(i)` (not one the chat rows had inspected), as an Anthropic SDK sends it."""
    return json.dumps({**json.loads(prompt(10**7 + i)), "model": "claude-sonnet-4-5", "max_tokens": 1024}).encode()


CLAUDE_CODE = Path(__file__).resolve().parent.parent / "tests" / "anthropic" / "claude_code_request.json"


def claude_code_turn(i: int) -> bytes:
    """Claude Code's recorded turn, whole answers (the bench upstream streams chat chunks only)."""
    return json.dumps({**json.loads(CLAUDE_CODE.read_bytes()), "stream": False}).encode()


REPEATED = json.dumps({"model": "deepseek-chat", "temperature": 0, "messages": [
    {"role": "user", "content": "Summarise the release notes of our last sprint in three bullets."}]}).encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/15", help="a Redis for the cache-hit rows")
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test",
                    help="a PostgreSQL for the ledger rows (skipped if unreachable)")
    args = ap.parse_args()
    print(f"Machine: {machine()}; {args.requests // 2} sequential requests, "
          f"{args.requests} at concurrency {args.concurrency}.\n")
    tmp = Path(tempfile.mkdtemp())
    upstream_port, upstream = start_upstream()
    env = gateway_env(upstream_port, tmp)
    key = create_key(env)
    plain_port, plain = start_gateway(env)
    redis_port, with_redis = start_gateway({**env, "R1GATE_REDIS_URL": args.redis})
    try:
        for port in (upstream_port, plain_port, redis_port):
            wait_port(port)
        n = args.requests
        paths = {"direct to upstream": (upstream_port, "/chat/completions", None, prompt),
                 "through r1gate (miss, embedded defaults)": (plain_port, "/v1/chat/completions", key, prompt),
                 "through r1gate (miss, Redis)": (redis_port, "/v1/chat/completions", key, prompt),
                 "through r1gate (cache hit, Redis)": (redis_port, "/v1/chat/completions", key, lambda i: REPEATED),
                 "Anthropic: direct to upstream": (upstream_port, "/anthropic/v1/messages", None, message),
                 "Anthropic: through r1gate (miss, embedded defaults)": (
                     plain_port, "/anthropic/v1/messages", key, message),
                 "Claude Code turn: direct to upstream": (upstream_port, "/anthropic/v1/messages", None,
                                                          claude_code_turn),
                 "Claude Code turn: through r1gate (warm inspection cache)": (
                     plain_port, "/anthropic/v1/messages", key, claude_code_turn)}
        rows = {}
        for name, (port, path, k, make) in paths.items():
            asyncio.run(latency(port, path, k, [make(10**6 + i) for i in range(200)]))  # warm-up
        for name, (port, path, k, make) in paths.items():
            totals, _ = asyncio.run(latency(port, path, k, [make(i) for i in range(n // 2)]))
            rps = asyncio.run(throughput(port, path, k, [make(10**5 + i) for i in range(n)], args.concurrency))
            rows[name] = (p50(totals), pct(totals, 99), rps)
        print("| path | p50 ms (c=1) | p99 ms (c=1) | added p50 ms | req/s (c=%d) |" % args.concurrency)
        print("|---|---|---|---|---|")
        for name, (median, p99, rps) in rows.items():
            # Each row against the direct row of its own kind (chat, Anthropic, Claude Code).
            kind = name.partition(": ")[0] + ": " if ": " in name else ""
            direct = rows[kind + "direct to upstream"]
            added = "" if "direct" in name else f"{median - direct[0]:.2f}"
            print(f"| {name} | {median:.2f} | {p99:.2f} | {added} | {rps:.0f} |")
    finally:
        for p in (upstream, plain, with_redis):
            p.terminate()
            p.wait()
    ledger_throughput(tmp, args.postgres)


def ledger_throughput(tmp: Path, postgres: str) -> None:
    """Records per second the ledger writer stores, in batches as the gateway writes them."""
    from harness import ROOT

    sys.path.insert(0, str(ROOT))
    from proxy.db import Database
    from proxy.ledger import BATCH, Ledger, Record
    from proxy.prices import Costs, Usage

    targets = {"SQLite": f"sqlite:///{tmp}/ledger.db"}
    try:
        Database(postgres).close()
        targets["PostgreSQL"] = postgres
    except Exception:
        pass
    print("\n| ledger database | records/s (batches of %d) |\n|---|---|" % BATCH)
    for name, url in targets.items():
        db = Database(url)
        ledger = Ledger(db)
        records = [Record(request_id=str(i), team="t", key_id="k", model="bench", route="cloud", status=200,
                          usage=Usage(1, 2, 3, 4), costs=Costs(0.1, 0.1, 0.2)) for i in range(20 * BATCH)]
        start = time.perf_counter()
        for i in range(0, len(records), BATCH):
            ledger._write(records[i:i + BATCH])
        print(f"| {name} | {len(records) / (time.perf_counter() - start):.0f} |")
        db.execute("DELETE FROM ledger WHERE model = 'bench'")
        db.execute("DELETE FROM audit WHERE model = 'bench'")
        db.close()


if __name__ == "__main__":
    main()
