"""Every public websocket topic of both venues, as one declarative table, and its parser.

Each push is ``{"topic": ..., "event": "{topic}@{symbol},{args}", "data": ...}``
(API document: spot "Push message format", futures "Push Message Format").
:data:`TOPICS` maps ``(venue, topic)`` to a :class:`TopicSpec`: how to spell a
subscription, the documented push cadence, and the typed event class the
``data`` object becomes. Event classes declare, per field, the wire key and
the conversion (exact :class:`~decimal.Decimal` for prices and quantities),
so :func:`parse_push` is one generic function, and tests and docs are
generated from the same table.

``depth_update`` is the exception: it goes to the core's fast parser
(:func:`orderbook.parse.parse_depth_update`) and becomes an
:class:`orderbook.DepthUpdate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from orderbook import DepthUpdate, MalformedEvent, Venue
from orderbook.parse import futures_depth_update, spot_depth_update

Level = tuple[Decimal, Decimal]


class UnknownTopic(MalformedEvent):
    """A push whose topic is not in :data:`TOPICS` for its venue."""


# -- conversions -------------------------------------------------------------


def as_decimal(value: Any) -> Decimal:
    """A wire decimal (a string, or an integer) as a finite ``Decimal``; ``ValueError`` else."""
    if type(value) is bool or not isinstance(value, str | int):
        raise ValueError(f"expected a decimal string, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def as_int(value: Any) -> int:
    """A wire integer (or a string of digits) as an ``int``; ``ValueError`` else."""
    if type(value) is int:
        return value
    if type(value) is str and value.lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def as_str(value: Any) -> str:
    """A wire string, as is; ``ValueError`` for anything else."""
    if type(value) is not str:
        raise ValueError(f"expected a string, got {value!r}")
    return value


def as_bool(value: Any) -> bool:
    """A wire ``true``/``false``, as is; ``ValueError`` for anything else."""
    if type(value) is not bool:
        raise ValueError(f"expected true/false, got {value!r}")
    return value


def _levels(value: Any) -> tuple[Level, ...]:
    if type(value) is not list:
        raise ValueError(f"expected a list of [price, qty], got {value!r}")
    out = []
    for level in value:
        if type(level) is not list or len(level) != 2:
            raise ValueError(f"expected [price, qty], got {level!r}")
        out.append((as_decimal(level[0]), as_decimal(level[1])))
    return tuple(out)


def wire(key: str, convert: Callable[[Any], Any], *, optional: bool = False) -> Any:
    """Declare a field read from ``data[key]`` through ``convert``."""
    meta = {"wire": key, "convert": convert, "optional": optional}
    if optional:
        return field(default=None, metadata=meta)
    return field(metadata=meta)


# -- event classes (field order and names follow the document's examples) ------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotTrade:
    """Spot ``trade@{symbol}``."""

    symbol: str = wire("s", as_str)
    trade_id: int = wire("i", as_int)
    time: int = wire("t", as_int)
    order_id: int | None = wire("oi", as_int, optional=True)
    price: Decimal = wire("p", as_decimal)
    qty: Decimal = wire("q", as_decimal)
    quote_qty: Decimal | None = wire("v", as_decimal, optional=True)
    buyer_maker: bool = wire("b", as_bool)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotKline:
    """Spot ``kline@{symbol},{interval}``."""

    symbol: str = wire("s", as_str)
    time: int = wire("t", as_int)
    interval: str = wire("i", as_str)
    open: Decimal = wire("o", as_decimal)
    close: Decimal = wire("c", as_decimal)
    high: Decimal = wire("h", as_decimal)
    low: Decimal = wire("l", as_decimal)
    qty: Decimal = wire("q", as_decimal)
    volume: Decimal = wire("v", as_decimal)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotDepth:
    """Spot ``depth@{symbol},{levels}``: the top levels, with the update id ``i``."""

    symbol: str = wire("s", as_str)
    update_id: int = wire("i", as_int)
    asks: tuple[Level, ...] = wire("a", _levels)
    bids: tuple[Level, ...] = wire("b", _levels)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotTicker:
    """Spot ``ticker@{symbol}`` (and each item of ``tickers``)."""

    symbol: str = wire("s", as_str)
    time: int = wire("t", as_int)
    change: Decimal = wire("cv", as_decimal)
    change_rate: Decimal = wire("cr", as_decimal)
    open: Decimal = wire("o", as_decimal)
    close: Decimal = wire("c", as_decimal)
    high: Decimal = wire("h", as_decimal)
    low: Decimal = wire("l", as_decimal)
    qty: Decimal = wire("q", as_decimal)
    volume: Decimal = wire("v", as_decimal)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotTickers:
    """Spot ``tickers``: every symbol's ticker that changed."""

    tickers: tuple[SpotTicker, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesTrade:
    """Futures ``trade@{symbol}``; ``side`` is ``"BID"`` or ``"ASK"`` (the taker's side)."""

    symbol: str = wire("s", as_str)
    price: Decimal = wire("p", as_decimal)
    qty: Decimal = wire("a", as_decimal)
    side: str = wire("m", as_str)
    time: int = wire("t", as_int)


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesKline:
    """Futures ``kline@{symbol},{interval}``."""

    symbol: str = wire("s", as_str)
    open: Decimal = wire("o", as_decimal)
    close: Decimal = wire("c", as_decimal)
    high: Decimal = wire("h", as_decimal)
    low: Decimal = wire("l", as_decimal)
    amount: Decimal = wire("a", as_decimal)
    volume: Decimal = wire("v", as_decimal)
    change: Decimal = wire("ch", as_decimal)
    time: int = wire("t", as_int)


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesAggTicker:
    """Futures ``agg_ticker@{symbol}``: ticker, index, mark, best bid/ask prices."""

    symbol: str = wire("s", as_str)
    open: Decimal = wire("o", as_decimal)
    close: Decimal = wire("c", as_decimal)
    high: Decimal = wire("h", as_decimal)
    low: Decimal = wire("l", as_decimal)
    amount: Decimal = wire("a", as_decimal)
    volume: Decimal = wire("v", as_decimal)
    change: Decimal = wire("ch", as_decimal)
    index_price: Decimal = wire("i", as_decimal)
    mark_price: Decimal = wire("m", as_decimal)
    bid_price: Decimal = wire("bp", as_decimal)
    ask_price: Decimal = wire("ap", as_decimal)
    time: int = wire("t", as_int)


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesPrice:
    """Futures ``index_price@{symbol}`` and ``mark_price@{symbol}``."""

    symbol: str = wire("s", as_str)
    price: Decimal = wire("p", as_decimal)
    time: int = wire("t", as_int)


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesDepth:
    """Futures ``depth@{symbol},{levels},{interval}``; ``id`` is a string on the wire."""

    id: int = wire("id", as_int)
    symbol: str = wire("s", as_str)
    asks: tuple[Level, ...] = wire("a", _levels)
    bids: tuple[Level, ...] = wire("b", _levels)
    time: int = wire("t", as_int)


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesFundRate:
    """Futures ``fund_rate@{symbol}``."""

    symbol: str = wire("s", as_str)
    rate: Decimal = wire("r", as_decimal)
    time: int = wire("t", as_int)


# -- the table ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One websocket topic of one venue.

    ``args`` names the subscription arguments after the symbol, with the
    allowed values (``None``: any); ``cadence_ms`` is the documented push rate
    (0: real time; for topics with an interval argument, the default).
    """

    venue: Venue
    topic: str
    event_type: type
    args: tuple[tuple[str, tuple[str, ...] | None], ...] = ()
    cadence_ms: int = 0
    per_symbol: bool = True
    doc_line: int = 0

    def subscription(self, symbol: str | None = None, *args: str) -> str:
        """The subscription string, e.g. ``depth@btc_usdt,20``; checks the arguments."""
        if len(args) != len(self.args):
            raise ValueError(
                f"{self.topic} takes {len(self.args)} argument(s) after the symbol: "
                f"{', '.join(name for name, _ in self.args) or 'none'}"
            )
        for value, (name, allowed) in zip(args, self.args, strict=True):
            if allowed is not None and value not in allowed:
                raise ValueError(f"{self.topic}: {name} must be one of {allowed}, got {value!r}")
        if not self.per_symbol:
            return self.topic
        if not symbol:
            raise ValueError(f"{self.topic} needs a symbol")
        return ",".join([f"{self.topic}@{symbol}", *args])


KLINE_INTERVALS = (
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
)  # fmt: skip
DEPTH_LEVELS = ("5", "10", "20", "50")
FUTURES_INTERVALS = ("100ms", "250ms", "500ms", "1000ms")

_SPOT, _FUT = Venue.SPOT, Venue.FUTURES

#: Every public topic, by ``(venue, topic)``. Line numbers are the API document's.
TOPICS: dict[tuple[Venue, str], TopicSpec] = {
    (spec.venue, spec.topic): spec
    for spec in (
        TopicSpec(_SPOT, "trade", SpotTrade, doc_line=1818),
        TopicSpec(_SPOT, "kline", SpotKline, (("interval", KLINE_INTERVALS),), 1000, doc_line=1845),
        TopicSpec(_SPOT, "depth", SpotDepth, (("levels", DEPTH_LEVELS),), 1000, doc_line=1877),
        TopicSpec(_SPOT, "depth_update", DepthUpdate, (), 100, doc_line=1918),
        TopicSpec(_SPOT, "ticker", SpotTicker, (), 1000, doc_line=1958),
        TopicSpec(_SPOT, "tickers", SpotTickers, (), 1000, per_symbol=False, doc_line=1985),
        TopicSpec(_FUT, "trade", FuturesTrade, doc_line=8211),
        TopicSpec(
            _FUT, "kline", FuturesKline, (("interval", KLINE_INTERVALS),), 1000, doc_line=8236
        ),
        TopicSpec(_FUT, "agg_ticker", FuturesAggTicker, (), 1000, doc_line=8267),
        TopicSpec(_FUT, "index_price", FuturesPrice, (), 1000, doc_line=8300),
        TopicSpec(_FUT, "mark_price", FuturesPrice, (), 1000, doc_line=8323),
        TopicSpec(
            _FUT,
            "depth_update",
            DepthUpdate,
            (("interval", FUTURES_INTERVALS),),
            100,
            doc_line=8346,
        ),
        TopicSpec(
            _FUT,
            "depth",
            FuturesDepth,
            (("levels", DEPTH_LEVELS), ("interval", FUTURES_INTERVALS)),
            1000,
            doc_line=8379,
        ),
        TopicSpec(_FUT, "fund_rate", FuturesFundRate, (), 60_000, doc_line=8412),
    )
}


def topic_spec(venue: Venue | str, topic: str) -> TopicSpec:
    """The spec of ``topic`` on ``venue``, or :class:`UnknownTopic`."""
    try:
        return TOPICS[Venue(venue), topic]
    except (KeyError, ValueError):
        raise UnknownTopic(f"unknown {venue} topic {topic!r}", topic) from None


# -- parsing -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Push:
    """One parsed push: its topic, its ``event`` string (topic, symbol, args) and typed data."""

    venue: Venue
    topic: str
    event: str
    symbol: str | None
    data: Any


def from_data(cls: type, data: Any, raw: object) -> Any:
    """An instance of the :func:`wire`-described dataclass ``cls`` from a push's ``data``
    object; :class:`~orderbook.MalformedEvent` (with ``raw``) when a field is missing or
    does not convert."""
    if type(data) is not dict:
        raise MalformedEvent(f"{cls.__name__}: data must be an object", raw)
    values = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        key = meta["wire"]
        if key not in data or (data[key] is None and meta["optional"]):
            if meta["optional"]:
                continue
            raise MalformedEvent(f"{cls.__name__}: field {key!r} is missing", raw)
        try:
            values[f.name] = meta["convert"](data[key])
        except ValueError as exc:
            raise MalformedEvent(f"{cls.__name__}: field {key!r}: {exc}", raw) from None
    return cls(**values)


def parse_data(spec: TopicSpec, data: Any, raw: object = None) -> Any:
    """The typed event of one push's ``data`` for ``spec``."""
    cls = spec.event_type
    if cls is DepthUpdate:
        parser = spot_depth_update if spec.venue is Venue.SPOT else futures_depth_update
        if type(data) is not dict:
            raise MalformedEvent("depth_update data must be an object", raw)
        return parser(data, raw)
    if cls is SpotTickers:
        if type(data) is not list:
            raise MalformedEvent("tickers data must be a list", raw)
        return SpotTickers(tickers=tuple(from_data(SpotTicker, item, raw) for item in data))
    return from_data(cls, data, raw)


def parse_push(raw: str | bytes, venue: Venue | str) -> Push:
    """Parse one websocket push of ``venue`` into a :class:`Push` with a typed ``data``.

    Raises :class:`UnknownTopic` for a topic the venue does not document and
    :class:`~orderbook.MalformedEvent` for anything else that is wrong; both
    carry the raw text.
    """
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(f"frame is not valid JSON: {exc}", raw) from None
    return parse_message(msg, raw, Venue(venue))


def parse_message(msg: Any, raw: str | bytes, venue: Venue) -> Push:
    """:func:`parse_push` of a frame already decoded (``msg``, from ``raw``): decode once."""
    if type(msg) is not dict or "topic" not in msg:
        raise MalformedEvent("frame is not a push (no topic)", raw)
    topic, event = msg["topic"], msg.get("event")
    if type(topic) is not str:
        raise MalformedEvent("push topic must be a string", raw)
    try:
        spec = TOPICS[venue, topic]
    except KeyError:
        raise UnknownTopic(f"unknown {venue.value} topic {topic!r}", raw) from None
    if "data" not in msg:
        raise MalformedEvent(f"{topic} push has no data", raw)
    data = parse_data(spec, msg["data"], raw)
    symbol = getattr(data, "symbol", None)
    return Push(venue, topic, event if type(event) is str else topic, symbol, data)
