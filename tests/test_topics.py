"""Every public topic of the table parses the API document's own example push."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from feeds.topics import (
    TOPICS,
    FuturesDepth,
    SpotTickers,
    SpotTrade,
    UnknownTopic,
    parse_push,
    topic_spec,
)
from orderbook import DepthUpdate, MalformedEvent, Venue

LEVELS = {"a": [["34000", "1.2"], ["34001", "2.3"]], "b": [["32000", "0.2"], ["31000", "0.5"]]}
SPOT_TICKER = {
    "s": "btc_usdt", "t": 1657586700119, "cv": "-200", "cr": "-0.02", "o": "30000",
    "c": "39000", "h": "38000", "l": "40000", "q": "4", "v": "150000",
}  # fmt: skip
FUT_TICKER = {
    "s": "btc_index", "o": "49000", "c": "50000", "h": "0.1", "l": "0.1", "a": "0.1",
    "v": "0.1", "ch": "0.21", "t": 123124124,
}  # fmt: skip

#: (venue, topic) -> (event, data), from the API document's examples (comments removed).
EXAMPLES: dict[tuple[str, str], tuple[str, object]] = {
    ("spot", "trade"): (
        "trade@btc_usdt",
        {"s": "btc_usdt", "i": 6316559590087222000, "t": 1655992403617,
         "oi": 6616559590087222666, "p": "43000", "q": "0.21", "v": "9030", "b": True},
    ),
    ("spot", "kline"): (
        "kline@btc_usdt,5m",
        {"s": "btc_usdt", "t": 1656043200000, "i": "5m", "o": "44000", "c": "50000",
         "h": "52000", "l": "36000", "q": "34.2", "v": "230000"},
    ),
    ("spot", "depth"): ("depth@btc_usdt,20", {"s": "btc_usdt", "i": 1657699200000, **LEVELS}),
    ("spot", "depth_update"): (
        "depth_update@btc_usdt", {"s": "btc_usdt", "fi": 121, "i": 123, **LEVELS}
    ),
    ("spot", "ticker"): ("ticker@btc_usdt", SPOT_TICKER),
    ("spot", "tickers"): ("tickers", [SPOT_TICKER, {**SPOT_TICKER, "s": "eth_usdt"}]),
    ("futures", "trade"): (
        "trade@btc_usdt", {"s": "btc_usdt", "p": "50000", "a": "0.1", "m": "BID", "t": 123124124}
    ),
    ("futures", "kline"): ("kline@btc_usdt,5m", FUT_TICKER),
    ("futures", "agg_ticker"): (
        "agg_ticker@btc_usdt",
        {**FUT_TICKER, "i": "0.21", "m": "0.21", "bp": "0.21", "ap": "0.21"},
    ),
    ("futures", "index_price"): (
        "index_price@btc_usdt", {"s": "btc_usdt", "p": "50000", "t": 123124124}
    ),
    ("futures", "mark_price"): (
        "mark_price@btc_usdt", {"s": "btc_usdt", "p": "50000", "t": 123124124}
    ),
    ("futures", "depth_update"): (
        "depth_update@btc_usdt",
        {"s": "btc_usdt", "pu": 120, "fu": 121, "u": 123, **LEVELS, "t": 123456789},
    ),
    ("futures", "depth"): (
        "depth@btc_usdt,20",
        {"id": "1234", "s": "btc_index", "a": [["50000", "0.1"], ["50001", "0.2"]],
         "b": [["49999", "0.1"], ["48888", "0.2"]], "t": 123456789},
    ),
    ("futures", "fund_rate"): (
        "fund_rate@btc_usdt", {"s": "btc_usdt", "r": "0.01", "t": 123124124}
    ),
}  # fmt: skip


def push(topic: str, event: str, data: object) -> bytes:
    return orjson.dumps({"topic": topic, "event": event, "data": data})


def test_every_topic_has_an_example() -> None:
    assert {(v.value, t) for v, t in TOPICS} == set(EXAMPLES)


@pytest.mark.parametrize("key", sorted(EXAMPLES))
def test_document_example_parses(key: tuple[str, str]) -> None:
    venue, topic = key
    event, data = EXAMPLES[key]
    parsed = parse_push(push(topic, event, data), venue)
    spec = TOPICS[Venue(venue), topic]
    assert isinstance(parsed.data, spec.event_type)
    assert parsed.topic == topic and parsed.event == event
    if isinstance(parsed.data, DepthUpdate | SpotTickers):
        return
    # Every documented field is read, and decimals are exact.
    for name, value in data.items():  # type: ignore[union-attr]
        field = next(
            f for f in spec.event_type.__dataclass_fields__.values() if f.metadata["wire"] == name
        )
        got = getattr(parsed.data, field.name)
        if isinstance(got, Decimal):
            assert got == Decimal(value)
        elif isinstance(got, tuple):
            assert got == tuple((Decimal(p), Decimal(q)) for p, q in value)
        elif isinstance(got, int) and isinstance(value, str):
            assert got == int(value)
        else:
            assert got == value


@pytest.mark.parametrize("key", sorted(k for k in EXAMPLES if isinstance(EXAMPLES[k][1], dict)))
def test_each_required_field_missing_is_malformed(key: tuple[str, str]) -> None:
    venue, topic = key
    event, data = EXAMPLES[key]
    assert isinstance(data, dict)
    spec = TOPICS[Venue(venue), topic]
    optional = {
        f.metadata["wire"]
        for f in getattr(spec.event_type, "__dataclass_fields__", {}).values()
        if f.metadata.get("optional")
    }
    for name in data:
        if name in optional or (name == "t" and topic == "depth_update"):
            continue
        broken = {k: v for k, v in data.items() if k != name}
        with pytest.raises(MalformedEvent):
            parse_push(push(topic, event, broken), venue)


def test_bad_values_are_malformed_with_raw_text() -> None:
    event, data = EXAMPLES["spot", "trade"]
    for field, bad in (("p", "abc"), ("p", "NaN"), ("q", None), ("b", "yes"), ("t", 1.5)):
        raw = push("trade", event, {**data, field: bad})  # type: ignore[dict-item]
        with pytest.raises(MalformedEvent, match=repr(field)) as info:
            parse_push(raw, "spot")
        assert info.value.raw == raw.decode()


def test_unknown_topic_and_junk() -> None:
    with pytest.raises(UnknownTopic):
        parse_push(push("fund_rate", "fund_rate@btc_usdt", {}), "spot")
    with pytest.raises(UnknownTopic):
        topic_spec("spot", "agg_ticker")
    for junk in (b"pong", b"{}", b'{"topic": 5}', b'{"topic": "trade"}', b"[]"):
        with pytest.raises(MalformedEvent):
            parse_push(junk, "spot")


def test_optional_fields() -> None:
    _, data = EXAMPLES["spot", "trade"]
    slim = {k: v for k, v in data.items() if k not in ("oi", "v")}  # type: ignore[union-attr]
    trade = parse_push(push("trade", "trade@btc_usdt", slim), "spot").data
    assert isinstance(trade, SpotTrade) and trade.order_id is None and trade.quote_qty is None


def test_futures_depth_id_string_becomes_int() -> None:
    event, data = EXAMPLES["futures", "depth"]
    depth = parse_push(push("depth", event, data), "futures").data
    assert isinstance(depth, FuturesDepth) and depth.id == 1234
    assert depth.asks[0] == (Decimal("50000"), Decimal("0.1"))


@pytest.mark.parametrize(
    ("venue", "topic", "args", "expected"),
    [
        ("spot", "depth_update", (), "depth_update@btc_usdt"),
        ("spot", "depth", ("20",), "depth@btc_usdt,20"),
        ("spot", "kline", ("5m",), "kline@btc_usdt,5m"),
        ("spot", "tickers", (), "tickers"),
        ("futures", "depth_update", ("250ms",), "depth_update@btc_usdt,250ms"),
        ("futures", "depth", ("50", "1000ms"), "depth@btc_usdt,50,1000ms"),
    ],
)
def test_subscription_strings(venue: str, topic: str, args: tuple, expected: str) -> None:
    assert topic_spec(venue, topic).subscription("btc_usdt", *args) == expected


def test_subscription_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="levels"):
        topic_spec("spot", "depth").subscription("btc_usdt", "25")
    with pytest.raises(ValueError, match="argument"):
        topic_spec("spot", "kline").subscription("btc_usdt")
    with pytest.raises(ValueError, match="symbol"):
        topic_spec("futures", "trade").subscription(None)
