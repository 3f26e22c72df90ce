"""`POST /v1/route/explain` inspects as much as a chat request does: the same body size
limit and the same per-team rate limits apply to it."""
from __future__ import annotations

import httpx

from proxy.keys import KeyStore

Q = [{"role": "user", "content": "How do I sort a list in Python?"}]


def test_explain_counts_against_the_team_rate_limit(make_gateway, cloud, onprem):
    gw = make_gateway(rate_limits={"*": {"rpm": 2}})
    other_team = KeyStore(gw.db()).create("team-b")

    def explain(key: str) -> httpx.Response:
        return httpx.post(f"{gw.url}/v1/route/explain", json={"model": "deepseek-chat", "messages": Q},
                          headers={"authorization": f"Bearer {key}"})

    answers = [explain(gw.key) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "rate_limit_exceeded" and "retry-after" in answers[2].headers
    assert explain(other_team).status_code == 200  # the limit is per team


def test_explain_refuses_an_oversized_body_before_inspection(make_gateway, cloud, onprem):
    gw = make_gateway(max_body_bytes=4096)
    big = [{"role": "user", "content": "x" * 8192}]
    r = httpx.post(f"{gw.url}/v1/route/explain", json={"model": "deepseek-chat", "messages": big},
                   headers={"authorization": f"Bearer {gw.key}"})
    assert r.status_code == 413
