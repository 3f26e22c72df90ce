"""Placeholders and their restoration, streaming included (property-based)."""
from __future__ import annotations

import json
import random

from hypothesis import given, settings, strategies as st

from proxy.pseudonym import PLACEHOLDER, Pseudonymizer, Restorer
from proxy.routing import Finding

P = Pseudonymizer(b"k" * 32, "team-a")


def test_placeholders_are_stable_per_team_and_keyed():
    a = P.placeholder("PERSON", "Marie Dupont")
    assert a == P.placeholder("PERSON", "  marie   DUPONT ") and PLACEHOLDER.fullmatch(a)
    assert a != Pseudonymizer(b"k" * 32, "team-b").placeholder("PERSON", "Marie Dupont")
    assert a != Pseudonymizer(b"j" * 32, "team-a").placeholder("PERSON", "Marie Dupont")
    assert "marie" not in a.lower() and "dupont" not in a.lower()


def test_redact_every_path_and_restore():
    body = {"messages": [
        {"role": "user", "content": "Write to Marie Dupont at marie@corp.fr"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function", "function": {
            "name": "mail", "arguments": json.dumps({"to": "marie@corp.fr", "name": "Marie Dupont"})}}]},
        {"role": "user", "content": [{"type": "text", "text": "Also cc Marie Dupont"}]}]}
    args = body["messages"][1]["tool_calls"][0]["function"]["arguments"]
    where = "messages[1].tool_calls[0].function.arguments"
    spans = [_found("PERSON", "messages[0].content", 9, 21), _found("EMAIL_ADDRESS", "messages[0].content", 25, 38),
             _found("EMAIL_ADDRESS", where, args.index("marie@"), args.index("marie@") + 13),
             _found("PERSON", where, args.index("Marie"), args.index("Marie") + 12),
             _found("PERSON", "messages[2].content[0].text", 8, 20)]
    redacted, mapping = P.redact(body, spans)
    text = json.dumps(redacted)
    assert "Marie" not in text and "marie@" not in text
    person = P.placeholder("PERSON", "Marie Dupont")
    assert redacted["messages"][2]["content"][0]["text"] == f"Also cc {person}"  # same value, same tag
    assert mapping == {person: "Marie Dupont", P.placeholder("EMAIL_ADDRESS", "marie@corp.fr"): "marie@corp.fr"}
    assert body["messages"][0]["content"].startswith("Write to Marie")  # the client's body is untouched
    assert Restorer(mapping).restore(redacted["messages"][0]["content"]) == body["messages"][0]["content"]


def _found(entity: str, path: str, start: int, end: int) -> Finding:
    return Finding(entity, path, start, end, 1.0, "test")


def test_json_escaped_restoration():
    mapping = {"[PERSON_ABCDEF]": 'Jean "Jo" Dupont\\'}
    args = json.dumps({"name": "[PERSON_ABCDEF]"})
    restored = Restorer(mapping, json_escaped=True).restore(args)
    assert json.loads(restored) == {"name": 'Jean "Jo" Dupont\\'}


def test_unknown_placeholders_are_left_alone():
    r = Restorer({"[PERSON_ABCDEF]": "Ana"})
    assert r.restore("[PERSON_ABCDEF] and [PERSON_123456] and [x]") == "Ana and [PERSON_123456] and [x]"


def test_hold_back_only_what_could_be_a_placeholder():
    r = Restorer({"[PERSON_ABCDEF]": "Ana"})
    assert r.feed("Hello [PERS") == "Hello "
    assert r.feed("ON_ABC") == ""
    assert r.feed("DEF], see [1] and [") == "Ana, see [1] and "
    assert r.flush() == "["  # a dangling start goes out as it is


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(texts, st.sampled_from(["[PERSON_ABCDEF]", "[EMAIL_ADDRESS_0123456789]", "[",
                                                   "[PERSON_", "]"])), max_size=12),
       st.randoms(use_true_random=False))
def test_streamed_restoration_equals_whole(parts, rnd):
    mapping = {"[PERSON_ABCDEF]": "Ana Lima", "[EMAIL_ADDRESS_0123456789]": "ana@corp.example"}
    text = "".join(parts)
    whole = Restorer(mapping).restore(text)
    cuts = sorted(rnd.sample(range(len(text) + 1), min(len(text) + 1, rnd.randint(0, 8))))
    r = Restorer(mapping)
    out, last = [], 0
    for cut in cuts + [len(text)]:
        out.append(r.feed(text[last:cut]))
        last = cut
    assert "".join(out) + r.flush() == whole


def test_every_split_position_of_one_answer():
    mapping = {"[PERSON_ABCDEF]": "Ana Lima", "[PHONE_NUMBER_0A1B2C]": "+33 6 12 34 56 78"}
    answer = "Dear [PERSON_ABCDEF], call [PHONE_NUMBER_0A1B2C] [or] [PERSON_ABCDEF]."
    expected = Restorer(mapping).restore(answer)
    assert "Ana Lima" in expected and "[" in expected  # "[or]" is the model's own text
    for i in range(len(answer) + 1):
        for j in range(i, len(answer) + 1, 3):
            r = Restorer(mapping)
            assert r.feed(answer[:i]) + r.feed(answer[i:j]) + r.feed(answer[j:]) + r.flush() == expected
    # The first restored byte goes out with the chunk that completes the placeholder.
    r = Restorer(mapping)
    assert r.feed(answer[:answer.index("]") + 1]) == "Dear Ana Lima"
