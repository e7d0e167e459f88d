"""One retry policy for every hand-written retry loop: capped exponential backoff with
full jitter, a limit on attempts and a deadline.

``RetryPolicy`` computes waits from a random draw it is given (pure); ``attempts`` runs
it, with the clock, the random source and ``sleep`` injectable.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["RetryPolicy", "attempts"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``max_attempts`` tries; before try ``n + 2`` a wait drawn uniformly from
    ``[0, min(cap_s, base_s * 2**n)]``; no wait that would end past ``deadline_s``
    seconds after the first try started (the loop gives up instead)."""

    max_attempts: int
    base_s: float
    cap_s: float
    deadline_s: float = math.inf

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not (0 <= self.base_s <= self.cap_s) or not self.deadline_s >= 0:
            raise ValueError("need 0 <= base_s <= cap_s and deadline_s >= 0")

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry number ``retry`` (0 for the first retry)."""
        if retry >= 64:  # 2**64 times any base is past any cap: skip the huge float
            return self.cap_s
        return min(self.cap_s, self.base_s * float(2**retry))

    def next_delay(self, tries: int, elapsed_s: float, draw: float) -> float | None:
        """The wait after ``tries`` failed tries that took ``elapsed_s`` seconds in all,
        for a uniform ``draw`` in ``[0, 1)``; ``None``: give up now."""
        if tries >= self.max_attempts:
            return None
        delay = min(1.0, max(0.0, draw)) * self.ceiling(tries - 1)
        if elapsed_s + delay > self.deadline_s:
            return None
        return delay


def attempts(
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> Iterator[int]:
    """Try numbers 1, 2, …: the caller ``break``s (or returns) on success; asking for
    the next one waits as ``policy`` says, and the loop ends when it says to give up.
    ``sleep`` is looked up at each wait (``time.sleep`` unless given)."""
    start = clock()
    tries = 0
    while True:
        tries += 1
        yield tries
        delay = policy.next_delay(tries, clock() - start, rand())
        if delay is None:
            return
        (sleep or time.sleep)(delay)
