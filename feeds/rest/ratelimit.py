"""Client-side rate limits from the documented ``N/s/ip`` and ``N/s/apikey`` rules.

The exchange counts requests per second per client address or per API key, and
answers 429 beyond (and may lock the key for minutes). :class:`WindowLimiter` is a
sans-I/O sliding window: at most ``count`` sends in any ``period`` seconds, the
same rule the server applies, so a burst can never exceed it (a token bucket
with a burst allowance can send twice its rate in one second).
:class:`RateLimiter` keeps one window per bucket key; clients sharing an address
or a key may share one limiter.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable


class WindowLimiter:
    """At most ``count`` sends in any ``period`` seconds (time is passed in)."""

    def __init__(self, count: int, period: float = 1.0) -> None:
        if count < 1 or period <= 0:
            raise ValueError("count must be >= 1 and period > 0")
        self.count = count
        self.period = period
        self.sent: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        """Seconds from ``now`` until one more send fits the window."""
        sent = self.sent
        while sent and now - sent[0] >= self.period:
            sent.popleft()
        if len(sent) < self.count:
            return 0.0
        return sent[0] + self.period - now

    def take(self, now: float) -> None:
        """Record a send at ``now`` (call when :meth:`wait_time` is 0)."""
        self.sent.append(now)


class RateLimiter:
    """One :class:`WindowLimiter` per bucket; thread-safe; ``stats`` counts waits."""

    def __init__(self, margin: float = 1.0) -> None:
        #: share of each documented limit to use (1.0: the limit itself)
        self.margin = margin
        self._windows: dict[Hashable, WindowLimiter] = {}
        self._lock = threading.Lock()
        self.stats = {"acquired": 0, "waited": 0}

    def reserve(self, buckets: list[tuple[Hashable, int, float]], now: float) -> float:
        """Take a slot in every bucket ``(key, count, period)`` if all have one; else return
        the seconds to wait before asking again (nothing is taken then)."""
        with self._lock:
            wait = 0.0
            windows = []
            for key, count, period in buckets:
                window = self._windows.get(key)
                if window is None:
                    window = WindowLimiter(max(1, int(count * self.margin)), period)
                    self._windows[key] = window
                windows.append(window)
                wait = max(wait, window.wait_time(now))
            if wait > 0:
                self.stats["waited"] += 1
                return wait
            for window in windows:
                window.take(now)
            self.stats["acquired"] += 1
            return 0.0
