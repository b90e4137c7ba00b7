"""wexbook's I/O-free core: exact order books and their sequencing.

The data path, one module per stage::

    raw frame --parse--> DepthUpdate --BookSync/Sequencer--> OrderBook --> BookView

- :mod:`orderbook.parse`: raw JSON frames and REST payloads to events.
- :mod:`orderbook.events`: the event records (:class:`DepthUpdate`, :class:`DepthSnapshot`).
- :mod:`orderbook.sequencing`: the venues' continuity rules (:class:`SpotSequencer`,
  :class:`FuturesSequencer`).
- :mod:`orderbook.sync`: :class:`BookSync`, the per-symbol state machine and buffer.
- :mod:`orderbook.book`: :class:`OrderBook`, two ``SortedDict`` sides of exact levels.
- :mod:`orderbook.views`: :class:`BookView` and the read-side analytics.

Nothing here does I/O; the websocket and REST adapters live in ``feeds``.
"""

from .accel import ACCELERATED
from .book import OrderBook
from .errors import (
    BookClosed,
    BookDisconnected,
    BookNotLive,
    BookResyncing,
    BookStale,
    BookSyncing,
    InvalidLevel,
    MalformedEvent,
    WexbookError,
)
from .events import DepthSnapshot, DepthUpdate, Venue
from .parse import (
    frame_symbol,
    futures_depth_update,
    futures_snapshot,
    load_frame,
    parse_depth_update,
    spot_depth_update,
    spot_snapshot,
)
from .prices import ExactDecimal, PriceCodec, parse_decimal, parse_price, parse_quantity, to_decimal
from .sequencing import ChainRule, FuturesSequencer, Sequencer, SpotSequencer, sequencer_for
from .sync import BookSync, Decision, Observer, SyncState, not_live_error
from .views import BookView, FillEstimate, Level, Side

__all__ = [
    "ACCELERATED",
    "BookClosed",
    "BookDisconnected",
    "BookNotLive",
    "BookResyncing",
    "BookStale",
    "BookSync",
    "BookSyncing",
    "BookView",
    "ChainRule",
    "Decision",
    "DepthSnapshot",
    "DepthUpdate",
    "ExactDecimal",
    "FillEstimate",
    "FuturesSequencer",
    "InvalidLevel",
    "Level",
    "MalformedEvent",
    "Observer",
    "OrderBook",
    "PriceCodec",
    "Sequencer",
    "Side",
    "SpotSequencer",
    "SyncState",
    "Venue",
    "WexbookError",
    "frame_symbol",
    "futures_depth_update",
    "futures_snapshot",
    "load_frame",
    "not_live_error",
    "parse_decimal",
    "parse_depth_update",
    "parse_price",
    "parse_quantity",
    "sequencer_for",
    "spot_depth_update",
    "spot_snapshot",
    "to_decimal",
]
