"""The per-team rate limit is a sliding window over the last 60 s, and the `retry-after` it
answers is honest: a client that waits that long gets through, one that waits less does not."""
from __future__ import annotations

import itertools

from proxy.limits import _Window


def later(w: _Window, elapsed: float, wait: float) -> tuple[_Window, float]:
    """The same counts seen `wait` seconds on (rolling into the next minute if it ends)."""
    t = elapsed + wait
    return (w, t) if t < 60 else (_Window(w.current if t < 120 else 0, 0), t - 60)


def test_a_minutes_boundary_does_not_double_the_limit():
    # three requests just before the minute ends, a fourth just after it: still over 3 a minute
    assert _Window(previous=3, current=0).full(elapsed=1.0, limit=3)
    assert not _Window(previous=3, current=0).full(elapsed=21.0, limit=3)  # a third has faded out


def test_retry_after_is_the_first_second_with_room():
    for previous, current, limit, elapsed in itertools.product(range(0, 12, 3), range(0, 12), (1, 3, 10),
                                                               (0.0, 0.4, 17.5, 59.9)):
        w = _Window(previous, current)
        if not w.full(elapsed, limit):
            continue
        wait = int(w.retry_after(elapsed, limit))
        assert wait >= 1
        after = later(w, elapsed, wait)
        assert not after[0].full(after[1], limit), (w, elapsed, wait)
        if wait > 1:
            before = later(w, elapsed, wait - 1)
            assert before[0].full(before[1], limit), (w, elapsed, wait)
