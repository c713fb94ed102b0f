"""Adaptive polling: `PollPolicy(adaptive=...)` and the per-job `Pacer` that estimates a job's end."""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from instabase_async import PollPolicy
from instabase_async._jobs import Pacer, estimate_end

Shape = Callable[[float], float | None]

PLAIN = PollPolicy(initial=1.0, maximum=10.0, multiplier=1.5, jitter=0.0)
ADAPTIVE = PLAIN
NOT_ADAPTIVE = PollPolicy(initial=1.0, maximum=10.0, multiplier=1.5, jitter=0.0, adaptive=False)


def drive(
    policy: PollPolicy, progress_at: Shape, end: float, first: float = 0.5, limit: int = 200
) -> tuple[list[float], float]:
    """Poll a simulated job (progress_at(t) while t < end) from t=first; the poll times and when
    the first poll at or after `end` happened."""
    pacer = Pacer(0.0)
    now = first
    times = [now]
    polls = 1
    while now < end and polls < limit:
        now += pacer.next_delay(policy, polls, now, progress_at(now))
        times.append(now)
        polls += 1
    return times, now


def gaps_of(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def linear(duration: float) -> Shape:
    return lambda t: round(min(t / duration, 0.999), 3)


def steps(duration: float, count: int = 4) -> Shape:
    return lambda t: math.floor(count * t / duration) / count


def late_jump(duration: float, at: float = 0.8) -> Shape:
    return lambda t: 0.0 if t < at * duration else round(t / duration, 3)


def test_policy_has_adaptive_on_by_default() -> None:
    """`PollPolicy()` is adaptive unless told otherwise; the flag must be a bool."""
    assert PollPolicy().adaptive is True
    assert PollPolicy(adaptive=False).adaptive is False
    assert PollPolicy.fixed(2).adaptive is True
    assert PollPolicy.fixed(2, adaptive=False).adaptive is False
    with pytest.raises(TypeError):
        PollPolicy(adaptive=1)  # type: ignore[arg-type]


def test_jitter_never_takes_a_delay_past_maximum() -> None:
    """The jittered plain delay is capped at `maximum` too (jitter only shortens it there)."""
    policy = PollPolicy(initial=8.0, maximum=10.0, multiplier=2.0, jitter=0.5)
    delays = [policy.delay(n) for n in range(1, 5) for _ in range(200)]
    assert max(delays) <= 10.0
    assert min(delays) >= 4.0


def test_estimate_end_of_linear_progress() -> None:
    """Two observations of steady progress give the time it reaches 1."""
    assert estimate_end(0.0, 0.0, 2.0, 0.25) == pytest.approx(8.0)
    assert estimate_end(1.0, 0.1, 3.0, 0.3) == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("t0", "p0", "now", "progress"),
    [
        (0.0, 0.0, 2.0, 0.0),  # no move
        (0.0, 0.3, 2.0, 0.3),  # stuck
        (0.0, 0.0, 2.0, 1.0),  # at the end already: nothing to estimate
        (0.0, 0.0, 0.05, 0.2),  # too close in time
        (0.0, 0.5, 2.0, 0.501),  # a move within rounding
        (0.0, 0.5, 2.0, 0.4),  # backwards
    ],
)
def test_estimate_end_refuses_what_cannot_tell(t0: float, p0: float, now: float, progress: float) -> None:
    """No estimate from observations that do not show a pace."""
    assert estimate_end(t0, p0, now, progress) is None


def test_linear_job_is_polled_just_after_its_end() -> None:
    """A job with steady progress is found final by the poll right after its end (2 polls)."""
    times, found = drive(ADAPTIVE, linear(6.0), 6.0)
    assert len(times) == 2
    assert 6.0 <= found <= 6.0 + 0.5


def test_long_linear_job_never_waits_more_than_maximum() -> None:
    """An estimate beyond `maximum` is capped: the poll goes at `maximum`, and the next is aimed."""
    times, found = drive(ADAPTIVE, linear(25.0), 25.0)
    gaps = gaps_of(times)
    assert max(gaps) <= 10.0 + 1e-9
    assert len(times) <= 4
    assert found - 25.0 <= 1.5


def test_adaptive_needs_fewer_polls_than_the_plain_schedule() -> None:
    """On linear progress the adaptive pacer polls less and finds the end sooner than the plain one."""
    adaptive, found_a = drive(ADAPTIVE, linear(11.0), 11.0)
    plain, found_p = drive(NOT_ADAPTIVE, linear(11.0), 11.0)
    assert len(adaptive) < len(plain)
    assert found_a - 11.0 < found_p - 11.0


def test_no_progress_follows_the_plain_schedule() -> None:
    """A job without progress is polled exactly on the plain schedule."""
    adaptive, _ = drive(ADAPTIVE, lambda t: None, 20.0)
    plain, _ = drive(NOT_ADAPTIVE, lambda t: None, 20.0)
    assert adaptive == plain


def test_stuck_progress_follows_the_plain_schedule() -> None:
    """Progress that stays at one value gives no estimate after the first poll: the plain
    schedule applies (the first may be aimed, measured from when waiting began)."""
    pacer = Pacer(0.0)
    now = 0.5
    delays = []
    for polls in range(1, 8):
        delay = pacer.next_delay(ADAPTIVE, polls, now, 0.4)
        delays.append(delay)
        now += delay
    assert delays[1:] == [PLAIN.delay(n) for n in range(2, 8)]


@pytest.mark.parametrize("shape", [steps, late_jump])
@pytest.mark.parametrize("duration", [2.0, 5.0, 8.5, 12.0, 30.0])
def test_steps_and_late_jumps_degrade_gracefully(shape: Callable[[float], Shape], duration: float) -> None:
    """Steps and late jumps cost at most a couple of polls more than the plain schedule and are
    found no later than one maximum interval after the end."""
    adaptive, found = drive(ADAPTIVE, shape(duration), duration)
    plain, _ = drive(NOT_ADAPTIVE, shape(duration), duration)
    assert len(adaptive) <= len(plain) + 2
    assert found - duration <= ADAPTIVE.maximum
    gaps = gaps_of(adaptive)
    assert max(gaps) <= ADAPTIVE.maximum + 1e-9


def test_a_job_already_running_when_waited_on_is_corrected() -> None:
    """A job that was at 90% when waiting began misleads the first estimate; the next polls fix it."""
    times, found = drive(ADAPTIVE, lambda t: round(min(0.9 + t / 100, 0.999), 3), 10.0)
    assert len(times) <= 6
    assert found - 10.0 <= 1.5


def test_misses_turn_the_estimates_off() -> None:
    """After two aimed polls found the job still running, the rest follows the plain schedule."""
    pacer = Pacer(0.0)
    now, polls = 0.5, 1
    # A job that races to 0.9 and then crawls: each estimate says "almost done".
    progress = [0.1, 0.5, 0.9, 0.9001, 0.9002, 0.9003]
    delays = []
    for value in progress:
        delay = pacer.next_delay(PLAIN, polls, now, value)
        delays.append(delay)
        now += delay
        polls += 1
    assert delays[-1] == PLAIN.delay(len(progress))
    assert pacer.observe(now, 0.95) is None


def test_progress_that_vanishes_and_returns_starts_over() -> None:
    """Progress missing from one answer unanchors the pacer; it measures again from the next one."""
    pacer = Pacer(0.0)
    assert pacer.observe(1.0, 0.1) is not None
    assert pacer.observe(2.0, None) is None
    assert pacer.observe(3.0, 0.3) is None  # anchored here
    assert pacer.observe(4.0, 0.4) == pytest.approx(10.0)


def test_progress_going_backwards_reanchors() -> None:
    """Progress that drops (a new phase) is measured afresh from where it dropped."""
    pacer = Pacer(0.0)
    pacer.observe(1.0, 0.5)
    assert pacer.observe(2.0, 0.1) is None
    assert pacer.observe(3.0, 0.2) == pytest.approx(11.0)


def test_retry_after_hint_and_timeout_clamp() -> None:
    """A Retry-After hint stretches the delay; what is left of the timeout caps it."""
    pacer = Pacer(0.0)
    assert pacer.next_delay(NOT_ADAPTIVE, 1, 0.5, None, hint=7.0) == 7.0
    assert pacer.next_delay(NOT_ADAPTIVE, 1, 0.5, None, hint=7.0, remaining=2.0) == 2.0
    assert pacer.next_delay(NOT_ADAPTIVE, 1, 0.5, None, remaining=-1.0) == 0.0


def test_instant_policy_stays_instant() -> None:
    """`initial=0` keeps tests instant whatever the progress says."""
    policy = PollPolicy(initial=0, maximum=0)
    pacer = Pacer(0.0)
    assert [pacer.next_delay(policy, n, n * 0.2, n / 10) for n in range(1, 6)] == [0.0] * 5


def test_pacer_is_small() -> None:
    """A pacer is a slotted object with no per-instance dict: a waiter holds one per job."""
    pacer = Pacer(0.0)
    assert not hasattr(pacer, "__dict__")
    assert sys.getsizeof(pacer) <= 120


policies = st.builds(
    PollPolicy,
    initial=st.floats(0, 20),
    maximum=st.floats(0, 60),
    multiplier=st.floats(1, 4),
    jitter=st.floats(0, 0.9),
    adaptive=st.booleans(),
)
observations = st.lists(
    st.tuples(
        st.floats(0, 30),  # time since the previous poll
        st.one_of(st.none(), st.floats(0, 1), st.sampled_from([0.0, 0.25, 0.5, 1.0])),
    ),
    min_size=1,
    max_size=40,
)


@given(policy=policies, seen=observations, origin=st.floats(-100, 100))
def test_delay_is_never_negative_nor_beyond_maximum(
    policy: PollPolicy, seen: list[tuple[float, float | None]], origin: float
) -> None:
    """Whatever the progress does, every delay is within [0, maximum]."""
    pacer = Pacer(origin)
    now = origin
    for polls, (step, progress) in enumerate(seen, start=1):
        now += step
        delay = pacer.next_delay(policy, polls, now, progress)
        assert 0.0 <= delay <= policy.maximum


@given(
    policy=policies,
    seen=observations,
    remaining=st.floats(-5, 100),
    hint=st.one_of(st.none(), st.floats(0, 1000)),
)
def test_delay_respects_the_timeout_and_the_hint(
    policy: PollPolicy, seen: list[tuple[float, float | None]], remaining: float, hint: float | None
) -> None:
    """A delay never outlasts what is left of the timeout, and is at least the hint otherwise."""
    pacer = Pacer(0.0)
    now = 0.0
    for polls, (step, progress) in enumerate(seen, start=1):
        now += step
        delay = pacer.next_delay(policy, polls, now, progress, hint=hint, remaining=remaining)
        assert 0.0 <= delay <= max(0.0, remaining)
        if hint is not None and hint <= remaining:
            assert delay >= hint


@given(duration=st.floats(1, 200), first=st.floats(0, 1))
def test_linear_progress_is_never_found_late(duration: float, first: float) -> None:
    """With steady progress (rounded as servers do), the end is seen within 10% + 1 s of it, and
    no gap between polls exceeds `maximum`."""
    times, found = drive(ADAPTIVE, linear(duration), duration, first=first)
    assert found - duration <= 0.1 * min(duration, ADAPTIVE.maximum) + 1.0
    gaps = gaps_of(times)
    assert max(gaps, default=0.0) <= ADAPTIVE.maximum + 1e-9  # float sums of delays
