"""How a stream ends when it does not end well: a client that leaves is still billed for
what the upstream generated; an upstream that answers 200 with something else than a
stream is a failed upstream, not an empty success."""
from __future__ import annotations

from datetime import datetime, timezone

import httpx
import openai
import pytest
import redis
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fake_deepseek import ANSWER
from tests.servers import ServerThread

Q = [{"role": "user", "content": "Say hello."}]


def _requests_with_status(gw, status: str) -> float:
    for line in httpx.get(f"{gw.url}/metrics").text.splitlines():
        if line.startswith("r1gate_requests_total{") and f'status="{status}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_client_gone_mid_stream_is_billed_and_marked_interrupted(make_gateway, redis_server, cloud, onprem):
    gw = make_gateway(redis_url=redis_server.url, global_budget_usd=100.0)
    cloud.hang_after = 4  # then streams nothing more until the gateway hangs up
    body = {"model": "deepseek-chat", "messages": Q, "stream": True}
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body,
                      headers={"authorization": f"Bearer {gw.key}"}) as r:
        events = r.iter_lines()
        assert r.status_code == 200
        assert ANSWER.split()[1] in "".join(next(events) for _ in range(8))  # a few words, then leave
    assert cloud.stream_closed.wait(10)  # the gateway stopped the upstream's generation
    for _ in range(300):  # finish() counts the request once its record is queued
        if _requests_with_status(gw, "499"):
            break
        cloud.stream_closed.wait(0.01)
    gw.stop()  # flushes the ledger
    row = gw.db().fetchone("SELECT status, completion_tokens, prompt_miss_tokens, cost_usd FROM ledger")
    status, completion, prompt, cost = row
    assert status == 499 and completion > 0 and prompt > 0 and cost > 0
    assert gw.db().fetchone("SELECT error FROM audit")[0] == "interrupted"
    month = datetime.now(timezone.utc).strftime("%Y-%m")
    spent, reserved = redis.Redis(port=redis_server.port).hmget(f"r1gate:{{budget}}:{month}:global:*",
                                                                "spent", "reserved")
    assert float(spent) == pytest.approx(cost) and float(reserved) == pytest.approx(0)


def _not_a_stream(kind: str) -> Starlette:
    async def chat(request):
        if kind == "json":  # a whole completion, as if `stream` had been ignored
            return JSONResponse({"id": "x", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]})
        return Response(b"<html>upstream maintenance</html>\n", media_type="text/event-stream")

    return Starlette(routes=[Route("/chat/completions", chat, methods=["POST"])])


def test_cloud_answering_json_to_a_stream_falls_back_onprem(make_gateway, onprem):
    with ServerThread(_not_a_stream("json")) as bad:
        gw = make_gateway(cloud={"url": bad.url})
        stream = gw.client().chat.completions.create(model="deepseek-chat", messages=Q, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == ANSWER
    assert len(onprem.bodies) == 1


def test_cloud_streaming_garbage_ends_in_an_error_event(make_gateway, onprem):
    with ServerThread(_not_a_stream("garbage")) as bad:
        gw = make_gateway(cloud={"url": bad.url})
        stream = gw.client().chat.completions.create(model="deepseek-chat", messages=Q, stream=True)
        with pytest.raises(openai.APIError, match="invalid answer"):
            list(stream)


@pytest.mark.parametrize("kind", ["json", "garbage"])
def test_onprem_answering_no_stream_is_an_error(make_gateway, cloud, kind):
    with ServerThread(_not_a_stream(kind)) as bad:
        gw = make_gateway(onprem={"url": f"{bad.url}"}, fallback_to_onprem=False)
        sensitive = [{"role": "user", "content": "My IBAN is FR76 1010 7001 7500 0101 2345 690."}]
        with pytest.raises(openai.APIError):
            stream = gw.client().chat.completions.create(model="deepseek-chat", messages=sensitive, stream=True)
            list(stream)
    assert cloud.bodies == []
