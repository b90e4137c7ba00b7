"""Books through a broker: publish-to-apply latency, deltas per CPU second, and the
engine's CPU with publishing on vs off, side by side in one run.

    python -m bench.broker [--broker redis|nats] [--speed 40] [--symbols 4] [--windows 3]
                           [--window 3]

The simulator runs in its own process (``wexbook sim``; ``speed`` 40 and 4 symbols on
both venues: 8 books, 400 steps/s each, about 3,200 deltas/s), the broker in another
(``--broker redis``, the default: ``redis-server`` without persistence; ``nats``:
``nats-server -js``, its store in a temporary directory; each on a free loopback port),
the subscriber in a third (a
``BookSubscriber`` over all 8 books, recording for every applied delta the time from
the publisher stamping it to the subscriber having applied it). This process is the
engine: a ``BookManager`` and a ``BookPublisher``. Publishing alternates off and on
(``BookPublisher.suspend``/``resume``) in windows of ``--window`` seconds; the engine's
CPU (this process's user+system time) is summed per mode, the ratio is on / off.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import orjson

from bench.simproc import start_simulator

SUBSCRIBER = """
import asyncio, sys, time, orjson
from feeds.broker import BookSubscriber
url, seconds, *books = sys.argv[1:]
async def main():
    sub = BookSubscriber(url, books, record_delays=True, max_silence=5.0)
    await sub.start()
    await asyncio.sleep(1.0)  # caught up: only steady-state deltas count
    for held in sub.books.values():
        held.delays.clear()
    cpu0 = time.process_time()
    await asyncio.sleep(float(seconds) - 1.0)
    cpu = time.process_time() - cpu0
    delays = [d for held in sub.books.values() for d in (held.delays or [])]
    stats = sub.stats()
    await sub.close()
    sys.stdout.write(orjson.dumps({"delays": delays, "cpu": cpu, "stats": stats}).decode())
asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_broker(kind: str) -> tuple[subprocess.Popen[bytes], str, str]:
    """``redis-server`` or ``nats-server -js`` on a free loopback port; (process, URL, its
    directory)."""
    binary = f"{kind}-server"
    path = shutil.which(binary) or (
        f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None
    )
    if path is None:
        raise SystemExit(f"{binary} is not installed (apt-get install {binary})")
    port = _free_port()
    directory = tempfile.mkdtemp(prefix=f"wexbook-bench-{kind}-")
    if kind == "redis":
        command = [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", directory]  # fmt: skip
        url = f"redis://127.0.0.1:{port}/0"
    else:
        command = [path, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", directory]
        url = f"nats://127.0.0.1:{port}"
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url, directory
        except OSError:
            time.sleep(0.01)
    proc.kill()
    raise SystemExit(f"{binary} did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def engine(urls: dict[str, str], broker_url: str, names: list[str], args: argparse.Namespace):
    from feeds.broker import BookPublisher
    from feeds.manager import BookManager
    from feeds.rest import MarketClient

    market = MarketClient(urls["spot REST"], urls["futures REST"])
    manager = BookManager(
        spot_ws_url=urls["spot websocket"], futures_ws_url=urls["futures websocket"], market=market
    )
    books = [f"{v}:{n}" for v in ("spot", "futures") for n in names]
    async with market, manager:
        publisher = await BookPublisher(broker_url, linger=args.linger).start(manager)
        await manager.add_many("spot", names)
        await manager.add_many("futures", names)
        deadline = time.monotonic() + 20
        while not all(b.sync.is_live for b in manager.books.values()):
            if time.monotonic() > deadline:
                raise SystemExit("books did not go live")
            await asyncio.sleep(0.05)
        total = args.windows * 2 * (args.window + 0.2) + 1.5
        sub = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SUBSCRIBER, broker_url, str(total), *books,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await asyncio.sleep(1.2)
        cpu = {"off": 0.0, "on": 0.0}
        deltas = {"off": 0, "on": 0}
        for _ in range(args.windows):
            for mode in ("off", "on"):
                if mode == "off":
                    publisher.suspend()
                else:
                    publisher.resume()
                await asyncio.sleep(0.2)  # settle into the mode
                applied0 = sum(b.sync.counts[_applied()] for b in manager.books.values())
                t0 = os.times()
                await asyncio.sleep(args.window)
                t1 = os.times()
                applied = sum(b.sync.counts[_applied()] for b in manager.books.values())
                cpu[mode] += (t1.user - t0.user) + (t1.system - t0.system)
                deltas[mode] += applied - applied0
        publisher.resume()
        published = publisher.publisher_stats()
        out, _ = await sub.communicate()
        await publisher.close()
    return cpu, deltas, published, orjson.loads(out)


def _applied():
    from orderbook import Decision

    return Decision.APPLIED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.broker", description=__doc__)
    parser.add_argument("--broker", choices=("redis", "nats"), default="redis")
    parser.add_argument("--speed", type=float, default=40.0)
    parser.add_argument("--symbols", type=int, default=4)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--linger", type=float, default=0.0, help="publisher batch linger (s)")
    args = parser.parse_args(argv)
    names = [f"s{n}_usdt" for n in range(args.symbols)]
    seconds = args.windows * 2 * (args.window + 0.2) + 60
    sim, urls = start_simulator(args.speed, names, seconds)
    broker, broker_url, directory = start_broker(args.broker)
    try:
        cpu, deltas, published, sub = asyncio.run(engine(urls, broker_url, names, args))
    finally:
        sim.terminate()
        broker.terminate()
        broker.wait()
        shutil.rmtree(directory, ignore_errors=True)
    span = args.windows * args.window
    delays_ms = [d / 1e6 for d in sub["delays"]]
    rate_on = deltas["on"] / span
    print(f"broker: {args.broker}; books: {2 * args.symbols}, simulator speed {args.speed}, "
          f"linger {args.linger} s")  # fmt: skip
    print(f"deltas applied by the engine: {deltas['off'] / span:,.0f}/s (off), "
          f"{rate_on:,.0f}/s (on)")  # fmt: skip
    print(f"engine CPU: off {cpu['off']:.2f} s, on {cpu['on']:.2f} s over {span:.0f} s each: "
          f"ratio {cpu['on'] / cpu['off']:.3f} (goal <= 1.2)")  # fmt: skip
    extra = cpu["on"] - cpu["off"]
    if extra > 0:
        print(f"publishing: {deltas['on'] / extra:,.0f} deltas per CPU second of the engine")
    print(f"subscriber: {len(delays_ms):,} deltas applied, "
          f"{len(delays_ms) / max(sub['cpu'], 1e-9):,.0f} per CPU second")  # fmt: skip
    if delays_ms:
        print(f"publish -> subscriber apply: p50 {percentile(delays_ms, 0.5):.3f} ms, "
              f"p99 {percentile(delays_ms, 0.99):.3f} ms, max {max(delays_ms):.3f} ms "
              f"(goal p99 <= 2 ms at 3,200 deltas/s)")  # fmt: skip
    keys = ("published", "batches", "overflows", "reconnects", "deltas_superseded")
    print("publisher:", {k: published.get(k, 0) for k in keys})
    resyncs = sum(b.get("resyncs", 0) for b in sub["stats"]["books"].values())
    print(f"subscriber resyncs: {resyncs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
