"""Replaying many symbol-days: one task per (run, UTC day, book), on any executor or Dask.

::

    results = replay_many("captures/", every_ms=1000)              # a process pool
    results = replay_many(paths, executor=ThreadPoolExecutor(4))    # any Executor
    results = replay_many(paths, dask=True)                        # a Dask LocalCluster
    results = replay_many(paths, dask="tcp://scheduler:8786")      # a Dask cluster

Segments rotate at every UTC midnight and each one replays on its own, so the segments
of one run within one UTC day, restricted to one book, are an independent unit of work.
Each task returns a :class:`TaskResult`: the verification report's figures, the gap
audit rows, and the sampled top levels (:class:`~feeds.capture.research.BookSamples`,
or the path of a Parquet file when ``out_dir`` is given). Dask is the optional extra
``wexbook[dask]``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .reader import SegmentReader, open_capture
from .research import BookSamples, MissingExtra, gap_table, sample_books, to_parquet


@dataclass(frozen=True, slots=True)
class Task:
    """One symbol-day: the segments of one run within one UTC day, and one book."""

    run: str
    day: str  #: ``YYYY-MM-DD`` (UTC) of the segments' start
    book: str  #: ``venue:symbol``
    segments: tuple[str, ...]


@dataclass(slots=True)
class TaskResult:
    """What one task found."""

    task: Task
    ok: bool
    events: int
    checkpoints: int
    checkpoints_matched: int
    decisions: int
    decisions_matched: int
    first_mismatch: str | None
    problems: list[str]
    gaps: list[dict[str, Any]]
    counts: dict[str, int]
    samples: BookSamples | None = None
    parquet: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _books_of(path: Path) -> tuple[int, list[str]]:
    """The start time and the books of a segment (header symbols, else its book records)."""
    reader = SegmentReader(path)
    start = 0
    books: list[str] = []
    for kind, wall, _mono, _conn, payload in reader:
        if kind == "header":
            start = wall
            symbols = payload.get("symbols")
            books = [s for s in symbols if isinstance(s, str)] if isinstance(symbols, list) else []
            if books:
                break
            continue
        if kind == "book":  # a bad one is the replay's to report (a bad record)
            venue, symbol = payload.get("v"), payload.get("s")
            name = f"{venue}:{symbol}"
            if isinstance(venue, str) and isinstance(symbol, str) and name not in books:
                books.append(name)
    return start, books


def plan(captures: Any) -> list[Task]:
    """The tasks of ``captures`` (paths, a directory, a glob or a list of them)."""
    tasks: dict[tuple[str, str, str], list[str]] = {}
    for run in open_capture(captures if isinstance(captures, list) else [captures]):
        for seg in run.segments:
            start, books = _books_of(seg)
            day = dt.datetime.fromtimestamp(start / 1e9, dt.UTC).date().isoformat()
            for book in books:
                tasks.setdefault((run.run, day, book), []).append(str(seg))
    return [Task(r, d, b, tuple(s)) for (r, d, b), s in sorted(tasks.items())]


def run_task(task: Task, every_ms: float | None, levels: int, out_dir: str | None,
             verify: bool) -> TaskResult:  # fmt: skip
    """Replay one task (a top-level function, so it pickles to worker processes)."""
    venue, symbol = task.book.split(":", 1)
    try:
        samples, report = sample_books(
            list(task.segments),
            every_ms=every_ms or 1000.0,
            levels=levels,
            verify=verify,
            symbols=[task.book],
        )
    except Exception as exc:  # one bad task must not sink the others
        return TaskResult(task, False, 0, 0, 0, 0, 0, None, [], [], {},
                          error=f"{type(exc).__name__}: {exc}")  # fmt: skip
    book = report.books.get((venue, symbol))
    result = TaskResult(
        task,
        report.ok,
        book.events if book else 0,
        report.checkpoints,
        report.checkpoints_matched,
        report.decisions,
        report.decisions_matched,
        str(report.first_mismatch) if report.first_mismatch else None,
        [str(p) for p in report.problems],
        gap_table([g for g in report.gaps if g.symbol in (symbol, None) and g.venue == venue]),
        dict(book.counts) if book else {},
    )
    mine = samples.get((venue, symbol))
    if every_ms is not None and mine is not None:
        if out_dir is not None:
            path = Path(out_dir) / f"{task.run}-{task.day}-{venue}-{symbol}.parquet"
            to_parquet(mine, path)
            result.parquet = str(path)
        else:
            result.samples = mine
    return result


def _dask_executor(dask: bool | str, workers: int | None) -> tuple[Executor, Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise MissingExtra(
            "replay_many on Dask needs distributed: pip install 'wexbook[dask]'"
        ) from None
    if isinstance(dask, str):
        client = Client(dask)
        return client.get_executor(), client
    cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                           dashboard_address=None)  # fmt: skip
    client = Client(cluster)
    return client.get_executor(), (client, cluster)


def replay_many(
    captures: Any,
    *,
    executor: Executor | None = None,
    dask: bool | str = False,
    workers: int | None = None,
    every_ms: float | None = 1000.0,
    levels: int = 10,
    out_dir: str | os.PathLike[str] | None = None,
    verify: bool = True,
    tasks: Iterable[Task] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[TaskResult]:
    """Replay every symbol-day of ``captures`` in parallel; results in task order.

    ``executor``: any :class:`concurrent.futures.Executor` (default: a process pool of
    ``workers`` processes). ``dask``: ``True`` for a local Dask cluster of ``workers``
    (default 2) processes, or a scheduler address. ``every_ms``: sampling period of the
    returned top levels (``None``: no samples); ``out_dir``: write them as Parquet there.
    ``progress("replaying", done, total)`` is called as tasks finish (for a progress
    display, e.g. ``feeds.apps.progress.stage_progress``).
    """
    todo = list(tasks) if tasks is not None else plan(captures)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    out = None if out_dir is None else str(out_dir)
    closers: Any = None
    own = False
    if executor is None:
        if dask:
            executor, closers = _dask_executor(dask, workers)
        else:
            executor = ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1)
            own = True
    try:
        futures = [executor.submit(run_task, t, every_ms, levels, out, verify) for t in todo]
        if progress is not None:
            progress("replaying", 0, len(futures))
            for done, _ in enumerate(as_completed(futures), 1):
                progress("replaying", done, len(futures))
        return [f.result() for f in futures]
    finally:
        if own:
            executor.shutdown()
        if closers is not None:
            for item in closers if isinstance(closers, tuple) else (closers,):
                item.close()
