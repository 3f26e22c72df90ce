"""Continuous batching, preemption and cancellation, on the real engine with a tiny model."""
from __future__ import annotations

import random

import pytest

from engine.scheduler import QueueFull
from engine.sampling_params import SamplingParams


def greedy(n):
    return SamplingParams(max_tokens=n, temperature=0, ignore_eos=True)


def prompts(k, seed=0):
    rng = random.Random(seed)
    return [[rng.randrange(2, 500) for _ in range(rng.randint(1, 60))] for _ in range(k)]


def alone(make_engine, ps, lens):
    eng = make_engine()
    return [eng.generate([p], greedy(n))[0] for p, n in zip(ps, lens)]


def test_concurrent_requests_get_exactly_their_solo_tokens(make_engine):
    ps = prompts(12)
    lens = [3 + 2 * i for i in range(12)]
    expected = alone(make_engine, ps, lens)
    # A small token budget forces chunked prefill interleaved with other sequences' decoding.
    eng = make_engine(max_batched_tokens=16)
    seqs = []
    for i, (p, n) in enumerate(zip(ps, lens)):
        seqs.append(eng.add_request(p, greedy(n)))
        if i % 3 == 2:  # requests also arrive while others are mid-flight
            eng.step()
    while eng.has_work():
        eng.step()
    assert [s.output_ids for s in seqs] == expected
    assert all(s.finish_reason == "length" for s in seqs)


def test_cache_exhaustion_preempts_and_recovers(make_engine):
    ps = prompts(8, seed=1)
    lens = [24] * 8
    expected = alone(make_engine, ps, lens)
    # 40 blocks of 4 tokens cannot hold eight sequences of up to 84 tokens at once.
    eng = make_engine(num_blocks=40)
    outs = eng.generate(ps, greedy(24))
    assert outs == expected
    assert eng.scheduler.num_preemptions > 0
    assert eng.scheduler.blocks.num_free == 40


def test_cancellation_frees_blocks_no_leak_after_1000_requests(make_engine):
    eng = make_engine(num_blocks=128, max_seqs=32)
    rng = random.Random(7)
    shared = [rng.randrange(2, 500) for _ in range(12)]  # exercises shared prefix blocks too
    live = []
    for i in range(1000):
        p = (shared if i % 2 else []) + [rng.randrange(2, 500) for _ in range(rng.randint(1, 10))]
        live.append(eng.add_request(p, SamplingParams(max_tokens=rng.randint(1, 6), temperature=1.0)))
        if i % 8 == 7:
            eng.step()
            # Cancel some mid-flight, some still waiting, some already finished.
            for s in rng.sample(live, k=min(3, len(live))):
                eng.abort(s)
            live = [s for s in live if s.finish_reason is None]
    for s in live[::2]:
        eng.abort(s)
    while eng.has_work():
        eng.step()
    assert eng.scheduler.blocks.num_free == 128
    assert sum(eng.scheduler.blocks.ref) == 0
    assert not eng.seqs
    assert eng.stats["aborted"] > 100


def test_bounded_queue(make_engine):
    eng = make_engine(max_waiting=3)
    for _ in range(3):
        eng.add_request([5, 6, 7], greedy(2))
    with pytest.raises(QueueFull):
        eng.add_request([5, 6, 7], greedy(2))


def test_prompt_longer_than_context_is_refused(make_engine):
    from engine.sequence import RequestError

    eng = make_engine(num_blocks=8)  # 32 slots → at most 31 tokens of context
    with pytest.raises(RequestError, match="31 tokens"):
        eng.add_request(list(range(2, 40)), greedy(2))
    # max_tokens is clipped to the room left in the context: finish by length, not a crash
    s = eng.add_request(list(range(2, 22)), greedy(100))
    while eng.has_work():
        eng.step()
    assert s.finish_reason == "length" and len(s.token_ids) == 31


def test_long_prompt_is_chunked_and_does_not_stall_decoding(make_engine):
    eng = make_engine(max_batched_tokens=16)
    short = [eng.add_request(p, greedy(40)) for p in prompts(3, seed=4)]
    while any(s.num_output == 0 for s in short):
        eng.step()
    long = eng.add_request([7 + i % 400 for i in range(300)], greedy(2))
    steps = 0
    while long.num_computed < 300 - 1:
        before = [s.num_output for s in short]
        eng.step()
        steps += 1
        # every decoding sequence advanced by one token in each prefill step
        assert [s.num_output for s in short] == [b + 1 for b in before]
    assert steps >= 300 // 16  # the prompt went in chunks of at most the token budget


def test_n_choices_share_the_prompt_blocks_and_match_solo_runs(make_engine):
    # 41 prompt tokens: ten full blocks of 4 shared by every choice, the partial eleventh copied.
    p = prompts(1, seed=9)[0][:1] + list(range(100, 140))
    eng = make_engine()
    solo = [eng.generate([p], SamplingParams(max_tokens=12, temperature=1.0, seed=5 + i))[0] for i in range(3)]
    greedy_solo = eng.generate([p], greedy(12))[0]
    eng = make_engine()
    first = eng.add_request(p, SamplingParams(max_tokens=12, temperature=1.0, seed=5, n=3))
    eng.step()  # the prompt, then the fork: three choices, each with its first token
    choices = sorted((s for s in eng.seqs.values() if s.request_id == first.id), key=lambda s: s.index)
    assert [s.index for s in choices] == [0, 1, 2] and all(s.num_output == 1 for s in choices)
    shared = choices[0].block_table[:10]
    assert all(s.block_table[:10] == shared for s in choices)
    assert len({s.block_table[10] for s in choices}) == 3  # the partial block is each one's own
    assert eng.scheduler.blocks.num_free == 256 - 10 - 3
    while eng.has_work():
        eng.step()
    assert [s.output_ids for s in choices] == solo  # choice i samples as a lone request seeded 5 + i
    assert eng.scheduler.blocks.num_free == 256
    g = eng.add_request(p, SamplingParams(max_tokens=12, temperature=0, ignore_eos=True, n=2))
    eng.step()
    pair = [s for s in eng.seqs.values() if s.request_id == g.id]
    while eng.has_work():
        eng.step()
    assert [s.output_ids for s in pair] == [greedy_solo, greedy_solo]


def test_n_choices_wait_for_blocks_when_the_cache_is_short(make_engine):
    p = list(range(100, 141))  # 11 blocks of 4, the last partial
    expected = make_engine().generate([p], greedy(4))[0]
    eng = make_engine(num_blocks=13)  # 11 for the prompt, room to copy the partial block twice, not thrice
    first = eng.add_request(p, SamplingParams(max_tokens=4, temperature=0, ignore_eos=True, n=4))
    seqs = [first]
    eng.step()
    seqs += [s for s in eng.seqs.values() if s.request_id == first.id and s is not first]
    assert len(seqs) == 4 and eng.scheduler.waiting
    while eng.has_work():
        eng.step()
    assert [s.output_ids for s in seqs] == [expected] * 4
    assert eng.scheduler.blocks.num_free == 13
