"""Structured log lines: one per book state change and per resync, text or JSON.

Lines go to the ``wexbook.books`` logger (connection drops to ``wexbook.connections``),
written by :class:`~feeds.metrics.watch.BookWatch`. Each record carries its fields in
``record.wexbook`` (a dict), so any handler can use them; the two formatters here
print them:

- :class:`TextFormatter` (the default of the commands)::

    14:02:03.512 WARNING spot btc_usdt live -> resyncing cause=gap update_id=123 \
generation=1 took=12.410s reason="sequence gap after id 123"

- :class:`JsonFormatter` (``--log-format json``), one object per line::

    {"ts": "2026-12-02T14:02:03.512Z", "level": "WARNING", "logger": "wexbook.books",
     "event": "state_change", "venue": "spot", "symbol": "btc_usdt", "from": "live",
     "to": "resyncing", "cause": "gap", "update_id": 123, "generation": 1,
     "seconds": 12.41, "reason": "sequence gap after id 123", "message": "..."}

Leaving LIVE is a WARNING; going LIVE and other changes are INFO. Records hold no
credentials: reasons come from the engine (ids, counts) and from connection errors,
which :mod:`feeds.redaction` already filters on the loggers that can see a secret.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import shutil
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from feeds.logthrottle import LogThrottle
from orderbook import BookSync, SyncState

BOOKS = logging.getLogger("wexbook.books")
CONNECTIONS = logging.getLogger("wexbook.connections")
FORMATS = ("text", "json")


def state_change(
    sync: BookSync,
    old: SyncState,
    new: SyncState,
    cause: str,
    seconds: float,
    *,
    quiet: bool = False,
) -> None:
    """Log one book's change of state (``seconds``: how long the old state lasted).

    Leaving LIVE is a WARNING unless ``quiet`` (the feed is being shut down).
    """
    for state in (SyncState.SYNCING, SyncState.RESYNCING):  # what led up to it, counted
        for key in RESYNCS.keys_of(f"{sync.venue.value}:{sync.symbol}:{state.value}:"):
            RESYNCS.flush_key(key)
    leaves = old is SyncState.LIVE and new is not SyncState.CLOSED  # closing is deliberate
    level = logging.WARNING if leaves and not quiet else logging.INFO
    if not BOOKS.isEnabledFor(level):
        return
    fields = {
        "event": "state_change",
        "venue": sync.venue.value,
        "symbol": sync.symbol,
        "from": old.value,
        "to": new.value,
        "cause": cause,
        "update_id": sync.update_id,
        "generation": sync.generation,
        "seconds": round(seconds, 6),
        "reason": sync.reason,
    }
    BOOKS.log(
        level,
        "%s %s %s -> %s (%s)",
        fields["venue"], fields["symbol"], old.value, new.value, cause,
        extra={"wexbook": fields},
    )  # fmt: skip


#: Repeated resync lines of one book and cause: the first at once, then one per 10 s with
#: how many it stands for (a lagging snapshot source gives one every 0.1 s).
RESYNCS = LogThrottle(BOOKS, 10.0)


def resync(sync: BookSync, cause: str, seconds: float) -> None:
    """Log a resync decision that did not change the state (a gap while resyncing...);
    repeats of one book and cause are summarised (:data:`RESYNCS`)."""
    if not BOOKS.isEnabledFor(logging.INFO):
        return
    fields = {
        "event": "resync",
        "venue": sync.venue.value,
        "symbol": sync.symbol,
        "state": sync.state.value,
        "cause": cause,
        "update_id": sync.update_id,
        "generation": sync.generation,
        "seconds": round(seconds, 6),
        "reason": sync.reason,
    }
    RESYNCS.log(
        logging.INFO,
        f"{fields['venue']}:{fields['symbol']}:{fields['state']}:{cause}",
        "%s %s resync while %s (%s)",
        fields["venue"], fields["symbol"], fields["state"], cause,
        extra={"wexbook": fields},
    )  # fmt: skip


def connection_down(conn: Any, cause: str) -> None:
    """Log a dropped connection and why (the cause is also a metric label)."""
    fields = {
        "event": "disconnected",
        "venue": conn.venue.value,
        "cause": cause,
        "connects": conn.connects,
        "close_code": getattr(conn, "close_code", None),
    }
    CONNECTIONS.info("%s connection down (%s)", fields["venue"], cause, extra={"wexbook": fields})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "wexbook", None)
    return fields if isinstance(fields, dict) else {}


_SKIP_TEXT = {"event", "venue", "symbol", "from", "to", "state"}


class TextFormatter(logging.Formatter):
    """``HH:MM:SS.mmm LEVEL message key=value...`` (fields after the message)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = _dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        fields = _fields(record)
        if fields.get("event") in ("state_change", "resync"):
            head = f"{fields['venue']} {fields['symbol']} "
            if fields["event"] == "state_change":
                head += f"{fields['from']} -> {fields['to']}"
            else:
                head += f"resync while {fields['state']}"
        else:
            head = record.getMessage()
        parts = [f"{stamp} {record.levelname} {head}"]
        for key, value in fields.items():
            if key in _SKIP_TEXT or value is None:
                continue
            if key == "seconds":
                parts.append(f"took={value:.3f}s")
            elif isinstance(value, str) and (" " in value or not value):
                parts.append(f"{key}={json.dumps(value)}")
            else:
                parts.append(f"{key}={value}")
        text = " ".join(parts)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, the fields, ``message``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = _dt.datetime.fromtimestamp(record.created, _dt.UTC)
        out: dict[str, Any] = {
            "ts": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
        }
        out.update(_fields(record))
        out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def formatter(kind: str = "text") -> logging.Formatter:
    """The formatter for ``--log-format`` ``kind`` (``text`` or ``json``)."""
    if kind not in FORMATS:
        raise ValueError(f"log format must be one of {FORMATS}, not {kind!r}")
    return JsonFormatter() if kind == "json" else TextFormatter()


def fit_terminal(text: str) -> str:
    """``text`` cut to the terminal's width when stderr is a terminal (each line, with
    ``…``), so that a narrow terminal keeps one line per log record; unchanged otherwise
    (a file or a pipe gets everything)."""
    if not getattr(sys.__stderr__, "isatty", lambda: False)():
        return text
    width = shutil.get_terminal_size((100, 24)).columns - 1
    lines = text.split("\n")
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in lines)


@contextlib.contextmanager
def book_logs(kind: str = "text", stream: TextIO | None = None) -> Iterator[logging.Handler]:
    """Print the state-change and connection lines (INFO and up) on ``stream`` (stderr).

    On a terminal, text lines are cut to its width (:func:`fit_terminal`): use
    ``--log-format json`` or a redirect for every field.

    While active, those two loggers do not propagate, so a root handler (the commands'
    warning printer) does not print their lines a second time.
    """

    class _Current:
        def write(self, text: str) -> int:
            if stream is None and kind == "text":
                return sys.stderr.write(fit_terminal(text))
            return (stream or sys.stderr).write(text)

        def flush(self) -> None:
            (stream or sys.stderr).flush()

    handler = logging.StreamHandler(_Current())  # type: ignore[arg-type]
    handler.setFormatter(formatter(kind))
    saved = []
    for logger in (BOOKS, CONNECTIONS):
        saved.append((logger, logger.level, logger.propagate))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    try:
        yield handler
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
