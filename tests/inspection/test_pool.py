"""The process pool keeps inspection off the event loop; the cache spares unchanged messages."""
from __future__ import annotations

import asyncio

import pytest

from proxy.inspect import InspectionService
from proxy.policy import PolicyRouter
from proxy.routing import RouteContext

from .conftest import DEFAULT_POLICY

DOC = ("The platform team migrated the ingestion service last quarter and latency dropped. " * 600
       + "Escalations go to Rachel Whitfield on 06 12 34 56 78.")


@pytest.fixture(scope="module")
def pooled():
    router = PolicyRouter(DEFAULT_POLICY, workers=2)
    router.start()
    yield router
    router.close()


async def test_pool_decides_like_the_inline_router(pooled, router):
    for text in ["How do I sort a list?", "Write to Rachel Whitfield", DOC]:
        body = {"model": "m", "messages": [{"role": "user", "content": text}]}
        a = await pooled.decide(body, RouteContext("t", "m"))
        b = await router.decide(body, RouteContext("t", "m"))
        assert (a.route, a.rules, a.findings) == (b.route, b.rules, b.findings)


async def test_long_document_does_not_block_the_event_loop(pooled):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    body = {"model": "m", "messages": [{"role": "user", "content": DOC + " (variant)"}]}
    decision = await pooled.decide(body, RouteContext("t", "m"))
    task.cancel()
    assert decision.route == "onprem" and decision.entity_counts == {"PERSON": 1, "PHONE_NUMBER": 1}
    assert ticks > 20  # the loop kept turning while the workers inspected ~50 KB


async def test_growing_conversation_inspects_only_the_new_message(pooled):
    service: InspectionService = pooled.service
    messages: list[dict] = []
    for turn in range(10):
        role = "user" if turn % 2 == 0 else "assistant"
        messages.append({"role": role, "content": f"Turn {turn} of the sprint review plan."})
        before = service.cache.misses
        await pooled.decide({"model": "m", "messages": list(messages)}, RouteContext("t", "m"))
        # Only the newest message was inspected, and for a user turn after the first, the
        # window across the seam between the user's turns (extract.py).
        assert service.cache.misses - before == (2 if role == "user" and turn else 1)


def test_cache_keys_are_keyed_hashes_not_texts():
    service = InspectionService(workers=0, cache_key=b"k" * 32)
    other = InspectionService(workers=0, cache_key=b"j" * 32)
    key = service.cache.key("ns", "Rachel Whitfield")
    assert b"Rachel" not in key and len(key) == 32
    assert key != other.cache.key("ns", "Rachel Whitfield") and key != service.cache.key("ns2", "Rachel Whitfield")
