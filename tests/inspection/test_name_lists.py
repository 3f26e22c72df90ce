"""The curated lists' own rules (data/names/README.md), checked where a slip would leak a name."""
from __future__ import annotations

from importlib import resources

from proxy.inspect.given_names import first_names, surnames
from proxy.inspect.public_names import _works


def test_an_unambiguous_works_title_is_no_name():
    # "In <title>, …" makes the names of its sentence its characters: a title that is a given name
    # or a surname ("In Santi, …", "In Columbo, …") could be a private person's, whose sentence
    # would then go to the cloud.
    lone = [title for title, ambiguous in _works() if not ambiguous and len(title.split()) == 1]
    assert lone, "works.txt holds one-word titles"
    wrong = [t for t in lone if t.lower() in first_names() or t.lower() in surnames()]
    assert not wrong, wrong


def test_every_entry_comment_marks_it_ambiguous():
    root = resources.files("proxy.inspect").joinpath("data/names")
    files = [p for p in root.iterdir() if p.name.endswith(".txt")] + list(root.joinpath("public_figures").iterdir())
    wrong = [(p.name, line) for p in files for line in p.read_text("utf-8").splitlines()
             if "  #" in line and not line.startswith("#") and line.partition("  #")[2].strip() != "ambiguous"]
    assert not wrong, wrong[:10]
