"""The batch sampler: greedy, temperature, top-k/top-p, seeds, penalties, log-probabilities."""
from __future__ import annotations

import math

import pytest
import torch

from engine.sampler import sample
from engine.sampling_params import SamplingParams
from engine.sequence import Sequence


def seq(seed=None, outputs=(), **kw):
    s = Sequence([1, 2, 3] + list(outputs), SamplingParams(**kw), prompt_len=3)
    if seed is not None:
        s.generator = torch.Generator().manual_seed(seed)
    return s


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_greedy_at_temperature_zero():
    logits = torch.tensor([[0.1, 3.0, 2.9], [5.0, 0.0, 0.0]])
    assert sample(logits, [seq(temperature=0), seq(temperature=0)], gen()) == [1, 0]


def test_top_k_1_and_tiny_top_p_are_greedy():
    logits = torch.tensor([[0.1, 3.0, 2.9, 1.0]] * 2)
    for _ in range(20):
        assert sample(logits, [seq(temperature=1.5, top_k=1), seq(temperature=1.5, top_p=1e-6)], gen(_)) == [1, 1]


def test_top_p_keeps_the_nucleus_only():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log()[None].repeat(400, 1)
    picks = sample(logits, [seq(temperature=1.0, top_p=0.75) for _ in range(400)], gen(1))
    assert set(picks) == {0, 1}  # 0.5 + 0.3 reaches 0.75; the tail is cut


def test_distribution_follows_the_probabilities():
    probs = torch.tensor([0.7, 0.2, 0.1])
    n = 4000
    picks = sample(probs.log()[None].repeat(n, 1), [seq(temperature=1.0) for _ in range(n)], gen(2))
    for tok, p in enumerate(probs.tolist()):
        freq = picks.count(tok) / n
        assert abs(freq - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_seeded_rows_do_not_depend_on_the_batch():
    logits = torch.randn(3, 50, generator=gen(3))
    alone, batched = seq(seed=42, temperature=1.0), seq(seed=42, temperature=1.0)
    draws_alone = [sample(logits[1:2], [alone], gen(9))[0] for _ in range(10)]
    draws_batched = [sample(logits, [seq(temperature=1.0), batched, seq(seed=i, temperature=1.0)], gen(i))[1]
                     for i in range(10)]
    assert draws_alone == draws_batched
    assert len(set(draws_alone)) > 1  # it did sample


def test_frequency_and_presence_penalties():
    logits = torch.tensor([[2.0, 1.9, 0.0]])
    assert sample(logits, [seq(temperature=0, outputs=[0])], gen()) == [0]
    assert sample(logits, [seq(temperature=0, outputs=[0], presence_penalty=0.5)], gen()) == [1]
    assert sample(logits, [seq(temperature=0, outputs=[0, 0], frequency_penalty=0.1)], gen()) == [1]
    assert sample(logits, [seq(temperature=0, outputs=[1], frequency_penalty=-1.0)], gen()) == [1]


def test_logprobs_of_the_chosen_token_and_the_best_alternatives():
    from engine.sampler import logprobs

    probs = torch.tensor([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]])
    (tok0, lp0, alts0), (tok1, lp1, alts1) = logprobs(probs.log(), [2, 0], [2, 0])
    assert (tok0, tok1, alts1) == (2, 0, [])
    assert lp0 == pytest.approx(math.log(0.3)) and lp1 == pytest.approx(math.log(0.5))
    assert [t for t, _ in alts0] == [1, 2] and alts0[0][1] == pytest.approx(math.log(0.6))
