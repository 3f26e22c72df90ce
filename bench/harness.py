"""What the gateway benchmarks share: a bare fake upstream, a lean HTTP/1.1 client, the
gateway processes, and percentiles. The client and the upstream must cost less than the
gateway they measure, so both are written down to the socket."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "deepseek-chat",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help?",
                                         "reasoning_content": None}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 80, "completion_tokens": 6, "total_tokens": 86, "prompt_cache_hit_tokens": 0,
              "prompt_cache_miss_tokens": 80}}).encode()
MESSAGE = json.dumps({  # DeepSeek's Anthropic endpoint's answer
    "id": "msg_bench", "type": "message", "role": "assistant", "model": "deepseek-flash",
    "content": [{"type": "text", "text": "Hello! How can I help?"}], "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 80, "output_tokens": 6, "cache_read_input_tokens": 0}}).encode()
STREAM_CHUNKS = 40


async def fake_upstream(scope, receive, send):  # a bare ASGI app: the upstream must not be the bottleneck
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if b'"stream":true' not in body:
        answer = MESSAGE if scope["path"].endswith("/messages") else ANSWER
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})
        return
    # A streamed answer that quotes the prompt back, cut in STREAM_CHUNKS pieces (placeholders too).
    said = "You said: " + json.loads(body)["messages"][-1]["content"]
    step = max(1, len(said) // STREAM_CHUNKS)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    for i in range(0, len(said), step):
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "deepseek-chat",
                 "choices": [{"index": 0, "delta": {"content": said[i:i + step]}, "finish_reason": None}]}
        await send({"type": "http.response.body", "body": b"data: " + json.dumps(chunk).encode() + b"\n\n",
                    "more_body": True})
    done = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "deepseek-chat",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 80, "completion_tokens": STREAM_CHUNKS, "total_tokens": 80 + STREAM_CHUNKS}}
    await send({"type": "http.response.body", "body": b"data: " + json.dumps(done).encode() + b"\n\ndata: [DONE]\n\n"})


class Connection:
    """One keep-alive HTTP/1.1 connection; just enough client to not cost more than the server."""

    def __init__(self, port: int, path: str, key: str | None) -> None:
        self.port, self.path = port, path
        self.auth = f"authorization: Bearer {key}\r\n".encode() if key else b""

    async def open(self) -> "Connection":
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def post(self, body: bytes) -> tuple[int, float]:
        """(status, seconds to the first byte of the body) once the whole body has arrived."""
        start = time.perf_counter()
        self.writer.write(b"POST " + self.path.encode() + b" HTTP/1.1\r\nhost: bench\r\n" + self.auth +
                          b"content-type: application/json\r\ncontent-length: " + str(len(body)).encode() +
                          b"\r\n\r\n" + body)
        head = (await self.reader.readuntil(b"\r\n\r\n")).lower()
        status = int(head[9:12])
        if b"transfer-encoding: chunked" in head:
            first = None
            while size := int((await self.reader.readuntil(b"\r\n"))[:-2], 16):
                data = await self.reader.readexactly(size + 2)
                if first is None and b'"content":"' in data and b'"content":""' not in data:
                    first = time.perf_counter() - start
            await self.reader.readuntil(b"\r\n")
            return status, first if first is not None else time.perf_counter() - start
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.startswith(b"content-length")))
        await self.reader.readexactly(length)
        return status, time.perf_counter() - start


async def latency(port: int, path: str, key: str | None, bodies: list[bytes]) -> tuple[list[float], list[float]]:
    """Sequential requests: (total ms, first-byte ms) of each."""
    conn = await Connection(port, path, key).open()
    totals, firsts = [], []
    for body in bodies:
        start = time.perf_counter()
        status, first = await conn.post(body)
        assert status == 200, status
        totals.append((time.perf_counter() - start) * 1000)
        firsts.append(first * 1000)
    return totals, firsts


async def throughput(port: int, path: str, key: str | None, bodies: list[bytes], concurrency: int) -> float:
    conns = await asyncio.gather(*(Connection(port, path, key).open() for _ in range(concurrency)))
    queue = iter(bodies)

    async def worker(conn: Connection) -> None:
        for body in queue:
            assert (await conn.post(body))[0] == 200

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    return len(bodies) / (time.perf_counter() - start)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 300  # gateways load their models first: slow on a busy machine
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1]


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def start_upstream() -> tuple[int, subprocess.Popen]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "import sys, uvicorn; sys.path.insert(0, sys.argv[1]); "
                             "import harness; uvicorn.run(harness.fake_upstream, host='127.0.0.1', "
                             "port=int(sys.argv[2]), log_level='warning', access_log=False)",
                             str(Path(__file__).parent), str(port)])
    return port, proc


def gateway_env(upstream_port: int, workdir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "R1GATE_CLOUD_URL": f"http://127.0.0.1:{upstream_port}", "R1GATE_CLOUD_API_KEY": "sk-bench",
            "R1GATE_ONPREM_URL": f"http://127.0.0.1:{upstream_port}/v1",
            "R1GATE_DATABASE_URL": f"sqlite:///{workdir}/bench.db", "PYTHONPATH": str(ROOT), **extra}


def create_key(env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-m", "proxy.cli", "keys", "create", "--team", "bench"], env=env,
                          capture_output=True, text=True, check=True).stdout.split()[-1]


def start_gateway(env: dict[str, str]) -> tuple[int, subprocess.Popen]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "proxy.cli", "serve", "--port", str(port)], env=env,
                            stderr=subprocess.DEVNULL, cwd=ROOT)
    return port, proc


def machine() -> str:
    return (f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, "
            f"load average {os.getloadavg()[0]:.1f} at start")
