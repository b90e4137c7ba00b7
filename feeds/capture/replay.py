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

A replay that could not check something fails too (:attr:`ReplayReport.unchecked`, one
line each, and ``ok`` false): a run with no book, or (verifying) no checkpoint compared;
depth events of a book the run never had; a book that never applied an event; a book
with no checkpoint in a segment long enough to have one; a missing first or middle
segment (a header's previous segment that is not the one before it); a segment cut short
before the next one; records of a connection that does not exist; a record that cannot
be used (a field missing or of the wrong type, an unknown decision or venue: a
:class:`BadRecord` with its segment and record number, skipped, the rest replayed); and
anything the reader could not read, except a truncated tail of a run's last segment,
which is what a ``kill -9`` leaves (reported, tolerated).

Runs (recording processes) are replayed independently, one after the other, and each
run's segments in order. :func:`iter_events` merges runs by receive time; ties are
broken by the run's position in :func:`~feeds.capture.reader.open_capture`'s order
(run name), then by record order within the run.

The stages, one module each: :mod:`~feeds.capture.reports` (what a replay reports),
:mod:`~feeds.capture.records` (what a record must hold), :mod:`~feeds.capture.dialects`
(a connection's frames to events), :mod:`~feeds.capture.restore` (a book from a ``book``
record), :mod:`~feeds.capture.seek` (the segment a window starts from), this module (the
loop, and the functions :func:`replay`, :func:`iter_events`, :func:`iter_views`),
:mod:`~feeds.capture.verify` (the comparisons, and what could not be checked) and
:mod:`~feeds.capture.audit` (the gap audit). The names of the report types are importable
from here too.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from orderbook import (
    BookSync,
    BookView,
    Decision,
    DepthSnapshot,
    DepthUpdate,
    MalformedEvent,
    SyncState,
    Venue,
    accel,
    parse_depth_update,
)

from .audit import LEAVES, GapAudit
from .dialects import DIALECTS, Connection, FrameParser, connection_of
from .format import ACTIONS, HASH_LEVELS, PER_EVENT, counts_of, hash_levels_of
from .reader import CaptureError, Problem, Run, SegmentReader, open_capture
from .records import record_error
from .reports import (
    BadRecord,
    BookReport,
    GapRow,
    Key,
    Mismatch,
    Position,
    ReplayItem,
    ReplayReport,
    RunReport,
    counts_by_book,
    iso_time,
    merged_book_reports,
)
from .restore import ReplayBook, sync_from_record
from .seek import segments_from
from .verify import Verifier

try:  # the compiled frame loop (built with orderbook's accelerator)
    from ._replayloop import frames as _compiled_frames  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - a pure install
    _compiled_frames = None

__all__ = [
    "DIALECTS",
    "BadRecord",
    "BookReport",
    "FrameParser",
    "GapRow",
    "Key",
    "Mismatch",
    "ReplayItem",
    "ReplayReport",
    "Replayer",
    "RunReport",
    "counts_by_book",
    "frame_loop",
    "iter_events",
    "iter_views",
    "note_unlisted",
    "replay",
    "runs_of",
]

_LIVE = SyncState.LIVE
#: A time after every capture (no sample due).
_NEVER = 1 << 63
_APPLIED = Decision.APPLIED


def frame_loop() -> str:
    """``"compiled"`` or ``"python"``: the frame loop a verifying or counting replay runs now."""
    return "compiled" if _compiled_frames is not None and accel.active() == "compiled" else "python"


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

    A window whose start is not before its stop is refused (``ValueError``); one that
    holds nothing of the capture is a failure of the report (:attr:`ReplayReport.unchecked`).
    A replay stops at its window's end, by receive time or by exchange time, in every mode.
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
        hash_levels: int | None = HASH_LEVELS,
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
        self.audit_silence_ns = int(audit_silence * 1e9)
        self.max_mismatches = max_mismatches
        self.prefetch = prefetch
        self.seek_margin = seek_margin
        #: Sampling period (ns) of :meth:`items` (views instead of events), or None.
        self.sample_ns: int | None = None
        self.sample_levels: int | None = 20
        #: False: sampled items carry no view (``event`` None): read ``item.sync`` at once.
        self.sample_views = True
        self.report = ReplayReport(verified=verify, window=self._window_text())
        #: The record being replayed (what mismatches, bad records and gap rows are at).
        self.position = Position()
        #: The comparisons, and what could not be checked (:mod:`feeds.capture.verify`).
        self.verifier = Verifier(
            self.report,
            self.position,
            verify=verify,
            hash_levels=hash_levels,
            max_mismatches=max_mismatches,
        )
        #: The gap audit (:mod:`feeds.capture.audit`).
        self.audit = GapAudit(self.report.gaps, self.position)
        #: The books of the run being replayed (the last one, after a replay), by key.
        self.books: dict[Key, ReplayBook] = {}
        #: Depth events inside an exchange-time window (what it held of the capture).
        self._window_events = 0
        self._stopped = False
        self._several = False
        #: The report of the run being replayed (None between runs).
        self._current: RunReport | None = None

    @property
    def hash_levels(self) -> int | None:
        """The levels the recorded hashes cover (each segment's header says)."""
        return self.verifier.hash_levels

    @hash_levels.setter
    def hash_levels(self, levels: int | None) -> None:
        self.verifier.hash_levels = levels

    def _window_text(self) -> str | None:
        parts = []
        for start, stop, what, scale in (
            (self.start_ns, self.stop_ns, "receive time", 1),
            (self.start_exchange_ms, self.stop_exchange_ms, "exchange time", 1_000_000),
        ):
            if start is not None and stop is not None and start >= stop:
                raise ValueError(
                    f"empty window: its start ({iso_time(int(start * scale))}) is not before "
                    f"its stop ({iso_time(int(stop * scale))})"
                )
            if start is None and stop is None:
                continue
            begin = "the capture's start" if start is None else iso_time(int(start * scale))
            end = "the capture's end" if stop is None else iso_time(int(stop * scale))
            parts.append(f"window ({what}): from {begin} to {end}")
        return "; ".join(parts) or None

    # -- per-book observer and samples ---------------------------------------------------

    def _observer_for(self, book: ReplayBook) -> Callable[[Decision, BookSync, object], None]:
        audit = self.audit
        replayed = self.verifier.replayed
        verify = self.verify

        def observer(decision: Decision, sync: BookSync, payload: object) -> None:
            if decision is _APPLIED:
                if book.down_since is not None and sync.state is _LIVE:
                    audit.back(book)
                return
            if decision in LEAVES and book.down_since is None:
                audit.left(book, decision, sync, payload)
            elif decision is Decision.SNAPSHOT_ACCEPTED and book.down_since is not None:
                audit.back(book)
            if decision in PER_EVENT or self._executing or not verify:
                return
            replayed(book, decision, sync)

        return observer

    def _flush_samples(self, books: dict[Key, ReplayBook], until: int) -> Iterator[ReplayItem]:
        """The samples due before ``until`` (the receive time of the next record, not yet
        replayed), in time order: each book as of the last record at or before the
        sample's time, in its state then (never a later record's)."""
        step = self.sample_ns
        assert step is not None
        every = list(books.values())
        if not every:
            self._next_due = _NEVER
            return
        start, stop = self.start_ns, self.stop_ns
        if start is not None:
            first = -(-start // step) * step
            for book in every:
                book.next_sample = max(book.next_sample, first)
        due = min(book.next_sample for book in every)
        views: dict[Key, Any] = {}
        while due < until:
            if stop is not None and due > stop:
                for book in every:
                    book.next_sample = _NEVER
                break
            for book in every:
                if book.next_sample == due:
                    view = None
                    if self.sample_views:
                        view = views.get(book.key)
                        if view is None:
                            view = book.sync.view(self.sample_levels, allow_stale=True)
                            views[book.key] = view
                    yield ReplayItem(due, book.key[0], book.key[1], view, book.sync)
                    book.next_sample = due + step
            due += step
        self._next_due = min(book.next_sample for book in every)

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
        self._several = len(runs) > 1
        completed = False
        try:
            for run in runs:
                self.report.runs += 1
                yield from self._run(run, emit, other_frames)
            completed = True
        finally:
            self.report.seconds += time.perf_counter() - started
            self._finish(completed)

    def _finish(self, completed: bool) -> None:
        run = self._current
        if run is not None:  # interrupted in the middle of a run: what it did so far
            self._end_run(run, self.books)
        report = self.report
        self.verifier.judge_bad_records()
        if completed:
            self.verifier.judge_window(
                self.start_ns,
                self.stop_ns,
                self.start_exchange_ms,
                self.stop_exchange_ms,
                self._window_events,
            )
            if not report.run_reports:
                report.unchecked.append("nothing replayed: no run")
        report.gaps.sort(key=lambda g: (g.start_ns, g.venue, g.symbol or ""))

    def _sync_report(self, book: ReplayBook) -> None:
        sync, r = book.sync, book.report
        r.state, r.update_id, r.generation = sync.state.value, sync.update_id, sync.generation
        r.counts = counts_of(sync)
        r.applied = book.applied_before + sync.counts.get(_APPLIED, 0) - book.applied_base

    def _end_run(self, run: RunReport, books: dict[Key, ReplayBook]) -> None:
        """The run's figures into the report, its open spans as open gap rows, and what
        it could not check."""
        self._current = None
        report = self.report
        for book in books.values():
            self._sync_report(book)
            self.audit.still_down(book)
            run.books[book.key] = book.report
        for key in [k for k in run.unmatched if k in run.books]:
            run.early[key] = run.unmatched.pop(key)  # before the book was added: not a failure
        report.run_reports.append(run)
        for key, b in run.books.items():
            have = report.books.get(key)
            report.books[key] = b if have is None else merged_book_reports(have, b)
        self.verifier.judge_run(run, self._stopped)

    def _run(self, run: Run, emit: bool, other_frames: bool) -> Iterator[ReplayItem]:
        report = self.report
        books: dict[Key, ReplayBook] = {}
        self.books = books
        verifier, audit, position = self.verifier, self.audit, self.position
        verifier.prefix = f"run {run.run}: " if self._several else ""
        current = self._current = RunReport(run.run)
        conns: dict[int, Connection] = {}
        wanted = self.symbols
        start_ns, stop_ns = self.start_ns, self.stop_ns
        start_x, stop_x = self.start_exchange_ms, self.stop_exchange_ms
        windowed = start_ns is not None or start_x is not None
        speed = self.speed
        pace_base: tuple[int, float] | None = None
        silence = self.audit_silence_ns
        last_frame: dict[int, int] = {}
        self._executing = False
        position.now = 0
        audit.new_run()
        unmatched = current.unmatched

        sample = self.sample_ns
        sampling = sample is not None and emit
        self._next_due = _NEVER
        # When nothing is emitted per event (a verifying or counting run) at full speed,
        # the compiled loop (feeds/capture/_replayloop.pyx) consumes the runs of hot frame
        # records itself, each applied from its bytes; the loop below is its reference and
        # takes every record it leaves. (Not with an exchange-time window: the loop below
        # reads the events' exchange times.)
        #: conn -> (spot, symbol -> book) for the compiled loop; by_venue: the books by venue.
        routes: dict[int, tuple[bool, dict[str, ReplayBook]]] = {}
        self._by_venue: dict[str, dict[str, ReplayBook]] = {}
        consumed = 0
        skip = None
        if (
            not emit
            and speed is None
            and start_x is None
            and stop_x is None
            and frame_loop() == "compiled"
        ):
            compiled_frames = _compiled_frames

            def set_now(wall: int) -> None:
                position.now = wall

            def skip(data: bytes, pos: int, wall: int, mono: int) -> tuple[int, int, int, int]:
                nonlocal consumed
                pos, wall, mono, n = compiled_frames(
                    data, pos, wall, mono, routes, last_frame, silence, stop_ns, set_now
                )
                if n:
                    consumed += n
                    position.now = wall
                return pos, wall, mono, n  # n: records consumed (the reader numbers the rest)

        #: True when the previous segment was not read to its end: the books restart
        #: from the next segment's starting states instead of being checked against them.
        self._rebase = False
        self._stopped = False
        segments = segments_from(
            run,
            start_ns=self.start_ns,
            start_exchange_ms=self.start_exchange_ms,
            seek_margin=self.seek_margin,
        )
        before: Path | None = None
        for path in segments:
            reader = SegmentReader(path, prefetch=self.prefetch, skip=skip)
            position.segment = path.name
            position.segment_path = str(path)
            verifier.cp_within = int(3e9)
            report.segments += 1
            current.segments += 1
            record_no = -1
            consumed = 0
            seg_since: dict[Key, int] = {}
            seg_cps: set[Key] = set()
            seg_first: int | None = None
            for kind, wall, mono, conn, payload in reader:
                record_no += 1
                if sampling and wall > self._next_due:
                    yield from self._flush_samples(books, wall)
                position.now = wall
                if stop_ns is not None and wall > stop_ns:
                    self._stopped = True
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
                        audit.silence(previous, wall, venue_name)
                    last_frame[conn] = wall  # type: ignore[index]
                    try:
                        venue, parse, proto, vname = conns[conn]  # type: ignore[index]
                    except KeyError:
                        current.unknown_conn += 1
                        continue
                    try:
                        event = parse(payload, venue)
                    except MalformedEvent:
                        if proto is not None:
                            proto.receive(payload, 0.0)  # counted as the live protocol would
                        if emit and other_frames:
                            yield ReplayItem(wall, vname, None, payload, None)
                        continue
                    if stop_x is not None and (event.event_time or 0) > stop_x:
                        self._stopped = True  # past the window's end (exchange time)
                        break
                    report.depth_events += 1
                    in_window = not windowed or self._in_window(wall, event, start_ns, start_x)
                    if in_window and (start_x is not None or stop_x is not None):
                        self._window_events += 1
                    key = (vname, event.symbol)
                    book = books.get(key)
                    if book is None:
                        if wanted is None or key in wanted:
                            unmatched[key] = unmatched.get(key, 0) + 1
                        continue
                    book.report.events += 1
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
                    if emit and sample is None and in_window:
                        yield ReplayItem(wall, vname, event.symbol, event, book.sync)
                    continue
                position.record = record_no + consumed
                if report.start_ns is None:
                    report.start_ns = wall
                if report.end_ns is None or wall > report.end_ns:
                    report.end_ns = wall
                if seg_first is None:
                    seg_first = wall
                error = record_error(kind, payload)
                if error is not None:
                    verifier.bad(kind, error)
                    continue
                try:
                    if kind == "header":
                        self.hash_levels = hash_levels_of(payload)  # what its hashes cover
                        verifier.check_header(payload, path, before)
                        for info in payload.get("conns") or ():
                            self._new_conn(info, conns, routes)
                        for key in books:
                            seg_since.setdefault(key, wall)
                    elif kind == "conn":
                        self._on_conn(payload, conns, routes, current)
                    elif kind == "book":
                        key = (payload["v"], payload["s"])
                        made = self._on_book(payload, books, wanted)
                        if made is not None:
                            seg_since.setdefault(key, wall)
                            if sampling and made == "new":
                                first = -(-wall // sample) * sample  # type: ignore[operator]
                                books[key].next_sample = first
                                self._next_due = min(self._next_due, first)
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
                        key = (payload["v"], payload["s"])
                        book = books.get(key)
                        if book is not None:
                            seg_cps.add(key)
                            verifier.checkpoint(book, payload)
                except (CaptureError, KeyError, TypeError, ValueError, IndexError) as exc:
                    verifier.bad(kind, f"cannot be replayed: {type(exc).__name__}: {exc}")
            report.records += record_no + 1 + consumed
            report.frames += consumed
            report.depth_events += consumed
            if position.now and (report.end_ns is None or position.now > report.end_ns):
                report.end_ns = position.now
            verifier.judge_segment(reader, path, run, seg_since, seg_cps, books, self._stopped)
            self._rebase = bool(reader.problems) or not reader.ended
            before = path
            if self._stopped:
                break
        if sampling:
            end = min(position.now, stop_ns) if stop_ns is not None else position.now
            yield from self._flush_samples(books, end + 1)
        if not self._stopped:
            verifier.pending_left(books.values())
        self._end_run(current, books)

    @staticmethod
    def _in_window(
        wall: int, event: DepthUpdate, start_ns: int | None, start_x: int | None
    ) -> bool:
        if start_ns is not None and wall < start_ns:
            return False
        return not (start_x is not None and (event.event_time or 0) < start_x)

    def _route(
        self,
        index: int,
        conns: dict[int, Connection],
        routes: dict[int, tuple[bool, dict[str, ReplayBook]]],
    ) -> None:
        """Route connection ``index`` for the compiled loop (WEX pushes only)."""
        if index not in conns:
            return
        venue, parse, _, vname = conns[index]
        if parse is parse_depth_update:
            routes[index] = (venue is Venue.SPOT, self._by_venue.setdefault(vname, {}))
        else:
            routes.pop(index, None)

    def _new_conn(
        self,
        info: dict[str, Any],
        conns: dict[int, Connection],
        routes: dict[int, tuple[bool, dict[str, ReplayBook]]],
    ) -> None:
        conns[info["c"]] = connection_of(info)
        self._route(info["c"], conns, routes)

    def _on_conn(
        self,
        payload: dict[str, Any],
        conns: dict[int, Connection],
        routes: dict[int, tuple[bool, dict[str, ReplayBook]]],
        run: RunReport,
    ) -> None:
        index = payload["c"]
        state = payload["state"]
        if state == "new":
            self._new_conn(payload, conns, routes)
            return
        if index not in conns:
            run.unknown_conn += 1
            return
        if state == "disconnected":
            self.audit.conn_down(index, conns[index].name, payload)
        elif state == "connected":
            self.audit.conn_up(index)

    def _on_book(
        self, record: dict[str, Any], books: dict[Key, ReplayBook], wanted: set[Key] | None
    ) -> str | None:
        """Take a ``book`` record: ``"new"`` (a book of the replay from now on), ``"known"``
        (a book it has), or None (a book left out by ``symbols``)."""
        key = (record["v"], record["s"])
        if wanted is not None and key not in wanted:
            return None
        book = books.get(key)
        if book is None or (self._rebase and record.get("start")):
            sync = sync_from_record(record)  # a new sync: a bad record changes nothing
            if book is None:
                book = books[key] = ReplayBook(key, sync, BookReport(*key))
                self._by_venue.setdefault(key[0], {})[key[1]] = book
                made = "new"
            else:  # the segment before was cut short: start again from this one
                book.applied_before += book.sync.counts.get(_APPLIED, 0) - book.applied_base
                book.sync = sync
                book.pending.clear()
                book.down_since = None
                made = "known"
            book.applied_base = sync.counts.get(_APPLIED, 0)
            sync.observer = self._observer_for(book)
            if sync.state is not _LIVE and sync.state is not SyncState.SYNCING:
                self.audit.not_live_at_start(book)
            return made
        self.verifier.segment_start(book, record)
        return "known"

    def _on_decision(self, book: ReplayBook, record: dict[str, Any]) -> None:
        """A recorded decision: an owner's action is performed (then compared), any other
        is compared with the replayed book's next one."""
        decision = Decision(record["d"])
        if decision not in ACTIONS:
            self.verifier.decision(book, record)
            return
        sync = book.sync
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
        self.verifier.action(book, decision, record)


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
    problems: list[Problem] = []
    runs = runs_of(capture, problems)
    report = Replayer(**options).run(runs)
    note_unlisted(report, problems)
    return report


def runs_of(capture: Any, problems: list[Problem] | None = None) -> list[Run]:
    """The runs of ``capture``: runs as given (a :class:`~feeds.capture.reader.Run` or a
    list of them), else :func:`~feeds.capture.reader.open_capture` of it (what it could
    not list goes into ``problems``)."""
    if isinstance(capture, list) and capture and isinstance(capture[0], Run):
        return capture
    if isinstance(capture, Run):
        return [capture]
    return open_capture(capture, problems=problems)


def note_unlisted(report: ReplayReport, problems: list[Problem]) -> None:
    """Add to ``report`` what :func:`~feeds.capture.reader.open_capture` could not list
    (an unreadable folder: its runs were not replayed, a failure)."""
    for problem in problems:
        report.problems.append(problem)
        report.unchecked.append(f"not replayed: {problem}")


def iter_events(
    capture: Any, *, other_frames: bool = False, **options: Any
) -> Iterator[ReplayItem]:
    """Every depth event of the capture as a :class:`ReplayItem`, all runs merged by receive
    time (ties: run order, then record order). ``other_frames`` also yields the raw frames
    of other topics (``event`` is then the frame's bytes, ``symbol`` None)."""
    options.setdefault("verify", False)
    runs = runs_of(capture)
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
    view)``, where ``view`` is the book as of that time: after every record received at
    or before it, and nothing later (no look-ahead: a snapshot accepted after the sample's
    time is not in it), in its state then (views of books that are not live carry their
    state, ``allow_stale``). A book is sampled from its first grid time at or after it was
    added to the end of its run. One run at a time."""
    step = int(every_ms * 1e6)
    if step <= 0:
        raise ValueError("every_ms must be > 0")
    options.setdefault("verify", False)
    for run in runs_of(capture):
        replayer = Replayer(**options)
        replayer.sample_ns = step
        replayer.sample_levels = levels
        for item in replayer.items([run]):
            yield item.time_ns, item.venue, item.symbol, item.event  # type: ignore[misc]
