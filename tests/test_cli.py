"""The `r1gate` command as users and scripts run it: real processes, real databases."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import openai
import pytest

from proxy.db import Database
from proxy.keys import KeyStore
from tests.conftest import wait_healthy
from tests.helpers import free_port, postgres_url
from tests.fake_deepseek import ANSWER

R1GATE = [sys.executable, "-m", "proxy.cli"]
ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*R1GATE, *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_keys_create_list_revoke(tmp_path, make_gateway):
    gw = make_gateway(key_cache_ttl_s=0)
    env = {"R1GATE_DATABASE_URL": gw.settings.database_url}
    created = run("keys", "create", "--team", "finance", "--budget-usd", "25", env=env)
    assert created.returncode == 0
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("sk-r1g-")
    assert gw.client(api_key=key).models.list().data
    listing = run("keys", "list", env=env).stdout
    key_id = key.split("-")[2]
    assert key_id in listing and "finance" in listing and "25.0000" in listing
    assert key.split("-")[3] not in listing
    assert run("keys", "revoke", key_id, env=env).returncode == 0
    with pytest.raises(openai.AuthenticationError, match="revoked"):
        gw.client(api_key=key).models.list()
    again = run("keys", "revoke", key_id, env=env)
    assert again.returncode == 1 and "No active key" in again.stderr


@pytest.mark.parametrize("setup,words", [
    ({"file": "timeouts:\n  connect_s: -1\n"}, "timeouts.connect_s"),
    ({"file": "cloud: [1\n"}, ":2:1: invalid YAML"),
    ({"file": "colud:\n  url: http://x\n"}, "colud: unknown setting"),
    ({"env": {"R1GATE_ONPREM_URL": "localhost:8000"}}, "R1GATE_ONPREM_URL: onprem.url: must start with http"),
    ({"env": {"R1GATE_DATABASE_URL": "mysql://db"}}, "R1GATE_DATABASE_URL"),
    ({"env": {"R1GATE_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}}, "cannot connect"),
    ({"env": {"R1GATE_POLICY": "no/such/policy.yaml"}}, "no/such/policy.yaml:1:1: cannot read the file"),
])
def test_bad_settings_exit_2_in_one_line(tmp_path, setup, words):
    args = ["serve", "--port", "0"]
    if "file" in setup:
        (tmp_path / "r1gate.yaml").write_text(setup["file"])
        args += ["--config", str(tmp_path / "r1gate.yaml")]
    result = run(*args, env=setup.get("env"), cwd=tmp_path)
    assert result.returncode == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path):
    result = run("keys", "list", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "cannot read" in result.stderr


# Records every outbound connection and name lookup of the process (and its workers).
# uvloop connects in C, out of the audit hook's sight, so the plain asyncio loop runs here.
AUDIT = textwrap.dedent("""
    import json, os, sys
    sys.modules["uvloop"] = None
    _log = os.environ["R1GATE_AUDIT_LOG"]
    def _hook(event, args):
        if event in ("socket.connect", "socket.getaddrinfo"):
            target = args[1] if event == "socket.connect" else args[:2]
            with open(_log, "a") as f:
                f.write(json.dumps([event, repr(target)]) + "\\n")
    sys.addaudithook(_hook)
""")


def test_serve_with_workers_talks_only_to_its_upstreams(tmp_path, cloud, onprem):
    from tests import conftest

    (tmp_path / "sitecustomize.py").write_text(AUDIT)
    audit = tmp_path / "connections.log"
    db_url = f"sqlite:///{tmp_path / 'gw.db'}"
    key = KeyStore(Database(db_url)).create("ops")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "R1GATE_AUDIT_LOG": str(audit),
           "R1GATE_CLOUD_URL": cloud.url, "R1GATE_CLOUD_API_KEY": conftest.CLOUD_KEY,
           "R1GATE_ONPREM_URL": f"{onprem.url}/v1", "R1GATE_DATABASE_URL": db_url}
    proc = subprocess.Popen([*R1GATE, "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
        assert client.chat.completions.create(model="deepseek-chat", messages=[
            {"role": "user", "content": "hello"}]).choices[0].message.content == ANSWER
        client.chat.completions.create(model="deepseek-chat", messages=[
            {"role": "user", "content": "mail bob.leroy@dupont-industries.fr"}])
        assert len(cloud.bodies) == 1 and len(onprem.bodies) == 1
        # Each worker counts its own requests; /metrics adds them up, whichever worker answers.
        scraped = httpx.get(f"{base}/metrics").text
        counted = sum(float(line.split()[-1]) for line in scraped.splitlines()
                      if line.startswith("r1gate_requests_total{"))
        assert counted == 2
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    allowed = {f"('127.0.0.1', {p})" for p in (_port(cloud.url), _port(onprem.url))}
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    connects = {target for event, target in events if event == "socket.connect"}
    lookups = {target for event, target in events if event == "socket.getaddrinfo"}
    assert connects and connects <= allowed, connects - allowed
    assert all(t.startswith("('127.0.0.1'") for t in lookups), lookups
    request_lines = [json.loads(line) for line in stderr.splitlines() if '"event":"request"' in line]
    assert {r["route"] for r in request_lines} == {"cloud", "onprem"}
    assert "bob.leroy" not in stderr and key not in stderr


def test_keys_on_postgresql(make_gateway):
    url = postgres_url()
    schema = f"r1gate_test_{os.getpid()}"
    admin = Database(url)
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        scoped = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
        gw = make_gateway(database_url=scoped)
        created = run("keys", "create", "--team", "pg-team", env={"R1GATE_DATABASE_URL": scoped})
        key = created.stdout.strip().splitlines()[-1]
        assert gw.client(api_key=key).models.list().data
        assert "pg-team" in run("keys", "list", env={"R1GATE_DATABASE_URL": scoped}).stdout
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _serve(tmp_path: Path, cloud, onprem, settings: str) -> tuple[subprocess.Popen, str, str]:
    """`r1gate serve` with one worker (the default) and `settings`; its URL and a key."""
    from tests import conftest

    db_url = f"sqlite:///{tmp_path / 'gw.db'}"
    key = KeyStore(Database(db_url)).create("ops")
    (tmp_path / "r1gate.yaml").write_text(settings)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "R1GATE_CLOUD_URL": cloud.url,
           "R1GATE_CLOUD_API_KEY": conftest.CLOUD_KEY, "R1GATE_ONPREM_URL": f"{onprem.url}/v1",
           "R1GATE_DATABASE_URL": db_url, "R1GATE_INSPECTION_WORKERS": "0"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen([*R1GATE, "serve", "--port", str(port), "--config", str(tmp_path / "r1gate.yaml")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)
    except BaseException:
        proc.kill()
        raise
    return proc, base, key


def _closed_by_server(sock) -> bool:
    """Whether the server closed this connection (within a generous bound)."""
    import socket

    sock.settimeout(15)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_serve_cuts_slow_clients_and_counts_metrics_with_one_worker(tmp_path, cloud, onprem):
    import socket

    proc, base, key = _serve(tmp_path, cloud, onprem, "serve:\n  header_timeout_s: 1\n  body_timeout_s: 1\n"
                             "  keep_alive_s: 120\n  max_connections: 40\n")
    port, slow = int(base.rsplit(":", 1)[1]), []
    try:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
        assert client.chat.completions.create(model="deepseek-chat", messages=[
            {"role": "user", "content": "hello"}]).choices[0].message.content == ANSWER
        # One worker (the default): /metrics shows what it counted.
        scraped = httpx.get(f"{base}/metrics").text
        assert 'r1gate_requests_total{api="chat",route="cloud",status="200",team="ops"} 1.0' in scraped
        # Idle, slow headers, slow body: each is cut, while normal requests are answered.
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(9)]
        for i, sock in enumerate(slow):
            if i % 3 == 1:
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
            elif i % 3 == 2:
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-length: 1000\r\n"
                             b"authorization: Bearer " + key.encode() + b"\r\n\r\n{")
        with httpx.Client() as normal:
            for _ in range(3):
                assert normal.get(f"{base}/healthz").status_code == 200
                assert client.chat.completions.create(model="deepseek-chat", messages=[
                    {"role": "user", "content": "hello"}]).choices[0].message.content == ANSWER
        assert all(_closed_by_server(sock) for sock in slow)
        # Past max_connections, new connections are closed at once; those within are served
        # (and stay open: the keep-alive time is long here, so the count cannot drop).
        flood = [socket.create_connection(("127.0.0.1", port)) for _ in range(60)]
        for sock in flood:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answered = 0
        for sock in flood:
            sock.settimeout(15)
            try:
                answered += sock.recv(1024).startswith(b"HTTP/1.1 200")
            except ConnectionResetError:
                pass
        for sock in flood:  # only now: a closed one would make room for the next
            sock.close()
        assert 0 < answered <= 40
        assert httpx.get(f"{base}/healthz").status_code == 200
    finally:
        for sock in slow:
            sock.close()
        proc.terminate()
        proc.communicate(timeout=30)


def test_serve_metrics_on_a_private_listener(tmp_path, cloud, onprem):
    metrics_port = free_port()
    proc, base, key = _serve(tmp_path, cloud, onprem, f"metrics:\n  listen: 127.0.0.1:{metrics_port}\n")
    try:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
        client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "hello"}])
        assert httpx.get(f"{base}/metrics").status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert 'r1gate_requests_total{api="chat",route="cloud",status="200",team="ops"} 1.0' in scraped
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_sigint_drains_requests_before_stopping_inspection(tmp_path, cloud, onprem):
    """Ctrl-C reaches the whole process group, inspection workers included: a request still
    arriving is drained and inspected as usual (not failed closed as `inspection-error`)."""
    import signal
    import socket

    from tests import conftest

    db_url = f"sqlite:///{tmp_path / 'gw.db'}"
    key = KeyStore(Database(db_url)).create("ops")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "R1GATE_CLOUD_URL": cloud.url,
           "R1GATE_CLOUD_API_KEY": conftest.CLOUD_KEY, "R1GATE_ONPREM_URL": f"{onprem.url}/v1",
           "R1GATE_DATABASE_URL": db_url, "R1GATE_INSPECTION_WORKERS": "1"}
    proc = subprocess.Popen([*R1GATE, "serve", "--port", str(port)], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)
        body = json.dumps({"model": "deepseek-chat", "messages": [{"role": "user", "content": "hello"}]}).encode()
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nauthorization: Bearer " + key.encode()
                     + b"\r\ncontent-type: application/json\r\ncontent-length: " + str(len(body)).encode()
                     + b"\r\n\r\n" + body[:10])
        os.killpg(proc.pid, signal.SIGINT)
        for _ in range(600):  # the gateway stops accepting once it has taken the signal
            try:
                httpx.get(f"{base}/healthz", timeout=0.1)
            except httpx.HTTPError:
                break
        sock.sendall(body[10:])
        sock.settimeout(30)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert b"x-r1gate-route: cloud" in answer.lower() and b"inspection-error" not in answer
        sock.close()
        assert proc.wait(timeout=60) is not None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
