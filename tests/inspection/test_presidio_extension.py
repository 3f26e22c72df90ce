"""A policy's `custom:` recognizers: a named checksum validator and context words, and any
Presidio `EntityRecognizer` loaded by import path (here Presidio's own Finnish one), through
the policy file, over HTTP and on the command line; lint points at bad ones."""
from __future__ import annotations

import json

import httpx
import pytest

from proxy.cli import main
from proxy.inspect import DetectorSettings, Inspector
from proxy.inspect.settings import CustomSpec
from proxy.policy import PolicyError, parse_policy

POLICY = """\
detectors:
  custom:
    - id: finnish-ids
      recognizer: presidio_analyzer.predefined_recognizers.FiPersonalIdentityCodeRecognizer
    - id: customer-numbers
      entity: CUSTOMER_NUMBER
      patterns: ['(?<=\\bK-)\\d{4} ?\\d{4}\\b']
      validator: luhn
      score: 0.4
      context: [customer number, Kundennummer, numéro client]
rules:
  - id: finnish-ids
    when: {entities: [{type: FI_PERSONAL_IDENTITY_CODE}]}
    action: onprem
  - id: customers
    when: {entities: [{type: CUSTOMER_NUMBER}]}
    action: onprem
"""
HETU, HETU_BAD = "131052-308T", "131052-308U"  # DVV's published example, and a wrong control character


@pytest.fixture
def policy_file(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def _explain(gateway, text: str) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/route/explain", headers={"authorization": f"Bearer {gateway.key}"},
                      json={"model": "deepseek-chat", "messages": [{"role": "user", "content": text}]})


def test_a_presidio_recognizer_named_in_the_policy_decides_over_http(make_gateway, policy_file, cloud, onprem):
    gateway = make_gateway(policy=str(policy_file))
    r = _explain(gateway, f"Henkilötunnus {HETU}, laadi vakuutushakemus.")
    body = r.json()
    assert r.status_code == 200 and body["route"] == "onprem" and body["rules"] == ["finnish-ids"]
    assert [(f["entity_type"], f["detector"]) for f in body["findings"]] == [
        ("FI_PERSONAL_IDENTITY_CODE", "custom.finnish-ids")]
    assert HETU not in r.text
    assert _explain(gateway, f"Henkilötunnus {HETU_BAD}, laadi vakuutushakemus.").json()["route"] == "cloud"
    assert cloud.received == [] and onprem.received == []


def test_validator_and_context_words_of_a_custom_recognizer(make_gateway, policy_file, cloud, onprem):
    gateway = make_gateway(policy=str(policy_file))
    # Luhn-valid, and announced by a context word: 0.4 + 0.35 counts.
    assert _explain(gateway, "Kundennummer K-1234 5674, bitte Rechnung prüfen.").json()["route"] == "onprem"
    # Luhn-valid, no context word: 0.4 does not count; Luhn-invalid: not found at all.
    assert _explain(gateway, "Ticket K-1234 5674 closed.").json()["route"] == "cloud"
    body = _explain(gateway, "Kundennummer K-1234 5678, bitte Rechnung prüfen.").json()
    assert body["route"] == "cloud" and body["findings"] == []


def test_explain_command_loads_the_recognizer_from_the_policy_file(policy_file, capsys):
    assert main(["explain", f"Hetu: {HETU}", "--json", "--policy", str(policy_file)]) == 0
    out = capsys.readouterr().out
    decision = json.loads(out)
    assert decision["route"] == "onprem" and decision["findings"][0]["entity_type"] == "FI_PERSONAL_IDENTITY_CODE"
    assert HETU not in out


def test_a_recognizers_own_context_words_raise_its_weak_matches():
    """Where the policy gives no `context:`, the recognizer's own list counts, as in Presidio."""
    spec = CustomSpec("bank", recognizer="presidio_analyzer.predefined_recognizers.UsBankRecognizer")
    inspector = Inspector(DetectorSettings.make(custom=(spec,)))

    def score(text: str) -> float:
        return max(h.score for h in inspector.inspect(text) if h.entity == "US_BANK_NUMBER")

    assert score("Bank account 4567123490, please.") == pytest.approx(score("Wire 4567123490, please.") + 0.35)


@pytest.mark.parametrize("source,expected", [
    ("detectors:\n  custom:\n    - id: a\n      recognizer: no_such_package.recognizers.Thing\n",
     ["p.yaml:4:19: cannot import 'no_such_package.recognizers.Thing': ModuleNotFoundError"]),
    ("detectors:\n  custom:\n    - id: a\n      recognizer: presidio_analyzer:Nope\n",
     ["p.yaml:4:19: cannot import 'presidio_analyzer:Nope': AttributeError"]),
    ("detectors:\n  custom:\n    - id: a\n      recognizer: presidio_analyzer.Pattern\n",
     ["p.yaml:4:19: 'presidio_analyzer.Pattern' is not a Presidio EntityRecognizer class"]),
    ("detectors:\n  custom:\n    - id: a\n      entity: X_ID\n      patterns: ['\\d+']\n      validator: luhnn\n",
     ["p.yaml:6:18: unknown validator 'luhnn'; expected one of: luhn, iban, mod97"]),
    ("detectors:\n  custom:\n    - id: a\n      patterns: ['\\d+']\n",
     ["p.yaml:3:7: a custom recognizer with `patterns` or `words` needs an `entity`"]),
    ("detectors:\n  custom:\n    - id: a\n      entity: X_ID\n",
     ["p.yaml:3:7: a custom recognizer needs `patterns`, `words` or `recognizer`"]),
])
def test_lint_points_at_a_bad_recognizer(source, expected):
    with pytest.raises(PolicyError) as err:
        parse_policy(source.encode(), "p.yaml")
    messages = [str(p) for p in err.value.problems]
    assert len(messages) == len(expected), messages
    for message, prefix in zip(messages, expected):
        assert message.startswith(prefix), messages


def test_lint_command_reports_a_bad_import_path_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("detectors:\n  custom:\n    - id: a\n      recognizer: no_such_package.Thing\n")
    assert main(["policy", "lint", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:4:19: cannot import 'no_such_package.Thing'" in out and "Traceback" not in out


def test_rules_may_name_the_entity_types_a_loaded_recognizer_reports(policy_file):
    parse_policy(policy_file.read_bytes(), "p.yaml")  # FI_PERSONAL_IDENTITY_CODE is known: no error
