"""The gateway end to end with r1gate's own engine as its on-prem upstream (chat completions,
and Anthropic's Messages API translated for it, `top_k` and documents included)."""
from __future__ import annotations

import anthropic
import pytest

pytest.importorskip("torch")  # the [engine] extra

from engine.config import EngineConfig  # noqa: E402
from engine.server import build_app  # noqa: E402
from engine.tiny import make_scripted  # noqa: E402
from tests.servers import ServerThread  # noqa: E402

REASONING, ANSWER = "let me think about this", "the answer is forty two."  # tokens the tiny vocabulary spells once each
SENSITIVE = [{"role": "user", "content": "Write a reminder to jeanne.martin@dupont-industries.fr about invoice 4411."}]


@pytest.fixture(scope="module")
def engine_url(tmp_path_factory):
    path, _ = make_scripted(tmp_path_factory.mktemp("r1-tiny"), REASONING, ANSWER)
    with ServerThread(build_app(EngineConfig(str(path), max_kv_tokens=1024, block_size=4, max_model_len=256),
                                served_name="r1-distill-tiny")) as server:
        yield f"{server.url}/v1"


@pytest.fixture
def gw(make_gateway, engine_url, cloud):
    # Clients ask for deepseek-reasoner; on-prem it is served as the engine's own name.
    return make_gateway(onprem={"url": engine_url},
                        models={"deepseek-reasoner": {"onprem": "r1-distill-tiny", "reasoner": True}})


def test_sensitive_request_answered_by_the_engine(gw, cloud):
    raw = gw.client().chat.completions.with_raw_response.create(model="deepseek-reasoner", messages=SENSITIVE,
                                                                temperature=0)
    r = raw.parse()
    assert raw.headers["x-r1gate-route"] == "onprem"
    assert (r.model, r.choices[0].message.reasoning_content, r.choices[0].message.content) == (
        "deepseek-reasoner", REASONING, ANSWER)
    assert r.usage.completion_tokens_details.reasoning_tokens > 0
    assert r.usage.prompt_cache_hit_tokens + r.usage.prompt_cache_miss_tokens == r.usage.prompt_tokens
    assert cloud.received == []


def test_streamed_from_the_engine(gw, cloud):
    chunks = list(gw.client().chat.completions.create(
        model="deepseek-reasoner", messages=SENSITIVE, stream=True, stream_options={"include_usage": True}))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == REASONING
    assert "".join(d.content or "" for d in deltas) == ANSWER
    assert chunks[-1].usage.completion_tokens > 0 and all(c.model == "deepseek-reasoner" for c in chunks)
    assert cloud.received == []


def test_anthropic_request_with_top_k_and_a_document(gw, cloud):
    c = anthropic.Anthropic(base_url=f"{gw.url}/anthropic", api_key=gw.key, max_retries=0)
    turn = [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "invoice 4411"}},
        {"type": "text", "text": SENSITIVE[0]["content"]}]}]
    raw = c.messages.with_raw_response.create(model="deepseek-reasoner", max_tokens=64, messages=turn,
                                              extra_body={"top_k": 1})
    message = raw.parse()
    assert raw.headers["x-r1gate-route"] == "onprem" and cloud.received == []
    assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None)) for b in message.content] == [
        ("thinking", REASONING), ("text", ANSWER)]
