"""The live terminal table of ``wexbook demo`` and ``wexbook watch`` (rich).

:func:`book_rows` turns a :class:`~feeds.manager.BookManager`'s books into plain
rows (so they can be tested and printed without a terminal); :func:`render`
lays them out for the terminal's width.

Each row says why a book is not LIVE in words a user can act on: the connection's
error while its websocket is down ("no connection: ConnectionRefusedError ..."), the
last snapshot error while snapshots fail ("snapshot failed: ConnectError ..."), or
the book's own reason (a sequence gap, a refused subscription...).

Layout: every column when the terminal is wide enough; otherwise the least needed
columns go first (update id, spread, seconds quiet, messages/s, resyncs) and the
reasons move under the table, at most two lines each, so that at 80 columns
prices are never cut and the table's rows never wrap.

Prices print with the decimals of the symbol's tick (the most any of its prices had:
``30000.00`` beside ``30000.01``, not ``30000``); a book that is not LIVE shows its last
prices dimmed.

Per-book alerts (:class:`feeds.metrics.alerts.BookAlerts`: not live for long, a resync
storm, integrity mismatches) are listed under the table, one line per book, whatever
the width.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from feeds.manager import BookManager
from feeds.metrics.alerts import BookAlerts
from orderbook import Decision, SyncState


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
    reason: str | None  #: why the book is not LIVE (None when it is)
    alerts: tuple[str, ...] = ()  #: per-book alerts (not live for long, resync storm...)
    places: int | None = None  #: decimals of the symbol's prices (None: as they come)


class RateMeter:
    """What the table remembers between refreshes: message rates, snapshot failures."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window  #: seconds a rate is measured over
        self._start: dict[tuple[str, str], tuple[float, int]] = {}
        self._rate: dict[tuple[str, str], float] = {}
        #: per (counter, venue, symbol), the failure count when the book was last seen LIVE
        self._failures_when_live: dict[tuple[str, ...], int] = {}
        #: per-book alerts, which remember resync counts between refreshes
        self.alerts = BookAlerts()
        self._places: dict[tuple[str, str], int] = {}

    def places(self, key: tuple[str, str], *prices: Decimal | None) -> int:
        """The decimals of ``key``'s prices: the most any of its prices had so far, so that
        ``30000`` and ``30000.01`` print as ``30000.00`` and ``30000.01`` (the tick)."""
        places = self._places.get(key, 0)
        for price in prices:
            if price is not None:
                exponent = price.normalize().as_tuple().exponent
                if isinstance(exponent, int) and -exponent > places:
                    places = -exponent
        self._places[key] = places
        return places

    def rate(self, key: tuple[str, str], now: float, count: int) -> float:
        """Messages per second over the last ``window`` seconds (0 until one has passed)."""
        start = self._start.get(key)
        if start is None:
            self._start[key] = (now, count)
            return 0.0
        if now - start[0] >= self.window:
            self._rate[key] = (count - start[1]) / (now - start[0])
            self._start[key] = (now, count)
        return self._rate.get(key, 0.0)

    def failing_since_live(self, key: tuple[str, ...], live: bool, failures: int) -> bool:
        """True if ``failures`` (a failure counter) grew since the book was last seen LIVE."""
        if live:
            self._failures_when_live[key] = failures
            return False
        return failures > self._failures_when_live.get(key, 0)


def book_rows(manager: BookManager, now: float, meter: RateMeter) -> list[BookRow]:
    """The current rows, one per book, in the order the books were added."""
    rows = []
    for book in manager.books.values():
        conn = manager.connections.get(book.venue)
        key = (book.venue.value, book.symbol)
        with book.lock:
            sync = book.sync
            live = sync.book
            bid = live.best_bid() if live is not None else None
            ask = live.best_ask() if live is not None else None
            counts = sync.counts
            gaps = counts[Decision.GAP] + counts[Decision.OVERFLOW] + counts[Decision.CROSSED]
            failed = meter.failing_since_live(
                ("failed", *key), sync.is_live, book.counts["snapshot_failures"]
            )
            # The scheduler retries a failing snapshot request before the manager hears
            # of it: its latest error names the book it was for.
            sched = manager.schedulers.get(book.venue)
            attempt_error = None
            if sched is not None and sched.last_error:
                prefix = f"{(book.venue, book.symbol)}: "
                if sched.last_error.startswith(prefix):
                    attempt_error = sched.last_error[len(prefix) :]
            retrying = meter.failing_since_live(
                ("attempts", *key), sync.is_live, sched.stats["errors"] if sched else 0
            )
            if sync.is_live:
                reason = None
            elif sync.state is SyncState.CLOSED:
                reason = sync.reason
            elif conn is not None and not conn.connected.is_set():
                reason = f"no connection: {conn.last_error}" if conn.last_error else "connecting"
            elif book.fetching and retrying and attempt_error:
                reason = f"snapshot failing, retrying: {attempt_error}"
            elif failed and book.last_snapshot_error:
                reason = f"snapshot failed: {book.last_snapshot_error}"
            else:
                reason = sync.reason
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
                msgs_per_s=meter.rate(key, now, book.depth_events),
                quiet_s=(now - book.last_depth) if book.last_depth is not None else None,
                reason=reason,
                alerts=meter.alerts.check(book, now),
                places=meter.places(key, bid.price if bid else None, ask.price if ask else None),
            )
        rows.append(row)
    return rows


_STATE_STYLE = {"live": "green", "syncing": "yellow", "resyncing": "yellow", "stale": "red",
                "disconnected": "red", "closed": "dim"}  # fmt: skip

#: (header, justify, cell) for every column, in display order.
_COLUMNS = {
    "venue": ("venue", "left", lambda r: r.venue),
    "symbol": ("symbol", "left", lambda r: r.symbol),
    "state": ("state", "left", lambda r: r.state),
    "bid": ("best bid", "right", lambda r: _fmt(r.best_bid, r.places)),
    "ask": ("best ask", "right", lambda r: _fmt(r.best_ask, r.places)),
    "spread": ("spread", "right", lambda r: _fmt(r.spread, r.places)),
    "update_id": ("update id", "right", lambda r: "-" if r.update_id is None else str(r.update_id)),
    "gaps": ("gaps", "right", lambda r: str(r.gaps)),
    "resyncs": ("resyncs", "right", lambda r: str(r.resyncs)),
    "rate": ("msg/s", "right", lambda r: f"{r.msgs_per_s:.1f}"),
    "quiet": ("quiet s", "right", lambda r: "-" if r.quiet_s is None else f"{r.quiet_s:.1f}"),
}
#: Columns dropped, in this order, until the table fits the terminal.
_OPTIONAL = ("update_id", "spread", "quiet", "rate", "resyncs")


def _table(rows: list[BookRow], title: str, names: list[str], reasons: bool) -> Table:
    table = Table(
        title=title, box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, pad_edge=False
    )
    for name in names:
        header, justify, _ = _COLUMNS[name]
        table.add_column(header, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    if reasons:
        table.add_column("why not live", no_wrap=True)
    for r in rows:
        cells: list[str | Text] = [_COLUMNS[name][2](r) for name in names]
        style = _STATE_STYLE.get(r.state)
        if style:
            cells[names.index("state")] = Text(r.state, style=style)
        if r.state != "live":  # the last prices seen, not a live book: dimmed
            for name in ("bid", "ask", "spread"):
                if name in names:
                    cell = cells[names.index(name)]
                    cells[names.index(name)] = Text(str(cell), style="dim")
        if reasons:
            cells.append(r.reason or "")
        table.add_row(*cells)
    return table


def _width(console: Console, table: Table) -> int:
    return console.measure(table).maximum


def render(rows: list[BookRow], title: str = "wexbook", width: int | None = None) -> RenderableType:
    """The table of ``rows`` laid out for ``width`` columns (default: the terminal's)."""
    width = width or Console().width
    probe = Console(width=10_000)
    names = list(_COLUMNS)
    table = _table(rows, title, names, reasons=True)
    alerts = [_note(f"! {r.venue} {r.symbol}: {'; '.join(r.alerts)}", width, "bold red")
              for r in rows if r.alerts]  # fmt: skip
    if _width(probe, table) <= width:
        return Group(table, *alerts) if alerts else table
    table = _table(rows, title, names, reasons=False)
    for drop in _OPTIONAL:
        if _width(probe, table) <= width:
            break
        names.remove(drop)
        table = _table(rows, title, names, reasons=False)
    notes = [_note(f"{r.venue} {r.symbol}: {r.reason}", width) for r in rows if r.reason]
    notes += alerts
    return Group(table, *notes) if notes else table


def _note(text: str, width: int, style: str = "") -> Text:
    """A reason (or an alert) under the table: at most two lines."""
    room = 2 * width - 1
    text = text if len(text) <= room else text[: room - 1] + "…"
    return Text(text, style=style, overflow="fold")


def _fmt(value: Decimal | None, places: int | None = None) -> str:
    if value is None:
        return "-"
    if places is None:
        return format(value.normalize(), "f")
    return format(value, f".{places}f")
