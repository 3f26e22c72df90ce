"""Generate `proxy/inspect/data/word_names.txt`: the given names of `first_names.txt` that
spaCy's lookup tables for German, Spanish, Italian, Dutch and Portuguese also hold as words
written in lower case ("verde", "vida", "massimo", and names the tables picked up in lower
case, "marta"), and, by the German and Spanish word frequencies, frequent words written in
lower case more often than capitalised ("solange", "salud"). spaCy ships no small pipeline with a lemmatizer for these languages on PyPI,
so without this list a lone given name in lower case in such a text cannot be told from a
word. Needs the pinned tables only here, not at run time:

    .venv/bin/pip install spacy-lookups-data==1.0.5
    .venv/bin/python tests/inspection/make_word_names.py
"""
from __future__ import annotations

from pathlib import Path

from lookups import table, write_list

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "proxy" / "inspect" / "data" / "word_names.txt"
LANGS = ("de", "es", "it", "nl", "pt")
FREQUENCIES = ("de", "es")  # the languages whose word frequencies spaCy's tables hold
FREQUENT = -13.0  # log-probability: about the 20,000 most frequent forms


def main() -> None:
    names = {line.strip().lower() for line in (ROOT / "proxy/inspect/data/first_names.txt").read_text("utf-8").splitlines()
             if line.strip() and not line.startswith("#")}
    words: set[str] = set()
    for lang in LANGS:
        words.update(w for pair in table(f"{lang}_lemma_lookup").items() for w in pair
                     if isinstance(w, str) and w[:1].islower())
    # Words no lemma table lists (conjunctions, adverbs, uninflected nouns: "solange", "darin",
    # "salud"): frequent, and written in lower case more often than capitalised, as a name is not.
    for lang in FREQUENCIES:
        prob = table(f"{lang}_lexeme_prob")
        words.update(n for n in names if prob.get(n, -99.0) > FREQUENT and prob[n] > prob.get(n.title(), -99.0))
    found = sorted(names & words)
    write_list(OUT, "Given names that are also lower-case words in spaCy's lookup tables (de, es, it, nl, pt).",
               "make_word_names.py", found)

if __name__ == "__main__":
    main()
