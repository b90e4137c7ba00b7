"""Per-symbol synchronisation: buffer, snapshot, sequence, apply, and the state machine.

:class:`BookSync` is sans-I/O: its owner feeds it parsed events
(:meth:`BookSync.on_update`) and snapshots (:meth:`BookSync.on_snapshot`), and
reads :attr:`BookSync.snapshot_wanted` to learn when to fetch a snapshot.

States::

    SYNCING --snapshot ok--> LIVE
    LIVE --gap/crossed/bad event--> RESYNCING --snapshot ok--> LIVE
                              |  ^
                    mark_stale|  |next event chains
                              v  |
                             STALE --event breaks the chain--> RESYNCING
    any state --close()--> CLOSED

While not LIVE, events are buffered (at most ``max_buffer``; an overflow
drops the oldest, is counted, and asks for a fresh snapshot).

Only a LIVE book is served: reads of any other state raise a subclass of
:class:`~orderbook.errors.BookNotLive`, unless the caller asks explicitly for a
possibly stale view, which then carries the real state.

Every decision is counted in :attr:`BookSync.counts` and reported to one
optional observer, ``observer(decision, sync, payload)``, where ``payload``
is the event, the snapshot, or the exception behind the decision.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import StrEnum

from .book import OrderBook
from .errors import (
    BookClosed,
    BookNotLive,
    BookResyncing,
    BookStale,
    BookSyncing,
)
from .events import DepthSnapshot, DepthUpdate
from .prices import PriceCodec
from .sequencing import Sequencer
from .views import BookView


class SyncState(StrEnum):
    """Where a book stands; only ``LIVE`` is served as in-sync."""

    SYNCING = "syncing"  #: waiting for the first good snapshot (events buffered)
    LIVE = "live"  #: in sequence; reads are served
    RESYNCING = "resyncing"  #: sequence lost; events buffered, a new snapshot wanted
    STALE = "stale"  #: the owner saw no data for too long; not served until an event chains
    CLOSED = "closed"  #: finished; nothing is applied any more


class Decision(StrEnum):
    """What :class:`BookSync` did with an event, a snapshot or a request."""

    APPLIED = "applied"  #: event applied to the live book
    BUFFERED = "buffered"  #: event kept until a snapshot arrives
    DROPPED_OLD = "dropped-old"  #: event not newer than the snapshot (rule 4)
    DUPLICATE = "duplicate"  #: event not newer than the last applied one
    GAP = "gap"  #: continuity rule broken: the book left LIVE
    SNAPSHOT_ACCEPTED = "snapshot-accepted"  #: new book swapped in, LIVE
    SNAPSHOT_TOO_OLD = "snapshot-too-old"  #: snapshot older than the buffered events
    SNAPSHOT_IGNORED = "snapshot-ignored"  #: snapshot arrived while LIVE or CLOSED
    OVERFLOW = "overflow"  #: buffer full: oldest event dropped, a fresh snapshot wanted
    CROSSED = "crossed"  #: best bid >= best ask: the book left LIVE
    MALFORMED = "malformed"  #: event or snapshot could not be applied: the book left LIVE
    RESYNC_REQUESTED = "resync-requested"  #: the owner asked for a resync
    MARKED_STALE = "marked-stale"  #: the owner marked the book stale
    CLOSED = "closed"  #: the book was closed
    IGNORED = "ignored"  #: event arrived after close


#: ``observer(decision, sync, payload)``: payload is the event, snapshot or exception.
Observer = Callable[[Decision, "BookSync", object], None]

_NOT_LIVE_ERRORS: dict[SyncState, type[BookNotLive]] = {
    SyncState.SYNCING: BookSyncing,
    SyncState.RESYNCING: BookResyncing,
    SyncState.STALE: BookStale,
    SyncState.CLOSED: BookClosed,
}

# Module-level aliases keep attribute lookups off the hot path.
_LIVE = SyncState.LIVE
_STALE = SyncState.STALE
_CLOSED = SyncState.CLOSED
_APPLIED = Decision.APPLIED


class BookSync:
    """Keeps one symbol's book in sequence, following its venue's :class:`Sequencer`.

    ``max_buffer`` bounds the events kept while waiting for a snapshot; when
    it is reached the oldest is dropped, counted as :attr:`Decision.OVERFLOW`,
    and a fresh snapshot is wanted (the one in flight may predate the buffer).
    ``clock`` gives the local time stamped on applied events.
    """

    def __init__(
        self,
        symbol: str,
        sequencer: Sequencer,
        *,
        max_buffer: int = 10_000,
        observer: Observer | None = None,
        clock: Callable[[], float] = time.time,
        codec: PriceCodec | None = None,
    ) -> None:
        if max_buffer < 1:
            raise ValueError("max_buffer must be at least 1")
        self.symbol = symbol
        self.sequencer = sequencer
        self.venue = sequencer.venue
        self.max_buffer = max_buffer
        self.observer = observer
        self.clock = clock
        #: Price-spelling cache shared by this symbol's books (default: one for all books).
        self.codec = codec
        self.state = SyncState.SYNCING
        #: Why the book is not LIVE (``None`` when LIVE).
        self.reason: str | None = "waiting for first snapshot"
        #: The book being maintained (``None`` until the first snapshot is accepted).
        self.book: OrderBook | None = None
        #: Number of snapshots accepted so far.
        self.generation = 0
        #: Local time (``clock()``) of the last applied event or accepted snapshot.
        self.last_event_time: float | None = None
        #: Levels per side the last accepted snapshot asked for (None: unknown).
        self.snapshot_depth: int | None = None
        #: True while the owner should fetch a snapshot.
        self.snapshot_wanted = True
        self.counts: dict[Decision, int] = dict.fromkeys(Decision, 0)
        self.buffer: deque[DepthUpdate] = deque()
        self._last_id: int | None = None
        self._first_pending = False

    # -- inputs ----------------------------------------------------------------

    def on_update(self, event: DepthUpdate) -> Decision:
        """Feed one ``depth_update`` event; returns what was done with it."""
        state = self.state
        if state is _LIVE or state is _STALE:
            last = self._last_id
            if event.last_id <= last:  # type: ignore[operator]
                return self._report(
                    Decision.DROPPED_OLD if self._first_pending else Decision.DUPLICATE, event
                )
            if self._first_pending:
                ok = self.sequencer.follows_snapshot(event, last)  # type: ignore[arg-type]
            else:
                ok = self.sequencer.follows_event(event, last)  # type: ignore[arg-type]
            if not ok:
                self.buffer.append(event)
                return self._leave_live(Decision.GAP, f"sequence gap after id {last}", event)
            book = self.book
            try:
                book.apply(event.bids, event.asks)  # type: ignore[union-attr]
            except Exception as exc:
                return self._leave_live(Decision.MALFORMED, f"bad event: {exc}", exc)
            self._last_id = event.last_id
            self._first_pending = False
            self.last_event_time = self.clock()
            if book.is_crossed():  # type: ignore[union-attr]
                return self._leave_live(Decision.CROSSED, "book crossed", event)
            if state is _STALE:
                self._set_live()
            self.counts[_APPLIED] += 1
            observer = self.observer
            if observer is not None:
                observer(_APPLIED, self, event)
            return _APPLIED
        if state is _CLOSED:
            return self._report(Decision.IGNORED, event)
        buffer = self.buffer
        if len(buffer) >= self.max_buffer:
            dropped = buffer.popleft()
            self.snapshot_wanted = True
            self._report(Decision.OVERFLOW, dropped)
        buffer.append(event)
        return self._report(Decision.BUFFERED, event)

    def on_snapshot(self, snapshot: DepthSnapshot) -> Decision:
        """Feed a REST snapshot; returns ``SNAPSHOT_ACCEPTED`` if the book went LIVE."""
        if self.state is _LIVE or self.state is _CLOSED:
            return self._report(Decision.SNAPSHOT_IGNORED, snapshot)
        snapshot_id = snapshot.last_id
        buffer = self.buffer
        seq = self.sequencer
        while buffer and buffer[0].last_id <= snapshot_id:  # rule 4
            self._report(Decision.DROPPED_OLD, buffer.popleft())
        if buffer and not seq.follows_snapshot(buffer[0], snapshot_id):  # rule 5
            self.snapshot_wanted = True
            self.reason = (
                f"snapshot {snapshot_id} older than buffered events "
                f"(first buffered event starts after it)"
            )
            return self._report(Decision.SNAPSHOT_TOO_OLD, snapshot)
        try:
            book = OrderBook.from_levels(snapshot.bids, snapshot.asks, self.codec)
        except Exception as exc:
            self.snapshot_wanted = True
            self.reason = f"bad snapshot: {exc}"
            return self._report(Decision.MALFORMED, exc)
        last = snapshot_id
        first = True
        while buffer:  # rule 6 over the buffered events
            event = buffer[0]
            if event.last_id <= last:
                self._report(Decision.DUPLICATE, buffer.popleft())
                continue
            if not first and not seq.follows_event(event, last):
                self.snapshot_wanted = True
                self.reason = f"sequence gap in buffered events after id {last}"
                return self._report(Decision.GAP, event)
            buffer.popleft()
            try:
                book.apply(event.bids, event.asks)
            except Exception as exc:
                self.snapshot_wanted = True
                self.reason = f"bad event: {exc}"
                return self._report(Decision.MALFORMED, exc)
            last = event.last_id
            first = False
            self.counts[_APPLIED] += 1
            if self.observer is not None:
                self.observer(_APPLIED, self, event)
        if book.is_crossed():
            self.snapshot_wanted = True
            self.reason = "book crossed after snapshot"
            return self._report(Decision.CROSSED, snapshot)
        self.book = book
        self.generation += 1
        self.snapshot_depth = snapshot.depth
        self._last_id = last
        self._first_pending = first
        self.last_event_time = self.clock()
        self._set_live()
        return self._report(Decision.SNAPSHOT_ACCEPTED, snapshot)

    def request_resync(self, reason: str = "resync requested") -> None:
        """Take the book out of LIVE and ask for a fresh snapshot.

        Used e.g. after an integrity mismatch.
        """
        if self.state is _CLOSED:
            return
        self.state = SyncState.RESYNCING
        self.reason = reason
        self.snapshot_wanted = True
        self._report(Decision.RESYNC_REQUESTED, reason)

    def mark_stale(self, reason: str = "no data for too long") -> None:
        """Mark a LIVE book stale: not served until an event chains on, or a resync."""
        if self.state is _LIVE:
            self.state = _STALE
            self.reason = reason
            self._report(Decision.MARKED_STALE, reason)

    def close(self, reason: str = "closed") -> None:
        """Stop maintaining the book; later events are ignored."""
        if self.state is _CLOSED:
            return
        self.state = _CLOSED
        self.reason = reason
        self.snapshot_wanted = False
        self.buffer.clear()
        self._report(Decision.CLOSED, reason)

    # -- reads -------------------------------------------------------------------

    @property
    def update_id(self) -> int | None:
        """Id of the last applied event (or of the snapshot, before any event)."""
        return self._last_id

    @property
    def is_live(self) -> bool:
        """True when the book may be served as in-sync."""
        return self.state is _LIVE

    def live_book(self) -> OrderBook:
        """The live :class:`OrderBook`, for fast reads in the owner's thread.

        Raises a :class:`~orderbook.errors.BookNotLive` subclass unless LIVE.
        """
        if self.state is not _LIVE:
            raise self.not_live_error()
        return self.book  # type: ignore[return-value]

    def view(self, levels: int | None = None, *, allow_stale: bool = False) -> BookView:
        """An immutable copy of the top ``levels`` per side (all if ``None``) with metadata.

        Raises a :class:`~orderbook.errors.BookNotLive` subclass unless the book is
        LIVE or ``allow_stale`` is true; a stale view carries the real state.
        """
        if self.state is not _LIVE and not allow_stale:
            raise self.not_live_error()
        book = self.book
        bids, asks = book.copy_levels(levels) if book is not None else ((), ())
        return BookView(
            symbol=self.symbol,
            venue=self.venue.value,
            state=self.state.value,
            update_id=self._last_id,
            generation=self.generation,
            last_event_time=self.last_event_time,
            bids=bids,
            asks=asks,
            levels=levels,
            reason=self.reason,
        )

    def not_live_error(self) -> BookNotLive:
        """The specific exception describing why the book is not LIVE."""
        cls = _NOT_LIVE_ERRORS.get(self.state, BookNotLive)
        return cls(self.symbol, self.venue.value, self.state, self.reason)

    def __repr__(self) -> str:
        return (
            f"BookSync({self.venue.value} {self.symbol}, state={self.state.value}, "
            f"update_id={self._last_id}, generation={self.generation}, "
            f"buffered={len(self.buffer)})"
        )

    # -- internals -----------------------------------------------------------------

    def _report(self, decision: Decision, payload: object) -> Decision:
        self.counts[decision] += 1
        if self.observer is not None:
            self.observer(decision, self, payload)
        return decision

    def _set_live(self) -> None:
        self.state = _LIVE
        self.reason = None
        self.snapshot_wanted = False

    def _leave_live(self, decision: Decision, reason: str, payload: object) -> Decision:
        self.state = SyncState.RESYNCING
        self.reason = reason
        self.snapshot_wanted = True
        return self._report(decision, payload)
