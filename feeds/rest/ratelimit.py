"""Client-side rate limits from the documented ``N/s/ip`` and ``N/s/apikey`` rules.

The exchange counts requests per second per client address or per API key, and
answers 429 beyond (and may lock the key for minutes). :class:`WindowLimiter` is a
sans-I/O sliding window: at most ``count`` requests in any ``period`` seconds, the
same rule the server applies, so a burst can never exceed it (a token bucket
with a burst allowance can send twice its rate in one second).
:class:`RateLimiter` keeps one window per bucket key; clients sharing an address
or a key may share one limiter.

**Headroom.** By default a limiter uses 80% of each documented limit (``margin=0.8``,
rounded up, never below 1: 200/s becomes 160, 10/s becomes 8, 1/s stays 1). The
server's window is not ours: its clock, its window boundaries and the moment it counts a
request differ from the client's, and a client running at exactly the limit turns every
difference into a 429. ``margin=1.0`` restores the documented figures.

**When a slot is stamped.** The server counts a request when it arrives, somewhere
between the moment we send it and the moment its answer is back; a stamp taken before
sending is too early by up to a whole round trip, and eight threads sharing one limiter
at the limit drew 429s that way. With ``hold=True`` (what the clients use),
:meth:`RateLimiter.reserve` marks the slot *in flight*, counted against the window for
as long as the request is out, and :meth:`RateLimiter.release` stamps it with the time
the answer came back, which is never earlier than the server's arrival time. Then no
window of the server's can hold more than ``count`` arrivals: of any set of requests
that arrived within one period, the last one sent saw every other one either still in
flight or stamped after its arrival, so inside its own window. A slot whose request
failed is stamped all the same (it may have reached the server).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Hashable

#: Share of each documented limit a :class:`RateLimiter` uses by default.
DEFAULT_MARGIN = 0.8


class WindowLimiter:
    """At most ``count`` requests in any ``period`` seconds (time is passed in).

    A request counts from :meth:`take` (stamped at once) or from :meth:`begin` to
    :meth:`end` (in flight, then stamped when its answer is back).
    """

    def __init__(self, count: int, period: float = 1.0) -> None:
        if count < 1 or period <= 0:
            raise ValueError("count must be >= 1 and period > 0")
        self.count = count
        self.period = period
        self.sent: deque[float] = deque()
        self.in_flight = 0

    def wait_time(self, now: float) -> float:
        """Seconds from ``now`` until one more request fits the window (when every slot
        is held by a request still in flight: a short poll interval)."""
        sent = self.sent
        while sent and now - sent[0] >= self.period:
            sent.popleft()
        if len(sent) + self.in_flight < self.count:
            return 0.0
        if sent:
            # Never 0 for a full window: ``now - sent[0] < period`` above does not imply
            # ``sent[0] + period - now > 0`` in floating point, and 0 means "send now".
            return max(sent[0] + self.period - now, 1e-6)
        return min(0.05, self.period / 20)

    def _stamp(self, now: float) -> None:
        # Threads read the clock before taking the lock: keep the stamps in order.
        self.sent.append(max(now, self.sent[-1]) if self.sent else now)

    def take(self, now: float) -> None:
        """Record a request sent at ``now`` (call when :meth:`wait_time` is 0)."""
        self._stamp(now)

    def begin(self) -> None:
        """Hold a slot for a request going out now (call when :meth:`wait_time` is 0)."""
        self.in_flight += 1

    def end(self, now: float) -> None:
        """The request held by :meth:`begin` is over: stamp its slot at ``now``."""
        self.in_flight = max(0, self.in_flight - 1)
        self._stamp(now)


class RateLimiter:
    """One :class:`WindowLimiter` per bucket; thread-safe; ``stats`` counts waits.

    ``margin`` is the share of each documented limit to use (default 0.8, see the
    module docstring; 1.0: the limit itself).
    """

    def __init__(self, margin: float = DEFAULT_MARGIN) -> None:
        if not 0 < margin <= 1:
            raise ValueError("margin must be in (0, 1]")
        self.margin = margin
        self._windows: dict[Hashable, WindowLimiter] = {}
        self._lock = threading.Lock()
        self.stats = {"acquired": 0, "waited": 0}

    def allowed(self, count: int) -> int:
        """The requests per window this limiter allows for a documented ``count``."""
        return max(1, math.ceil(count * self.margin - 1e-9))

    def reserve(
        self, buckets: list[tuple[Hashable, int, float]], now: float, *, hold: bool = False
    ) -> float:
        """Take a slot in every bucket ``(key, count, period)`` if all have one; else return
        the seconds to wait before asking again (nothing is taken then).

        ``hold=False`` stamps the slots at ``now``; ``hold=True`` holds them in flight
        until :meth:`release` (see the module docstring); every successful ``hold``
        reservation must be released, whatever happens to the request.
        """
        with self._lock:
            wait = 0.0
            windows = []
            for key, count, period in buckets:
                window = self._windows.get(key)
                if window is None:
                    window = WindowLimiter(self.allowed(count), period)
                    self._windows[key] = window
                windows.append(window)
                wait = max(wait, window.wait_time(now))
            if wait > 0:
                self.stats["waited"] += 1
                return wait
            for window in windows:
                if hold:
                    window.begin()
                else:
                    window.take(now)
            self.stats["acquired"] += 1
            return 0.0

    def release(self, buckets: list[tuple[Hashable, int, float]], now: float) -> None:
        """End the requests held by ``reserve(buckets, ..., hold=True)``: stamp at ``now``."""
        with self._lock:
            for key, _count, _period in buckets:
                window = self._windows.get(key)
                if window is not None:
                    window.end(now)
