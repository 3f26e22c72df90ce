"""A gateway with an admin key, and a real browser (Debian's chromium, driven by Playwright)."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from proxy.db import Database
from proxy.keys import KeyStore
from tests.conftest import Gateway

SHOTS = Path(__file__).resolve().parents[2] / "tests" / "console" / "screenshots"  # git-ignored


@dataclass
class Console:
    gw: Gateway
    admin_key: str

    @property
    def url(self) -> str:
        return f"{self.gw.url}/console"


@pytest.fixture
def console(make_gateway, cloud, onprem) -> Console:
    gw = make_gateway()
    db = Database(gw.settings.database_url)
    admin = KeyStore(db).create("compliance", admin=True)
    db.close()
    return Console(gw, admin)


def _chromium() -> str | None:
    return os.environ.get("R1GATE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")  # Playwright's sync API holds an event loop: not past this module
def browser() -> Iterator[Any]:
    path = _chromium()
    if path is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI needs chromium (tests/services.sh installs Debian's package)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def shoot(page: Any, name: str) -> None:
    """Keeps a screenshot of the page as a test artefact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
