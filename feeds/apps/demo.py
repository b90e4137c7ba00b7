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
time each gap took to heal. ``--no-faults`` switches every fault off, the timed
ones (stall, disconnect) too.

Exit codes: 0 every book went LIVE, was compared and matched; 1 a mismatch, a book
that never went LIVE, or no comparison at all (nothing was checked); 2 bad usage;
130 after Ctrl-C (the summary is printed first; 1 if it shows a mismatch).

``wexbook demo --offline`` replays generated streams through the engine
without sockets (:mod:`feeds.apps.offline`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live

from feeds.apps.args import (
    UsageError,
    add_books,
    add_engine,
    connection_options,
    int_at_least,
    positive_float,
    positive_int,
    run_async,
)
from feeds.apps.console import StopOnCtrlC, after_live, aligned, log_to_stderr, timing
from feeds.apps.dashboard import RateMeter, book_rows, render
from feeds.apps.offline import DEFAULT_COMPARE_EVERY, DEFAULT_FRAMES, run_offline
from feeds.apps.sim import fault_lines
from feeds.manager import BookEvent, BookManager
from feeds.metrics import cli as metrics_cli
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
    options: argparse.Namespace | None = None,
) -> dict[str, Any]:
    """Run the demo; returns the summary (also used by the tests).

    Ctrl-C (in the main thread) ends the run early: the summary is still taken,
    with ``interrupted`` true. ``options``: the command's ``--metrics-port``,
    ``--metrics-host`` and ``--log-format`` (:mod:`feeds.metrics.cli`).
    """
    console = console or Console()
    with StopOnCtrlC() as stop:
        print(
            f"wexbook demo: {len(spot) + len(futures)} books, {seconds:g} s, faults "
            f"{'on' if faults else 'off'}; Ctrl-C stops it and prints the summary",
            file=console.file,
            flush=True,
        )
        sim = Simulator(spot_symbols=spot, futures_symbols=futures, seed=seed, speed=speed)
        async with sim:
            if faults:
                arm_faults(sim, spot, futures)
            market = MarketClient(sim.spot_http_url, sim.futures_http_url)
            manager = BookManager(
                spot_ws_url=sim.spot_ws_url,
                futures_ws_url=sim.futures_ws_url,
                market=market,
                futures_interval=futures_interval,
                stale_intervals=20,
                connection_options=(
                    connection_options(options, backoff_base=0.2)
                    if options is not None
                    else {"backoff_base": 0.2}
                ),
            )
            referee = Referee(sim, manager)
            manager.on_event(referee)
            options = options or argparse.Namespace()
            monitored = metrics_cli.monitoring(options, manager, "wexbook demo")
            async with market, manager, monitored:
                await manager.add_many("spot", spot)
                await manager.add_many("futures", futures)
                script = None
                if faults:
                    script = asyncio.create_task(fault_script(sim, manager, spot, futures, seconds))
                loop = asyncio.get_running_loop()
                end = loop.time() + seconds
                meter = RateMeter()
                title = f"wexbook demo: simulator on loopback, faults {'on' if faults else 'off'}"
                try:
                    with Live(console=console, auto_refresh=False) as live:
                        while loop.time() < end and not stop.is_set():
                            rows = book_rows(manager, loop.time(), meter)
                            live.update(render(rows, title, console.width), refresh=True)
                            await stop.wait(min(0.25, max(0.0, end - loop.time())))
                        rows = book_rows(manager, loop.time(), meter)
                        live.update(render(rows, title, console.width), refresh=True)
                finally:
                    if script is not None:
                        script.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await script
                summary = summarize(sim, manager, referee)
    summary["interrupted"] = stop.interrupted
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
        books[f"{venue.value} {symbol}"] = {
            "state": book.sync.state.value,
            "went_live": book.first_live is not None,
            "reason": book.sync.reason,
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
        "subscribe_to_live_s": to_live,
        "heal_s": list(referee.heal_times),
    }


def problems(summary: dict[str, Any]) -> list[str]:
    """What makes this run a failure (exit code 1), one sentence each; empty if none."""
    found = []
    if summary["mismatches"]:
        found.append(
            f"{summary['mismatches']} of {summary['comparisons']} ground-truth comparisons "
            "found a book that differs from the simulator's"
        )
    for name, b in summary["books"].items():
        if not b["went_live"]:
            found.append(f"{name} never went live ({b['reason'] or b['state']})")
    if not summary["comparisons"]:
        found.append("no book was compared with the ground truth, so nothing was checked")
    return found


def print_summary(summary: dict[str, Any], console: Console) -> None:
    """The summary for people: one aligned line per book, then the totals."""
    header = ["book", "state", "events", "gaps", "resyncs", "compared", "mismatches"]
    rows = [
        [name, b["state"], b["events"], b["gaps"], b["resyncs"], b["comparisons"],
         b["mismatches"]]
        for name, b in summary["books"].items()
    ]  # fmt: skip
    out = console.file
    print(file=out)
    for line in aligned(header, rows, right=range(2, 7)):
        print(line, file=out)
    stalls = [f"{name} {b['stalls']}" for name, b in summary["books"].items() if b["stalls"]]
    if stalls:
        print(f"\nstreams stalled and resynced: {', '.join(stalls)}", file=out)
    print("\nfaults injected by the simulator:", file=out)
    for line in fault_lines(summary["faults_injected"], indent="  ") or ["  none"]:
        print(line, file=out)
    print(file=out)
    print(f"time from subscribe to LIVE:  {timing(summary['subscribe_to_live_s'], 'books')}",
          file=out)  # fmt: skip
    print(f"time to heal a gap:           {timing(summary['heal_s'], 'heals')}", file=out)
    print(
        f"ground-truth comparisons: {summary['comparisons']}, mismatches: {summary['mismatches']}",
        file=out,
        flush=True,
    )


def check(args: argparse.Namespace) -> None:
    """Options that only mean something together: refused with a usage error."""
    if args.offline:
        live_only = (("--seconds", args.seconds), ("--speed", args.speed),
                     ("--metrics-port", args.metrics_port is not None))  # fmt: skip
        wrong = [f for f, v in live_only if v]
        if wrong:
            raise UsageError(
                f"{' and '.join(wrong)} {_verb(wrong)} to the live demo, not --offline"
            )
    else:
        wrong = [
            f for f, v in (("--frames", args.frames), ("--compare-every", args.compare_every)) if v
        ]
        if wrong:
            raise UsageError(f"{' and '.join(wrong)} {_verb(wrong)} to --offline only")
    if not args.spot and not args.futures:
        raise UsageError("no symbols: give --spot and/or --futures symbols (or leave both out)")


def _verb(options: list[str]) -> str:
    return "applies" if len(options) == 1 else "apply"


def run(args: argparse.Namespace) -> int:
    """The ``wexbook demo`` command."""
    check(args)
    if args.offline:
        return run_offline(args)
    console = Console()
    with log_to_stderr(formatter=metrics_cli.log_formatter(args)):
        summary = run_async(
            run_demo(
                args.seconds or DEFAULT_SECONDS,
                args.spot,
                args.futures,
                seed=args.seed,
                speed=args.speed or 1.0,
                faults=not args.no_faults,
                console=console,
                options=args,
            ),
            args,
        )
    after_live(console)
    print_summary(summary, console)
    found = problems(summary)
    if summary["interrupted"] and not summary["mismatches"]:
        return 130
    for sentence in found:
        print(f"wexbook demo: {sentence}", file=sys.stderr)
    return 1 if found else 0


HELP = "live books against the embedded simulator, with faults"
DESCRIPTION = """\
Start the embedded WEX simulator on loopback with faults switched on (dropped,
duplicated, reordered and malformed frames, unknown topics, a lagging snapshot,
a 429, a stalled futures stream, a forced disconnect), keep spot and futures
books over real sockets, show them live, and compare every LIVE book exactly
with the simulator's ground truth. After --seconds, or Ctrl-C, print a summary.

exit codes: 0 all books went live and every comparison matched; 1 a mismatch, a
book that never went live, or nothing compared; 2 bad usage; 130 Ctrl-C (after
the summary).

--offline replays generated streams through the engine instead, without sockets."""
DEFAULT_SECONDS = 20.0
DEFAULT_SPOT = ["btc_usdt", "eth_usdt", "sol_usdt"]
DEFAULT_FUTURES = ["btc_usdt", "eth_usdt"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``wexbook demo``."""
    add_books(p, spot=DEFAULT_SPOT, futures=DEFAULT_FUTURES)
    p.add_argument(
        "--seed", type=int, default=7, help="seed of the order flow and faults: same seed, same run"
    )
    p.add_argument(
        "--no-faults",
        action="store_true",
        help="a clean simulator: no faults at all, the timed stall and disconnect neither",
    )
    live = p.add_argument_group("the live demo (the default)")
    live.add_argument(
        "--seconds",
        type=positive_float,
        metavar="S",
        help=f"how long to run, in seconds > 0 (default: {DEFAULT_SECONDS:g})",
    )
    live.add_argument(
        "--speed",
        type=positive_float,
        metavar="X",
        help="simulator speed factor > 0; 1 is 10 market steps a second (default: 1)",
    )
    offline = p.add_argument_group("the offline demo")
    offline.add_argument(
        "--offline",
        action="store_true",
        help="replay generated streams through the engine, without sockets",
    )
    offline.add_argument(
        "--frames",
        type=positive_int,
        metavar="N",
        help=f"frames per stream, >= 1 (default: {DEFAULT_FRAMES})",
    )
    offline.add_argument(
        "--compare-every",
        type=int_at_least(1),
        metavar="N",
        help=f"compare with the truth every N frames, >= 1 (default: {DEFAULT_COMPARE_EVERY})",
    )
    add_engine(p)
    metrics_cli.add_arguments(p)
