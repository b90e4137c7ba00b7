"""``wexbook watch``: live books from real WEX endpoints (or any compatible ones), in a table.

    wexbook watch --spot btc_usdt eth_usdt --futures btc_usdt --seconds 60

URLs default to WEX's documented production endpoints; ``--spot-ws``,
``--futures-ws``, ``--spot-rest`` and ``--futures-rest`` point elsewhere (the
embedded simulator, a recorder...). The table shows, per book: state, best
bid/ask, spread, update id, gaps, resyncs, messages/s and seconds since the
last depth_update. On exit (``--seconds`` elapsed or Ctrl-C) a summary of
every counter is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from typing import Any

from rich.console import Console
from rich.live import Live

from feeds.apps.dashboard import RateMeter, book_rows, render
from feeds.manager import BookManager
from feeds.protocol import FUTURES_MARKET_URL, SPOT_PUBLIC_URL
from feeds.rest import FUTURES_URL, SPOT_URL, MarketClient


async def watch(
    manager: BookManager,
    spot: list[str],
    futures: list[str],
    seconds: float | None,
    console: Console,
    refresh: float = 0.5,
) -> None:
    """Keep the books of ``spot`` and ``futures`` symbols and show them until time is up."""
    if spot:
        await manager.add_many("spot", spot)
    if futures:
        await manager.add_many("futures", futures)
    loop = asyncio.get_running_loop()
    end = None if seconds is None else loop.time() + seconds
    meter = RateMeter()
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while end is None or loop.time() < end:
            live.update(render(book_rows(manager, loop.time(), meter)), refresh=True)
            await asyncio.sleep(refresh)
        live.update(render(book_rows(manager, loop.time(), meter)), refresh=True)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    market = MarketClient(args.spot_rest, args.futures_rest)
    manager = BookManager(
        spot_ws_url=args.spot_ws,
        futures_ws_url=args.futures_ws,
        market=market,
        chain_rule=args.chain_rule,
        futures_interval=args.futures_interval,
    )
    async with market, manager:
        with contextlib.suppress(asyncio.CancelledError):
            await watch(manager, args.spot or [], args.futures or [], args.seconds, console)
        return manager.stats()


def run(args: argparse.Namespace) -> int:
    """The ``wexbook watch`` command."""
    if not args.spot and not args.futures:
        raise SystemExit("wexbook watch: give --spot and/or --futures symbols")
    try:
        stats = asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 130
    print(json.dumps(stats, indent=2, default=str))
    return 0


HELP = "live books from WEX (or compatible) endpoints"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``wexbook watch``."""
    p.add_argument("--spot", nargs="*", metavar="SYMBOL", help="spot symbols, e.g. btc_usdt")
    p.add_argument("--futures", nargs="*", metavar="SYMBOL", help="futures symbols")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument("--spot-ws", default=SPOT_PUBLIC_URL)
    p.add_argument("--futures-ws", default=FUTURES_MARKET_URL)
    p.add_argument("--spot-rest", default=SPOT_URL)
    p.add_argument("--futures-rest", default=FUTURES_URL)
    p.add_argument("--chain-rule", default="pu", choices=["pu", "fu", "either", "both"])
    p.add_argument("--futures-interval", default="100ms",
                   choices=["100ms", "250ms", "500ms", "1000ms"])  # fmt: skip
