"""The Messages API on the on-prem route: an engine that serves `/v1/messages` itself
(`onprem.messages_api: native`) gets the Anthropic body under its served model name; one
that speaks only OpenAI's chat API gets `top_k` and the text of documents, and a document
it cannot read (a PDF) is a 400, never dropped. Documents sent as base64 text are inspected."""
from __future__ import annotations

import base64
import json

import anthropic
import httpx
import pytest

from tests.anthropic.test_messages_sdk import TOOLS, client
from tests.fake_deepseek import ANSWER, REASONING

MAIL = "jeanne.martin@example-clinic.fr"
SENSITIVE = [{"role": "user", "content": f"Weather for {MAIL}?"}]
NOTES = "Meeting notes: the release moves to Thursday."
PDF = base64.b64encode(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n").decode()


def _document(source: dict) -> dict:
    return {"type": "document", "source": source}


def _b64_text(text: str) -> dict:
    return _document({"type": "base64", "media_type": "text/plain", "data": base64.b64encode(text.encode()).decode()})


@pytest.mark.parametrize("stream", [False, True])
def test_native_engine_gets_the_anthropic_body(make_gateway, cloud, onprem, stream):
    gw = make_gateway(onprem={"messages_api": "native"})
    kw = dict(model="claude-sonnet-4-5", max_tokens=256, messages=SENSITIVE, tools=TOOLS, extra_body={"top_k": 7},
              thinking={"type": "enabled", "budget_tokens": 512}, metadata={"user_id": "session_42"})
    c = client(gw)
    if stream:
        with c.messages.stream(**kw) as s:
            kinds = [e.type for e in s]
            message = s.get_final_message()
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    else:
        message = c.messages.create(**kw)
    assert not cloud.received and not onprem.bodies  # nothing translated, nothing to the cloud
    [sent] = onprem.messages
    assert sent["path"] == "/v1/messages"
    expected = {**{k: v for k, v in kw.items() if k != "extra_body"}, "top_k": 7, "model": "deepseek-chat"}
    assert sent["body"] == {**expected, **({"stream": True} if stream else {})}
    assert message.model == "claude-sonnet-4-5"
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].thinking == REASONING and message.content[1].text == ANSWER
    assert message.content[2].input == {"city": "Paris", "unit": "celsius"} and message.stop_reason == "tool_use"
    gw.stop()
    [row] = gw.db().fetchall("SELECT route, upstream_model, prompt_hit_tokens, prompt_miss_tokens, completion_tokens, "
                             "cost_usd FROM ledger")
    [usage] = onprem.reported
    assert row[:5] == ("onprem", "deepseek-chat", usage["cache_read_input_tokens"], usage["input_tokens"],
                       usage["output_tokens"])
    assert row[5] > 0


def test_native_engine_errors_stay_onprem(make_gateway, cloud, onprem):
    gw = make_gateway(onprem={"messages_api": "native"})
    onprem.fail(400, "messages: tool_choice is not supported")
    with pytest.raises(anthropic.BadRequestError, match="tool_choice is not supported"):
        client(gw).messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=SENSITIVE)
    onprem.fail(503, "overloaded", times=3)
    with pytest.raises(anthropic.InternalServerError) as err:
        client(gw).messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=SENSITIVE)
    assert "never sent to the cloud" in err.value.message and not cloud.received


def test_top_k_and_text_documents_reach_a_chat_engine(gateway, cloud, onprem):
    tool_result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
        {"type": "text", "text": "cat notes.txt"},
        _document({"type": "text", "media_type": "text/plain", "data": NOTES})]}
    turn = [{"role": "user", "content": "Read the notes."},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}]},
            {"role": "user", "content": [
                tool_result,
                _document({"type": "text", "media_type": "text/plain", "data": "Plain notes."}),
                _b64_text("Encoded notes."),
                _document({"type": "content", "content": [{"type": "text", "text": "Block notes."}]}),
                {"type": "text", "text": f"Send the summary to {MAIL}."}]}]
    message = client(gateway).messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=turn,
                                                 extra_body={"top_k": 5})
    assert message.content[0].text == ANSWER and not cloud.received and not onprem.messages
    [chat] = onprem.bodies
    assert chat["top_k"] == 5
    assert chat["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1", "content": f"cat notes.txt\n{NOTES}"}
    assert [p["text"] for p in chat["messages"][3]["content"]] == [
        "Plain notes.", "Encoded notes.", "Block notes.", f"Send the summary to {MAIL}."]


def test_a_pdf_cannot_be_answered_by_a_chat_engine(gateway, cloud, onprem):
    turn = [{"role": "user", "content": [_document({"type": "base64", "media_type": "application/pdf", "data": PDF}),
                                         {"type": "text", "text": f"Summarize this for {MAIL}."}]}]
    with pytest.raises(anthropic.BadRequestError) as err:
        client(gateway).messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=turn)
    assert err.value.body["error"]["type"] == "invalid_request_error"
    assert "application/pdf" in err.value.message and "messages[0].content[0]" in err.value.message
    assert not onprem.received and not cloud.received


def test_text_documents_go_to_the_cloud_as_sent_and_base64_text_is_inspected(gateway, cloud, onprem):
    body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64, "top_k": 3, "messages": [
        {"role": "user", "content": [_document({"type": "text", "media_type": "text/plain", "data": NOTES}),
                                     _b64_text(NOTES), {"type": "text", "text": "Summarize these."}]}]}).encode()
    r = httpx.post(f"{gateway.url}/anthropic/v1/messages", content=body, headers={"x-api-key": gateway.key})
    assert r.status_code == 200 and r.headers["x-r1gate-route"] == "cloud"
    assert [m["raw"] for m in cloud.messages] == [body]
    hidden = [{"role": "user", "content": [_b64_text(f"Customer: {MAIL}"), {"type": "text", "text": "Summarize it."}]}]
    raw = client(gateway).messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=64, messages=hidden)
    assert raw.headers["x-r1gate-route"] == "onprem" and len(cloud.messages) == 1
    assert onprem.bodies[0]["messages"][0]["content"][0]["text"] == f"Customer: {MAIL}"


@pytest.mark.parametrize("part", [
    _document({"type": "base64", "media_type": "application/pdf", "data": PDF}),
    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
    {"type": "tool_result", "tool_use_id": "t1", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://intranet.example/scan.png"}}]},
])
def test_content_the_gateway_cannot_read_never_reaches_the_cloud(native_gateway, cloud, onprem, part):
    turn = [{"role": "user", "content": [part, {"type": "text", "text": "What does this say?"}]}]
    if part["type"] == "tool_result":
        turn = [{"role": "user", "content": "Scan it."},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "scan", "input": {}}]},
                {"role": "user", "content": [part]}]
    raw = client(native_gateway).messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=64,
                                                                   messages=turn)
    assert raw.headers["x-r1gate-route"] == "onprem" and "unreadable-content" in raw.headers["x-r1gate-rules"]
    assert not cloud.received and len(onprem.messages) == 1


@pytest.fixture
def native_gateway(make_gateway):
    return make_gateway(onprem={"messages_api": "native"})


def test_base64_text_is_never_pseudonymized_for_the_cloud(redact_gateway, cloud, onprem):
    hidden = [{"role": "user", "content": [_b64_text(f"Customer: {MAIL}"), {"type": "text", "text": "Summarize it."}]}]
    raw = client(redact_gateway).messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=64,
                                                                   messages=hidden)
    assert raw.headers["x-r1gate-route"] == "onprem" and not cloud.received
    assert "redact-unplaceable" in raw.headers["x-r1gate-rules"]
