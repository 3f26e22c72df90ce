"""Routing quality of the shipped default policy: zero leaks, at most 5% over-routing, on the
project's own corpus and on the shared dev set (when that folder is present)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxy.routing import RouteContext

from .evaluate import evaluate, load

CORPUS = Path(__file__).with_name("corpus.jsonl")
DEV_SET = Path(__file__).resolve().parents[3] / "shared" / "eval" / "dev-set.jsonl"
SETS = [pytest.param(CORPUS, id="corpus"),
        pytest.param(DEV_SET, id="dev-set", marks=pytest.mark.skipif(not DEV_SET.exists(), reason="no shared dev set"))]


def test_corpus_is_big_and_varied_enough():
    records = load(CORPUS)
    assert len(records) >= 300
    assert {r["lang"] for r in records} == {"en", "fr", "de", "es", "it", "nl", "pt"}
    assert sum(not r["sensitive"] for r in records) >= 90


@pytest.mark.parametrize("path", SETS)
async def test_no_leak_and_little_over_routing(router, path):
    async def cloud_received(request: dict) -> str | None:
        decision = await router.decide(request, RouteContext("eval", request.get("model", "")))
        return json.dumps(request, ensure_ascii=False) if decision.route == "cloud" else None

    report = await evaluate(load(path), cloud_received)
    print(report.summary())
    assert report.leaks == [], report.summary()
    assert report.over_routing_rate <= 0.05, (report.summary(), report.over_routed)
