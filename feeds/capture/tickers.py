"""The ticker check: does the replayed book's best bid and ask equal the exchange's own?

Binance streams carry ``bookTicker`` frames (best bid, its quantity, best ask, its
quantity, and ``u``: the order book's update id they were taken at) beside the depth
diffs. :func:`check_tickers` replays a capture (:func:`feeds.capture.replay.iter_events`,
the same engine path as live) and, after every depth event that leaves a LIVE book at
that event's id, compares the book's top of book with the latest ticker whose ``u`` is
not above the book's id: the exchange's own statement of the same book. It is an
independent check of a capture and of the engine, which no checkpoint can give (a
checkpoint compares the engine with itself).

Tickers and depth events arrive on their own streams and need not be in id order with
each other, so a comparison waits until a ticker at or past the book's id has arrived
(or the capture ends); memory stays bounded by the tickers and comparisons in that
window (``max_pending`` comparisons per book at most: beyond it the oldest is decided
with the tickers known).

A check that could not check is a failure: :attr:`TickerReport.ok` is false when no
comparison was made, or a book with depth events had no ticker to compare with. A
ticker frame can be lost on the way (so 2 of 6,492 disagree on the real 11-minute
Binance spot sample), hence ``min_agreement`` (default 0.99) per book.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .importers import binance_book_ticker
from .replay import iter_events

Key = tuple[str, str]  # (venue, symbol)
#: ``(symbol, u, bid, bid qty, ask, ask qty)`` of a ticker frame, or None.
TickerParser = Callable[[bytes], "tuple[str, int, str, str, str, str] | None"]
Top = tuple[Any, Any, Any, Any]  # bid, bid qty, ask, ask qty


@dataclass(frozen=True, slots=True)
class TickerDisagreement:
    """A replayed top of book that differs from the exchange's ticker at that id."""

    time_ns: int  #: receive time of the depth event
    venue: str
    symbol: str
    update_id: int  #: the book's update id
    book: tuple[str, str, str, str]  #: bid, bid qty, ask, ask qty of the replayed book
    ticker_id: int  #: the ticker's ``u``
    ticker: tuple[str, str, str, str]  #: bid, bid qty, ask, ask qty the exchange sent

    def __str__(self) -> str:
        when = _iso(self.time_ns)
        b, t = self.book, self.ticker
        return (
            f"{self.venue}:{self.symbol} at update id {self.update_id} ({when}): book "
            f"{b[0]} x {b[1]} / {b[2]} x {b[3]}, bookTicker u={self.ticker_id} "
            f"{t[0]} x {t[1]} / {t[2]} x {t[3]}"
        )


@dataclass(slots=True)
class BookTickers:
    """The ticker check of one book."""

    venue: str
    symbol: str
    #: Depth events after which the book was LIVE at that event's id (0 for a symbol
    #: with tickers whose book never was: it is reported as not checked).
    events: int = 0
    #: Of those, compared with a ticker (the others came before any ticker at or below).
    compared: int = 0
    agreed: int = 0
    tickers: int = 0  #: bookTicker frames of the symbol
    #: Tickers that arrived after a comparison had been decided without them.
    late_tickers: int = 0

    @property
    def agreement(self) -> float:
        return self.agreed / self.compared if self.compared else 0.0


@dataclass(slots=True)
class TickerReport:
    """The outcome of :func:`check_tickers`."""

    books: dict[Key, BookTickers] = field(default_factory=dict)
    disagreements: list[TickerDisagreement] = field(default_factory=list)
    min_agreement: float = 0.99

    @property
    def compared(self) -> int:
        return sum(b.compared for b in self.books.values())

    @property
    def agreed(self) -> int:
        return sum(b.agreed for b in self.books.values())

    @property
    def unchecked(self) -> list[Key]:
        """Books with depth events that were never compared with a ticker."""
        return sorted(k for k, b in self.books.items() if b.compared == 0)

    @property
    def ok(self) -> bool:
        """Every book compared, and each agrees on at least ``min_agreement`` of them."""
        if not self.books or self.unchecked:
            return False
        return all(b.agreement >= self.min_agreement for b in self.books.values())

    def summary(self) -> str:
        """A few lines for people."""
        share = f" ({self.agreed / self.compared:.2%})" if self.compared else ""
        verdict = "ok" if self.ok else "FAILED"
        lines = [
            f"best bid/ask = bookTicker: {self.agreed} of {self.compared} comparisons "
            f"agree{share}; {verdict} (each book must compare and agree on >= "
            f"{self.min_agreement:.0%})"
        ]
        for (venue, symbol), b in sorted(self.books.items()):
            if b.compared == 0:
                why = (
                    "no bookTicker to compare with"
                    if not b.tickers
                    else "no depth event left the book LIVE at its id"
                    if not b.events
                    else "every event came before the first ticker"
                )
                lines.append(
                    f"  {venue}:{symbol}: not checked: {why} ({b.events} events live at "
                    f"their id, {b.tickers} tickers)"
                )
                continue
            lines.append(
                f"  {venue}:{symbol}: {b.agreed}/{b.compared} agree, {b.events - b.compared} "
                f"before any ticker, {b.tickers} tickers"
                + (f", {b.late_tickers} late" if b.late_tickers else "")
            )
        lines += [f"disagreement: {d}" for d in self.disagreements[:3]]
        if not self.books:
            lines.append("  no book applied a depth event: nothing to check")
        return "\n".join(lines)


class _Book:
    """Tickers and waiting comparisons of one book."""

    __slots__ = ("decided", "ids", "pending", "rows", "stats")

    def __init__(self, stats: BookTickers) -> None:
        self.ids: list[int] = []  #: ticker ``u``, ascending
        self.rows: list[tuple[str, str, str, str]] = []
        #: (receive ns, book id, top of book) waiting for a ticker at or past the id
        self.pending: deque[tuple[int, int, Top]] = deque()
        self.decided = -1  #: highest book id decided so far
        self.stats = stats


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except ArithmeticError:
        return None


def _iso(ns: int) -> str:
    t = time.gmtime(ns // 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{ns % 1_000_000_000 // 1000:06d}Z"


def check_tickers(
    capture: Any,
    *,
    min_agreement: float = 0.99,
    max_disagreements: int = 10,
    max_pending: int = 100_000,
    parse_ticker: TickerParser = binance_book_ticker,
    **options: Any,
) -> TickerReport:
    """Replay ``capture`` and compare every LIVE book's best bid/ask with the exchange's
    ticker at its update id (see the module docstring). ``options`` go to
    :func:`~feeds.capture.replay.iter_events` (``symbols``, ``start_ns``...).
    ``parse_ticker`` reads a ticker frame (default: Binance's ``bookTicker``)."""
    report = TickerReport(min_agreement=min_agreement)
    books: dict[Key, _Book] = {}

    def state(key: Key) -> _Book:
        book = books.get(key)
        if book is None:
            stats = report.books.get(key) or BookTickers(*key)
            book = books[key] = _Book(stats)
        return book

    def decide(key: Key, book: _Book, item: tuple[int, int, Top]) -> None:
        when, update_id, top = item
        stats = book.stats
        if update_id > book.decided:
            book.decided = update_id
        i = bisect.bisect_right(book.ids, update_id) - 1
        if i < 0:
            return
        row = book.rows[i]
        stats.compared += 1
        bid, bid_qty, ask, ask_qty = top
        if (bid, bid_qty, ask, ask_qty) == tuple(_decimal(v) for v in row):
            stats.agreed += 1
        elif len(report.disagreements) < max_disagreements:
            report.disagreements.append(
                TickerDisagreement(
                    when,
                    key[0],
                    key[1],
                    update_id,
                    (_text(bid), _text(bid_qty), _text(ask), _text(ask_qty)),
                    book.ids[i],
                    row,
                )
            )

    def settle(key: Key, book: _Book, *, everything: bool = False) -> None:
        pending = book.pending
        newest = book.ids[-1] if book.ids else -1
        while pending and (everything or pending[0][1] <= newest or len(pending) > max_pending):
            decide(key, book, pending.popleft())
        # Keep the tickers a later comparison can still need: from the last one at or
        # below the oldest id that may yet be compared.
        floor = pending[0][1] if pending else book.decided
        keep = bisect.bisect_right(book.ids, floor) - 1
        if keep > 0:
            del book.ids[:keep]
            del book.rows[:keep]

    for item in iter_events(capture, other_frames=True, **options):
        event = item.event
        if isinstance(event, bytes):
            ticker = parse_ticker(event)
            if ticker is None:
                continue
            symbol, u, *row = ticker
            key = (item.venue, symbol)
            book = state(key)
            report.books.setdefault(key, book.stats)
            book.stats.tickers += 1
            if u <= book.decided:
                book.stats.late_tickers += 1
            if not book.ids or u >= book.ids[-1]:
                book.ids.append(u)
                book.rows.append(tuple(row))  # type: ignore[arg-type]
            else:  # out of order: keep the list sorted (the later one wins at equal ids)
                i = bisect.bisect_right(book.ids, u)
                book.ids.insert(i, u)
                book.rows.insert(i, tuple(row))  # type: ignore[arg-type]
            if book.pending:
                settle(key, book)
            continue
        sync = item.sync
        if sync is None or item.symbol is None or not sync.is_live:
            continue
        if sync.update_id != event.last_id:  # type: ignore[union-attr]
            continue
        key = (item.venue, item.symbol)
        book = state(key)
        report.books.setdefault(key, book.stats)
        book.stats.events += 1
        best_bid, best_ask = sync.book.best_bid(), sync.book.best_ask()  # type: ignore[union-attr]
        top = (
            None if best_bid is None else best_bid.price,
            None if best_bid is None else best_bid.qty,
            None if best_ask is None else best_ask.price,
            None if best_ask is None else best_ask.qty,
        )
        book.pending.append((item.time_ns, sync.update_id, top))  # type: ignore[arg-type]
        if (book.ids and book.ids[-1] >= sync.update_id) or len(book.pending) > max_pending:  # type: ignore[operator]
            settle(key, book)
    for key, book in books.items():
        settle(key, book, everything=True)
    return report
