"""spaCy named-entity models, loaded from the pinned packages only (invariant 7: no download).

Only the `ner` component is kept: the small EN/FR models give it its own embedding layer, so
the tagger, parser and lemmatizer would cost time for nothing. The model only sees the
sentences that hold a capitalised run no cheaper rule could explain. A language without a
pipeline on PyPI (German, Spanish, Italian, Dutch, Portuguese) borrows the first configured
one for that question, and knows its own common words from spaCy's stop words and its data
file's sentence openers and months.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Mapping, Sequence

from .languages import language

_PERSON_LABELS = frozenset({"PERSON", "PER"})
_WINDOW = 400  # characters of context around a run: enough for the model, bounded cost


class NerModels:
    """Lazily loads one pipeline per language from the installed model packages."""

    def __init__(self, models: Mapping[str, str | None]) -> None:
        self._names = dict(models)
        self._fallback = next((name for name in self._names.values() if name), None)
        self._loaded: dict[str, object] = {}
        self._lexicons: dict[str, frozenset[str]] = {}

    def _model(self, lang: str):
        name = self._names.get(lang) or self._fallback
        nlp = self._loaded.get(name)
        if nlp is None:
            # importlib rather than spacy.load(name): a missing package fails here instead of
            # letting anything try to fetch it.
            module = importlib.import_module(name)
            nlp = module.load(exclude=["tok2vec", "tagger", "morphologizer", "parser", "senter",
                                       "attribute_ruler", "lemmatizer"])
            self._loaded[name] = nlp
        return nlp

    def warm_up(self) -> None:
        for lang in self._names:
            if self._fallback:
                self._model(lang)("Warm up.")
            self.is_common("warm", lang)

    def is_common(self, word: str, lang: str) -> bool:
        """Whether `word` is in the language's dictionary (the lemmatizer's word lists shipped
        with the model): "Compare" opening a sentence is a verb, "Priya" is not a word."""
        words = self._lexicons.get(lang)
        if words is None:
            words = self._lexicons[lang] = _lexicon(lang, self._names.get(lang))
        word = word.lower()
        return word in words or (lang == "fr" and _french_verb_form(word, words)) or (
            lang == "en" and _english_form(word, words))

    def is_common_anywhere(self, word: str) -> bool:
        """`is_common` in any configured language: prompts mix them ("Compare X et Y")."""
        return any(self.is_common(word, lang) for lang in self._names)

    def is_common_for(self, word: str, lang: str) -> bool:
        """`is_common` in `lang` or English (which every language's prompts borrow), or among
        the stop words, openers and months of any configured language; not in another
        pipeline's lemma tables, which hold names too (French ones "marisa", English "jonah")."""
        return any(self.is_common(word, code) for code in self._names
                   if code == lang or not self._names[code]) or self.is_common(word, "en")

    def has_lexicon(self, lang: str) -> bool:
        """Whether `is_common` knows the language's whole dictionary, not only its stop words."""
        return bool(self._names.get(lang))

    def entities(self, text: str, lang: str, runs: list[tuple[int, int]]) -> dict[tuple[int, int], str]:
        """The label the model gives each run it reads whole as one entity ("PERSON", "GPE"…):
        an entity covering only part of a run ("Google [Cloud Platform]") is the small model's
        noise, not a name."""
        if self._fallback is None:
            return {}
        nlp = self._model(lang)
        windows = sentence_windows(text, runs)
        found: dict[tuple[int, int], str] = {}
        wanted = set(runs)
        for (offset, _), doc in zip(windows, nlp.pipe(text[a:b] for a, b in windows)):
            for ent in doc.ents:
                span = (ent.start_char + offset, ent.end_char + offset)
                if span in wanted:
                    found[span] = "PERSON" if ent.label_ in _PERSON_LABELS else ent.label_
        return found


def sentence_windows(text: str, runs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The sentence around each run (sorted by start), merged when they overlap, each at most
    _WINDOW long: what a model reads a run in."""
    spans: list[tuple[int, int]] = []
    for a, b in runs:
        start = max(text.rfind(c, max(0, a - _WINDOW // 2), a) for c in ".!?\n") + 1
        ends = [i for i in (text.find(c, b, b + _WINDOW // 2) for c in ".!?\n") if i >= 0]
        end = min(ends) + 1 if ends else min(len(text), b + _WINDOW // 2)
        start = max(start, a - _WINDOW // 2, 0)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def _french_verb_form(word: str, words: frozenset[str]) -> bool:
    """An imperative or present form of a regular French verb: "prépare" (préparer), "choisis".
    The tables list infinitives; irregular imperatives ("écris", "fais") are openers in fr.yaml."""
    return (word.endswith("e") and word + "r" in words) or (
        word.endswith("s") and (word[:-1] + "re" in words or word[:-1] + "r" in words))


def _english_form(word: str, words: frozenset[str]) -> bool:
    """An -ing, -ed or -er form the tables lack: "pooling" (pool), "caching" (cache)."""
    for suffix in ("ing", "ed", "er", "ers"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            stem = word[:-len(suffix)]
            if stem in words or stem + "e" in words or (stem[-1] == stem[-2] and stem[:-1] in words):
                return True
    return False


def _lexicon(lang: str, package: str | None) -> frozenset[str]:
    """The language's dictionary: the pipeline's lemmatizer tables where it has some, and
    always its stop words and the sentence openers and months of its data file."""
    import spacy.util  # spaCy loads slowly: only where inspection runs
    from spacy.lookups import Lookups

    data = language(lang)
    words: set[str] = {*spacy.util.get_lang_class(lang).Defaults.stop_words, *data.openers,
                       *(m.lower() for m in data.months)}
    path = None
    if package:
        module = importlib.import_module(package)
        path = next(Path(module.__file__).parent.glob("*/lemmatizer/lookups/lookups.bin"), None)
    if path is None:
        return frozenset(words)
    lookups = Lookups().from_bytes(path.read_bytes())
    if lookups.has_table("lemma_lookup"):  # inflected forms ("prépare"), where the model has them
        words.update(k for k in lookups.get_table("lemma_lookup").keys() if isinstance(k, str))
        words.update(v for v in lookups.get_table("lemma_lookup").values() if isinstance(v, str))
    if lookups.has_table("lemma_index"):
        for forms in lookups.get_table("lemma_index").values():
            words.update(forms)
    return frozenset(words)
