"""Pseudonymize for the cloud, restore in the answer: over real HTTP with the official SDK
and a fake cloud that echoes what it received (invariants 1, 4, 5)."""
from __future__ import annotations

import asyncio
import json
import random

import httpx
import pytest


NAME, MAIL, PHONE = "Marie Dupont", "marie.dupont@axa.fr", "+33 6 12 34 56 78"
PROMPT = f"Write a reminder to {NAME} ({MAIL}, {PHONE}) about invoice 4411."
TOOLS = [{"type": "function", "function": {"name": "send_mail", "description": "Send an e-mail",
                                           "parameters": {"type": "object", "properties": {}}}}]


def _sent(cloud) -> str:
    return json.dumps(cloud.bodies, ensure_ascii=False)


def _assert_nothing_leaked(cloud, *values: str) -> None:
    sent = _sent(cloud)
    for value in values:
        for word in [value, *value.split()]:
            if len(word) >= 4:
                assert word not in sent, f"{word!r} reached the cloud"


def test_round_trip_non_stream(redact_gateway, cloud, onprem):
    client = redact_gateway.client()
    raw = client.chat.completions.with_raw_response.create(
        model="deepseek-reasoner", messages=[{"role": "user", "content": PROMPT}])
    r = raw.parse()
    assert raw.headers["x-r1gate-route"] == "cloud" and raw.headers["x-r1gate-rules"] == "personal-data"
    assert r.choices[0].message.content == f"You said: {PROMPT}"
    assert r.choices[0].message.reasoning_content == f"The user wrote: {PROMPT}"
    _assert_nothing_leaked(cloud, NAME, MAIL, PHONE)
    assert "[PERSON_" in _sent(cloud) and "[EMAIL_ADDRESS_" in _sent(cloud) and not onprem.received
    calls = client.chat.completions.create(model="deepseek-chat", tools=TOOLS, n=2,
                                           messages=[{"role": "user", "content": PROMPT}])
    for choice in calls.choices:
        assert json.loads(choice.message.tool_calls[0].function.arguments) == {"said": PROMPT}


def test_round_trip_stream(redact_gateway, cloud):
    client = redact_gateway.client()
    chunks = list(client.chat.completions.create(model="deepseek-reasoner", stream=True,
                                                 messages=[{"role": "user", "content": PROMPT}]))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == f"You said: {PROMPT}"
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == f"The user wrote: {PROMPT}"
    chunks = list(client.chat.completions.create(model="deepseek-chat", stream=True, tools=TOOLS,
                                                 messages=[{"role": "user", "content": PROMPT}]))
    args = "".join(tc.function.arguments or "" for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or [])
    assert json.loads(args) == {"said": PROMPT}
    _assert_nothing_leaked(cloud, NAME, MAIL, PHONE)


def test_stream_split_at_every_position(redact_gateway, cloud):
    """The upstream's answer cut at every character (and at random) restores to the same text."""
    client = redact_gateway.client()
    expected = f"You said: {PROMPT}"
    placeholder_answer = None
    rnd = random.Random(7)
    for position in range(0, 80):
        cloud.cuts = [position] if position < 60 else sorted(rnd.sample(range(1, 60), rnd.randint(2, 12)))
        chunks = list(client.chat.completions.create(model="deepseek-chat", stream=True,
                                                     messages=[{"role": "user", "content": PROMPT}]))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == expected, (position, text)
        placeholder_answer = placeholder_answer or cloud.bodies[-1]["messages"][0]["content"]
    _assert_nothing_leaked(cloud, NAME, MAIL, PHONE)
    assert placeholder_answer.count("[") == 3


def test_first_restored_byte_is_not_held(redact_gateway, cloud):
    """Text before a placeholder leaves as soon as it arrives, not with the end of the answer."""
    cloud.cuts = [5]  # "You s" | "aid: Write a reminder to [PERSON_…] …"
    with httpx.stream("POST", f"{redact_gateway.url}/v1/chat/completions",
                      headers={"authorization": f"Bearer {redact_gateway.key}"},
                      json={"model": "deepseek-chat", "stream": True,
                            "messages": [{"role": "user", "content": PROMPT}]}) as r:
        contents = [json.loads(line[6:])["choices"][0]["delta"].get("content")
                    for line in r.iter_lines() if line.startswith("data: {")]
    assert contents[1] == "You s"  # the first chunk went out as it came
    assert contents[2].startswith("aid: Write a reminder to Marie Dupont")


async def test_concurrent_requests_get_only_their_own_values(redact_gateway, cloud):
    firsts = ["Alice", "Bruno", "Chloé", "Damien", "Élodie", "Fabrice", "Gaëlle", "Hugo", "Inès", "Julien"]
    lasts = ["Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon",
             "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier", "Morel"]
    names = [f"{first} {last}" for first in firsts for last in lasts]
    client = redact_gateway.async_client()

    async def ask(name: str) -> str:
        r = await client.chat.completions.create(
            model="deepseek-chat", messages=[{"role": "user", "content": f"Write a thank-you note for {name}."}])
        return r.choices[0].message.content

    answers = await asyncio.gather(*(ask(n) for n in names))
    await client.close()
    for name, answer in zip(names, answers):
        assert answer == f"You said: Write a thank-you note for {name}."
    sent = _sent(cloud)
    assert len(cloud.bodies) == 200 and not any(n.split()[1] in sent for n in names)


def test_multi_turn_same_placeholder_and_restored_history(redact_gateway, cloud):
    client = redact_gateway.client()
    first = [{"role": "user", "content": f"Draft a note to {NAME}."}]
    answer = client.chat.completions.create(model="deepseek-chat", messages=first).choices[0].message.content
    history = first + [{"role": "assistant", "content": answer},
                       {"role": "user", "content": f"Shorter, and sign it for {NAME}'s manager."}]
    again = client.chat.completions.create(model="deepseek-chat", messages=history).choices[0].message.content
    # The echo repeats turn 1's placeholder too: both occurrences come back as the name.
    assert again == f"You said: Draft a note to {NAME}. | Shorter, and sign it for {NAME}'s manager."
    turn1, turn2 = cloud.bodies
    tag = turn1["messages"][0]["content"].split("to ")[1].rstrip(".")
    assert tag.startswith("[PERSON_") and json.dumps(turn2).count(tag) == 3  # user, assistant, user
    _assert_nothing_leaked(cloud, NAME)


def test_value_left_in_another_form_goes_onprem(redact_gateway, cloud, onprem):
    # "dupont" in lower case is no name to the detectors, but it is Marie Dupont's surname.
    raw = redact_gateway.client().chat.completions.with_raw_response.create(
        model="deepseek-chat", messages=[{"role": "user", "content": f"Write to {NAME}. PS: dupont likes tea."}])
    assert raw.headers["x-r1gate-route"] == "onprem" and "redact-value-left" in raw.headers["x-r1gate-rules"]
    assert cloud.received == [] and len(onprem.bodies) == 1


def test_types_that_may_not_be_pseudonymized_stay_onprem(redact_gateway, cloud, onprem):
    client = redact_gateway.client()
    for text in (f"{NAME} was born on 14/02/1987, write her a birthday card.",  # DATE_OF_BIRTH: not redactable
                 f"{NAME} has diabetes, adapt her schedule."):  # health data: its own on-prem rule
        raw = client.chat.completions.with_raw_response.create(
            model="deepseek-chat", messages=[{"role": "user", "content": text}])
        assert raw.headers["x-r1gate-route"] == "onprem", text
    assert cloud.received == []


def test_audit_explain_and_logs(redact_gateway, cloud, log_lines):
    client = redact_gateway.client()
    client.chat.completions.create(model="deepseek-chat", messages=[{"role": "user", "content": PROMPT}])
    explained = httpx.post(f"{redact_gateway.url}/v1/route/explain", headers={"authorization": f"Bearer {redact_gateway.key}"},
                           json={"model": "deepseek-chat", "messages": [{"role": "user", "content": PROMPT}]}).json()
    assert explained["action"] == "redact" and explained["route"] == "cloud"
    assert explained["pseudonymized"] == {"PERSON": 1, "EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1}
    assert explained["cloud_request"] == cloud.bodies[0] | {"model": "deepseek-chat"}
    redact_gateway.stop()
    from proxy import ledger

    record = ledger.audit(redact_gateway.db())[0]
    assert record["action"] == "redact" and record["pseudonymized"] == explained["pseudonymized"]
    text = "\n".join(log_lines()) + json.dumps(record)
    for value in ("Marie", "Dupont", MAIL, "12 34 56"):
        assert value not in text


def test_cached_answers_keep_placeholders(make_gateway, redact_gateway, cloud, redis_server):
    gw = make_gateway(policy=redact_gateway.settings.policy, redis_url=redis_server.url)
    client = gw.client()
    for expected_cache in ("miss", "hit"):
        raw = client.chat.completions.with_raw_response.create(
            model="deepseek-chat", temperature=0, messages=[{"role": "user", "content": PROMPT}])
        assert raw.headers["x-r1gate-cache"] == expected_cache
        assert raw.parse().choices[0].message.content == f"You said: {PROMPT}"
    assert len(cloud.bodies) == 1
