"""The official OpenAI SDK pointed at the gateway gets what DeepSeek's API would give it."""
from __future__ import annotations

import asyncio

import openai
import pytest

from tests.fake_deepseek import ANSWER, REASONING, TOOL_ARGS

HELLO = [{"role": "user", "content": "Say hello."}]


def test_non_stream_reasoner(gateway, cloud, onprem):
    r = gateway.client().chat.completions.create(model="deepseek-reasoner", messages=HELLO)
    assert r.model == "deepseek-reasoner"
    assert r.choices[0].message.content == ANSWER
    assert r.choices[0].message.reasoning_content == REASONING
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.completion_tokens_details.reasoning_tokens == len(REASONING.split())
    assert len(cloud.bodies) == 1 and not onprem.bodies


def test_response_headers(gateway, cloud):
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="deepseek-chat", messages=HELLO, extra_headers={"x-request-id": "req-123"})
    assert raw.headers["x-request-id"] == "req-123"
    assert raw.headers["x-r1gate-route"] == "cloud"
    assert raw.headers["x-r1gate-rules"] == ""
    assert raw.headers["x-r1gate-cache"] == "bypass"
    generated = gateway.client().chat.completions.with_raw_response.create(model="deepseek-chat", messages=HELLO)
    assert len(generated.headers["x-request-id"]) == 32


def test_stream_reasoning_then_content(gateway, cloud):
    cloud.keepalives = 2
    stream = gateway.client().chat.completions.create(model="deepseek-reasoner", messages=HELLO, stream=True)
    chunks = list(stream)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert (reasoning, content) == (REASONING, ANSWER)
    assert all(c.model == "deepseek-reasoner" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)  # not asked for


def test_stream_include_usage(gateway, cloud):
    stream = gateway.client().chat.completions.create(
        model="deepseek-reasoner", messages=HELLO, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == len(REASONING.split())


def test_keepalive_comments_pass_through(gateway, cloud):
    import httpx

    cloud.keepalives = 3
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions",
                      headers={"authorization": f"Bearer {gateway.key}"},
                      json={"model": "deepseek-chat", "messages": HELLO, "stream": True}) as r:
        text = r.read().decode()
    assert text.count(": keep-alive\n\n") == 3
    assert text.endswith("data: [DONE]\n\n")


def test_tools_stream_and_non_stream(gateway, cloud):
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                               "parameters": {"type": "object", "properties": {
                                                   "city": {"type": "string"}}}}}]
    client = gateway.client()
    r = client.chat.completions.create(model="deepseek-chat", messages=HELLO, tools=tools)
    call = r.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("get_weather", TOOL_ARGS)
    assert r.choices[0].finish_reason == "tool_calls"
    chunks = list(client.chat.completions.create(model="deepseek-chat", messages=HELLO, tools=tools, stream=True))
    args = "".join(tc.function.arguments or "" for c in chunks if c.choices
                   for tc in c.choices[0].delta.tool_calls or [])
    assert args == TOOL_ARGS
    assert cloud.bodies[0]["tools"] == tools


def test_tool_turn_history_and_parts_pass_through(gateway, cloud):
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {"role": "assistant", "content": None, "reasoning_content": "Use the tool.",
         "tool_calls": [{"id": "call_0", "type": "function",
                         "function": {"name": "get_weather", "arguments": TOOL_ARGS}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "18°C, sunny"},
    ]
    gateway.client().chat.completions.create(model="deepseek-reasoner", messages=messages, n=2, stop=["\n\n"],
                                             seed=7, temperature=0.6, top_p=0.9, max_tokens=64,
                                             response_format={"type": "text"}, logprobs=False)
    sent = cloud.bodies[0]
    # The original R1 API rejects reasoning in the history; everything else goes as sent.
    assert "reasoning_content" not in sent["messages"][2]
    assert sent["messages"][1]["content"] == [{"type": "text", "text": "Weather in Paris?"}]
    assert sent["messages"][3] == messages[3]
    for name, value in {"n": 2, "stop": ["\n\n"], "seed": 7, "temperature": 0.6, "top_p": 0.9,
                        "max_tokens": 64, "response_format": {"type": "text"}, "logprobs": False}.items():
        assert sent[name] == value


def test_history_reasoning_kept_when_the_model_wants_it(make_gateway, cloud):
    gw = make_gateway(models={"deepseek-v4": {"strip_history_reasoning": False}})
    messages = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": "ok", "reasoning_content": "thought"},
                {"role": "user", "content": "again"}]
    gw.client().chat.completions.create(model="deepseek-v4", messages=messages)
    assert cloud.bodies[0]["messages"][1]["reasoning_content"] == "thought"


def test_n_choices_stream(gateway, cloud):
    chunks = list(gateway.client().chat.completions.create(model="deepseek-reasoner", messages=HELLO, n=2,
                                                           stream=True))
    for i in range(2):
        content = "".join(ch.delta.content or "" for c in chunks for ch in c.choices if ch.index == i)
        assert content == ANSWER


def test_model_map_and_name_seen_by_client(make_gateway, cloud):
    gw = make_gateway(models={"r1": {"cloud": "deepseek-reasoner", "reasoner": True}})
    r = gw.client().chat.completions.create(model="r1", messages=HELLO)
    assert cloud.bodies[0]["model"] == "deepseek-reasoner"
    assert r.model == "r1"


def test_models_endpoint(gateway):
    ids = [m.id for m in gateway.client().models.list()]
    assert ids == ["deepseek-reasoner", "deepseek-chat"]


def test_without_v1_prefix(gateway, cloud):
    import httpx

    r = httpx.post(f"{gateway.url}/chat/completions", headers={"authorization": f"Bearer {gateway.key}"},
                   json={"model": "deepseek-chat", "messages": HELLO})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == ANSWER


async def test_async_client_concurrent(gateway, cloud):
    client = gateway.async_client()
    results = await asyncio.gather(*(client.chat.completions.create(
        model="deepseek-chat", messages=[{"role": "user", "content": f"question {i}"}]) for i in range(20)))
    assert [r.choices[0].message.content for r in results] == [ANSWER] * 20
    assert sorted(b["messages"][0]["content"] for b in cloud.bodies) == sorted(f"question {i}" for i in range(20))
    await client.close()


def test_cloud_key_sent_upstream_client_key_not(gateway, cloud):
    gateway.client().chat.completions.create(model="deepseek-chat", messages=HELLO)
    headers = cloud.received[0]["headers"]
    assert headers["authorization"] == "Bearer sk-cloud-secret-0123456789abcdef"
    assert gateway.key not in str(headers)


def test_bad_client_key(gateway):
    with pytest.raises(openai.AuthenticationError):
        gateway.client(api_key="sk-r1g-000000000000-" + "0" * 48).models.list()
    with pytest.raises(openai.AuthenticationError):
        gateway.client(api_key="not-a-key").chat.completions.create(model="deepseek-chat", messages=HELLO)
