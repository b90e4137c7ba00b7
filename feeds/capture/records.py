"""What a capture's record must hold to be replayed (anything else is a bad record).

:func:`record_error` says why a JSON record of a kind replay reads (``header``, ``conn``,
``book``, ``snap``, ``d``, ``cp``) cannot be used: a field missing or of the wrong type, an
unknown decision, state or venue. Replay skips such a record and counts it
(:class:`~feeds.capture.reports.BadRecord`); the rest is replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orderbook import Decision, DepthSnapshot, SyncState, Venue

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


def record_error(kind: str, record: dict[str, Any]) -> str | None:
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
