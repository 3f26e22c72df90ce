"""Read a policy file and report every problem at its file:line:column, in plain words.

The YAML is composed into nodes first so that every value keeps its position; the schema's
and the semantic checks' errors (bad regex, unknown entity type, duplicate rule id, missing
model) are then pinned to the node they are about.
"""
from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..inspect import BUILTIN_ENTITIES, LANGUAGES
from ..inspect.checksums import VALIDATORS
from ..inspect.detectors.custom import RecognizerLoadError, load_recognizer
from .schema import Policy

Loc = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PolicyError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    policy: Policy
    version: str  # content hash: what every decision records
    source: str


def load_policy(path: str | Path) -> LoadedPolicy:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError([Problem(str(path), 1, 1, f"cannot read the file: {exc.strerror}")]) from None
    return parse_policy(data, str(path))


def parse_policy(data: bytes, name: str) -> LoadedPolicy:
    version = hashlib.sha256(data).hexdigest()[:12]
    try:
        root = yaml.compose(data.decode("utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError:
        raise PolicyError([Problem(name, 1, 1, "the file is not UTF-8 text")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise PolicyError([Problem(name, *where, f"YAML syntax: {exc.problem or exc.context}")]) from None
    positions = _Positions(name, root)
    problems = positions.duplicate_keys()
    raw = yaml.safe_load(data) if root is not None else {}
    if not isinstance(raw, dict):
        raise PolicyError([Problem(name, 1, 1, "expected a mapping with `default`, `detectors` and `rules`")])
    policy = None
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        problems += [positions.problem(tuple(err["loc"]), _explain(err)) for err in exc.errors()]
    problems += _semantic_problems(raw, positions)
    if problems or policy is None:
        raise PolicyError(sorted(problems, key=lambda p: (p.line, p.column)))
    return LoadedPolicy(policy, version, name)


def _explain(err: dict[str, Any]) -> str:
    kind, loc = err["type"], err["loc"]
    field = " > ".join(f"#{p + 1}" if isinstance(p, int) else str(p) for p in loc) or "(file)"
    if kind in ("literal_error", "enum"):
        return f"{field}: got {err['input']!r}, expected one of {err['ctx']['expected']}"
    if kind == "extra_forbidden":
        return f"{field}: unknown field (check its spelling and indentation)"
    if kind == "missing":
        return f"{field}: required field is missing"
    if kind == "string_pattern_mismatch":
        return f"{field}: {err['input']!r} does not match {err['ctx']['pattern']}"
    return f"{field}: {err['msg']}"


def _semantic_problems(raw: dict[str, Any], at: "_Positions") -> list[Problem]:
    """Checks the schema cannot express. They read the raw data, defensively, so that they
    run even when the schema found problems too: lint reports every problem at once."""
    problems: list[Problem] = []
    detectors = _mapping(raw.get("detectors"))
    customs = _items(detectors.get("custom"))
    custom_problems, custom_entities = _check_custom(customs, at)
    problems += custom_problems
    known = BUILTIN_ENTITIES | custom_entities
    expected = ", ".join(sorted(known))

    def check_regex(rx: Any, loc: Loc) -> None:
        if isinstance(rx, str):
            try:
                re.compile(rx)
            except re.error as exc:
                problems.append(at.problem(loc, f"invalid regular expression: {exc.msg} (at position {exc.pos})"))

    def check_entity(entity: Any, loc: Loc) -> None:
        if isinstance(entity, str) and entity not in known:
            problems.append(at.problem(loc, f"unknown entity type {entity!r}; expected one of: {expected}"))

    for lang, package in _mapping(detectors.get("languages")).items():
        if lang not in LANGUAGES:
            problems.append(at.problem(("detectors", "languages", lang, "#key"),
                                       f"no language data for {lang!r}; expected one of: {', '.join(sorted(LANGUAGES))}"))
        if isinstance(package, str) and importlib.util.find_spec(package) is None:
            problems.append(at.problem(("detectors", "languages", lang),
                                       f"spaCy model package {package!r} is not installed"))
    for entity in _mapping(detectors.get("thresholds")):
        check_entity(entity, ("detectors", "thresholds", entity, "#key"))
    for i, spec in customs:
        for j, rx in _items(spec.get("patterns"), dicts=False):
            check_regex(rx, ("detectors", "custom", i, "patterns", j))
    for k, entity in _items(raw.get("redactable"), dicts=False):
        check_entity(entity, ("redactable", k))
    seen: dict[Any, int] = {}
    for i, rule in _items(raw.get("rules")):
        rule_id = rule.get("id")
        if isinstance(rule_id, str) and rule_id in seen:
            problems.append(at.problem(("rules", i, "id"), f"duplicate rule id {rule_id!r} (first used by rule #{seen[rule_id] + 1})"))
        seen.setdefault(rule_id, i)
        when = _mapping(rule.get("when"))
        if not any(when.get(k) for k in ("entities", "patterns", "teams", "models", "headers")):
            problems.append(at.problem(("rules", i, "when"), "a rule needs at least one condition under `when`"))
        for j, cond in _items(when.get("entities")):
            types = cond.get("type")
            for k, entity in (_items(types, dicts=False) if isinstance(types, list) else [(None, types)]):
                check_entity(entity, ("rules", i, "when", "entities", j, "type") + ((k,) if k is not None else ()))
        for j, rx in _items(when.get("patterns"), dicts=False):
            check_regex(rx, ("rules", i, "when", "patterns", j))
        for k, entity in _items(rule.get("redactable"), dicts=False):
            check_entity(entity, ("rules", i, "redactable", k))
        if rule.get("action") == "block" and not rule.get("message"):
            problems.append(at.problem(("rules", i, "action"), "a `block` rule needs a `message` telling the user why"))
    return problems


def _check_custom(customs: list[tuple[int, Any]], at: "_Positions") -> tuple[list[Problem], set[str]]:
    """The custom recognizers' problems (each needs something to match with, a known
    validator, an importable class) and the entity types they report."""
    problems: list[Problem] = []
    entities: set[str] = set()
    for i, spec in customs:
        if isinstance(spec.get("entity"), str):
            entities.add(spec["entity"])
        loc = ("detectors", "custom", i)
        recognizer = spec.get("recognizer")
        if not (spec.get("patterns") or spec.get("words") or recognizer):
            problems.append(at.problem(loc, "a custom recognizer needs `patterns`, `words` or `recognizer`"))
        elif not recognizer and not spec.get("entity"):
            problems.append(at.problem(loc, "a custom recognizer with `patterns` or `words` needs an `entity`"))
        validator = spec.get("validator")
        if isinstance(validator, str) and validator not in VALIDATORS:
            problems.append(at.problem(loc + ("validator",), f"unknown validator {validator!r}; expected one of: "
                                       + ", ".join(VALIDATORS)))
        if isinstance(recognizer, str):
            try:
                entities.update(load_recognizer(recognizer).supported_entities)
            except RecognizerLoadError as exc:
                problems.append(at.problem(loc + ("recognizer",), str(exc)))
    return problems, entities


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any, dicts: bool = True) -> list[tuple[int, Any]]:
    if not isinstance(value, list):
        return []
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict) or not dicts]


class _Positions:
    """Where each value of the YAML document sits, by its path of keys and indices."""

    def __init__(self, name: str, root: yaml.Node | None) -> None:
        self.name = name
        self.root = root

    def problem(self, loc: Loc, message: str) -> Problem:
        node = self._find(loc)
        mark = node.start_mark if node is not None else None
        return Problem(self.name, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1, message)

    def _find(self, loc: Loc) -> yaml.Node | None:
        node = self.root
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                keys = {k.value: (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}
                if str(part) not in keys:
                    return node  # a missing field: point at the mapping that lacks it
                key, value = keys[str(part)]
                node = key if loc[-1] == "#key" and part == loc[-2] else value
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                return node
        return node

    def duplicate_keys(self) -> list[Problem]:
        problems: list[Problem] = []
        stack = [self.root]
        while stack:
            node = stack.pop()
            if isinstance(node, yaml.MappingNode):
                seen: set[str] = set()
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value in seen:
                        m = key.start_mark
                        problems.append(Problem(self.name, m.line + 1, m.column + 1,
                                                f"duplicate key {key.value!r}: the later one would silently win"))
                    seen.add(getattr(key, "value", ""))
                    stack.append(value)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
        return sorted(problems, key=lambda p: (p.line, p.column))
