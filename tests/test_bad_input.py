"""Malformed requests get a precise 4xx in OpenAI's shape, and the gateway keeps serving."""
from __future__ import annotations

import httpx
import pytest

HELLO = [{"role": "user", "content": "Say hello."}]


def _post(gw, content: bytes | None = None, json=None, path="/v1/chat/completions", **headers):
    return httpx.post(f"{gw.url}{path}", content=content, json=json,
                      headers={"authorization": f"Bearer {gw.key}", "content-type": "application/json", **headers})


@pytest.mark.parametrize("body,status,param,words", [
    (b"{not json", 400, None, "not valid JSON"),
    (b"\xff\xfe{}", 400, None, "not valid UTF-8"),
    (b"[1, 2]", 400, None, "must be a JSON object"),
    (b'{"model": "deepseek-chat"}', 400, "messages", "'messages' is required"),
    (b'{"model": "deepseek-chat", "messages": []}', 400, "messages", "non-empty"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "robot", "content": "x"}]}', 400, "messages[0].role", "role"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": 5}]}', 400, "messages[0].content", "string"),
    (b'{"model": 7, "messages": [{"role": "user", "content": "x"}]}', 400, "model", "string"),
    (b'{"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}', 404, "model", "does not exist"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}',
     400, "temperature", "between 0 and 2"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}',
     400, "max_tokens", "integer between 1 and"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
     400, "stream", "boolean"),
])
def test_bad_bodies(gateway, cloud, body, status, param, words):
    r = _post(gateway, body)
    assert r.status_code == status
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert words in error["message"] and error["param"] == param
    assert cloud.received == []
    assert _post(gateway, json={"model": "deepseek-chat", "messages": HELLO}).status_code == 200


def test_body_too_large(make_gateway, cloud):
    gw = make_gateway(max_body_bytes=4096)
    r = _post(gw, json={"model": "deepseek-chat", "messages": [{"role": "user", "content": "x" * 10000}]})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    chunked = httpx.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {gw.key}"},
                         content=iter([b"{" + b" " * 3000, b" " * 3000 + b"}"]))  # no content-length
    assert chunked.status_code == 413
    assert _post(gw, json={"model": "deepseek-chat", "messages": HELLO}).status_code == 200


def test_missing_key_unknown_path_wrong_method(gateway):
    r = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "deepseek-chat", "messages": HELLO})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = httpx.get(f"{gateway.url}/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.get(f"{gateway.url}/v1/chat/completions")
    assert r.status_code == 405 and "error" in r.json()


def test_health_and_readiness(make_gateway, gateway):
    assert httpx.get(f"{gateway.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{gateway.url}/readyz")
    assert ready.status_code == 200 and ready.json() == {"database": "ok", "cloud": "ok", "onprem": "ok",
                                                         "cache": "memory", "ledger_backlog": 0, "status": "ready"}
    degraded = make_gateway(onprem={"url": "http://127.0.0.1:9/v1"})
    assert httpx.get(f"{degraded.url}/readyz").json()["status"] == "degraded"
    down = make_gateway(onprem={"url": "http://127.0.0.1:9/v1"}, cloud={"api_key": None})
    r = httpx.get(f"{down.url}/readyz")
    assert r.status_code == 503 and r.json()["cloud"] == "not_configured"
