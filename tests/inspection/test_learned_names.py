"""The learned tagger's one question: a given name in lower case that is also a word. Where it
reads a person, the name is one; where it reads the word, or the word is a function word, a
month or a listed public name in lower case, nothing is found."""
from __future__ import annotations

import pytest

from proxy.inspect.tagger import NameTagger

from .conftest import found


@pytest.mark.parametrize("text, name", [
    ("honestly rose is the only one who knows the payroll system, draft a handover plan", "rose"),
    ("hoje a glória faltou outra vez, diz que está doente", "glória"),
])
def test_a_word_that_names_someone_in_chat_is_a_person(inspector, text, name):
    assert ("PERSON", name) in found(inspector, text)


@pytest.mark.parametrize("text", [
    "the price rose by 3% last quarter, summarise the trend",
    "ho comprato una camicia bianca per il matrimonio di sabato",
    "a glória do clube durou até 1990",
    "i numeri del mese di juni sono buoni",  # a function word and a month: never asked
    "erklär mir dirk nowitzkis one-legged fadeaway",  # a listed name in lower case, with its genitive
    "wait was elon musk a cofounder or did he just buy it",
])
def test_the_word_itself_is_no_one(inspector, text):
    assert not [v for e, v in found(inspector, text) if e == "PERSON"]


def test_the_tagger_reads_a_span_anywhere_in_a_long_text():
    """Past the model's 512 tokens, in the clause around it."""
    text = "Quarterly figures for the board, region by region. " * 60 + "honestly rose is the only one who knows payroll"
    at = text.rindex("rose")
    assert NameTagger().name_odds(text, [(at, at + 4)])[0] >= 0.9
