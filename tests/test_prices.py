"""Exact price keys and quantities: spellings, magnitudes, validation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orderbook import InvalidLevel, PriceCodec, parse_price, parse_quantity, to_decimal
from orderbook.prices import FLOAT_DIGITS, to_number

pytestmark = pytest.mark.usefixtures("hot_path")


@pytest.mark.parametrize(
    ("a", "b"),
    [("0.1", "0.10"), ("30000", "30000.00"), ("1e-10", "0.0000000001"), ("1000000000", "1e9")],
)
def test_two_spellings_one_key(a: str, b: str) -> None:
    assert parse_price(a) == parse_price(b)
    assert hash(parse_price(a)) == hash(parse_price(b))


@pytest.mark.parametrize(
    "text",
    ["0.0000000001", "0.0000000002", "999999999.99", "1000000000", "30000.01", "0.12345678901234"],
)
def test_keys_round_trip_exactly(text: str) -> None:
    assert to_decimal(parse_price(text)) == Decimal(text)


def test_long_spellings_stay_decimal_and_distinct() -> None:
    # 17 significant digits: two neighbours a float could not tell apart.
    a, b = "999999999.00000001", "999999999.00000002"
    assert float(a) == float(b)
    ka, kb = parse_price(a), parse_price(b)
    assert isinstance(ka, Decimal)
    assert ka != kb
    assert ka < kb
    assert to_decimal(ka) == Decimal(a)


def test_float_and_decimal_keys_order_together() -> None:
    keys = sorted([parse_price("1.5"), parse_price("1.0000000000000001"), parse_price("1")])
    assert [to_decimal(k) for k in keys] == [
        Decimal("1"),
        Decimal("1.0000000000000001"),
        Decimal("1.5"),
    ]


def test_to_number_switches_at_float_digits() -> None:
    assert isinstance(to_number(Decimal("1." + "1" * (FLOAT_DIGITS - 1))), float)
    assert isinstance(to_number(Decimal("1." + "1" * FLOAT_DIGITS)), Decimal)


@pytest.mark.parametrize("bad", ["", "abc", "-1", "NaN", "inf", "0", "0.000", None, 1.5, [1]])
def test_bad_prices_are_refused(bad: object) -> None:
    with pytest.raises(InvalidLevel):
        parse_price(bad)


@pytest.mark.parametrize("bad", ["", "x", "-0.1", "Infinity", None, 2.0])
def test_bad_quantities_are_refused(bad: object) -> None:
    with pytest.raises(InvalidLevel):
        parse_quantity(bad)


def test_zero_quantity_spellings_are_zero() -> None:
    for text in ("0", "0.0", "0.000", "00"):
        assert parse_quantity(text) == 0


def test_codec_cache_is_bounded() -> None:
    codec = PriceCodec(max_cache=4)
    for n in range(10):
        assert codec.key(f"{n}.5") == n + 0.5
        assert len(codec.cache) <= 4
    assert codec.key("7.5") == codec.key("7.50")


def test_codec_uncached_parse_does_not_fill_the_cache() -> None:
    codec = PriceCodec()
    assert codec.parse_uncached("12.5") == 12.5
    assert codec.cache == {}
    with pytest.raises(InvalidLevel):
        codec.key("nope")
