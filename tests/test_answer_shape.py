"""On-prem answers reach clients in DeepSeek's shape, whatever engine produced them."""
from __future__ import annotations

import pytest

from proxy.think import ThinkSplitter
from tests.fake_deepseek import ANSWER, REASONING

SENSITIVE = [{"role": "user", "content": "Write to jeanne.martin@example.fr"}]


def _split_everywhere(text: str, opened: bool) -> set[tuple[str, str]]:
    results = set()
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            s = ThinkSplitter(opened)
            parts = [s.feed(p) for p in (text[:i], text[i:j], text[j:])] + [s.finish()]
            results.add(("".join(p[0] for p in parts), "".join(p[1] for p in parts)))
    return results


@pytest.mark.parametrize("text,opened,expected", [
    ("plan it\n</think>\n\nThe answer.", True, ("plan it", "The answer.")),
    ("<think>plan</think>answer", False, ("plan", "answer")),
    ("<think>\nplan</think>\n\nanswer", True, ("plan", "answer")),
    ("\n\nplan  \n more\n\n</think>answer", True, ("plan  \n more", "answer")),
    ("a\n\n", True, ("a\n\n", "")),
    ("no tags at all", False, ("", "no tags at all")),
    ("still thinking", True, ("still thinking", "")),  # never closed: all reasoning, as vLLM has it
    ("a < b </thin and more", False, ("", "a < b </thin and more")),
])
def test_think_split_at_every_boundary(text, opened, expected):
    assert _split_everywhere(text, opened) == {expected}


def test_splitter_holds_back_only_a_possible_tag():
    s = ThinkSplitter(opened=True)
    assert s.feed("abc </th") == ("abc", "")
    assert s.feed("ink>x") == ("", "x")


@pytest.mark.parametrize("style", ["tags", "vllm", "deepseek"])
def test_onprem_styles_non_stream(gateway, onprem, style):
    onprem.style, onprem.usage_style = style, "openai"
    r = gateway.client().chat.completions.create(model="deepseek-reasoner", messages=SENSITIVE)
    message = r.choices[0].message
    assert (message.reasoning_content, message.content) == (REASONING, ANSWER)
    assert "reasoning" not in message.model_dump(exclude_none=True)
    assert r.usage.prompt_cache_hit_tokens == 0
    assert r.usage.prompt_cache_miss_tokens == r.usage.prompt_tokens
    # Not reported by this engine: estimated from the share of reasoning in the answer.
    share = len(REASONING) / (len(REASONING) + len(ANSWER))
    assert r.usage.completion_tokens_details.reasoning_tokens == round(r.usage.completion_tokens * share)


@pytest.mark.parametrize("style", ["tags", "vllm"])
def test_onprem_styles_stream(gateway, onprem, style):
    onprem.style, onprem.usage_style = style, "openai"
    chunks = list(gateway.client().chat.completions.create(
        model="deepseek-reasoner", messages=SENSITIVE, stream=True, stream_options={"include_usage": True}))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == REASONING
    assert "".join(d.content or "" for d in deltas) == ANSWER
    assert all(getattr(d, "reasoning", None) is None for d in deltas)
    usage = chunks[-1].usage
    assert usage.prompt_cache_miss_tokens == usage.prompt_tokens
    assert usage.completion_tokens_details.reasoning_tokens > 0


def test_think_tags_off_leaves_content_alone(make_gateway, onprem):
    gw = make_gateway(onprem={"think_tags": "off"})
    onprem.style = "tags"
    r = gw.client().chat.completions.create(model="deepseek-reasoner", messages=SENSITIVE)
    assert "</think>" in r.choices[0].message.content
