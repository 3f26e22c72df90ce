"""The HTTP server over real loopback sockets, through the official openai client."""
from __future__ import annotations

import socket
import time

import httpx
import pytest

openai = pytest.importorskip("openai")

from engine.config import EngineConfig  # noqa: E402
from engine.server import build_app  # noqa: E402
from engine.tiny import END_THINK, make_scripted  # noqa: E402
from tests.servers import ServerThread  # noqa: E402

REASONING, ANSWER = "let me think about this", "the answer is forty two."
HI = [{"role": "user", "content": "hi"}]


def serve(model_dir, name: str, keepalive_s: float = 10.0, **config) -> "Served":
    return Served(build_app(EngineConfig(str(model_dir), **config), served_name=name, keepalive_s=keepalive_s))


class Served:
    """The engine's app served on loopback, with an OpenAI client pointed at it."""

    def __init__(self, app):
        self._server = ServerThread(app).__enter__()
        self.url = self._server.url
        self.client = openai.OpenAI(base_url=self.url + "/v1", api_key="unused", max_retries=0, timeout=60)

    def close(self):
        self._server.__exit__(None, None, None)

    def metric(self, name: str) -> float:
        text = httpx.get(f"{self.url}/metrics").text
        return float(next(ln.split()[1] for ln in text.splitlines() if ln.startswith(f"r1gate_engine_{name} ")))

    def wait_metric(self, name: str, pred, timeout: float = 10.0) -> float:
        # The engine thread applies aborts between steps: poll its own gauge, bounded.
        deadline = time.monotonic() + timeout
        while not pred(v := self.metric(name)):
            assert time.monotonic() < deadline, f"{name} stuck at {v}"
            time.sleep(0.01)
        return v


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    path, script = make_scripted(tmp_path_factory.mktemp("scripted"), REASONING, ANSWER)
    s = serve(path, "r1-tiny", max_kv_tokens=1024, block_size=4, max_model_len=256)
    s.generated = len(script) - 1  # the script's first token is the prompt's closing "\n"
    from tokenizers import Tokenizer

    s.reasoning_tokens = script.index(Tokenizer.from_file(str(path / "tokenizer.json")).token_to_id(END_THINK))
    yield s
    s.close()


@pytest.fixture(scope="module")
def rand(checkpoint_dir):
    s = serve(checkpoint_dir("llama-untied"), "rand", max_kv_tokens=4096, block_size=8,
              dtype="float32")  # fp32: batched and solo numerics agree to ~1e-6
    yield s
    s.close()


def test_non_stream_splits_reasoning_and_reports_usage(scripted):
    r = scripted.client.chat.completions.create(model="r1-tiny", messages=HI)
    msg = r.choices[0].message
    assert (msg.reasoning_content, msg.content) == (REASONING, ANSWER)
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == scripted.generated  # EOS included, as OpenAI counts it
    assert r.usage.completion_tokens_details.reasoning_tokens == scripted.reasoning_tokens
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.model == "r1-tiny" and r.id.startswith("chatcmpl-")


def test_stream_reasoning_first_then_content_then_usage(scripted):
    chunks = list(scripted.client.chat.completions.create(
        model="r1-tiny", messages=HI, stream=True, stream_options={"include_usage": True}))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    content = "".join(d.content or "" for d in deltas)
    assert (reasoning, content) == (REASONING, ANSWER)
    kinds = [("r" if getattr(d, "reasoning_content", None) else "c") for d in deltas if d.content or getattr(d, "reasoning_content", None)]
    assert kinds == sorted(kinds, reverse=True)  # all reasoning before any content
    assert deltas[0].role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == scripted.generated
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == scripted.reasoning_tokens


def test_stream_without_include_usage_has_no_usage(scripted):
    chunks = list(scripted.client.chat.completions.create(model="r1-tiny", messages=HI, stream=True))
    assert all(c.usage is None for c in chunks)


@pytest.mark.parametrize("stream", [False, True])
def test_stop_string_across_token_boundaries(scripted, stream):
    # "wer is fo" spans three tokens ("Ġanswer", "Ġis", "Ġforty") and is cut mid-token.
    kw = dict(model="r1-tiny", messages=HI, stop=["wer is fo", "zzz"])
    if stream:
        chunks = list(scripted.client.chat.completions.create(stream=True, **kw))
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        r = scripted.client.chat.completions.create(**kw)
        content, finish = r.choices[0].message.content, r.choices[0].finish_reason
    assert (content, finish) == ("the ans", "stop")


def test_max_tokens_finishes_with_length(scripted):
    r = scripted.client.chat.completions.create(model="r1-tiny", messages=HI, max_tokens=3)
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 3
    assert r.choices[0].message.content == "" and r.choices[0].message.reasoning_content


def test_models_health_metrics(scripted):
    assert [m.id for m in scripted.client.models.list().data] == ["r1-tiny"]
    assert httpx.get(scripted.url + "/health").json() == {"status": "ok"}
    assert scripted.metric("requests_total") >= 1


def test_seed_reproducible(rand):
    def ask(seed):
        r = rand.client.chat.completions.create(model="rand", messages=HI, temperature=1.0, seed=seed, max_tokens=24)
        return r.choices[0].message.reasoning_content
    a, b, c = ask(7), ask(7), ask(8)
    assert a == b and a != c


def test_seed_reproducible_under_concurrency(rand):
    from concurrent.futures import ThreadPoolExecutor

    def ask(seed):
        r = rand.client.chat.completions.create(model="rand", messages=HI, temperature=1.0, seed=seed, max_tokens=16)
        return r.choices[0].message.reasoning_content

    alone = [ask(s) for s in range(4)]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(ask, list(range(4)) * 2))
    assert together == alone * 2


def test_unknown_model_is_404(scripted):
    with pytest.raises(openai.NotFoundError) as e:
        scripted.client.chat.completions.create(model="gpt-9", messages=HI)
    assert e.value.body["code"] == "model_not_found" and e.value.body["param"] == "model"


def test_prompt_too_long_is_400_naming_the_limit(scripted):
    long = [{"role": "user", "content": "hello world " * 200}]
    with pytest.raises(openai.BadRequestError) as e:
        scripted.client.chat.completions.create(model="r1-tiny", messages=long)
    assert "256" in e.value.body["message"] and e.value.body["code"] == "context_length_exceeded"


@pytest.mark.parametrize("param,value", [("temperature", 5), ("top_p", 0), ("max_tokens", 0), ("n", 0), ("n", 17),
                                          ("presence_penalty", "x"), ("seed", 1.5), ("logprobs", "yes"),
                                          ("top_logprobs", 21)])
def test_bad_parameter_is_400_naming_it(scripted, param, value):
    with pytest.raises(openai.BadRequestError) as e:
        scripted.client.chat.completions.create(model="r1-tiny", messages=HI, extra_body={param: value})
    assert e.value.body["param"] == param and e.value.body["type"] == "invalid_request_error"


def test_top_logprobs_without_logprobs_is_400(scripted):
    with pytest.raises(openai.BadRequestError) as e:
        scripted.client.chat.completions.create(model="r1-tiny", messages=HI, top_logprobs=2)
    assert e.value.body["param"] == "top_logprobs"


def test_logprobs_match_the_text_and_rank_the_alternatives(rand):
    r = rand.client.chat.completions.create(model="rand", messages=HI, max_tokens=8, temperature=0,
                                            logprobs=True, top_logprobs=3, extra_body={"ignore_eos": True})
    entries = r.choices[0].logprobs.content
    assert len(entries) == r.usage.completion_tokens == 8
    assert "".join(e.token for e in entries) == r.choices[0].message.reasoning_content
    for e in entries:
        assert len(e.top_logprobs) == 3 and e.logprob <= 0
        ranked = [t.logprob for t in e.top_logprobs]
        assert ranked == sorted(ranked, reverse=True)
        assert e.top_logprobs[0].token == e.token and e.top_logprobs[0].logprob == pytest.approx(e.logprob)  # greedy
        assert bytes(e.bytes).decode() == e.token
    plain = rand.client.chat.completions.create(model="rand", messages=HI, max_tokens=4, temperature=0)
    assert plain.choices[0].logprobs is None


def test_streamed_logprobs_cover_every_token(rand):
    chunks = list(rand.client.chat.completions.create(
        model="rand", messages=HI, max_tokens=6, temperature=0, stream=True, logprobs=True,
        stream_options={"include_usage": True}, extra_body={"ignore_eos": True}))
    entries = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    text = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert len(entries) == chunks[-1].usage.completion_tokens == 6
    assert "".join(e.token for e in entries) == text
    assert all(e.top_logprobs == [] for e in entries)


def test_n_choices_over_http(rand):
    kw = dict(model="rand", messages=HI, max_tokens=10, temperature=1.0, extra_body={"ignore_eos": True})
    solo = [rand.client.chat.completions.create(seed=11 + i, **kw).choices[0].message.reasoning_content
            for i in range(3)]
    r = rand.client.chat.completions.create(n=3, seed=11, **kw)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert [c.message.reasoning_content for c in r.choices] == solo  # choice i is seeded 11 + i
    assert r.usage.completion_tokens == 30
    assert all(c.finish_reason == "length" for c in r.choices)
    chunks = list(rand.client.chat.completions.create(n=3, seed=11, stream=True,
                                                      stream_options={"include_usage": True}, **kw))
    streamed = ["".join(getattr(c.choices[0].delta, "reasoning_content", None) or ""
                        for c in chunks if c.choices and c.choices[0].index == i) for i in range(3)]
    assert streamed == solo
    assert sorted(c.choices[0].index for c in chunks if c.choices and c.choices[0].finish_reason) == [0, 1, 2]
    assert chunks[-1].usage.completion_tokens == 30 and chunks[-1].usage.prompt_tokens == r.usage.prompt_tokens


def test_bad_messages_and_body(scripted):
    r = httpx.post(scripted.url + "/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["message"]
    r = httpx.post(scripted.url + "/v1/chat/completions", json={"model": "r1-tiny", "messages": []})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"


def test_stream_disconnect_frees_the_sequence(rand):
    total = rand.metric("kv_blocks_total")
    aborted = rand.metric("requests_aborted_total")
    body = {"model": "rand", "messages": HI, "stream": True, "max_tokens": 3000, "temperature": 1.0}
    with httpx.stream("POST", rand.url + "/v1/chat/completions", json=body, timeout=30) as r:
        lines = r.iter_lines()
        got = [next(lines) for _ in range(6)]  # a few chunks: it is generating
    assert any("reasoning_content" in ln for ln in got)
    rand.wait_metric("requests_aborted_total", lambda v: v > aborted)
    rand.wait_metric("kv_blocks_free", lambda v: v == total)


def test_non_stream_disconnect_frees_the_sequence(rand):
    total = rand.metric("kv_blocks_total")
    aborted = rand.metric("requests_aborted_total")
    import json

    body = json.dumps({"model": "rand", "messages": HI, "max_tokens": 3000, "temperature": 1.0}).encode()
    port = int(rand.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                  b"content-length: %d\r\n\r\n" % len(body) + body)
        rand.wait_metric("requests_running", lambda v: v >= 1)
    rand.wait_metric("requests_aborted_total", lambda v: v > aborted)
    rand.wait_metric("kv_blocks_free", lambda v: v == total)


def test_full_queue_is_503_with_retry_after(checkpoint_dir):
    # Room for one request in flight: while one streams, the next is refused at once.
    s = serve(checkpoint_dir("llama-untied"), "q", max_kv_tokens=4096, max_seqs=1, max_waiting=0)
    try:
        body = {"model": "q", "messages": HI, "stream": True, "max_tokens": 3000, "ignore_eos": True}
        with httpx.stream("POST", s.url + "/v1/chat/completions", json=body, timeout=30) as r:
            lines = r.iter_lines()  # keep the iterator: dropping it closes the response
            assert "reasoning_content" in next(ln for ln in lines if "reasoning_content" in ln)
            with pytest.raises(openai.InternalServerError) as e:
                s.client.chat.completions.create(model="q", messages=HI)
        assert e.value.status_code == 503 and e.value.response.headers["retry-after"] == "1"
        assert e.value.body["code"] == "overloaded"
    finally:
        s.close()


def test_engine_process_death_fails_requests_and_health(checkpoint_dir):
    import os
    import signal

    app = build_app(EngineConfig(str(checkpoint_dir("llama-untied")), max_kv_tokens=4096), served_name="d")
    s = Served(app)
    try:
        body = {"model": "d", "messages": HI, "stream": True, "max_tokens": 3000, "ignore_eos": True}
        with httpx.stream("POST", s.url + "/v1/chat/completions", json=body, timeout=30) as r:
            lines = r.iter_lines()
            next(ln for ln in lines if "reasoning_content" in ln)
            os.kill(app.state.engine.proc.pid, signal.SIGKILL)
            rest = list(lines)
        assert any('"error"' in ln and "engine process exited" in ln for ln in rest)
        assert httpx.get(s.url + "/health").status_code == 503
        with pytest.raises(openai.InternalServerError):
            s.client.chat.completions.create(model="d", messages=HI)
    finally:
        s.close()


def test_repeated_prefix_is_served_from_the_prefix_cache(scripted):
    system = {"role": "system", "content": "you are a careful assistant . " * 6}
    msgs = [system, {"role": "user", "content": "hello"}]
    first = scripted.client.chat.completions.create(model="r1-tiny", messages=msgs)
    second = scripted.client.chat.completions.create(model="r1-tiny", messages=msgs[:1] + [
        {"role": "user", "content": "hello again"}])
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= 24 and cached % 4 == 0  # whole blocks of the shared system prompt
    assert second.usage.model_extra["prompt_cache_hit_tokens"] == cached
    assert second.usage.model_extra["prompt_cache_miss_tokens"] == second.usage.prompt_tokens - cached
    assert second.choices[0].message.content == ANSWER


def test_waiting_stream_gets_keep_alive_comments(checkpoint_dir):
    # One sequence at a time: the second request waits behind a long first one.
    s = serve(checkpoint_dir("llama-untied"), "k", max_kv_tokens=4096, max_seqs=1, max_waiting=1,
              keepalive_s=0.02)
    try:
        long = {"model": "k", "messages": HI, "stream": True, "max_tokens": 300, "ignore_eos": True}
        short = {"model": "k", "messages": HI, "stream": True, "max_tokens": 3}
        with httpx.stream("POST", s.url + "/v1/chat/completions", json=long, timeout=60) as first:
            lines = first.iter_lines()
            next(ln for ln in lines if "reasoning_content" in ln)
            with httpx.stream("POST", s.url + "/v1/chat/completions", json=short, timeout=60) as second:
                got = list(second.iter_lines())
        assert ": keep-alive" in got
        assert got[-2:] == ["data: [DONE]", ""] or got[-1] == "data: [DONE]"
        # the official client ignores the comments
        chunks = list(s.client.chat.completions.create(model="k", messages=HI, stream=True, max_tokens=3))
        assert chunks[-1].choices[0].finish_reason == "length"
    finally:
        s.close()
