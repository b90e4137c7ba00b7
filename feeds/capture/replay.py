"""Replay: a capture through the same parse -> sequence -> ``BookSync`` path as live.

Every recorded frame goes through the core's parser (``depth_update`` pushes through
:func:`orderbook.parse_depth_update`, exactly what the live
:class:`~feeds.protocol.FeedProtocol` does for them; anything else through a
``FeedProtocol`` of its venue), into a :class:`~orderbook.BookSync` built with the
recorded settings; every recorded REST snapshot is handed to the book where the live
manager handed it; the owner's recorded actions (feed down, resync requested, marked
stale, closed) are performed at the same point. So a replayed book equals the live
one at every update id, and with ``verify`` it is proved:

- every checkpoint (``cp`` record: state, update id, generation, decision counters,
  hash of the top levels) is compared with the replayed book at that position;
- every recorded decision (gaps, snapshots accepted or refused, overflows...) must be
  the replayed book's next one, with the same state, update id and generation after it;
- every segment's starting state of a book (``book`` records) is compared with the
  replayed book when the segment continues a replayed one; a segment replayed alone
  starts from it (the marked checkpoint snapshot: the engine's exact book).

The first mismatch is reported with its position (segment file, record number, local
time); :attr:`ReplayReport.ok` is false if there was any.

Runs (recording processes) are replayed independently, one after the other, and each
run's segments in order. :func:`iter_events` merges runs by receive time; ties are
broken by the run's position in :func:`~feeds.capture.reader.open_capture`'s order
(run name), then by record order within the run.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from orderbook import (
    BookSync,
    BookView,
    Decision,
    DepthSnapshot,
    DepthUpdate,
    MalformedEvent,
    OrderBook,
    SyncState,
    Venue,
    accel,
    parse_depth_update,
    sequencer_for,
)

from .format import ACTIONS, HASH_LEVELS, PER_EVENT, book_hash, counts_of, event_from_record
from .reader import CaptureError, Problem, Run, SegmentReader, open_capture

try:  # the compiled frame loop (built with orderbook's accelerator)
    from . import _replayloop as _compiled_loop  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - a pure install
    _compiled_loop = None

_LIVE = SyncState.LIVE
_APPLIED = Decision.APPLIED
#: Decisions that take a LIVE book out of LIVE (for the gap audit).
_LEAVES = {
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

Key = tuple[str, str]  # (venue, symbol)
FrameParser = Callable[[bytes, Venue], DepthUpdate]


def frame_loop() -> str:
    """``"compiled"`` or ``"python"``: the frame loop a verifying or counting replay runs now."""
    return "compiled" if _compiled_loop is not None and accel.active() == "compiled" else "python"


#: Parsers of other exchanges' frames, by the ``dialect`` of a connection (importers).
DIALECTS: dict[str, FrameParser] = {}


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Where the replayed engine and the recording disagree."""

    segment: str
    record: int  #: record number in the segment (0: the header)
    time_ns: int  #: local receive time of that record
    venue: str
    symbol: str
    what: str  #: checkpoint, decision, segment-start...
    detail: str

    def __str__(self) -> str:
        return (
            f"{self.segment} record {self.record} ({_iso(self.time_ns)}): {self.venue} "
            f"{self.symbol} {self.what}: {self.detail}"
        )


@dataclass(slots=True)
class BookReport:
    """What replay did with one book."""

    venue: str
    symbol: str
    events: int = 0
    checkpoints: int = 0
    checkpoints_matched: int = 0
    decisions: int = 0
    decisions_matched: int = 0
    state: str = ""
    update_id: int | None = None
    generation: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def gaps(self) -> int:
        return self.counts.get("gap", 0)

    @property
    def resyncs(self) -> int:
        """Snapshots accepted after the first (each one a resync)."""
        return max(0, self.counts.get("snapshot-accepted", 0) - 1)


@dataclass(frozen=True, slots=True)
class GapRow:
    """One time a book was not live (or a connection was down / silent)."""

    start_ns: int
    end_ns: int | None  #: None: still not live at the end of the capture
    venue: str
    symbol: str | None  #: None for a connection row
    kind: str  #: the decision that took it out of LIVE, ``disconnected`` or ``silence``
    reason: str | None

    @property
    def seconds(self) -> float | None:
        return None if self.end_ns is None else (self.end_ns - self.start_ns) / 1e9


@dataclass(slots=True)
class ReplayReport:
    """The outcome of a replay."""

    runs: int = 0
    segments: int = 0
    records: int = 0
    frames: int = 0
    depth_events: int = 0
    books: dict[Key, BookReport] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)
    mismatch_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    gaps: list[GapRow] = field(default_factory=list)
    start_ns: int | None = None
    end_ns: int | None = None
    seconds: float = 0.0  #: wall-clock time the replay took
    #: Whether checkpoints and decisions were compared (``Replayer(verify=...)``).
    verified: bool = True

    @property
    def checkpoints(self) -> int:
        return sum(b.checkpoints for b in self.books.values())

    @property
    def checkpoints_matched(self) -> int:
        return sum(b.checkpoints_matched for b in self.books.values())

    @property
    def decisions(self) -> int:
        return sum(b.decisions for b in self.books.values())

    @property
    def decisions_matched(self) -> int:
        return sum(b.decisions_matched for b in self.books.values())

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0

    @property
    def first_mismatch(self) -> Mismatch | None:
        return self.mismatches[0] if self.mismatches else None

    def summary(self) -> str:
        """A few lines for people: books, frames, checkpoints, gaps, resyncs, problems."""
        span = ""
        if self.start_ns is not None and self.end_ns is not None:
            span = f", {(self.end_ns - self.start_ns) / 1e9:.1f} s of capture"
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"replayed {self.runs} run(s), {self.segments} segment(s), {self.records} records, "
            f"{self.frames} frames ({self.depth_events} depth events){span} "
            f"in {self.seconds:.2f} s ({rate:,.0f} frames/s)",
        ]
        for (venue, symbol), b in sorted(self.books.items()):
            checked = (
                f"checkpoints {b.checkpoints_matched}/{b.checkpoints}, "
                f"decisions {b.decisions_matched}/{b.decisions}, "
                if self.verified
                else ""
            )
            lines.append(
                f"  {venue}:{symbol}: {b.events} events, {b.counts.get('applied', 0)} applied, "
                f"gaps {b.gaps}, resyncs {b.resyncs}, {checked}"
                f"final {b.state} at {b.update_id} (generation {b.generation})"
            )
        if self.verified:
            lines.append(
                f"checkpoints matched: {self.checkpoints_matched}/{self.checkpoints}, "
                f"decisions matched: {self.decisions_matched}/{self.decisions}, "
                f"mismatches: {self.mismatch_count}"
            )
        else:
            lines.append("not verified: checkpoints and decisions not compared (--verify does)")
        if self.first_mismatch is not None:
            lines.append(f"first mismatch: {self.first_mismatch}")
        for problem in self.problems:
            lines.append(f"unreadable: {problem}")
        return "\n".join(lines)


class ReplayItem(NamedTuple):
    """One event of a replay, with the book right after it (read it at once: it moves on)."""

    time_ns: int  #: local receive time
    venue: str
    symbol: str | None
    #: The parsed event, the raw frame of another topic, or a sampled view.
    event: DepthUpdate | bytes | BookView
    sync: BookSync | None


def _iso(ns: int) -> str:
    t = time.gmtime(ns // 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ns % 1_000_000_000 // 1000:06d}Z"


@dataclass(slots=True)
class _Book:
    key: Key
    sync: BookSync
    report: BookReport
    #: Replayed decisions not yet matched with a recorded one:
    #: (decision, state, update id, generation, hash).
    pending: deque[tuple[str, str, int | None, int, str | None]] = field(default_factory=deque)
    next_sample: int = 0
    down_since: int | None = None
    down_kind: str | None = None
    down_reason: str | None = None


def _new_sync(venue: Venue, symbol: str, config: dict[str, Any], observer: Any) -> BookSync:
    rule = config.get("chain_rule") or "pu"
    return BookSync(
        symbol,
        sequencer_for(venue, rule),
        max_buffer=config.get("max_buffer") or 10_000,
        max_unapplied=config.get("max_unapplied") or 100,
        observer=observer,
    )


def _restore(sync: BookSync, record: dict[str, Any]) -> None:
    """Put ``sync`` where the recorded ``book`` state says (a segment replayed on its own).

    This sets the sync's private sequencing position too (whether the next event is the
    first after a snapshot, how many in a row were not applied), so that the next event
    is judged exactly as it was live.
    """
    levels = record.get("levels")
    if levels is not None:
        sync.book = OrderBook.from_levels(levels["bids"], levels["asks"], sync.codec)
    sync.state = SyncState(record["state"])
    sync.reason = record.get("reason")
    sync.generation = record.get("generation") or 0
    sync.snapshot_wanted = bool(record.get("snapshot_wanted"))
    sync.snapshot_depth = record.get("snapshot_depth")
    sync._last_id = record.get("update_id")
    sync._first_pending = bool(record.get("first_pending"))
    sync._unapplied = record.get("unapplied") or 0
    sync.buffer = deque(event_from_record(e) for e in record.get("buffer") or ())
    counts = record.get("counts") or {}
    sync.counts = {d: counts.get(d.value, 0) for d in Decision}


class Replayer:
    """Replays runs; collects a :class:`ReplayReport` (see the module docstring).

    ``symbols``: keep only these books (``"spot:btc_usdt"`` or ``("spot", "btc_usdt")``).
    ``verify``: compare checkpoints, decisions and segment starts (default on).
    ``speed``: ``None`` as fast as possible, ``1.0`` real time by the recorded receive
    times, ``N`` N times faster. ``start_ns`` / ``stop_ns``: local time window of the
    items yielded (the books are built from the run's start, or from the last segment
    that starts before ``start_ns``). ``start_exchange_ms`` / ``stop_exchange_ms``: the
    same by the events' exchange time (where frames carry one); the books are built
    from the last segment whose first event is at least ``seek_margin`` seconds before
    ``start_exchange_ms`` (connections' exchange times interleave only roughly).
    ``audit_silence``: a connection quiet for longer than this many seconds is a
    ``silence`` row of the gap audit. ``prefetch``: decompress the next zstandard frame
    of a segment on a thread while this one is replayed (default on; off, a replay uses
    one core only).
    """

    def __init__(
        self,
        *,
        symbols: Iterable[str | Key] | None = None,
        verify: bool = True,
        speed: float | None = None,
        start_ns: int | None = None,
        stop_ns: int | None = None,
        start_exchange_ms: int | None = None,
        stop_exchange_ms: int | None = None,
        hash_levels: int = HASH_LEVELS,
        audit_silence: float = 5.0,
        max_mismatches: int = 100,
        prefetch: bool = True,
        seek_margin: float = 5.0,
    ) -> None:
        self.symbols = None if symbols is None else {_key(s) for s in symbols}
        self.verify = verify
        if speed is not None and speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self.start_ns = start_ns
        self.stop_ns = stop_ns
        self.start_exchange_ms = start_exchange_ms
        self.stop_exchange_ms = stop_exchange_ms
        self.hash_levels = hash_levels
        self.audit_silence_ns = int(audit_silence * 1e9)
        self.max_mismatches = max_mismatches
        self.prefetch = prefetch
        self.seek_margin = seek_margin
        #: Sampling period (ns) of :meth:`items` (views instead of events), or None.
        self.sample_ns: int | None = None
        self.sample_levels: int | None = 20
        #: False: sampled items carry no view (``event`` None): read ``item.sync`` at once.
        self.sample_views = True
        self.report = ReplayReport(verified=verify)

    # -- per-book observer and samples ---------------------------------------------------

    def _observer_for(self, book: _Book) -> Callable[[Decision, BookSync, object], None]:
        pending = book.pending
        hash_levels = self.hash_levels
        verify = self.verify

        def observer(decision: Decision, sync: BookSync, payload: object) -> None:
            if decision is _APPLIED:
                if book.down_since is not None and sync.state is _LIVE:
                    self._close_gap(book)
                return
            if decision in _LEAVES and book.down_since is None:
                book.down_since = self._now
                book.down_kind = decision.value
                book.down_reason = payload if isinstance(payload, str) else sync.reason
            elif decision is Decision.SNAPSHOT_ACCEPTED and book.down_since is not None:
                self._close_gap(book)
            if decision in PER_EVENT or self._executing or not verify:
                return
            live = sync.state is _LIVE
            pending.append(
                (
                    decision.value,
                    sync.state.value,
                    sync.update_id,
                    sync.generation,
                    book_hash(sync, hash_levels) if live else None,
                )
            )

        return observer

    def _samples(self, book: _Book, wall: int) -> Iterator[ReplayItem]:
        """Views due at or before ``wall``: the book after every event received before."""
        step = self.sample_ns
        assert step is not None
        due = book.next_sample
        if due == 0:
            book.next_sample = (wall // step + 1) * step
            return
        start = self.start_ns
        stop = self.stop_ns
        view: Any = None
        while due <= wall:
            if (start is None or due >= start) and (stop is None or due <= stop):
                if view is None and self.sample_views:
                    view = book.sync.view(self.sample_levels, allow_stale=True)
                yield ReplayItem(due, book.key[0], book.key[1], view, book.sync)
            due += step
        book.next_sample = due

    # -- mismatches --------------------------------------------------------------

    def _mismatch(self, key: Key, what: str, detail: str) -> None:
        self.report.mismatch_count += 1
        if len(self.report.mismatches) < self.max_mismatches:
            self.report.mismatches.append(
                Mismatch(self._segment, self._record_no, self._now, key[0], key[1], what, detail)
            )

    # -- running ---------------------------------------------------------------------

    def run(self, runs: list[Run]) -> ReplayReport:
        """Replay ``runs`` to the end; returns the report."""
        for _ in self.items(runs, emit=False):
            pass
        return self.report

    def items(
        self, runs: list[Run], *, emit: bool = True, other_frames: bool = False
    ) -> Iterator[ReplayItem]:
        """Replay ``runs`` one after the other, yielding a :class:`ReplayItem` per event."""
        started = time.perf_counter()
        try:
            for run in runs:
                self.report.runs += 1
                yield from self._run(run, emit, other_frames)
        finally:
            self.report.seconds += time.perf_counter() - started
            self._finish()

    def _finish(self) -> None:
        for book in getattr(self, "_books", {}).values():
            self._sync_report(book)
            if book.down_since is not None:
                self.report.gaps.append(
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
        self.report.gaps.sort(key=lambda g: (g.start_ns, g.venue, g.symbol or ""))

    def _sync_report(self, book: _Book) -> None:
        sync, r = book.sync, book.report
        r.state, r.update_id, r.generation = sync.state.value, sync.update_id, sync.generation
        r.counts = counts_of(sync)

    def _segments(self, run: Run) -> list[Path]:
        """The run's segments from the last one that starts before the window (seek)."""
        segments = run.segments
        if len(segments) < 2:
            return segments
        if self.start_ns is not None:
            start, first_time = self.start_ns, self._first_wall
        elif self.start_exchange_ms is not None:
            start = self.start_exchange_ms - int(self.seek_margin * 1000)
            first_time = self._first_exchange_ms
        else:
            return segments
        # Each segment replays on its own: the last one that starts at or before the
        # window's start is where the books are built from.
        chosen = 0
        for i, seg in enumerate(segments):
            first = first_time(seg)
            if first is not None and first <= start:
                chosen = i
        return segments[chosen:]

    @staticmethod
    def _first_wall(segment: Path) -> int | None:
        first = next(iter(SegmentReader(segment)), None)
        return None if first is None else first[1]

    def _first_exchange_ms(self, segment: Path) -> int | None:
        """The exchange time of the segment's first depth event that carries one."""
        conns: dict[int, tuple[Venue, FrameParser, Any, str]] = {}
        for kind, _, _, conn, payload in SegmentReader(segment):
            if kind == "header":
                conns = {info["c"]: self._conn(info) for info in payload.get("conns") or ()}
            elif kind == "conn" and payload.get("state") == "new":
                conns[payload["c"]] = self._conn(payload)
            elif (kind == "F" or kind == "B") and conn in conns:
                venue, parse, _, _ = conns[conn]  # type: ignore[index]
                try:
                    event = parse(payload, venue)
                except MalformedEvent:
                    continue
                if event.event_time is not None:
                    return event.event_time
        return None

    def _run(self, run: Run, emit: bool, other_frames: bool) -> Iterator[ReplayItem]:
        report = self.report
        books: dict[Key, _Book] = {}
        self._books = books
        conns: dict[int, tuple[Venue, FrameParser, Any, str]] = {}
        wanted = self.symbols
        start_ns, stop_ns = self.start_ns, self.stop_ns
        start_x, stop_x = self.start_exchange_ms, self.stop_exchange_ms
        windowed = start_ns is not None or start_x is not None
        speed = self.speed
        pace_base: tuple[int, float] | None = None
        silence = self.audit_silence_ns
        last_frame: dict[int, int] = {}
        self._executing = False
        self._now = 0

        sample = self.sample_ns
        # When nothing is emitted per event (a verifying or counting run) at full speed,
        # the compiled loop (feeds/capture/_replayloop.pyx) consumes the runs of hot frame
        # records itself, each applied from its bytes; the loop below is its reference and
        # takes every record it leaves.
        #: conn -> (spot, symbol -> book) for the compiled loop; by_venue: the books by venue.
        routes: dict[int, tuple[bool, dict[str, _Book]]] = {}
        self._by_venue: dict[str, dict[str, _Book]] = {}
        consumed = 0
        skip = None
        if not emit and speed is None and frame_loop() == "compiled":
            compiled_frames = _compiled_loop.frames

            def set_now(wall: int) -> None:
                self._now = wall

            def skip(data: bytes, pos: int, wall: int, mono: int) -> tuple[int, int, int]:
                nonlocal consumed
                pos, wall, mono, n = compiled_frames(
                    data, pos, wall, mono, routes, last_frame, silence, stop_ns, set_now
                )
                if n:
                    consumed += n
                    self._now = wall
                return pos, wall, mono

        #: True when the previous segment was not read to its end: the books restart
        #: from the next segment's starting states instead of being checked against them.
        self._rebase = False
        for path in self._segments(run):
            reader = SegmentReader(path, prefetch=self.prefetch, skip=skip)
            self._segment = path.name
            report.segments += 1
            record_no = -1
            consumed = 0
            for kind, wall, mono, conn, payload in reader:
                record_no += 1
                self._now = wall
                if stop_ns is not None and wall > stop_ns:
                    break
                if kind == "F" or kind == "B":
                    report.frames += 1
                    if speed is not None:
                        if pace_base is None:
                            pace_base = (mono, time.monotonic())
                        else:
                            due = pace_base[1] + (mono - pace_base[0]) / 1e9 / speed
                            delay = due - time.monotonic()
                            if delay > 0:
                                time.sleep(delay)
                    previous = last_frame.get(conn)  # type: ignore[arg-type]
                    if previous is not None and wall - previous > silence:
                        venue_name = conns[conn][0].value if conn in conns else "?"
                        report.gaps.append(
                            GapRow(previous, wall, venue_name, None, "silence", None)
                        )
                    last_frame[conn] = wall  # type: ignore[index]
                    try:
                        venue, parse, proto, vname = conns[conn]  # type: ignore[index]
                    except KeyError:
                        continue
                    try:
                        event = parse(payload, venue)
                    except MalformedEvent:
                        if proto is not None:
                            proto.receive(payload, 0.0)  # counted as the live protocol would
                        if emit and other_frames:
                            yield ReplayItem(wall, vname, None, payload, None)
                        continue
                    report.depth_events += 1
                    book = books.get((vname, event.symbol))
                    if book is None:
                        continue
                    book.report.events += 1
                    if sample is not None and emit and wall >= book.next_sample:
                        yield from self._samples(book, wall)
                    sync = book.sync
                    if sync.state is _LIVE:
                        # A LIVE book takes one decision per event, and returns it: the
                        # observer is left out of the call (the engine's fast path) and
                        # told afterwards of anything but an applied event.
                        observer = sync.observer
                        sync.observer = None
                        decision = sync.on_update(event)
                        sync.observer = observer
                        if decision is not _APPLIED and observer is not None:
                            observer(decision, sync, event)
                    else:
                        sync.on_update(event)
                    if emit and sample is None:
                        if windowed and not self._in_window(wall, event, start_ns, start_x):
                            continue
                        if stop_x is not None and (event.event_time or 0) > stop_x:
                            return
                        yield ReplayItem(wall, vname, event.symbol, event, book.sync)
                    continue
                self._record_no = record_no + consumed
                if report.start_ns is None:
                    report.start_ns = wall
                report.end_ns = wall
                if kind == "header":
                    for info in payload.get("conns") or ():
                        conns[info["c"]] = self._conn(info)
                        self._route(info["c"], conns, routes)
                elif kind == "conn":
                    self._on_conn(payload, conns, report)
                    self._route(payload["c"], conns, routes)
                elif kind == "book":
                    self._on_book(payload, books, wanted)
                elif kind == "snap":
                    book = books.get((payload["v"], payload["s"]))
                    snap = payload.get("snapshot")
                    if book is not None and snap is not None:
                        book.sync.on_snapshot(DepthSnapshot(**snap))
                elif kind == "d":
                    book = books.get((payload["v"], payload["s"]))
                    if book is not None:
                        self._on_decision(book, payload)
                elif kind == "cp":
                    book = books.get((payload["v"], payload["s"]))
                    if book is not None:
                        self._on_checkpoint(book, payload)
            report.records += record_no + 1 + consumed
            report.frames += consumed
            report.depth_events += consumed
            report.problems.extend(reader.problems)
            self._rebase = bool(reader.problems) or not reader.ended
            if stop_ns is not None and self._now > stop_ns:
                break
        for book in books.values():
            if self.verify and book.pending:
                d = book.pending[0]
                detail = f"replayed {d[0]} never recorded ({len(book.pending)} pending)"
                self._mismatch(book.key, "decision", detail)
        for key, book in books.items():
            report.books[key] = book.report
        self._finish_run(books)

    def _finish_run(self, books: dict[Key, _Book]) -> None:
        for book in books.values():
            self._sync_report(book)

    @staticmethod
    def _in_window(
        wall: int, event: DepthUpdate, start_ns: int | None, start_x: int | None
    ) -> bool:
        if start_ns is not None and wall < start_ns:
            return False
        return not (start_x is not None and (event.event_time or 0) < start_x)

    def _close_gap(self, book: _Book) -> None:
        self.report.gaps.append(
            GapRow(
                book.down_since,
                self._now,
                book.key[0],
                book.key[1],
                book.down_kind or "",
                book.down_reason,
            )
        )
        book.down_since = None

    def _conn(self, info: dict[str, Any]) -> tuple[Venue, FrameParser, Any, str]:
        from feeds.protocol import FeedProtocol

        venue = Venue(info["v"])
        dialect = info.get("dialect") or "wex"
        if dialect == "wex":
            return venue, parse_depth_update, FeedProtocol(venue), venue.value
        try:
            return venue, DIALECTS[dialect], None, venue.value
        except KeyError:
            if dialect.startswith("binance"):
                from . import importers  # noqa: F401  (registers the Binance dialects)

                return venue, DIALECTS[dialect], None, venue.value
            raise CaptureError(f"unknown frame dialect {dialect!r} in capture") from None

    def _route(
        self,
        index: int,
        conns: dict[int, tuple[Venue, FrameParser, Any, str]],
        routes: dict[int, tuple[bool, dict[str, _Book]]],
    ) -> None:
        """Route connection ``index`` for the compiled loop (WEX pushes only)."""
        if index not in conns:
            return
        venue, parse, _, vname = conns[index]
        if parse is parse_depth_update:
            routes[index] = (venue is Venue.SPOT, self._by_venue.setdefault(vname, {}))
        else:
            routes.pop(index, None)

    def _on_conn(
        self, payload: dict[str, Any], conns: dict[int, Any], report: ReplayReport
    ) -> None:
        index = payload["c"]
        state = payload["state"]
        if state == "new":
            conns[index] = self._conn(payload)
            return
        venue = conns[index][0].value if index in conns else "?"
        if state == "disconnected":
            self._down_conns = getattr(self, "_down_conns", {})
            self._down_conns[index] = (self._now, venue, payload)
        elif state == "connected":
            down = getattr(self, "_down_conns", {}).pop(index, None)
            if down is not None:
                since, venue, info = down
                reason = info.get("error") or (
                    f"close code {info.get('close_code')}" if info.get("close_code") else None
                )
                report.gaps.append(GapRow(since, self._now, venue, None, "disconnected", reason))

    def _on_book(
        self, record: dict[str, Any], books: dict[Key, _Book], wanted: set[Key] | None
    ) -> None:
        key = (record["v"], record["s"])
        if wanted is not None and key not in wanted:
            return
        book = books.get(key)
        if book is None or (self._rebase and record.get("start")):
            sync = _new_sync(Venue(key[0]), key[1], record.get("config") or {}, None)
            _restore(sync, record)
            if book is None:
                book = books[key] = _Book(key, sync, BookReport(*key))
                self._by_venue.setdefault(key[0], {})[key[1]] = book
            else:  # the segment before was cut short: start again from this one
                book.sync = sync
                book.pending.clear()
                book.down_since = None
            sync.observer = self._observer_for(book)
            if sync.state is not _LIVE and sync.state is not SyncState.SYNCING:
                book.down_since = self._now
                book.down_kind = "not-live-at-start"
                book.down_reason = sync.reason
            return
        if not self.verify:
            return
        sync = book.sync
        got = (sync.state.value, sync.update_id, sync.generation, counts_of(sync))
        want = (record["state"], record["update_id"], record["generation"], record["counts"])
        if got != want:
            self._mismatch(key, "segment start", f"recorded {want}, replayed {got}")
        elif record.get("hash") != book_hash(sync, self.hash_levels):
            self._mismatch(key, "segment start", "book levels differ (hash)")

    def _on_decision(self, book: _Book, record: dict[str, Any]) -> None:
        decision = Decision(record["d"])
        sync = book.sync
        report = book.report
        if decision in ACTIONS:
            self._executing = True
            try:
                reason = record.get("reason")
                if decision is Decision.FEED_DOWN:
                    sync.feed_down(reason)
                elif decision is Decision.RESYNC_REQUESTED:
                    sync.request_resync(reason)
                elif decision is Decision.MARKED_STALE:
                    sync.mark_stale(reason)
                else:
                    sync.close(reason)
            finally:
                self._executing = False
            if not self.verify:
                return
            report.decisions += 1
            got = (sync.state.value, sync.update_id, sync.generation)
            want = (record["state"], record["update_id"], record["generation"])
            if got == want:
                report.decisions_matched += 1
            else:
                self._mismatch(
                    book.key, "decision", f"{decision.value}: recorded {want}, replayed {got}"
                )
            return
        if not self.verify:
            return
        report.decisions += 1
        want = (
            record["d"],
            record["state"],
            record["update_id"],
            record["generation"],
            record.get("hash"),
        )
        if not book.pending:
            self._mismatch(book.key, "decision", f"recorded {want[0]} not replayed")
            return
        got = book.pending.popleft()
        if got == want or (want[4] is None and got[:4] == want[:4]):
            report.decisions_matched += 1
        else:
            self._mismatch(book.key, "decision", f"recorded {want}, replayed {got}")

    def _on_checkpoint(self, book: _Book, record: dict[str, Any]) -> None:
        if not self.verify:
            return
        report = book.report
        report.checkpoints += 1
        sync = book.sync
        if book.pending:
            d = book.pending[0]
            self._mismatch(
                book.key,
                "checkpoint",
                f"replayed decision {d[0]} (state {d[1]}, id {d[2]}) was not recorded before it",
            )
            book.pending.clear()
            return
        got = (sync.state.value, sync.update_id, sync.generation)
        want = (record["state"], record["update_id"], record["generation"])
        if got != want:
            self._mismatch(
                book.key, "checkpoint", f"recorded (state, id, generation) {want}, replayed {got}"
            )
            return
        counts = counts_of(sync)
        if counts != record["counts"]:
            diff = {
                k: (record["counts"].get(k, 0), counts.get(k, 0))
                for k in set(counts) | set(record["counts"])
                if counts.get(k, 0) != record["counts"].get(k, 0)
            }
            self._mismatch(book.key, "checkpoint", f"counters differ (recorded, replayed): {diff}")
            return
        want_hash = record.get("hash")
        if want_hash is not None and want_hash != book_hash(sync, self.hash_levels):
            self._mismatch(book.key, "checkpoint", f"top levels differ at update id {got[1]}")
            return
        report.checkpoints_matched += 1


def _key(item: str | Key) -> Key:
    if isinstance(item, tuple):
        return (Venue(item[0]).value, item[1])
    venue, sep, symbol = item.partition(":")
    if not sep:
        raise ValueError(f"a book is venue:symbol (spot:btc_usdt), not {item!r}")
    return (Venue(venue).value, symbol)


# -- the Python API -----------------------------------------------------------------------


def replay(capture: Any, **options: Any) -> ReplayReport:
    """Replay (and by default verify) the capture at ``capture`` (path, directory, glob,
    list of them, or runs from :func:`open_capture`); options as :class:`Replayer`."""
    runs = _runs(capture)
    return Replayer(**options).run(runs)


def _runs(capture: Any) -> list[Run]:
    if isinstance(capture, list) and capture and isinstance(capture[0], Run):
        return capture
    if isinstance(capture, Run):
        return [capture]
    return open_capture(capture)


def iter_events(
    capture: Any, *, other_frames: bool = False, **options: Any
) -> Iterator[ReplayItem]:
    """Every depth event of the capture as a :class:`ReplayItem`, all runs merged by receive
    time (ties: run order, then record order). ``other_frames`` also yields the raw frames
    of other topics (``event`` is then the frame's bytes, ``symbol`` None)."""
    options.setdefault("verify", False)
    runs = _runs(capture)
    if len(runs) == 1:
        yield from Replayer(**options).items(runs, other_frames=other_frames)
        return
    streams = [
        (
            (item.time_ns, i, n, item)
            for n, item in enumerate(Replayer(**options).items([run], other_frames=other_frames))
        )
        for i, run in enumerate(runs)
    ]
    for *_, item in heapq.merge(*streams):
        yield item


def iter_views(
    capture: Any, *, every_ms: float, levels: int | None = 20, **options: Any
) -> Iterator[tuple[int, str, str, BookView]]:
    """Every book sampled every ``every_ms`` of receive time: ``(time_ns, venue, symbol,
    view)``, where ``view`` is the book as of that time (after every event received
    before it; a sample is produced when the next event after it arrives). Views of
    books that are not live carry their state (``allow_stale``). One run at a time."""
    step = int(every_ms * 1e6)
    if step <= 0:
        raise ValueError("every_ms must be > 0")
    options.setdefault("verify", False)
    for run in _runs(capture):
        replayer = Replayer(**options)
        replayer.sample_ns = step
        replayer.sample_levels = levels
        for item in replayer.items([run]):
            yield item.time_ns, item.venue, item.symbol, item.event  # type: ignore[misc]


def counts_by_book(report: ReplayReport) -> dict[str, Counter[str]]:
    """The replayed decision counters of every book, keyed ``venue:symbol``."""
    return {f"{v}:{s}": Counter(b.counts) for (v, s), b in report.books.items()}
