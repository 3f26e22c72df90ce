"""Confidentiality markings ("CONFIDENTIAL", « diffusion restreinte », VERTRAULICH…) from the
policy's editable list.

A phrase that only a marking uses ("ne pas diffuser", "internal only") counts wherever it is,
unless a subject or an auxiliary before it makes it talk ("you don't need to know the shape").
A single word ("confidential", "intern", "riservato") counts when it is written as a marking:
in capitals, in brackets ("[C3 - Restricted]"), after a classification label of any configured
language ("Classification:", "Einstufung:", "Sensibilité :"), or standing alone as a header
(before a colon, a dash or the end of its line, with no sentence before it on its line). Elsewhere ("how do I keep files
confidential?", "Internal tools we use") it is talk, with a low score that the policy's
threshold keeps below the line. So is a level named beside the other levels of a scheme, in
a list ("public, internal, confidential, secret") or as the heads of definitions ("- Interne :
…", "- Confidentiel : …"): a text about the scheme, unless the level stands alone in capitals
on its own line, as a document's header. A marking in quotation marks inside a sentence
(„VERTRAULICH“ oder „Intern“ kennzeichnen, «Uso interno») is mentioned, not applied, unless a
label says it is the document's (`"sensitivity": "Confidential"`).
"""
from __future__ import annotations

import re
from typing import Iterator, Sequence

from ..hit import Hit
from ..languages import Languages, alternation

# Inside brackets, an optional level code first: "[C3 - Restricted]", "(TLP:AMBER) "; not a call's
# parenthesis: `hash(secret + message)`.
_BRACKET_BEFORE = r"(?:[\[*_#«\"“|]|(?<!\w)\()\s*(?:[A-Z]{1,4}\d?\s*[-–:]\s*)?"
_MARKING_CONTEXT_AFTER = re.compile(r"^[ \t]*(?:[:\-—–|\])*_»\"”]|\n|$)")
# `SECRET = os.environ[…]`, `Level.CONFIDENTIAL`: code, not a marking.
_CODE_AROUND = re.compile(r"^\s*(?:=|\(|\.[a-z_])")
# What separates the items of a list, in the configured languages' words for "and", "or", "vs".
_LIST_JOIN = r"\s*(?:[,/|;]|\s(?:and|or|et|ou|und|oder|y|o|e|en|of|vs\.?)\s)\s*"
# A short quotation on one line ("Intern gebruik", «Uso interno», „VERTRAULICH“, 'Uso interno'; not
# an apostrophe: "l'IGI", "don't").
_QUOTATION = re.compile(r"(?:[\"„“«‘‹]|(?<!\w)')\s?([^\"'„“”«»‘’‹›\n]{1,40}?)\s?(?:[\"“”»’›]|'(?!\w))")
_LETTERS = re.compile(r"[^\W\d_]+")
_OPENING_QUOTE = re.compile(r"(?:[\"„“«‘‹]|(?<![\w])')\s?$")
_CODE_KEY = re.compile(r"(?m)^[ \t-]*([a-z_][a-z0-9_.-]*)[ \t]*[:=][ \t]*[\"']?$")  # `kind: `, `type = "`
_CONJUNCTIONS = {"and": "(?:and|&)", "et": "(?:et|&)", "und": "(?:und|&)", "y": "(?:y|&)", "e": "(?:e|&)",
                 "en": "(?:en|&)"}


class MarkingDetector:
    name = "marking"
    entities = frozenset({"CONFIDENTIAL_MARKING"})

    def __init__(self, phrases: Sequence[str], languages: Languages) -> None:
        # What writes a word as a marking, in any configured language: a bracket, a
        # classification label or an intensifier ("Einstufung:", "strictly"; after a label's
        # colon, one qualifier may come first: "Rubricering: Departementaal Vertrouwelijk"), or
        # a document word opening a line ("Document confidentiel —").
        labels = alternation(languages.entries("marking_labels"))
        self._label_words = frozenset(w.lower() for w in languages.entries("marking_labels") if " " not in w)
        documents = alternation(languages.entries("documents"), regex=False)
        self._before = re.compile(
            rf"(?i)(?:{_BRACKET_BEFORE}|\b(?:{labels})\s*(?:[:=]\s*\w+[ \t]+)?[:=\-–]?|(?:^|\n)\s*(?:{documents}))\s*$")
        # A label that applies to what follows: with its colon ("Einstufung: „VS-NfD“"); without
        # one it names the quotation talked about ("die Einstufung „VS – Nur für den
        # Dienstgebrauch“", « la mention « Diffusion Restreinte » »).
        self._applied_label = re.compile(rf"(?i)\b(?:{labels})\s*[:=]\s*$")
        self._prose = re.compile(rf"(?i)(?<![\w'’])(?:{alternation(languages.entries('prose_before'))})\s+$")
        # A class of documents in a handling rule, the word before or after its noun's plural:
        # "CONFIDENTIAL documents must never be pasted…", « les documents CONFIDENTIEL ne doivent… »
        rules = alternation(languages.entries("rule_verbs"), regex=False)
        self._rule_after = re.compile(rf"(?i)[ \t]+(?:{documents})\w{{0,3}}[ \t]+(?:{rules})(?!\w)")
        self._rule_before = re.compile(rf"(?i)(?<!\w)(?:{documents})\w{{0,3}}[ \t]+$")
        self._rule_verb = re.compile(rf"(?i)[ \t]+(?:{rules})(?!\w)")
        single = [p for p in phrases if " " not in p.strip()]
        multi = [p for p in phrases if " " in p.strip()]
        self._multi = _alternation(multi)
        # the phrases' first words: the alternation is tried only where one opens a word
        self._firsts = frozenset(_LETTERS.match(p.strip()).group().lower() for p in multi)
        # and, for the participles that agree (`_phrase`), their stems: "protegid" of "protegidas"
        self._stems = frozenset(filter(None, (_stem(p.split()[0]) for p in multi if len(p.split()) > 2)))
        self._single = _alternation(single)
        levels = alternation(languages.entries("classification_levels"), regex=False)
        self._levels = frozenset(w.lower() for w in languages.entries("classification_levels"))
        # three levels listed, or two set against each other ("CONFIDENTIAL vs INTERNAL")
        self._level_list = re.compile(rf"(?i)(?<!\w)(?:{levels})(?:(?:{_LIST_JOIN}(?:{levels})){{2,}}"
                                      rf"|\s+(?:vs\.?|versus)\s+(?:{levels}))(?!\w)")
        self._level_head = re.compile(rf"(?im)^[ \t]*(?:[-*•]|\d+[.)])?[ \t]*({levels})[ \t]*[:–—-]")

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        scheme = self._about_a_scheme(text)
        if self._multi:
            for m in self._phrases(text):
                talk = self._prose.search(text[max(0, m.start() - 12):m.start()]) and not m.group().isupper()
                talk = talk or (scheme and self._scheme_level(text, m)) or self._quoted(text, m)
                yield Hit("CONFIDENTIAL_MARKING", m.start(), m.end(), 0.3 if talk else 0.9, "marking.phrase")
        if self._single:
            for m in self._single.finditer(text):
                word = m.group()
                if _CODE_AROUND.match(text[m.end():m.end() + 3]) or text[max(0, m.start() - 1):m.start()] == ".":
                    continue
                if not word.isupper() and _glued(text, m.start(), m.end()):
                    continue  # `rh-calm-sensitive-2`, `internal_api`: part of a name in code
                if m.start() >= 2 and text[m.start() - 1] in "'’" and text[m.start() - 2].isalpha():
                    continue  # "all'interno:": a noun after an elided article
                if not word.isupper() and self._code_value(text, m.start()):
                    continue  # `kind: Secret` in a manifest: a value of a key in code, not a marking
                as_marking = ((word.isupper() and len(word) > 3)
                              or self._labelled(text, m.start())
                              or (_MARKING_CONTEXT_AFTER.match(text[m.end():m.end() + 3])
                                  and not _in_prose(text, m.start()))) \
                    and not (scheme and self._scheme_level(text, m)) and not self._quoted(text, m) \
                    and not self._handling_rule(text, m)
                yield Hit("CONFIDENTIAL_MARKING", m.start(), m.end(), 0.9 if as_marking else 0.3,
                          "marking.word")

    def _code_value(self, text: str, start: int) -> bool:
        """The value of a key in code or config (`kind: Secret`), a key no part of which is a
        classification label (not `sensitivity_label: Confidential`, `classification: …`)."""
        key = _CODE_KEY.search(text, text.rfind("\n", 0, start) + 1, start)
        return bool(key) and not any(part in self._label_words for part in re.split(r"[_.-]", key.group(1)))

    def _phrases(self, text: str) -> Iterator[re.Match[str]]:
        """`self._multi.finditer(text)`, a single alternation of hundreds of phrases tried only
        where a word that opens one of them stands (tried everywhere, it costs 14 ms on 50 KB)."""
        end = 0
        for word in _LETTERS.finditer(text):
            low = word.group().lower()
            if word.start() >= end and (low in self._firsts or any(low[:-k] in self._stems for k in (1, 2))):
                m = self._multi.match(text, word.start())
                if m:
                    end = m.end()
                    yield m

    def _quoted(self, text: str, m: re.Match[str]) -> bool:
        """Inside a short quotation, with more of the sentence on its line, and no label before;
        or opening a quotation of any length that a sentence introduces ("the footer says 'This
        message is confidential and…'")."""
        opening = _OPENING_QUOTE.search(text, max(0, m.start() - 2), m.start())
        if opening:
            before = text[text.rfind("\n", 0, opening.start()) + 1:opening.start()]
            if re.search(r"\w", before) and not self._applied_label.search(before[-40:].replace('"', "").replace("'", "")):
                return True
        for q in _QUOTATION.finditer(text, *_line(text, m.start(), m.end())):
            if q.start(1) <= m.start() and m.end() <= q.end(1):
                before = text[max(0, q.start() - 40):q.start()].replace('"', "").replace("'", "")
                return not _alone_on_line(text, q.start(), q.end()) and not self._applied_label.search(before) \
                    and not _label_inside(text[q.start(1):m.start()], self._before)
        return False

    def _about_a_scheme(self, text: str) -> bool:
        """Three levels listed together, or two heading definitions."""
        heads = {m.group(1).lower() for m in self._level_head.finditer(text)}
        return len(heads) >= 2 or bool(self._level_list.search(text))

    def _scheme_level(self, text: str, m: re.Match[str]) -> bool:
        """A level of the scheme the text is about; not one standing alone on its line in capitals."""
        header = m.group().isupper() and _alone_on_line(text, m.start(), m.end())
        return " ".join(m.group().lower().split()) in self._levels and not header

    def _handling_rule(self, text: str, m: re.Match[str]) -> bool:
        """The word qualifies a plural of documents that a rule's verb follows: talk about how to
        handle such documents, not a marking of this one."""
        return bool(self._rule_after.match(text, m.end()) or (
            self._rule_before.search(text, max(0, m.start() - 24), m.start()) and self._rule_verb.match(text, m.end())))

    def _labelled(self, text: str, start: int) -> bool:
        return bool(self._before.search(text[max(0, start - 40):start]))


def _in_prose(text: str, start: int) -> bool:
    """Three words in lower case before it on its line: a sentence ending on the word ("pour la
    newsletter interne :"), not a header ("Projet Atlas – Interne", "Subject: Q3 plan – internal")."""
    line = text[text.rfind("\n", 0, start) + 1:start]
    return sum(w[0].islower() for w in _LETTERS.findall(line)) >= 3


def _label_inside(before: str, labels: re.Pattern[str]) -> bool:
    """A label and its colon inside the quotation, before the level: `"Classificação: Restrito"`."""
    return before.rstrip().endswith((":", "=")) and bool(labels.search(before))


def _line(text: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of the line that holds text[start:end]."""
    line_end = text.find("\n", end)
    return text.rfind("\n", 0, start) + 1, len(text) if line_end < 0 else line_end


def _alone_on_line(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] has nothing but decoration beside it on its line: a header."""
    line_start, line_end = _line(text, start, end)
    return not (text[line_start:start] + text[end:line_end]).strip(" \t*_#[]():-–—|")


def _glued(text: str, start: int, end: int) -> bool:
    """Whether the word is glued into a longer identifier by a hyphen, an underscore or a
    slash (`rh-calm-sensitive-2`, `internal_api`, `/secret/`): a name in code, not a marking."""
    before, after = text[max(0, start - 2):start], text[end:end + 2]
    return (len(before) == 2 and before[1] in "-_/" and before[0].isalnum()) or \
        (len(after) == 2 and after[0] in "-_" and after[1].isalnum())


def _alternation(phrases: Sequence[str]) -> re.Pattern[str] | None:
    if not phrases:
        return None
    parts = sorted((_phrase(p.split()) for p in phrases), key=len, reverse=True)
    return re.compile(rf"(?i)(?<![\w])(?:{'|'.join(parts)})(?![\w])")


# The last word of a phrase agrees with what it qualifies: « strictement confidentiels »,
# "strettamente riservati", "streng vertrauliche", "estritamente confidenciais".
_ENDINGS = (("o", "(?:o|a|i|e|os|as)"), ("a", "(?:a|e|as)"), ("l", "(?:l(?:le|e)?s?|is)"), ("é", "(?:ée?s?)"),
            ("ch", "(?:ch(?:e|er|es|en|em)?)"), ("k", "(?:ke?)"))


def _phrase(words: list[str]) -> str:
    if len(words) == 1:
        return re.escape(words[0])
    # A notice's participle opening it agrees too: "protegida por el secreto profesional",
    # "soggette ad accordo di riservatezza" (listed as "protegido…", "soggetto…").
    first = _agreeing(words[0]) if len(words) > 2 else _CONJUNCTIONS.get(words[0].lower(), re.escape(words[0]))
    return r"\s+".join([first, *(_CONJUNCTIONS.get(w.lower(), re.escape(w)) for w in words[1:-1]), _agreeing(words[-1])])


def _agreeing(word: str) -> str:
    stem = _stem(word)
    if stem is None:
        return re.escape(word)
    for end, forms in _ENDINGS:
        if word.lower().endswith(end):
            return re.escape(word[:-len(end)]) + forms
    return re.escape(word) + "s?"


def _stem(word: str) -> str | None:
    """What of `word` stays whatever it agrees with, in lower case (the whole word where only an
    -s may follow it), or None for a word too short or not all letters, which does not agree."""
    if len(word) < 4 or not word.isalpha():
        return None
    low = word.lower()
    return next((low[:-len(end)] for end, _ in _ENDINGS if low.endswith(end)), low)
