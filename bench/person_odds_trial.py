"""Trial of a learned judge of person hits (issue 10, item 6), measured writer by writer.

    .venv/bin/python bench/person_odds_trial.py

The name rules fire on the shape of a name; whether it is a private person's or a writer's, a
character's, a brand's is often told only by the words around it. This trial trains a small
logistic model on every PERSON hit of the rules in labelled requests: a private name (1)
where the request is sensitive and the hit is one of its `values`, not one (0) where the
request is harmless, left out otherwise. Features: the rule that fired, the language, the
case and dictionary status of the name's words, whether a word of it is a listed public
figure's, the four words either side (folded to five letters), the other values in the text.
L2, full-batch Adam (deterministic); a feature counts only if it occurs in two sets or more.
A hit the model finds unlikely (below a cutoff) has its score lowered under the policy's
PERSON threshold; a public name the text ties to the business is never lowered.

Leave one writer out: train on the other six spent held-out sets (`eval/heldout/set-[a-g]`)
and the tuned corpus with the dev set, route the seventh with the default policy. Prints,
per cutoff, leaks and over-routed requests with the rules alone and with the model, and how
many hits of private names and of harmless requests the model lowered. Never set H.
Figures and the decision: `bench/README.md`, "A learned judge of person hits".
"""
from __future__ import annotations

import json
import math
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proxy.extract import texts  # noqa: E402
from proxy.inspect import Inspector  # noqa: E402
from proxy.inspect.given_names import is_given_name  # noqa: E402
from proxy.inspect.hit import Hit  # noqa: E402
from proxy.inspect.lang import detect_language  # noqa: E402
from proxy.inspect.ner import NerModels  # noqa: E402
from proxy.inspect.public_names import _lists, _norm  # noqa: E402
from proxy.policy import load_policy  # noqa: E402
from proxy.policy.rules import CompiledPolicy  # noqa: E402
from proxy.routing import Finding, RouteContext  # noqa: E402
from tests.inspection.evaluate import leaked, load  # noqa: E402

WRITERS = {f"set-{c}": ROOT / f"eval/heldout/set-{c}.jsonl" for c in "abcdefg"}
TUNED = [ROOT / "tests/inspection/corpus.jsonl", ROOT.parent / "shared/eval/dev-set.jsonl"]
L2, POSITIVE_WEIGHT, STEPS, CUTOFFS = 1.0, 2.0, 400, (0.2, 0.3, 0.4, 0.5)
KEPT = frozenset({"public-name.tied-to-business"})  # the policy's own rule: a person
TOKEN = re.compile(r"\w+|[^\w\s]")
CODE = re.compile(r"[{};]|=\s*[\"'\w]|\bdef |\bfunction |\bimport |\breturn\b|</?\w+>")
PUBLIC_WORDS = frozenset(w for name, kind in _lists()[0].items() if kind != "placeholders"
                         for w in name.split() if len(w) >= 4)


def features(text: str, hit: Hit, hits: list[Hit], lang: str, ner: NerModels) -> list[str]:
    words = text[hit.start:hit.end].split() or [text[hit.start:hit.end]]
    left = TOKEN.findall(text[max(0, hit.start - 60):hit.start])[-4:]
    right = TOKEN.findall(text[hit.end:hit.end + 60])[:4]
    found = [f"rule:{hit.detector}", f"lang:{lang}", f"words:{min(len(words), 4)}",
             "case:" + "".join(map(_case, words[:3])),
             f"given-first:{is_given_name(words[0].capitalize())}",
             f"common-first:{ner.is_common(words[0].lower(), lang)}",
             f"common-last:{ner.is_common(words[-1].lower(), lang)}",
             f"public-word:{any(_norm(w) in PUBLIC_WORDS for w in words)}",
             *(f"left:{_fold(t)}" for t in left), *(f"right:{_fold(t)}" for t in right),
             f"left1:{_fold(left[-1])}" if left else "opens", f"right1:{_fold(right[0])}" if right else "ends",
             f"persons:{min(len({text[h.start:h.end] for h in hits if h.entity == 'PERSON'}), 4)}",
             f"public:{min(sum(h.entity == 'PUBLIC_NAME' for h in hits), 2)}",
             f"length:{min(len(text) // 200, 5)}",
             *(f"with:{e}" for e in sorted({h.entity for h in hits} - {"PERSON", "PUBLIC_NAME"}))]
    found += [name for name, present in (("code", CODE.search(text)), ("short", len(text) < 300),
                                         ("question", "?" in text[hit.end:hit.end + 120])) if present]
    return found


def _case(word: str) -> str:
    if word.isupper() and len(word) > 1:
        return "A"
    return "U" if word[:1].isupper() else "L" if word.islower() else "O"


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))[:5]


@dataclass
class Example:
    record: int
    field: int
    hit: Hit
    features: list[str]
    label: int | None


def inspected(records: list[dict], inspector: Inspector, ner: NerModels, languages: list[str]):
    fields_of, examples = [], []
    for r, record in enumerate(records):
        fields = [(f, [h for h in inspector.inspect(f.text) if f.counts(h.start, h.end)]) for f in texts(record["request"])]
        fields_of.append(fields)
        for i, (f, hits) in enumerate(fields):
            lang = detect_language(f.text, languages)
            examples += [Example(r, i, h, features(f.text, h, hits, lang, ner), _label(record, f.text, h))
                         for h in hits if h.entity == "PERSON" and h.detector not in KEPT]
    return fields_of, examples


def _label(record: dict, text: str, hit: Hit) -> int | None:
    if not record["sensitive"]:
        return 0
    span = text[hit.start:hit.end]
    words = set(re.split(r"[\s,.-]+", span)) - {""}
    for value in record["values"]:
        if span in value or value in span or {w for w in words if len(w) >= 3} & set(re.split(r"[\s,.-]+", value)):
            return 1
    return None


def train(examples: list[tuple[str, list[str], int]]) -> tuple[dict[str, float], float]:
    sets: dict[str, set[str]] = {}
    for name, found, _ in examples:
        for f in found:
            sets.setdefault(f, set()).add(name)
    vocab = {f: i for i, f in enumerate(sorted(f for f, seen in sets.items() if len(seen) >= 2))}
    columns = [[vocab[f] for f in found if f in vocab] for _, found, _ in examples]
    flat = np.array([c for cols in columns for c in cols], dtype=np.int64)
    rows = np.repeat(np.arange(len(columns)), [len(c) for c in columns])
    y = np.array([label for _, _, label in examples], dtype=np.float64)
    weight = np.where(y == 1, POSITIVE_WEIGHT, 1.0)
    params = np.zeros(len(vocab) + 1)  # the last one is the bias
    m, v = np.zeros_like(params), np.zeros_like(params)
    for t in range(1, STEPS + 1):
        z = np.bincount(rows, weights=params[flat], minlength=len(y)) + params[-1]
        g = (1 / (1 + np.exp(-z)) - y) * weight
        grad = np.append(np.bincount(flat, weights=g[rows], minlength=len(vocab)), g.sum()) / len(y)
        grad[:-1] += L2 * params[:-1] / len(y)
        m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad ** 2
        params -= 0.05 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return {f: float(params[i]) for f, i in vocab.items()}, float(params[-1])


def probability(model: tuple[dict[str, float], float], found: list[str]) -> float:
    weights, bias = model
    return 1 / (1 + math.exp(-(bias + sum(weights.get(f, 0.0) for f in found))))


def outcome(policy: CompiledPolicy, record: dict, fields: list, lowered: set[tuple[int, Hit]]) -> str:
    findings = [Finding(h.entity, f.path, h.start, h.end, 0.0 if (i, h) in lowered else h.score, h.detector)
                for i, (f, hits) in enumerate(fields) for h in hits]
    route = policy.decide(findings, [f for f, _ in fields], RouteContext("eval", "")).route
    if record["sensitive"]:
        return "leak" if route == "cloud" and leaked(record, json.dumps(record["request"], ensure_ascii=False)) else "ok"
    return "over" if route != "cloud" else "ok"


def main() -> None:
    loaded = load_policy(ROOT / "policies/default.yaml")
    policy = CompiledPolicy.build(loaded.policy, loaded.version)
    languages = [code for code, _ in policy.settings.languages]
    inspector, ner = Inspector(policy.settings), NerModels(dict(policy.settings.languages))
    sets = {name: load(path) for name, path in WRITERS.items()}
    sets["tuned"] = [r for path in TUNED if path.exists() for r in load(path)]
    data = {name: inspected(records, inspector, ner, languages) for name, records in sets.items()}
    labelled = {name: [(name, e.features, e.label) for e in examples if e.label is not None]
                for name, (_, examples) in data.items()}
    models = {held: train([e for name, rows in labelled.items() if name != held for e in rows]) for held in WRITERS}
    print("| cutoff | leaks, rules → + model | over-routed, rules → + model | private-name hits lowered | harmless hits lowered |")
    print("|---|---|---|---|---|")
    for cutoff in CUTOFFS:
        leaks, over, private, harmless = np.zeros(2, int), np.zeros(2, int), [0, 0], [0, 0]
        for held in WRITERS:
            fields_of, examples = data[held]
            lowered = {(e.record, e.field, e.hit) for e in examples if probability(models[held], e.features) < cutoff}
            for e in examples:
                if e.label is not None:
                    tally = private if e.label else harmless
                    tally[0] += (e.record, e.field, e.hit) in lowered
                    tally[1] += 1
            for r, record in enumerate(sets[held]):
                mine = {(i, h) for rr, i, h in lowered if rr == r}
                for k, chosen in ((0, set()), (1, mine)):
                    result = outcome(policy, record, fields_of[r], chosen)
                    leaks[k] += result == "leak"
                    over[k] += result == "over"
        sensitive = sum(r["sensitive"] for n in WRITERS for r in sets[n])
        harmless_requests = sum(not r["sensitive"] for n in WRITERS for r in sets[n])
        print(f"| {cutoff} | {leaks[0]} → {leaks[1]} of {sensitive} | {over[0]} → {over[1]} of {harmless_requests} | "
              f"{private[0]} of {private[1]} | {harmless[0]} of {harmless[1]} |")


if __name__ == "__main__":
    main()
