"""The measured variants, each split into an untimed setup and a timed loop.

(a) ``baseline``: the naive book of the issue: two ``SortedDict`` sides with
    float keys and float quantities, ``sd[p] = q`` / ``sd.pop(p, None)``,
    frames parsed with orjson, no sequence checks.
(b) ``engine``: wexbook end to end: raw text -> ``parse_depth_update`` ->
    ``BookSync.on_update`` (sequence checks, validation) -> applied book.
(c) ``engine_bbo``: (b) plus a best bid/ask read after every frame, through
    ``live_book()`` (so it also checks the book is LIVE).
(d) ``engine_numpy``: (b) plus the top 20 levels per side to numpy every 100 frames.
The ``baseline_bbo`` and ``baseline_numpy`` loops add the same reads to (a).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from itertools import islice
from typing import Any

import numpy as np
import orjson
from sortedcontainers import SortedDict

from orderbook import BookSync, SpotSequencer, SyncState, spot_snapshot

NUMPY_EVERY = 100
NUMPY_LEVELS = 20


class NaiveBook:
    """The baseline: float keys, float quantities, the plain ``SortedDict`` API."""

    __slots__ = ("asks", "bids")

    def __init__(self, snapshot: bytes) -> None:
        result = orjson.loads(snapshot)
        self.bids = SortedDict((float(p), float(q)) for p, q in result["bids"])
        self.asks = SortedDict((float(p), float(q)) for p, q in result["asks"])

    def apply_frame(self, raw: bytes) -> None:
        """Apply one raw ``depth_update`` frame (no sequence checks)."""
        data = orjson.loads(raw)["data"]
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            for p, q in levels:
                price, qty = float(p), float(q)
                if qty == 0.0:
                    side.pop(price, None)
                else:
                    side[price] = qty

    def best(self) -> tuple[float, float]:
        """Best bid and ask prices."""
        return self.bids.peekitem(-1)[0], self.asks.peekitem(0)[0]

    def top_arrays(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` levels per side as float64 ``(n, 2)`` arrays, best first."""
        bids, asks = self.bids, self.asks
        b = np.array([(p, bids[p]) for p in islice(reversed(bids), n)], dtype=np.float64)
        a = np.array([(p, asks[p]) for p in islice(asks, n)], dtype=np.float64)
        return b, a


# -- setups (untimed) ----------------------------------------------------------


def setup_baseline(snapshot: bytes) -> NaiveBook:
    return NaiveBook(snapshot)


def setup_engine(snapshot: bytes, symbol: str = "btc_usdt") -> BookSync:
    sync = BookSync(symbol, SpotSequencer())
    sync.on_snapshot(spot_snapshot(orjson.loads(snapshot), symbol, 500))
    if sync.state is not SyncState.LIVE:
        raise RuntimeError(f"benchmark book did not go live: {sync!r}")
    return sync


# -- timed loops ---------------------------------------------------------------


def loop_baseline(book: NaiveBook, frames: list[bytes]) -> NaiveBook:
    apply = book.apply_frame
    for raw in frames:
        apply(raw)
    return book


def loop_baseline_bbo(book: NaiveBook, frames: list[bytes]) -> NaiveBook:
    apply, best = book.apply_frame, book.best
    for raw in frames:
        apply(raw)
        best()
    return book


def loop_baseline_numpy(book: NaiveBook, frames: list[bytes]) -> NaiveBook:
    apply, top = book.apply_frame, book.top_arrays
    for n, raw in enumerate(frames):
        apply(raw)
        if n % NUMPY_EVERY == 0:
            top(NUMPY_LEVELS)
    return book


def loop_engine(sync: BookSync, frames: list[bytes]) -> BookSync:
    on_frame = sync.on_frame  # parse_depth_update -> on_update, in one call
    for raw in frames:
        on_frame(raw)
    return sync


def loop_engine_bbo(sync: BookSync, frames: list[bytes]) -> BookSync:
    on_frame, live_book = sync.on_frame, sync.live_book
    for raw in frames:
        on_frame(raw)
        live_book().best_prices()
    return sync


def loop_engine_numpy(sync: BookSync, frames: list[bytes]) -> BookSync:
    on_frame, live_book = sync.on_frame, sync.live_book
    for n, raw in enumerate(frames):
        on_frame(raw)
        if n % NUMPY_EVERY == 0:
            live_book().arrays(NUMPY_LEVELS)
    return sync


#: name -> (setup, loop), in the order they are reported.
VARIANTS: dict[str, tuple[Callable[[bytes], Any], Callable[[Any, list[bytes]], Any]]] = {
    "baseline": (setup_baseline, loop_baseline),
    "engine": (setup_engine, loop_engine),
    "baseline_bbo": (setup_baseline, loop_baseline_bbo),
    "engine_bbo": (setup_engine, loop_engine_bbo),
    "baseline_numpy": (setup_baseline, loop_baseline_numpy),
    "engine_numpy": (setup_engine, loop_engine_numpy),
}


def book_levels(result: Any) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Either variant's final book as float ``(bids, asks)`` lists, ascending by price."""
    if isinstance(result, BookSync):
        book = result.live_book()
        bids, asks = book.bids, book.asks
    else:
        bids, asks = result.bids, result.asks
    return (
        [(float(p), float(bids[p])) for p in bids],
        [(float(p), float(asks[p])) for p in asks],
    )


# -- memory ----------------------------------------------------------------------


def deep_size(side: SortedDict) -> int:
    """Bytes held by one ``SortedDict`` side: its dict, sorted lists, keys and values."""
    size = sys.getsizeof(side) + sys.getsizeof(side._list)
    lists = side._list._lists
    size += sys.getsizeof(lists) + sys.getsizeof(side._list._maxes)
    size += sum(sys.getsizeof(sub) for sub in lists)
    seen: set[int] = set()
    for key, value in side.items():
        for obj in (key, value):
            if id(obj) not in seen:
                seen.add(id(obj))
                size += sys.getsizeof(obj)
    return size


def book_bytes_per_level(result: Any) -> float:
    """Deep size of either variant's final book per level."""
    if isinstance(result, BookSync):
        result = result.live_book()
    levels = len(result.bids) + len(result.asks)
    return (deep_size(result.bids) + deep_size(result.asks)) / levels
