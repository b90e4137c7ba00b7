"""The gap audit: every span of a replay when a book was not LIVE or a connection was not
serving, as :class:`~feeds.capture.reports.GapRow` rows.

- a book: from the decision that took it out of LIVE (one of :data:`LEAVES`: a gap, an
  overflow, a crossed book, feed down...) to the snapshot accepted or the event applied
  that brought it back; a book not LIVE in the record it was restored from is a
  ``not-live-at-start`` row;
- a connection: from its ``disconnected`` record to its next ``connected`` one (the
  reason: its error or close code), and every silence (no frame) longer than the
  replay's ``audit_silence``;
- anything still open at the end of a run: a row without an end.

The replay finds the moments (it watches every book's decisions and reads every record);
:class:`GapAudit` writes the rows, at the :class:`~feeds.capture.reports.Position`'s time.
"""

from __future__ import annotations

from typing import Any

from orderbook import BookSync, Decision

from .reports import GapRow, Position
from .restore import ReplayBook

#: Decisions that take a LIVE book out of LIVE (for the gap audit).
LEAVES = frozenset(
    {
        Decision.GAP,
        Decision.OVERFLOW,
        Decision.CROSSED,
        Decision.MALFORMED,
        Decision.NO_PROGRESS,
        Decision.FEED_DOWN,
        Decision.RESYNC_REQUESTED,
        Decision.MARKED_STALE,
        Decision.CLOSED,
        Decision.ID_RESET,
    }
)


class GapAudit:
    """Writes a replay's gap rows into ``rows`` (its report's ``gaps``), timed by
    ``position.now`` (the receive time of the record being replayed)."""

    def __init__(self, rows: list[GapRow], position: Position) -> None:
        self.rows = rows
        self.position = position
        #: Connections down now: index -> (since, venue, the ``disconnected`` record).
        self.down_conns: dict[int, tuple[int, str, dict[str, Any]]] = {}

    def new_run(self) -> None:
        """A run starts: no connection of it is down yet."""
        self.down_conns = {}

    # -- books ---------------------------------------------------------------------------

    def left(self, book: ReplayBook, decision: Decision, sync: BookSync, payload: object) -> None:
        """``decision`` (one of :data:`LEAVES`) took the book out of LIVE: a span opens."""
        book.down_since = self.position.now
        book.down_kind = decision.value
        book.down_reason = payload if isinstance(payload, str) else sync.reason

    def not_live_at_start(self, book: ReplayBook) -> None:
        """The book was restored in a state other than LIVE or SYNCING: a span opens."""
        book.down_since = self.position.now
        book.down_kind = "not-live-at-start"
        book.down_reason = book.sync.reason

    def back(self, book: ReplayBook) -> None:
        """The book is LIVE again (a snapshot accepted, an event applied): its row."""
        self.rows.append(
            GapRow(
                book.down_since,
                self.position.now,
                book.key[0],
                book.key[1],
                book.down_kind or "",
                book.down_reason,
            )
        )
        book.down_since = None

    def still_down(self, book: ReplayBook) -> None:
        """The run ended with the book not LIVE: its row without an end."""
        if book.down_since is None:
            return
        self.rows.append(
            GapRow(
                book.down_since,
                None,
                book.key[0],
                book.key[1],
                book.down_kind or "",
                book.down_reason,
            )
        )
        book.down_since = None

    # -- connections -----------------------------------------------------------------

    def silence(self, since: int, until: int, venue: str) -> None:
        """No frame on a connection of ``venue`` from ``since`` to ``until`` (too long)."""
        self.rows.append(GapRow(since, until, venue, None, "silence", None))

    def conn_down(self, index: int, venue: str, record: dict[str, Any]) -> None:
        """Connection ``index`` reported ``disconnected`` (``record``)."""
        self.down_conns[index] = (self.position.now, venue, record)

    def conn_up(self, index: int) -> None:
        """Connection ``index`` reported ``connected``: the row of its last disconnection."""
        down = self.down_conns.pop(index, None)
        if down is not None:
            since, venue, info = down
            reason = info.get("error") or (
                f"close code {info.get('close_code')}" if info.get("close_code") else None
            )
            self.rows.append(GapRow(since, self.position.now, venue, None, "disconnected", reason))
