"""Several `r1gate serve` replicas behind HAProxy on one machine, as production runs them.

The replicas share one PostgreSQL and one Redis; HAProxy (deploy/haproxy/haproxy.cfg, the
compose stack's own) balances them and health-checks /readyz. Everything listens on
127.0.0.1. tests/deploy/test_rehearsal.py drives it while replicas die; by hand:

    .venv/bin/python deploy/local/cluster.py --database-url postgresql://postgres@127.0.0.1/test \\
        --redis-url redis://127.0.0.1:6379/0 --fake-upstreams

prints the load balancer's URL and a key, and runs until Ctrl-C. Without --fake-upstreams it
uses R1GATE_CLOUD_URL / R1GATE_CLOUD_API_KEY / R1GATE_ONPREM_URL from the environment.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

import httpx

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_DIR = ROOT / "deploy" / "haproxy"
R1GATE = [sys.executable, "-m", "proxy.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(ready: Callable[[], bool], proc: subprocess.Popen, what: str, timeout_s: float) -> None:
    """Polls `ready` until it holds; fails at once if `proc` exits, or after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        try:
            proc.wait(timeout=0.05)  # returns early only if it died
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up within {timeout_s:.0f} s")


@dataclass
class Replica:
    """One `r1gate serve` process (with its inspection workers, in their own process group)."""

    name: str
    port: int
    env: Mapping[str, str]
    log: Path
    config: Path | None = None
    proc: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        with open(self.log, "a") as log:
            config = ["--config", str(self.config)] if self.config else []
            self.proc = subprocess.Popen([*R1GATE, "serve", "--port", str(self.port), *config], env=dict(self.env),
                                         cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout_s: float = 180) -> None:
        assert self.proc is not None

        def healthy() -> bool:
            try:
                return httpx.get(f"{self.url}/healthz", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(healthy, self.proc, f"replica {self.name}", timeout_s)

    def kill(self) -> None:
        """SIGKILL to the whole process group: a crash, an OOM kill, a lost node."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def terminate(self) -> None:
        """SIGTERM to the server, as Kubernetes and `docker stop` send it: it drains, then exits."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout_s: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout_s)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # stray inspection workers, if any
            self.proc.wait()


@dataclass
class Cluster:
    workdir: Path
    env: Mapping[str, str]  # R1GATE_* settings every replica gets
    config: Path | None = None  # a settings file for every replica
    replicas: list[Replica] = field(default_factory=list)
    lb_port: int = 0
    haproxy: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    def start(self, count: int = 2, timeout_s: float = 180) -> None:
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        self.replicas = [Replica(f"gw{i}", free_port(), env, self.workdir / f"gw{i}.log", self.config)
                         for i in range(1, count + 1)]
        for replica in self.replicas:  # in parallel: most of the start is loading language models
            replica.start()
        self.lb_port = free_port()
        lb_env = {**os.environ, "HAPROXY_BIND": f"127.0.0.1:{self.lb_port}",
                  "HAPROXY_STATS_SOCKET": str(self.workdir / "haproxy.sock"),
                  "HAPROXY_ERRORS": str(HAPROXY_DIR / "errors"),
                  **{f"GATEWAY_{i + 1}": f"127.0.0.1:{r.port}" for i, r in enumerate(self.replicas)}}
        with open(self.workdir / "haproxy.log", "a") as log:
            self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(HAPROXY_DIR / "haproxy.cfg")], env=lb_env,
                                            stdout=log, stderr=subprocess.STDOUT)
        for replica in self.replicas:
            replica.wait_ready(timeout_s)
        self.wait_backends({r.name: "UP" for r in self.replicas})

    def backend_states(self) -> dict[str, str]:
        """HAProxy's view of each replica (UP, DOWN, ...), from its stats socket."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.workdir / "haproxy.sock"))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","))) for line in lines[1:] if line]
        return {r["svname"]: r["status"].split()[0] for r in rows if r["pxname"] == "gateways"
                and r["svname"] not in ("BACKEND", "FRONTEND")}

    def wait_backends(self, want: Mapping[str, str], timeout_s: float = 30) -> None:
        assert self.haproxy is not None

        def reached() -> bool:
            try:
                states = self.backend_states()
            except OSError:
                return False
            return all(states.get(name) == state for name, state in want.items())

        _wait(reached, self.haproxy, "haproxy", timeout_s)

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()
        if self.haproxy is not None:
            self.haproxy.terminate()
            self.haproxy.wait()


@contextlib.contextmanager
def running(workdir: Path, env: Mapping[str, str], count: int = 2, config: Path | None = None) -> Iterator[Cluster]:
    cluster = Cluster(workdir, env, config)
    try:
        cluster.start(count)
        yield cluster
    finally:
        cluster.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", required=True, help="postgresql://… shared by the replicas")
    p.add_argument("--redis-url", required=True)
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--fake-upstreams", action="store_true", help="answer with tests/fake_deepseek.py, no real API")
    args = p.parse_args()
    env = {"R1GATE_DATABASE_URL": args.database_url, "R1GATE_REDIS_URL": args.redis_url,
           "R1GATE_POLICY": str(ROOT / "policies" / "default.yaml"), "R1GATE_INSPECTION_WORKERS": "1"}
    with contextlib.ExitStack() as stack:
        if args.fake_upstreams:
            sys.path.insert(0, str(ROOT))
            from tests.fake_deepseek import Fake, app
            from tests.servers import ServerThread

            cloud, onprem = (stack.enter_context(ServerThread(app(Fake()))) for _ in range(2))
            env.update(R1GATE_CLOUD_URL=cloud.url, R1GATE_CLOUD_API_KEY="sk-fake", R1GATE_ONPREM_URL=f"{onprem.url}/v1")
        key = subprocess.run([*R1GATE, "keys", "create", "--team", "rehearsal"], env={**os.environ, **env}, cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout.split()[-1]
        cluster = stack.enter_context(running(Path(stack.enter_context(tempfile.TemporaryDirectory())), env,
                                              args.replicas))
        print(f"load balancer: {cluster.url}/v1  key: {key}")
        for r in cluster.replicas:
            print(f"replica {r.name}: {r.url} (pid {r.proc.pid if r.proc else '-'})")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
