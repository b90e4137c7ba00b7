"""Parsed events: what the sequencer consumes.

Events are light ``NamedTuple`` records so that building one per frame on the
hot path costs little. Price levels are kept as the exchange spelled them:
lists of ``[price, quantity]`` strings, converted exactly by the book.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

#: One price level as it arrives on the wire: ``[price, quantity]`` strings.
RawLevel = list[str]


class Venue(StrEnum):
    """The two WEX markets, whose sequencing rules differ."""

    SPOT = "spot"
    FUTURES = "futures"


class DepthUpdate(NamedTuple):
    """One ``depth_update`` event, for either venue.

    Spot events carry ``fi`` (``first_id``) and ``i`` (``last_id``); futures
    events carry ``fu`` (``first_id``), ``u`` (``last_id``) and ``pu``
    (``prev_id``: the ``u`` of the previous event of the stream). Spot events
    have ``prev_id`` ``None``. Quantities are absolute; zero deletes a level.
    """

    symbol: str
    first_id: int
    last_id: int
    prev_id: int | None
    bids: list[RawLevel]
    asks: list[RawLevel]
    event_time: int | None = None


class DepthSnapshot(NamedTuple):
    """A REST depth snapshot: the book as of update id ``last_id``.

    Spot: ``lastUpdateId`` of ``/v4/public/depth``. Futures: ``u`` of the
    futures depth endpoints. ``depth`` is how many levels per side were asked
    for (``None`` if unknown): levels beyond it are not known until they change.
    """

    symbol: str
    last_id: int
    bids: list[RawLevel]
    asks: list[RawLevel]
    timestamp: int | None = None
    depth: int | None = None
