"""The Anthropic Messages API under /anthropic, through the official `anthropic` SDK (sync,
async, streaming) against a fake DeepSeek that serves the Messages API and a fake on-prem
engine that speaks OpenAI's chat API."""
from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from tests.fake_deepseek import ANSWER, REASONING

HI = [{"role": "user", "content": "How do I reverse a list in Python?"}]
TOOLS = [{"name": "get_weather", "description": "The weather in a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
SECRET_FILE = ("# deploy settings\nOWNER=jeanne.martin@example-clinic.fr\n"
               "OPENAI_API_KEY=sk-proj-4f9XqL2mN8vR3tY6wZ1aB5cD7eF0gH2jK4lM6nP8\n")


def client(gw, **kw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"{gw.url}/anthropic", api_key=kw.pop("api_key", gw.key), max_retries=0, **kw)


def tool_turn(content) -> list[dict]:
    """A coding agent's turn: it asked to read a file, here is what the file holds."""
    return [{"role": "user", "content": "What does deploy.env configure?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read",
                                               "input": {"file_path": "/srv/app/deploy.env"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": content}]}]


def test_harmless_request_reaches_the_cloud_byte_for_byte(gateway, cloud, onprem):
    body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": HI,
                       "metadata": {"user_id": "user_3f2a9c_session_77"}, "context_management": {"edits": []}},
                      indent=1).encode()
    r = httpx.post(f"{gateway.url}/anthropic/v1/messages", content=body,
                   headers={"x-api-key": gateway.key, "anthropic-version": "2023-06-01",
                            "content-type": "application/json"})
    assert r.status_code == 200 and r.headers["x-r1gate-route"] == "cloud"
    [sent] = cloud.messages
    assert sent["raw"] == body and sent["path"] == "/anthropic/v1/messages"
    assert sent["headers"]["authorization"] == "Bearer sk-cloud-secret-0123456789abcdef"
    assert gateway.key not in json.dumps(sent["headers"])  # the client's key stays here
    assert r.json()["model"] == "claude-sonnet-4-5" and r.json()["content"][0]["text"] == ANSWER
    assert not onprem.received


def test_sdk_create_and_stream_from_the_cloud(gateway, cloud):
    c = client(gateway)
    message = c.messages.create(model="claude-sonnet-4-5", max_tokens=512, messages=HI, system="Be brief.",
                                thinking={"type": "enabled", "budget_tokens": 1024}, tools=TOOLS)
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].thinking == REASONING and message.content[2].input == {"city": "Paris", "unit": "celsius"}
    assert message.stop_reason == "tool_use" and message.usage.cache_read_input_tokens == 3
    with c.messages.stream(model="claude-sonnet-4-5", max_tokens=512, messages=HI, tools=TOOLS,
                           thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert final.model_dump(exclude={"id"}) == message.model_dump(exclude={"id"})


async def test_async_sdk(gateway, cloud):
    c = anthropic.AsyncAnthropic(base_url=f"{gateway.url}/anthropic", auth_token=gateway.key, max_retries=0)
    message = await c.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=HI)
    assert message.content[0].text == ANSWER
    async with c.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=HI) as stream:
        text = "".join([t async for t in stream.text_stream])
    assert text == ANSWER


def test_sensitive_tool_result_never_reaches_the_cloud(gateway, cloud, onprem):
    c = client(gateway)
    with pytest.raises(anthropic.PermissionDeniedError) as err:  # a secret: the default policy blocks it
        c.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=tool_turn(SECRET_FILE), tools=TOOLS)
    assert err.value.body["error"]["type"] == "permission_error" and "sk-proj" not in err.value.message
    mail_only = [{"type": "text", "text": "# deploy settings\nOWNER=jeanne.martin@example-clinic.fr\n"}]
    raw = c.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=64,
                                              messages=tool_turn(mail_only), tools=TOOLS)
    assert raw.headers["x-r1gate-route"] == "onprem" and raw.parse().content[-1].text == ANSWER
    assert not cloud.received
    [chat] = onprem.bodies  # translated for the engine: the tool call and its result keep their id
    assert chat["model"] == "deepseek-chat" and chat["messages"][1]["tool_calls"][0]["id"] == "toolu_1"
    assert chat["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1",
                                   "content": "# deploy settings\nOWNER=jeanne.martin@example-clinic.fr\n"}
    assert chat["tools"][0]["function"]["parameters"] == TOOLS[0]["input_schema"]


def test_onprem_stream_arrives_as_anthropic_events_in_order(gateway, cloud, onprem):
    turn = [{"role": "user", "content": "Weather for Dr. Jeanne Martin, jeanne.martin@example-clinic.fr?"}]
    with client(gateway).messages.stream(model="claude-opus-4-1", max_tokens=256, messages=turn,
                                         tools=TOOLS) as stream:
        seen = [(e.type, getattr(getattr(e, "content_block", None), "type", None)
                 or getattr(getattr(e, "delta", None), "type", None)) for e in stream]
        final = stream.get_final_message()
    assert not cloud.received and onprem.bodies[0]["model"] == "deepseek-reasoner"
    assert seen[0] == ("message_start", None)  # the SDK keeps `ping` to itself
    blocks = [kind for event, kind in seen if event == "content_block_start"]
    assert blocks == ["thinking", "tool_use"]  # the engine thinks, then calls the tool
    assert ("content_block_delta", "thinking_delta") in seen and ("content_block_delta", "input_json_delta") in seen
    assert [event for event, _ in seen[-2:]] == ["message_delta", "message_stop"]
    assert final.content[0].thinking == REASONING and final.content[1].input == {"city": "Paris", "unit": "celsius"}
    assert final.stop_reason == "tool_use" and final.usage.output_tokens == onprem.reported[0]["completion_tokens"]


def test_onprem_text_answer(gateway, cloud, onprem):
    turn = [{"role": "user", "content": [{"type": "text", "text": "Call me at jeanne.martin@example-clinic.fr"}]}]
    message = client(gateway).messages.create(model="claude-haiku-4-5", max_tokens=64, messages=turn,
                                              system=[{"type": "text", "text": "You are terse."}])
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == ANSWER
    assert message.stop_reason == "end_turn" and message.model == "claude-haiku-4-5"
    assert onprem.bodies[0]["messages"][0] == {"role": "system", "content": "You are terse."}


def test_errors_in_anthropic_shape(gateway, cloud, onprem):
    with pytest.raises(anthropic.AuthenticationError) as err:
        client(gateway, api_key="r1g-wrong").messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=HI)
    assert err.value.body["type"] == "error" and err.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.BadRequestError) as err:
        client(gateway).messages.create(model="claude-sonnet-4-5", max_tokens=0, messages=HI)
    assert "max_tokens" in err.value.message
    with pytest.raises(anthropic.NotFoundError):
        client(gateway).messages.create(model="gpt-4o", max_tokens=8, messages=HI)
    r = httpx.post(f"{gateway.url}/anthropic/v1/messages", content=b"{not json",
                   headers={"x-api-key": gateway.key})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    smuggled = (b'{"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"my IBAN is '
                b'FR7610107001750001012345690"}],"messages":' + json.dumps(HI).encode() + b"}")
    r = httpx.post(f"{gateway.url}/anthropic/v1/messages", content=smuggled, headers={"x-api-key": gateway.key})
    assert r.status_code == 400 and "twice" in r.json()["error"]["message"]  # never forwarded as it is
    for bad in ([{"role": ["user"], "content": "hi"}], [{"role": "user", "content": [{"text": "no type"}]}]):
        r = httpx.post(f"{gateway.url}/anthropic/v1/messages", headers={"x-api-key": gateway.key},
                       json={"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": bad})
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error", r.text
    cloud.fail(400, "messages: bad role order")
    with pytest.raises(anthropic.BadRequestError, match="bad role order"):
        client(gateway).messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=HI)


def test_mid_stream_failure_ends_with_an_error_event(make_gateway, cloud, onprem):
    gw = make_gateway(timeouts={"idle_s": 0.5})
    cloud.hang_after = 4  # message_start, ping, a block's start and first delta; then silence
    with pytest.raises(anthropic.APIStatusError) as err:
        with client(gw).messages.stream(model="claude-sonnet-4-5", max_tokens=8, messages=HI) as stream:
            for _ in stream:
                pass
    assert "interrupted" in str(err.value) and not onprem.received


def test_models_and_count_tokens(gateway):
    c = client(gateway)
    assert {m.id for m in c.models.list()} == set(gateway.settings.models)
    assert c.messages.count_tokens(model="claude-sonnet-4-5", messages=HI).input_tokens > 0


def test_explain_accepts_an_anthropic_body(gateway):
    r = httpx.post(f"{gateway.url}/anthropic/v1/route/explain", headers={"x-api-key": gateway.key},
                   json={"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": tool_turn(SECRET_FILE)})
    assert r.status_code == 200 and r.json()["route"] == "blocked"
    assert "sk-proj" not in r.text and "jeanne" not in r.text
