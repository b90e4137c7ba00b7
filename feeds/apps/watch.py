"""``wexbook watch``: live books from real WEX endpoints (or any compatible ones), in a table.

    wexbook watch --spot btc_usdt eth_usdt --futures btc_usdt --seconds 60
    wexbook watch --sim ws://127.0.0.1:8765 http://127.0.0.1:8080 --spot btc_usdt

URLs default to WEX's documented production endpoints; ``--sim WS_URL REST_URL``
points at a running ``wexbook sim`` (it prints that line), and ``--spot-ws``,
``--futures-ws``, ``--spot-rest`` and ``--futures-rest`` point anywhere else. The
table shows, per book: state, best bid/ask, spread, update id, gaps, resyncs,
messages/s, seconds since the last depth_update, and why a book is not LIVE
(the connection's or the snapshot's error, word for word). Each distinct log line
is printed once. On exit (``--seconds`` elapsed or Ctrl-C) the counters are
printed as JSON, with readable keys. ``--metrics-port`` serves Prometheus metrics
meanwhile, and every book state change is one log line (``--log-format json``:
JSON), see :mod:`feeds.metrics.cli`.

Exit codes: 0 every book went LIVE and was LIVE at the end; 1 a book never went
LIVE, was refused, or ended not LIVE (one line each on stderr says which and why);
2 bad usage; 130 after Ctrl-C when all went LIVE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from rich.console import Console
from rich.live import Live

from feeds.apps.args import (
    UsageError,
    add_books,
    add_engine,
    add_seconds,
    connection_options,
    http_url,
    run_async,
    ws_url,
)
from feeds.apps.console import StopOnCtrlC, after_live, log_to_stderr
from feeds.apps.dashboard import BookRow, RateMeter, book_rows, render
from feeds.manager import BookManager
from feeds.metrics import cli as metrics_cli
from feeds.protocol import FUTURES_MARKET_URL, SPOT_PUBLIC_URL
from feeds.rest import FUTURES_URL, SPOT_URL, MarketClient
from orderbook import Decision, SyncState


async def watch(
    manager: BookManager,
    spot: list[str],
    futures: list[str],
    seconds: float | None,
    console: Console,
    refresh: float = 0.5,
    stop: StopOnCtrlC | None = None,
) -> list[BookRow]:
    """Keep the books of ``spot`` and ``futures`` symbols and show them until time is up.

    Returns the last rows shown.
    """
    if spot:
        await manager.add_many("spot", spot)
    if futures:
        await manager.add_many("futures", futures)
    loop = asyncio.get_running_loop()
    end = None if seconds is None else loop.time() + seconds
    meter = RateMeter()
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while end is None or loop.time() < end:
            rows = book_rows(manager, loop.time(), meter)
            live.update(render(rows, "wexbook watch", console.width), refresh=True)
            wait = refresh if end is None else min(refresh, max(0.0, end - loop.time()))
            if stop is not None:
                if await stop.wait(wait):
                    break
            else:
                await asyncio.sleep(wait)
        rows = book_rows(manager, loop.time(), meter)
        live.update(render(rows, "wexbook watch", console.width), refresh=True)
    return rows


def report(manager: BookManager, rows: list[BookRow], repeats: int) -> dict[str, Any]:
    """The counters printed on exit, with keys for people."""
    why = {(r.venue, r.symbol): r.reason for r in rows}
    books = {}
    for book in manager.books.values():
        counts, own = book.sync.counts, book.counts
        books[f"{book.venue.value} {book.symbol}"] = {
            "state": book.sync.state.value,
            "went live": book.first_live is not None,
            "seconds to live": (
                None if book.first_live is None else round(book.first_live - book.added, 3)
            ),
            "update id": book.sync.update_id,
            "depth updates received": book.depth_events,
            "gaps": counts[Decision.GAP] + counts[Decision.OVERFLOW] + counts[Decision.CROSSED],
            "resyncs": max(0, book.sync.generation - 1),
            "stalls": own["stalls"],
            "snapshots requested": own["snapshot_requests"],
            "snapshots accepted": own[f"snapshot_{Decision.SNAPSHOT_ACCEPTED.value}"],
            "snapshots older than the stream": own[f"snapshot_{Decision.SNAPSHOT_TOO_OLD.value}"],
            "snapshots failed": own["snapshot_failures"],
            "last snapshot error": book.last_snapshot_error,
            "why not live": why.get((book.venue.value, book.symbol)),
        }
    connections = {
        venue.value: {
            "url": conn.url,
            "connects": conn.connects,
            "disconnects": conn.disconnects,
            "last error": conn.last_error,
        }
        for venue, conn in manager.connections.items()
    }
    return {"books": books, "connections": connections, "repeated log lines not shown": repeats}


def problems(manager: BookManager, rows: list[BookRow]) -> list[str]:
    """Books that never went LIVE, were refused or ended not LIVE, one sentence each."""
    why = {(r.venue, r.symbol): r.reason for r in rows}
    found = []
    for book in manager.books.values():
        name = f"{book.venue.value} {book.symbol}"
        reason = why.get((book.venue.value, book.symbol)) or book.sync.reason or "no reason given"
        if book.sync.state is SyncState.CLOSED:
            found.append(f"{name} was refused: {reason}")
        elif book.first_live is None:
            found.append(f"{name} never went live: {reason}")
        elif not book.sync.is_live:
            found.append(f"{name} ended not live ({book.sync.state.value}): {reason}")
    return found


async def _main(
    args: argparse.Namespace, console: Console
) -> tuple[dict[str, Any], list[str], bool]:
    spot, futures = args.spot or [], args.futures or []
    market = MarketClient(args.spot_rest if spot else None, args.futures_rest if futures else None)
    manager = BookManager(
        spot_ws_url=args.spot_ws,
        futures_ws_url=args.futures_ws,
        market=market,
        chain_rule=args.chain_rule,
        futures_interval=args.futures_interval,
        connection_options=connection_options(args),
    )
    formatter = metrics_cli.log_formatter(args)
    with StopOnCtrlC() as stop, log_to_stderr(formatter=formatter) as repeats:
        async with market, manager, metrics_cli.monitoring(args, manager, "wexbook watch"):
            rows = await watch(manager, spot, futures, args.seconds, console, stop=stop)
            found = problems(manager, rows)
            result = report(manager, rows, repeats.repeats)
    return result, found, stop.interrupted


def resolve_urls(args: argparse.Namespace) -> None:
    """Fill in the four URLs from ``--sim`` or the production defaults."""
    given = [
        flag
        for flag, value in (
            ("--spot-ws", args.spot_ws),
            ("--futures-ws", args.futures_ws),
            ("--spot-rest", args.spot_rest),
            ("--futures-rest", args.futures_rest),
        )
        if value is not None
    ]
    if args.sim:
        if given:
            raise UsageError(f"--sim gives every URL already: leave out {' and '.join(given)}")
        ws, rest = args.sim
        for check, value, what in ((ws_url, ws, "WS_URL"), (http_url, rest, "REST_URL")):
            try:
                check(value)
            except argparse.ArgumentTypeError as exc:
                raise UsageError(f"argument --sim {what}: {exc}") from None
        base = ws.rstrip("/").removesuffix("/public").removesuffix("/ws/market")
        args.spot_ws, args.futures_ws = f"{base}/public", f"{base}/ws/market"
        args.spot_rest = args.futures_rest = rest.rstrip("/")
        return
    args.spot_ws = args.spot_ws or SPOT_PUBLIC_URL
    args.futures_ws = args.futures_ws or FUTURES_MARKET_URL
    args.spot_rest = args.spot_rest or SPOT_URL
    args.futures_rest = args.futures_rest or FUTURES_URL


def run(args: argparse.Namespace) -> int:
    """The ``wexbook watch`` command."""
    if not args.spot and not args.futures:
        raise UsageError("no symbols: give --spot and/or --futures symbols, e.g. --spot btc_usdt")
    resolve_urls(args)
    console = Console()
    result, found, interrupted = run_async(_main(args, console), args)
    after_live(console)
    if not console.is_terminal:
        print()  # a blank line: the JSON starts on a line of its own
    print(json.dumps(result, indent=2), flush=True)
    for sentence in found:
        print(f"wexbook watch: {sentence}", file=sys.stderr)
    if found:
        return 1
    return 130 if interrupted else 0


HELP = "live books from WEX (or compatible) endpoints"
DESCRIPTION = """\
Keep live books from WEX's production endpoints (or a running `wexbook sim`:
--sim, or any compatible ones: the four URL options) and show them in a table
until --seconds pass or Ctrl-C, then print the counters as JSON.

exit codes: 0 every book went live and was live at the end; 1 a book never went
live, was refused or ended not live; 2 bad usage; 130 Ctrl-C (after the counters)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``wexbook watch``."""
    add_books(p, what="books to watch, e.g. btc_usdt")
    add_seconds(p)
    urls = p.add_argument_group("where to connect (default: WEX production)")
    urls.add_argument(
        "--sim",
        nargs=2,
        metavar=("WS_URL", "REST_URL"),
        help="a running `wexbook sim`: its websocket and REST URLs (it prints this option)",
    )
    urls.add_argument(
        "--spot-ws", type=ws_url, metavar="URL", help=f"spot websocket (default: {SPOT_PUBLIC_URL})"
    )
    urls.add_argument(
        "--futures-ws",
        type=ws_url,
        metavar="URL",
        help=f"futures websocket (default: {FUTURES_MARKET_URL})",
    )
    urls.add_argument(
        "--spot-rest", type=http_url, metavar="URL", help=f"spot REST (default: {SPOT_URL})"
    )
    urls.add_argument(
        "--futures-rest",
        type=http_url,
        metavar="URL",
        help=f"futures REST (default: {FUTURES_URL})",
    )
    p.add_argument(
        "--chain-rule",
        default="pu",
        choices=["pu", "fu", "either", "both"],
        help="futures continuity rule: pu == previous u (the default), fu == previous u + 1, "
        "either, or both",
    )
    p.add_argument(
        "--futures-interval",
        default="100ms",
        choices=["100ms", "250ms", "500ms", "1000ms"],
        help="futures depth_update push interval",
    )
    add_engine(p)
    metrics_cli.add_arguments(p)
