"""``wexbook board NAME``: the books of a board served by another process, in the live
table of ``wexbook watch``.

It reads the shared-memory board ``NAME`` that ``wexbook serve --board NAME`` publishes,
the way a strategy process does (:class:`feeds.board.BoardReader`), so an operator sees
what the strategies see: each book's state and why it is not live, best bid and ask,
update id, how many publishes per second, and how long since the last one. When the
engine dies or hangs (its heartbeat older than ``--stale-after``) every book shows
``disconnected``; when it stops, ``closed``; a restarted engine is picked up by itself.

The ``gaps`` column counts the times the table saw a book leave LIVE for a gap, a crossed
book or an overflow (the board carries states, not the engine's counters); ``resyncs``
is the book's generation minus one.

Exit codes: 0 shown until ``--seconds`` (or ``--once``) with the engine running; 1 no
such board, or the engine was down or stopped at the end; 2 bad usage; 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal

from rich.console import Console
from rich.live import Live

from feeds.apps.args import Problem, add_seconds, positive_float
from feeds.apps.console import after_live
from feeds.apps.dashboard import BookRow, RateMeter, render
from feeds.apps.serve import board_name
from feeds.board import BoardError, BoardReader, BoardStopped, EngineDown, NoConsistentCopy
from orderbook import Decision

HELP = "show the books of a shared-memory board (wexbook serve --board NAME) live"
DESCRIPTION = __doc__.split("\n\n", 1)[1].rsplit("\n\nExit codes", 1)[0]

_GAPS = (Decision.GAP, Decision.CROSSED, Decision.OVERFLOW)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``wexbook board``."""
    p.add_argument("name", type=board_name, metavar="NAME", help="the board to show")
    add_seconds(p)
    p.add_argument(
        "--interval", type=positive_float, default=0.25, metavar="S", help="seconds per refresh"
    )
    p.add_argument(
        "--stale-after",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="heartbeat age beyond which the engine counts as down",
    )
    p.add_argument("--once", action="store_true", help="print the table once and exit")


class BoardTable:
    """What the table remembers between refreshes (rates, gaps seen, last states)."""

    def __init__(self, reader: BoardReader) -> None:
        self.reader = reader
        self.meter = RateMeter()
        self.gaps: dict[tuple[str, str], int] = {}
        self._live: dict[tuple[str, str], bool] = {}
        self.engine_ok = True

    def rows(self) -> list[BookRow]:
        """One row per book on the board, in slot order."""
        reader = self.reader
        now_s = time.monotonic()
        now_ns = time.monotonic_ns()
        rows = []
        self.engine_ok = True
        try:
            books = reader.books()
        except BoardError:
            books = []
        for venue, symbol in books:
            key = (venue, symbol)
            try:
                copy = reader.read(venue, symbol)
            except (EngineDown, BoardStopped, NoConsistentCopy) as exc:
                self.engine_ok = not isinstance(exc, EngineDown | BoardStopped)
                rows.append(_row(venue, symbol, str(exc.state), exc.reason))
                continue
            live = copy.state is not None and copy.state.value == "live"
            if self._live.get(key) and not live and copy.cause in _GAPS:
                self.gaps[key] = self.gaps.get(key, 0) + 1
            self._live[key] = live
            tokens = copy.tokens()
            bid = Decimal(tokens[0]) if copy.bids else None
            ask = Decimal(tokens[2 * copy.bids]) if copy.asks else None
            rows.append(
                BookRow(
                    venue=venue,
                    symbol=symbol,
                    state=copy.state.value if copy.state is not None else "unfit",
                    best_bid=bid,
                    best_ask=ask,
                    spread=(ask - bid) if bid is not None and ask is not None else None,
                    update_id=copy.update_id,
                    gaps=self.gaps.get(key, 0),
                    resyncs=max(0, copy.generation - 1),
                    msgs_per_s=self.meter.rate(key, now_s, copy.sequence // 2),
                    quiet_s=max(0.0, (now_ns - copy.publish_ns) / 1e9),
                    reason=None if live else copy.reason,
                )
            )
        return rows


def _row(venue: str, symbol: str, state: str, reason: str | None) -> BookRow:
    return BookRow(venue, symbol, state, None, None, None, None, 0, 0, 0.0, None, reason)


def run(args: argparse.Namespace) -> int:
    """The ``wexbook board`` command."""
    try:
        reader = BoardReader(args.name, stale_after=args.stale_after)
    except BoardError as exc:
        raise Problem(str(exc)) from None
    table = BoardTable(reader)
    console = Console()
    title = f"wexbook board {args.name}"
    if args.once:
        console.print(render(table.rows(), title, console.width))
        return 0 if table.engine_ok else 1
    end = None if args.seconds is None else time.monotonic() + args.seconds
    try:
        with Live(console=console, auto_refresh=False) as live:
            while True:
                live.update(render(table.rows(), title, console.width), refresh=True)
                if end is not None and time.monotonic() >= end:
                    break
                time.sleep(args.interval)
    except KeyboardInterrupt:
        after_live(console)
        return 130
    after_live(console)
    if not table.engine_ok:
        print(f"wexbook board: the engine of board {args.name} is down or stopped", file=sys.stderr)
        return 1
    return 0
