"""Side-by-side comparison of the engine with the naive baseline, in one run.

Usage (from the repository root)::

    python -m bench.compare                 # 200k frames, 5 interleaved rounds, memory
    python -m bench.compare --frames 20000 --rounds 3 --books 100
    python -m bench.compare --peers         # the README's table, with peers (bench extra)

Every round runs every variant once, in turn, on the same frames, so that
machine noise hits them alike; the report gives each variant's median time
per frame and its ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import orjson

from orderbook import Venue, accel, parse_depth_update

from .memory import memory_ratio
from .runners import VARIANTS, book_bytes_per_level, book_levels, setup_engine
from .streams import DEFAULT_FRAMES, bench_stream


def time_variants(frames: list[bytes], snapshot: bytes, rounds: int) -> dict[str, list[float]]:
    """Seconds per run of every variant, ``rounds`` interleaved rounds."""
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name, (setup, loop) in VARIANTS.items():
            state = setup(snapshot)
            gc.collect()
            start = time.perf_counter()
            loop(state, frames)
            times[name].append(time.perf_counter() - start)
    return times


def print_breakdown(snapshot: bytes, frames: list[bytes], baseline_seconds: float) -> None:
    """Where the engine's time goes, as shares of the baseline's time (one run each)."""
    events = [parse_depth_update(raw, Venue.SPOT) for raw in frames]
    parts: dict[str, float] = {}
    gc.collect()
    start = time.perf_counter()
    for raw in frames:
        orjson.loads(raw)
    parts["orjson.loads alone (both pay it)"] = time.perf_counter() - start
    start = time.perf_counter()
    for raw in frames:
        parse_depth_update(raw, Venue.SPOT)
    parts["parse_depth_update (incl. orjson)"] = time.perf_counter() - start
    sync = setup_engine(snapshot)
    on_update = sync.on_update
    start = time.perf_counter()
    for event in events:
        on_update(event)
    parts["BookSync.on_update (checks + apply)"] = time.perf_counter() - start
    book = setup_engine(snapshot).live_book()
    apply = book.apply
    start = time.perf_counter()
    for event in events:
        apply(event.bids, event.asks)
    parts["OrderBook.apply alone"] = time.perf_counter() - start
    print("\nbreakdown of the engine (share of the baseline's median time):")
    for name, seconds in parts.items():
        print(
            f"  {name:38} {seconds * 1e6 / len(frames):6.2f} us/frame "
            f"{seconds / baseline_seconds:6.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--books", type=int, default=1000, help="books for the memory test")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="print the README's performance table: wexbook compiled and pure, the baseline, "
        "PyPI order-book and a ccxt-style sorted-list book, from this one run",
    )
    args = parser.parse_args(argv)
    if args.peers:
        from .table import print_table

        stream = bench_stream(args.frames)
        print(f"hot path: {accel.describe()}")
        print_table(stream.frames, stream.snapshot, args.rounds)
        return 0

    t0 = time.perf_counter()
    stream = bench_stream(args.frames)
    frames = stream.frames
    changes = stream.level_changes
    print(
        f"stream: {len(frames)} frames, {changes} level changes "
        f"({changes / len(frames):.1f}/frame), loaded in {time.perf_counter() - t0:.1f} s"
    )

    # The engine and the baseline must end with the same book, or the timing means nothing.
    (b_setup, b_loop), (e_setup, e_loop) = VARIANTS["baseline"], VARIANTS["engine"]
    baseline_book = b_loop(b_setup(stream.snapshot), frames)
    engine_book = e_loop(e_setup(stream.snapshot), frames)
    if book_levels(baseline_book) != book_levels(engine_book):
        raise SystemExit("engine and baseline books differ after the stream")

    times = time_variants(frames, stream.snapshot, args.rounds)
    base = statistics.median(times["baseline"])
    print(f"\n{'variant':16} {'median us/frame':>16} {'min us/frame':>13} {'ratio to (a)':>13}")
    for name, runs in times.items():
        med = statistics.median(runs)
        print(
            f"{name:16} {med * 1e6 / len(frames):16.2f} {min(runs) * 1e6 / len(frames):13.2f} "
            f"{med / base:13.3f}"
        )
    med = {name: statistics.median(runs) for name, runs in times.items()}
    print(
        "\nratios to the baseline (a), target in brackets:\n"
        f"  (b) end to end            {med['engine'] / base:.3f}  [<= 0.50]\n"
        f"  (c) + best bid/ask read   {med['engine_bbo'] / base:.3f}  [<= 0.45]"
        f"   (vs baseline + same read: {med['engine_bbo'] / med['baseline_bbo']:.3f})\n"
        f"  (d) + top-20 numpy /100   {med['engine_numpy'] / base:.3f}  [<= 0.50]"
        f"   (vs baseline + same read: {med['engine_numpy'] / med['baseline_numpy']:.3f})"
    )

    print_breakdown(stream.snapshot, frames, base)

    mem = memory_ratio(args.books)
    print(
        f"  (e) memory, {args.books} books of 500+500 levels (tracemalloc): "
        f"{mem['engine_bytes_per_level']:.1f} vs {mem['baseline_bytes_per_level']:.1f} "
        f"bytes/level = {mem['ratio']:.3f}  [<= 1.0]"
    )
    after_b, after_e = book_bytes_per_level(baseline_book), book_bytes_per_level(engine_book)
    print(
        f"      after the whole stream (deep size of one book): "
        f"{after_e:.1f} vs {after_b:.1f} bytes/level = {after_e / after_b:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
