"""Verify: the replayed engine against the recording, and what could not be checked.

:class:`Verifier` compares, for a replay built with ``verify`` (see
:mod:`feeds.capture.replay`):

- every checkpoint (``cp`` record: state, update id, generation, decision counters, hash
  of the book) with the replayed book at that position (:meth:`Verifier.checkpoint`);
- every recorded decision with the replayed book's next one (:meth:`Verifier.replayed`
  notes the replayed ones, :meth:`Verifier.decision` matches them; an owner's action the
  replay performed is compared by :meth:`Verifier.action`);
- every segment's starting state of a book with the replayed book, when the segment
  continues a replayed one (:meth:`Verifier.segment_start`).

Each disagreement is a :class:`~feeds.capture.reports.Mismatch` at the
:class:`~feeds.capture.reports.Position` being replayed. What could not be checked is a
line of :attr:`ReplayReport.unchecked <feeds.capture.reports.ReplayReport.unchecked>`
(and the report fails): a record that cannot be used (:meth:`Verifier.bad`), a missing or
cut segment (:meth:`Verifier.check_header`, :meth:`Verifier.judge_segment`), a book with
no checkpoint where it should have one, a run with no book (:meth:`Verifier.judge_run`),
a window that held nothing (:meth:`Verifier.judge_window`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orderbook import BookSync, Decision, SyncState

from .format import HASH_LEVELS, book_hash, counts_of
from .reader import Run, SegmentReader
from .reports import BadRecord, Key, Mismatch, Position, ReplayReport, RunReport, iso_time
from .restore import ReplayBook

_LIVE = SyncState.LIVE


class Verifier:
    """The checks of one replay, written into ``report`` at ``position``.

    ``verify``: compare checkpoints, decisions and segment starts (off: only what could
    not be checked is said). ``hash_levels``: the levels the recorded hashes cover (each
    segment's header says; :func:`~feeds.capture.format.hash_levels_of`).
    ``max_mismatches``: mismatches and bad records kept (all are counted).
    """

    def __init__(
        self,
        report: ReplayReport,
        position: Position,
        *,
        verify: bool = True,
        hash_levels: int | None = HASH_LEVELS,
        max_mismatches: int = 100,
    ) -> None:
        self.report = report
        self.position = position
        self.verify = verify
        self.hash_levels = hash_levels
        self.max_mismatches = max_mismatches
        #: Put before each line of what could not be checked (``"run X: "``, several runs).
        self.prefix = ""
        #: A book present this long (ns) in a segment has a checkpoint in it.
        self.cp_within = int(3e9)

    # -- rows --------------------------------------------------------------------------

    def mismatch(self, key: Key, what: str, detail: str) -> None:
        """The replayed book ``key`` and the recording disagree here."""
        report = self.report
        report.mismatch_count += 1
        if len(report.mismatches) < self.max_mismatches:
            p = self.position
            report.mismatches.append(
                Mismatch(p.segment, p.record, p.now, key[0], key[1], what, detail)
            )

    def bad(self, kind: str, detail: str) -> None:
        """The record being replayed cannot be used: counted, skipped."""
        report = self.report
        report.bad_record_count += 1
        if len(report.bad_records) < self.max_mismatches:
            p = self.position
            report.bad_records.append(BadRecord(p.segment_path, p.record, kind, detail))

    def unchecked(self, text: str) -> None:
        """Something could not be checked (the report fails)."""
        self.report.unchecked.append(self.prefix + text)

    # -- decisions, checkpoints, segment starts ----------------------------------------

    def replayed(self, book: ReplayBook, decision: Decision, sync: BookSync) -> None:
        """The replayed book took ``decision`` (not a per-event one): a recorded one must
        match it."""
        live = sync.state is _LIVE
        book.pending.append(
            (
                decision.value,
                sync.state.value,
                sync.update_id,
                sync.generation,
                book_hash(sync, self.hash_levels) if live else None,  # the segment's
            )
        )

    def action(self, book: ReplayBook, decision: Decision, record: dict[str, Any]) -> None:
        """The replay performed the owner's recorded action ``decision`` (``record``): the
        book is where the recording says."""
        if not self.verify:
            return
        report = book.report
        sync = book.sync
        report.decisions += 1
        got = (sync.state.value, sync.update_id, sync.generation)
        want = (record["state"], record["update_id"], record["generation"])
        if got == want:
            report.decisions_matched += 1
        else:
            self.mismatch(
                book.key, "decision", f"{decision.value}: recorded {want}, replayed {got}"
            )

    def decision(self, book: ReplayBook, record: dict[str, Any]) -> None:
        """A recorded decision (``d`` record): the replayed book's next one."""
        if not self.verify:
            return
        report = book.report
        report.decisions += 1
        want = (
            record["d"],
            record["state"],
            record["update_id"],
            record["generation"],
            record.get("hash"),
        )
        if not book.pending:
            self.mismatch(book.key, "decision", f"recorded {want[0]} not replayed")
            return
        got = book.pending.popleft()
        if got == want or (want[4] is None and got[:4] == want[:4]):
            report.decisions_matched += 1
        else:
            self.mismatch(book.key, "decision", f"recorded {want}, replayed {got}")

    def checkpoint(self, book: ReplayBook, record: dict[str, Any]) -> None:
        """A checkpoint (``cp`` record) of the book."""
        if not self.verify:
            return
        report = book.report
        report.checkpoints += 1
        sync = book.sync
        if book.pending:
            d = book.pending[0]
            self.mismatch(
                book.key,
                "checkpoint",
                f"replayed decision {d[0]} (state {d[1]}, id {d[2]}) was not recorded before it",
            )
            book.pending.clear()
            return
        got = (sync.state.value, sync.update_id, sync.generation)
        want = (record["state"], record["update_id"], record["generation"])
        if got != want:
            self.mismatch(
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
            self.mismatch(book.key, "checkpoint", f"counters differ (recorded, replayed): {diff}")
            return
        want_hash = record.get("hash")
        if want_hash is not None and want_hash != book_hash(sync, self.hash_levels):
            self.mismatch(book.key, "checkpoint", f"top levels differ at update id {got[1]}")
            return
        report.checkpoints_matched += 1

    def segment_start(self, book: ReplayBook, record: dict[str, Any]) -> None:
        """A segment's starting state of a book the replay has (``book`` record)."""
        if not self.verify:
            return
        sync = book.sync
        got = (sync.state.value, sync.update_id, sync.generation, counts_of(sync))
        want = (record["state"], record["update_id"], record.get("generation"), record["counts"])
        if got != want:
            self.mismatch(book.key, "segment start", f"recorded {want}, replayed {got}")
        elif record.get("hash") != book_hash(sync, self.hash_levels):
            self.mismatch(book.key, "segment start", "book levels differ (hash)")

    def pending_left(self, books: Iterable[ReplayBook]) -> None:
        """The run ended: a replayed decision never recorded is a mismatch."""
        for book in books:
            if self.verify and book.pending:
                d = book.pending[0]
                detail = f"replayed {d[0]} never recorded ({len(book.pending)} pending)"
                self.mismatch(book.key, "decision", detail)

    # -- what could not be checked -----------------------------------------------------

    def check_header(self, header: dict[str, Any], path: Path, before: Path | None) -> None:
        """The segment's place in its run: the one before it is the one it names."""
        previous = header.get("previous")
        if previous is not None and not isinstance(previous, str):
            self.bad("header", f"'previous' must be a file name or null, not {previous!r}")
            return
        if before is not None:
            if previous != before.name:
                said = "says it is the first of its run" if previous is None else None
                self.unchecked(
                    f"missing segment: {path.name} follows {previous}, not {before.name}"
                    if said is None
                    else f"{path.name} {said}, yet follows {before.name}"
                )
        elif previous is not None and not (path.parent / previous).exists():
            self.unchecked(f"missing segment: {path.name} follows {previous}, which is absent")
        recorder = header.get("recorder")
        recorder = recorder if isinstance(recorder, dict) else {}
        interval = recorder.get("checkpoint_interval")
        flush = recorder.get("flush_interval")
        interval = interval if type(interval) in (int, float) and 0 < interval < 1e6 else 1.0
        flush = flush if type(flush) in (int, float) and 0 < flush < 1e6 else 1.0
        self.cp_within = int((2 * interval + flush) * 1e9)

    def judge_segment(
        self,
        reader: SegmentReader,
        path: Path,
        run: Run,
        since: dict[Key, int],
        cps: set[Key],
        books: dict[Key, ReplayBook],
        stopped: bool,
    ) -> None:
        """What the segment could not show: unreadable stretches (a truncated tail of the
        run's last segment excepted), a cut before the next segment, missing checkpoints
        (``since``: when each book was first in it; ``cps``: the books with one)."""
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
                self.unchecked(f"unreadable data in {path.name}: {problem.kind} at byte "
                               f"{problem.offset}")  # fmt: skip
        if stopped:
            return
        if not last and not reader.ended and not reader.problems:
            self.unchecked(f"{path.name} was cut short: no end record before the next segment")
        if self.verify:
            now = self.position.now
            for key, start in sorted(since.items()):
                if key in books and key not in cps and now - start > self.cp_within:
                    seconds = (now - start) / 1e9
                    self.unchecked(
                        f"no checkpoint of {key[0]}:{key[1]} in {path.name} ({seconds:.1f} s of it)"
                    )

    def judge_run(self, run: RunReport, stopped: bool) -> None:
        """What the run could not show: no book, no checkpoint, depth events of no book,
        a book that never applied an event, records of a connection that does not exist."""
        if not run.books:
            self.unchecked("no book in the capture (nothing replayed into a book)")
        elif self.verify and not any(b.checkpoints for b in run.books.values()):
            self.unchecked("no checkpoint compared")
        for (venue, symbol), n in sorted(run.unmatched.items()):
            self.unchecked(f"{n:,} depth events matched no book ({venue}:{symbol})")
        for (venue, symbol), n in sorted(run.early.items()):
            self.report.warnings.append(
                f"{self.prefix}{n:,} depth events came before their book was added "
                f"({venue}:{symbol}): not applied"
            )
        for (venue, symbol), b in sorted(run.books.items()):
            if b.applied == 0 and not stopped:
                why = f"{b.events:,} depth events for it" if b.events else "no depth event for it"
                self.unchecked(f"{venue}:{symbol} never applied an event ({why})")
        if run.unknown_conn:
            self.unchecked(f"{run.unknown_conn:,} record(s) of a connection that does not exist")

    def judge_bad_records(self) -> None:
        """Records that could not be used make the replay fail."""
        report = self.report
        if report.bad_record_count:
            report.unchecked.append(
                f"{report.bad_record_count:,} record(s) could not be used (bad record: above)"
            )

    def judge_window(
        self,
        start_ns: int | None,
        stop_ns: int | None,
        start_exchange_ms: int | None,
        stop_exchange_ms: int | None,
        window_events: int,
    ) -> None:
        """A window that held nothing of the capture is said, and fails (``window_events``:
        the depth events inside an exchange-time window)."""
        report = self.report
        first, last = report.start_ns, report.end_ns
        span = (
            f"the capture spans {iso_time(first)} to {iso_time(last)}"
            if first is not None and last is not None
            else "nothing of the capture was read"
        )
        if start_ns is not None or stop_ns is not None:
            outside = (
                first is None
                or last is None
                or (start_ns is not None and start_ns > last)
                or (stop_ns is not None and stop_ns < first)
            )
            if outside:
                report.unchecked.append(f"nothing in the window (receive time): {span}")
        if (start_exchange_ms is not None or stop_exchange_ms is not None) and not window_events:
            report.unchecked.append(
                f"nothing in the window (exchange time): no depth event with an exchange "
                f"time in it; {span}"
            )
