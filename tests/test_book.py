"""The OrderBook: exact levels, deletes, validation, reads."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from orderbook import InvalidLevel, Level, OrderBook, Side

pytestmark = pytest.mark.usefixtures("hot_path")

D = Decimal


def book_of(bids=(), asks=()) -> OrderBook:
    return OrderBook.from_levels([list(x) for x in bids], [list(x) for x in asks])


def _plain(x: Decimal) -> str:
    return format(x.normalize(), "f")


def levels(book: OrderBook) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    bids, asks = book.depth()
    return (
        [(_plain(p), _plain(q)) for p, q in bids],
        [(_plain(p), _plain(q)) for p, q in asks],
    )


def test_two_spellings_of_one_price_are_one_level() -> None:
    book = book_of()
    book.apply([["0.1", "5"]], [])
    book.apply([["0.10", "7"]], [])
    assert len(book.bids) == 1
    assert book.best_bid() == Level(D("0.1"), D("7"))
    book.apply([["0.100", "0"]], [])
    assert len(book.bids) == 0


@pytest.mark.parametrize("zero", ["0", "0.0", "0.000", "00.00", "0."])
def test_every_zero_spelling_deletes(zero: str) -> None:
    book = book_of(bids=[("100", "1"), ("99", "2")], asks=[("101", "1")])
    book.apply([["100", zero]], [["101.0", zero]])
    assert levels(book) == ([("99", "2")], [])


def test_quantities_are_absolute() -> None:
    book = book_of(asks=[("34000", "1.2")])
    book.apply([], [["34000", "0.5"]])
    assert book.best_ask() == Level(D("34000"), D("0.5"))


def test_deleting_an_absent_level_is_silent() -> None:
    book = book_of(bids=[("100", "1")])
    book.apply([["50", "0"], ["51", "0.000"]], [["200", "0"]])
    assert levels(book) == ([("100", "1")], [])


def test_snapshot_zero_levels_are_skipped_and_last_duplicate_wins() -> None:
    book = book_of(bids=[("100", "0"), ("99", "1"), ("99.0", "3")])
    assert levels(book) == ([("99", "3")], [])


@pytest.mark.parametrize(
    "bad_qty", ["-1", "1e", " 1", "1.2.3", "", ".", "abc", "+1", None, 1.5, 2]
)
def test_invalid_event_quantities_raise(bad_qty: object) -> None:
    book = book_of(bids=[("100", "1")])
    with pytest.raises(InvalidLevel):
        book.apply([["100", bad_qty]], [])


@pytest.mark.parametrize("bad_price", ["-1", "0", "abc", "", "nan"])
def test_invalid_event_prices_raise(bad_price: str) -> None:
    book = book_of()
    with pytest.raises(InvalidLevel):
        book.apply([[bad_price, "1"]], [])


def test_extreme_prices_keep_their_identity() -> None:
    book = book_of()
    book.apply([["0.0000000001", "1"], ["0.0000000002", "2"]], [["1000000000", "3"]])
    book.apply([["1e-10", "4"]], [["1000000000.00", "5"]])
    bids, asks = book.depth()
    assert bids == [Level(D("2e-10"), D("2")), Level(D("1e-10"), D("4"))]
    assert asks == [Level(D("1000000000"), D("5"))]


def test_long_prices_beyond_float_precision_stay_distinct() -> None:
    book = book_of()
    book.apply([["123456789.000000001", "1"], ["123456789.000000002", "2"]], [])
    assert len(book.bids) == 2
    assert book.best_bid() == Level(D("123456789.000000002"), D("2"))


def test_exact_quantities_survive() -> None:
    book = book_of()
    book.apply([["1", "0.123456789012345678"]], [])
    assert book.best_bid().qty == D("0.123456789012345678")


def test_reads() -> None:
    book = book_of(bids=[("99", "1"), ("98", "2"), ("97", "3")], asks=[("101", "1"), ("102", "4")])
    assert book.best_prices() == (99.0, 101.0)
    assert book.spread() == D("2")
    assert book.mid() == D("100")
    bids, asks = book.depth(2)
    assert [b.price for b in bids] == [D("99"), D("98")]
    assert [a.price for a in asks] == [D("101"), D("102")]
    b_arr, a_arr = book.arrays(2)
    assert b_arr.dtype == np.float64 and b_arr.shape == (2, 2)
    assert b_arr.tolist() == [[99.0, 1.0], [98.0, 2.0]]
    assert a_arr.tolist() == [[101.0, 1.0], [102.0, 4.0]]
    empty_b, _ = OrderBook().arrays(20)
    assert empty_b.shape == (0, 2)


def test_fill_estimates() -> None:
    book = book_of(bids=[("99", "1"), ("98", "2")], asks=[("101", "1"), ("102", "4")])
    buy = book.fill(Side.BUY, "3")
    assert buy.complete and buy.filled == D("3")
    assert buy.average == (D("101") + D("102") * 2) / 3
    assert buy.worst == D("102")
    sell = book.fill("sell", "5")
    assert not sell.complete and sell.filled == D("3")
    assert sell.worst == D("98")
    none = OrderBook().fill("buy", "1")
    assert none.average is None and none.filled == 0


def test_quantity_between_is_inclusive_and_exact() -> None:
    book = book_of(bids=[("0.1", "1"), ("0.2", "2"), ("0.3", "4")], asks=[("1", "8")])
    assert book.quantity_between("bids", "0.1", "0.2") == D("3")
    assert book.quantity_between("bids", D("0.2"), D("0.3")) == D("6")
    assert book.quantity_between("bids", "0.15", "0.25") == D("2")
    assert book.quantity_between("asks", "0.5", "2") == D("8")
    with pytest.raises(ValueError):
        book.quantity_between("middle", "0", "1")


def test_crossed_book_is_detected() -> None:
    book = book_of(bids=[("100", "1")], asks=[("101", "1")])
    assert not book.is_crossed()
    book.apply([["101", "1"]], [])
    assert book.is_crossed()


def test_large_books_take_the_general_path_and_stay_sorted() -> None:
    book = book_of(bids=[(str(p), "1") for p in range(1, 3001)])
    book.apply([[str(p), "0"] for p in range(1, 3001, 2)] + [["3000.5", "2"]], [])
    book.bids._list._check()
    assert len(book.bids) == 1501
    assert book.best_bid() == Level(D("3000.5"), D("2"))
    # Positional access builds SortedList's index; the fast path must then step aside.
    assert book.bids.peekitem(0)[0] == 2.0
    book.apply([["0.5", "1"], ["2", "0"]], [])
    book.bids._list._check()
    assert book.bids.peekitem(0)[0] == 0.5
    assert 2.0 not in book.bids


def test_small_book_fast_path_keeps_sortedlist_invariants() -> None:
    book = book_of()
    for n in range(50):
        book.apply([[f"{100 + n % 7}.{n % 3}", "1" if n % 4 else "0"]], [])
        book.bids._list._check()
    book.apply([[str(k), "0"] for k in list(book.bids)], [])
    book.bids._list._check()
    assert len(book.bids) == 0 and book.best_bid() is None


def test_bad_level_midway_leaves_sorted_keys_consistent() -> None:
    book = book_of(bids=[("1", "1")])
    with pytest.raises(InvalidLevel):
        book.apply([["2", "1"], ["3", "bad"]], [])
    book.bids._list._check()
    assert set(book.bids) == {1.0, 2.0}
