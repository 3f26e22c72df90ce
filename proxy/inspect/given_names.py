"""Given names, the word lists every name detector shares (`data/first_names.txt`,
`data/word_names.txt`, `data/acronyms.txt`)."""
from __future__ import annotations

from functools import lru_cache

from .data_files import word_list


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    return frozenset(name.lower() for name in word_list("first_names.txt"))


@lru_cache(maxsize=1)
def word_names() -> frozenset[str]:
    """Given names that are also words in German, Spanish, Italian, Dutch or Portuguese ("vida",
    "massimo"): the languages whose dictionaries spaCy ships no small pipeline for."""
    return word_list("word_names.txt")


@lru_cache(maxsize=1)
def acronyms() -> frozenset[str]:
    return word_list("acronyms.txt")


def is_given_name(word: str) -> bool:
    names = first_names()
    return all(part.lower() in names for part in word.split("-") if part) and len(word) > 1
