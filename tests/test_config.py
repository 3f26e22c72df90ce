"""Settings: file, environment, and the shipped example."""
from __future__ import annotations

from pathlib import Path

import pytest

from proxy import config
from proxy.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_example_file_documents_the_defaults():
    assert config.load(ROOT / "deploy" / "r1gate.example.yaml", {}) == config.load(None, {})


def test_environment_overrides_file(tmp_path):
    path = tmp_path / "r1gate.yaml"
    path.write_text("cloud:\n  url: https://file.example\n  api_key: from-file\nfallback_to_onprem: false\n")
    s = config.load(path, {"R1GATE_CLOUD_URL": "https://env.example/", "R1GATE_ONPREM_URL": "http://gpu:8000/v1",
                           "R1GATE_DATABASE_URL": "postgresql://db/r1", "R1GATE_REDIS_URL": "redis://r:6379/0",
                           "R1GATE_POLICY": "p.yaml"})
    assert (s.cloud.url, s.cloud.api_key, s.onprem.url) == ("https://env.example", "from-file", "http://gpu:8000/v1")
    assert (s.database_url, s.redis_url, s.policy, s.fallback_to_onprem) == (
        "postgresql://db/r1", "redis://r:6379/0", "p.yaml", False)


def test_deepseek_api_key_is_the_fallback():
    assert config.load(None, {"DEEPSEEK_API_KEY": "a"}).cloud.api_key == "a"
    assert config.load(None, {"DEEPSEEK_API_KEY": "a", "R1GATE_CLOUD_API_KEY": "b"}).cloud.api_key == "b"
    assert config.load(None, {}).cloud.api_key is None


def test_onprem_messages_api():
    assert config.load(None, {}).onprem.messages_api == "translate"
    assert config.load(None, {"R1GATE_ONPREM_MESSAGES_API": "native"}).onprem.messages_api == "native"
    with pytest.raises(ConfigError, match="R1GATE_ONPREM_MESSAGES_API: onprem.messages_api"):
        config.load(None, {"R1GATE_ONPREM_MESSAGES_API": "yes"})
