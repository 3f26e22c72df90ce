"""Chat formatting with the checkpoint's template, and the reasoning/content split."""
from __future__ import annotations

from engine.chat import ChatFormatter, ReasoningSplitter
from engine.tiny import BOS, EOS, R1_TEMPLATE


def test_r1_template_drops_earlier_reasoning_and_opens_think():
    f = ChatFormatter(R1_TEMPLATE, BOS, EOS)
    text = f.render([
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]},
        {"role": "assistant", "content": "<think>secret plan</think>hello", "reasoning_content": "secret plan"},
        {"role": "user", "content": "again"},
    ])
    assert text == (f"{BOS}be brief<｜User｜>hi there<｜Assistant｜>hello{EOS}"
                    "<｜User｜>again<｜Assistant｜><think>\n")
    assert "secret" not in text


def feed_all(splitter, pieces):
    out = [splitter.feed(p) for p in pieces] + [splitter.feed("", final=True)]
    return "".join(r for r, _ in out), "".join(c for _, c in out)


def test_split_when_the_prompt_opened_think_even_across_pieces():
    for cut in range(1, 20):
        text = "step one</think>\n\nthe answer"
        pieces = [text[i:i + cut] for i in range(0, len(text), cut)]
        assert feed_all(ReasoningSplitter("...<｜Assistant｜><think>\n"), pieces) == ("step one", "the answer")


def test_no_think_anywhere_is_all_content_and_a_leading_think_is_reasoning():
    assert feed_all(ReasoningSplitter("plain prompt"), ["just ", "an answer"]) == ("", "just an answer")
    assert feed_all(ReasoningSplitter("plain prompt"), ["<thi", "nk>\nhmm</think>ok"]) == ("hmm", "ok")
    # an unfinished think block is all reasoning, as DeepSeek's API reports it
    assert feed_all(ReasoningSplitter("x<think>\n"), ["still ", "thinking </thi"]) == ("still thinking </thi", "")

