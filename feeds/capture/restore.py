"""Restore: a book of the replay, built from a capture's ``book`` record.

A ``book`` record (written for every book at the start of a segment and when a book is
added) holds what the book needs to replay from there on its own: its settings, state,
update id, generation, exact levels, buffered events and counters. :func:`sync_from_record`
builds a :class:`~orderbook.BookSync` with those settings and puts it there through
:meth:`BookSync.restore <orderbook.BookSync.restore>`, so the next event is judged exactly
as it was live. :class:`ReplayBook` is what the replay keeps about each book.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from orderbook import BookSync, OrderBook, Venue, sequencer_for

from .format import event_from_record
from .reports import BookReport, Key


@dataclass(slots=True)
class ReplayBook:
    """One book of a replay: its sync, its report, and what the audit and the checks keep.

    (The compiled frame loop reads ``sync``, ``report`` and ``down_since`` by name.)
    """

    key: Key
    sync: BookSync
    report: BookReport
    #: Replayed decisions not yet matched with a recorded one:
    #: (decision, state, update id, generation, hash).
    pending: deque[tuple[str, str, int | None, int, str | None]] = field(default_factory=deque)
    #: Receive time (ns) of the book's next sample (sampling replays).
    next_sample: int = 0
    #: Since when the book has not been LIVE (the gap audit), or None; the decision that
    #: took it out (``kind``) and its reason.
    down_since: int | None = None
    down_kind: str | None = None
    down_reason: str | None = None
    #: The sync's applied counter when this replay took it over (restored or rebased).
    applied_base: int = 0
    #: Events applied by the syncs this book had before a rebase.
    applied_before: int = 0


def new_sync(venue: Venue, symbol: str, config: dict[str, Any], observer: Any) -> BookSync:
    """A sync with a ``book`` record's settings (``config``: chain rule, buffer limits)."""
    rule = config.get("chain_rule") or "pu"
    return BookSync(
        symbol,
        sequencer_for(venue, rule),
        max_buffer=config.get("max_buffer") or 10_000,
        max_unapplied=config.get("max_unapplied") or 100,
        observer=observer,
    )


def restore_sync(sync: BookSync, record: dict[str, Any]) -> None:
    """Put ``sync`` where the recorded ``book`` state says (a segment replayed on its own),
    through :meth:`BookSync.restore`, so the next event is judged exactly as it was live."""
    levels = record.get("levels")
    book = None
    if levels is not None:
        book = OrderBook.from_levels(levels["bids"], levels["asks"], sync.codec)
    buffer = [event_from_record(e) for e in record.get("buffer") or ()]
    sync.restore({**record, "buffer": buffer}, book)


def sync_from_record(record: dict[str, Any]) -> BookSync:
    """A new sync (no observer) of the book a ``book`` record describes, restored to it.

    A record that cannot be restored raises (``KeyError``, ``TypeError``, ``ValueError``)
    and changes nothing: the sync is new.
    """
    sync = new_sync(Venue(record["v"]), record["s"], record.get("config") or {}, None)
    restore_sync(sync, record)
    return sync
