"""Trial of a learned tagger as the person model where no spaCy pipeline exists (issue 10, item 6).

    .venv/bin/python bench/tagger_trial.py

The tagger is Rampart (a 4-bit ONNX MiniLM token classifier for en/fr/de/es/it/nl/pt, CC BY
4.0), shipped in `proxy/inspect/data/tagger/` and run by `proxy/inspect/tagger.py`; the
gateway asks it only about lower-case given names that are also words
(`detectors/learned_names.py`). This trial asks it more. It answers the person question
that the rules leave open (`NerModels.entities`): for German, Spanish, Italian, Dutch and
Portuguese instead of the borrowed English pipeline, or for every language; or it runs as a
detector of its own on every text, beside the rules (each word it labels a name, at 0.8 or
more, is a PERSON). Prints routing quality on the corpus and the dev set, how many of the
probes (`tagger_probes.txt`: private names the rules were not written for) get a person, and
the time a probe, per mode.
"""
from __future__ import annotations

import asyncio
import json
import re
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proxy.inspect import Inspector  # noqa: E402
from proxy.inspect.ner import NerModels  # noqa: E402
from proxy.inspect.tagger import NameTagger  # noqa: E402
from proxy.policy import load_policy  # noqa: E402
from proxy.policy.rules import CompiledPolicy  # noqa: E402
from proxy.extract import texts  # noqa: E402
from tests.inspection.evaluate import evaluate, load  # noqa: E402



class Tagger:
    """The shipped tagger (`proxy.inspect.tagger`), asked about every word of a text."""

    def __init__(self) -> None:
        self.tagger = NameTagger()

    def name_chars(self, text: str, min_p: float = 0.5) -> set[int]:
        """Character offsets of the words the tagger labels part of a given name or surname."""
        words = [m.span() for m in re.finditer(r"[^\W\d_]{2,}", text)]
        odds = self.tagger.name_odds(text, words) if words else []
        return {c for (a, b), p in zip(words, odds) if p >= min_p for c in range(a, b)}

    def persons(self, text: str) -> list[tuple[int, int]]:
        """Whole words the tagger labels a name at 0.8 or more: the detector mode."""
        chars = self.name_chars(text, 0.8)
        return [m.span() for m in re.finditer(r"[^\W\d_]{2,}", text)
                if all(c in chars for c in range(m.start(), m.end()))]


class TaggedNer(NerModels):
    """`NerModels` whose question about a run goes to the tagger for the chosen languages (a
    run it tags is a person; one it does not is left unlabelled)."""

    def __init__(self, models, tagger: Tagger, languages: set[str]) -> None:
        super().__init__(models)
        self.tagger, self.tagged = tagger, languages

    def entities(self, text, lang, runs):
        if lang not in self.tagged:
            return super().entities(text, lang, runs)
        found = {}
        for start, end in runs:
            window_start = max(0, start - 150)
            chars = self.tagger.name_chars(text[window_start:end + 150])
            words = [(m_start, m_start + len(w)) for w, m_start in _words(text, start, end)]
            if all(any(c - window_start in chars for c in range(a, b)) for a, b in words):
                found[(start, end)] = "PERSON"
        return found


def _words(text, start, end):
    at = start
    for w in text[start:end].split():
        at = text.index(w, at)
        yield w, at
        at += len(w)


async def quality(inspector: Inspector, settings, path: Path, tagger: Tagger | None = None) -> str:
    policy = CompiledPolicy.build(load_policy(ROOT / "policies/default.yaml").policy, "trial")

    async def cloud_received(request):
        fields = texts(request)
        from proxy.routing import Finding, RouteContext
        findings = [Finding(h.entity, f.path, h.start, h.end, h.score, h.detector)
                    for f in fields for h in inspector.inspect(f.text)]
        if tagger is not None:
            findings += [Finding("PERSON", f.path, a, b, 0.8, "tagger") for f in fields for a, b in tagger.persons(f.text)]
        decision = policy.decide(findings, fields, RouteContext("eval", ""))
        return json.dumps(request, ensure_ascii=False) if decision.route == "cloud" else None

    return (await evaluate(load(path), cloud_received)).summary()


def main() -> None:
    loaded = load_policy(ROOT / "policies" / "default.yaml")
    settings = CompiledPolicy.build(loaded.policy, loaded.version).settings
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tagger = Tagger()
    tagger.name_chars("warm up")
    print(f"tagger loaded: +{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before:.0f} MB max RSS")
    probes = [t.strip() for t in Path(__file__).with_name("tagger_probes.txt").read_text().split("\n---\n") if t.strip()]
    sets = [ROOT / "tests/inspection/corpus.jsonl", ROOT.parent / "shared/eval/dev-set.jsonl"]
    modes = [("rules + spaCy (shipped)", set()), ("tagger for de/es/it/nl/pt", {"de", "es", "it", "nl", "pt"}),
             ("tagger for all seven", {"en", "fr", "de", "es", "it", "nl", "pt"})]
    for mode, tagged in modes[:1 if "--detector-only" in sys.argv else 3]:
        inspector = Inspector(settings, TaggedNer(dict(settings.languages), tagger, tagged))
        inspector.warm_up()
        start = time.perf_counter()
        hits = [sum(h.entity == "PERSON" and h.score >= 0.6 for h in inspector.inspect(p)) for p in probes]
        per_probe = (time.perf_counter() - start) * 1000 / len(probes)
        print(f"\n## {mode}\nprobes with a person found: {sum(map(bool, hits))}/{len(probes)}; {per_probe:.1f} ms a probe")
        for path in sets:
            if path.exists():
                print(f"{path.name}: {asyncio.run(quality(inspector, settings, path))}")
    inspector = Inspector(settings)
    start = time.perf_counter()
    found = [sum(h.entity == "PERSON" and h.score >= 0.6 for h in inspector.inspect(p)) + len(tagger.persons(p))
             for p in probes]
    per_probe = (time.perf_counter() - start) * 1000 / len(probes)
    print(f"\n## rules + tagger as a detector on every text\nprobes with a person found: "
          f"{sum(map(bool, found))}/{len(probes)}; {per_probe:.1f} ms a probe")
    for path in sets:
        if path.exists():
            print(f"{path.name}: {asyncio.run(quality(inspector, settings, path, tagger))}")


if __name__ == "__main__":
    main()
