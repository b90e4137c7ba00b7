"""The shared-memory board: publish-to-observe latency, and the engine's CPU with it on/off.

    python -m bench.board                       # 3,200 frames/s, 1/4/16 readers, 2 reps
    python -m bench.board --quick               # one short repetition
    python -m bench.board --rate 3200 --symbols 4 --seconds 5 --reps 3 --readers 1 4 16

The simulator (``wexbook sim``, :mod:`bench.simproc`) runs in its own process serving
``--symbols`` spot and as many futures symbols at ``--rate`` frames/s in all. Each engine
runs in its own process (``--child engine``): a :class:`~feeds.manager.BookManager`
keeping every book, with or without a :class:`~feeds.board.BoardWriter` (top 20 levels);
once every book is LIVE and ``--warmup`` seconds passed, it measures its own process CPU
over ``--seconds`` (:func:`bench.window.measure`).

Variants, alternated (off, on, on+R readers...) ``--reps`` times:

- ``off``: no board; ``on``: the board, nobody reading;
- ``on+R``: the board and R reader processes (``--child reader``), spread over the books
  round robin. Each reader blocks in :meth:`~feeds.board.BoardReader.wait` (a futex wait)
  for its book's next publish, then takes a consistent copy (:meth:`~feeds.board.
  BoardReader.read`) and builds the :class:`~orderbook.BookView` of the top 20
  (:meth:`~feeds.board.BoardReader.view_from`). Latencies are ``CLOCK_MONOTONIC`` from
  the writer's publish stamp (taken just before its seqlock write) to the reader holding
  the consistent copy ("copy"), and to it holding the BookView ("view").

The figures: engine CPU seconds per second per 1,000 frames/s, the ratio of each board
variant to ``off`` (medians over repetitions), and latency percentiles (p50, p99, p99.9)
over every sample of every repetition. Goals (issue 23): p50 <= 5 us and p99 <= 20 us
with 4 readers; CPU ratio <= 1.10 at 3,200 frames/s. On this machine the readers share
its cores with the engine and the simulator, which the figures include.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.simproc import start_simulator
from bench.window import measure

LEVELS = 20


def speed_for(rate: float, symbols: int) -> float:
    """The simulator ``--speed`` giving ``rate`` frames/s over ``symbols`` per venue."""
    return rate / (2 * symbols * 10)


# -- children ---------------------------------------------------------------------------


async def engine(config: dict[str, Any]) -> dict[str, Any]:
    """A manager (and a board, and readers) on the simulator; the CPU window."""
    from feeds.board import BoardWriter
    from feeds.manager import BookManager
    from feeds.rest import MarketClient

    urls, names = config["urls"], config["names"]
    market = MarketClient(urls["spot REST"], urls["futures REST"])
    manager = BookManager(
        spot_ws_url=urls["spot websocket"],
        futures_ws_url=urls["futures websocket"],
        market=market,
        max_concurrent_snapshots=8,
    )
    board = config["board"]
    readers: list[subprocess.Popen[str]] = []
    async with market, manager:
        writer = BoardWriter(board, levels=LEVELS).attach(manager) if board else None
        try:
            await manager.add_many("spot", names)
            await manager.add_many("futures", names)
            books = list(manager.books.values())
            start = time.monotonic()
            while not all(b.sync.is_live for b in books):
                await asyncio.sleep(0.01)
                if time.monotonic() - start > 30:
                    raise RuntimeError("books not LIVE after 30 s")
            keys = [(b.venue.value, b.symbol) for b in books]
            life = config["warmup"] + config["seconds"]
            if board:
                readers = start_readers(board, keys, config["readers"], life, config["spin"])
            await asyncio.sleep(config["warmup"])
            window = await measure(lambda: sum(b.depth_events for b in books), config["seconds"])
            live = sum(b.sync.is_live for b in books)
            published = writer.published if writer is not None else 0
            patched = writer.stats()["patched"] if writer is not None else 0
        finally:
            samples, errors = await asyncio.to_thread(collect, readers)
            if writer is not None:
                writer.close()
    return {
        **window.as_dict(),
        "live": live,
        "books": len(books),
        "published": published,
        "patched": patched,
        "samples": samples,
        "errors": errors[:5],
    }


def reader(board: str, venue: str, symbol: str, seconds: float, spin: float) -> dict[str, Any]:
    """Wait for every publish of one book (``spin``: poll its slot that many seconds before
    the futex wait, :meth:`~feeds.board.BoardReader.wait`); the latencies, in ns."""
    from feeds.board import BoardReader
    from orderbook import BookNotLive

    board_reader = BoardReader(board)
    now = time.monotonic_ns
    copies: list[int] = []
    views: list[int] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    board_reader.read(venue, symbol)
    while time.monotonic() < deadline:
        try:
            if not board_reader.wait(venue, symbol, 0.2, spin=spin):
                continue
            copy = board_reader.read(venue, symbol)
            held = now()
            board_reader.view_from(copy, LEVELS)
            viewed = now()
        except BookNotLive as exc:
            if len(errors) < 3:
                errors.append(str(exc))
            continue
        copies.append(held - copy.publish_ns)
        views.append(viewed - copy.publish_ns)
    return {"copy": copies, "view": views, "errors": errors}


def start_readers(
    board: str, keys: list[tuple[str, str]], count: int, life: float, spin: float
) -> list[subprocess.Popen[str]]:
    """``count`` reader processes spread over ``keys`` round robin."""
    return [
        subprocess.Popen(
            [sys.executable, "-m", "bench.board", "--child", "reader", json.dumps(args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in ([board, *keys[i % len(keys)], life, spin] for i in range(count))
    ]


def collect(readers: list[subprocess.Popen[str]]) -> tuple[dict[str, list[int]], list[str]]:
    """Every reader's samples and errors (waits for them to exit)."""
    samples: dict[str, list[int]] = {"copy": [], "view": []}
    errors: list[str] = []
    for proc in readers:
        out, err = proc.communicate(None, 60)
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        if not lines:
            tail = (err.strip().splitlines() or ["no output"])[-1]
            errors.append(f"reader exited {proc.returncode} without a result: {tail}")
            continue
        got = json.loads(lines[-1].removeprefix("RESULT "))
        samples["copy"] += got["copy"]
        samples["view"] += got["view"]
        errors += got["errors"]
    return samples, errors


def isolated(config: dict[str, Any]) -> dict[str, Any]:
    """The board alone: a writer publishing real books' updates at ``rate`` per second
    (no websocket, no simulator), readers in other processes; the latencies.

    Each of ``symbols`` spot books holds 200 levels a side; every update changes three
    levels a side near the top (as the simulator's do), is applied by a real
    :class:`~orderbook.BookSync` and published through the writer's observer hook.
    """
    import random

    from feeds.board import BoardWriter
    from feeds.manager import ManagedBook
    from orderbook import BookSync, Decision, DepthSnapshot, DepthUpdate, SpotSequencer, Venue

    rng = random.Random(23)
    writer = BoardWriter(config["board"], levels=LEVELS).open()
    books = []
    for i in range(config["symbols"]):
        symbol = f"s{i}_usdt"
        sync = BookSync(symbol, SpotSequencer())
        bids = [[f"{1000 - k * 0.5:.1f}", f"{rng.randint(1, 99)}.5"] for k in range(200)]
        asks = [[f"{1000.5 + k * 0.5:.1f}", f"{rng.randint(1, 99)}.5"] for k in range(200)]
        sync.on_snapshot(DepthSnapshot(symbol, 1, bids, asks))
        book = ManagedBook(Venue.SPOT, symbol, sync, f"depth_update@{symbol}")
        writer.on_book(book)
        books.append(book)
    keys = [("spot", b.symbol) for b in books]
    readers = start_readers(
        config["board"], keys, config["readers"], config["warmup"] + config["seconds"],
        config["spin"],
    )  # fmt: skip
    interval = 1.0 / config["rate"]
    end = time.monotonic() + config["warmup"] + config["seconds"] + 0.5
    due = time.monotonic()
    ids = dict.fromkeys(keys, 1)
    n = 0
    try:
        while time.monotonic() < end:
            book = books[n % len(books)]
            key = ("spot", book.symbol)
            ids[key] += 1
            changes = [
                [[f"{1000 - rng.randint(0, 20) * 0.5:.1f}", f"{rng.randint(0, 99)}.25"]
                 for _ in range(3)],
                [[f"{1000.5 + rng.randint(0, 20) * 0.5:.1f}", f"{rng.randint(0, 99)}.25"]
                 for _ in range(3)],
            ]  # fmt: skip
            update = DepthUpdate(book.symbol, ids[key], ids[key], None, *changes)
            decision = book.sync.on_update(update)
            writer.on_depth(book, decision, update)
            if decision is not Decision.APPLIED:
                raise RuntimeError(f"update not applied: {decision}")
            n += 1
            due += interval
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            writer.beat()
    finally:
        samples, errors = collect(readers)
        writer.close()
    return {"published": n, "samples": samples, "errors": errors[:5]}


# -- the parent -----------------------------------------------------------------------------


def run_child(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """One ``engine`` or ``isolated`` child; its result or ``{"error": ...}``."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.board", "--child", kind, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=config["seconds"] + config["warmup"] + 120,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT "))
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {done.returncode}: {tail}"}


def percentile(values: list[int], q: float) -> float:
    """The ``q``-quantile of ``values`` (nearest rank), in microseconds."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))
    return ordered[index] / 1000


def main(argv: list[str] | None = None) -> int:
    """The benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m bench.board")
    parser.add_argument("--rate", type=float, default=3200.0, help="frames/s in all")
    parser.add_argument("--symbols", type=int, default=4, help="symbols per venue")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=1.5, help="seconds before it")
    parser.add_argument("--reps", type=int, default=2, help="alternated repetitions")
    parser.add_argument("--readers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--quick", action="store_true", help="one repetition of 3 s windows")
    parser.add_argument(
        "--spin", type=float, default=0.0, metavar="SECONDS",
        help="readers poll their slot this long before the futex wait (default 0: none)",
    )  # fmt: skip
    parser.add_argument(
        "--isolated", action="store_true",
        help="the board alone: a writer of real books' updates, no websocket or simulator "
        "(latencies only)",
    )  # fmt: skip
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, text = args.child
        if kind == "reader":
            result = reader(*json.loads(text))
        elif kind == "isolated":
            result = isolated(json.loads(text))
        else:
            result = asyncio.run(engine(json.loads(text)))
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    if args.quick:
        args.reps, args.seconds, args.warmup = 1, 3.0, 1.0
    speed = speed_for(args.rate, args.symbols)
    names = [f"s{i}_usdt" for i in range(args.symbols)]
    if args.isolated:
        variants = [f"on+{n}" for n in args.readers]
        proc = None
    else:
        variants = ["off", "on", *[f"on+{n}" for n in args.readers]]
        life = (args.seconds + args.warmup + 20) * args.reps * len(variants) + 60
        proc, urls = start_simulator(speed, names, life)
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    try:
        for rep in range(args.reps):
            for variant in variants:
                readers = int(variant.split("+")[1]) if "+" in variant else 0
                config = {
                    "seconds": args.seconds,
                    "warmup": args.warmup,
                    "board": None if variant == "off" else f"bench{os.getpid()}",
                    "readers": readers,
                    "spin": args.spin,
                }
                if args.isolated:
                    config.update(rate=args.rate, symbols=2 * args.symbols)
                    result = run_child("isolated", config)
                    note = result.get("error") or f"{result['published']:,} publishes"
                else:
                    config.update(urls=urls, names=names)
                    result = run_child("engine", config)
                    note = result.get("error") or (
                        f"{result['frames'] / result['wall']:,.0f} frames/s, "
                        f"cpu {result['cpu'] / result['wall']:.3f} s/s"
                        + (
                            f", {result['patched'] / result['published']:.0%} of publishes patched"
                            if result.get("published")
                            else ""
                        )
                    )
                print(f"[rep {rep + 1}/{args.reps}] {variant}: {note}", flush=True)
                results[variant].append(result)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    waiting = (
        f"polling {args.spin * 1e6:g} us, then in a futex wait" if args.spin
        else "in a futex wait"
    )  # fmt: skip
    where = (
        f"the board alone (a writer of {2 * args.symbols} books' updates, no simulator)"
        if args.isolated
        else f"the engine on the simulator (sim --speed {speed:g}, {args.symbols} spot + "
        f"{args.symbols} futures)"
    )
    print(
        f"\nboard bench: {args.rate:,.0f} frames/s, {where}, {LEVELS} levels, {args.reps} x "
        f"{args.seconds:g} s windows, readers {waiting}\n"
    )
    print(f"{'variant':<8} {'frames/s':>9} {'cpu s/s':>8} {'per 1k fps':>10} {'ratio':>6} "
          f"{'copy p50':>9} {'p99':>7} {'p99.9':>7} {'view p50':>9} {'p99':>7} {'p99.9':>7} "
          f"{'samples':>8}")  # fmt: skip
    base = None
    problems = []
    figures: dict[str, Any] = {}
    for variant in variants:
        good = [r for r in results[variant] if "error" not in r]
        if len(good) != len(results[variant]):
            problems.append(f"{variant}: {[r['error'] for r in results[variant] if 'error' in r]}")
        if not good:
            continue
        if args.isolated:
            cells = [f"{variant:<8}", f"{'-':>9}", f"{'-':>8}", f"{'-':>10}", f"{'-':>6}"]
            ratio = float("nan")
        else:
            fps = statistics.median(r["frames"] / r["wall"] for r in good)
            cpu = statistics.median(r["cpu"] / r["wall"] for r in good)
            per_k = statistics.median((r["cpu"] / r["wall"]) / (r["frames"] / r["wall"] / 1000)
                                      for r in good)  # fmt: skip
            if variant == "off":
                base = per_k
            ratio = per_k / base if base else float("nan")
            cells = [f"{variant:<8}", f"{fps:>9,.0f}", f"{cpu:>8.3f}", f"{per_k:>10.4f}",
                     f"{ratio:>6.3f}"]  # fmt: skip
        copy = [s for r in good for s in r["samples"]["copy"]]
        view = [s for r in good for s in r["samples"]["view"]]
        for values in (copy, view):
            if values:
                cells += [f"{percentile(values, q):>{w}.1f}" for q, w in ((0.5, 9), (0.99, 7),
                                                                          (0.999, 7))]  # fmt: skip
            else:
                cells += [f"{'-':>9}", f"{'-':>7}", f"{'-':>7}"]
        cells.append(f"{len(copy):>8}")
        print(" ".join(cells))
        figures[variant] = {"ratio": ratio, "copy": copy, "view": view}
        for r in good:
            if "live" in r and r["live"] != r["books"]:
                problems.append(f"{variant}: {r['books'] - r['live']} books not LIVE")
            if r["errors"]:
                problems.append(f"{variant}: reader errors: {r['errors']}")
            if variant.startswith("on+") and not r["samples"]["copy"]:
                problems.append(f"{variant}: no reader sample: nothing was measured")
    print("\n(latencies in microseconds, CLOCK_MONOTONIC from the publish stamp)")
    print("goals (issue 23):")
    four = figures.get("on+4")
    if four and four["copy"]:
        p50, p99 = percentile(four["copy"], 0.5), percentile(four["copy"], 0.99)
        print(f"  4 readers: copy p50 {p50:.1f} us (goal <= 5): {'met' if p50 <= 5 else 'NOT met'};"
              f" p99 {p99:.1f} us (goal <= 20): {'met' if p99 <= 20 else 'NOT met'}")  # fmt: skip
    on = figures.get("on")
    if on:
        ratio = on["ratio"]
        print(f"  engine CPU ratio board on/off: {ratio:.3f} (goal <= 1.10 at 3,200 frames/s): "
              f"{'met' if ratio <= 1.10 else 'NOT met'}")  # fmt: skip
    for problem in problems:
        print(f"problem: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
