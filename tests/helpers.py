"""Helpers several test modules share."""
from __future__ import annotations

import os
import socket

import pytest

from proxy.db import Database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_url() -> str:
    """The test PostgreSQL's URL; without one the test skips, except in CI (`CI` set)."""
    url = os.environ.get("R1GATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        Database(url).close()
    except Exception:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL at {url} (CI requires one)")
    return url
