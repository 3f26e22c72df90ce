"""Claude Code against the gateway: a recorded request as Claude Code 2.1.197 sends it (6 KB
of system prompt, 64 KB of tool definitions, a device hash and session id in
`metadata.user_id`, `thinking: adaptive`, `context_management`, `output_config`), and
Claude Code itself in print mode, and the TypeScript SDK, when `tests/anthropic/clients` has
them installed (`npm install` there)."""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.anthropic.test_messages_sdk import SECRET_FILE
from tests.fake_deepseek import ANSWER

HERE = Path(__file__).resolve().parent
RECORDED = (HERE / "claude_code_request.json").read_bytes()
CLAUDE = shutil.which("claude", path=str(HERE / "clients" / "node_modules" / ".bin")) or os.environ.get("R1GATE_CLAUDE")


@pytest.fixture
def gateway(make_gateway, cloud, onprem):
    """70 KB of prompt inspected cold on a busy test machine can pass the default 5 s
    inspection timeout, which (failing closed) would route it on-prem."""
    return make_gateway(inspection_timeout_s=120)


def _post(gw, body: bytes) -> httpx.Response:
    return httpx.post(f"{gw.url}/anthropic/v1/messages?beta=true", content=body, timeout=60,
                      headers={"x-api-key": gw.key, "anthropic-version": "2023-06-01",
                               "anthropic-beta": "claude-code-20250219", "content-type": "application/json"})


def _with_user_text(text: str) -> bytes:
    body = json.loads(RECORDED)
    body["messages"][0]["content"][1]["text"] = text
    return json.dumps(body).encode()


def test_claude_code_boilerplate_is_not_personal_data(gateway, cloud, onprem):
    """Role mailboxes, the product's names, the billing line, the device hash: none keeps a
    harmless turn on-prem, and the cloud gets the turn unchanged, byte for byte."""
    body = RECORDED
    r = _post(gateway, body)
    assert r.status_code == 200 and r.headers["x-r1gate-route"] == "cloud", r.headers.get("x-r1gate-rules")
    assert "event: message_stop" in r.text
    assert cloud.messages[0]["raw"] == body and not onprem.received


def test_a_customers_email_in_a_claude_code_turn_stays_onprem(gateway, cloud, onprem):
    r = _post(gateway, _with_user_text("Draft a reply to jeanne.martin@example-clinic.fr about her refund."))
    assert r.status_code == 200 and r.headers["x-r1gate-route"] == "onprem"
    assert not cloud.received and "event: message_stop" in r.text
    assert len(onprem.bodies[0]["tools"]) == len(json.loads(RECORDED)["tools"])


def test_a_secret_in_a_claude_code_tool_result_is_blocked(gateway, cloud, onprem):
    body = json.loads(RECORDED)
    body["messages"] += [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "Read",
                                           "input": {"file_path": "/srv/app/deploy.env"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": SECRET_FILE}]}]
    r = _post(gateway, json.dumps(body).encode())
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    assert not cloud.received and not onprem.received


def test_a_claude_code_device_hash_in_a_plain_sdk_request_is_an_opaque_id(gateway, cloud):
    meta = json.loads(RECORDED)["metadata"]
    body = {"model": "claude-sonnet-4-5", "max_tokens": 16, "metadata": meta,
            "messages": [{"role": "user", "content": "Rename variable x to count in main.py"}]}
    assert _post(gateway, json.dumps(body).encode()).headers["x-r1gate-route"] == "cloud"
    shaped = copy.deepcopy(body)
    shaped["metadata"]["user_id"] = "jeanne.martin@example-clinic.fr"  # not an opaque id: inspected
    assert _post(gateway, json.dumps(shaped).encode()).headers["x-r1gate-route"] == "onprem"


@pytest.mark.skipif(CLAUDE is None, reason="Claude Code is not installed (npm install in tests/anthropic/clients)")
def test_claude_code_print_mode(gateway, cloud, onprem, tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ANTHROPIC_BASE_URL": f"{gateway.url}/anthropic",
           "ANTHROPIC_API_KEY": gateway.key, "DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
    done = subprocess.run([CLAUDE, "-p", "How do I reverse a list in Python?"], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=40)
    assert done.returncode == 0, done.stderr[-2000:]
    assert ANSWER in done.stdout
    # A harmless coding question: Claude Code's own preamble keeps nothing on-prem.
    assert cloud.messages and not onprem.received


NODE_SDK = HERE / "clients" / "node_modules" / "@anthropic-ai" / "sdk"


@pytest.mark.skipif(not NODE_SDK.is_dir() or shutil.which("node") is None,
                    reason="the TypeScript SDK is not installed (npm install in tests/anthropic/clients)")
def test_typescript_sdk(gateway, cloud):
    env = {"PATH": os.environ["PATH"], "ANTHROPIC_BASE_URL": f"{gateway.url}/anthropic", "ANTHROPIC_API_KEY": gateway.key}
    done = subprocess.run(["node", "sdk_check.mjs"], cwd=HERE / "clients", env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert [b["type"] for b in out["message"]["content"]] == ["thinking", "text"]
    assert out["streamed"]["content"] == out["message"]["content"] and out["kinds"][-1] == "message_stop"
    assert out["error"] == {"name": "AuthenticationError", "status": 401, "type": "authentication_error"}
