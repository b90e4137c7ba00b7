"""The board's bytes: one shared-memory file, a header, and one fixed-size slot per book.

A board named ``NAME`` is the file ``/dev/shm/wexbook-board.NAME`` (Linux shared memory;
mode 0600, so the engine's user reads it). Every integer is little-endian.

Header (``HEADER_SIZE`` bytes, written once before the file appears under its name,
except the three atomic words)::

    0   magic "WEXBOARD"           8   version u32, header size u32
    16  slot size u32, slots u32   24  levels per side u32, text capacity u32
    32  epoch u64 (new at every engine start)
    40  writer pid u32, pad        48  heartbeat interval ns u64
    56  heartbeat ns u64 (atomic: CLOCK_MONOTONIC of the writer's last beat)
    64  board state u64 (atomic: 1 running, 2 stopped)
    72  books u64 (atomic: slots in use; a slot's identity is written before it counts)
    80  created wall-clock ns u64

Slot ``i`` starts at ``HEADER_SIZE + i * slot_size``::

    0   identity: venue code u8, symbol length u8, symbol (written once)
    64  seq u64 (the seqlock), waiters u32 (readers blocked in a wait), pad u32
    80  payload (written under the seqlock):
          update id i64 (-1: none), generation u64, last event wall time f64 (NaN: none),
          publish ns i64 (CLOCK_MONOTONIC), state u8, cause u8, reason length u16,
          bids u16, asks u16, text length u32, reason (REASON_MAX bytes, UTF-8), then
          the text: the exact spellings of the levels, ``price qty`` pairs separated by
          single spaces, bids best first then asks best first.

Levels are exact as text: each price and quantity is the decimal spelling whose
``Decimal`` is the in-process view's (the quantity string the exchange sent, the
``repr`` of a float price key...), so a reader's ``Decimal(text)`` is the same value
with the same exponent. State and cause are the codes of :mod:`feeds.status`;
state ``UNFIT`` (255) says the levels did not fit the slot's text capacity.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass

from orderbook import Venue

MAGIC = b"WEXBOARD"
VERSION = 1
HEADER_SIZE = 4096
#: Where board files live (Linux shared memory).
SHM_DIR = "/dev/shm"
PREFIX = "wexbook-board."

# Header offsets.
H_HEADER = struct.Struct("<8sIIIIIIQI4xQ")  # magic .. heartbeat interval (0..56)
H_HEARTBEAT = 56
H_STATE = 64
H_BOOKS = 72
H_CREATED = 80
RUNNING = 1
STOPPED = 2

# Slot offsets.
IDENTITY_SIZE = 64
SYMBOL_MAX = IDENTITY_SIZE - 2
SEQ_AT = 64  #: the slot's seqlock word (the region's slot offset points here)
PAYLOAD_AT = 80
PAYLOAD_HEAD = struct.Struct("<qQdqBBHHHI")
REASON_MAX = 200
#: Bytes of the payload before the text.
HEAD_SIZE = PAYLOAD_HEAD.size + REASON_MAX
#: Offset of the text length inside the payload.
TEXT_LEN_AT = PAYLOAD_HEAD.size - 4
#: Text bytes per level (price, quantity and two spaces) the slot reserves.
BYTES_PER_LEVEL = 64
UNFIT = 255

VENUES: tuple[Venue, ...] = (Venue.SPOT, Venue.FUTURES)
VENUE_CODES = {venue: code for code, venue in enumerate(VENUES)}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str) -> str:
    """``name`` if it may name a board (letters, digits, ``_ . -``, 1-64), else ``ValueError``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"a board name is 1-64 letters, digits, '_', '.' or '-' (not first): {name!r}"
        )
    return name


def board_path(name: str) -> str:
    """The file of board ``name``."""
    return f"{SHM_DIR}/{PREFIX}{check_name(name)}"


def text_capacity(levels: int) -> int:
    """Text bytes a slot reserves for ``levels`` per side."""
    return levels * 2 * BYTES_PER_LEVEL


def slot_size(levels: int) -> int:
    """Bytes of one slot (a multiple of 64)."""
    raw = PAYLOAD_AT + HEAD_SIZE + text_capacity(levels)
    return (raw + 63) // 64 * 64


@dataclass(frozen=True, slots=True)
class Geometry:
    """The fixed shape of one board."""

    slots: int
    levels: int

    @property
    def slot_size(self) -> int:
        """Bytes of a slot."""
        return slot_size(self.levels)

    @property
    def text_capacity(self) -> int:
        """Text bytes of a slot."""
        return text_capacity(self.levels)

    @property
    def size(self) -> int:
        """Bytes of the whole file."""
        return HEADER_SIZE + self.slots * self.slot_size

    def slot_at(self, index: int) -> int:
        """Offset of slot ``index``."""
        return HEADER_SIZE + index * self.slot_size


@dataclass(frozen=True, slots=True)
class Header:
    """The constant part of a board's header."""

    version: int
    slot_size: int
    slots: int
    levels: int
    text_capacity: int
    epoch: int
    pid: int
    heartbeat_interval_ns: int


def pack_header(geometry: Geometry, epoch: int, pid: int, interval_ns: int) -> bytes:
    """The constant header bytes of a new board."""
    return H_HEADER.pack(
        MAGIC,
        VERSION,
        HEADER_SIZE,
        geometry.slot_size,
        geometry.slots,
        geometry.levels,
        geometry.text_capacity,
        epoch,
        pid,
        interval_ns,
    )


def unpack_header(data: bytes) -> Header:
    """The header of ``data``; ``ValueError`` if it is not a board this version reads."""
    if len(data) < H_HEADER.size:
        raise ValueError("too short for a board header")
    magic, version, header, slot, slots, levels, cap, epoch, pid, interval = H_HEADER.unpack_from(
        data
    )
    if magic != MAGIC:
        raise ValueError("not a wexbook board (bad magic)")
    if version != VERSION or header != HEADER_SIZE:
        raise ValueError(f"board version {version} (this wexbook reads {VERSION})")
    if slot != slot_size(levels) or cap != text_capacity(levels):
        raise ValueError("inconsistent board header")
    return Header(version, slot, slots, levels, cap, epoch, pid, interval)


def pack_identity(venue: Venue, symbol: str) -> bytes:
    """A slot's identity bytes."""
    raw = symbol.encode()
    if len(raw) > SYMBOL_MAX:
        raise ValueError(f"symbol too long for the board: {symbol!r}")
    return bytes((VENUE_CODES[venue], len(raw))) + raw + bytes(SYMBOL_MAX - len(raw))


def unpack_identity(data: bytes) -> tuple[str, str]:
    """``(venue, symbol)`` of a slot's identity bytes."""
    return VENUES[data[0]].value, data[2 : 2 + data[1]].decode()


def encode_reason(reason: str | None) -> bytes:
    """``reason`` as at most :data:`REASON_MAX` UTF-8 bytes (cut on a character)."""
    if not reason:
        return b""
    raw = reason.encode("utf-8", "replace")
    if len(raw) > REASON_MAX:
        raw = raw[:REASON_MAX].decode("utf-8", "ignore").encode()
    return raw


def none_id(update_id: int | None) -> int:
    """An update id as stored (-1 for none)."""
    return -1 if update_id is None else update_id


def some_time(value: float | None) -> float:
    """A wall time as stored (NaN for none)."""
    return math.nan if value is None else value
