"""Server-time synchronisation for signed requests.

``validate-timestamp`` must lie within ``recvwindow`` of the exchange's clock
(more than 1 s ahead or more than the window behind is refused, AUTH_105).
:class:`ServerClock` measures the offset to ``GET /v4/public/time`` (spot;
``serverTime`` in ms), keeping the sample with the shortest round trip and
taking the server's time at its midpoint, and then serves corrected
milliseconds to :class:`~feeds.signing.SpotAuth` / ``FuturesAuth`` as their
``clock``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from .signing import now_ms


class ServerClock:
    """Local milliseconds corrected by the measured offset to the exchange's clock."""

    def __init__(self, local_ms: Callable[[], int] = now_ms) -> None:
        self.local_ms = local_ms
        self.offset_ms = 0  #: server minus local, in ms
        self.round_trip_ms: float | None = None
        self.synced_at: float | None = None

    def __call__(self) -> int:
        """The corrected timestamp, in ms: what ``validate-timestamp`` should carry."""
        return self.local_ms() + self.offset_ms

    async def sync(self, fetch_server_ms: Callable[[], Awaitable[int]], samples: int = 3) -> int:
        """Measure the offset with ``samples`` requests; returns the offset in ms."""
        best: tuple[float, int] | None = None
        for _ in range(samples):
            before = self.local_ms()
            server = await fetch_server_ms()
            best = self._keep(best, before, server, self.local_ms())
        return self._settle(best)

    def sync_blocking(self, fetch_server_ms: Callable[[], int], samples: int = 3) -> int:
        """:meth:`sync` for blocking code: ``fetch_server_ms`` is a plain function."""
        best: tuple[float, int] | None = None
        for _ in range(samples):
            before = self.local_ms()
            server = fetch_server_ms()
            best = self._keep(best, before, server, self.local_ms())
        return self._settle(best)

    @staticmethod
    def _keep(
        best: tuple[float, int] | None, before: int, server: int, after: int
    ) -> tuple[float, int]:
        sample = (after - before, server - (before + after) // 2)
        return sample if best is None or sample[0] < best[0] else best

    def _settle(self, best: tuple[float, int] | None) -> int:
        if best is None:
            raise ValueError("no clock samples")
        self.round_trip_ms, self.offset_ms = best
        self.synced_at = time.monotonic()
        return self.offset_ms
