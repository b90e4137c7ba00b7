"""What a replay reports: its rows and its totals.

:class:`ReplayReport` (the whole replay), :class:`RunReport` (one recording process),
:class:`BookReport` (one book), :class:`Mismatch` (where the replayed engine and the
recording disagree), :class:`BadRecord` (a record that could not be used), :class:`GapRow`
(the gap audit's rows), :class:`ReplayItem` (what the replay yields per event), and
:class:`Position` (the record being replayed, which mismatches and bad records point at).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from orderbook import BookSync, BookView, DepthUpdate

from .reader import Problem

Key = tuple[str, str]  # (venue, symbol)


def iso_time(ns: int) -> str:
    """A local time in ns as ISO 8601 UTC with microseconds (``...T12:00:00.000001Z``)."""
    t = time.gmtime(ns // 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ns % 1_000_000_000 // 1000:06d}Z"


@dataclass(slots=True)
class Position:
    """The record being replayed: what a :class:`Mismatch` or :class:`BadRecord` points at."""

    segment: str = ""  #: the segment's file name
    segment_path: str = ""  #: the segment's path
    record: int = 0  #: record number in the segment (0: the header)
    now: int = 0  #: local receive time of the record


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
            f"{self.segment} record {self.record} ({iso_time(self.time_ns)}): {self.venue} "
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


def merged_book_reports(a: BookReport, b: BookReport) -> BookReport:
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


def counts_by_book(report: ReplayReport) -> dict[str, Counter[str]]:
    """The replayed decision counters of every book, keyed ``venue:symbol``."""
    return {f"{v}:{s}": Counter(b.counts) for (v, s), b in report.books.items()}
