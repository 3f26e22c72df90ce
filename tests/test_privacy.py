"""Logs and answers carry no detected value and no key material (invariants 4, 8)."""
from __future__ import annotations

import json

import httpx

from tests.conftest import CLOUD_KEY

EMAIL = "jeanne.martin@example.fr"


def test_log_lines_hold_no_values_and_no_keys(gateway, cloud, onprem, log_lines):
    client = gateway.client()
    client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": f"Mail {EMAIL}"}])
    # Read to the end of the HTTP body: the request's log line is written before it ends.
    httpx.post(f"{gateway.url}/v1/chat/completions", headers={"authorization": f"Bearer {gateway.key}"},
               json={"model": "deepseek-chat", "stream": True,
                     "messages": [{"role": "user", "content": f"Mail {EMAIL} again"}]}).read()
    lines = log_lines()
    requests = [json.loads(line) for line in lines if '"event":"request"' in line]
    assert len(requests) == 2
    assert all(r["route"] == "onprem" and r["entities"] == {"EMAIL_ADDRESS": 1} for r in requests)
    assert all(r["team"] == "team-a" and r["status"] == 200 for r in requests)
    text = "\n".join(lines)
    for secret in (EMAIL, "jeanne", gateway.key, gateway.key.rsplit("-", 1)[1], CLOUD_KEY, "Mail "):
        assert secret not in text


def test_cloud_key_never_sent_onprem_nor_to_clients(gateway, cloud, onprem):
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="deepseek-chat", messages=[{"role": "user", "content": f"Mail {EMAIL}"}])
    assert "authorization" not in onprem.received[0]["headers"]
    assert CLOUD_KEY not in raw.text and CLOUD_KEY not in str(raw.headers)


def test_keys_stored_hashed(gateway):
    import sqlite3

    path = gateway.settings.database_url.removeprefix("sqlite:///")
    dump = "\n".join(sqlite3.connect(path).iterdump())
    secret = gateway.key.rsplit("-", 1)[1]
    assert secret not in dump and gateway.key not in dump
