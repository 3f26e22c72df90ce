"""Given names, the word lists every name detector shares (`data/first_names.txt`,
`data/word_names.txt`, `data/acronyms.txt`)."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    data = resources.files("proxy.inspect").joinpath("data/first_names.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in data.splitlines() if line and not line.startswith("#"))


@lru_cache(maxsize=1)
def word_names() -> frozenset[str]:
    """Given names that are also words in German, Spanish, Italian, Dutch or Portuguese ("vida",
    "massimo"): the languages whose dictionaries spaCy ships no small pipeline for."""
    data = resources.files("proxy.inspect").joinpath("data/word_names.txt").read_text("utf-8")
    return frozenset(line.strip() for line in data.splitlines() if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=1)
def acronyms() -> frozenset[str]:
    data = resources.files("proxy.inspect").joinpath("data/acronyms.txt").read_text("utf-8")
    return frozenset(line.strip() for line in data.splitlines() if line.strip() and not line.startswith("#"))


def is_given_name(word: str) -> bool:
    names = first_names()
    return all(part.lower() in names for part in word.split("-") if part) and len(word) > 1
