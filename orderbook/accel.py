"""Which hot path runs: the compiled accelerator or the pure-Python reference.

:mod:`orderbook._speedups` (Cython, built by ``pip install`` where a C compiler
exists) holds compiled twins of ``OrderBook.apply`` (with
:func:`orderbook.book._apply_side`), of ``BookSync.on_update``'s hot case (a LIVE
book, an event that chains), of ``parse_depth_update`` and the snapshot-level
checks, of :func:`orderbook.book._snapshot_side`, and of the exact reads
(``best_bid``, ``best_ask``, ``best_quotes``, ``top_bids``, ``top_asks``, ``arrays``).
They give the same books, the same decisions, counters, observer calls and
exceptions as the pure-Python code, which stays the readable definition and
the fallback: the compiled ``on_update`` hands every case but the hot one to
the reference whole. Switching replaces those methods on the classes, so it
applies to every book at once.

The accelerator is used when it imports and ``WEXBOOK_PURE`` is not set (to
anything but ``""`` or ``"0"``). :data:`ACCELERATED` says what was chosen at
import; :func:`active` says what runs now; :func:`use` switches (the test suite
runs the core tests on both paths with it).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import numpy as np
import orjson

from . import book, parse
from .book import OrderBook
from .events import DepthUpdate, Venue
from .prices import parse_price, parse_quantity, quantity_is_zero, to_decimal
from .sequencing import ChainRule, FuturesSequencer, SpotSequencer
from .sync import BookSync, Decision, SyncState
from .views import Level

#: The pure-Python references that the compiled twins replace.
REFERENCE_APPLY = OrderBook.apply
REFERENCE_ON_UPDATE = BookSync.on_update
REFERENCE_ON_FRAME = BookSync.on_frame
#: The reference reads that the compiled ones replace (name -> function).
REFERENCE_READS = {name: getattr(OrderBook, name) for name in
                   ("best_bid", "best_ask", "top_bids", "top_asks", "best_quotes",
                    "arrays")}  # fmt: skip

try:
    from . import _speedups  # type: ignore[attr-defined]
except ImportError as exc:  # no compiler at install time, or a pure install
    _speedups = None
    #: Why the accelerator is not available (``None`` when it is).
    UNAVAILABLE: str | None = (
        "not built in this install (no C compiler, or WEXBOOK_NO_EXTENSION was set)"
        if importlib.util.find_spec(f"{__package__}._speedups") is None
        else f"not loadable ({exc})"
    )
else:
    UNAVAILABLE = None
    if _speedups.FAST_QTY != book._FAST_QTY:  # pragma: no cover - a stale build
        _speedups = None
        UNAVAILABLE = "stale build (FAST_QTY differs from orderbook.book): reinstall wexbook"
    elif DepthUpdate._fields[:6] != ("symbol", "first_id", "last_id", "prev_id", "bids", "asks"):
        _speedups = None  # pragma: no cover - the compiled path reads events by position
        UNAVAILABLE = "stale build (DepthUpdate fields moved): reinstall wexbook"
    else:
        _speedups.configure(quantity_is_zero, book._bad_level, book._apply_side_general)
        _speedups.configure_events(
            DepthUpdate, orjson.loads, parse.reference_parse_depth_update, Venue.SPOT, Venue.FUTURES
        )
        _speedups.configure_reads(
            Decimal,
            Level,
            to_decimal,
            book.PRICE_DECIMALS,
            book.LEVEL_CACHE_MAX,
            REFERENCE_READS["top_bids"],
            REFERENCE_READS["top_asks"],
        )
        _speedups.configure_snapshots(parse_price, parse_quantity, book._LEVEL_TYPES)
        _speedups.configure_quotes(
            book.PRICE_TEXTS,
            book._price_text,
            book.number_text,
            np.empty,
            np.float64,
            REFERENCE_READS["arrays"],
        )
        _speedups.configure_frames(REFERENCE_ON_FRAME)
        _speedups.configure_sync(
            REFERENCE_ON_UPDATE,
            SyncState.LIVE,
            Decision.APPLIED,
            Decision.MALFORMED,
            Decision.CROSSED,
            SpotSequencer,
            FuturesSequencer,
            ChainRule.PU,
        )

#: True if the compiled accelerator can be used in this process.
AVAILABLE = _speedups is not None

#: True if the compiled path was chosen at import (available and not disabled).
ACCELERATED = AVAILABLE and os.environ.get("WEXBOOK_PURE", "") in ("", "0")


def use(compiled: bool) -> None:
    """Run the compiled path (``True``) or the pure-Python reference (``False``) from now on.

    Raises ``RuntimeError`` if the compiled path is asked for and not available.
    """
    if compiled:
        if _speedups is None:
            raise RuntimeError(f"the compiled accelerator is {UNAVAILABLE}")
        OrderBook.apply = _speedups.apply_book  # type: ignore[method-assign]
        BookSync.on_update = _speedups.on_update  # type: ignore[method-assign]
        BookSync.on_frame = _speedups.on_frame  # type: ignore[method-assign]
        book._snapshot_side_impl = _speedups.snapshot_side
        parse._compiled_parse = _speedups.parse_depth_update
        parse._compiled_levels_ok = _speedups.levels_ok
        parse._compiled_frame_symbol = _speedups.frame_symbol
        for name in REFERENCE_READS:
            setattr(OrderBook, name, getattr(_speedups, name))
    else:
        parse._compiled_parse = None
        for name, function in REFERENCE_READS.items():
            setattr(OrderBook, name, function)
        OrderBook.apply = REFERENCE_APPLY  # type: ignore[method-assign]
        BookSync.on_update = REFERENCE_ON_UPDATE  # type: ignore[method-assign]
        BookSync.on_frame = REFERENCE_ON_FRAME  # type: ignore[method-assign]
        book._snapshot_side_impl = book._snapshot_side
        parse._compiled_levels_ok = None
        parse._compiled_frame_symbol = None


def active() -> str:
    """``"compiled"`` or ``"python"``: the path that runs now."""
    return "python" if OrderBook.apply is REFERENCE_APPLY else "compiled"


@contextmanager
def path(compiled: bool) -> Iterator[None]:
    """Run the body on one path, then restore the one that ran before."""
    before = active() == "compiled"
    use(compiled)
    try:
        yield
    finally:
        use(before)


def describe() -> str:
    """One line for ``wexbook --version``: which path runs, and why."""
    if active() == "compiled":
        return "orderbook: compiled accelerator (Cython)"
    if not AVAILABLE:
        return f"orderbook: pure Python (accelerator {UNAVAILABLE})"
    return "orderbook: pure Python (accelerator disabled by WEXBOOK_PURE)"


use(ACCELERATED)
