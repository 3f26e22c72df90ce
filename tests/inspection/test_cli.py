"""`policy lint`, `policy test` and `explain`, through the module's own argument parser."""
from __future__ import annotations

import argparse
import json

from proxy.cli import main
from proxy.policy.commands import register

from .conftest import DEFAULT_POLICY, ROOT


def test_register_adds_commands_with_a_func():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    for argv in (["policy", "lint", "x.yaml"], ["policy", "test", "d"], ["explain", "hello", "--json"]):
        assert callable(parser.parse_args(argv).func)


def test_lint_ok_and_broken(tmp_path, capsys):
    assert main(["policy", "lint", str(DEFAULT_POLICY)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("default: cloudy\nrules:\n  - id: a\n    when: {patterns: ['(x']}\n    action: onprem\n")
    assert main(["policy", "lint", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:1:10: default: got 'cloudy'" in out and f"{bad}:4:23: invalid regular expression" in out
    assert "Traceback" not in out


def test_shipped_policy_tests_pass(capsys):
    assert main(["policy", "test", str(ROOT / "policies" / "tests"), "--policy", str(DEFAULT_POLICY)]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "0 failed" in out


def test_policy_test_reports_a_failing_case(tmp_path, capsys):
    (tmp_path / "cases.yaml").write_text("cases:\n  - name: wrong on purpose\n    prompt: Hello\n    expect: blocked\n")
    assert main(["policy", "test", str(tmp_path), "--policy", str(DEFAULT_POLICY)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_explain_json_lists_findings_without_values(capsys):
    assert main(["explain", "Write to Rachel Whitfield at rachel.w@proton.me", "--json",
                 "--policy", str(DEFAULT_POLICY)]) == 0
    out = capsys.readouterr().out
    decision = json.loads(out)
    assert decision["route"] == "onprem" and decision["rules"] == ["personal-data"]
    assert {f["entity_type"] for f in decision["findings"]} == {"PERSON", "EMAIL_ADDRESS"}
    assert "Whitfield" not in out and "proton" not in out
