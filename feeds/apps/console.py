"""Terminal plumbing shared by the commands: Ctrl-C, log lines, text for people.

- :class:`StopOnCtrlC`: inside an asyncio run, the first Ctrl-C asks the command to
  stop (it prints its summary and exits 130); a second one aborts at once.
- :func:`log_to_stderr`: the library's warnings on stderr, each distinct line once
  (a retry loop that fails the same way every second prints one line, not hundreds).
- :func:`aligned`: rows of text as aligned columns; :func:`timing`: timings for people.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import statistics
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from types import TracebackType

from rich.console import Console

from feeds.metrics.logs import fit_terminal


class StopOnCtrlC:
    """``with StopOnCtrlC() as stop:`` then ``await stop.wait(seconds)`` or ``stop.is_set()``.

    Ctrl-C (SIGINT) stops the run (:attr:`interrupted`; a second one stops at once);
    SIGTERM stops it too, as the end of ``--seconds`` does (:attr:`terminated`), so a
    supervisor's stop still gets the summary and the files closed. Only in the main
    thread, and only for a signal that is not ignored (a background job keeps ignoring
    SIGINT); elsewhere the signals keep their defaults.
    """

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.interrupted = False
        self.terminated = False
        self._installed: list[signal.Signals] = []

    def __enter__(self) -> StopOnCtrlC:
        if threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for sig, handler in (
                (signal.SIGINT, self._on_sigint),
                (signal.SIGTERM, self._on_sigterm),
            ):
                if signal.getsignal(sig) is signal.SIG_IGN:
                    continue
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(sig, handler)
                    self._installed.append(sig)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        self._installed = []

    def _on_sigterm(self) -> None:
        self.terminated = True
        self.event.set()

    def _on_sigint(self) -> None:
        if self.interrupted:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now, no summary
        self.interrupted = True
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    async def wait(self, timeout: float | None) -> bool:
        """Sleep up to ``timeout`` seconds (None: forever); True if Ctrl-C came."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), timeout)
        return self.event.is_set()


class RepeatFilter(logging.Filter):
    """Lets each distinct (logger, level, message) through once and counts the repeats."""

    def __init__(self, max_keys: int = 2048) -> None:
        super().__init__()
        self.seen: Counter[tuple[str, int, str]] = Counter()
        self.max_keys = max_keys

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.getMessage())
        if key not in self.seen and len(self.seen) >= self.max_keys:
            return True
        self.seen[key] += 1
        return self.seen[key] == 1

    @property
    def repeats(self) -> int:
        """Lines held back because they had been printed already."""
        return sum(n - 1 for n in self.seen.values())


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is now (rich's live display swaps it), each line
    cut to a terminal's width (:func:`feeds.metrics.logs.fit_terminal`)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(fit_terminal(text))

    def flush(self) -> None:
        sys.stderr.flush()


@contextlib.contextmanager
def log_to_stderr(
    level: int = logging.WARNING, formatter: logging.Formatter | None = None
) -> Iterator[RepeatFilter]:
    """Log lines of ``level`` and above on stderr for the duration, repeats held back.

    The handler sits on the root logger, so the library's loggers (``wexbook.*``,
    ``feeds.*``) and its dependencies' are all covered, each distinct line once.
    ``formatter`` replaces the default ``LEVEL message`` (``--log-format json``).
    """
    root = logging.getLogger()
    handler = logging.StreamHandler(_CurrentStderr())  # type: ignore[arg-type]
    handler.setFormatter(formatter or logging.Formatter("%(levelname)s %(message)s"))
    repeats = RepeatFilter()
    handler.addFilter(repeats)
    handler.setLevel(level)
    root.addHandler(handler)
    try:
        yield repeats
    finally:
        root.removeHandler(handler)


def after_live(console: Console) -> None:
    """End the last line of a finished ``rich`` live display.

    Off a terminal, rich prints the final table without a newline after its last line,
    so whatever is printed next would run into it.
    """
    if not console.is_terminal:
        console.file.write("\n")
        console.file.flush()


def aligned(
    header: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()
) -> list[str]:
    """``header`` and ``rows`` as lines of aligned columns (columns in ``right`` right-aligned)."""
    table = [list(header), *([str(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = []
    for r in table:
        cells = [
            r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i]) for i in range(len(r))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def timing(values: Sequence[float], what: str) -> str:
    """``median 0.12 s, max 0.31 s (5 books)``; ``none`` when there are no values."""
    if not values:
        return f"none (no {what})"
    return (
        f"median {statistics.median(values):.3f} s, max {max(values):.3f} s ({len(values)} {what})"
    )
