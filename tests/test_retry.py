"""The one retry policy: its waits, its attempt limit and its deadline hold for any
policy, any random draw and any time the tries themselves take."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpwatch.core.retry import RetryPolicy, attempts

_seconds = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)


@st.composite
def policies(draw: st.DrawFn) -> RetryPolicy:
    base = draw(st.floats(min_value=0.001, max_value=2.0))
    cap = draw(st.floats(min_value=base, max_value=30.0))
    deadline = draw(st.one_of(st.just(float("inf")), _seconds))
    return RetryPolicy(draw(st.integers(1, 20)), base, cap, deadline)


class FakeTime:
    """A clock that moves only when the code sleeps or a try takes time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _run(policy: RetryPolicy, seed: int, costs: list[float]) -> tuple[list[float], FakeTime]:
    """Every try fails, each taking the next of ``costs`` seconds; the start times of
    the tries (relative to the first) and the fake time."""
    fake = FakeTime()
    starts: list[float] = []
    rand = random.Random(seed).random
    for n in attempts(policy, sleep=fake.sleep, clock=fake.clock, rand=rand):
        starts.append(fake.now - 1000.0)
        fake.now += costs[(n - 1) % len(costs)]
    return starts, fake


@given(policies(), st.integers(1, 70), _seconds, st.floats(0.0, 1.0, exclude_max=True))
def test_every_wait_is_within_zero_and_the_capped_exponential(
    policy: RetryPolicy, tries: int, elapsed: float, draw: float
) -> None:
    delay = policy.next_delay(tries, elapsed, draw)
    if delay is not None:
        assert 0.0 <= delay <= min(policy.cap_s, policy.base_s * 2 ** (tries - 1))


@given(policies(), st.integers(0, 2**32), st.lists(_seconds, min_size=1, max_size=5))
def test_tries_never_pass_the_limit_nor_start_after_the_deadline(
    policy: RetryPolicy, seed: int, costs: list[float]
) -> None:
    starts, fake = _run(policy, seed, costs)
    assert 1 <= len(starts) <= policy.max_attempts
    assert all(start <= policy.deadline_s for start in starts)
    # Every wait ended by the deadline, and one wait per retry, each within its ceiling.
    assert len(fake.sleeps) == len(starts) - 1
    for n, wait in enumerate(fake.sleeps):
        assert 0.0 <= wait <= policy.ceiling(n)


@given(policies(), st.integers(0, 2**32))
def test_without_a_deadline_every_allowed_try_is_made(policy: RetryPolicy, seed: int) -> None:
    unbounded = RetryPolicy(policy.max_attempts, policy.base_s, policy.cap_s)
    starts, _ = _run(unbounded, seed, [0.5])
    assert len(starts) == policy.max_attempts


@given(st.integers(0, 2**32), st.integers(0, 2**32))
def test_full_jitter_spreads_the_waits_of_different_callers(seed_a: int, seed_b: int) -> None:
    # 64 dispatcher threads throttled at once must not retry in lockstep.
    policy = RetryPolicy(max_attempts=6, base_s=0.1, cap_s=2.0)
    waits_a = _run(policy, seed_a, [0.0])[1].sleeps
    waits_b = _run(policy, seed_b, [0.0])[1].sleeps
    assert (waits_a == waits_b) == (seed_a == seed_b)


def test_sixty_four_callers_draw_sixty_four_different_first_waits() -> None:
    policy = RetryPolicy(max_attempts=2, base_s=0.1, cap_s=2.0)
    firsts = {_run(policy, seed, [0.0])[1].sleeps[0] for seed in range(64)}
    assert len(firsts) == 64
    assert all(0.0 <= wait <= 0.1 for wait in firsts)


def test_a_success_ends_the_loop_without_waiting() -> None:
    fake = FakeTime()
    policy = RetryPolicy(max_attempts=5, base_s=0.1, cap_s=1.0)
    for n in attempts(policy, sleep=fake.sleep, clock=fake.clock):
        if n == 3:
            break
    assert len(fake.sleeps) == 2


@pytest.mark.parametrize(
    ("max_attempts", "base", "cap", "deadline"),
    [(0, 0.1, 1.0, 1.0), (3, 2.0, 1.0, 1.0), (3, -1.0, 1.0, 1.0), (3, 0.1, 1.0, -1.0)],
)
def test_a_policy_that_cannot_work_is_refused(
    max_attempts: int, base: float, cap: float, deadline: float
) -> None:
    with pytest.raises(ValueError, match=r"must be|need"):
        RetryPolicy(max_attempts, base, cap, deadline)
