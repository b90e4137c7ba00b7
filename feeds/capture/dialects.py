"""Frame dialects: how a capture's connection turns its frames into depth events.

A connection of a capture (its header's ``conns``, or a ``conn`` record of state ``new``)
names its venue (``"v"``) and, for frames that are not WEX's, its ``"dialect"``.
:func:`connection_of` gives what replay (and the seek) parse its frames with: WEX pushes
through :func:`orderbook.parse_depth_update` (with a :class:`~feeds.protocol.FeedProtocol`
of the venue for every other frame, counted as live), another dialect through its parser
in :data:`DIALECTS` (``"binance"``: :func:`binance_depth_update`, the importers' frames).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from orderbook import DepthUpdate, MalformedEvent, Venue, parse_depth_update

from .reader import CaptureError

FrameParser = Callable[[bytes, Venue], DepthUpdate]

_loads = orjson.loads


def binance_depth_update(raw: bytes | str, venue: Venue) -> DepthUpdate:
    """A Binance ``depthUpdate`` frame (combined-stream wrapper or bare) to a DepthUpdate."""
    if b'"depthUpdate"' not in (raw if isinstance(raw, bytes) else raw.encode()):
        raise MalformedEvent("not a depthUpdate", raw)
    try:
        msg = _loads(raw)
        data = msg.get("data", msg)
        symbol = data["s"].lower()
        first, last = data["U"], data["u"]
        prev = data.get("pu") if venue is Venue.FUTURES else None
        bids, asks = data["b"], data["a"]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise MalformedEvent("bad depthUpdate frame", raw) from None
    if type(first) is not int or type(last) is not int:
        raise MalformedEvent("depthUpdate ids must be integers", raw)
    if venue is Venue.FUTURES and type(prev) is not int:
        raise MalformedEvent("futures depthUpdate needs pu", raw)
    return DepthUpdate(symbol, first, last, prev, bids, asks, data.get("E"))


#: Parsers of other exchanges' frames, by the ``dialect`` of a connection (importers).
DIALECTS: dict[str, FrameParser] = {"binance": binance_depth_update}


class Connection(NamedTuple):
    """How one connection of a capture is replayed."""

    venue: Venue
    parse: FrameParser  #: its frames to depth events (``MalformedEvent``: another topic)
    #: The live protocol that counts its other frames (WEX connections), or None.
    protocol: Any
    name: str  #: the venue's name (``"spot"``, ``"futures"``)


def connection_of(info: dict[str, Any]) -> Connection:
    """The :class:`Connection` a capture's connection ``info`` (``c``, ``v``, ``dialect``)
    describes; ``ValueError`` for an unknown venue, :class:`CaptureError` for an unknown
    dialect."""
    from feeds.protocol import FeedProtocol

    venue = Venue(info["v"])
    dialect = info.get("dialect") or "wex"
    if dialect == "wex":
        return Connection(venue, parse_depth_update, FeedProtocol(venue), venue.value)
    try:
        return Connection(venue, DIALECTS[dialect], None, venue.value)
    except KeyError:
        raise CaptureError(f"unknown frame dialect {dialect!r} in capture") from None
