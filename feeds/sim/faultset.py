"""Fault injection for the simulator: per (venue, symbol), seeded, switchable at run time.

A :class:`Faults` object holds the knobs of one symbol; :class:`FaultBoard`
holds them all, and counts every fault actually injected (``counts``), so a
test can check that a client saw and handled each one. Wire faults act on
``depth_update`` pushes only and never on the exchange's own book:

- ``drop``, ``duplicate``, ``reorder`` (swap with the next push), ``malformed``
  (half a frame), ``unknown_topic`` (an extra push with a made-up topic):
  probabilities per push, or a count of one-shot injections (``*_next``);
- ``skip_ids``: consume ids in the book without pushing them (a real gap);
- ``stall``: no ``depth_update`` pushes while true (pings still answered);
- ``silent``: while on, every connection subscribed to the symbol goes
  half-open at its next push: the TCP connection and the websocket stay up, but
  the server stops reading and sending on it (no push, no pong, no close
  handshake) while the market moves on (a client that reconnects meets it
  again at its next push, until the knob is off);
- ``delay_ms``: hold each push this long;
- ``disconnect_after``: close each subscribed connection after N more frames;
- ``snapshot_lag``: serve REST snapshots lagging the stream by N ids;
- ``snapshot_429`` / ``snapshot_5xx``: answer the next N snapshot requests so.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any

from orderbook import Venue


@dataclass(slots=True)
class Faults:
    """The fault knobs of one (venue, symbol); all off by default."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    malformed: float = 0.0
    unknown_topic: float = 0.0
    drop_next: int = 0
    duplicate_next: int = 0
    reorder_next: int = 0
    malformed_next: int = 0
    unknown_topic_next: int = 0
    skip_ids_next: int = 0
    stall: bool = False
    silent: bool = False
    delay_ms: int = 0
    disconnect_after: int | None = None
    snapshot_lag: int = 0
    snapshot_429: int = 0
    snapshot_5xx: int = 0
    retry_after: int = 1

    def any_wire_fault(self) -> bool:
        """True if any per-push fault could fire."""
        return bool(
            self.drop or self.duplicate or self.reorder or self.malformed or self.unknown_topic
            or self.drop_next or self.duplicate_next or self.reorder_next or self.malformed_next
            or self.unknown_topic_next
        )  # fmt: skip


FAULT_NAMES = tuple(f.name for f in fields(Faults))


class FaultBoard:
    """Every symbol's :class:`Faults`, the seeded dice, and the injected-fault counters."""

    def __init__(self, seed: int = 0) -> None:
        self._faults: dict[tuple[Venue, str], Faults] = {}
        self.rng = random.Random(seed ^ 0xFA17)
        #: (venue, symbol, fault) -> times injected
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def of(self, venue: Venue | str, symbol: str) -> Faults:
        """The knobs of ``symbol`` on ``venue`` (created off)."""
        key = (Venue(venue), symbol)
        faults = self._faults.get(key)
        if faults is None:
            faults = self._faults[key] = Faults()
        return faults

    def set(self, venue: Venue | str, symbol: str, **knobs: Any) -> Faults:
        """Set knobs, e.g. ``board.set("spot", "btc_usdt", drop_next=1, snapshot_lag=50)``."""
        faults = self.of(venue, symbol)
        for name, value in knobs.items():
            if name not in FAULT_NAMES:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULT_NAMES)}")
            setattr(faults, name, value)
        return faults

    def clear(self, venue: Venue | str | None = None, symbol: str | None = None) -> None:
        """Switch faults off (all, one venue's, or one symbol's)."""
        for (v, s), _ in list(self._faults.items()):
            if (venue is None or v is Venue(venue)) and (symbol is None or s == symbol):
                self._faults[v, s] = Faults()

    def count(self, venue: Venue, symbol: str, fault: str) -> None:
        """Record one injected fault."""
        self.counts[venue.value, symbol, fault] += 1

    def total(self, fault: str, venue: Venue | str | None = None) -> int:
        """Injections of ``fault`` (on one venue, or all)."""
        v = Venue(venue).value if venue is not None else None
        return sum(n for (cv, _, f), n in self.counts.items() if f == fault and v in (None, cv))

    def roll(self, faults: Faults, name: str) -> bool:
        """Whether fault ``name`` fires now (one-shot counters first, then probability)."""
        next_name = f"{name}_next"
        pending = getattr(faults, next_name)
        if pending:
            setattr(faults, next_name, pending - 1)
            return True
        p = getattr(faults, name)
        return bool(p) and self.rng.random() < p
