"""Progress of long work on a terminal (rich): what is being read, how far, how fast.

:func:`replay_progress` shows a replay's progress while :class:`~feeds.capture.replay.
Replayer` runs in the same thread: a refresh thread reads the replayer's public
:attr:`~feeds.capture.replay.Replayer.position` (the segment and record being replayed,
its receive time) four times a second, and shows the segment, segments done of all,
the capture's time reached, how many times real time that is, and the time left by the
segments still to read. Off a terminal, or with ``quiet``, it shows nothing and costs
nothing; it always goes to stderr, so the command's output stays clean.

:func:`stage_progress` gives a ``progress(stage, done, total)`` callback (what
:func:`feeds.capture.importers.import_recording` calls) drawn as one bar per stage.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


def wanted(quiet: bool, stream: Any = None) -> bool:
    """True when progress should show: not ``quiet`` and ``stream`` (stderr) a terminal."""
    stream = stream or sys.stderr
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


@contextlib.contextmanager
def replay_progress(
    replayer: Any, segments: Sequence[Any], *, enabled: bool, console: Console | None = None
) -> Iterator[None]:
    """Show ``replayer``'s progress over ``segments`` (paths) while the block runs."""
    if not enabled or not segments:
        yield
        return
    index = {str(path): n for n, path in enumerate(segments)}
    console = console or Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]replay[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} segments"),
        TextColumn("{task.fields[at]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("", total=len(segments), at="")
    stop = threading.Event()
    started = time.monotonic()
    first: list[int] = []

    def update() -> None:
        while not stop.wait(0.25):
            position = replayer.position
            done = index.get(position.segment_path, 0)
            now = position.now
            at = ""
            if now:
                if not first:
                    first.append(now)
                moment = _dt.datetime.fromtimestamp(now / 1e9, _dt.UTC).strftime("%H:%M:%S")
                elapsed = time.monotonic() - started
                pace = (now - first[0]) / 1e9 / elapsed if elapsed > 0 else 0.0
                at = f"at {moment} UTC, x{pace:,.0f} real time"
            progress.update(task, completed=done, description=position.segment, at=at)

    with progress:
        thread = threading.Thread(target=update, name="wexbook progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


@contextlib.contextmanager
def stage_progress(title: str, *, enabled: bool, console: Console | None = None) -> Iterator[Any]:
    """A ``progress(stage, done, total)`` callback drawn as a bar per stage (``None``
    when not ``enabled``)."""
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn(f"[bold]{title}[/bold] " + "{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def report(stage: str, done: int, total: int) -> None:
        task = tasks.get(stage)
        if task is None:
            task = tasks[stage] = progress.add_task(stage, total=total)
        progress.update(task, completed=done, total=total)

    with progress:
        yield report
