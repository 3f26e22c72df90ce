from __future__ import annotations

from pathlib import Path

import pytest

from proxy.inspect import Inspector
from proxy.policy import PolicyRouter, load_policy
from proxy.policy.rules import CompiledPolicy

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = ROOT / "policies" / "default.yaml"


@pytest.fixture(scope="session")
def default_settings():
    loaded = load_policy(DEFAULT_POLICY)
    return CompiledPolicy.build(loaded.policy, loaded.version).settings


@pytest.fixture(scope="session")
def inspector(default_settings) -> Inspector:
    inspector = Inspector(default_settings)
    inspector.warm_up()
    return inspector


@pytest.fixture(scope="session")
def router() -> PolicyRouter:
    """The shipped policy, inspected in this process (the pool has its own tests)."""
    router = PolicyRouter(DEFAULT_POLICY, workers=0)
    router.start()
    return router


def found(inspector: Inspector, text: str) -> list[tuple[str, str]]:
    """(entity, original substring) for every finding that would count (score >= 0.5)."""
    return [(h.entity, text[h.start:h.end]) for h in inspector.inspect(text) if h.score >= 0.5]
