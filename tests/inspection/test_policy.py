"""Rule evaluation, lint messages and hot reload of `PolicyRouter`; failing closed in `policy.decide`."""
from __future__ import annotations

import json
import logging
import os

import pytest

from proxy.policy import PolicyError, PolicyRouter, parse_policy
from proxy.policy.decide import decide as route
from proxy.pseudonym import Pseudonymizer
from proxy.routing import RouteContext

BASE = """\
default: {default}
detectors:
  markings: [confidential]
rules:
  - id: secrets
    when: {{entities: [{{type: SECRET}}]}}
    action: block
    message: no secrets please
  - id: people
    when: {{entities: [{{type: PERSON, min_score: 0.8}}]}}
    action: onprem
  - id: many-emails
    when: {{entities: [{{type: EMAIL_ADDRESS, min_count: 2}}]}}
    action: redact
  - id: research-team
    when: {{teams: [research]}}
    action: cloud
  - id: codename
    when: {{patterns: ['\\bproject\\s+nautilus\\b']}}
    action: onprem
  - id: finance-model
    when: {{models: [deepseek-reasoner], teams: [finance]}}
    action: onprem
  - id: classified
    when: {{headers: {{x-data-classification: [secret, confidential]}}}}
    action: onprem
"""


def body(text: str, model: str = "deepseek-chat") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}]}


@pytest.fixture
def make_router(tmp_path):
    def make(default: str = "cloud", **kwargs) -> PolicyRouter:
        path = tmp_path / "policy.yaml"
        path.write_text(BASE.format(default=default))
        router = PolicyRouter(path, workers=0, **kwargs)
        router.start()
        return router
    return make


async def decide(router, text, team="dev", model="deepseek-chat", headers=None):
    return await router.decide(body(text, model), RouteContext(team, model, headers or {}))


async def test_most_protective_action_wins_and_all_matches_are_listed(make_router):
    router = make_router()
    d = await decide(router, "Ask Rachel Whitfield why token=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 fails",
                     team="research")
    assert d.route == "blocked" and d.action == "block" and d.message == "no secrets please"
    assert d.rules == ("secrets", "people", "research-team")
    assert d.entity_counts == {"PERSON": 1, "SECRET": 1}


async def test_default_applies_when_nothing_matches(make_router):
    assert (await decide(make_router("cloud"), "How do I sort a list?")).route == "cloud"
    d = await decide(make_router("onprem"), "How do I sort a list?")
    assert d.route == "onprem" and d.rules == () and d.action == "onprem"


async def test_cloud_rule_does_not_override_a_protective_one(make_router):
    d = await decide(make_router(), "Write to Rachel Whitfield", team="research")
    assert d.route == "onprem" and d.rules == ("people", "research-team")


async def test_entity_conditions_min_score_and_min_count(make_router):
    router = make_router()
    one = await decide(router, "Write to a.b@proton.me")
    assert one.route == "cloud"  # one address: below min_count
    two = await decide(router, "Write to a.b@proton.me and c.d@proton.me")
    # A redact rule whose types the policy does not list as `redactable` keeps the request on-prem.
    assert two.rules == ("many-emails",) and two.action == "onprem" and two.route == "onprem"
    assert two.message == "EMAIL_ADDRESS may not be pseudonymized: answered on-prem" and not two.redact
    weak = await decide(router, "Please send the report to Wei Zhang before Friday.")  # model: 0.7 < 0.8
    assert "people" not in weak.rules


async def test_pattern_team_model_and_header_conditions(make_router):
    router = make_router()
    assert (await decide(router, "Status of Project  Nautilus?")).rules == ("codename",)
    assert (await decide(router, "Sum these numbers", team="finance", model="deepseek-reasoner")).rules == ("finance-model",)
    assert (await decide(router, "Sum these numbers", team="finance")).rules == ()
    d = await decide(router, "Rewrite this", headers={"X-Data-Classification": "Secret"})
    assert d.rules == ("classified",) and d.route == "onprem"


async def test_decision_and_logs_never_hold_the_value(make_router, caplog):
    router = make_router()
    secret = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
    with caplog.at_level(logging.DEBUG):
        d = await decide(router, f"Rachel Whitfield's token is {secret}")
    dumped = json.dumps(d.as_dict())
    assert secret not in dumped and "Whitfield" not in dumped and secret not in caplog.text
    assert {f["entity_type"] for f in d.as_dict()["findings"]} == {"PERSON", "SECRET"}


async def test_timeout_fails_closed(tmp_path, make_router):
    router = make_router()
    routed = await route(router, body("How do I sort a list?"), RouteContext("dev", "deepseek-chat"),
                         Pseudonymizer(b"secret", "dev"), timeout_s=0)  # no inspection can finish in zero time
    d = routed.decision
    assert d.route == "onprem" and d.rules == ("inspection-timeout",) and d.policy_version == router.version
    assert routed.redaction is None


async def test_hot_reload_and_broken_file_keeps_last_good_policy(make_router, log_lines):
    router = make_router("cloud")
    path, first = router.path, router.version
    assert (await decide(router, "How do I sort a list?")).route == "cloud"

    path.write_text(BASE.format(default="onprem"))
    os.utime(path, ns=(1, 1))  # a distinct mtime, whatever the file system's resolution
    d = await decide(router, "How do I sort a list?")
    assert d.route == "onprem" and router.version != first and d.policy_version == router.version
    second = router.version

    path.write_text(BASE.format(default="onprem").replace("action: block", "action: nuke"))
    os.utime(path, ns=(2, 2))
    d = await decide(router, "How do I sort a list?")
    assert d.route == "onprem" and router.version == second
    rejected = [line for line in log_lines() if '"event":"policy_rejected"' in line]
    assert len(rejected) == 1 and '"level":"error"' in rejected[0]
    assert "policy.yaml:7:13" in rejected[0] and "nuke" in rejected[0]


def test_version_is_the_content_hash():
    a = parse_policy(b"default: cloud\n", "a.yaml")
    b = parse_policy(b"default: cloud\n", "b.yaml")
    c = parse_policy(b"default: onprem\n", "c.yaml")
    assert a.version == b.version != c.version


@pytest.mark.parametrize("source,expected", [
    ("default: cloudy\n", ["p.yaml:1:10: default: got 'cloudy', expected one of"]),
    ("rules:\n  - id: a\n    when: {teams: [x]}\n    action: nuke\n", ["p.yaml:4:13: rules > #1 > action: got 'nuke'"]),
    ("rules:\n  - id: a\n    when: {patterns: ['(x']}\n    action: onprem\n", ["p.yaml:3:23: invalid regular expression"]),
    ("rules:\n  - id: a\n    when:\n      entities: [{type: PERSONN}]\n    action: onprem\n",
     ["p.yaml:4:25: unknown entity type 'PERSONN'"]),
    ("rules:\n  - id: a\n    when: {teams: [x]}\n    action: onprem\n  - id: a\n    when: {teams: [y]}\n    action: cloud\n",
     ["p.yaml:5:9: duplicate rule id 'a'"]),
    ("rules:\n  - id: a\n   action: [\n", ["p.yaml:3:4: YAML syntax"]),
    ("rules:\n  - id: a\n    when: {teams: [x]}\n    action: block\n", ["p.yaml:4:13: a `block` rule needs a `message`"]),
    ("rules:\n  - id: a\n    when: {}\n    action: onprem\n    acton: cloud\n",
     ["p.yaml:3:11: a rule needs at least one condition", "p.yaml:5:12: rules > #1 > acton: unknown field"]),
])
def test_lint_messages_point_at_line_and_column(source, expected):
    with pytest.raises(PolicyError) as err:
        parse_policy(source.encode(), "p.yaml")
    messages = [str(p) for p in err.value.problems]
    assert len(messages) == len(expected), messages
    for message, prefix in zip(messages, expected):
        assert message.startswith(prefix), messages
