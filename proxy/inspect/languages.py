"""What the detectors know about each language, read from `data/languages/<code>.yaml`.

Language knowledge is data so that adding a language, or fixing one, is a file a speaker of
it can review. Keys (all lists, matched ignoring case):

- titles, openers, months, surnames, determiners, articles, form_labels, documents, classification_levels,
  example_cues, addressing, reporting, conjunctions, noun_suffixes, place_nouns, name_openers,
  name_endings, nicknames, diminutives, venue_articles, name_articles, given_name_articles, family_words, at_someone,
  word_prefixes, rule_verbs, work_prepositions: plain words or phrases;
- person_cues, name_cues, closings, subjects, verbs, records, possessives, own_possessives, prose_before, marking_labels,
  address_cues, business_ties, relations, audiences, biography_cues, known_for, nobility, works, special: regular expressions, where a final
  `*` abbreviates `\\w*` and a leading one a compound's first words ("*verslaving": alcoholverslaving);
- clefts: sentences that put a name in focus, `{name}` marking where it goes;
- verb_endings: pairs (an inflected verb's ending, its infinitive's), for languages whose list of
  common words holds infinitives only ("werkte" of "werken", "trabalhava" of "trabalhar").

A detector that needs them gets a `Languages` for the configured languages: some knowledge
applies to every text whatever its language (a "Frau" before a surname is a title in an
English e-mail too), some only to texts in that language (subject pronouns, sentence openers).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from typing import Iterable, Sequence

from .data_files import yaml_data


AVAILABLE: frozenset[str] = frozenset(
    p.name.removesuffix(".yaml") for p in resources.files("proxy.inspect").joinpath("data/languages").iterdir()
    if p.name.endswith(".yaml"))


@dataclass(frozen=True, slots=True)
class Language:
    code: str
    titles: frozenset[str]
    person_cues: tuple[str, ...]
    name_cues: tuple[str, ...]
    addressing: tuple[str, ...]  # "ask", "hi", "cc": after one, a lone given name is someone's
    nicknames: frozenset[str]  # "fede", "nacho": words too, but someone's right after an addressing word
    diminutives: tuple[str, ...]  # "inha", "ito", "tje": a given name's diminutive ends with one
    reporting: tuple[str, ...]  # "says", "zegt": after a lone given name in lower case, its clause's verb
    conjunctions: tuple[str, ...]  # "and", "und": between two given names
    closings: tuple[str, ...]
    form_labels: tuple[str, ...]
    clefts: tuple[str, ...]
    openers: frozenset[str]
    months: tuple[str, ...]
    subjects: tuple[str, ...]
    verbs: tuple[str, ...]
    records: tuple[str, ...]  # labels of a number that stands for a person (patient, staff no.)
    possessives: tuple[str, ...]
    own_possessives: tuple[str, ...]  # "my", "notre": the writer's own ("my flatmate Toby")
    special: dict[str, tuple[str, ...]]
    determiners: frozenset[str]  # before two lower-case words: a noun phrase, not a name
    articles: frozenset[str]  # "der", "the": the determiners that are articles only
    prose_before: tuple[str, ...]  # words that make a marking phrase after them talk, not a marking
    rule_verbs: tuple[str, ...]  # "must", "dürfen": after a marking word and its documents, a handling rule
    marking_labels: tuple[str, ...]
    documents: tuple[str, ...]
    classification_levels: tuple[str, ...]  # public, internal, confidential…: a scheme's levels
    address_cues: tuple[str, ...]
    example_cues: tuple[str, ...]  # words that frame a name as an example
    business_ties: tuple[str, ...]  # words that tie a famous name to the company's own business
    relations: tuple[str, ...]  # "daughter", "voisin": after a possessive, someone of the writer's private life
    audiences: tuple[str, ...]  # "book club", "Vereinszeitung": after a possessive, who a text is for
    biography_cues: tuple[str, ...]  # "who was", "la vida de": a public person's life or work asked about
    known_for: tuple[str, ...]  # "is best known for": after a name, what a public person is known for
    nobility: tuple[str, ...]  # "Earl of", "duc de": after a name, a title of nobility
    works: tuple[str, ...]  # "novel", "romance": a work of fiction, whose cast the text may name
    surnames: frozenset[str]
    noun_suffixes: tuple[str, ...]  # -ung, -ción: endings only common nouns have
    place_nouns: frozenset[str]  # hospital, estadio: places often named after someone
    venue_articles: frozenset[str]  # "el": before a full name, a place named after someone ("el Gregorio Marañón")
    name_articles: frozenset[str]  # "o", "la": before a short form, still someone ("o zé", "la bea")
    given_name_articles: frozenset[str]  # Portuguese "a", "o": before every given name ("a Joana")
    family_words: frozenset[str]  # "Familie", "famille": before a surname, the family of that name
    at_someone: frozenset[str]  # "chez", "bei": at someone's, before a surname its bearer
    name_openers: frozenset[str]  # rue, groupe, san: first words of place and organisation names
    name_endings: frozenset[str]  # systems, centraal: last words of organisation and place names
    word_prefixes: frozenset[str]  # multi, anti: joined by a hyphen to a word ("Multi-stage")
    work_prepositions: frozenset[str]  # "in", "dans", "nell'": before a work's title, what happens in it
    verb_endings: tuple[tuple[str, str], ...] = ()  # ("te", "en"): "werkte" is a form of "werken"


@lru_cache(maxsize=None)
def language(code: str) -> Language:
    if code not in AVAILABLE:
        raise ValueError(f"no language data for {code!r}; available: {', '.join(sorted(AVAILABLE))}")
    raw = yaml_data(f"languages/{code}.yaml")
    words = {k: frozenset(str(w).lower() for w in raw[k])
             for k in ("titles", "openers", "surnames", "determiners", "articles", "place_nouns", "name_openers", "name_endings",
                       "nicknames", "venue_articles", "name_articles", "given_name_articles", "family_words", "at_someone",
                       "word_prefixes", "work_prepositions")}
    lists = {k: tuple(str(w) for w in raw[k]) for k in (
        "person_cues", "name_cues", "addressing", "reporting", "diminutives", "conjunctions", "closings", "form_labels", "clefts",
        "months", "subjects", "verbs", "records", "possessives", "own_possessives", "prose_before", "rule_verbs", "marking_labels", "documents",
        "classification_levels", "address_cues", "example_cues", "business_ties", "relations", "audiences", "biography_cues", "known_for", "nobility", "works",
        "noun_suffixes")}
    special = {entity: tuple(terms) for entity, terms in raw["special"].items()}
    endings = tuple((str(inflected), str(infinitive)) for inflected, infinitive in raw["verb_endings"])
    return Language(code, special=special, verb_endings=endings, **words, **lists)


def alternation(entries: Iterable[str], *, regex: bool = True) -> str:
    """One regex alternative of `entries`, longest first; plain words are escaped."""
    parts = {(stem(e) if regex else r"\s+".join(map(re.escape, e.split()))) for e in entries}
    return "|".join(sorted(parts, key=len, reverse=True)) or "(?!)"


def stem(entry: str) -> str:
    entry = entry.replace("'", "['’]")
    if entry.startswith("*"):  # closes a compound: "*verslaving" (alcoholverslaving)
        entry = r"\w*" + entry[1:]
    return entry[:-1] + r"\w*" if entry.endswith("*") and not entry.endswith(r"\w*") else entry


class Languages:
    """The knowledge of the configured languages, compiled once per inspector."""

    def __init__(self, codes: Sequence[str]) -> None:
        self.codes = tuple(codes)
        self.each = {code: language(code) for code in self.codes}

    def get(self, code: str) -> Language:
        return self.each.get(code) or self.each[self.codes[0]]

    def union(self, key: str) -> frozenset[str]:
        return frozenset().union(*(getattr(lang, key) for lang in self.each.values()))

    def entries(self, key: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e for lang in self.each.values() for e in getattr(lang, key)))

    def person_cues(self, code: str) -> str:
        """The words after which a name is someone's, in `code` and in English (which every
        language's prompts borrow), as one regex alternation."""
        return alternation(c for lang in self.with_english(code) for c in lang.person_cues)

    def addressing(self, code: str) -> str:
        """The greetings and verbs after which even a lone given name is someone's, in `code`
        and in English, as one regex alternation."""
        return alternation((c for lang in self.with_english(code) for c in lang.addressing), regex=False)

    def with_english(self, code: str) -> list[Language]:
        """`code`'s knowledge and English's, which every language's prompts borrow."""
        return [self.get(code)] + ([self.each["en"]] if "en" in self.each and code != "en" else [])

    @cached_property
    def function_words_of(self) -> dict[str, frozenset[str]]:
        """Per configured language, spaCy's stop words and the months, in lower case."""
        import spacy.util  # spaCy loads slowly: only where inspection runs

        return {code: frozenset(spacy.util.get_lang_class(code).Defaults.stop_words) | {m.lower() for m in self.get(code).months}
                for code in self.codes}

    @cached_property
    def function_words(self) -> frozenset[str]:
        """The function words of every configured language: never a name in lower case ("del",
        "una", "till", "juni")."""
        return frozenset().union(*self.function_words_of.values())

    @cached_property
    def titles(self) -> frozenset[str]:
        return self.union("titles")

    @cached_property
    def surnames(self) -> frozenset[str]:
        return self.union("surnames")
