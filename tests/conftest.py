"""Shared fixtures: fake upstreams and gateways, each a real HTTP server on loopback."""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import openai
import pytest

from proxy import config
from proxy.app import create_app
from proxy.db import Database
from proxy.keys import KeyStore
from tests.fake_deepseek import Fake, app as fake_app
from tests.servers import ServerThread

CLOUD_KEY = "sk-cloud-secret-0123456789abcdef"


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
            return Gateway(server.url, key, settings)
        yield make


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway], cloud: Fake, onprem: Fake) -> Gateway:
    return make_gateway()


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """Every line the gateway logged during the test, formatted as in production."""
    from proxy.logs import JsonFormatter

    caplog.set_level(logging.DEBUG)
    formatter = JsonFormatter()
    return lambda: [formatter.format(r) for r in caplog.records]
