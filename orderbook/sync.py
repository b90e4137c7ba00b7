"""Per-symbol synchronisation: buffer, snapshot, sequence, apply, and the state machine.

:class:`BookSync` is sans-I/O: its owner feeds it parsed events
(:meth:`BookSync.on_update`) and snapshots (:meth:`BookSync.on_snapshot`), and
reads :attr:`BookSync.snapshot_wanted` to learn when to fetch a snapshot.

States::

    SYNCING --snapshot ok--> LIVE
    LIVE --gap/crossed/bad event/no progress--> RESYNCING --snapshot ok--> LIVE
                              |  ^
                    mark_stale|  |next event chains
                              v  |
                             STALE --event breaks the chain--> RESYNCING
    any state but CLOSED --feed_down()--> DISCONNECTED --request_resync()--> RESYNCING
    any state --close()--> CLOSED

While not LIVE, events are buffered (at most ``max_buffer``; an overflow
drops the oldest, is counted, and asks for a fresh snapshot).

Fail-closed rules beyond the sequence checks:

- The owner calls :meth:`BookSync.feed_down` when the stream that feeds the
  book is lost (a dropped websocket): nothing can keep the book current, so
  it leaves LIVE at once, its buffer is discarded, and no snapshot is taken
  until the owner calls :meth:`BookSync.request_resync` once the feed is back.
- Events and snapshots that name another symbol are refused
  (:attr:`Decision.WRONG_SYMBOL`) and never touch the book.
- A LIVE book that applies nothing for ``max_unapplied`` events in a row,
  because every one is older than the book (a snapshot far ahead of its
  stream, or a stream whose ids were reset), is not live: it leaves LIVE
  (:attr:`Decision.NO_PROGRESS`) and resyncs.
- When a snapshot is too old for the buffer's first event and the buffer's
  ids went backwards (an exchange restart that reset its ids), the events
  before the latest backward jump belong to the old epoch: they are
  discarded (:attr:`Decision.ID_RESET`) and the snapshot is tried against
  the rest.

A book never steps back in time: a snapshot whose book (after the buffered
events) would stand behind the highest update id the book has already served,
or seen in any event, is refused as :attr:`Decision.SNAPSHOT_TOO_OLD` (counted;
a fresh one is wanted), so across generations the ids a book serves as LIVE
only go forward. That floor is given up only on evidence that the exchange's
ids really went back (an epoch break): :attr:`Decision.NO_PROGRESS` (a LIVE
book whose stream stayed behind it for ``max_unapplied`` events), a backward
jump inside the buffer (:attr:`Decision.ID_RESET`), or ``max_unapplied`` events
in a row seen behind the floor while resyncing (reported as ``ID_RESET`` when
the snapshot that follows them is used).

Only a LIVE book is served: reads of any other state raise a subclass of
:class:`~orderbook.errors.BookNotLive`, unless the caller asks explicitly for a
possibly stale view, which then carries the real state.

Every decision is counted in :attr:`BookSync.counts` and reported to one
optional observer, ``observer(decision, sync, payload)``, where ``payload``
is the event, the snapshot, or the exception behind the decision. An owner
that has no use for the per-event ``applied`` calls sets
:attr:`BookSync.observe_applied` to False: the observer then sees every other
decision, and a LIVE book keeps the compiled raw-frame path
(:meth:`BookSync.on_frame`), which builds no event object to report.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from .book import OrderBook
from .errors import (
    BookClosed,
    BookDisconnected,
    BookNotLive,
    BookResyncing,
    BookStale,
    BookSyncing,
)
from .events import DepthSnapshot, DepthUpdate
from .parse import parse_depth_update
from .prices import PriceCodec
from .sequencing import Sequencer
from .views import BookView


class SyncState(StrEnum):
    """Where a book stands; only ``LIVE`` is served as in-sync."""

    SYNCING = "syncing"  #: waiting for the first good snapshot (events buffered)
    LIVE = "live"  #: in sequence; reads are served
    RESYNCING = "resyncing"  #: sequence lost; events buffered, a new snapshot wanted
    STALE = "stale"  #: the owner saw no data for too long; not served until an event chains
    DISCONNECTED = "disconnected"  #: the feed is down; resyncs once the owner says it is back
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
    FEED_DOWN = "feed-down"  #: the owner lost the feed: the book left LIVE, its buffer discarded
    WRONG_SYMBOL = "wrong-symbol"  #: event or snapshot of another symbol: refused
    NO_PROGRESS = "no-progress"  #: LIVE but nothing applied for too many events: left LIVE
    ID_RESET = "id-reset"  #: ids went backwards in the buffer: the older epoch was discarded


_DECISION_VALUES = frozenset(d.value for d in Decision)

#: ``observer(decision, sync, payload)``: payload is the event, snapshot or exception.
Observer = Callable[[Decision, "BookSync", object], None]

_NOT_LIVE_ERRORS: dict[SyncState, type[BookNotLive]] = {
    SyncState.SYNCING: BookSyncing,
    SyncState.RESYNCING: BookResyncing,
    SyncState.STALE: BookStale,
    SyncState.DISCONNECTED: BookDisconnected,
    SyncState.CLOSED: BookClosed,
}

def not_live_error(
    symbol: str, venue: str, state: SyncState, reason: str | None
) -> BookNotLive:
    """The exception of the :class:`~orderbook.errors.BookNotLive` family for a book of
    ``venue`` and ``symbol`` in ``state`` (``BookResyncing`` for RESYNCING...): what a
    read of such a book raises, here or in another process that learned its state."""
    cls = _NOT_LIVE_ERRORS.get(state, BookNotLive)
    return cls(symbol, venue, state, reason)


# Module-level aliases keep attribute lookups off the hot path.
_LIVE = SyncState.LIVE
_STALE = SyncState.STALE
_CLOSED = SyncState.CLOSED
_DISCONNECTED = SyncState.DISCONNECTED
_APPLIED = Decision.APPLIED


class BookSync:
    """Keeps one symbol's book in sequence, following its venue's :class:`Sequencer`.

    ``max_buffer`` bounds the events kept while waiting for a snapshot; when
    it is reached the oldest is dropped, counted as :attr:`Decision.OVERFLOW`,
    and a fresh snapshot is wanted (the one in flight may predate the buffer).
    ``max_unapplied`` bounds how many events in a row a LIVE book may drop as
    older than itself before it is taken for stuck (see the module docstring).
    ``clock`` gives the local time stamped on applied events.
    """

    def __init__(
        self,
        symbol: str,
        sequencer: Sequencer,
        *,
        max_buffer: int = 10_000,
        max_unapplied: int = 100,
        observer: Observer | None = None,
        clock: Callable[[], float] = time.time,
        codec: PriceCodec | None = None,
    ) -> None:
        if max_buffer < 1:
            raise ValueError("max_buffer must be at least 1")
        if max_unapplied < 1:
            raise ValueError("max_unapplied must be at least 1")
        self.symbol = symbol
        self.sequencer = sequencer
        self.venue = sequencer.venue
        self.max_buffer = max_buffer
        self.max_unapplied = max_unapplied
        self.observer = observer
        #: False: the observer is not called for ``applied`` (see the module docstring).
        self.observe_applied = True
        self.clock = clock
        #: Price-spelling cache shared by this symbol's books (default: one for all books).
        self.codec = codec
        self.state = SyncState.SYNCING
        #: Why the book is not LIVE (``None`` when LIVE).
        self.reason: str | None = "waiting for first snapshot"
        #: The decision that took the book out of LIVE (``None`` while LIVE or syncing):
        #: ``gap``, ``feed-down``, ``marked-stale``, ``resync-requested``, ``closed``...
        self.cause: Decision | None = None
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
        self._unapplied = 0  # events in a row a LIVE/STALE book dropped as not newer than itself
        # The floor under any new generation: the highest id served or seen (an event's
        # last id) in this epoch, besides the current _last_id (see high_water).
        self._high = 0
        self._epoch_break = False  # True: _last_id belongs to an epoch the exchange left
        self._behind = 0  # events in a row seen while not LIVE whose ids are below the floor

    # -- inputs ----------------------------------------------------------------

    def on_frame(self, raw: str | bytes) -> Decision:
        """Feed one raw ``depth_update`` push of this book's venue; returns the decision.

        The same as ``on_update(parse_depth_update(raw, venue))``: raises
        :class:`~orderbook.errors.MalformedEvent` for a frame that is not a
        well-formed push. The compiled accelerator reads the frame's bytes
        directly in the hot case (a LIVE book, a plain frame that chains).
        """
        return self.on_update(parse_depth_update(raw, self.venue))

    def on_update(self, event: DepthUpdate) -> Decision:
        """Feed one ``depth_update`` event; returns what was done with it."""
        if event.symbol != self.symbol:
            return self._report(Decision.WRONG_SYMBOL, event)
        state = self.state
        if state is _LIVE or state is _STALE:
            last = self._last_id
            if event.last_id <= last:  # type: ignore[operator]
                self._unapplied += 1
                if self._unapplied >= self.max_unapplied:
                    self._unapplied = 0
                    self._break_epoch()  # the stream stayed behind the book: ids went back
                    self._keep(event)
                    return self._leave_live(
                        Decision.NO_PROGRESS,
                        f"{self.max_unapplied} events in a row not newer than the book "
                        f"(id {last}, last event {event.last_id}): stream behind the snapshot "
                        "or ids reset",
                        event,
                    )
                return self._report(
                    Decision.DROPPED_OLD if self._first_pending else Decision.DUPLICATE, event
                )
            if self._first_pending:
                ok = self.sequencer.follows_snapshot(event, last)  # type: ignore[arg-type]
            else:
                ok = self.sequencer.follows_event(event, last)  # type: ignore[arg-type]
            if not ok:
                self._keep(event)
                return self._leave_live(Decision.GAP, f"sequence gap after id {last}", event)
            book = self.book
            try:
                book.apply(event.bids, event.asks)  # type: ignore[union-attr]
            except Exception as exc:
                return self._leave_live(Decision.MALFORMED, f"bad event: {exc}", exc)
            self._last_id = event.last_id
            self._first_pending = False
            self._unapplied = 0
            self.last_event_time = self.clock()
            if book.is_crossed():  # type: ignore[union-attr]
                return self._leave_live(Decision.CROSSED, "book crossed", event)
            if state is _STALE:
                self._set_live()
            self.counts[_APPLIED] += 1
            observer = self.observer
            if observer is not None and self.observe_applied:
                observer(_APPLIED, self, event)
            return _APPLIED
        if state is _CLOSED:
            return self._report(Decision.IGNORED, event)
        buffer = self.buffer
        if len(buffer) >= self.max_buffer:
            dropped = buffer.popleft()
            self.snapshot_wanted = True
            self._report(Decision.OVERFLOW, dropped)
        self._keep(event)
        return self._report(Decision.BUFFERED, event)

    def on_snapshot(self, snapshot: DepthSnapshot) -> Decision:
        """Feed a REST snapshot; returns ``SNAPSHOT_ACCEPTED`` if the book went LIVE.

        Ignored while LIVE, CLOSED or DISCONNECTED (a snapshot without a feed
        cannot be kept current).
        """
        if snapshot.symbol != self.symbol:
            if self.state is not _LIVE:
                self.reason = f"snapshot is for {snapshot.symbol!r}, not {self.symbol!r}"
            return self._report(Decision.WRONG_SYMBOL, snapshot)
        state = self.state
        if state is _LIVE or state is _CLOSED or state is _DISCONNECTED:
            return self._report(Decision.SNAPSHOT_IGNORED, snapshot)
        snapshot_id = snapshot.last_id
        buffer = self.buffer
        seq = self.sequencer
        while buffer and buffer[0].last_id <= snapshot_id:  # rule 4
            self._report(Decision.DROPPED_OLD, buffer.popleft())
        if (
            buffer
            and not seq.follows_snapshot(buffer[0], snapshot_id)
            and self._drop_older_epoch()
        ):
            while buffer and buffer[0].last_id <= snapshot_id:  # rule 4, for the new epoch
                self._report(Decision.DROPPED_OLD, buffer.popleft())
        reach = max(snapshot_id, max((e.last_id for e in buffer), default=snapshot_id))
        floor = self.high_water
        if floor is not None and reach < floor:  # it would step back in time
            if self._behind < self.max_unapplied:
                self.snapshot_wanted = True
                self.reason = (
                    f"snapshot {snapshot_id} is behind update id {floor} already served or seen"
                )
                return self._report(Decision.SNAPSHOT_TOO_OLD, snapshot)
            # The stream itself stayed behind the floor: the exchange's ids went back.
            self._break_epoch()
            self.reason = (
                f"update ids went back from {floor} to {reach}: "
                f"{self.max_unapplied} events in a row behind it; a new epoch"
            )
            self._report(Decision.ID_RESET, snapshot)
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
            if self.observer is not None and self.observe_applied:
                self.observer(_APPLIED, self, event)
        if book.is_crossed():
            self.snapshot_wanted = True
            self.reason = "book crossed after snapshot"
            return self._report(Decision.CROSSED, snapshot)
        self.book = book
        self.generation += 1
        self.snapshot_depth = snapshot.depth
        self._epoch_break = False
        self._behind = 0
        self._last_id = last
        self._first_pending = first
        self._unapplied = 0
        self.last_event_time = self.clock()
        self._set_live()
        return self._report(Decision.SNAPSHOT_ACCEPTED, snapshot)

    def feed_down(self, reason: str = "feed down") -> None:
        """The stream feeding this book is lost: leave LIVE at once, discard the buffer.

        The book is DISCONNECTED: not served, no snapshot wanted (none could
        be kept current) and snapshots that still arrive are ignored. Call
        :meth:`request_resync` when the feed is back.
        """
        if self.state is _CLOSED:
            return
        self.state = _DISCONNECTED
        self.reason = reason
        self.cause = Decision.FEED_DOWN
        self.snapshot_wanted = False
        self.buffer.clear()
        self._unapplied = 0
        self._report(Decision.FEED_DOWN, reason)

    def request_resync(self, reason: str = "resync requested") -> None:
        """Take the book out of LIVE and ask for a fresh snapshot.

        Used e.g. after an integrity mismatch.
        """
        if self.state is _CLOSED:
            return
        if self.state is _LIVE or self.state is _STALE:
            # Events just dropped as not newer than the book count as evidence that the
            # stream stays behind it (see high_water).
            self._behind = self._unapplied
        if self.state is _LIVE or self.state is _STALE:
            self.cause = Decision.RESYNC_REQUESTED
        self.state = SyncState.RESYNCING
        self.reason = reason
        self.snapshot_wanted = True
        self._report(Decision.RESYNC_REQUESTED, reason)

    def mark_stale(self, reason: str = "no data for too long") -> None:
        """Mark a LIVE book stale: not served until an event chains on, or a resync."""
        if self.state is _LIVE:
            self.state = _STALE
            self.reason = reason
            self.cause = Decision.MARKED_STALE
            self._report(Decision.MARKED_STALE, reason)

    def close(self, reason: str = "closed") -> None:
        """Stop maintaining the book; later events are ignored."""
        if self.state is _CLOSED:
            return
        self.state = _CLOSED
        self.reason = reason
        self.cause = Decision.CLOSED
        self.snapshot_wanted = False
        self.buffer.clear()
        self._report(Decision.CLOSED, reason)

    # -- checkpoints ---------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """The sync's whole position as plain values (the book's levels aside).

        What :meth:`restore` needs to carry on exactly as this sync would: its state and
        reason, update id and generation, whether a snapshot is wanted, the sequencing
        position (whether the next event is the first after a snapshot, how many in a row
        were not applied), the floor under the next generation (see :attr:`high_water`),
        the buffered events (as :class:`~orderbook.DepthUpdate`) and the decision counts
        (by decision value, non-zero only). A recorder writes it; a replay restores it.

        >>> from orderbook import SpotSequencer
        >>> sync = BookSync("btc_usdt", SpotSequencer())
        >>> state = sync.checkpoint()
        >>> state["state"], state["update_id"], state["buffer"]
        ('syncing', None, [])
        >>> twin = BookSync("btc_usdt", SpotSequencer())
        >>> twin.restore(state)
        >>> twin.checkpoint() == state
        True
        """
        return {
            "state": self.state.value,
            "reason": self.reason,
            "cause": self.cause.value if self.cause is not None else None,
            "update_id": self._last_id,
            "generation": self.generation,
            "snapshot_wanted": self.snapshot_wanted,
            "snapshot_depth": self.snapshot_depth,
            "first_pending": self._first_pending,
            "unapplied": self._unapplied,
            "high": self._high,
            "epoch_break": self._epoch_break,
            "behind": self._behind,
            "buffer": list(self.buffer),
            "counts": {d.value: n for d, n in self.counts.items() if n},
        }

    def restore(self, state: Mapping[str, Any], book: OrderBook | None = None) -> None:
        """Put this sync where ``state`` (a :meth:`checkpoint`) says, with ``book`` as its book.

        Fields missing from ``state`` (a checkpoint of an older version) take their
        defaults: no floor, nothing buffered, nothing counted.
        """
        if book is not None:
            self.book = book
        self.state = SyncState(state["state"])
        self.reason = state.get("reason")
        cause = state.get("cause")
        self.cause = Decision(cause) if cause in _DECISION_VALUES else None
        self.generation = state.get("generation") or 0
        self.snapshot_wanted = bool(state.get("snapshot_wanted"))
        self.snapshot_depth = state.get("snapshot_depth")
        self._last_id = state.get("update_id")
        self._first_pending = bool(state.get("first_pending"))
        self._unapplied = state.get("unapplied") or 0
        self._high = state.get("high") or 0
        self._epoch_break = bool(state.get("epoch_break"))
        self._behind = state.get("behind") or 0
        self.buffer = deque(state.get("buffer") or ())
        counts = state.get("counts") or {}
        self.counts = {d: counts.get(d.value, 0) for d in Decision}

    # -- reads -------------------------------------------------------------------

    @property
    def high_water(self) -> int | None:
        """The lowest update id a new generation may stand at (``None``: no floor yet).

        The highest id this book has served, or seen in an event, since the last
        epoch break (see the module docstring).
        """
        last = None if self._epoch_break else self._last_id
        high = self._high
        if last is not None and last > high:
            return last
        return high or None

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
        return not_live_error(self.symbol, self.venue.value, self.state, self.reason)

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
        self.cause = None
        self.snapshot_wanted = False

    def _keep(self, event: DepthUpdate) -> None:
        """Buffer ``event``, remembering the highest id seen and how long ids stay behind."""
        self.buffer.append(event)
        last = event.last_id
        floor = self.high_water
        if floor is not None and last < floor:
            self._behind += 1
        else:
            self._behind = 0
            self._high = last

    def _break_epoch(self) -> None:
        """The exchange's ids went back: the ids served so far no longer bound the next book."""
        self._high = 0
        self._behind = 0
        self._epoch_break = True

    def _drop_older_epoch(self) -> bool:
        """Discard buffered events before the latest point where ids went backwards.

        Only a jump below the first buffered event counts (an event older than
        everything before it): a stream whose ids were reset. Returns True if
        anything was discarded.
        """
        buffer = self.buffer
        front = buffer[0].first_id
        cut = 0
        previous = None
        for index, event in enumerate(buffer):
            last = event.last_id
            if previous is not None and last < previous and last < front:
                cut = index
            previous = last
        if not cut:
            return False
        newer = buffer[cut]
        for _ in range(cut):
            buffer.popleft()
        self._break_epoch()
        self.reason = f"update ids went back to {newer.last_id}: {cut} buffered events discarded"
        self._report(Decision.ID_RESET, newer)
        return True

    def _leave_live(self, decision: Decision, reason: str, payload: object) -> Decision:
        self.state = SyncState.RESYNCING
        self.reason = reason
        self.cause = decision
        self.snapshot_wanted = True
        return self._report(decision, payload)
