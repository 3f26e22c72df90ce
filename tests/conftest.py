"""Shared fixtures: fake upstreams and gateways, each a real HTTP server on loopback."""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import openai
import pytest
import redis
import yaml

from proxy import config
from proxy.app import create_app
from proxy.db import Database
from proxy.keys import KeyStore
from tests.fake_deepseek import Fake, app as fake_app
from tests.helpers import free_port
from tests.servers import ServerThread

CLOUD_KEY = "sk-cloud-secret-0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class FakeServer:
    fake: Fake
    url: str


@contextlib.contextmanager
def _fake_server() -> Iterator[FakeServer]:
    fake = Fake()
    with ServerThread(fake_app(fake)) as server:
        fake.url = server.url
        yield FakeServer(fake, server.url)


@pytest.fixture(scope="session")
def _cloud_server() -> Iterator[FakeServer]:
    with _fake_server() as s:
        yield s


@pytest.fixture(scope="session")
def _onprem_server() -> Iterator[FakeServer]:
    with _fake_server() as s:
        yield s


@pytest.fixture
def cloud(_cloud_server: FakeServer) -> Fake:
    _cloud_server.fake.reset()
    return _cloud_server.fake


@pytest.fixture
def onprem(_onprem_server: FakeServer) -> Fake:
    _onprem_server.fake.reset()
    return _onprem_server.fake


@dataclass
class Gateway:
    url: str
    key: str
    settings: config.Settings
    server: ServerThread

    def stop(self) -> None:
        """Stops the gateway; its shutdown flushes the ledger, so the database is complete."""
        self.server.__exit__(None, None, None)

    def db(self) -> Database:
        return Database(self.settings.database_url)

    def client(self, **kw: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=kw.pop("api_key", self.key), max_retries=0, **kw)

    def async_client(self, **kw: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key=kw.pop("api_key", self.key),
                                  max_retries=0, **kw)


def settings_for(tmp: Path, cloud_url: str | None, onprem_url: str | None, **overrides: Any) -> config.Settings:
    data: dict[str, Any] = {
        "cloud": {"url": cloud_url or "http://127.0.0.1:9", "api_key": CLOUD_KEY},
        "onprem": {"url": f"{onprem_url}/v1" if onprem_url else "http://127.0.0.1:9/v1"},
        "database_url": f"sqlite:///{tmp / 'r1gate.db'}",
        "retries": {"attempts": 3, "backoff_s": 0.01, "max_backoff_s": 0.05},
        "timeouts": {"connect_s": 2, "first_byte_s": 10, "idle_s": 10, "total_s": 30},
        "inspection_workers": 0,  # in a thread: no process pool per test gateway
        "policy": str(ROOT / "policies" / "default.yaml"),
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return config.Settings.model_validate(data)


@pytest.fixture
def make_gateway(tmp_path: Path, _cloud_server: FakeServer, _onprem_server: FakeServer
                 ) -> Iterator[Callable[..., Gateway]]:
    """Starts a gateway with test settings; keyword arguments override settings, and
    `router` plugs in another routing decision."""
    with contextlib.ExitStack() as stack:
        def make(router: Any = None, **overrides: Any) -> Gateway:
            settings = settings_for(tmp_path, _cloud_server.url, _onprem_server.url, **overrides)
            db = Database(settings.database_url)
            key = KeyStore(db).create("team-a")
            db.close()
            server = stack.enter_context(ServerThread(create_app(settings, router=router)))
            return Gateway(server.url, key, settings, server)
        yield make


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway], cloud: Fake, onprem: Fake) -> Gateway:
    return make_gateway()


class RedisServer:
    """A private redis-server for the tests, which they may also stop and start again."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.url, self._dir = port, f"redis://127.0.0.1:{port}/0", workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", str(self._dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(500):  # each try waits up to its connect timeout
            try:
                client.ping()
                return
            except redis.ConnectionError:
                try:
                    self.proc.wait(timeout=0.02)  # returns early only if it died
                    raise RuntimeError("redis-server exited")
                except subprocess.TimeoutExpired:
                    pass
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def flush(self) -> None:
        redis.Redis(port=self.port).flushall()


@pytest.fixture(scope="session")
def _redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI needs redis-server")
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(_redis_server: RedisServer) -> RedisServer:
    if _redis_server.proc is None:  # a test stopped it
        _redis_server.start()
    _redis_server.flush()
    return _redis_server


def wait_healthy(base: str, proc: subprocess.Popen) -> None:
    """Returns once `r1gate serve` at `base` answers /healthz; fails if the process died."""
    import httpx

    for _ in range(600):  # each try waits on the process for a moment, so this is bounded in time
        try:
            if httpx.get(f"{base}/healthz", timeout=0.1).status_code == 200:
                return
        except httpx.HTTPError:
            try:
                proc.wait(timeout=0.05)  # returns early only if it died
                raise AssertionError(f"r1gate serve exited: {proc.stderr.read() if proc.stderr else ''}")
            except subprocess.TimeoutExpired:
                pass
    raise AssertionError("r1gate serve did not come up")


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """Every line the gateway logged during the test, formatted as in production."""
    from proxy.logs import JsonFormatter

    caplog.set_level(logging.DEBUG)
    formatter = JsonFormatter()
    return lambda: [formatter.format(r) for r in caplog.records]


@pytest.fixture
def redact_gateway(make_gateway, tmp_path, cloud, onprem):
    """The shipped policy, with personal data pseudonymized for the cloud instead of kept on-prem."""
    policy = yaml.safe_load((ROOT / "policies" / "default.yaml").read_text())
    policy["redactable"] = ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS"]
    for rule in policy["rules"]:
        if rule["id"] == "personal-data":
            rule["action"] = "redact"
    path = tmp_path / "redact.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True))
    cloud.echo = True
    return make_gateway(policy=str(path))
