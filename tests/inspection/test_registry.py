"""The detector registry: one table that the inspector runs and the policy schema reads."""
from __future__ import annotations

from proxy.inspect import BUILTIN_ENTITIES, REGISTRY, DetectorSettings, Inspector
from proxy.inspect.detectors.email import EmailDetector
from proxy.inspect.registry import Registered
from proxy.policy import PolicyError, load_policy


def test_each_detector_is_registered_once_under_its_own_name():
    names = [entry.name for entry in REGISTRY]
    assert len(names) == len(set(names))
    assert BUILTIN_ENTITIES == frozenset().union(*(entry.entities for entry in REGISTRY), {"PUBLIC_NAME"})


def test_hits_are_labelled_by_their_detector_and_typed_as_it_declares(inspector):
    text = ("CONFIDENTIAL: call Dr. Okafor on +33 6 12 34 56 78, mail rachel@proton.me, "
            "IBAN DE64370400440532014711, password=Hunter2!x, host 84.23.117.9, "
            "she has diabetes, born 14/07/1988, 12 rue des Lilas, 69003 Lyon.")
    entries = {entry.name: entry for entry in REGISTRY}
    hits = inspector.inspect(text)
    assert {h.detector.split(".")[0] for h in hits} >= {"marking", "person", "numbers", "email", "iban"}
    for hit in hits:
        entry = entries[hit.detector.split(".")[0]]
        assert hit.entity in entry.entities


def test_a_policy_may_name_every_registered_entity_and_no_other(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  - id: all\n    when:\n      entities:\n        - type: ["
                      + ", ".join(sorted(BUILTIN_ENTITIES)) + "]\n    action: onprem\n")
    load_policy(policy)
    policy.write_text("rules:\n  - id: bad\n    when:\n      entities:\n        - type: NOT_A_TYPE\n    action: onprem\n")
    try:
        load_policy(policy)
    except PolicyError as exc:
        assert "NOT_A_TYPE" in str(exc)
    else:
        raise AssertionError("an unknown entity type was accepted")


def test_a_detector_declared_for_some_languages_runs_only_on_them():
    french_only = (Registered(EmailDetector, languages=frozenset({"fr"})),)
    inspector = Inspector(DetectorSettings.make(), registry=french_only)
    assert inspector.inspect("Écris à marc.lindqvist@proton.me pour le contrat de lundi.")
    assert not inspector.inspect("Please write to marc.lindqvist@proton.me about the contract.")
