"""Routing, retries and fallbacks, and how each failure reaches the SDK (invariants 1, 2)."""
from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from proxy.routing import Decision
from tests.fake_deepseek import ANSWER

HELLO = [{"role": "user", "content": "Say hello."}]
SENSITIVE = [{"role": "user", "content": "Write to jeanne.martin@example.fr about the invoice."}]
DOWN = "http://127.0.0.1:9/v1"  # nothing listens on the discard port: connection refused


def test_personal_data_goes_onprem(gateway, cloud, onprem):
    raw = gateway.client().chat.completions.with_raw_response.create(model="deepseek-reasoner", messages=SENSITIVE)
    assert raw.headers["x-r1gate-route"] == "onprem"
    assert raw.headers["x-r1gate-rules"] == "personal-data"
    assert raw.parse().choices[0].message.content == ANSWER
    assert len(onprem.bodies) == 1 and cloud.received == []


@pytest.mark.parametrize("text", ["Call me on +33 6 12 34 56 78", "IBAN FR76 1010 7001 7500 0101 2345 690",
                                  "card 4970 1012 3456 7893 please"])
def test_each_kind_of_personal_data(gateway, cloud, onprem, text):
    gateway.client().chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": text}])
    assert cloud.received == [] and len(onprem.bodies) == 1


def test_an_image_the_gateway_cannot_read_goes_onprem(gateway, cloud, onprem):
    scan = [{"role": "user", "content": [{"type": "text", "text": "What does this scan say?"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]
    raw = gateway.client().chat.completions.with_raw_response.create(model="deepseek-chat", messages=scan)
    assert raw.headers["x-r1gate-route"] == "onprem" and raw.headers["x-r1gate-rules"] == "unreadable-content"
    assert cloud.received == [] and len(onprem.bodies) == 1


def test_every_field_is_inspected(gateway, cloud, onprem):
    # Hidden in a tool definition and in the `user` field: both reach the upstream, so both count.
    tools = [{"type": "function", "function": {"name": "notify", "description": "mail paul.girard@dupont-industries.fr",
                                               "parameters": {"type": "object", "properties": {}}}}]
    gateway.client().chat.completions.create(model="deepseek-chat", messages=HELLO, tools=tools)
    gateway.client().chat.completions.create(model="deepseek-chat", messages=HELLO, user="ana.lima@dupont-industries.fr")
    assert cloud.received == [] and len(onprem.bodies) == 2


def test_sensitive_never_falls_back_to_cloud(make_gateway, cloud):
    gw = make_gateway(onprem={"url": DOWN})
    with pytest.raises(openai.InternalServerError) as err:
        gw.client().chat.completions.with_raw_response.create(model="deepseek-chat", messages=SENSITIVE)
    assert err.value.status_code == 503
    assert err.value.response.headers["x-should-retry"] == "true"
    assert err.value.response.headers["x-r1gate-route"] == "onprem"
    assert "never sent to the cloud" in err.value.message
    assert cloud.received == []


def test_sensitive_onprem_errors_are_retried_not_sent_to_cloud(gateway, cloud, onprem):
    onprem.fail(500, times=3)
    with pytest.raises(openai.InternalServerError) as err:
        gateway.client().chat.completions.create(model="deepseek-chat", messages=SENSITIVE, stream=True)
    assert err.value.status_code == 503
    assert len(onprem.received) == 3 and cloud.received == []


def test_cloud_retry_then_success(gateway, cloud, onprem):
    cloud.fail(500)
    cloud.fail(429, headers={"retry-after": "0"})
    r = gateway.client().chat.completions.create(model="deepseek-chat", messages=HELLO)
    assert r.choices[0].message.content == ANSWER
    assert len(cloud.received) == 3 and onprem.received == []


def test_cloud_down_falls_back_onprem(gateway, cloud, onprem):
    cloud.fail(503, times=3)
    raw = gateway.client().chat.completions.with_raw_response.create(model="deepseek-reasoner", messages=HELLO)
    assert raw.headers["x-r1gate-route"] == "onprem"
    assert len(onprem.bodies) == 1


def test_no_fallback_when_disabled(make_gateway, cloud, onprem):
    gw = make_gateway(fallback_to_onprem=False)
    cloud.fail(503, "Server overloaded", times=3)
    with pytest.raises(openai.InternalServerError) as err:
        gw.client().chat.completions.create(model="deepseek-chat", messages=HELLO)
    assert err.value.status_code == 503 and "Server overloaded" in err.value.message
    assert onprem.received == []


def test_rate_limit_reaches_client_as_429(make_gateway, cloud):
    gw = make_gateway(fallback_to_onprem=False)
    cloud.fail(429, "Rate limit reached", times=3, headers={"retry-after": "0"})
    with pytest.raises(openai.RateLimitError):
        gw.client().chat.completions.create(model="deepseek-chat", messages=HELLO)


def test_client_errors_pass_through_without_fallback(gateway, cloud, onprem):
    cloud.fail(400, "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]")
    with pytest.raises(openai.BadRequestError) as err:
        gateway.client().chat.completions.create(model="deepseek-chat", messages=HELLO, max_tokens=100000)
    assert "valid range of max_tokens" in err.value.message
    cloud.fail(422, "Invalid parameters")
    with pytest.raises(openai.UnprocessableEntityError):
        gateway.client().chat.completions.create(model="deepseek-chat", messages=HELLO)
    assert onprem.received == []


@pytest.mark.parametrize("status,words", [(401, "credentials"), (402, "insufficient balance")])
def test_upstream_auth_and_balance(make_gateway, cloud, status, words):
    gw = make_gateway(fallback_to_onprem=False)
    # DeepSeek quotes part of the key in its 401 message; the client must not see it.
    cloud.fail(status, "Authentication Fails, Your api key: ****cdef is invalid")
    with pytest.raises(openai.InternalServerError) as err:
        gw.client().chat.completions.create(model="deepseek-chat", messages=HELLO)
    assert err.value.status_code == 502 and words in err.value.message
    assert "cdef" not in err.value.message


def test_first_byte_timeout_is_504(make_gateway, cloud):
    gw = make_gateway(fallback_to_onprem=False, timeouts={"first_byte_s": 0.2})
    cloud.delay_s = 2
    with pytest.raises(openai.InternalServerError) as err:
        gw.client().chat.completions.create(model="deepseek-chat", messages=HELLO)
    assert err.value.status_code == 504


def test_stream_interrupted_upstream_becomes_sdk_error(make_gateway, cloud):
    gw = make_gateway(timeouts={"idle_s": 0.3})
    cloud.hang_after = 2
    stream = gw.client().chat.completions.create(model="deepseek-chat", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError) as err:
        list(stream)
    assert "interrupted" in err.value.message


def test_client_disconnect_cancels_upstream(gateway, cloud):
    cloud.hang_after = 3  # the upstream would stream forever
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", headers={"authorization": f"Bearer {gateway.key}"},
                      json={"model": "deepseek-chat", "messages": HELLO, "stream": True}) as r:
        next(r.iter_lines())
    assert cloud.stream_closed.wait(10), "the gateway kept the upstream stream open"


def test_missing_cloud_key_names_the_setting(make_gateway, cloud):
    gw = make_gateway(cloud={"api_key": None}, onprem={"url": DOWN})
    with pytest.raises(openai.InternalServerError) as err:
        gw.client().chat.completions.create(model="deepseek-chat", messages=HELLO)
    assert err.value.status_code == 503
    assert "R1GATE_CLOUD_API_KEY" in err.value.message and "R1GATE_ONPREM_URL" in err.value.message
    explain = httpx.post(f"{gw.url}/v1/route/explain", headers={"authorization": f"Bearer {gw.key}"},
                         json={"model": "deepseek-chat", "messages": HELLO})
    assert explain.status_code == 200 and explain.json()["route"] == "cloud"
    assert cloud.received == []


def test_explain_lists_findings_without_values(gateway, cloud, onprem):
    r = httpx.post(f"{gateway.url}/v1/route/explain", headers={"authorization": f"Bearer {gateway.key}"},
                   json={"model": "deepseek-chat", "messages": SENSITIVE})
    body = r.json()
    assert body["route"] == "onprem" and body["rules"] == ["personal-data"]
    finding = body["findings"][0]
    assert (finding["entity_type"], finding["path"], finding["start"]) == ("EMAIL_ADDRESS", "messages[0].content", 9)
    assert "jeanne" not in r.text
    assert cloud.received == [] and onprem.received == []


class _Broken:
    version = "broken"

    def __init__(self, hang: bool) -> None:
        self.hang = hang

    async def decide(self, body, ctx) -> Decision:
        if self.hang:
            await asyncio.Event().wait()
        raise RuntimeError("detector crashed")


@pytest.mark.parametrize("hang", [False, True])
def test_failing_router_fails_closed(make_gateway, cloud, onprem, hang):
    gw = make_gateway(router=_Broken(hang), inspection_timeout_s=0.2)
    raw = gw.client().chat.completions.with_raw_response.create(model="deepseek-chat", messages=HELLO)
    assert raw.headers["x-r1gate-route"] == "onprem"
    assert raw.headers["x-r1gate-rules"] == ("inspection-timeout" if hang else "inspection-error")
    assert cloud.received == [] and len(onprem.bodies) == 1
