"""Full stack on loopback: simulator (its own process) -> websocket -> BookManager -> books.

    python -m bench.fullstack                       # speeds 10, 40, 160; 4 spot + 4 futures symbols
    python -m bench.fullstack --speeds 20 --seconds 5 --symbols 2

For each simulator speed (market steps per 100 ms of real time, per symbol) it reports the
depth_update frames/s the client applied, whether it kept up (every book LIVE at the end,
and the simulator's frames all received), the client process's CPU use, and CPU seconds per
second per 1,000 frames/s. It also reports the time from subscribe to LIVE. The simulator runs
in a separate process so that its CPU is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import time

from bench.simproc import start_simulator
from feeds.manager import BookManager
from feeds.rest import MarketClient


async def measure(speed: float, symbols: int, seconds: float) -> dict[str, float]:
    names = [f"s{n}_usdt" for n in range(symbols)]
    proc, urls = start_simulator(speed, names, seconds + 30)
    try:
        market = MarketClient(urls["spot REST"], urls["futures REST"])
        manager = BookManager(
            spot_ws_url=urls["spot websocket"],
            futures_ws_url=urls["futures websocket"],
            market=market,
            max_concurrent_snapshots=8,
        )
        async with market, manager:
            start = time.perf_counter()
            await manager.add_many("spot", names)
            await manager.add_many("futures", names)
            while not all(b.sync.is_live for b in manager.books.values()):
                await asyncio.sleep(0.01)
                if time.perf_counter() - start > 30:
                    raise RuntimeError("books did not go live")
            to_live = [b.first_live - b.added for b in manager.books.values()]  # type: ignore[operator]
            events0 = sum(b.depth_events for b in manager.books.values())
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            cpu1, wall1 = time.process_time(), time.perf_counter()
            events1 = sum(b.depth_events for b in manager.books.values())
            live = sum(b.sync.is_live for b in manager.books.values())
            gaps = sum(b.sync.generation - 1 for b in manager.books.values())
        fps = (events1 - events0) / (wall1 - wall0)
        cpu = (cpu1 - cpu0) / (wall1 - wall0)
        expected = 2 * symbols * 10 * speed
        return {
            "speed": speed,
            "frames_per_s": fps,
            "expected_frames_per_s": expected,
            "cpu_fraction": cpu,
            "cpu_per_1000_fps": cpu / (fps / 1000) if fps else float("nan"),
            "books_live": live,
            "books": 2 * symbols,
            "resyncs": gaps,
            "to_live_median_s": statistics.median(to_live),
            "to_live_max_s": max(to_live),
        }
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speeds", type=float, nargs="+", default=[10, 40, 160])
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args(argv)
    print(
        f"{'speed':>6} {'frames/s':>9} {'expected':>9} {'client CPU':>11} "
        f"{'CPU s/s per 1k fps':>19} {'live':>6} {'resyncs':>8} {'to LIVE med/max s':>18}"
    )
    for speed in args.speeds:
        r = asyncio.run(measure(speed, args.symbols, args.seconds))
        print(
            f"{r['speed']:6.0f} {r['frames_per_s']:9.0f} {r['expected_frames_per_s']:9.0f} "
            f"{r['cpu_fraction']:10.1%} {r['cpu_per_1000_fps']:19.3f} "
            f"{r['books_live']:>3}/{r['books']:<2} {r['resyncs']:8} "
            f"{r['to_live_median_s']:8.3f}/{r['to_live_max_s']:.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
