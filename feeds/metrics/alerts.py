"""Per-book alerts for the live terminal view, over the same values as the alert rules.

:class:`BookAlerts` is kept by the view between refreshes (it remembers resync counts to
see a storm); :meth:`BookAlerts.check` gives the short alerts of one book, worst first:

- ``not live 42s``: not LIVE for longer than ``not_live_after`` seconds (closed books
  excepted: the view says why they closed);
- ``resync storm: 6 in 60s``: at least ``storm`` resyncs within ``storm_window`` seconds;
- ``integrity: 2 mismatches``: the top levels differed from a depth push.

The thresholds mirror ``alerts.yml`` (WexbookBookNotLive, WexbookResyncStorm,
WexbookIntegrityMismatch), scaled down to what a person watching a terminal wants.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from orderbook import SyncState

from .spec import RESYNC_CAUSES


def resyncs(book: Any) -> int:
    """Resyncs of ``book`` so far, every cause (as ``wexbook_book_resyncs_total``)."""
    return sum(count(book) for count in RESYNC_CAUSES.values())


class BookAlerts:
    """Alerts per book, from one refresh to the next (see the module docstring)."""

    def __init__(
        self, not_live_after: float = 10.0, storm: int = 5, storm_window: float = 60.0
    ) -> None:
        self.not_live_after = not_live_after
        self.storm = storm
        self.storm_window = storm_window
        self._history: dict[tuple[str, str], deque[tuple[float, int]]] = {}
        self._not_live_since: dict[tuple[str, str], float] = {}

    def check(self, book: Any, now: float) -> tuple[str, ...]:
        """The alerts of ``book`` at loop time ``now`` (empty when all is well)."""
        key = (book.venue.value, book.symbol)
        sync = book.sync
        found = []
        if sync.state is SyncState.LIVE or sync.state is SyncState.CLOSED:
            self._not_live_since.pop(key, None)
        else:
            # Out of LIVE since it was added (never live), or since first seen out of it.
            first = book.added if book.first_live is None else now
            since = self._not_live_since.setdefault(key, first)
            quiet = now - since
            if quiet > self.not_live_after:
                found.append(f"not live {quiet:.0f}s")
        total = resyncs(book)
        history = self._history.setdefault(key, deque())
        history.append((now, total))
        while history and now - history[0][0] > self.storm_window:
            history.popleft()
        recent = total - history[0][1] if history else 0
        if recent >= self.storm:
            found.append(f"resync storm: {recent} in {self.storm_window:.0f}s")
        mismatches = book.counts["integrity_mismatches"]
        if mismatches:
            found.append(f"integrity: {mismatches} mismatch{'es' if mismatches > 1 else ''}")
        return tuple(found)
