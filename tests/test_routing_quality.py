"""Routing quality end to end: every labelled request goes through the gateway over HTTP,
and leaks are counted on what the fake cloud actually received (invariant 1)."""
from __future__ import annotations

import json

import httpx
import pytest

from tests.inspection.evaluate import evaluate, load
from tests.inspection.test_quality import SETS


@pytest.mark.parametrize("path", SETS)
async def test_no_leak_and_little_over_routing_over_http(make_gateway, cloud, onprem, path):
    gw = make_gateway()
    async with httpx.AsyncClient(base_url=gw.url, headers={"authorization": f"Bearer {gw.key}"},
                                 timeout=30) as client:
        counter = iter(range(10**6))

        async def cloud_received(request: dict) -> str | None:
            request_id = f"eval-{next(counter)}"
            r = await client.post("/v1/chat/completions", json=request, headers={"x-request-id": request_id})
            assert r.status_code in (200, 403), r.text  # answered, or blocked with a reason
            with cloud.lock:
                seen = [x["body"] for x in cloud.received if x["headers"].get("x-request-id") == request_id]
            return json.dumps(seen, ensure_ascii=False) if seen else None

        report = await evaluate(load(path), cloud_received)
    print(report.summary())
    assert report.leaks == [], report.summary()
    assert report.over_routing_rate <= 0.05, (report.summary(), report.over_routed)
