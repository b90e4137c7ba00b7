"""Rate-limited logging of repeated warnings: the first at once, then one summary per interval.

A flood of bad frames (or of failing snapshot requests) must not become a
flood of log lines: a hostile stream of malformed frames once gave a million
WARNING lines in 15 s. :class:`LogThrottle` logs the first message of each
``key`` at once; further messages with the same key within ``interval``
seconds are only counted; the next one after the interval is logged with how
many were held back (``... (and 41,217 more like it in the last 10.0 s)``),
and :meth:`LogThrottle.flush` logs what is still held back once its interval
is over (call it from any periodic task). Every message is still counted by
its caller; only the log lines are limited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Held:
    since: float  #: clock time of the last line logged for this key
    held: int = 0  #: messages counted but not logged since then
    level: int = logging.WARNING
    last: tuple[str, tuple[object, ...]] | None = None  #: the latest held message
    extra: dict[str, object] | None = None  #: the latest held message's ``extra``


class LogThrottle:
    """At most one log line per ``key`` per ``interval`` seconds, with counts of the rest."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1024,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.max_keys = max_keys
        #: Messages counted but not logged, over the throttle's life.
        self.suppressed = 0
        self._keys: dict[str, _Held] = {}

    def __repr__(self) -> str:
        return (f"LogThrottle({self.logger.name!r}, interval={self.interval}, "
                f"keys={len(self._keys)})")

    def log(
        self, level: int, key: str, msg: str, *args: object, extra: dict[str, object] | None = None
    ) -> bool:
        """Log ``msg % args`` unless ``key`` was logged less than ``interval`` s ago.

        ``extra`` is the log record's ``extra`` (structured fields: a summary line's
        ``extra["wexbook"]`` fields also get ``repeated``, how many it stands for).
        Returns True if a line was written.
        """
        now = self.clock()
        entry = self._keys.get(key)
        if entry is not None and now - entry.since < self.interval:
            entry.held += 1
            entry.level = level
            entry.last = (msg, args)
            entry.extra = extra
            self.suppressed += 1
            return False
        if entry is None:
            if len(self._keys) >= self.max_keys:
                self.flush(force=True)
                self._keys.clear()
            self._keys[key] = _Held(since=now)
            self.logger.log(level, msg, *args, extra=extra)
            return True
        held = entry.held
        entry.since, entry.held, entry.last, entry.extra = now, 0, None, None
        if held:
            self.logger.log(level, msg + " (and %d more like it in the last %.1f s)", *args, held,
                            self.interval, extra=_repeated(extra, held))  # fmt: skip
        else:
            self.logger.log(level, msg, *args, extra=extra)
        return True

    def keys_of(self, prefix: str) -> list[str]:
        """The keys seen that start with ``prefix``."""
        return [key for key in self._keys if key.startswith(prefix)]

    def flush_key(self, key: str) -> None:
        """Log ``key``'s held messages now, if any (before a line they lead up to)."""
        entry = self._keys.get(key)
        if entry is not None and entry.held and entry.last is not None:
            self._summary(entry, self.clock())

    def warning(self, key: str, msg: str, *args: object) -> bool:
        """:meth:`log` at WARNING."""
        return self.log(logging.WARNING, key, msg, *args)

    def flush(self, *, force: bool = False) -> None:
        """Log the latest held message of every key whose interval is over (all if ``force``)."""
        now = self.clock()
        for entry in self._keys.values():
            due = force or now - entry.since >= self.interval
            if entry.held and entry.last is not None and due:
                self._summary(entry, now)

    def _summary(self, entry: _Held, now: float) -> None:
        """The latest held message, with how many more it stands for."""
        msg, args = entry.last  # type: ignore[misc]
        more = entry.held - 1
        self.logger.log(entry.level, msg + " (and %d more like it in the last %.1f s)",
                        *args, more, now - entry.since,
                        extra=_repeated(entry.extra, entry.held))  # fmt: skip
        entry.since, entry.held, entry.last, entry.extra = now, 0, None, None


def _repeated(extra: dict[str, object] | None, count: int) -> dict[str, object] | None:
    """``extra`` with ``repeated: count`` in its structured ``wexbook`` fields, if any."""
    fields = extra.get("wexbook") if extra else None
    if not isinstance(fields, dict):
        return extra
    return {**extra, "wexbook": {**fields, "repeated": count}}
