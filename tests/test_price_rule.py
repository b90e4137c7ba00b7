"""One rule for price and quantity spellings, the same in snapshots and events, and exact keys.

Every spelling the issue found accepted wrongly (``"5_5"``, non-ASCII digits, blanks, ``"1e400"``,
``"1e-400"``, ints and bools through the cache, ``"95"`` unpacked as a level) is refused the same
way whether it arrives in a snapshot or in an event; every ASCII decimal spelling, exponents
included (``"0E-8"``), is accepted the same way in both. Mixed float and long (Decimal) keys
order exactly. The last tests run the rule over real sockets through the real BookManager.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from helpers import spot_event, wait_for
from hypothesis import given
from hypothesis import strategies as st
from mini_exchange import MiniExchange
from test_fail_closed import at_truth, manager_for, start_live

from orderbook import (
    BookSync,
    Decision,
    InvalidLevel,
    MalformedEvent,
    OrderBook,
    PriceCodec,
    SpotSequencer,
    futures_snapshot,
    parse_price,
    parse_quantity,
    spot_snapshot,
    to_decimal,
)
from orderbook.book import check_quantity
from orderbook.prices import PRICE_MAX, PRICE_MIN, ExactDecimal

pytestmark = pytest.mark.usefixtures("hot_path")

GOOD = ["1", "30000.01", "0.10", ".5", "5.", "1e-8", "1E+3", "2.5e2", "0E-8", "00012.3400"]
BAD = [
    "5_5", "\u0665", "1\u00b2", " 5", "5 ", "5\n", "+5", "-5", "inf", "nan", "Infinity",
    "0x10", "1e", "e5", ".", "", "1.2.3", "1e400", "1e-400", "1e99999", "1" * 41,
]  # fmt: skip
NOT_STRINGS = [5, 1.5, True, False, None, [1], {"a": 1}]


# -- the spelling rule --------------------------------------------------------------------


@pytest.mark.parametrize("text", GOOD)
def test_every_ascii_decimal_spelling_is_accepted_exactly(text: str) -> None:
    value = Decimal(text)
    assert to_decimal(parse_quantity(text)) == value
    assert check_quantity(text) is (value == 0)
    if value:
        assert to_decimal(parse_price(text)) == value


@pytest.mark.parametrize("text", BAD + NOT_STRINGS)
def test_anything_else_is_refused_as_price_and_as_quantity(text: object) -> None:
    with pytest.raises(InvalidLevel):
        parse_price(text)
    with pytest.raises(InvalidLevel):
        parse_quantity(text)
    with pytest.raises(InvalidLevel):
        check_quantity(text)


@pytest.mark.parametrize("text", BAD + NOT_STRINGS)
def test_events_and_snapshots_refuse_the_same_spellings(text: object) -> None:
    with pytest.raises(InvalidLevel):
        OrderBook().apply([[text, "1"]], [])
    with pytest.raises(InvalidLevel):
        OrderBook().apply([["100", text]], [])
    with pytest.raises((InvalidLevel, MalformedEvent)):
        OrderBook.from_levels([[text, "1"]], [])
    with pytest.raises((InvalidLevel, MalformedEvent)):
        snap = spot_snapshot({"lastUpdateId": 1, "bids": [["100", text]], "asks": []}, "x")
        OrderBook.from_levels(snap.bids, snap.asks)


def test_a_zero_in_exponent_notation_deletes_in_events_as_in_snapshots() -> None:
    book = OrderBook.from_levels([["100", "1"], ["99", "0E-8"]], [])
    assert [lv.price for lv in book.iter_bids()] == [Decimal(100)]
    book.apply([["100", "0E-8"], ["98", "1.5E-3"]], [])
    assert [(lv.price, lv.qty) for lv in book.iter_bids()] == [(Decimal(98), Decimal("0.0015"))]


@pytest.mark.parametrize("text", ["1e-19", "1e18", "1000000000000000000", "0.0000000000000000001"])
def test_prices_outside_the_documented_range_are_refused(text: str) -> None:
    assert not PRICE_MIN <= Decimal(text) < PRICE_MAX
    with pytest.raises(InvalidLevel, match="price must be positive"):
        parse_price(text)
    with pytest.raises(InvalidLevel):
        OrderBook().apply([], [[text, "1"]])


def test_a_zero_price_is_never_a_level() -> None:
    for text in ("0", "0.0", "0E-8", "1e-400"):
        with pytest.raises(InvalidLevel):
            OrderBook().apply([[text, "1"]], [])


def test_overflowing_exponents_surface_as_invalid_level_not_decimal_errors() -> None:
    for text in ("1e9999", "9" * 40, "1E+9999"):
        with pytest.raises(InvalidLevel):
            OrderBook.from_levels([["100", text]], [])
        with pytest.raises(InvalidLevel):
            OrderBook().apply([["100", text]], [])


def test_ints_and_bools_never_hit_the_price_cache() -> None:
    codec = PriceCodec()
    book = OrderBook(codec)
    book.apply([["1", "2"]], [])
    assert 1 in codec.cache.values() and "1" in codec.cache
    for price in (1, True, 1.0):
        with pytest.raises(InvalidLevel, match="decimal string"):
            book.apply([[price, "3"]], [])
    assert set(map(type, codec.cache)) == {str}


@pytest.mark.parametrize("level", ["95", {"9": 1, "5": 2}, ["9"], ["9", "5", "1"], [], None])
def test_a_level_is_a_list_of_exactly_two_items(level: object) -> None:
    with pytest.raises(InvalidLevel, match=r"\[price, quantity\]"):
        OrderBook().apply([level], [])
    with pytest.raises(InvalidLevel):
        OrderBook.from_levels([level], [])
    with pytest.raises(MalformedEvent):
        futures_snapshot({"u": 1, "a": [], "b": [level], "s": "x"})


def test_snapshot_levels_must_be_strings() -> None:
    with pytest.raises(MalformedEvent, match="decimal strings"):
        spot_snapshot({"lastUpdateId": 1, "bids": [["100", 2]], "asks": []}, "x")


# -- exact order over float and long keys -------------------------------------------------


def test_a_long_price_orders_exactly_against_a_short_one() -> None:
    short, long_ = parse_price("0.1"), parse_price("0.1000000000000000000001")
    assert type(short) is float and type(long_) is ExactDecimal
    assert short < long_ and long_ > short and not long_ < short and short != long_
    book = OrderBook.from_levels([], [["0.1000000000000000000001", "1"], ["0.1", "2"]])
    assert book.best_ask().price == Decimal("0.1")
    assert [lv.price for lv in book.iter_asks()] == [
        Decimal("0.1"),
        Decimal("0.1000000000000000000001"),
    ]


def test_a_cross_between_a_long_bid_and_a_short_ask_is_seen() -> None:
    sync = BookSync("btc_usdt", SpotSequencer())
    sync.on_update(spot_event(11, 11, bids=[("0.1000000000000000000001", "1")]))
    result = {"lastUpdateId": 10, "bids": [["0.09", "1"]], "asks": [["0.1", "1"]]}
    snap = spot_snapshot(result, "btc_usdt")
    assert sync.on_snapshot(snap) is Decision.CROSSED
    assert not sync.is_live


def test_quantity_between_uses_exact_bounds() -> None:
    book = OrderBook.from_levels(
        [["0.1", "1"], ["0.1000000000000000000001", "2"], ["0.09999999999999999999", "4"]], []
    )
    assert book.quantity_between("bids", "0.1", "0.1") == 1
    assert book.quantity_between("bids", "0.1", "1") == 3
    assert book.quantity_between("bids", "0.09", "0.1") == 5


_digits = st.text("0123456789", min_size=1, max_size=12)


@st.composite
def spellings(draw: st.DrawFn) -> str:
    whole, frac = draw(_digits), draw(st.one_of(st.none(), _digits))
    text = whole if frac is None else f"{whole}.{frac}"
    if draw(st.booleans()):
        text += draw(st.sampled_from("eE")) + draw(st.sampled_from(["", "+", "-"]))
        text += str(draw(st.integers(0, 12)))
    return text


@given(st.lists(spellings(), min_size=1, max_size=30))
def test_property_keys_sort_and_collide_exactly_as_their_decimals(texts: list[str]) -> None:
    valid = [t for t in texts if PRICE_MIN <= Decimal(t) < PRICE_MAX]
    keys = [parse_price(t) for t in valid]
    for t, k in zip(valid, keys, strict=True):
        assert to_decimal(k) == Decimal(t)
    for a, ka in zip(valid, keys, strict=True):
        for b, kb in zip(valid, keys, strict=True):
            da, db = Decimal(a), Decimal(b)
            assert (ka < kb) is (da < db) and (ka == kb) is (da == db)
    book = OrderBook.from_levels([[t, "1"] for t in valid], [])
    expected = sorted({Decimal(t) for t in valid}, reverse=True)
    assert [lv.price for lv in book.iter_bids()] == expected


@given(spellings())
def test_property_events_and_snapshots_agree_on_every_quantity(text: str) -> None:
    try:
        expected = to_decimal(parse_quantity(text))
    except InvalidLevel:
        with pytest.raises(InvalidLevel):
            OrderBook().apply([["100", text]], [])
        return
    book = OrderBook.from_levels([["100", "7"]], [])
    book.apply([["100", text]], [])
    snap = OrderBook.from_levels([["100", text]], [])
    assert book.depth() == snap.depth()
    assert (not book.bids) is (expected == 0)


# -- over real sockets --------------------------------------------------------------------


async def test_a_snapshot_with_an_infinite_price_is_refused_and_the_book_heals() -> None:
    async with MiniExchange("spot", ["btc_usdt"]) as ex:
        http_url = await ex.serve_http()

        def poison(symbol, result):
            return {**result, "asks": [["1e400", "1"], *result["asks"]]}

        ex.snapshot_edit = poison
        async with manager_for(ex, http_url) as manager:
            await manager.add("spot", "btc_usdt")
            book = manager.book("spot", "btc_usdt")
            await wait_for(lambda: ex.clients and all(len(t) == 1 for t in ex.clients.values()))
            await ex.step()
            await wait_for(lambda: book.sync.counts[Decision.MALFORMED] >= 1)
            assert not book.sync.is_live and "1e400" in book.sync.reason
            assert book.sync.counts[Decision.SNAPSHOT_ACCEPTED] == 0
            ex.snapshot_edit = None
            await wait_for(lambda: book.sync.is_live, timeout=10)
            await ex.step()
            await wait_for(lambda: at_truth(manager, ex, "spot", "btc_usdt"))


@pytest.mark.parametrize("venue", ["spot", "futures"])
async def test_exponent_spellings_in_pushed_events_keep_the_book_live_and_exact(
    venue: str,
) -> None:
    def respell(levels: list) -> list:
        return [[p, "0E-8" if Decimal(q) == 0 else f"{Decimal(q) * 10}E-1"] for p, q in levels]

    async with MiniExchange(venue, ["btc_usdt"]) as ex:
        async with manager_for(ex) as manager:
            await start_live(manager, ex, venue)
            book = manager.book(venue, "btc_usdt")
            for _ in range(10):
                ex.edit_levels_next["btc_usdt"] = lambda b, a: (respell(b), respell(a))
                await ex.step()
                await asyncio.sleep(0.005)
            await wait_for(lambda: at_truth(manager, ex, venue, "btc_usdt"))
            assert book.sync.generation == 1 and book.sync.counts[Decision.MALFORMED] == 0


async def test_a_two_character_level_in_a_push_resyncs_instead_of_applying_9_at_5() -> None:
    async with MiniExchange("spot", ["btc_usdt"]) as ex:
        async with manager_for(ex) as manager:
            await start_live(manager, ex, "spot")
            book = manager.book("spot", "btc_usdt")
            ex.edit_levels_next["btc_usdt"] = lambda b, a: (["95", *b], a)
            await ex.step()
            await wait_for(lambda: book.sync.counts[Decision.MALFORMED] == 1)
            await ex.step()
            await wait_for(lambda: book.sync.generation == 2 and book.sync.is_live)
            await ex.step()
            await wait_for(lambda: at_truth(manager, ex, "spot", "btc_usdt"))
            assert 9.0 not in book.sync.book.bids


def test_a_16_digit_price_stays_exact_in_snapshots_as_in_events() -> None:
    # 16 significant digits: more than a double holds exactly, so the key is long.
    text = "1234567890123456"
    book = OrderBook.from_levels([[text, "1"], ["123456789012345.6", "1"]], [])
    keys = list(book.bids)
    assert [type(k) for k in keys] == [ExactDecimal, ExactDecimal]
    assert keys == [parse_price("123456789012345.6"), parse_price(text)]
    event_book = OrderBook()
    event_book.apply([[text, "1"], ["123456789012345.6", "1"]], [])
    assert list(event_book.bids) == keys
    short = OrderBook.from_levels([["123456789012345", "1"], ["12345678901234.5", "1"]], [])
    assert [type(k) for k in short.bids] == [float, float]
