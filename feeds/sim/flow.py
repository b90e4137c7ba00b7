"""Deterministic order flow for one symbol: an exact book and the events that change it.

The book is held in integer ticks and integer quantity units, so it is exact
and cheap; prices and quantities are formatted as decimal strings only when
an event or snapshot is produced. The same seed and the same calls give the
same output, byte for byte.

Each :meth:`OrderFlow.step` changes 1..``max_changes`` levels per side:
about 2/3 updates of existing levels, 1/6 new levels and 1/6 deletes,
chosen mostly near the top of the book (an exponential distance from the
best level), so that the mid price random-walks. The book never crosses.
Every step consumes at least one update id (sometimes several, as merged
exchange updates do).
"""

from __future__ import annotations

import random
from bisect import bisect_left, insort
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class FlowConfig:
    """Shape of the generated market (defaults: the benchmark stream)."""

    symbol: str = "btc_usdt"
    mid_ticks: int = 3_000_000  #: initial mid price in ticks (30000.00 at 2 decimals)
    price_places: int = 2  #: decimals of a tick (0.01)
    qty_places: int = 4  #: decimals of a quantity unit (0: whole units, e.g. futures contracts)
    max_qty: int = 50  #: a level's quantity is uniform in (0, max_qty], in steps of one unit
    levels: int = 500  #: initial levels per side
    min_levels: int = 50  #: a side never shrinks below this
    max_changes: int = 20  #: changes per side per step: uniform in 1..max_changes
    near_top: float = 12.0  #: mean distance (in levels) of a change from the best level
    absent_delete_rate: float = 0.02  #: share of deletes aimed at a price not in the book
    max_ids_per_step: int = 3  #: each step consumes 1..this many update ids
    start_id: int = 1_000_000


class OrderFlow:
    """A seeded, exact, single-symbol order flow.

    ``bids``/``asks`` map tick -> quantity units; ``last_id`` is the id of the
    last change. :meth:`step` returns the next event's ids and changes;
    :meth:`spot_frame` / :meth:`futures_frame` render them as wire frames.
    """

    def __init__(self, seed: int = 0, config: FlowConfig | None = None) -> None:
        self.config = cfg = config or FlowConfig()
        self.rng = random.Random(seed)
        self.last_id = cfg.start_id
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        # Sorted tick lists, best first in access order: bid ticks ascending (best = last),
        # ask ticks ascending (best = first).
        self._bid_ticks: list[int] = []
        self._ask_ticks: list[int] = []
        self._price_scale = 10**cfg.price_places
        self._qty_scale = 10**cfg.qty_places
        rng = self.rng
        tick = cfg.mid_ticks - 1
        for _ in range(cfg.levels):
            self.bids[tick] = self._random_qty()
            tick -= 1 + (rng.random() < 0.3)
        tick = cfg.mid_ticks + 1
        for _ in range(cfg.levels):
            self.asks[tick] = self._random_qty()
            tick += 1 + (rng.random() < 0.3)
        self._bid_ticks = sorted(self.bids)
        self._ask_ticks = sorted(self.asks)

    # -- formatting ----------------------------------------------------------

    def price_str(self, tick: int) -> str:
        """Decimal spelling of a tick, with exactly ``price_places`` decimals."""
        places = self.config.price_places
        if not places:
            return str(tick)
        whole, frac = divmod(tick, self._price_scale)
        return f"{whole}.{frac:0{places}d}"

    def qty_str(self, units: int) -> str:
        """Decimal spelling of a quantity (``"0"``... for zero, with ``qty_places`` decimals)."""
        places = self.config.qty_places
        if not places:
            return str(units)
        whole, frac = divmod(units, self._qty_scale)
        return f"{whole}.{frac:0{places}d}"

    def price(self, tick: int) -> Decimal:
        """Exact price of a tick."""
        return Decimal(tick).scaleb(-self.config.price_places)

    def quantity(self, units: int) -> Decimal:
        """Exact quantity of some units."""
        return Decimal(units).scaleb(-self.config.qty_places)

    # -- ground truth --------------------------------------------------------

    def best_bid(self) -> int | None:
        """Best bid tick."""
        return self._bid_ticks[-1] if self._bid_ticks else None

    def best_ask(self) -> int | None:
        """Best ask tick."""
        return self._ask_ticks[0] if self._ask_ticks else None

    def exact_levels(
        self, depth: int | None = None
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Exact ``(bids, asks)`` best first, as ``(price, qty)`` Decimals."""
        bids = [
            (self.price(t), self.quantity(self.bids[t]))
            for t in reversed(self._bid_ticks[-depth:] if depth else self._bid_ticks)
        ]
        asks = [
            (self.price(t), self.quantity(self.asks[t]))
            for t in (self._ask_ticks[:depth] if depth else self._ask_ticks)
        ]
        return bids, asks

    def snapshot_levels(self, depth: int | None = None) -> tuple[list[list[str]], list[list[str]]]:
        """``(bids, asks)`` best first as wire ``[price, qty]`` strings."""
        ticks_b = reversed(self._bid_ticks[-depth:] if depth else self._bid_ticks)
        ticks_a = self._ask_ticks[:depth] if depth else self._ask_ticks
        return (
            [[self.price_str(t), self.qty_str(self.bids[t])] for t in ticks_b],
            [[self.price_str(t), self.qty_str(self.asks[t])] for t in ticks_a],
        )

    def spot_snapshot_result(self, depth: int = 500, timestamp: int = 0) -> dict[str, Any]:
        """The ``result`` of ``GET /v4/public/depth`` for the current book."""
        bids, asks = self.snapshot_levels(depth)
        return {"timestamp": timestamp, "lastUpdateId": self.last_id, "bids": bids, "asks": asks}

    def futures_snapshot_result(self, depth: int = 500, timestamp: int = 0) -> dict[str, Any]:
        """The ``result`` of the futures depth endpoints for the current book."""
        bids, asks = self.snapshot_levels(depth)
        return {"a": asks, "b": bids, "s": self.config.symbol, "t": timestamp, "u": self.last_id}

    # -- flow ------------------------------------------------------------------

    def _random_qty(self) -> int:
        return self.rng.randint(1, self.config.max_qty * self._qty_scale)

    def _near_top(self, n: int) -> int:
        """An index counted from the best level, mostly small."""
        k = int(self.rng.expovariate(1.0 / self.config.near_top))
        return k if k < n else self.rng.randrange(n)

    def step(self) -> tuple[int, int, list[list[str]], list[list[str]]]:
        """Advance the market by one event: ``(first_id, last_id, bid_changes, ask_changes)``."""
        rng, cfg = self.rng, self.config
        first = self.last_id + 1
        self.last_id += rng.randint(1, cfg.max_ids_per_step)
        bid_changes = self._side_changes(True, rng.randint(1, cfg.max_changes))
        ask_changes = self._side_changes(False, rng.randint(1, cfg.max_changes))
        return first, self.last_id, bid_changes, ask_changes

    def _side_changes(self, is_bid: bool, count: int) -> list[list[str]]:
        rng, cfg = self.rng, self.config
        book = self.bids if is_bid else self.asks
        ticks = self._bid_ticks if is_bid else self._ask_ticks
        touched: dict[int, int] = {}  # tick -> new qty units (0 = deleted); one change per tick
        for _ in range(count):
            roll = rng.random()
            n = len(ticks)
            if roll < 2 / 3 or (roll >= 5 / 6 and n <= cfg.min_levels):
                k = self._near_top(n)
                tick = ticks[n - 1 - k] if is_bid else ticks[k]
                if tick in touched:
                    continue
                qty = self._random_qty()
                book[tick] = qty
            elif roll < 5 / 6:
                tick = self._free_tick(is_bid)
                if tick is None or tick in touched:
                    continue
                qty = self._random_qty()
                book[tick] = qty
                insort(ticks, tick)
            else:
                if rng.random() < cfg.absent_delete_rate:
                    tick = self._absent_tick(is_bid)
                    if tick is None or tick in touched:
                        continue
                    qty = 0
                else:
                    k = self._near_top(n)
                    tick = ticks[n - 1 - k] if is_bid else ticks[k]
                    if tick in touched:
                        continue
                    qty = 0
                    del book[tick]
                    del ticks[bisect_left(ticks, tick)]
            touched[tick] = qty
        return [[self.price_str(t), self.qty_str(q)] for t, q in touched.items()]

    def _free_tick(self, is_bid: bool) -> int | None:
        """A price not in the book on this side, near the top, that does not cross."""
        rng = self.rng
        best_bid, best_ask = self.best_bid(), self.best_ask()
        assert best_bid is not None and best_ask is not None
        book = self.bids if is_bid else self.asks
        spread = best_ask - best_bid
        if spread > 1 and rng.random() < 0.25:  # improve the top, inside the spread
            offset = rng.randint(1, spread - 1)
            return best_bid + offset if is_bid else best_ask - offset
        start = best_bid if is_bid else best_ask
        step = -1 if is_bid else 1
        tick = start + step * (1 + int(rng.expovariate(1.0 / self.config.near_top)))
        for _ in range(64):
            if tick not in book:
                return tick
            tick += step
        return None

    def _absent_tick(self, is_bid: bool) -> int | None:
        book = self.bids if is_bid else self.asks
        best = self.best_bid() if is_bid else self.best_ask()
        assert best is not None
        step = -1 if is_bid else 1
        tick = best + step * (1 + self.rng.randrange(40))
        for _ in range(64):
            if tick not in book:
                return tick
            tick += step
        return None

    # -- wire frames -------------------------------------------------------------

    def spot_frame(
        self, first: int, last: int, bids: list[list[str]], asks: list[list[str]]
    ) -> bytes:
        """A spot ``depth_update`` push, as the exchange sends it."""
        sym = self.config.symbol
        return orjson.dumps(
            {
                "topic": "depth_update",
                "event": f"depth_update@{sym}",
                "data": {"s": sym, "fi": first, "i": last, "a": asks, "b": bids},
            }
        )

    def futures_frame(
        self,
        prev: int,
        first: int,
        last: int,
        bids: list[list[str]],
        asks: list[list[str]],
        event_time: int = 0,
    ) -> bytes:
        """A futures ``depth_update`` push, as the exchange sends it."""
        sym = self.config.symbol
        return orjson.dumps(
            {
                "topic": "depth_update",
                "event": f"depth_update@{sym}",
                "data": {
                    "s": sym,
                    "pu": prev,
                    "fu": first,
                    "u": last,
                    "a": asks,
                    "b": bids,
                    "t": event_time,
                },
            }
        )

    def spot_frames(self, count: int) -> list[bytes]:
        """The next ``count`` steps as spot frames."""
        out = []
        for _ in range(count):
            out.append(self.spot_frame(*self.step()))
        return out
