"""The live terminal table of ``wexbook demo`` and ``wexbook watch`` (rich).

:func:`book_rows` turns a :class:`~feeds.manager.BookManager`'s books into plain
rows (so they can be tested and printed without a terminal); :func:`render`
lays them out as a ``rich`` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rich.table import Table

from feeds.manager import BookManager
from orderbook import Decision


@dataclass(frozen=True, slots=True)
class BookRow:
    """One line of the table."""

    venue: str
    symbol: str
    state: str
    best_bid: Decimal | None
    best_ask: Decimal | None
    spread: Decimal | None
    update_id: int | None
    gaps: int
    resyncs: int
    msgs_per_s: float
    quiet_s: float | None
    reason: str | None


class RateMeter:
    """Messages per second per book, from successive samples of its event counter."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def rate(self, key: tuple[str, str], now: float, count: int) -> float:
        last = self._last.get(key)
        self._last[key] = (now, count)
        if last is None or now <= last[0]:
            return 0.0
        return (count - last[1]) / (now - last[0])


def book_rows(manager: BookManager, now: float, meter: RateMeter) -> list[BookRow]:
    """The current rows, one per book, in the order the books were added."""
    rows = []
    for book in manager.books.values():
        with book.lock:
            sync = book.sync
            live = sync.book
            bid = live.best_bid() if live is not None else None
            ask = live.best_ask() if live is not None else None
            counts = sync.counts
            gaps = counts[Decision.GAP] + counts[Decision.OVERFLOW] + counts[Decision.CROSSED]
            row = BookRow(
                venue=book.venue.value,
                symbol=book.symbol,
                state=sync.state.value,
                best_bid=bid.price if bid else None,
                best_ask=ask.price if ask else None,
                spread=(ask.price - bid.price) if bid and ask else None,
                update_id=sync.update_id,
                gaps=gaps,
                resyncs=max(0, sync.generation - 1),
                msgs_per_s=meter.rate((book.venue.value, book.symbol), now, book.depth_events),
                quiet_s=(now - book.last_depth) if book.last_depth is not None else None,
                reason=sync.reason,
            )
        rows.append(row)
    return rows


_STATE_STYLE = {"live": "green", "syncing": "yellow", "resyncing": "yellow", "stale": "red",
                "disconnected": "red",
                "closed": "dim"}  # fmt: skip


def render(rows: list[BookRow], title: str = "wexbook") -> Table:
    """A rich table of ``rows``."""
    table = Table(title=title, expand=False)
    for name, justify in (
        ("venue", "left"), ("symbol", "left"), ("state", "left"), ("best bid", "right"),
        ("best ask", "right"), ("spread", "right"), ("update id", "right"), ("gaps", "right"),
        ("resyncs", "right"), ("msg/s", "right"), ("quiet s", "right"), ("why not live", "left"),
    ):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        style = _STATE_STYLE.get(r.state, "")
        table.add_row(
            r.venue,
            r.symbol,
            f"[{style}]{r.state}[/]" if style else r.state,
            _fmt(r.best_bid),
            _fmt(r.best_ask),
            _fmt(r.spread),
            str(r.update_id) if r.update_id is not None else "-",
            str(r.gaps),
            str(r.resyncs),
            f"{r.msgs_per_s:.1f}",
            f"{r.quiet_s:.1f}" if r.quiet_s is not None else "-",
            (r.reason or "")[:40],
        )
    return table


def _fmt(value: Decimal | None) -> str:
    return "-" if value is None else format(value.normalize(), "f")
