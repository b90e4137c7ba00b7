"""Peer order books for ``python -m bench.compare --peers`` (the ``bench`` extra).

- :class:`OrderBookPeer`: the PyPI ``order-book`` package (a C extension: two
  C-level sorted dicts of floats), the fastest order book on the registry we know of.
- :class:`SortedListPeer`: the design of ccxt's Python order books, written here
  from its description (not its code): per side, a list of prices kept sorted with
  ``bisect`` beside a list of sizes; best levels are list ends and slices.

Both parse frames with orjson and keep float prices and sizes, like the baseline,
and neither checks sequence ids or validates spellings: they are yardsticks of
speed, not of correctness (``order-book`` cannot tell ``"0.1"`` from
``"0.1000000000000000000001"``, and neither would notice a gap).
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np
import orjson

try:
    import order_book as _order_book
except ImportError:  # the optional bench extra
    _order_book = None


def available() -> dict[str, str | None]:
    """Peer name -> ``None`` if it can run, else why not."""
    return {
        "order_book": None
        if _order_book is not None
        else "PyPI order-book not installed (pip install -e '.[bench]')",
        "sortedlist": None,
    }


class OrderBookPeer:
    """The PyPI ``order-book`` package's ``OrderBook`` (C)."""

    __slots__ = ("book",)

    def __init__(self, snapshot: bytes) -> None:
        if _order_book is None:
            raise RuntimeError(available()["order_book"])
        result = orjson.loads(snapshot)
        self.book = _order_book.OrderBook()
        self.book.bids = {float(p): float(q) for p, q in result["bids"]}
        self.book.asks = {float(p): float(q) for p, q in result["asks"]}

    def apply_frame(self, raw: bytes) -> None:
        data = orjson.loads(raw)["data"]
        for side, levels in ((self.book.bids, data["b"]), (self.book.asks, data["a"])):
            for p, q in levels:
                price, qty = float(p), float(q)
                if qty == 0.0:
                    if price in side:
                        del side[price]
                else:
                    side[price] = qty

    def best(self) -> tuple[float, float]:
        return self.book.bids.index(0)[0], self.book.asks.index(0)[0]

    def top_lists(self, n: int) -> tuple[list, list]:
        bids, asks = self.book.bids, self.book.asks
        return ([bids.index(i) for i in range(min(n, len(bids)))],
                [asks.index(i) for i in range(min(n, len(asks)))])  # fmt: skip

    def top_arrays(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        b, a = self.top_lists(n)
        return np.array(b, dtype=np.float64), np.array(a, dtype=np.float64)

    def levels(self) -> tuple[list, list]:
        return self.book.bids.to_list(), self.book.asks.to_list()


class _SortedSide:
    """One side as ccxt keeps it: sorted prices (ascending keys) and their sizes."""

    __slots__ = ("keys", "prices", "sign", "sizes")

    def __init__(self, levels: list[list[str]], descending: bool) -> None:
        self.sign = -1.0 if descending else 1.0
        pairs = sorted((self.sign * float(p), float(q)) for p, q in levels if float(q))
        self.keys = [k for k, _ in pairs]
        self.prices = [self.sign * k for k, _ in pairs]
        self.sizes = [q for _, q in pairs]

    def store(self, price: float, size: float) -> None:
        key = self.sign * price
        keys = self.keys
        at = bisect_left(keys, key)
        if at < len(keys) and keys[at] == key:
            if size:
                self.sizes[at] = size
            else:
                del keys[at], self.prices[at], self.sizes[at]
        elif size:
            keys.insert(at, key)
            self.prices.insert(at, price)
            self.sizes.insert(at, size)


class SortedListPeer:
    """ccxt's design: bisect into sorted price lists, best levels first."""

    __slots__ = ("asks", "bids")

    def __init__(self, snapshot: bytes) -> None:
        result = orjson.loads(snapshot)
        self.bids = _SortedSide(result["bids"], descending=True)
        self.asks = _SortedSide(result["asks"], descending=False)

    def apply_frame(self, raw: bytes) -> None:
        data = orjson.loads(raw)["data"]
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            store = side.store
            for p, q in levels:
                store(float(p), float(q))

    def best(self) -> tuple[float, float]:
        return self.bids.prices[0], self.asks.prices[0]

    def top_lists(self, n: int) -> tuple[list, list]:
        b, a = self.bids, self.asks
        return (list(zip(b.prices[:n], b.sizes[:n], strict=True)),
                list(zip(a.prices[:n], a.sizes[:n], strict=True)))  # fmt: skip

    def top_arrays(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        b, a = self.bids, self.asks
        return (np.array([b.prices[:n], b.sizes[:n]], dtype=np.float64).T,
                np.array([a.prices[:n], a.sizes[:n]], dtype=np.float64).T)  # fmt: skip

    def levels(self) -> tuple[list, list]:
        b, a = self.bids, self.asks
        return (list(zip(b.prices, b.sizes, strict=True)),
                list(zip(a.prices, a.sizes, strict=True)))  # fmt: skip


PEERS = {"order_book": OrderBookPeer, "sortedlist": SortedListPeer}
