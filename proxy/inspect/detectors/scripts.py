"""Names written in Han, Kana, Hangul, Arabic, Hebrew, Devanagari, Greek, Thai or Cyrillic script
inside a text in one of the configured (Latin-script) languages: "send it to 王伟", "Пётр Иванов
joined", "رانيا حداد".

A short run of another script set in Latin text is most often a name, but also a quoted word
("how do you say thank you: ありがとう"), so the run must look like a name by the script's own
conventions (`data/scripts.yaml`): an honorific after it, a common family name opening it
(Chinese, Japanese, Korean; a Japanese given name may follow in kana), a common given name in it
(Arabic, Hebrew, Devanagari), capitalised words with a Slavic or Greek surname ending (Cyrillic,
Greek), or two words of Thai (which writes a phrase without spaces: a given name and a surname).
In any script, a short run right after a word that addresses or names a person ("my colleague
נועה בן-דוד", "ping Αλέξης") is one.

A passage of running text in another script (a Chinese e-mail to translate, an Arabic message,
a Greek or Ukrainian HR note) is another matter: a name inside it may have no boundary these
conventions can find, and no detector reads its language's words for health, unions or
secrets, so `ForeignTextDetector` reports the passage itself (FOREIGN_TEXT), and the default
policy keeps it on-prem rather than guess.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterator

import regex

from ..data_files import yaml_data
from ..hit import Hit
from ..languages import Languages
from .person import addressed

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}ー・"
# An isolated run: not inside a longer text of the same script.
_HAN_RUN = regex.compile(rf"(?<![{_CJK}])[\p{{Han}}\p{{Katakana}}ー・]{{2,6}}(?![{_CJK}])")
_HANGUL_RUN = regex.compile(r"(?<!\p{Hangul})\p{Hangul}{2,4}(?!\p{Hangul})")
# A Japanese family name in kanji and a given name in kana ("山本さくら").
_KANJI_KANA_RUN = regex.compile(rf"(?<![{_CJK}])(?P<family>\p{{Han}}{{1,3}})[\p{{Hiragana}}\p{{Katakana}}ー]{{2,4}}(?![{_CJK}])")
_HONORIFIC_RUN = regex.compile(rf"[\p{{Han}}\p{{Katakana}}\p{{Hangul}}]{{1,5}}(?=\s?(?:{{honorifics}}))")
_ARABIC_RUN = regex.compile(r"\p{Arabic}+(?:\s+\p{Arabic}+){1,3}")
_OTHER_SCRIPT = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Arabic}\p{Cyrillic}\p{Greek}\p{Hebrew}\p{Devanagari}\p{Thai}]")
# Up to three words of letters of any script but Latin (with their combining marks: Devanagari).
_NON_LATIN_RUN = regex.compile(r"(?:(?!\p{Latin})[\p{L}\p{M}])+(?:[ -](?:(?!\p{Latin})[\p{L}\p{M}])+){0,2}"
                               r"(?![\p{L}\p{M}])")
_CYRILLIC_WORD = r"(?=\p{Cyrillic})\p{Lu}\p{Ll}+"  # not a Latin word before it ("den Namen Ольга Смирнова")
_CYRILLIC_RUN = regex.compile(rf"(?<!\p{{Cyrillic}}){_CYRILLIC_WORD}(?:[ -]{_CYRILLIC_WORD}){{0,2}}(?!\p{{Cyrillic}})")
_GREEK_WORD = r"(?=\p{Greek})\p{Lu}[\p{Ll}\p{M}]+"
_GREEK_RUN = regex.compile(rf"(?<!\p{{Greek}}){_GREEK_WORD}(?:[ -]{_GREEK_WORD}){{0,2}}(?!\p{{Greek}})")
# Words of scripts whose names lists hold (Hebrew, Devanagari), one to three, and a Thai given
# name and surname (two words: Thai writes no space between the words of a phrase).
_HEBREW_RUN = regex.compile(r"(?<![\p{Hebrew}\p{M}])\p{Hebrew}[\p{Hebrew}\p{M}'׳״-]*(?:\s\p{Hebrew}[\p{Hebrew}\p{M}'׳״-]*){0,2}(?![\p{Hebrew}\p{M}])")
_DEVANAGARI_RUN = regex.compile(r"(?<![\p{Devanagari}])[\p{Devanagari}]+(?:\s[\p{Devanagari}]+){0,2}(?![\p{Devanagari}])")
_THAI_PAIR = regex.compile(r"(?<!\p{Thai})(?<!\p{Thai} )[\p{Thai}]{2,15} [\p{Thai}]{2,15}(?![\p{Thai}]| [\p{Thai}])")


_UNREAD = (r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Devanagari}\p{Arabic}\p{Hebrew}\p{Thai}"
           r"\p{Greek}\p{Cyrillic}")
# Running text, not a name: at least 16 letters of such scripts, with spaces, punctuation and
# digits between them (a name, even with its honorific, is shorter), and more than two words
# in the cased scripts (Greek, Cyrillic), whose names run longer.
_PASSAGE = regex.compile(rf"[{_UNREAD}](?:[{_UNREAD}\s\p{{P}}\d]*[{_UNREAD}]){{15,}}")


@lru_cache(maxsize=1)
def _data() -> dict[str, frozenset[str]]:
    raw = yaml_data("scripts.yaml")
    return {key: frozenset(values) for key, values in raw.items()}


@lru_cache(maxsize=1)
def _honorific_run() -> regex.Pattern[str]:
    honorifics = "|".join(sorted(map(regex.escape, _data()["honorifics"]), key=len, reverse=True))
    return regex.compile(_HONORIFIC_RUN.pattern.replace("{honorifics}", honorifics))


class ScriptNameDetector:
    name = "script-name"
    entities = frozenset({"PERSON"})

    def __init__(self, languages: Languages) -> None:
        self._addressed = {code: addressed(languages, code) for code in languages.codes}

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        if text.isascii():
            return
        cue = self._addressed.get(lang) or next(iter(self._addressed.values()))
        for m in _NON_LATIN_RUN.finditer(text):
            if cue.search(text[max(0, m.start() - 24):m.start()]):
                yield Hit("PERSON", m.start(), m.end(), 0.7, "script-name.after-cue")
        if not _OTHER_SCRIPT.search(text):
            return
        data = _data()
        for m in _honorific_run().finditer(text):
            yield Hit("PERSON", m.start(), m.end(), 0.8, "script-name.honorific")
        for m in _HAN_RUN.finditer(text):
            run = m.group()
            if len(run) <= 4 and (run[0] in data["han_surnames"] or run[:2] in data["han_surnames"]
                                  or any(run.startswith(s) for s in data["japanese_surnames"])):
                yield Hit("PERSON", m.start(), m.end(), 0.75, "script-name.han")
        for m in _KANJI_KANA_RUN.finditer(text):
            if m.group("family") in data["japanese_surnames"]:
                yield Hit("PERSON", m.start(), m.end(), 0.75, "script-name.japanese")
        for m in _HANGUL_RUN.finditer(text):
            if len(m.group()) <= 4 and m.group()[0] in data["hangul_surnames"]:
                yield Hit("PERSON", m.start(), m.end(), 0.7, "script-name.hangul")
        for m in _ARABIC_RUN.finditer(text):
            if any(word in data["arabic_names"] for word in m.group().split()):
                yield Hit("PERSON", m.start(), m.end(), 0.75, "script-name.arabic")
        endings = tuple(data["cyrillic_surname_endings"])
        for m in _CYRILLIC_RUN.finditer(text):
            words = m.group().replace("-", " ").split()
            if all(regex.fullmatch(r"\p{Cyrillic}+", w) for w in words) and (
                    len(words) >= 2 or words[0].lower().endswith(endings)) and any(
                    w.lower().endswith(endings) for w in words):
                yield Hit("PERSON", m.start(), m.end(), 0.75, "script-name.cyrillic")
        greek = tuple(data["greek_surname_endings"])
        for m in _GREEK_RUN.finditer(text):
            if any(w.lower().endswith(greek) for w in m.group().replace("-", " ").split()):
                yield Hit("PERSON", m.start(), m.end(), 0.75, "script-name.greek")
        for run, names in ((_HEBREW_RUN, data["hebrew_names"]), (_DEVANAGARI_RUN, data["devanagari_names"])):
            for m in run.finditer(text):
                words = m.group().split()
                if any(w.strip("'׳״-") in names for w in words):
                    yield Hit("PERSON", m.start(), m.end(), 0.7, "script-name.listed")
        for m in _THAI_PAIR.finditer(text):
            if not any(w in data["thai_phrase_words"] for w in m.group().split()):
                yield Hit("PERSON", m.start(), m.end(), 0.7, "script-name.thai")


class ForeignTextDetector:
    name = "script-text"
    entities = frozenset({"FOREIGN_TEXT"})

    def detect(self, text: str, lang: str) -> Iterator[Hit]:
        if text.isascii():
            return
        for m in _PASSAGE.finditer(text):
            cased = regex.match(r"[\p{Greek}\p{Cyrillic}]", m.group())
            if len(regex.findall(rf"[{_UNREAD}]", m.group())) >= 16 and (not cased or len(m.group().split()) > 3):
                yield Hit("FOREIGN_TEXT", m.start(), m.end(), 0.8, "script-text.passage")
