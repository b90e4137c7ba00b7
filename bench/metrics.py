"""What metrics cost: the live path with and without them, and one scrape of 200 books.

    python -m bench.metrics                  # 200k frames, 5 interleaved rounds, 200 books
    python -m bench.metrics --frames 20000 --rounds 3 --books 50   # a quick look

(a) The per-frame path, end to end through the real code: frames of the benchmark stream
(``bench/streams.py``) go through :class:`~feeds.connection.Connection`'s receive path
(``Connection.feed``, what the socket layer calls per message),
:class:`~feeds.protocol.FeedProtocol`, the manager's dispatch and the book's ``BookSync``
-- twice per round, interleaved:

- ``off``: no monitor, no collector (what a plain ``BookManager`` pays);
- ``on``: a :class:`~feeds.metrics.BookWatch` attached, the HTTP endpoint serving, and a
  thread scraping ``/metrics`` over a socket every second during the run.

(b) One scrape (``generate_latest`` of the registry) with ``--books`` LIVE books, and its
size. Wall-clock figures of a shared machine: read the ratio, not the microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
import urllib.request

import orjson
from prometheus_client import generate_latest

from bench.streams import bench_stream
from feeds.connection import Connection
from feeds.manager import BookManager
from feeds.metrics import BookWatch, register, serve
from orderbook import SyncState, Venue
from orderbook.parse import spot_snapshot


async def _manager(symbols: list[str], snapshot: dict) -> tuple[BookManager, Connection]:
    manager = BookManager(spot_ws_url="ws://127.0.0.1:9/public", stale_after=3600)
    await manager.start()
    for symbol in symbols:
        book = await manager._prepare(Venue.SPOT, symbol)
        book.sync.on_snapshot(spot_snapshot(snapshot, symbol, 500))
        assert book.sync.state is SyncState.LIVE
    conn = Connection(Venue.SPOT, manager.urls[Venue.SPOT],
                      lambda received: manager._on_message(Venue.SPOT, received))  # fmt: skip
    manager.connections[Venue.SPOT] = conn
    return manager, conn


async def one_round(frames: list[str], snapshot: dict, metrics: bool) -> tuple[float, int]:
    """Seconds for the frames through one LIVE book, and scrapes made meanwhile."""
    manager, conn = await _manager(["btc_usdt"], snapshot)
    scrapes = 0
    server = stop = scraper = None
    if metrics:
        server = serve(manager, port=0)
        stop = threading.Event()

        def scrape() -> None:
            nonlocal scrapes
            while not stop.wait(1.0):
                with urllib.request.urlopen(server.url, timeout=5) as response:
                    response.read()
                scrapes += 1

        scraper = threading.Thread(target=scrape, daemon=True)
        scraper.start()
    start = time.perf_counter()
    feed = conn.feed
    for text in frames:
        feed(text)
    elapsed = time.perf_counter() - start
    book = manager.book("spot", "btc_usdt")
    assert book.sync.is_live and book.depth_events == len(frames)
    if metrics:
        assert any(isinstance(o, BookWatch) for o in manager.observers.members)
        stop.set()
        scraper.join()
        server.close()
    manager.connections.clear()
    await manager.close()
    return elapsed, scrapes


async def scrape_cost(books: int, snapshot: dict, repeats: int = 20) -> tuple[float, int, int]:
    """Median seconds of one scrape with ``books`` books, its size in bytes and lines."""
    manager, _ = await _manager([f"s{n}_usdt" for n in range(books)], snapshot)
    collector = register(manager)
    text = generate_latest(collector.registry)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        generate_latest(collector.registry)
        times.append(time.perf_counter() - start)
    manager.connections.clear()
    await manager.close()
    return statistics.median(times), len(text), text.count(b"\n")


async def main_async(args: argparse.Namespace) -> None:
    stream = bench_stream(args.frames)
    frames = [f.decode() for f in stream.frames]
    snapshot = orjson.loads(stream.snapshot)
    await one_round(frames[: min(5000, len(frames))], snapshot, False)  # warm up caches
    results: dict[bool, list[float]] = {False: [], True: []}
    scrapes = 0
    for r in range(args.rounds):
        for metrics in (False, True) if r % 2 == 0 else (True, False):
            elapsed, n = await one_round(frames, snapshot, metrics)
            results[metrics].append(elapsed)
            scrapes += n
    off = statistics.median(results[False]) / len(frames) * 1e6
    on = statistics.median(results[True]) / len(frames) * 1e6
    print(f"(a) {len(frames)} frames through Connection -> FeedProtocol -> BookManager -> "
          f"BookSync, {args.rounds} interleaved rounds (median)")  # fmt: skip
    print(f"    metrics off: {off:.2f} us/frame")
    print(f"    metrics on : {on:.2f} us/frame ({scrapes} scrapes over HTTP during the runs)")
    print(f"    ratio on/off: {on / off:.3f}")
    seconds, size, lines = await scrape_cost(args.books, snapshot)
    print(f"(b) one scrape of {args.books} books: {seconds * 1e3:.1f} ms, "
          f"{size / 1024:.0f} KiB, {lines} lines")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.metrics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--books", type=int, default=200)
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
