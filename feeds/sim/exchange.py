"""The simulated exchange's market state: one exact, seeded market per (venue, symbol).

:class:`SymbolMarket` wraps an :class:`~feeds.sim.flow.OrderFlow` (the exact
book in integer ticks) and adds what the wire needs: trades when the best
level is taken, candles and tickers, index/mark prices and a funding rate,
and a short history of undo records so that a snapshot lagging the stream by
N ids can be served on demand. Everything is driven by the seed and by
:meth:`SymbolMarket.step`; wall-clock time only stamps ``t`` fields.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from orderbook import Venue

from .flow import FlowConfig, OrderFlow

#: Undo records kept per symbol: the deepest lag a snapshot can be served with.
HISTORY = 2000
#: The step of a ticker's change rate (``cr``).
RATE_STEP = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class StepResult:
    """One market step: ids consumed and the absolute changes, as wire strings."""

    first_id: int
    last_id: int
    bids: list[list[str]]
    asks: list[list[str]]
    trades: list[dict[str, Any]]


@dataclass(slots=True)
class BookTruth:
    """The exchange's exact book of one symbol at ``last_id`` (price -> quantity)."""

    venue: Venue
    symbol: str
    last_id: int
    bids: dict[Decimal, Decimal]
    asks: dict[Decimal, Decimal]

    def top(
        self, depth: int
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Top ``depth`` levels per side, best first."""
        bids = sorted(self.bids.items(), reverse=True)[:depth]
        asks = sorted(self.asks.items())[:depth]
        return bids, asks


@dataclass(slots=True)
class Candle:
    """A running 1-minute candle (other intervals are served from the same numbers)."""

    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    qty: Decimal = Decimal(0)
    value: Decimal = Decimal(0)


@dataclass(slots=True)
class SymbolMarket:
    """Market state of one symbol on one venue (see the module docstring)."""

    venue: Venue
    symbol: str
    flow: OrderFlow
    rng: random.Random
    trades: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))
    history: deque[tuple[int, list[tuple[bool, int, int | None]]]] = field(
        default_factory=lambda: deque(maxlen=HISTORY)
    )
    candle: Candle | None = None
    open_24h: Decimal | None = None
    trade_id: int = 0
    funding_rate: Decimal = Decimal("0.0001")
    #: Base currency per futures contract (1 on spot, where quantities are the base itself).
    contract_size: Decimal = Decimal(1)

    @classmethod
    def create(cls, venue: Venue, symbol: str, seed: int, index: int) -> SymbolMarket:
        """A market whose mid price depends on the symbol's position (btc ~30000, eth ~3000...).

        Spot quantities are base currency with 4 decimals, up to 50 per level. Futures
        quantities are whole contracts (the document counts futures quantity in "Cont"):
        the contract size is the power of ten that makes one contract worth 1 to 10 USDT at
        the opening price (btc ~30000: 0.0001, as on XT; eth ~3000: 0.001), and a level
        holds up to the same 50 base units as on spot, in contracts.
        """
        mid_ticks = max(10_000, 3_000_000 // (10**index))
        config = FlowConfig(symbol=symbol, mid_ticks=mid_ticks, levels=200, min_levels=50)
        contract_size = Decimal(1)
        if venue is Venue.FUTURES:
            opening = Decimal(mid_ticks).scaleb(-config.price_places)
            while contract_size * opening >= 10:
                contract_size /= 10
            config = replace(config, qty_places=0, max_qty=int(config.max_qty / contract_size))
        flow = OrderFlow(seed=seed, config=config)
        market = cls(venue, symbol, flow, random.Random(seed ^ 0x5EED))
        market.contract_size = contract_size
        mid = market.mid()
        market.candle = Candle(mid, mid, mid, mid)
        market.open_24h = mid
        market.trade_id = seed * 1_000_000
        return market

    # -- reads ---------------------------------------------------------------------

    @property
    def last_id(self) -> int:
        """Id of the last change."""
        return self.flow.last_id

    def mid(self) -> Decimal:
        """Mid price, exact."""
        flow = self.flow
        bid, ask = flow.best_bid(), flow.best_ask()
        if bid is None or ask is None:
            return flow.price(flow.config.mid_ticks)
        return (flow.price(bid) + flow.price(ask)) / 2

    def best(self) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
        """Best bid and ask as wire ``(price, qty)`` strings."""
        flow = self.flow
        bid, ask = flow.best_bid(), flow.best_ask()
        b = (flow.price_str(bid), flow.qty_str(flow.bids[bid])) if bid is not None else None
        a = (flow.price_str(ask), flow.qty_str(flow.asks[ask])) if ask is not None else None
        return b, a

    def truth(self) -> BookTruth:
        """The exact book now."""
        flow = self.flow
        return BookTruth(
            self.venue,
            self.symbol,
            flow.last_id,
            {flow.price(t): flow.quantity(q) for t, q in flow.bids.items()},
            {flow.price(t): flow.quantity(q) for t, q in flow.asks.items()},
        )

    def snapshot_levels(
        self, depth: int, lag_ids: int = 0
    ) -> tuple[int, list[list[str]], list[list[str]]]:
        """``(last_id, bids, asks)`` now, or as of at least ``lag_ids`` ids ago (undo history)."""
        flow = self.flow
        if lag_ids <= 0 or not self.history:
            bids, asks = flow.snapshot_levels(depth)
            return flow.last_id, bids, asks
        bids_q, asks_q = dict(flow.bids), dict(flow.asks)
        last_id = flow.last_id
        target = flow.last_id - lag_ids
        for step_last, undo in reversed(self.history):
            if last_id <= target:
                break
            for is_bid, tick, old in undo:
                side = bids_q if is_bid else asks_q
                if old is None:
                    side.pop(tick, None)
                else:
                    side[tick] = old
            last_id = step_last
        bid_ticks = sorted(bids_q, reverse=True)[:depth]
        ask_ticks = sorted(asks_q)[:depth]
        return (
            last_id,
            [[flow.price_str(t), flow.qty_str(bids_q[t])] for t in bid_ticks],
            [[flow.price_str(t), flow.qty_str(asks_q[t])] for t in ask_ticks],
        )

    # -- writes ----------------------------------------------------------------------

    def step(self, now_ms: int) -> StepResult:
        """Advance one event; records undo information, trades and candle numbers."""
        flow = self.flow
        before_bid, before_ask = flow.best_bid(), flow.best_ask()
        before_bid_q = flow.bids.get(before_bid) if before_bid is not None else None
        before_ask_q = flow.asks.get(before_ask) if before_ask is not None else None
        previous_id = flow.last_id
        bids_before, asks_before = dict(flow.bids), dict(flow.asks)
        first, last, bids, asks = flow.step()
        undo: list[tuple[bool, int, int | None]] = []
        scale = 10**flow.config.price_places
        for is_bid, changes, before in ((True, bids, bids_before), (False, asks, asks_before)):
            for price, _ in changes:
                tick = int(Decimal(price) * scale)
                undo.append((is_bid, tick, before.get(tick)))
        self.history.append((previous_id, undo))
        trades = []
        # A best level that shrank or vanished was (at least partly) taken: a trade.
        for is_bid, tick, qty_before in (
            (True, before_bid, before_bid_q),
            (False, before_ask, before_ask_q),
        ):
            if tick is None or qty_before is None:
                continue
            now_q = (flow.bids if is_bid else flow.asks).get(tick, 0)
            if now_q < qty_before:
                trades.append(self._trade(tick, qty_before - now_q, is_bid, now_ms))
        return StepResult(first, last, bids, asks, trades)

    def _trade(self, tick: int, units: int, taker_sold: bool, now_ms: int) -> dict[str, Any]:
        flow = self.flow
        price, qty = flow.price(tick), flow.quantity(units)
        self.trade_id += 1
        trade = {
            "i": self.trade_id,
            "t": now_ms,
            "p": flow.price_str(tick),
            "q": flow.qty_str(units),
            "v": format(price * qty * self.contract_size, "f"),  # quote value
            "b": not taker_sold,  # a sell taker hits the bid: the buyer is the maker
        }
        self.trades.append(trade)
        candle = self.candle
        if candle is not None:
            candle.close = price
            candle.high = max(candle.high, price)
            candle.low = min(candle.low, price)
            candle.qty += qty
            candle.value += price * qty * self.contract_size
        return trade

    # -- derived prices ------------------------------------------------------------

    def index_price(self) -> Decimal:
        """A deterministic index price near the mid."""
        return self.mid().quantize(Decimal("0.01"))

    def mark_price(self) -> Decimal:
        """A deterministic mark price near the mid."""
        return (self.mid() * Decimal("1.0001")).quantize(Decimal("0.01"))

    def spot_ticker(self, t_ms: int) -> dict[str, Any]:
        """The 24-hour ticker of a spot symbol at ``t_ms``, as the ``ticker`` stream and the
        REST ticker endpoints spell it (``s t cv cr o c h l q v``)."""
        c = self.candle
        assert c is not None and self.open_24h is not None
        change = c.close - self.open_24h
        rate = (change / self.open_24h).quantize(RATE_STEP) if self.open_24h else RATE_STEP
        return {
            "s": self.symbol,
            "t": t_ms,
            "cv": format(change, "f"),
            "cr": format(rate, "f"),
            "o": format(self.open_24h, "f"),
            "c": format(c.close, "f"),
            "h": format(c.high, "f"),
            "l": format(c.low, "f"),
            "q": format(c.qty, "f"),
            "v": format(c.value, "f"),
        }
