"""The Messages API through the shared pipeline: pseudonymization with the values restored
in text, thinking and tool input (also mid-stream), the cache replayed as a valid stream,
budgets reserved from `max_tokens`, the ledger counting Anthropic's usage exactly, and
metrics that tell Messages traffic from chat completions."""
from __future__ import annotations

import json

import anthropic
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy.keys import KeyStore
from tests.anthropic.test_messages_sdk import HI, TOOLS, client

NAME, MAIL = "Marie Dupont", "marie.dupont@axa.fr"
PROMPT = f"Write a reminder to {NAME} ({MAIL}) about invoice 4411."


def _leaked(cloud) -> list[str]:
    sent = b"".join(r["raw"] for r in cloud.messages).decode()
    return [w for w in (NAME, MAIL, "Dupont", "marie.dupont") if w in sent]


@pytest.mark.parametrize("stream", [False, True])
def test_redaction_round_trip_through_tool_use(redact_gateway, cloud, onprem, stream):
    c = client(redact_gateway)
    kw = dict(model="claude-sonnet-4-5", max_tokens=256, tools=TOOLS, thinking={"type": "enabled", "budget_tokens": 512},
              messages=[{"role": "user", "content": [{"type": "text", "text": PROMPT}]}])
    if stream:
        with c.messages.stream(**kw) as s:
            deltas = [e.delta.partial_json for e in s if e.type == "content_block_delta"
                      and e.delta.type == "input_json_delta"]
            message = s.get_final_message()
        assert json.loads("".join(deltas)) == {"said": PROMPT, "nested": [{"said": PROMPT}]}  # JSON stays whole
    else:
        message = c.messages.create(**kw)
    assert not _leaked(cloud) and "[EMAIL_ADDRESS_" in cloud.messages[0]["raw"].decode() and not onprem.received
    thinking, text, tool = message.content
    assert thinking.thinking == f"The user wrote: {PROMPT}" and text.text == f"You said: {PROMPT}"
    assert tool.input == {"said": PROMPT, "nested": [{"said": PROMPT}]}


def test_cache_hit_replays_as_a_valid_stream(gateway, cloud):
    c = client(gateway)
    kw = dict(model="claude-sonnet-4-5", max_tokens=128, extra_body={"temperature": 0}, messages=HI, tools=TOOLS,
              thinking={"type": "enabled", "budget_tokens": 512})
    first = c.messages.with_raw_response.create(**kw)
    assert first.headers["x-r1gate-cache"] == "miss"
    with c.messages.stream(**kw) as s:
        kinds = [e.type for e in s]
        replayed = s.get_final_message()
    assert len(cloud.messages) == 1  # both answered from the cache
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert replayed.model_dump(exclude={"id"}) == first.parse().model_dump(exclude={"id"})
    again = c.messages.with_raw_response.create(**kw)
    assert again.headers["x-r1gate-cache"] == "hit" and again.parse().content == first.parse().content
    chat = gateway.client().chat.completions.create(model="deepseek-chat", temperature=0,
                                                    messages=[{"role": "user", "content": HI[0]["content"]}])
    assert chat.choices[0].message.content  # the chat shape never gets a cached Anthropic message


def test_budget_reserved_from_max_tokens(make_gateway, cloud):
    gw = make_gateway()
    tiny = KeyStore(gw.db()).create("frugal", budget_usd=0.001)
    with pytest.raises(anthropic.RateLimitError) as err:
        client(gw, api_key=tiny).messages.create(model="claude-opus-4-1", max_tokens=8000, messages=HI)
    assert err.value.body["error"]["type"] == "rate_limit_error" and not cloud.received
    assert client(gw, api_key=tiny).messages.create(model="claude-opus-4-1", max_tokens=50, messages=HI).content


def test_ledger_counts_anthropic_usage_exactly(make_gateway, cloud, onprem):
    gw = make_gateway()
    c = client(gw)
    c.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=HI)
    with c.messages.stream(model="claude-opus-4-1", max_tokens=64, messages=HI,
                           thinking={"type": "enabled", "budget_tokens": 512}) as s:
        s.get_final_message()
    c.messages.create(model="claude-haiku-4-5", max_tokens=64,
                      messages=[{"role": "user", "content": "mail alain.roux@dupont-industries.fr"}])
    gw.stop()
    rows = gw.db().fetchall("SELECT prompt_hit_tokens, prompt_miss_tokens, completion_tokens, cost_usd, route, "
                            "upstream_model FROM ledger ORDER BY rowid")
    anthropic_usage, chat_usage = cloud.reported, onprem.reported
    assert [r[4] for r in rows] == ["cloud", "cloud", "onprem"]
    for row, usage in zip(rows, anthropic_usage):
        assert row[:3] == (usage["cache_read_input_tokens"], usage["input_tokens"], usage["output_tokens"])
    assert rows[2][0] + rows[2][1] == chat_usage[0]["prompt_tokens"] and rows[2][2] == chat_usage[0]["completion_tokens"]
    assert [r[5] for r in rows] == ["deepseek-flash", "deepseek-v4-pro", "deepseek-chat"]
    assert all(r[3] > 0 for r in rows)


def test_metrics_tell_messages_from_chat(gateway, cloud, onprem):
    client(gateway).messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=HI)
    with pytest.raises(anthropic.BadRequestError):
        client(gateway).messages.create(model="claude-sonnet-4-5", max_tokens=0, messages=HI)
    gateway.client().chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": "hi"}])
    text = httpx.get(f"{gateway.url}/metrics").text
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    requests = {(s.labels["api"], s.labels["route"], s.labels["status"]): s.value
                for s in samples if s.name == "r1gate_requests_total"}
    assert requests == {("messages", "cloud", "200"): 1, ("messages", "none", "400"): 1, ("chat", "cloud", "200"): 1}
    timed = {(s.labels["api"], s.labels["route"]): s.value for s in samples if s.name == "r1gate_request_seconds_count"}
    assert timed == {("messages", "cloud"): 1, ("messages", "none"): 1, ("chat", "cloud"): 1}
