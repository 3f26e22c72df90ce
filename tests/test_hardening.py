"""Issue 11: malformed and pathological bodies get a cheap 400 (never a 500), everything
forwarded is inspected (numbers, values split across turns, the request id), /metrics does
not leak teams, no redirect is built from the Host header, and a fuzzed body never gets a
5xx while the gateway keeps serving."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

HELLO = [{"role": "user", "content": "Say hello."}]
IBAN = "FR76 1010 7001 7500 0101 2345 690"
CARD = 4970101234567893


def _post(gw, body: bytes | dict, path="/v1/chat/completions", **headers):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{gw.url}{path}", content=content, timeout=30,
                      headers={"authorization": f"Bearer {gw.key}", "content-type": "application/json", **headers})


def _chat(**extra):
    return {"model": "deepseek-chat", "messages": HELLO, **extra}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/route/explain"])
@pytest.mark.parametrize("body,param,words", [
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "\\ud800"}]}',
     "messages[0].content", "lone UTF-16 surrogate"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "x", "\\udc00": 1}]}',
     "messages[0]", "lone UTF-16 surrogate"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "x"}], "extra": 1' + b"9" * 5000 + b"}",
     None, "digits"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "x"}], "extra": 1' + b"9" * 100 + b"}",
     "extra", "digits"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "x"}], "extra": 1e999}', "extra", "range"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "x"}], "extra": NaN}', None, "NaN"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": 100000000000}',
     "max_tokens", "between 1 and"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "x"}], "n": 100000}', "n", "between 1"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "x"}], "deep": ' + b"[" * 5000
     + b"]" * 5000 + b"}", None, "nested deeper"),
    (b'{"model": "deepseek-chat", "messages": [{"role": "user", "content": "x"}], "deep": ' + b"[" * 200
     + b"]" * 200 + b"}", "deep" + "[0]" * 31, "nested deeper"),
])
def test_malformed_bodies_get_400_naming_the_problem(gateway, cloud, path, body, param, words):
    r = _post(gateway, body, path)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and words in error["message"] and error["param"] == param
    assert cloud.received == []
    assert _post(gateway, _chat()).status_code == 200


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/route/explain"])
@pytest.mark.parametrize("extra,param", [
    ({"junk": ["s"] * 1_000_000}, None),  # a million short strings
    ({"junk": {f"k{i}": 0 for i in range(600_000)}}, None),  # 600,000 keys
    ({"messages": [{"role": "user", "content": "x"}] * 150_000}, None),  # caught by the count of keys
    ({"messages": [{"role": "user", "content": "x"}] * 3000}, "messages"),
    ({"junk": [0] * 60_000}, "junk"),  # a list too long to walk
    ({"junk": [[0] * 100] * 300}, None),  # numbers count as values
])
def test_pathological_bodies_are_refused_before_inspection(make_gateway, cloud, path, extra, param):
    gw = make_gateway(max_body_bytes=16 * 1024 * 1024)
    r = _post(gw, _chat(**extra), path)
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
    assert cloud.received == []


def test_a_huge_body_does_not_stall_health_checks(make_gateway, cloud):
    """While big bodies are parsed (in a thread), /healthz keeps answering: all health checks
    sent during the parse are answered before the last big request is."""
    gw = make_gateway(max_body_bytes=16 * 1024 * 1024)
    big = json.dumps(_chat(junk=["word " * 2000] * 1500)).encode()  # 15 MB, 1,500 strings

    async def scenario() -> list[str]:
        order: list[str] = []
        async with httpx.AsyncClient(timeout=60) as client:
            async def post() -> None:
                r = await client.post(f"{gw.url}/v1/route/explain", content=big,
                                      headers={"authorization": f"Bearer {gw.key}"})
                order.append(f"big {r.status_code}")

            async def health() -> None:
                for _ in range(5):
                    r = await client.get(f"{gw.url}/healthz")
                    order.append(f"health {r.status_code}")

            await asyncio.gather(post(), post(), health())
        return order

    order = asyncio.run(scenario())
    assert order.count("health 200") == 5 and order[-1].startswith("big")


def test_explain_has_the_body_limits_of_chat(make_gateway, cloud):
    gw = make_gateway(max_body_bytes=4096)
    r = _post(gw, _chat(messages=[{"role": "user", "content": "x" * 10_000}]), "/v1/route/explain")
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


@pytest.mark.parametrize("extra", [
    {"seed": CARD},
    {"metadata_x": CARD},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "x",
                                                                                "note": CARD}]}]},
])
def test_numbers_are_inspected(gateway, cloud, onprem, extra):
    r = _post(gateway, _chat(**extra))
    assert r.status_code == 200 and r.headers["x-r1gate-route"] == "onprem"
    assert cloud.received == []


def test_a_value_split_across_user_turns_is_found(gateway, cloud, onprem):
    half = len(IBAN) // 2 + 1  # "FR76 1010 7001 75" | "00 0101 2345 690"
    messages = [{"role": "user", "content": f"Pay to {IBAN[:half]}"}, {"role": "assistant", "content": "Go on."},
                {"role": "user", "content": f"{IBAN[half:]} please."}]
    r = _post(gateway, _chat(messages=messages))
    assert r.headers["x-r1gate-route"] == "onprem" and cloud.received == []
    explained = _post(gateway, _chat(messages=messages), "/v1/route/explain").json()
    assert any(f["path"] == "messages#user-turns" for f in explained["findings"]), explained
    # A value within one turn is found there only, once, and stays redactable.
    plain = [{"role": "user", "content": "hello"}, {"role": "user", "content": "Contact paul.girard@example.com"}]
    explained = _post(gateway, _chat(messages=plain), "/v1/route/explain").json()
    assert [f["path"] for f in explained["findings"]] == ["messages[1].content"]


def test_a_value_dictated_in_halves_with_words_around_them_is_found(gateway, cloud, onprem):
    card = str(CARD)
    messages = [{"role": "user", "content": f"The customer is reading me her card, first half {card[:8]}"},
                {"role": "assistant", "content": "Please use the payment terminal instead."},
                {"role": "user", "content": f"she says the rest is {card[8:]} exp 09/27, is it valid?"}]
    r = _post(gateway, _chat(messages=messages))
    assert r.headers["x-r1gate-route"] == "onprem" and cloud.received == []
    explained = _post(gateway, _chat(messages=messages), "/v1/route/explain").json()
    assert [f["entity_type"] for f in explained["findings"] if f["path"] == "messages#user-turns"] == ["CREDIT_CARD"]
    # Two numbers of unrelated turns that make no value stay where they are.
    plain = [{"role": "user", "content": "Order 48213377"}, {"role": "user", "content": "12345 units, ok?"}]
    assert _post(gateway, _chat(messages=plain)).headers["x-r1gate-route"] == "cloud"


def test_an_iban_written_with_slashes_is_found(gateway, cloud, onprem):
    r = _post(gateway, _chat(messages=[{"role": "user", "content": f"Pay to {IBAN.replace(' ', '/')}"}]))
    assert r.headers["x-r1gate-route"] == "onprem" and cloud.received == []


def test_backslashes_that_are_no_json_escape_are_inspected_as_written(gateway, cloud, onprem):
    # "\T", "\R", "\N", "\U": a Windows path, not an escape (JSON's are lower case).
    path = "C:\\Temp\\Reports\\Network\\Users\\build.log"
    r = _post(gateway, _chat(messages=[{"role": "user", "content": f"Why is {path} locked?"}]))
    assert r.status_code == 200 and r.headers["x-r1gate-route"] == "cloud", r.text
    assert cloud.bodies[-1]["messages"][0]["content"] == f"Why is {path} locked?"
    # An escape still hides nothing: "\u00c9" is read as "É".
    r = _post(gateway, _chat(messages=[{"role": "user", "content": '{"owner": "\\u00c9milie Bourdon"}'}]))
    assert r.headers["x-r1gate-route"] == "onprem"


@pytest.mark.parametrize("given,kept", [
    ("req-2026.12.01_abc", True),
    ("FR7610107001750001012345690", False),  # an IBAN: shaped like an id, but found by inspection
    ("bob@example.com", False),  # not an id's shape
    ("x" * 65, False),
])
def test_request_id_is_used_only_when_safe(gateway, cloud, log_lines, given, kept):
    r = _post(gateway, _chat(), **{"x-request-id": given})
    assert r.status_code == 200
    assert (r.headers["x-request-id"] == given) == kept
    sent = cloud.received[-1]["headers"]["x-request-id"]
    assert sent == r.headers["x-request-id"]
    if not kept:
        assert all(given not in line for line in log_lines())


def test_no_redirect_from_trailing_slash(gateway):
    for method, path in [("POST", "/v1/chat/completions/"), ("GET", "/v1/spend/"), ("POST", "/v1/spend/")]:
        r = httpx.request(method, f"{gateway.url}{path}", headers={"host": "evil.example",
                                                                   "authorization": f"Bearer {gateway.key}"})
        assert r.status_code in (404, 405) and "location" not in r.headers
        assert "evil.example" not in r.text


def test_metrics_token_and_teams(make_gateway, cloud):
    gw = make_gateway(metrics={"token": "m" * 32})
    assert _post(gw, _chat()).status_code == 200
    assert httpx.get(f"{gw.url}/metrics").status_code == 401
    scraped = httpx.get(f"{gw.url}/metrics", headers={"authorization": f"Bearer {'m' * 32}"}).text
    assert 'team="team-a"' in scraped


# --- fuzz: never a 5xx, and the gateway keeps serving ---------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
                     st.sampled_from(["\u202e", "\ufeff", "\u0000", "\U0001f600", "e\u0301", "\ud7ff", "ﬀ"]))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=20)
_fields = st.sampled_from(["model", "messages", "temperature", "top_p", "max_tokens", "n", "stream", "stop",
                           "tools", "user", "seed", "stream_options", "response_format", "top_logprobs"])


@st.composite
def _mutated(draw) -> bytes:
    """A valid request with a field replaced or added, or its bytes cut, or raw JSON."""
    body = _chat(temperature=0)
    kind = draw(st.sampled_from(["replace", "message", "cut", "raw", "escape"]))
    if kind == "replace":
        body[draw(_fields)] = draw(_json)
    elif kind == "message":
        body["messages"] = [draw(st.dictionaries(st.sampled_from(["role", "content", "name", "tool_calls", "x"]),
                                                 _json, max_size=4))]
    elif kind == "raw":
        return json.dumps(draw(_json)).encode()
    raw = json.dumps(body).encode()
    if kind == "cut":
        return raw[:draw(st.integers(0, len(raw)))]
    if kind == "escape":  # lone surrogates and odd escapes, as a client might send them
        return raw.replace(b"Say", draw(st.sampled_from([b"\\ud83d", b"\\udc00x", b"\\u0000", b"\\ud83d\\ude00",
                                                                     b"C:\\\\Temp\\\\Reports"])))
    return raw


@pytest.fixture(scope="module")
def fuzz_gateway(tmp_path_factory, _cloud_server, _onprem_server):
    from proxy.app import create_app
    from proxy.db import Database
    from proxy.keys import KeyStore
    from tests.conftest import Gateway, settings_for
    from tests.servers import ServerThread

    settings = settings_for(tmp_path_factory.mktemp("fuzz"), _cloud_server.url, _onprem_server.url)
    key = KeyStore(Database(settings.database_url)).create("fuzz")
    with ServerThread(create_app(settings)) as server:
        yield Gateway(server.url, key, settings, server)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(body=_mutated(), path=st.sampled_from(["/v1/chat/completions", "/v1/route/explain"]))
def test_fuzzed_bodies_never_get_a_5xx(fuzz_gateway, body, path):
    r = _post(fuzz_gateway, body, path)
    assert r.status_code < 500, (r.status_code, r.text)
    assert httpx.get(f"{fuzz_gateway.url}/healthz").status_code == 200
