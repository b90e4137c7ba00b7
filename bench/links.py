"""How long a book stays LIVE on a link that went silent, and how soon it is back.

    python -m bench.links                # 5 rounds per venue, the default heartbeat
    python -m bench.links --rounds 3 --ping-interval 0.5 --dead-after 1

Each round, against the embedded simulator (real websocket and HTTP servers on
loopback): the book is LIVE; the simulator's ``silent`` fault half-opens the
connection at its next push (TCP and websocket stay up; the server stops reading
and sending, so no push and no pong) while its market moves on. Measured:

- ``leave``: from the first push the client did not get (the fault firing) to the
  book leaving LIVE (the goal is at most 3 s; the no-update watchdog alone took 10 s);
- ``back``: from the fault switched off to the book LIVE again (reconnect, proof of
  life, snapshot).
Wall-clock figures on a shared machine: the medians are what to quote.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from feeds.manager import BookManager
from feeds.rest import MarketClient
from feeds.sim import Simulator


async def one_round(venue: str, options: dict[str, float]) -> tuple[float, float]:
    async with Simulator(speed=1, seed=7) as sim:
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(
            spot_ws_url=sim.spot_ws_url,
            futures_ws_url=sim.futures_ws_url,
            market=market,
            stale_after=30.0,
            connection_options=options,
        )
        async with market, manager:
            await manager.add(venue, "btc_usdt")
            book = manager.book(venue, "btc_usdt")
            async with asyncio.timeout(20):
                while not book.sync.is_live:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)
            counts = sim.faults.counts
            sim.faults.set(venue, "btc_usdt", silent=True)
            async with asyncio.timeout(20):
                while not any(key[2] == "silent" for key in counts):
                    await asyncio.sleep(0.001)
            fired = time.monotonic()
            async with asyncio.timeout(20):
                while book.sync.is_live:
                    await asyncio.sleep(0.005)
            leave = time.monotonic() - fired
            sim.faults.set(venue, "btc_usdt", silent=False)
            off = time.monotonic()
            async with asyncio.timeout(30):
                while not book.sync.is_live:
                    await asyncio.sleep(0.005)
            return leave, time.monotonic() - off


async def main(rounds: int, options: dict[str, float]) -> None:
    print(f"heartbeat: {options or 'defaults (ping every 1 s, dead after 2 s silent)'}")
    for venue in ("spot", "futures"):
        results = [await one_round(venue, options) for _ in range(rounds)]
        leave = sorted(r[0] for r in results)
        back = sorted(r[1] for r in results)
        print(
            f"{venue:8} leave LIVE: median {statistics.median(leave):.2f} s, "
            f"max {leave[-1]:.2f} s | LIVE again after the fault: median "
            f"{statistics.median(back):.2f} s, max {back[-1]:.2f} s ({rounds} rounds)"
        )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ping-interval", type=float)
    parser.add_argument("--dead-after", type=float)
    parser.add_argument("--pong-timeout", type=float)
    args = parser.parse_args()
    options = {
        name: value
        for name, value in (
            ("ping_interval", args.ping_interval),
            ("dead_after", args.dead_after),
            ("pong_timeout", args.pong_timeout),
        )
        if value is not None
    }
    asyncio.run(main(args.rounds, options))


if __name__ == "__main__":
    cli()
