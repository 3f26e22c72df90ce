"""`r1gate policy lint`, `r1gate policy test` and `r1gate explain`, for compliance staff.

`register(subparsers)` adds the commands to `r1gate`'s argparse parser (`proxy/cli.py`);
each sets `func`, a callable(args) -> exit code. Decisions go through `policy.decide`, as in
the gateway: failing closed, and for `redact` pseudonymized and verified.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import yaml

from ..config import Settings
from ..pseudonym import Pseudonymizer
from ..routing import Decision, Route, RouteContext
from ..table import print_table
from .decide import Routed, decide, explain
from .loader import PolicyError, load_policy
from .router import PolicyRouter

DEFAULT_POLICY = "policies/default.yaml"
TIMEOUT_S: float = Settings.model_fields["inspection_timeout_s"].default  # as the gateway's default


def register(subparsers: argparse._SubParsersAction) -> None:
    policy = subparsers.add_parser("policy", help="check and test policy files")
    commands = policy.add_subparsers(dest="policy_command", required=True)
    lint = commands.add_parser("lint", help="validate a policy file; every problem with file:line:column")
    lint.add_argument("file", nargs="?", default=None, help=f"default: $R1GATE_POLICY or {DEFAULT_POLICY}")
    lint.set_defaults(func=lint_command)
    test = commands.add_parser("test", help="run the test cases written next to a policy")
    test.add_argument("dir", nargs="?", default=None, help="default: the tests/ folder next to the policy")
    test.add_argument("--policy", default=None, help="policy file (default: $R1GATE_POLICY or policies/default.yaml)")
    test.set_defaults(func=test_command)
    explain = subparsers.add_parser("explain", help="show where a prompt would go, and why")
    explain.add_argument("text", help="the prompt, as a user would send it")
    explain.add_argument("--policy", default=None)
    explain.add_argument("--team", default="default")
    explain.add_argument("--model", default="deepseek-chat")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.set_defaults(func=explain_command)


def _policy_path(given: str | None) -> Path:
    return Path(given or os.environ.get("R1GATE_POLICY") or DEFAULT_POLICY)


def lint_command(args: argparse.Namespace) -> int:
    path = _policy_path(args.file)
    try:
        loaded = load_policy(path)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} problem(s) found in {path}", file=sys.stderr)
        return 1
    print(f"{path}: OK ({len(loaded.policy.rules)} rules, version {loaded.version})")
    return 0


def test_command(args: argparse.Namespace) -> int:
    policy_path = _policy_path(args.policy)
    folder = Path(args.dir) if args.dir else policy_path.parent / "tests"
    try:
        router = _router(policy_path)
    except PolicyError as exc:
        print(exc)
        return 1
    files = sorted(folder.glob("*.yaml"))
    if not files:
        print(f"no test files (*.yaml) in {folder}")
        return 1
    rows: list[tuple[str, str, str, str, str]] = []
    for file in files:
        try:
            cases = _cases(file)
        except (ValueError, yaml.YAMLError) as exc:
            print(f"{file}: {exc}")
            return 1
        for case in cases:
            decision = asyncio.run(_decide(router, case["request"], case["ctx"])).decision
            ok = decision.route == case["expect"] and set(case["rules"]) <= set(decision.rules)
            rows.append(("PASS" if ok else "FAIL", f"{file.name}: {case['name']}", case["expect"],
                         decision.route, ",".join(decision.rules) or "-"))
    print_table(("result", "case", "expected", "got", "rules matched"), rows)
    failed = sum(r[0] == "FAIL" for r in rows)
    print(f"\n{len(rows) - failed} passed, {failed} failed (policy version {router.version})")
    return 1 if failed else 0


def _router(path: Path) -> PolicyRouter:
    """In this process, models loaded before the first decision so its timeout is fair."""
    router = PolicyRouter(path, workers=0, cache_entries=0)
    router.start()
    return router


async def _decide(router: PolicyRouter, body: dict[str, Any], ctx: RouteContext) -> Routed:
    # The gateway's placeholders use its secret; without R1GATE_SECRET they differ here,
    # but they stand in the same places.
    secret = (os.environ.get("R1GATE_SECRET") or secrets.token_hex(16)).encode()
    return await decide(router, body, ctx, Pseudonymizer(secret, ctx.team), TIMEOUT_S)


def _cases(file: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(file.read_text("utf-8")) or {}
    cases = []
    for i, case in enumerate(data.get("cases", [])):
        if not isinstance(case, dict) or ("prompt" in case) == ("request" in case) or "expect" not in case:
            raise ValueError(f"case {i + 1}: needs `expect` and exactly one of `prompt` or `request`")
        if case["expect"] not in tuple(Route):
            raise ValueError(f"case {i + 1}: expect must be cloud, onprem or blocked, not {case['expect']!r}")
        request = case.get("request") or {"model": case.get("model", "deepseek-chat"),
                                          "messages": [{"role": "user", "content": case["prompt"]}]}
        ctx = RouteContext(case.get("team", "default"), request.get("model", ""),
                           {k.lower(): str(v) for k, v in (case.get("headers") or {}).items()})
        cases.append({"name": case.get("name", f"case {i + 1}"), "request": request, "ctx": ctx,
                      "expect": case["expect"], "rules": case.get("rules", [])})
    return cases


def explain_command(args: argparse.Namespace) -> int:
    try:
        router = _router(_policy_path(args.policy))
    except PolicyError as exc:
        print(exc)
        return 1
    body = {"model": args.model, "messages": [{"role": "user", "content": args.text}]}
    routed = asyncio.run(_decide(router, body, RouteContext(args.team, args.model)))
    if args.json:
        print(json.dumps(explain(routed), indent=2, ensure_ascii=False))
    else:
        _print_decision(routed.decision)
        if routed.redaction is not None:
            print(f"the cloud receives: {routed.redaction.body['messages'][0]['content']}")
    return 0


def _print_decision(d: Decision) -> None:
    print(f"route:   {d.route} (action {d.action}, policy version {d.policy_version})")
    print(f"rules:   {', '.join(d.rules) or 'none matched: the policy default applies'}")
    if d.message:
        print(f"message: {d.message}")
    if d.findings:
        print()
        print_table(("entity", "where", "span", "score", "detector"),
               [(f.entity_type, f.path, f"{f.start}-{f.end}", f"{f.score:.2f}", f.detector) for f in d.findings])
