"""The capture format: zstandard segments of line-oriented records.

A capture is a directory of segment files, ``{run}-{segment:05d}.wxcap.zst``. A
segment is a sequence of independent zstandard frames, one per flush of the
recorder (every ``flush_interval``, 1 s by default), so whatever reached the disk
before a ``kill -9`` decompresses on its own: only the frame being written is lost,
and the reader reports it (with its offset) instead of failing.

Decompressed, a segment is a sequence of records, each ending with ``\\n``:

- **Frame records** carry one websocket frame exactly as received, as bytes, never
  re-serialised::

      F<conn> <length> <d_wall_ns> <d_mono_ns>\\n<length bytes of the frame>\\n

  ``F`` is a text frame (``B`` a binary one); ``conn`` is the connection's index in
  the header; the times are the local receive time (``time.time_ns``) and the
  monotonic clock (``time.monotonic_ns``), as differences from the previous record of
  the segment (the first record, the header, carries both in full).
- **JSON records** are one ``orjson`` line, an object whose ``"k"`` names its kind
  and whose ``"t"``/``"m"`` are the absolute wall and monotonic times (ns); they reset
  the base of the following frame records' differences.

Record kinds (``"k"``):

``header``
    first record of every segment: format version, wexbook version, run id, segment
    number, the previous segment's file name, connections (venue, URL), REST URLs,
    symbols, the manager's sequencing settings, host clock information. Never a
    secret: URLs lose any query string or user info.
``book``
    what a book needs to replay from here on its own: written for every book at the
    start of a segment (``"start": true``) and when a book is added. State, update id,
    generation, the whole book (exact levels, when it has one), its buffered events
    and its counters: the engine's own exact book, a marked checkpoint snapshot.
``conn``
    ``connected`` / ``disconnected`` (with close code, reason and error) of connection
    ``c``; the n-th connect after the first is a reconnect.
``send``
    a text sent on connection ``c`` (subscribe and unsubscribe requests; acks are
    frames).
``snapreq`` / ``snap``
    a REST snapshot requested, and its response handed to the book (levels verbatim as
    the exchange spelled them) or its error.
``d``
    a decision of a book's sync other than the per-event ones (applied, buffered,
    dropped-old, duplicate): gaps, snapshots accepted or refused, resyncs, stale marks,
    overflows, feed-down... with the state, update id and generation after it. The
    owner's actions (``feed-down``, ``resync-requested``, ``marked-stale``, ``closed``)
    carry their reason: replay performs them at the same point.
``cp``
    a periodic checkpoint of one book (every ``checkpoint_interval``, 1 s by
    default): state, update id, generation, counters and the hash of its book.
``end``
    the segment was closed cleanly (and the name of the next one, on rotation).

**Integrity.** Every zstandard frame carries zstandard's content checksum (a reader
rejects a frame whose bytes changed; captures written before have none and still
read). The ``hash`` of ``book``, ``d`` and ``cp`` records covers the whole book
(:func:`book_hash` with ``levels=None``); captures written before hashed the top 20
levels per side. Which one a segment's hashes are is in its header (``"hl"``, or
``"recorder": {"hash_levels": ...}`` for the recorder's): :func:`hash_levels_of`.
"""

from __future__ import annotations

import hashlib
import sys
import time
from array import array
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from orderbook import BookSync, Decision, DepthUpdate, Venue

FORMAT_VERSION = 1
SUFFIX = ".wxcap.zst"
#: Levels per side covered by a checkpoint's hash: ``None``, the whole book.
HASH_LEVELS: int | None = None
#: What captures written before the whole-book hash hashed (the top 20 levels per side);
#: a header that does not say is read as this.
LEGACY_HASH_LEVELS = 20
#: zstandard's content checksum on every frame written (readers check it when present).
WRITE_CHECKSUM = True

#: Decisions taken once per event; not written as records (their counts are in checkpoints).
PER_EVENT = frozenset(
    {Decision.APPLIED, Decision.BUFFERED, Decision.DROPPED_OLD, Decision.DUPLICATE}
)
#: Decisions that are the owner's actions: replay performs them where they were recorded.
ACTIONS = frozenset(
    {Decision.FEED_DOWN, Decision.RESYNC_REQUESTED, Decision.MARKED_STALE, Decision.CLOSED}
)


def wexbook_version() -> str:
    """The installed wexbook version (``unknown`` when not installed)."""
    try:
        from importlib.metadata import version

        return version("wexbook")
    except Exception:
        return "unknown"


def public_url(url: str | None) -> str | None:
    """``url`` without user info, query string or fragment (where credentials would be)."""
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def host_clock() -> dict[str, Any]:
    """What the host says of its clocks (resolution, adjustable, implementation)."""
    out: dict[str, Any] = {}
    for name in ("time", "monotonic"):
        info = time.get_clock_info(name)
        out[name] = {
            "implementation": info.implementation,
            "resolution": info.resolution,
            "adjustable": info.adjustable,
        }
    out["utc_offset_s"] = -time.timezone
    return out


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text


def level_hash(bids: Iterable[Any], asks: Iterable[Any]) -> str:
    """A short hash of price levels ``(price, qty)`` (Decimals), independent of spelling."""
    h = hashlib.blake2b(digest_size=8)
    parts = []
    for side in (bids, asks):
        parts.append(";".join(f"{_plain(p)}:{_plain(q)}" for p, q in side))
    h.update("|".join(parts).encode())
    return h.hexdigest()


def decision_record(
    decision: Decision, sync: BookSync, payload: object, hash_levels: int | None = HASH_LEVELS
) -> dict[str, Any]:
    """The ``d`` record of a (not per-event) decision of ``sync``: its venue, symbol, the
    decision, the state, update id and generation after it, the reason (``payload`` when
    it is a text), and the hash of the book when it is LIVE (:func:`book_hash`)."""
    return {
        "k": "d",
        "v": sync.venue.value,
        "s": sync.symbol,
        "d": decision.value,
        "state": sync.state.value,
        "update_id": sync.update_id,
        "generation": sync.generation,
        "reason": payload if isinstance(payload, str) else sync.reason,
        "hash": book_hash(sync, hash_levels) if sync.state.value == "live" else None,
    }


def book_hash(sync: BookSync, levels: int | None = HASH_LEVELS) -> str | None:
    """The hash of ``sync``'s book (None without a book).

    ``levels=None`` (the default): the whole book, every level of both sides (32 hex
    digits; see :func:`whole_book_hash`). An ``int``: the top ``levels`` per side
    (:func:`level_hash`, 16 hex digits), as captures written before hashed them.
    """
    book = sync.book
    if book is None:
        return None
    if levels is None:
        return whole_book_hash(book.bids, book.asks)
    bids, asks = book.depth(levels)
    return level_hash(bids, asks)


def hash_levels_of(header: dict[str, Any]) -> int | None:
    """The ``levels`` of :func:`book_hash` that a segment's hashes were made with.

    A header's ``"hl"`` (``null``: the whole book), else the recorder's
    ``"recorder": {"hash_levels": ...}``, else :data:`LEGACY_HASH_LEVELS` (captures
    written before either said). A value that is neither ``null`` nor a positive
    ``int`` is read as the legacy one (the hashes then disagree: a verification fails).
    """
    if "hl" in header:
        value = header["hl"]
    else:
        recorder = header.get("recorder")
        value = (
            recorder.get("hash_levels", LEGACY_HASH_LEVELS)
            if isinstance(recorder, dict)
            else LEGACY_HASH_LEVELS
        )
    if value is None or (type(value) is int and value > 0):
        return value
    return LEGACY_HASH_LEVELS


_NAN = float("nan")
_FLOAT_DIGITS = 15  # a double holds every decimal of up to 15 significant digits exactly
_SWAP = sys.byteorder != "little"


def _exact(value: Any, extras: list[str], index: int) -> float:
    """``value`` as the double it is exactly (<= 15 significant digits), else a NaN and
    its exact normalised text appended to ``extras`` with ``index``."""
    number = (value if isinstance(value, Decimal) else Decimal(str(value))).normalize()
    if len(number.as_tuple().digits) <= _FLOAT_DIGITS:
        return float(number)
    extras.append(f"{index}={number}")
    return _NAN


def _quantity(value: Any, extras: list[str], index: int) -> float:
    if type(value) is float:
        return value
    if type(value) is str and len(value) <= _FLOAT_DIGITS:
        return float(value)
    return _exact(value, extras, index)


def _side_bytes(side: dict[Any, Any], keys: list[Any], tag: bytes) -> bytes:
    """One side's levels in ``keys`` order as bytes that depend only on their values."""
    values = list(map(side.__getitem__, keys))
    extras: list[str] = []
    key_types = set(map(type, keys))
    if key_types <= {float}:
        prices = array("d", keys)
    else:
        prices = array(
            "d", [k if type(k) is float else _exact(k, extras, i) for i, k in enumerate(keys)]
        )
    value_types = set(map(type, values))
    if value_types <= {float}:
        qtys = array("d", values)
    elif value_types <= {float, str} and max(map(len, filter(str.__instancecheck__, values))) <= (
        _FLOAT_DIGITS
    ):
        # An exchange's spelling of at most 15 characters has at most 15 digits: its
        # double is exact, and the same for every spelling of the value.
        qtys = array("d", map(float, values))
    else:
        qtys = array("d", [_quantity(v, extras, i) for i, v in enumerate(values, len(keys))])
    if _SWAP:
        prices.byteswap()
        qtys.byteswap()
    tail = ";".join(extras).encode()
    head = tag + len(keys).to_bytes(8, "little") + len(tail).to_bytes(8, "little")
    return head + prices.tobytes() + qtys.tobytes() + tail


def whole_book_hash(bids: dict[Any, Any], asks: dict[Any, Any]) -> str:
    """A hash of every level of a book's two sides (``SortedDict`` price -> quantity).

    It depends on the levels' values only, never on how they are stored or spelled
    (``"1.50"``, ``"1.5"`` and the float ``1.5`` are one quantity): each price and
    quantity is its exact double (every value of up to 15 significant digits is one),
    or its exact decimal text beyond. One pass over the sorted keys builds two float
    arrays per side, hashed with BLAKE2b (16 bytes, 32 hex digits).
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(_side_bytes(bids, list(bids), b"b"))
    h.update(_side_bytes(asks, list(asks), b"a"))
    return h.hexdigest()


def event_record(event: DepthUpdate) -> list[Any]:
    """A buffered event as a JSON list (levels verbatim)."""
    return [
        event.symbol,
        event.first_id,
        event.last_id,
        event.prev_id,
        event.bids,
        event.asks,
        event.event_time,
    ]


def event_from_record(item: list[Any]) -> DepthUpdate:
    """The inverse of :func:`event_record`."""
    return DepthUpdate(*item)


def counts_of(sync: BookSync) -> dict[str, int]:
    """The sync's non-zero decision counters, by decision value."""
    return {d.value: n for d, n in sync.counts.items() if n}


def book_state(sync: BookSync, *, full: bool = True) -> dict[str, Any]:
    """Everything a replay needs to carry on ``sync`` from this point (see ``book`` records).

    The whole book is written when the book would be used by the next event (LIVE or
    STALE); the buffer always.
    """
    position = sync.checkpoint()
    state = sync.state
    record: dict[str, Any] = {
        "v": sync.venue.value,
        "s": sync.symbol,
        **position,
        "buffer": [event_record(e) for e in position["buffer"]],
        "hash": None,
        "levels": None,
    }
    if full and sync.book is not None and state.value in ("live", "stale"):
        bids, asks = sync.book.depth()
        record["levels"] = {
            "bids": [[_plain(p), _plain(q)] for p, q in bids],
            "asks": [[_plain(p), _plain(q)] for p, q in asks],
        }
    if sync.book is not None:
        record["hash"] = book_hash(sync)
    return record


def venue_of(value: str) -> Venue:
    return Venue(value)
