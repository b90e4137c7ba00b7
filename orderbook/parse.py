"""Raw frames and REST payloads to events: the first stage of the data path.

Pure functions, no I/O. Websocket frames are parsed with ``orjson``; every
function raises :class:`~orderbook.errors.MalformedEvent` (carrying the raw
input) on anything that does not have the documented shape, so a feed can
count and log it and go on.

Spot push (``depth_update@btc_usdt``)::

    {"topic": "depth_update", "event": "depth_update@btc_usdt",
     "data": {"s": "btc_usdt", "fi": 121, "i": 123, "a": [["34000", "1.2"]], "b": [...]}}

Futures push (``depth_update@btc_usdt,100ms``)::

    {"topic": "depth_update", "event": "depth_update@btc_usdt",
     "data": {"s": "btc_usdt", "pu": 120, "fu": 121, "u": 123,
              "a": [...], "b": [...], "t": 123456789}}

Spot snapshot (``GET /v4/public/depth``, inside the ``rc/mc/ma/result`` envelope)::

    {"timestamp": 1662445330524, "lastUpdateId": 137333589606963580, "bids": [...], "asks": [...]}

Futures snapshot (``GET /future/market/v1/public/q/depth``, inside
``returnCode/msgInfo/error/result``)::

    {"a": [...], "b": [...], "s": "btc_usdt", "t": 0, "u": 0}

The futures document labels ``a`` "Buy" and ``b`` "Sell" in that one example;
everywhere else (the depth streams, ``depth@``, ``depth_update@``) ``a`` are
asks and ``b`` bids, and a book built the other way round would be crossed.
We read ``a`` as asks and ``b`` as bids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .errors import MalformedEvent
from .events import DepthSnapshot, DepthUpdate, Venue

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_new_tuple = tuple.__new__  # builds a DepthUpdate without NamedTuple's Python-level __new__


def load_frame(raw: str | bytes) -> dict[str, Any]:
    """Decode one JSON frame to a dict, or raise :class:`MalformedEvent`."""
    try:
        msg = _loads(raw)
    except _JSONDecodeError as exc:
        raise MalformedEvent(f"frame is not valid JSON: {exc}", raw) from None
    if type(msg) is not dict:
        raise MalformedEvent("frame is not a JSON object", raw)
    return msg


def _ids_ok(*ids: object) -> bool:
    return all(type(x) is int for x in ids)


def spot_depth_update(data: dict[str, Any], raw: object = None) -> DepthUpdate:
    """The ``data`` object of a spot ``depth_update`` push as a :class:`DepthUpdate`."""
    try:
        symbol, fi, i, asks, bids = data["s"], data["fi"], data["i"], data["a"], data["b"]
    except (KeyError, TypeError):
        raise MalformedEvent("spot depth_update lacks s/fi/i/a/b", raw or data) from None
    if type(symbol) is not str or not symbol:
        raise MalformedEvent("spot depth_update s must be a symbol string", raw or data)
    if type(fi) is not int or type(i) is not int or fi > i:
        raise MalformedEvent("spot depth_update ids must be integers with fi <= i", raw or data)
    if type(bids) is not list or type(asks) is not list:
        raise MalformedEvent("spot depth_update a/b must be lists of levels", raw or data)
    return _new_tuple(DepthUpdate, (symbol, fi, i, None, bids, asks, None))


def futures_depth_update(data: dict[str, Any], raw: object = None) -> DepthUpdate:
    """The ``data`` object of a futures ``depth_update`` push as a :class:`DepthUpdate`."""
    try:
        symbol, pu, fu, u = data["s"], data["pu"], data["fu"], data["u"]
        asks, bids = data["a"], data["b"]
    except (KeyError, TypeError):
        raise MalformedEvent("futures depth_update lacks s/pu/fu/u/a/b", raw or data) from None
    if type(symbol) is not str or not symbol:
        raise MalformedEvent("futures depth_update s must be a symbol string", raw or data)
    if not _ids_ok(pu, fu, u) or fu > u or pu >= u:
        raise MalformedEvent(
            "futures depth_update ids must be integers with fu <= u and pu < u", raw or data
        )
    if type(bids) is not list or type(asks) is not list:
        raise MalformedEvent("futures depth_update a/b must be lists of levels", raw or data)
    return _new_tuple(DepthUpdate, (symbol, fu, u, pu, bids, asks, data.get("t")))


_DATA_PARSERS = {Venue.SPOT: spot_depth_update, Venue.FUTURES: futures_depth_update}


#: The compiled twin of :func:`reference_parse_depth_update` (``None``: pure Python).
#: Set by :mod:`orderbook.accel`.
_compiled_parse: Callable[[str | bytes, Venue | str], DepthUpdate] | None = None
#: ``frame_symbol(raw, spot)``: the symbol of a plain push as the compiled ``on_frame`` reads
#: it, else ``None``; ``None`` itself on the pure path. For owners routing raw frames.
_compiled_frame_symbol: Callable[[str | bytes, bool], str | None] | None = None
#: The compiled check of snapshot levels' shape (True: all well-formed), or ``None``.
_compiled_levels_ok: Callable[[list], bool] | None = None


def frame_symbol(raw: str | bytes, venue: Venue) -> str | None:
    """The symbol of a plain ``depth_update`` push of ``venue``, read as the compiled
    :meth:`~orderbook.BookSync.on_frame` reads it; ``None`` when it is not such a frame,
    and always on the pure-Python path. For an owner routing raw frames to books: on
    ``None`` it takes its general path (which parses, and reports what is wrong)."""
    compiled = _compiled_frame_symbol
    if compiled is None:
        return None
    return compiled(raw, venue is Venue.SPOT)


def parse_depth_update(raw: str | bytes, venue: Venue | str) -> DepthUpdate:
    """Raw websocket text of a ``depth_update`` push to a :class:`DepthUpdate`.

    Raises :class:`MalformedEvent` for anything but a ``depth_update`` push of
    the documented shape (see :func:`spot_depth_update` and
    :func:`futures_depth_update`), ``ValueError`` for an unknown venue.
    """
    compiled = _compiled_parse
    if compiled is not None:
        return compiled(raw, venue)
    return reference_parse_depth_update(raw, venue)


def reference_parse_depth_update(raw: str | bytes, venue: Venue | str) -> DepthUpdate:
    """:func:`parse_depth_update` in pure Python: the reference the compiled twin follows."""
    try:
        msg = _loads(raw)
        data = msg["data"]
        topic = msg["topic"]
    except _JSONDecodeError as exc:
        raise MalformedEvent(f"frame is not valid JSON: {exc}", raw) from None
    except (KeyError, TypeError):
        raise MalformedEvent("frame is not a push with topic and data", raw) from None
    if topic != "depth_update" or type(data) is not dict:
        raise MalformedEvent(f"not a depth_update push: topic {topic!r}", raw)
    try:
        parser = _DATA_PARSERS[venue]
    except KeyError:
        raise ValueError(f"unknown venue {venue!r}") from None
    return parser(data, raw)


def spot_snapshot(result: dict[str, Any], symbol: str, depth: int | None = None) -> DepthSnapshot:
    """The ``result`` of ``GET /v4/public/depth`` as a :class:`DepthSnapshot`."""
    try:
        last_id, bids, asks = result["lastUpdateId"], result["bids"], result["asks"]
    except (KeyError, TypeError):
        raise MalformedEvent("spot depth snapshot lacks lastUpdateId/bids/asks", result) from None
    if type(last_id) is not int:
        raise MalformedEvent("spot depth snapshot lastUpdateId must be an integer", result)
    return DepthSnapshot(
        symbol,
        last_id,
        _levels(bids, result),
        _levels(asks, result),
        result.get("timestamp"),
        depth,
    )


def futures_snapshot(
    result: dict[str, Any], symbol: str | None = None, depth: int | None = None
) -> DepthSnapshot:
    """The ``result`` of a futures depth endpoint as a :class:`DepthSnapshot`.

    ``a`` is read as asks and ``b`` as bids. The snapshot's symbol is the
    payload's own ``s`` where it carries one (so that a snapshot of another
    symbol is refused by the book it was asked for), else ``symbol``.
    """
    try:
        last_id, asks, bids = result["u"], result["a"], result["b"]
    except (KeyError, TypeError):
        raise MalformedEvent("futures depth snapshot lacks u/a/b", result) from None
    if type(last_id) is not int:
        raise MalformedEvent("futures depth snapshot u must be an integer", result)
    payload_symbol = result.get("s")
    if payload_symbol is not None and (type(payload_symbol) is not str or not payload_symbol):
        raise MalformedEvent("futures depth snapshot s must be a symbol string", result)
    return DepthSnapshot(
        payload_symbol or symbol or "",
        last_id,
        _levels(bids, result),
        _levels(asks, result),
        result.get("t"),
        depth,
    )


def _levels(levels: object, raw: object) -> list[list[str]]:
    """Validate snapshot levels' shape: a list of ``[price, qty]`` lists of two strings.

    The strings' spellings are checked when the book is built
    (:mod:`orderbook.prices`' rule, the same as for events).
    """
    if type(levels) is not list:
        raise MalformedEvent("snapshot levels must be a list", raw)
    check = _compiled_levels_ok
    if check is not None and check(levels):
        return levels
    for level in levels:
        if type(level) is not list or len(level) != 2:
            raise MalformedEvent(f"snapshot level must be [price, qty], got {level!r:.80}", raw)
        if type(level[0]) is not str or type(level[1]) is not str:
            raise MalformedEvent(
                f"snapshot price/qty must be decimal strings, got {level!r:.80}", raw
            )
    return levels
