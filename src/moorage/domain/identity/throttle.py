"""Slowing down repeated failed sign-ins, per client address and per user name."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

WINDOW_SECONDS = 300.0
FREE_FAILURES = 5  # failures in the window before sign-ins from that source slow down
MAX_DELAY_SECONDS = 8.0


class LoginThrottle:
    """Counts failures in a sliding window; `delay` grows exponentially past the free ones.

    Kept in memory per process: on several nodes each node throttles what it sees, which
    bounds an attacker's rate by the number of nodes.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000):
        self._clock = clock
        self._failures: OrderedDict[str, list[float]] = OrderedDict()
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, ()) if now - t < WINDOW_SECONDS]
        if times:
            self._failures[key] = times
            self._failures.move_to_end(key)
        else:
            self._failures.pop(key, None)
        return times

    def delay(self, *keys: str) -> float:
        """Seconds to wait before checking credentials from these sources."""
        now = self._clock()
        with self._lock:
            worst = max((len(self._recent(k, now)) for k in keys), default=0)
        if worst < FREE_FAILURES:
            return 0.0
        return float(min(MAX_DELAY_SECONDS, 0.25 * 2 ** (worst - FREE_FAILURES)))

    def failed(self, *keys: str) -> int:
        """Record a failure; returns the largest failure count among the keys."""
        now = self._clock()
        with self._lock:
            counts = []
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times
                counts.append(len(times))
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)
        return max(counts, default=0)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
