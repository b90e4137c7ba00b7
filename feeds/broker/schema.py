"""The broker stream schema, version 1: what a publisher writes and a subscriber reads.

Every book has one stream (Redis: the stream key ``{prefix}:{venue}:{symbol}``; NATS
JetStream: the subject ``{prefix}.{venue}.{symbol}`` of the stream ``BOOKS_{prefix}``, see
:mod:`feeds.broker.jetstream`). A stream *entry* is one JSON
array (UTF-8, written with orjson) of *messages*, oldest first; a publisher puts
several messages of one book in one entry when they leave in the same batch, and it
starts a new entry at every snapshot or status, so that such a message always opens
its entry. The entry that opens with the latest snapshot or status is also kept as
the book's *head* (Redis: the hash ``{stream}:head`` with fields ``id``, the entry's
stream id, and ``m``, the entry; NATS: the one message of the subject
``{prefix}.head.{venue}.{symbol}`` in the stream ``HEADS_{prefix}``, the entry with the
header ``Wexbook-Position``, its sequence number in ``BOOKS_{prefix}``): a new subscriber
reads it in one call and then reads the stream after it.

Every message is a JSON object with these fields:

=======  ==========================================================================
field    meaning
=======  ==========================================================================
``v``    schema version (1); a reader refuses a message of another version
``k``    kind: ``"snapshot"``, ``"delta"``, ``"status"`` or ``"heartbeat"``
``p``    publisher instance id (random per publisher start): a new one means a new
         sequence
``n``    local sequence number: contiguous per book and publisher instance, over every
         message of every kind (a missing number is a lost or trimmed message)
``g``    the book's generation (snapshots the engine accepted into it)
``u``    the exchange update id the book stands at after this message (``null``
         before the first snapshot)
``t``    publish time, epoch nanoseconds
=======  ==========================================================================

and, by kind:

- ``snapshot``: ``s``, the state code (:data:`feeds.status.STATES`: 0, LIVE, or STALE
  for a book whose levels are whole but not fresh); ``b`` and ``a``, every level of the whole
  book, best first, as ``[price, quantity]`` exact decimal strings; ``c``, the
  :func:`checksum` of those levels.
- ``delta`` (one exchange ``depth_update`` the engine applied): ``b`` and ``a``, the
  exact level changes as the exchange spelled them (quantity ``"0"`` deletes a level);
  ``fi``, ``u`` and ``pi``, the exchange's first, last and previous ids (``pi`` is
  ``null`` on spot); ``pu``, the update id the book stood at before it (the ``u`` of
  the stream's previous message: a reader checks that they chain); ``r``, when the
  engine received the frame, epoch nanoseconds.
- ``status``: ``s`` and ``ca``, the state and cause codes (:mod:`feeds.status`), and
  ``r``, the reason text (``null`` when LIVE). A not-LIVE status is also written when
  the stream itself broke (the publisher's queue overflowed, or it reconnected to the
  broker): then a snapshot follows as soon as the book is LIVE.
- ``heartbeat``: the publisher is alive; ``s`` as in a status. Written when nothing
  else was written for the book for the publisher's heartbeat interval.

A book's messages are applied in ``n`` order; a reader serves a view only while it
holds a book rebuilt from a snapshot and every later message of the same publisher
without a missing ``n``, the last status or snapshot said LIVE, and the publisher was
heard from within the reader's silence bound. The publisher writes a snapshot at
least every ``snapshot_every`` messages and ``snapshot_interval`` seconds (a not-LIVE
book: a status), so a stream trimmed to its bound (far more messages than that)
always holds a recent snapshot or status.

>>> message = {"v": 1, "k": "heartbeat", "p": "ab12", "n": 7, "g": 1, "u": 42, "s": 0, "t": 1}
>>> decode_entry(encode_entry([message])) == [message]
True
>>> checksum([("100.5", "2")], [("101", "0.10")]) == checksum([("100.50", "2.0")], [("101", "0.1")])
True
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import orjson

#: The version of the schema this module writes and reads.
VERSION = 1

SNAPSHOT = "snapshot"
DELTA = "delta"
STATUS = "status"
HEARTBEAT = "heartbeat"
KINDS = (SNAPSHOT, DELTA, STATUS, HEARTBEAT)

#: The default key prefix (Redis) and subject prefix (NATS).
DEFAULT_PREFIX = "wexbook"


class SchemaError(ValueError):
    """An entry or message that this version of the schema cannot read."""


def stream_name(prefix: str, venue: str, symbol: str, sep: str = ":") -> str:
    """The stream key (Redis, ``sep`` ``:``) or subject (NATS, ``sep`` ``.``) of a book."""
    return f"{prefix}{sep}{venue}{sep}{symbol}"


def encode_entry(messages: list[dict[str, Any]]) -> bytes:
    """One stream entry (a JSON array of messages)."""
    return orjson.dumps(messages)


def join_entry(messages: list[bytes]) -> bytes:
    """One stream entry from messages each already encoded (:func:`encode_message`,
    :func:`encode_delta`): the same bytes :func:`encode_entry` writes for them."""
    return b"[" + b",".join(messages) + b"]"


def encode_message(message: dict[str, Any]) -> bytes:
    """One message, encoded for :func:`join_entry`."""
    return orjson.dumps(message)


_DELTA = (
    b'{"v":%d,"k":"delta","p":"%s","n":%d,"g":%d,"u":%d,"t":%d,"b":%s,"a":%s,"fi":%d,'
    b'"pi":%s,"pu":%s,"r":%d}'
)


def encode_delta(
    instance: bytes,
    n: int,
    generation: int,
    last_id: int,
    now_ns: int,
    bids: bytes,
    asks: bytes,
    first_id: int,
    prev_id: int | None,
    before: int | None,
    received: int,
) -> bytes:
    """A ``delta`` message, encoded for :func:`join_entry` without building it: ``bids``
    and ``asks`` are the levels' JSON text (as the exchange spelled them), ``instance``
    the publisher's id (ASCII), ``before`` the ``pu``. The same message as
    :func:`encode_message` of the fields (``tests/test_broker_redis.py`` checks it)."""
    return _DELTA % (
        VERSION, instance, n, generation, last_id, now_ns, bids, asks, first_id,
        b"null" if prev_id is None else b"%d" % prev_id,
        b"null" if before is None else b"%d" % before,
        received,
    )  # fmt: skip


def decode_entry(data: bytes | str) -> list[dict[str, Any]]:
    """The messages of one stream entry; :class:`SchemaError` for anything else."""
    try:
        messages = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"entry is not JSON: {exc}") from None
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise SchemaError("entry is not a JSON array of messages")
    for message in messages:
        if message.get("v") != VERSION:
            raise SchemaError(f"schema version {message.get('v')!r} is not {VERSION}")
        if message.get("k") not in KINDS:
            raise SchemaError(f"unknown message kind {message.get('k')!r}")
    return messages


def decimal_text(value: Decimal) -> str:
    """The exact plain spelling of a level's price or quantity (no exponent)."""
    return format(value, "f")


def _canonical(text: str | Decimal) -> str:
    value = text if isinstance(text, Decimal) else Decimal(text)
    return format(value.normalize(), "f")


def checksum(bids: Iterable[tuple[Any, Any]], asks: Iterable[tuple[Any, Any]]) -> int:
    """CRC-32 of the levels, best first, each spelled canonically (``"2.0"`` and ``"2"``
    are one number): ``b`` then every ``price:qty`` of the bids, ``a`` then the asks."""
    parts = ["b"]
    parts.extend(f"{_canonical(p)}:{_canonical(q)}" for p, q in bids)
    parts.append("a")
    parts.extend(f"{_canonical(p)}:{_canonical(q)}" for p, q in asks)
    return zlib.crc32(",".join(parts).encode())
