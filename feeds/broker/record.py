"""A broker subscriber's stream, recorded in the capture format (:mod:`feeds.capture.format`).

::

    sub = BookSubscriber("redis://127.0.0.1:6379/0", ["spot:btc_usdt"])
    async with sub:
        recorder = SubscriberRecorder("cap/").attach(sub)   # on the subscriber's loop
        ...
        await recorder.aclose()                             # before the subscriber closes

    replay("cap/")   # verifies it like a websocket capture (``wexbook replay cap/ --verify``)

A research host can so record from the broker instead of the exchange. The mapping:

- Each venue is one pseudo-connection of the capture (its header's ``conns``: venue, the
  broker's URL without credentials, ``"broker": true``).
- Every delta the subscriber applied is a ``depth_update`` frame of its venue, written
  with the venue's own id fields (spot ``fi``/``i``, futures ``fu``/``u``/``pu``, the
  exchange's first, last and previous ids the delta carries) and its levels exactly as
  the exchange spelled them; the frame's receive time is when the subscriber took it (the
  engine's receive time is not kept; futures frames carry no exchange time ``t``).
- A snapshot that starts the book afresh is a REST snapshot record (``snap``: ``last_id``,
  the exact levels). The replay's book accepts it as the engine would a REST snapshot.
- The capture is replayed by the engine's own :class:`~orderbook.BookSync`, which does
  not take a snapshot into a LIVE book: so the recorder keeps one such sync per book
  (the *mirror*), fed exactly what it writes, and keeps it where the subscriber is:

  - the subscriber's book broke (a missing or trimmed ``n``, a new publisher instance, a
    delta that does not chain, a checksum, the broker lost, the publisher silent): the
    owner's action ``resync-requested`` (or ``feed-down`` for the broker lost or a silent
    publisher) is recorded as a ``d`` record, as the websocket recorder records them, so a
    replay performs it at the same point and never serves across the break; the next
    snapshot is then a ``snap`` record, a fresh start (a new generation of the capture);
  - a snapshot that is not the book the capture holds (another update id: the publisher
    superseded deltas; a new engine generation or publisher instance; a book the
    subscriber found drifted) is a resync too: ``resync-requested``, then the ``snap``.
    A periodic snapshot at the update id the book stands at changes nothing: not written;
  - a not-LIVE status: ``marked-stale`` (STALE), ``feed-down`` (DISCONNECTED, CLOSED),
    else ``resync-requested``; while the capture's book is not LIVE no delta is written.
    When the subscriber serves the book again without a new snapshot (a LIVE status
    after STALE), its own book is written as the ``snap`` record (whole, exact, at its
    update id).

  Decisions of the mirror (snapshots accepted or refused, gaps...) are ``d`` records;
  books are ``book`` records at every segment start, from the mirror.
- Checkpoints (``cp``, every ``checkpoint_interval``): the mirror's state, update id,
  generation and counters (what the replay's book must show), and the
  :func:`~feeds.capture.format.whole_book_hash` of **the subscriber's own book** (the one
  it serves), so a verifying replay proves it rebuilt the book the subscriber held.

Generations and counters in the capture are the capture's own (a book's snapshots
accepted in it), not the publisher's. The futures chain rule of the capture's books is
``either`` (``pu`` chains or ``fu`` follows): every engine rule implies it, so the replay
accepts what the engine applied. Writing is the websocket recorder's
(:class:`~feeds.capture.segments.SegmentSink`: a background thread, zstandard frames with
checksums, one per ``flush_interval``), rotating segments after ``max_segment_bytes``,
``max_segment_seconds`` and at UTC midnight; a write error stops the capture (counted,
logged), never the subscriber. A segment's ``end`` record carries the time of the record
before it (and no ``rotate``/``next``), as :class:`~feeds.capture.writer.SegmentWriter`
ends a segment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import orjson

from feeds.capture.format import (
    FORMAT_VERSION,
    PER_EVENT,
    book_state,
    counts_of,
    decision_record,
    host_clock,
    public_url,
    wexbook_version,
    whole_book_hash,
)
from feeds.capture.segments import SegmentSink, stamped
from orderbook import (
    BookSync,
    Decision,
    DepthSnapshot,
    MalformedEvent,
    SyncState,
    Venue,
    parse_depth_update,
    sequencer_for,
)

from . import schema
from .subscriber import BookSubscriber, HeldBook

_LIVE = SyncState.LIVE
_STALE = SyncState.STALE
_DOWN = (SyncState.DISCONNECTED, SyncState.CLOSED)
_time_ns = time.time_ns
_mono_ns = time.monotonic_ns
#: The futures chain rule of the capture's books (see the module docstring).
CHAIN_RULE = "either"
#: Breaks of the subscriber recorded as ``feed-down`` (the others: ``resync-requested``).
FEED_DOWN_BREAKS = frozenset({"broker_lost", "silence"})


class _Lane:
    """One recorded book: its mirror and what the recorder last saw of the subscriber."""

    def __init__(self, held: HeldBook, conn: int, observer: Any) -> None:
        self.held = held
        self.conn = conn
        self.venue = Venue(held.venue)
        rule = CHAIN_RULE if self.venue is Venue.FUTURES else None
        self.rule = rule
        self.sync = BookSync(held.symbol, sequencer_for(self.venue, rule or "pu"))
        self.sync.observe_applied = False
        self.sync.observer = observer
        self.event = f"depth_update@{held.symbol}"
        #: (publisher, generation) of the snapshot the capture's book was last based on.
        self.base: tuple[str | None, int] | None = None
        self.mismatches = held.counts["mismatch"]
        #: A snapshot of the subscriber's book was refused: retried at the next checkpoint.
        self.refused = False


class SubscriberRecorder:
    """Records a :class:`~feeds.broker.BookSubscriber`'s books into ``directory`` as a
    capture (see the module docstring). Options as :class:`~feeds.capture.Recorder`'s."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        flush_interval: float = 1.0,
        checkpoint_interval: float = 1.0,
        max_segment_bytes: int = 256 * 2**20,
        max_segment_seconds: float = 3600.0,
        level: int = 1,
        prefix: str = "",
    ) -> None:
        self.flush_interval = flush_interval
        self.checkpoint_interval = checkpoint_interval
        self.max_segment_bytes = max_segment_bytes
        self.max_segment_seconds = max_segment_seconds
        self.level = level
        self._sink = sink = SegmentSink(
            directory,
            opening=self._opening,
            checkpoints=self._checkpoints,
            ending=self._ending,
            flush_interval=flush_interval,
            checkpoint_interval=checkpoint_interval,
            max_segment_bytes=max_segment_bytes,
            max_segment_seconds=max_segment_seconds,
            level=level,
            prefix=prefix,
            name="broker capture",
        )
        self.directory = sink.directory
        #: Identifies this recording; every segment file name starts with it.
        self.run = sink.run
        #: Counters: the sink's (``frames``, ``records``, ``bytes_out``, ``segments``,
        #: ``checkpoints``, ``write_errors``, ``dropped``... see
        #: :mod:`feeds.capture.segments`), and ``snapshots`` (``snap`` records) and
        #: ``breaks`` (the owner's actions written).
        self.stats: dict[str, int] = sink.stats
        self.stats.update(snapshots=0, breaks=0)
        #: Paths of the segments written so far.
        self.segments: list[Path] = sink.segments
        self.subscriber: BookSubscriber | None = None
        self._lanes: dict[int, _Lane] = {}
        self._conns: list[dict[str, Any]] = []

    # -- lifecycle -----------------------------------------------------------------------

    def attach(self, subscriber: BookSubscriber) -> SubscriberRecorder:
        """Start recording ``subscriber``'s books (call on its loop; returns ``self``)."""
        if self.subscriber is not None:
            raise RuntimeError("this recorder is already attached")
        self.subscriber = subscriber
        loop = asyncio.get_running_loop()
        venues: dict[str, int] = {}
        url = public_url(subscriber.url)
        for held in subscriber.books.values():
            if held.venue not in venues:
                venues[held.venue] = len(venues)
                self._conns.append({"c": venues[held.venue], "v": held.venue, "url": url,
                                    "broker": True})  # fmt: skip
            lane = _Lane(held, venues[held.venue], None)
            lane.sync.observer = self._observer(lane)
            self._lanes[id(held)] = lane
        self._sink.start(loop)  # the books as they start: syncing
        for lane in self._lanes.values():
            with lane.held.lock:
                self._follow(lane, "the recording started")
        subscriber.observe(self)
        return self

    def close(self) -> None:
        """Final checkpoints, the ``end`` record, flush, stop the writer (on the loop)."""
        if not self._sink.begin_close():
            return
        self._untap()
        self._sink.stop()

    async def aclose(self) -> None:
        """:meth:`close`, waiting for the writer off the loop."""
        if not self._sink.begin_close():
            return
        self._untap()
        await asyncio.get_running_loop().run_in_executor(None, self._sink.stop)

    async def __aenter__(self) -> SubscriberRecorder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _untap(self) -> None:
        self._sink.cancel_timer()
        if self.subscriber is None:
            return
        self.subscriber.unobserve(self)
        self._sink.end()

    # -- the subscriber's hooks (its loop, under the book's lock) ---------------------------

    def on_message(self, held: HeldBook, message: dict[str, Any]) -> None:
        """A message the subscriber took (see :class:`~feeds.broker.BookSubscriber`)."""
        lane = self._lanes.get(id(held))
        if lane is None:
            return
        kind = message["k"]
        sync = lane.sync
        if kind == schema.DELTA:
            if sync.state is _LIVE:
                self._delta(lane, message)
            if sync.state is _LIVE:
                return  # in step (the usual case)
        elif kind == schema.SNAPSHOT:
            self._snapshot_message(lane, message)
            return
        self._follow(lane, None)

    def on_break(self, held: HeldBook, counter: str, reason: str) -> None:
        """The subscriber's book left its sequence: the capture's book leaves LIVE."""
        lane = self._lanes.get(id(held))
        if lane is None:
            return
        sync = lane.sync
        why = f"broker stream broken ({counter}): {reason}"
        if counter in FEED_DOWN_BREAKS:
            if sync.state not in _DOWN:
                sync.feed_down(why)
        elif sync.state is _LIVE or sync.state is _STALE or sync.state is SyncState.DISCONNECTED:
            sync.request_resync(why)
        lane.base = None

    # -- the mapping -----------------------------------------------------------------------

    def _delta(self, lane: _Lane, m: dict[str, Any]) -> None:
        symbol = lane.held.symbol
        if lane.venue is Venue.SPOT:
            data = {"s": symbol, "fi": m["fi"], "i": m["u"], "a": m["a"], "b": m["b"]}
        else:
            data = {"s": symbol, "pu": m["pi"], "fu": m["fi"], "u": m["u"], "a": m["a"],
                    "b": m["b"]}  # fmt: skip
        frame = orjson.dumps({"topic": "depth_update", "event": lane.event, "data": data})
        try:
            event = parse_depth_update(frame, lane.venue)
        except MalformedEvent as exc:  # ids the venue's frames cannot carry: a fresh start
            lane.sync.request_resync(f"a delta the capture cannot write as a frame: {exc}")
            lane.base = None
            self._follow(lane, None)
            return
        self._put((lane.conn, frame.decode(), _time_ns(), _mono_ns()))  # an "F" record
        lane.sync.on_update(event)
        if lane.sync.state is not _LIVE:
            # The capture's book left LIVE on its own (its decision is recorded): it is
            # based again from the subscriber's book at the next checkpoint, not per delta.
            lane.refused = True
            lane.base = None

    def _snapshot_message(self, lane: _Lane, m: dict[str, Any]) -> None:
        held, sync = lane.held, lane.sync
        drifted = held.counts["mismatch"] != lane.mismatches
        lane.mismatches = held.counts["mismatch"]
        base = (m["p"], m["g"])
        if sync.state is _LIVE:
            if m["u"] == sync.update_id and base == lane.base and not drifted:
                if held.state is _LIVE:
                    return  # a periodic snapshot of the book the capture holds
            else:
                why = (
                    "the subscriber's book had drifted"
                    if drifted
                    else f"a new snapshot at {m['u']} (publisher {m['p']}, generation "
                    f"{m['g']}) replaces the book at {sync.update_id}"
                )
                sync.request_resync(f"broker snapshot: {why}")
        if held.state is _LIVE and held.based:
            self._snap(lane, m["u"], m["b"], m["a"], base)
        self._follow(lane, None)

    def _follow(self, lane: _Lane, reason: str | None) -> None:
        """Bring the capture's book where the subscriber's is (see the module docstring)."""
        held, sync = lane.held, lane.sync
        state = sync.state
        if held.based and held.state is _LIVE and held.book is not None:
            if state is _LIVE or lane.refused:
                return
            bids, asks = held.book.depth(None)
            text = schema.decimal_text
            self._snap(
                lane,
                held.update_id,
                [[text(p), text(q)] for p, q in bids],
                [[text(p), text(q)] for p, q in asks],
                (held.publisher, held.generation),
            )
            return
        why = held.reason or reason or f"the subscriber's book is {held.state.value}"
        target = held.state
        if target in _DOWN:
            if state not in _DOWN:
                sync.feed_down(why)
        elif target is _STALE:
            if state is _LIVE:
                sync.mark_stale(why)
        elif state is _LIVE or state is _STALE or state is SyncState.DISCONNECTED:
            sync.request_resync(why)

    def _snap(
        self,
        lane: _Lane,
        update_id: int | None,
        bids: list[Any],
        asks: list[Any],
        base: tuple[str | None, int],
    ) -> None:
        """A ``snap`` record of the book at ``update_id``, handed to the mirror."""
        sync = lane.sync
        if update_id is None:
            return
        if sync.state is SyncState.DISCONNECTED:
            sync.request_resync("the subscriber's book is served again")
        elif sync.state is _LIVE:
            sync.request_resync("a fresh snapshot")
        snapshot = {
            "symbol": lane.held.symbol,
            "last_id": update_id,
            "bids": bids,
            "asks": asks,
            "timestamp": None,
            "depth": None,
        }
        record = {"k": "snap", "v": lane.venue.value, "s": lane.held.symbol, "snapshot": snapshot}
        self._put(("J", self._json(record)))
        self.stats["snapshots"] += 1
        decision = sync.on_snapshot(DepthSnapshot(**snapshot))
        lane.refused = decision is not Decision.SNAPSHOT_ACCEPTED
        lane.base = base if not lane.refused else None

    def _observer(self, lane: _Lane) -> Any:
        def observer(decision: Decision, sync: BookSync, payload: object) -> None:
            if decision in PER_EVENT:
                return
            record = decision_record(decision, sync, payload)
            if decision in (Decision.RESYNC_REQUESTED, Decision.FEED_DOWN, Decision.MARKED_STALE):
                self.stats["breaks"] += 1
            self._put(("J", self._json(record)))

        return observer

    # -- records (the loop) --------------------------------------------------------------

    _json = staticmethod(stamped)

    def _put(self, item: tuple[Any, ...]) -> None:
        self._sink.put(item)  # counted as dropped once writing failed

    def _book_record(self, lane: _Lane, *, start: bool) -> dict[str, Any]:
        sync = lane.sync
        record = {"k": "book", "start": start, **book_state(sync)}
        record["config"] = {
            "chain_rule": lane.rule,
            "max_buffer": sync.max_buffer,
            "max_unapplied": sync.max_unapplied,
            "subscription": None,
        }
        return self._json(record)

    def _header(self, segment: int) -> dict[str, Any]:
        sub = self.subscriber
        assert sub is not None
        return self._json(
            {
                "k": "header",
                "format": FORMAT_VERSION,
                "wexbook": wexbook_version(),
                "hl": None,  # the checkpoints hash the whole book
                "run": self.run,
                "segment": segment,
                "created_utc": dt.datetime.now(dt.UTC).isoformat(),
                "source": {
                    "kind": "broker",
                    "url": public_url(sub.url),
                    "prefix": sub.prefix,
                    "schema": schema.VERSION,
                },
                "ws_urls": {},
                "rest_urls": {},
                "conns": list(self._conns),
                "symbols": [f"{v}:{s}" for v, s in sub.books],
                "recorder": {
                    "flush_interval": self.flush_interval,
                    "checkpoint_interval": self.checkpoint_interval,
                    "hash_levels": None,
                    "level": self.level,
                },
                "host": {"clock": host_clock(), "pid": os.getpid()},
            }
        )

    def _opening(self, segment: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A new segment's header (its ``previous`` is set by the sink, last), then the
        capture's books."""
        header = self._header(segment)
        return header, [self._book_record(lane, start=True) for lane in self._lanes.values()]

    @staticmethod
    def _ending(rotate: str | None) -> dict[str, Any]:
        """A segment's ``end`` record: no times (the record before it's), no reason."""
        return {"k": "end"}

    def _checkpoints(self) -> None:
        for lane in self._lanes.values():
            held, sync = lane.held, lane.sync
            with held.lock:
                if lane.refused:
                    lane.refused = False
                    self._follow(lane, None)
                live = sync.state is _LIVE
                book = held.book
                record = {
                    "k": "cp",
                    "v": lane.venue.value,
                    "s": held.symbol,
                    "state": sync.state.value,
                    "update_id": sync.update_id,
                    "generation": sync.generation,
                    "counts": counts_of(sync),
                    # The subscriber's own book: a replay that matches it rebuilt that book.
                    "hash": whole_book_hash(book.bids, book.asks)
                    if live and book is not None
                    else None,
                }
            self._put(("J", self._json(record)))
            self.stats["checkpoints"] += 1
