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

from .dialects import DIALECTS as DIALECTS
from .dialects import FrameParser, connection_of
from .format import (
    ACTIONS,
    HASH_LEVELS,
    PER_EVENT,
    book_hash,
    counts_of,
    event_from_record,
    hash_levels_of,
)
from .reader import CaptureError, Problem, Run, SegmentReader, open_capture

try:  # the compiled frame loop (built with orderbook's accelerator)
    from . import _replayloop as _compiled_loop  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - a pure install
    _compiled_loop = None

_LIVE = SyncState.LIVE
#: A time after every capture (no sample due).
_NEVER = 1 << 63
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


def frame_loop() -> str:
    """``"compiled"`` or ``"python"``: the frame loop a verifying or counting replay runs now."""
    return "compiled" if _compiled_loop is not None and accel.active() == "compiled" else "python"


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


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that could not be used: skipped, counted; the replay goes on after it."""

    segment: str  #: the segment file
    record: int  #: record number in the segment (0: the header)
    kind: str  #: the record's kind (``"k"``), ``F`` for a frame
    detail: str
    offset: int | None = None  #: byte offset in the file, where the reader gives it

    def __str__(self) -> str:
        at = f" (byte {self.offset})" if self.offset is not None else ""
        return f"{self.segment} record {self.record}{at}: {self.kind} record: {self.detail}"


@dataclass(slots=True)
class BookReport:
    """What replay did with one book."""

    venue: str
    symbol: str
    events: int = 0
    #: Events this replay applied (its counters less those it started from).
    applied: int = 0
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
class RunReport:
    """What replay did with one run (one recording process)."""

    run: str
    segments: int = 0
    books: dict[Key, BookReport] = field(default_factory=dict)
    #: Depth events of books the run never had, by book.
    unmatched: dict[Key, int] = field(default_factory=dict)
    #: Depth events that came before their book was added (not a failure).
    early: dict[Key, int] = field(default_factory=dict)
    #: Records naming a connection that does not exist.
    unknown_conn: int = 0


@dataclass(slots=True)
class ReplayReport:
    """The outcome of a replay.

    ``books`` holds every book of every run (a book in several runs: its figures summed,
    its final state the last run's); ``run_reports`` the same run by run.
    """

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
    run_reports: list[RunReport] = field(default_factory=list)
    #: What could not be checked: one line each; any makes ``ok`` false.
    unchecked: list[str] = field(default_factory=list)
    #: Said, not failed on (a truncated tail at the end of a run).
    warnings: list[str] = field(default_factory=list)
    bad_records: list[BadRecord] = field(default_factory=list)
    bad_record_count: int = 0
    #: The time window applied, for people (None: the whole capture).
    window: str | None = None

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
        """No mismatch, and nothing that could not be checked (see :attr:`unchecked`)."""
        return self.mismatch_count == 0 and not self.unchecked

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
        if self.window is not None:
            lines.append(self.window)
        several = len(self.run_reports) > 1
        for run in self.run_reports if several else ():
            lines.append(f"  run {run.run}: {run.segments} segment(s), {len(run.books)} book(s)")
            lines.extend(self._book_lines(run.books, "    "))
        if not several:
            lines.extend(self._book_lines(self.books, "  "))
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
        for bad in self.bad_records:
            lines.append(f"bad record: {bad}")
        if self.bad_record_count > len(self.bad_records):
            lines.append(f"bad record: ... {self.bad_record_count - len(self.bad_records)} more")
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.extend(f"unchecked: {u}" for u in self.unchecked)
        return "\n".join(lines)

    def _book_lines(self, books: dict[Key, BookReport], indent: str) -> list[str]:
        lines = []
        for (venue, symbol), b in sorted(books.items()):
            checked = (
                f"checkpoints {b.checkpoints_matched}/{b.checkpoints}, "
                f"decisions {b.decisions_matched}/{b.decisions}, "
                if self.verified
                else ""
            )
            lines.append(
                f"{indent}{venue}:{symbol}: {b.events} events, {b.counts.get('applied', 0)} "
                f"applied, gaps {b.gaps}, resyncs {b.resyncs}, {checked}"
                f"final {b.state} at {b.update_id} (generation {b.generation})"
            )
        return lines


class ReplayItem(NamedTuple):
    """One event of a replay, with the book right after it (read it at once: it moves on)."""

    time_ns: int  #: local receive time
    venue: str
    symbol: str | None
    #: The parsed event, the raw frame of another topic, or a sampled view.
    event: DepthUpdate | bytes | BookView
    sync: BookSync | None


# -- what a record must hold to be used (anything else is a BadRecord) ----------------------

_VENUES = frozenset(v.value for v in Venue)
_STATES = frozenset(s.value for s in SyncState)
_DECISIONS = frozenset(d.value for d in Decision)


def _int(value: object) -> bool:
    return type(value) is int


def _opt_int(value: object) -> bool:
    return value is None or type(value) is int


def _str(value: object) -> bool:
    return type(value) is str


def _opt_str(value: object) -> bool:
    return value is None or type(value) is str


def _venue(value: object) -> bool:
    return value in _VENUES


def _state(value: object) -> bool:
    return value in _STATES


def _decision(value: object) -> bool:
    return value in _DECISIONS


def _counts(value: object) -> bool:
    return type(value) is dict and all(k in _DECISIONS and type(n) is int for k, n in value.items())


def _side(value: object) -> bool:
    return type(value) is list and all(
        type(level) is list and len(level) == 2 and all(type(x) is str for x in level)
        for level in value
    )


def _levels(value: object) -> bool:
    return value is None or (
        type(value) is dict and _side(value.get("bids")) and _side(value.get("asks"))
    )


def _buffer(value: object) -> bool:
    return value is None or (
        type(value) is list
        and all(
            type(e) is list
            and len(e) == 7
            and _str(e[0])
            and _int(e[1])
            and _int(e[2])
            and _opt_int(e[3])
            and _side(e[4])
            and _side(e[5])
            and _opt_int(e[6])
            for e in value
        )
    )


def _snapshot(value: object) -> bool:
    return value is None or (
        type(value) is dict
        and set(value) <= set(DepthSnapshot._fields)
        and _str(value.get("symbol"))
        and _int(value.get("last_id"))
        and _side(value.get("bids"))
        and _side(value.get("asks"))
        and _opt_int(value.get("timestamp"))
        and _opt_int(value.get("depth"))
    )


def _conn_info(value: object) -> bool:
    return (
        type(value) is dict
        and _int(value.get("c"))
        and _venue(value.get("v"))
        and _opt_str(value.get("dialect"))
    )


def _conns(value: object) -> bool:
    return value is None or (type(value) is list and all(_conn_info(c) for c in value))


def _opt_dict(value: object) -> bool:
    return value is None or type(value) is dict


Check = Callable[[object], bool]
_BOOK_FIELDS: tuple[tuple[str, Check, str, bool], ...] = (
    ("v", _venue, "a venue (spot, futures)", True),
    ("s", _str, "a symbol", True),
)
#: Per kind: (field, check, what it must be, required).
_FIELDS: dict[str, tuple[tuple[str, Check, str, bool], ...]] = {
    "header": (("conns", _conns, "a list of connections (c, v)", False),),
    "conn": (
        ("c", _int, "a connection index", True),
        ("state", _str, "a text (new, connected, disconnected)", True),
    ),
    "book": (
        *_BOOK_FIELDS,
        ("state", _state, "a book state", True),
        ("update_id", _opt_int, "an update id or null", True),
        ("generation", _opt_int, "a whole number", False),
        ("counts", _counts, "decision counters", True),
        ("levels", _levels, "levels (bids, asks: [price, qty] texts) or null", False),
        ("buffer", _buffer, "a list of buffered events", False),
        ("hash", _opt_str, "a hash or null", False),
        ("reason", _opt_str, "a text or null", False),
        ("snapshot_depth", _opt_int, "a whole number or null", False),
        ("unapplied", _opt_int, "a whole number", False),
        ("config", _opt_dict, "an object", False),
    ),
    "snap": (
        *_BOOK_FIELDS,
        ("snapshot", _snapshot, "a snapshot (symbol, last_id, bids, asks) or null", False),
    ),
    "d": (
        *_BOOK_FIELDS,
        ("d", _decision, "a known decision", True),
        ("state", _state, "a book state", True),
        ("update_id", _opt_int, "an update id or null", True),
        ("generation", _int, "a whole number", True),
        ("hash", _opt_str, "a hash or null", False),
        ("reason", _opt_str, "a text or null", False),
    ),
    "cp": (
        *_BOOK_FIELDS,
        ("state", _state, "a book state", True),
        ("update_id", _opt_int, "an update id or null", True),
        ("generation", _int, "a whole number", True),
        ("counts", _counts, "decision counters", True),
        ("hash", _opt_str, "a hash or null", False),
    ),
}


def _record_error(kind: str, record: dict[str, Any]) -> str | None:
    """Why ``record`` (of ``kind``) cannot be used, or None."""
    for name, check, what, required in _FIELDS.get(kind, ()):
        if name not in record:
            if required:
                return f"no {name!r}"
            continue
        if not check(record[name]):
            return f"{name!r} must be {what}, not {_short(record[name])}"
    if kind == "conn" and record["state"] == "new" and not _conn_info(record):
        return "a new connection needs 'c' and 'v' (a venue: spot, futures)"
    if kind == "cp" and record["state"] == "live" and record.get("hash") is None:
        return "a LIVE book's checkpoint without its hash (nothing to compare)"
    return None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
    #: The sync's applied counter when this replay took it over (restored or rebased).
    applied_base: int = 0
    #: Events applied by the syncs this book had before a rebase.
    applied_before: int = 0


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
    """Put ``sync`` where the recorded ``book`` state says (a segment replayed on its own),
    through :meth:`BookSync.restore`, so the next event is judged exactly as it was live."""
    levels = record.get("levels")
    book = None
    if levels is not None:
        book = OrderBook.from_levels(levels["bids"], levels["asks"], sync.codec)
    buffer = [event_from_record(e) for e in record.get("buffer") or ()]
    sync.restore({**record, "buffer": buffer}, book)


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
        self.report = ReplayReport(verified=verify, window=self._window_text())
        #: Depth events inside an exchange-time window (what it held of the capture).
        self._window_events = 0
        self._stopped = False

    def _window_text(self) -> str | None:
        parts = []
        for start, stop, what, scale in (
            (self.start_ns, self.stop_ns, "receive time", 1),
            (self.start_exchange_ms, self.stop_exchange_ms, "exchange time", 1_000_000),
        ):
            if start is not None and stop is not None and start >= stop:
                raise ValueError(
                    f"empty window: its start ({_iso(int(start * scale))}) is not before its "
                    f"stop ({_iso(int(stop * scale))})"
                )
            if start is None and stop is None:
                continue
            begin = "the capture's start" if start is None else _iso(int(start * scale))
            end = "the capture's end" if stop is None else _iso(int(stop * scale))
            parts.append(f"window ({what}): from {begin} to {end}")
        return "; ".join(parts) or None

    # -- per-book observer and samples ---------------------------------------------------

    def _observer_for(self, book: _Book) -> Callable[[Decision, BookSync, object], None]:
        pending = book.pending
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
                    book_hash(sync, self.hash_levels) if live else None,  # the segment's
                )
            )

        return observer

    def _flush_samples(self, books: dict[Key, _Book], until: int) -> Iterator[ReplayItem]:
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

    # -- mismatches and what could not be checked ------------------------------------

    def _mismatch(self, key: Key, what: str, detail: str) -> None:
        self.report.mismatch_count += 1
        if len(self.report.mismatches) < self.max_mismatches:
            self.report.mismatches.append(
                Mismatch(self._segment, self._record_no, self._now, key[0], key[1], what, detail)
            )

    def _bad(self, kind: str, detail: str) -> None:
        """The record being replayed cannot be used: counted, skipped."""
        report = self.report
        report.bad_record_count += 1
        if len(report.bad_records) < self.max_mismatches:
            report.bad_records.append(BadRecord(self._segment_path, self._record_no, kind, detail))

    def _unchecked(self, text: str) -> None:
        prefix = f"run {self._run_name}: " if self._several else ""
        self.report.unchecked.append(prefix + text)

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
        run = getattr(self, "_current", None)
        if run is not None:  # interrupted in the middle of a run: what it did so far
            self._end_run(run, self._books)
        report = self.report
        if report.bad_record_count:
            report.unchecked.append(
                f"{report.bad_record_count:,} record(s) could not be used (bad record: above)"
            )
        if completed:
            self._check_window()
            if not report.run_reports:
                report.unchecked.append("nothing replayed: no run")
        report.gaps.sort(key=lambda g: (g.start_ns, g.venue, g.symbol or ""))

    def _check_window(self) -> None:
        """A window that held nothing of the capture is said, and fails."""
        report = self.report
        first, last = report.start_ns, report.end_ns
        span = (
            f"the capture spans {_iso(first)} to {_iso(last)}"
            if first is not None and last is not None
            else "nothing of the capture was read"
        )
        if self.start_ns is not None or self.stop_ns is not None:
            outside = (
                first is None
                or last is None
                or (self.start_ns is not None and self.start_ns > last)
                or (self.stop_ns is not None and self.stop_ns < first)
            )
            if outside:
                report.unchecked.append(f"nothing in the window (receive time): {span}")
        if (
            self.start_exchange_ms is not None or self.stop_exchange_ms is not None
        ) and not self._window_events:
            report.unchecked.append(
                f"nothing in the window (exchange time): no depth event with an exchange "
                f"time in it; {span}"
            )

    def _sync_report(self, book: _Book) -> None:
        sync, r = book.sync, book.report
        r.state, r.update_id, r.generation = sync.state.value, sync.update_id, sync.generation
        r.counts = counts_of(sync)
        r.applied = book.applied_before + sync.counts.get(_APPLIED, 0) - book.applied_base

    def _end_run(self, run: RunReport, books: dict[Key, _Book]) -> None:
        """The run's figures into the report, its open spans as open gap rows, and what
        it could not check."""
        self._current = None
        report = self.report
        for book in books.values():
            self._sync_report(book)
            if book.down_since is not None:
                report.gaps.append(
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
            run.books[book.key] = book.report
        for key in [k for k in run.unmatched if k in run.books]:
            run.early[key] = run.unmatched.pop(key)  # before the book was added: not a failure
        report.run_reports.append(run)
        for key, b in run.books.items():
            have = report.books.get(key)
            report.books[key] = b if have is None else _merged(have, b)
        self._judge_run(run)

    def _judge_run(self, run: RunReport) -> None:
        if not run.books:
            self._unchecked("no book in the capture (nothing replayed into a book)")
        elif self.verify and not any(b.checkpoints for b in run.books.values()):
            self._unchecked("no checkpoint compared")
        for (venue, symbol), n in sorted(run.unmatched.items()):
            self._unchecked(f"{n:,} depth events matched no book ({venue}:{symbol})")
        prefix = f"run {run.run}: " if self._several else ""
        for (venue, symbol), n in sorted(run.early.items()):
            self.report.warnings.append(
                f"{prefix}{n:,} depth events came before their book was added "
                f"({venue}:{symbol}): not applied"
            )
        for (venue, symbol), b in sorted(run.books.items()):
            if b.applied == 0 and not self._stopped:
                why = f"{b.events:,} depth events for it" if b.events else "no depth event for it"
                self._unchecked(f"{venue}:{symbol} never applied an event ({why})")
        if run.unknown_conn:
            self._unchecked(f"{run.unknown_conn:,} record(s) of a connection that does not exist")

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
        return None if first is None or type(first[1]) is not int else first[1]

    def _first_exchange_ms(self, segment: Path) -> int | None:
        """The exchange time of the segment's first depth event that carries one."""
        conns: dict[int, tuple[Venue, FrameParser, Any, str]] = {}
        for kind, _, _, conn, payload in SegmentReader(segment):
            if kind == "header" or (kind == "conn" and payload.get("state") == "new"):
                infos = (payload.get("conns") or ()) if kind == "header" else (payload,)
                if not isinstance(infos, list | tuple):
                    continue
                for info in infos:
                    try:
                        conns[info["c"]] = connection_of(info)
                    except (CaptureError, KeyError, TypeError, ValueError):
                        continue  # the replay reports it
            elif (kind == "F" or kind == "B") and conn in conns:
                venue, parse, _, _ = conns[conn]  # type: ignore[index]
                try:
                    event = parse(payload, venue)
                except MalformedEvent:
                    continue
                if event.event_time is not None:
                    return event.event_time
        return None

    def _check_header(self, header: dict[str, Any], path: Path, before: Path | None) -> None:
        """The segment's place in its run: the one before it is the one it names."""
        previous = header.get("previous")
        if previous is not None and not isinstance(previous, str):
            self._bad("header", f"'previous' must be a file name or null, not {previous!r}")
            return
        if before is not None:
            if previous != before.name:
                said = "says it is the first of its run" if previous is None else None
                self._unchecked(
                    f"missing segment: {path.name} follows {previous}, not {before.name}"
                    if said is None
                    else f"{path.name} {said}, yet follows {before.name}"
                )
        elif previous is not None and not (path.parent / previous).exists():
            self._unchecked(f"missing segment: {path.name} follows {previous}, which is absent")
        recorder = header.get("recorder")
        recorder = recorder if isinstance(recorder, dict) else {}
        interval = recorder.get("checkpoint_interval")
        flush = recorder.get("flush_interval")
        interval = interval if type(interval) in (int, float) and 0 < interval < 1e6 else 1.0
        flush = flush if type(flush) in (int, float) and 0 < flush < 1e6 else 1.0
        #: A book present this long in a segment has a checkpoint in it.
        self._cp_within = int((2 * interval + flush) * 1e9)

    def _run(self, run: Run, emit: bool, other_frames: bool) -> Iterator[ReplayItem]:
        report = self.report
        books: dict[Key, _Book] = {}
        self._books = books
        self._run_name = run.run
        current = self._current = RunReport(run.run)
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
        self._down_conns: dict[int, tuple[int, str, dict[str, Any]]] = {}
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
        routes: dict[int, tuple[bool, dict[str, _Book]]] = {}
        self._by_venue: dict[str, dict[str, _Book]] = {}
        consumed = 0
        skip = None
        if (
            not emit
            and speed is None
            and start_x is None
            and stop_x is None
            and frame_loop() == "compiled"
        ):
            compiled_frames = _compiled_loop.frames

            def set_now(wall: int) -> None:
                self._now = wall

            def skip(data: bytes, pos: int, wall: int, mono: int) -> tuple[int, int, int, int]:
                nonlocal consumed
                pos, wall, mono, n = compiled_frames(
                    data, pos, wall, mono, routes, last_frame, silence, stop_ns, set_now
                )
                if n:
                    consumed += n
                    self._now = wall
                return pos, wall, mono, n  # n: records consumed (the reader numbers the rest)

        #: True when the previous segment was not read to its end: the books restart
        #: from the next segment's starting states instead of being checked against them.
        self._rebase = False
        self._stopped = False
        segments = self._segments(run)
        before: Path | None = None
        for path in segments:
            reader = SegmentReader(path, prefetch=self.prefetch, skip=skip)
            self._segment = path.name
            self._segment_path = str(path)
            self._cp_within = int(3e9)
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
                self._now = wall
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
                        report.gaps.append(
                            GapRow(previous, wall, venue_name, None, "silence", None)
                        )
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
                self._record_no = record_no + consumed
                if report.start_ns is None:
                    report.start_ns = wall
                if report.end_ns is None or wall > report.end_ns:
                    report.end_ns = wall
                if seg_first is None:
                    seg_first = wall
                error = _record_error(kind, payload)
                if error is not None:
                    self._bad(kind, error)
                    continue
                try:
                    if kind == "header":
                        self.hash_levels = hash_levels_of(payload)  # what its hashes cover
                        self._check_header(payload, path, before)
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
                            self._on_checkpoint(book, payload)
                except (CaptureError, KeyError, TypeError, ValueError, IndexError) as exc:
                    self._bad(kind, f"cannot be replayed: {type(exc).__name__}: {exc}")
            report.records += record_no + 1 + consumed
            report.frames += consumed
            report.depth_events += consumed
            if self._now and (report.end_ns is None or self._now > report.end_ns):
                report.end_ns = self._now
            self._judge_segment(reader, path, run, seg_since, seg_cps, books)
            self._rebase = bool(reader.problems) or not reader.ended
            before = path
            if self._stopped:
                break
        if sampling:
            end = min(self._now, stop_ns) if stop_ns is not None else self._now
            yield from self._flush_samples(books, end + 1)
        for book in books.values():
            if self.verify and book.pending and not self._stopped:
                d = book.pending[0]
                detail = f"replayed {d[0]} never recorded ({len(book.pending)} pending)"
                self._mismatch(book.key, "decision", detail)
        self._end_run(current, books)

    def _judge_segment(
        self,
        reader: SegmentReader,
        path: Path,
        run: Run,
        since: dict[Key, int],
        cps: set[Key],
        books: dict[Key, _Book],
    ) -> None:
        """What the segment could not show: unreadable stretches (a truncated tail of the
        run's last segment excepted), a cut before the next segment, missing checkpoints."""
        report = self.report
        last = path == run.segments[-1]
        for problem in reader.problems:
            report.problems.append(problem)
            if last and problem.kind == "truncated":
                report.warnings.append(
                    f"{path.name}: truncated tail of the run's last segment (what a kill -9 "
                    "leaves): the records before it were replayed"
                )
            else:
                self._unchecked(f"unreadable data in {path.name}: {problem.kind} at byte "
                                f"{problem.offset}")  # fmt: skip
        if self._stopped:
            return
        if not last and not reader.ended and not reader.problems:
            self._unchecked(f"{path.name} was cut short: no end record before the next segment")
        if self.verify:
            for key, start in sorted(since.items()):
                if key in books and key not in cps and self._now - start > self._cp_within:
                    seconds = (self._now - start) / 1e9
                    self._unchecked(
                        f"no checkpoint of {key[0]}:{key[1]} in {path.name} ({seconds:.1f} s of it)"
                    )

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

    def _new_conn(
        self,
        info: dict[str, Any],
        conns: dict[int, tuple[Venue, FrameParser, Any, str]],
        routes: dict[int, tuple[bool, dict[str, _Book]]],
    ) -> None:
        conns[info["c"]] = connection_of(info)
        self._route(info["c"], conns, routes)

    def _on_conn(
        self,
        payload: dict[str, Any],
        conns: dict[int, tuple[Venue, FrameParser, Any, str]],
        routes: dict[int, tuple[bool, dict[str, _Book]]],
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
        venue = conns[index][0].value
        if state == "disconnected":
            self._down_conns[index] = (self._now, venue, payload)
        elif state == "connected":
            down = self._down_conns.pop(index, None)
            if down is not None:
                since, venue, info = down
                reason = info.get("error") or (
                    f"close code {info.get('close_code')}" if info.get("close_code") else None
                )
                self.report.gaps.append(
                    GapRow(since, self._now, venue, None, "disconnected", reason)
                )

    def _on_book(
        self, record: dict[str, Any], books: dict[Key, _Book], wanted: set[Key] | None
    ) -> str | None:
        """Take a ``book`` record: ``"new"`` (a book of the replay from now on), ``"known"``
        (a book it has), or None (a book left out by ``symbols``)."""
        key = (record["v"], record["s"])
        if wanted is not None and key not in wanted:
            return None
        book = books.get(key)
        if book is None or (self._rebase and record.get("start")):
            sync = _new_sync(Venue(key[0]), key[1], record.get("config") or {}, None)
            _restore(sync, record)  # on a new sync: a bad record changes nothing
            if book is None:
                book = books[key] = _Book(key, sync, BookReport(*key))
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
                book.down_since = self._now
                book.down_kind = "not-live-at-start"
                book.down_reason = sync.reason
            return made
        if not self.verify:
            return "known"
        sync = book.sync
        got = (sync.state.value, sync.update_id, sync.generation, counts_of(sync))
        want = (record["state"], record["update_id"], record.get("generation"), record["counts"])
        if got != want:
            self._mismatch(key, "segment start", f"recorded {want}, replayed {got}")
        elif record.get("hash") != book_hash(sync, self.hash_levels):
            self._mismatch(key, "segment start", "book levels differ (hash)")
        return "known"

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


def _merged(a: BookReport, b: BookReport) -> BookReport:
    """One book's figures over two runs: summed, the final state the later run's."""
    counts = Counter(a.counts)
    counts.update(b.counts)
    return BookReport(
        a.venue,
        a.symbol,
        events=a.events + b.events,
        applied=a.applied + b.applied,
        checkpoints=a.checkpoints + b.checkpoints,
        checkpoints_matched=a.checkpoints_matched + b.checkpoints_matched,
        decisions=a.decisions + b.decisions,
        decisions_matched=a.decisions_matched + b.decisions_matched,
        state=b.state,
        update_id=b.update_id,
        generation=b.generation,
        counts=dict(counts),
    )


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
    runs = _runs(capture, problems)
    report = Replayer(**options).run(runs)
    note_unlisted(report, problems)
    return report


def _runs(capture: Any, problems: list[Problem] | None = None) -> list[Run]:
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
    view)``, where ``view`` is the book as of that time: after every record received at
    or before it, and nothing later (no look-ahead: a snapshot accepted after the sample's
    time is not in it), in its state then (views of books that are not live carry their
    state, ``allow_stale``). A book is sampled from its first grid time at or after it was
    added to the end of its run. One run at a time."""
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
