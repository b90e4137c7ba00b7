"""``wexbook demo``: the embedded simulator, faults switched on, and live books in a table.

The demo starts :class:`~feeds.sim.Simulator` on loopback with a few faults
(dropped, duplicated and reordered frames, a lagging snapshot, a 429, a
stalled stream, a forced disconnect), keeps spot and futures books for its
symbols with :class:`~feeds.manager.BookManager` over real sockets, and shows
them live. Whenever a book applies an event while LIVE and the simulator is
at that same update id, its top levels are compared exactly with the
simulator's ground truth. After ``--seconds`` (or Ctrl-C) it prints a
summary, with the number of comparisons and mismatches (which must be 0;
the exit code is 1 otherwise), the time each book took to go LIVE and the
time each gap took to heal.

``wexbook demo --offline`` replays generated streams through the engine
without sockets (:mod:`feeds.apps.offline`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live

from feeds.apps.dashboard import RateMeter, book_rows, render
from feeds.manager import BookEvent, BookManager
from feeds.rest import MarketClient
from feeds.sim import Simulator
from feeds.topics import Push
from orderbook import Decision, Venue

COMPARE_LEVELS = 50


@dataclass(slots=True)
class Referee:
    """Compares live books with the simulator's ground truth, and times gaps and heals."""

    sim: Simulator
    manager: BookManager
    every: int = 3
    comparisons: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    mismatches: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    applied: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    gap_started: dict[tuple[str, str], float] = field(default_factory=dict)
    heal_times: list[float] = field(default_factory=list)

    def __call__(self, item: BookEvent | Push) -> None:
        if not isinstance(item, BookEvent):
            return
        key = (item.venue.value, item.symbol)
        now = asyncio.get_running_loop().time()
        if item.decision is Decision.APPLIED:
            self.applied[key] += 1
            if self.applied[key] % self.every == 0:
                self.compare(item.venue, item.symbol)
        elif item.decision in (
            Decision.GAP,
            Decision.OVERFLOW,
            Decision.CROSSED,
            Decision.RESYNC_REQUESTED,
            Decision.MARKED_STALE,
        ):
            self.gap_started.setdefault(key, now)
        elif item.decision is Decision.SNAPSHOT_ACCEPTED and key in self.gap_started:
            self.heal_times.append(now - self.gap_started.pop(key))

    def compare(self, venue: Venue, symbol: str) -> None:
        """Compare now if the book and the simulator stand at the same update id."""
        book = self.manager.book(venue, symbol)
        sync = book.sync
        truth_market = self.sim.markets[venue, symbol]
        if not sync.is_live or sync.update_id != truth_market.last_id:
            return
        truth = truth_market.truth()
        bids, asks = truth.top(COMPARE_LEVELS)
        with book.lock:
            got_bids, got_asks = sync.book.depth(COMPARE_LEVELS)  # type: ignore[union-attr]
        key = (venue.value, symbol)
        self.comparisons[key] += 1
        if got_bids != bids or got_asks != asks:
            self.mismatches[key] += 1


def arm_faults(sim: Simulator, spot: list[str], futures: list[str]) -> None:
    """The demo's standing faults: some on every book, a different mix per symbol."""
    for n, symbol in enumerate(spot):
        sim.faults.set(
            "spot",
            symbol,
            drop=0.004 * (n + 1),
            duplicate=0.005,
            reorder=0.004,
            malformed=0.002,
            snapshot_lag=30 if n == 0 else 0,
        )
    for n, symbol in enumerate(futures):
        sim.faults.set(
            "futures",
            symbol,
            drop=0.003,
            duplicate=0.004,
            reorder=0.005,
            unknown_topic=0.003,
            snapshot_429=1 if n == 0 else 0,
        )


async def fault_script(
    sim: Simulator, manager: BookManager, spot: list[str], futures: list[str], seconds: float
) -> None:
    """Timed faults: a stalled futures stream, then a forced disconnect."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(seconds * 0.3)
        if futures:
            sim.faults.set("futures", futures[0], stall=True)
            await asyncio.sleep(min(4.0, seconds * 0.2))
            sim.faults.set("futures", futures[0], stall=False)
        await asyncio.sleep(seconds * 0.15)
        if spot:
            sim.faults.set("spot", spot[-1], disconnect_after=1)
            await asyncio.sleep(0.3)
            sim.faults.set("spot", spot[-1], disconnect_after=None)


async def run_demo(
    seconds: float,
    spot: list[str],
    futures: list[str],
    seed: int = 7,
    speed: float = 1.0,
    faults: bool = True,
    console: Console | None = None,
    futures_interval: str = "100ms",
) -> dict[str, Any]:
    """Run the demo; returns the summary (also used by the tests)."""
    console = console or Console()
    async with Simulator(spot_symbols=spot, futures_symbols=futures, seed=seed, speed=speed) as sim:
        if faults:
            arm_faults(sim, spot, futures)
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(
            spot_ws_url=sim.spot_ws_url,
            futures_ws_url=sim.futures_ws_url,
            market=market,
            futures_interval=futures_interval,
            stale_intervals=20,
            connection_options={"backoff_base": 0.2},
        )
        referee = Referee(sim, manager)
        manager.on_event(referee)
        async with market, manager:
            await manager.add_many("spot", spot)
            await manager.add_many("futures", futures)
            script = asyncio.create_task(fault_script(sim, manager, spot, futures, seconds))
            loop = asyncio.get_running_loop()
            end = loop.time() + seconds
            meter = RateMeter()
            title = f"wexbook demo: simulator on loopback, faults {'on' if faults else 'off'}"
            try:
                with Live(console=console, auto_refresh=False) as live:
                    while loop.time() < end:
                        rows = book_rows(manager, loop.time(), meter)
                        live.update(render(rows, title), refresh=True)
                        await asyncio.sleep(0.25)
            finally:
                script.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await script
            summary = summarize(sim, manager, referee)
    return summary


def summarize(sim: Simulator, manager: BookManager, referee: Referee) -> dict[str, Any]:
    """The numbers printed at the end."""
    books = {}
    to_live = []
    for (venue, symbol), book in manager.books.items():
        key = (venue.value, symbol)
        counts = book.sync.counts
        if book.first_live is not None:
            to_live.append(book.first_live - book.added)
        books[f"{venue.value}:{symbol}"] = {
            "state": book.sync.state.value,
            "update_id": book.sync.update_id,
            "events": book.depth_events,
            "gaps": counts[Decision.GAP] + counts[Decision.OVERFLOW],
            "resyncs": max(0, book.sync.generation - 1),
            "snapshots_too_old": counts[Decision.SNAPSHOT_TOO_OLD],
            "stalls": book.counts["stalls"],
            "comparisons": referee.comparisons[key],
            "mismatches": referee.mismatches[key],
        }
    return {
        "books": books,
        "comparisons": sum(referee.comparisons.values()),
        "mismatches": sum(referee.mismatches.values()),
        "faults_injected": sim.stats()["faults"],
        "manager": dict(manager.counts),
        "subscribe_to_live_s": _stats(to_live),
        "heal_s": _stats(referee.heal_times),
    }


def _stats(values: list[float]) -> dict[str, float | int] | None:
    if not values:
        return None
    return {
        "n": len(values),
        "median": round(statistics.median(values), 4),
        "max": round(max(values), 4),
    }


def print_summary(summary: dict[str, Any], console: Console) -> None:
    console.print()
    for name, b in summary["books"].items():
        console.print(
            f"{name:18} {b['state']:9} events {b['events']:6}  gaps {b['gaps']:3}  "
            f"resyncs {b['resyncs']:3}  stalls {b['stalls']}  compared {b['comparisons']:5}  "
            f"mismatches {b['mismatches']}"
        )
    faults = ", ".join(f"{k}={v}" for k, v in summary["faults_injected"].items()) or "none"
    console.print(f"\nfaults injected by the simulator: {faults}")
    console.print(f"time from subscribe to LIVE (s): {summary['subscribe_to_live_s']}")
    console.print(f"time to heal a gap (s): {summary['heal_s']}")
    console.print(
        f"ground-truth comparisons: {summary['comparisons']}, mismatches: {summary['mismatches']}"
    )


def run(args: argparse.Namespace) -> int:
    """The ``wexbook demo`` command."""
    if args.offline:
        from .offline import run_offline

        return run_offline(args)
    console = Console()
    try:
        summary = asyncio.run(
            run_demo(
                args.seconds,
                args.spot,
                args.futures,
                seed=args.seed,
                speed=args.speed,
                faults=not args.no_faults,
                console=console,
            )
        )
    except KeyboardInterrupt:
        return 130
    print_summary(summary, console)
    return 1 if summary["mismatches"] else 0


HELP = "live books against the embedded simulator, with faults"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``wexbook demo``."""
    p.add_argument("--seconds", type=float, default=20.0, help="how long to run (default 20)")
    p.add_argument("--spot", nargs="*", default=["btc_usdt", "eth_usdt", "sol_usdt"])
    p.add_argument("--futures", nargs="*", default=["btc_usdt", "eth_usdt"])
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--speed", type=float, default=1.0, help="simulator speed factor")
    p.add_argument("--no-faults", action="store_true", help="a clean simulator")
    p.add_argument("--offline", action="store_true", help="generated streams, no sockets")
    p.add_argument("--frames", type=int, default=5000, help="--offline: frames per stream")
    p.add_argument(
        "--symbols",
        nargs="+",
        default=["btc_usdt", "eth_usdt"],
        help="--offline: symbols per venue",
    )
    p.add_argument("--compare-every", type=int, default=5, help="--offline: compare every n frames")
