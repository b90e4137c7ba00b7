"""Read-side types: levels, fill estimates, and immutable book views.

The analytics (spread, mid, fill prices, band quantity) are plain functions
over sequences of :class:`Level`, best first, so the live
:class:`~orderbook.book.OrderBook` and the frozen :class:`BookView` share one
implementation of each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

import numpy as np


class Side(StrEnum):
    """Taker side of a hypothetical fill: ``BUY`` walks the asks, ``SELL`` walks the bids."""

    BUY = "buy"
    SELL = "sell"


class Level(NamedTuple):
    """One price level, exact."""

    price: Decimal
    qty: Decimal


class FillEstimate(NamedTuple):
    """What filling ``requested`` quantity against the book would cost.

    ``average`` is the volume-weighted price, ``worst`` the last level touched.
    ``complete`` is False when the book holds less than ``requested``, in
    which case ``filled`` says how much it holds and the prices describe that.
    Prices are ``None`` when nothing could be filled.
    """

    side: Side
    requested: Decimal
    filled: Decimal
    average: Decimal | None
    worst: Decimal | None
    complete: bool


def spread_of(best_bid: Level | None, best_ask: Level | None) -> Decimal | None:
    """Best ask minus best bid, or ``None`` if a side is empty."""
    if best_bid is None or best_ask is None:
        return None
    return best_ask.price - best_bid.price


def mid_of(best_bid: Level | None, best_ask: Level | None) -> Decimal | None:
    """Midpoint of best bid and best ask, or ``None`` if a side is empty."""
    if best_bid is None or best_ask is None:
        return None
    return (best_ask.price + best_bid.price) / 2


def estimate_fill(side: Side, levels: Iterable[Level], qty: Decimal | str | int) -> FillEstimate:
    """Walk ``levels`` (best first) to fill ``qty``; see :class:`FillEstimate`."""
    side = Side(side)
    requested = Decimal(qty)
    if not requested.is_finite() or requested <= 0:
        raise ValueError(f"quantity to fill must be positive, got {qty!r}")
    remaining = requested
    notional = Decimal(0)
    worst: Decimal | None = None
    for price, available in levels:
        take = available if available < remaining else remaining
        notional += take * price
        remaining -= take
        worst = price
        if remaining == 0:
            break
    filled = requested - remaining
    average = notional / filled if filled else None
    return FillEstimate(side, requested, filled, average, worst, remaining == 0)


def quantity_within(levels: Iterable[Level], low: Decimal, high: Decimal) -> Decimal:
    """Total quantity of the levels whose price lies in ``[low, high]``."""
    return sum((lv.qty for lv in levels if low <= lv.price <= high), Decimal(0))


def levels_to_array(levels: Iterable[Level] | Iterable[tuple[float, float]]) -> np.ndarray:
    """``(n, 2)`` float64 array of ``(price, qty)`` rows."""
    flat = [float(x) for level in levels for x in level]
    return np.array(flat, dtype=np.float64).reshape(-1, 2)


@dataclass(frozen=True, slots=True)
class BookView:
    """A consistent, immutable copy of (the top of) a book and its sync metadata.

    ``state`` is the book's sync state when the view was taken: a view is
    only ``"live"`` if the book was LIVE; a caller who asked for a possibly
    stale view sees the real state here. ``update_id`` is the last applied
    update id, ``generation`` counts snapshots taken into this book, and
    ``last_event_time`` is the local wall-clock time (seconds) of the last
    applied event. ``bids`` and ``asks`` are best first; ``levels`` is how many
    levels per side were copied (``None``: all).
    """

    symbol: str
    venue: str
    state: str
    update_id: int | None
    generation: int
    last_event_time: float | None
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    levels: int | None = None
    reason: str | None = None

    @property
    def is_live(self) -> bool:
        """True if the book was LIVE when this view was taken."""
        return self.state == "live"

    def best_bid(self) -> Level | None:
        """Highest bid, or ``None``."""
        return self.bids[0] if self.bids else None

    def best_ask(self) -> Level | None:
        """Lowest ask, or ``None``."""
        return self.asks[0] if self.asks else None

    def spread(self) -> Decimal | None:
        """Best ask minus best bid."""
        return spread_of(self.best_bid(), self.best_ask())

    def mid(self) -> Decimal | None:
        """Midpoint of best bid and ask."""
        return mid_of(self.best_bid(), self.best_ask())

    def depth(self, n: int | None = None) -> tuple[list[Level], list[Level]]:
        """Top ``n`` levels per side as lists ``(bids, asks)``, best first."""
        return list(self.bids[:n]), list(self.asks[:n])

    def arrays(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` levels per side as ``(n, 2)`` float64 arrays of (price, qty)."""
        return levels_to_array(self.bids[:n]), levels_to_array(self.asks[:n])

    def fill(self, side: Side | str, qty: Decimal | str | int) -> FillEstimate:
        """Average and worst price to fill ``qty`` as a taker on ``side``.

        Only the copied levels are walked.
        """
        side = Side(side)
        return estimate_fill(side, self.asks if side is Side.BUY else self.bids, qty)

    def quantity_between(
        self, book_side: str, low: Decimal | str | int, high: Decimal | str | int
    ) -> Decimal:
        """Total quantity on ``book_side`` (``"bids"``/``"asks"``) priced within ``[low, high]``."""
        levels = _pick_side(self.bids, self.asks, book_side)
        return quantity_within(levels, Decimal(low), Decimal(high))


def _pick_side(bids: Sequence[Level], asks: Sequence[Level], book_side: str) -> Sequence[Level]:
    if book_side in ("bids", "bid"):
        return bids
    if book_side in ("asks", "ask"):
        return asks
    raise ValueError(f"book side must be 'bids' or 'asks', got {book_side!r}")
