"""What pseudonymizing costs: a streamed answer through `redact` vs the plain cloud route.

    .venv/bin/python bench/redact_bench.py [--requests 400] [--concurrency 16]

One gateway (`r1gate serve`, one worker, the shipped policy with personal data set to
`redact`) in front of a bare fake upstream that streams the prompt back in 40 chunks, so
placeholders come back split across chunks and are restored. The same prompt template is
sent with a person's name and e-mail (redact route: inspect, pseudonymize, check again,
restore while streaming) and without (cloud route: inspect only). Prompts differ on every
request. Time to first token, total time, and req/s at concurrency 16.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

import httpx
import yaml
from harness import (ROOT, create_key, gateway_env, latency, machine, p50, pct, start_gateway, start_upstream,
                     throughput, wait_port)

FIRST = ["Marie", "Julien", "Sophie", "Thomas", "Camille", "Nicolas", "Laura", "Antoine", "Emma", "Lucas"]
LAST = ["Dupont", "Moreau", "Lefebvre", "Garnier", "Chevalier", "Fontaine", "Rousseau", "Blanchard"]


def request(i: int, named: bool) -> bytes:
    who = (f"{FIRST[i % 10]} {LAST[i // 10 % 8]} ({FIRST[i % 10].lower()}.{LAST[i // 10 % 8].lower()}@axa.fr)"
           if named else "the whole finance team")
    text = f"Write a short reminder to {who} about invoice {4400 + i}, due on Friday, with a friendly tone."
    return json.dumps({"model": "deepseek-chat", "stream": True,
                       "messages": [{"role": "user", "content": text}]}).encode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    print(f"Machine: {machine()}; {args.requests} sequential streamed requests per route, "
          f"then {args.requests} at concurrency {args.concurrency}.\n")
    tmp = Path(tempfile.mkdtemp())
    policy = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    for rule in policy["rules"]:
        if rule["id"] == "personal-data":
            rule["action"] = "redact"
    (tmp / "redact.yaml").write_text(yaml.safe_dump(policy, allow_unicode=True))
    upstream_port, upstream = start_upstream()
    env = gateway_env(upstream_port, tmp, R1GATE_POLICY=str(tmp / "redact.yaml"))
    key = create_key(env)
    port, gateway = start_gateway(env)
    try:
        wait_port(upstream_port)
        wait_port(port)
        check = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", content=request(0, True),
                           headers={"authorization": f"Bearer {key}"}, timeout=30)
        assert check.headers["x-r1gate-route"] == "cloud" and "Marie Dupont" in check.text, "not redacted"
        rows = {}
        for name, named in (("cloud (inspected, nothing to hide)", False), ("redact (name and e-mail)", True)):
            asyncio.run(latency(port, "/v1/chat/completions", key, [request(10**5 + i, named) for i in range(100)]))
            totals, firsts = asyncio.run(latency(port, "/v1/chat/completions", key,
                                                 [request(i, named) for i in range(args.requests)]))
            rps = asyncio.run(throughput(port, "/v1/chat/completions", key,
                                         [request(10**4 + i, named) for i in range(args.requests)], args.concurrency))
            rows[name] = (p50(firsts), pct(firsts, 99), p50(totals), pct(totals, 99), rps)
        print("| route | TTFT p50 ms | TTFT p99 ms | total p50 ms | total p99 ms | req/s (c=%d) |" % args.concurrency)
        print("|---|---|---|---|---|---|")
        for name, row in rows.items():
            print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in row[:4]) + f" | {row[4]:.0f} |")
        cloud, redact = rows.values()
        print(f"| **redact extra** | {redact[0] - cloud[0]:.2f} | | {redact[2] - cloud[2]:.2f} | | |")
    finally:
        for p in (upstream, gateway):
            p.terminate()
            p.wait()


if __name__ == "__main__":
    main()
