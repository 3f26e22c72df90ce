"""Generate `proxy/inspect/data/word_names/<lang>.txt` for German, Spanish, Italian, Dutch and
Portuguese: the given names of `first_names.txt` that the language's own lookup tables in spaCy
hold as words written in lower case ("verde", "vida", "massimo"), and, by the German and
Spanish word frequencies, frequent words written in lower case more often than capitalised
("solange", "salud"). Where the frequencies say a name is written capitalised more often than
in lower case, the tables picked it up from names ("marta", "pablo"): it is no word. spaCy
ships no small pipeline with a lemmatizer for these languages on PyPI, so without these lists
a lone given name in lower case in such a text cannot be told from a word; a list per language,
because a word of one ("chiara", clear) is a name in another's chat. Needs the pinned tables
only here, not at run time:

    .venv/bin/pip install spacy-lookups-data==1.0.5
    .venv/bin/python tests/inspection/make_word_names.py
"""
from __future__ import annotations

from pathlib import Path

from lookups import table, write_list

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "proxy" / "inspect" / "data" / "word_names"
LANGS = ("de", "es", "it", "nl", "pt")
FREQUENCIES = ("de", "es")  # the languages whose word frequencies spaCy's tables hold
FREQUENT = -13.0  # log-probability: about the 20,000 most frequent forms


def main() -> None:
    names = {line.strip().lower() for line in (ROOT / "proxy/inspect/data/first_names.txt").read_text("utf-8").splitlines()
             if line.strip() and not line.startswith("#")}
    OUT.mkdir(exist_ok=True)
    for lang in LANGS:
        words = {w for pair in table(f"{lang}_lemma_lookup").items() for w in pair if isinstance(w, str) and w[:1].islower()}
        if lang in FREQUENCIES:
            prob = table(f"{lang}_lexeme_prob")
            lower = {n for n in names if prob.get(n, -99.0) > prob.get(n.title(), -99.0)}
            # Words no lemma table lists (conjunctions, adverbs, uninflected nouns: "solange",
            # "darin", "salud"): frequent, and written in lower case more often than capitalised.
            words = {w for w in words if w in lower or w not in prob and w.title() not in prob} \
                | {n for n in lower if prob[n] > FREQUENT}
        write_list(OUT / f"{lang}.txt", f"Given names that are also lower-case words in spaCy's {lang} lookup tables.",
                   "make_word_names.py", sorted(names & words))


if __name__ == "__main__":
    main()
