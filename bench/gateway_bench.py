"""The gateway's added latency and throughput, side by side with calling the upstream directly.

    .venv/bin/python bench/gateway_bench.py [--requests 2000] [--concurrency 16] [--redis URL]

One run starts a minimal fake upstream (its own process), gateways (`r1gate serve`, one
worker each: one with the embedded defaults, one with Redis) in front of it, and a lean
keep-alive HTTP/1.1 load generator, then measures every path with the same client:
prompts that change on every request (misses), and one repeated prompt at temperature 0
(cache hits, through Redis). Then the ledger's write throughput, on SQLite and PostgreSQL.
Prints Markdown tables.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "deepseek-chat",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help?",
                                         "reasoning_content": None}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 80, "completion_tokens": 6, "total_tokens": 86, "prompt_cache_hit_tokens": 0,
              "prompt_cache_miss_tokens": 80}}).encode()
WORDS = ("quarterly roadmap kubernetes migration budget onboarding checklist latency dashboard "
         "release notes backlog grooming retrospective architecture caching strategy").split()


async def fake_upstream(scope, receive, send):  # a bare ASGI app: the upstream must not be the bottleneck
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]})
    await send({"type": "http.response.body", "body": ANSWER})


def prompt(i: int) -> bytes:
    words = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(30))
    text = f"Request {i}: summarise our discussion about {words}. Keep it short and actionable, three bullets."
    return json.dumps({"model": "deepseek-chat", "messages": [{"role": "user", "content": text}]}).encode()


REPEATED = json.dumps({"model": "deepseek-chat", "temperature": 0, "messages": [
    {"role": "user", "content": "Summarise the release notes of our last sprint in three bullets."}]}).encode()


class Connection:
    """One keep-alive HTTP/1.1 connection; just enough client to not cost more than the server."""

    def __init__(self, port: int, path: str, key: str | None, body: bytes | None = None) -> None:
        self.port, self.path, self.body = port, path, body
        self.auth = f"authorization: Bearer {key}\r\n".encode() if key else b""

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self, body: bytes) -> int:
        self.writer.write(b"POST " + self.path.encode() + b" HTTP/1.1\r\nhost: bench\r\n" + self.auth +
                          b"content-type: application/json\r\ncontent-length: " + str(len(body)).encode() +
                          b"\r\n\r\n" + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = int(next(line.split(b":")[1] for line in head.lower().split(b"\r\n")
                          if line.startswith(b"content-length")))
        await self.reader.readexactly(length)
        return status


async def latency(port: int, path: str, key: str | None, n: int, offset: int, body: bytes | None) -> list[float]:
    conn = Connection(port, path, key, body)
    await conn.open()
    samples = []
    for i in range(n):
        request = body or prompt(offset + i)
        start = time.perf_counter()
        assert await conn.post(request) == 200
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def throughput(port: int, path: str, key: str | None, n: int, concurrency: int, offset: int,
                     body: bytes | None) -> float:
    conns = [Connection(port, path, key, body) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    counter = iter(range(n))

    async def worker(conn: Connection) -> None:
        for i in counter:
            assert await conn.post(conn.body or prompt(offset + i)) == 200

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    return n / (time.perf_counter() - start)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/15", help="a Redis for the cache-hit rows")
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test",
                    help="a PostgreSQL for the ledger rows (skipped if unreachable)")
    ap.add_argument("--fake-upstream", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fake_upstream:
        import uvicorn

        uvicorn.run(fake_upstream, host="127.0.0.1", port=args.fake_upstream, log_level="warning",
                    access_log=False)
        return

    upstream_port, gateway_port, redis_port = free_port(), free_port(), free_port()
    tmp = Path(tempfile.mkdtemp())
    env = {**os.environ, "R1GATE_CLOUD_URL": f"http://127.0.0.1:{upstream_port}", "R1GATE_CLOUD_API_KEY": "sk-bench",
           "R1GATE_ONPREM_URL": f"http://127.0.0.1:{upstream_port}/v1", "R1GATE_DATABASE_URL": f"sqlite:///{tmp}/b.db",
           "PYTHONPATH": str(ROOT)}
    key = subprocess.run([sys.executable, "-m", "proxy.cli", "keys", "create", "--team", "bench"], env=env,
                         capture_output=True, text=True, check=True).stdout.split()[-1]
    serve = [sys.executable, "-m", "proxy.cli", "serve", "--port"]
    procs = [subprocess.Popen([sys.executable, __file__, "--fake-upstream", str(upstream_port)]),
             subprocess.Popen(serve + [str(gateway_port)], env=env, stderr=subprocess.DEVNULL),
             subprocess.Popen(serve + [str(redis_port)], env={**env, "R1GATE_REDIS_URL": args.redis},
                              stderr=subprocess.DEVNULL)]
    try:
        for port in (upstream_port, gateway_port, redis_port):
            wait_port(port)
        paths = {"direct to upstream": (upstream_port, "/chat/completions", None, None),
                 "through r1gate (miss, embedded defaults)": (gateway_port, "/v1/chat/completions", key, None),
                 "through r1gate (miss, Redis)": (redis_port, "/v1/chat/completions", key, None),
                 "through r1gate (cache hit, Redis)": (redis_port, "/v1/chat/completions", key, REPEATED)}
        rows = {}
        for name, (port, path, k, body) in paths.items():
            asyncio.run(latency(port, path, k, 200, 10**6, body))  # warm-up (and the entry, for hits)
        for name, (port, path, k, body) in paths.items():
            lat = asyncio.run(latency(port, path, k, args.requests // 2, 0, body))
            rps = asyncio.run(throughput(port, path, k, args.requests, args.concurrency, 10**5, body))
            rows[name] = (statistics.median(lat), pct(lat, 99), rps)
        direct = rows["direct to upstream"]
        print(f"\nMachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
              f"{args.requests // 2} sequential requests, {args.requests} at concurrency {args.concurrency}.\n")
        print("| path | p50 ms (c=1) | p99 ms (c=1) | added p50 ms | req/s (c=%d) |" % args.concurrency)
        print("|---|---|---|---|---|")
        for name, (p50, p99, rps) in rows.items():
            added = "" if name == "direct to upstream" else f"{p50 - direct[0]:.2f}"
            print(f"| {name} | {p50:.2f} | {p99:.2f} | {added} | {rps:.0f} |")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    ledger_throughput(tmp, args.postgres)


def ledger_throughput(tmp: Path, postgres: str) -> None:
    """Records per second the ledger writer stores, in batches as the gateway writes them."""
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
        records = [Record(request_id=str(i), team="t", key_id="k", model="m", route="cloud", status=200,
                          usage=Usage(1, 2, 3, 4), costs=Costs(0.1, 0.1, 0.2)) for i in range(20 * BATCH)]
        start = time.perf_counter()
        for i in range(0, len(records), BATCH):
            ledger._write(records[i:i + BATCH])
        print(f"| {name} | {len(records) / (time.perf_counter() - start):.0f} |")
        if name == "PostgreSQL":
            db.execute("DELETE FROM ledger WHERE team = 't' AND key_id = 'k' AND model = 'm'")
            db.execute("DELETE FROM audit WHERE team = 't' AND key_id = 'k' AND model = 'm'")
        db.close()


if __name__ == "__main__":
    main()
