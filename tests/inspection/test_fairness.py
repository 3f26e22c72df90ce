"""One team's flood of inspection work does not starve another team's prompt: the workers
take the teams in turn, and each team's queue is bounded."""
from __future__ import annotations

import asyncio

import pytest

from proxy.inspect.pool import InspectionBusy, QUEUE_PER_TEAM, TeamQueues
from proxy.policy import PolicyRouter
from proxy.routing import RouteContext

from .conftest import DEFAULT_POLICY

PAGE = "The platform team migrated the ingestion service last quarter and latency dropped. " * 1500


@pytest.fixture(scope="module")
def one_worker():
    router = PolicyRouter(DEFAULT_POLICY, workers=1)
    router.start()
    yield router
    router.close()


async def test_a_plain_prompt_is_served_between_another_teams_batches(one_worker):
    done: list[str] = []

    async def explain(team: str, name: str, text: str) -> None:
        body = {"model": "m", "messages": [{"role": "user", "content": text}]}
        await one_worker.decide(body, RouteContext(team, "m"))
        done.append(name)

    # Six long documents from team a are queued first (tasks start in creation order), then
    # team b's one-line prompt: it goes after the batch that runs and the next one, not last.
    flood = [asyncio.create_task(explain("team-a", f"a{i}", f"{PAGE} (document {i})")) for i in range(6)]
    prompt = asyncio.create_task(explain("team-b", "b", "How do I sort a list in Python?"))
    await asyncio.gather(*flood, prompt)
    assert done.index("b") <= 2, done


def test_each_team_queue_is_bounded():
    queues = TeamQueues(QUEUE_PER_TEAM)
    for _ in range(QUEUE_PER_TEAM):
        queues.put("team-a", object())  # type: ignore[arg-type]
    with pytest.raises(InspectionBusy):
        queues.put("team-a", object())  # type: ignore[arg-type]
    queues.put("team-b", object())  # type: ignore[arg-type]  # other teams still get in
