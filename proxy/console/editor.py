"""The policy editor's guard rails: lint an edited policy, run its test cases, compare its
decisions with the active policy's, and save it only when lint and tests pass, keeping
the previous version and recording the change in the audit trail."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..audit import POLICY_CHANGE
from ..keys import Principal
from ..ledger import Record
from ..policy.loader import PolicyError, Problem, parse_policy
from ..policy.rules import CompiledPolicy
from . import playground

if TYPE_CHECKING:
    from ..app import Gateway


@dataclass
class Check:
    """What the editor shows for an edited policy."""

    text: str
    problems: list[Problem] = field(default_factory=list)
    version: str | None = None
    tests: dict[str, Any] | None = None
    diff: dict[str, Any] | None = None

    @property
    def bad_lines(self) -> set[int]:
        return {p.line for p in self.problems}

    @property
    def passed(self) -> bool:
        return not self.problems and self.tests is not None and not self.tests["failed"]


def compile_text(text: str, name: str) -> CompiledPolicy:
    """The edited policy, compiled; `PolicyError` with every problem at line:column."""
    loaded = parse_policy(text.encode("utf-8"), name)
    return CompiledPolicy.build(loaded.policy, loaded.version)


async def check(gw: "Gateway", text: str) -> tuple[Check, CompiledPolicy | None]:
    """Lint, then the test cases and the diff of decisions with the active policy."""
    result = Check(text)
    try:
        candidate = compile_text(text, Path(gw.settings.policy).name)
    except PolicyError as exc:
        result.problems = exc.problems
        return result, None
    result.version = candidate.version
    result.tests = await playground.run_tests(gw, candidate)
    result.diff = await playground.diff(gw, candidate)
    return result, candidate


async def save(gw: "Gateway", text: str, principal: Principal) -> Check:
    """Writes the policy file if the edited text lints and passes its tests; the file it
    replaces is kept beside it in `previous/`, and the change is an audit record."""
    result, candidate = await check(gw, text)
    if candidate is None or not result.passed:
        return result
    path = Path(gw.settings.policy)
    active = gw.chat.router.version
    if candidate.version != active:
        kept = path.parent / "previous" / f"{path.stem}.{active}{path.suffix}"
        kept.parent.mkdir(exist_ok=True)
        kept.write_bytes(path.read_bytes())
        temporary = path.with_name(f".{path.name}.saving")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)  # the router sees either the old file or the new one, whole
        gw.ledger.record(Record(request_id=f"policy-{candidate.version}", team=principal.team,
                                key_id=principal.key_id, model=None, route=None, status=200,
                                policy_version=candidate.version, action=POLICY_CHANGE,
                                ts=datetime.now(timezone.utc)))
    return result
