"""The metrics endpoint under load: many concurrent scrapers, then many idle connections.

    python -m bench.scrape                  # 200 scrapers x 10 s, old endpoint then new
    python -m bench.scrape --seconds 20     # the load of issue 21 (200 scrapers, 20 s)
    python -m bench.scrape --only new --scrapers 50 --seconds 5   # a quick look

Three processes, as in use: the simulator (``bench/simproc.py``); this one, with a
:class:`~feeds.manager.BookManager` keeping ``--symbols`` spot and futures books LIVE from
it and the endpoint serving them; and the scrapers (this module with ``--client``), so
their CPU is not this process's. Each scraper opens a connection, sends ``GET /metrics``,
reads the answer to its end and starts again at once, for ``--seconds``; an answer not
complete within ``--timeout`` (10 s, Prometheus' default ``scrape_timeout``) is a timeout.

(a) per endpoint: scrapes answered, timeouts, errors (refused, reset, incomplete), latency
p50/p99/max of the answered ones, registry renders, this process's peak thread count, and
what the books did meanwhile (frames applied per second, LIVE at the end, resyncs).
(b) ``--idle`` (400) connections that send nothing: the most threads they add, one
scrape's latency while they are open, and how many are still open ``--idle-wait`` s later.

``old`` is prometheus-client's ``start_http_server`` (a thread per connection, no timeout,
backlog 5), which is what ``feeds.metrics.serve`` ran before issue 21; ``new`` is
:func:`feeds.metrics.serve` with its defaults. Issue 21's own figures for the old endpoint
(200 scrapers for 20 s): 143 timeouts, p99 3.2 s, max 27.9 s; 400 idle connections held 403
threads for over a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from bench.simproc import start_simulator
from feeds.manager import BookManager
from feeds.metrics import register, serve
from feeds.metrics.server import DEFAULT_RENDER_INTERVAL
from feeds.rest import MarketClient

REQUEST = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n"


# The scrapers (their own process: ``python -m bench.scrape --client PORT``).


async def one_scrape(port: int, timeout: float) -> tuple[str, float]:
    """("ok" | "timeout" | "error", seconds) of one scrape on a fresh connection."""
    start = time.perf_counter()

    async def run() -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(REQUEST)
            data = await reader.read()
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        if not lines[0].startswith(b"HTTP/1.") or b" 200 " not in lines[0] + b" ":
            return False
        length = [v for k, _, v in (line.partition(b":") for line in lines[1:])
                  if k.strip().lower() == b"content-length"]  # fmt: skip
        return bool(length) and int(length[0]) == len(body) and b"wexbook_book_state" in body

    try:
        ok = await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        return "timeout", time.perf_counter() - start
    except OSError:
        ok = False
    return ("ok" if ok else "error"), time.perf_counter() - start


async def scrapers(port: int, count: int, seconds: float, timeout: float) -> dict[str, Any]:
    """``count`` scrapers, each scraping back to back for ``seconds``."""
    end = time.perf_counter() + seconds
    results: list[tuple[str, float]] = []

    async def scraper() -> None:
        while time.perf_counter() < end:
            results.append(await one_scrape(port, timeout))

    await asyncio.gather(*(scraper() for _ in range(count)))
    ok = sorted(t for what, t in results if what == "ok")
    return {
        "scrapes": len(results),
        "ok": len(ok),
        "timeouts": sum(what == "timeout" for what, _ in results),
        "errors": sum(what == "error" for what, _ in results),
        "p50": statistics.median(ok) if ok else float("nan"),
        "p99": ok[min(len(ok) - 1, int(len(ok) * 0.99))] if ok else float("nan"),
        "max": ok[-1] if ok else float("nan"),
    }


# The endpoint's side (this process).


class Endpoint:
    """``old`` (prometheus-client's ``start_http_server``) or ``new`` (``serve``)."""

    def __init__(self, kind: str, manager: BookManager, render_interval: float) -> None:
        self.kind = kind
        if kind == "old":
            registry = CollectorRegistry()
            self.collector = register(manager, registry)
            self.httpd, self.thread = start_http_server(0, addr="127.0.0.1", registry=registry)
            self.port = self.httpd.server_port
        else:
            self.server = serve(manager, port=0, render_interval=render_interval)
            self.collector = self.server.collector
            self.port = self.server.port

    def close(self) -> None:
        if self.kind == "old":
            self.httpd.shutdown()
            self.httpd.server_close()
            assert self.collector.registry is not None
            self.collector.registry.unregister(self.collector)
        else:
            self.server.close()


class PeakThreads:
    """This process's highest ``threading.active_count()``, sampled every 20 ms."""

    def __init__(self) -> None:
        self.peak = 0  # counts the sampling thread itself
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.peak = threading.active_count()
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, threading.active_count())

    def __enter__(self) -> PeakThreads:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def book_figures(manager: BookManager) -> tuple[int, int, int]:
    books = manager.books.values()
    return (sum(b.depth_events for b in books), sum(b.sync.is_live for b in books),
            sum(b.sync.generation for b in books))  # fmt: skip


async def load(manager: BookManager, kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """(a): ``args.scrapers`` scrapers in their own process against one endpoint."""
    endpoint = Endpoint(kind, manager, args.render_interval)
    try:
        renders = endpoint.collector.scrapes
        events0, _, generations0 = book_figures(manager)
        start = time.perf_counter()
        with PeakThreads() as threads:
            client = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.scrape", "--client", str(endpoint.port),
                "--scrapers", str(args.scrapers), "--seconds", str(args.seconds),
                "--timeout", str(args.timeout), stdout=subprocess.PIPE,
            )  # fmt: skip
            out, _ = await client.communicate()
        elapsed = time.perf_counter() - start
        events1, live, generations1 = book_figures(manager)
        result: dict[str, Any] = json.loads(out)
        result.update(
            renders=endpoint.collector.scrapes - renders,
            peak_threads=threads.peak,
            frames_per_s=(events1 - events0) / elapsed,
            live=live,
            resyncs=generations1 - generations0,
        )
        return result
    finally:
        await asyncio.to_thread(endpoint.close)


async def idle(manager: BookManager, kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """(b): ``args.idle`` connections that send nothing, then one real scrape."""
    endpoint = Endpoint(kind, manager, args.render_interval)
    before = threading.active_count()
    threads = PeakThreads().__enter__()
    start = time.perf_counter()
    opened = await asyncio.gather(
        *(asyncio.wait_for(asyncio.open_connection("127.0.0.1", endpoint.port), 10)
          for _ in range(args.idle)),
        return_exceptions=True,
    )  # fmt: skip
    streams = [s for s in opened if isinstance(s, tuple)]
    try:
        connect_s = time.perf_counter() - start
        await asyncio.sleep(1.0)
        what, seconds = await one_scrape(endpoint.port, args.timeout)
        await asyncio.sleep(args.idle_wait - 1.0)
        threads.__exit__()
        added = threads.peak - before - 1  # not the sampling thread

        async def is_open(reader: asyncio.StreamReader) -> bool:
            try:
                return await asyncio.wait_for(reader.read(1), 0.1) != b""
            except TimeoutError:
                return True
            except OSError:
                return False

        still = sum(await asyncio.gather(*(is_open(reader) for reader, _ in streams)))
        return {"connected": len(streams), "connect_s": connect_s, "threads_added": added,
                "scrape": what, "scrape_s": seconds, "still_open": still}  # fmt: skip
    finally:
        threads.__exit__()
        for _, writer in streams:
            writer.close()
        await asyncio.to_thread(endpoint.close)


async def main_async(args: argparse.Namespace) -> None:
    names = [f"s{n}_usdt" for n in range(args.symbols)]
    kinds = ["old", "new"] if args.only is None else [args.only]
    proc, urls = start_simulator(args.speed, names, 3600)  # terminated below
    try:
        market = MarketClient(urls["spot REST"], urls["futures REST"])
        manager = BookManager(
            spot_ws_url=urls["spot websocket"],
            futures_ws_url=urls["futures websocket"],
            market=market,
            max_concurrent_snapshots=8,
        )
        async with market, manager:
            await manager.add_many("spot", names)
            await manager.add_many("futures", names)
            start = time.perf_counter()
            while not all(b.sync.is_live for b in manager.books.values()):
                await asyncio.sleep(0.01)
                if time.perf_counter() - start > 30:
                    raise RuntimeError("books did not go live")
            books = len(manager.books)
            print(f"(a) {args.scrapers} scrapers back to back for {args.seconds:g} s, "
                  f"{books} LIVE books (simulator speed {args.speed:g}), "
                  f"scrape timeout {args.timeout:g} s; new: render_interval "
                  f"{args.render_interval:g} s")  # fmt: skip
            print(f"{'endpoint':>8} {'scrapes':>8} {'timeouts':>9} {'errors':>7} "
                  f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'renders':>8} "
                  f"{'threads':>8} {'frames/s':>9} {'LIVE':>6} {'resyncs':>8}")  # fmt: skip
            for kind in kinds:
                r = await load(manager, kind, args)
                print(f"{kind:>8} {r['scrapes']:8d} {r['timeouts']:9d} {r['errors']:7d} "
                      f"{r['p50'] * 1e3:8.1f} {r['p99'] * 1e3:8.1f} {r['max'] * 1e3:8.1f} "
                      f"{r['renders']:8d} {r['peak_threads']:8d} {r['frames_per_s']:9.0f} "
                      f"{r['live']:>3d}/{books:<2d} {r['resyncs']:8d}", flush=True)  # fmt: skip
            if args.idle:
                print(f"(b) {args.idle} idle connections (send nothing)")
            for kind in kinds if args.idle else []:
                r = await idle(manager, kind, args)
                print(f"{kind:>8}: {r['connected']} connected in {r['connect_s']:.1f} s; "
                      f"threads +{r['threads_added']} at most; a scrape 1 s later: "
                      f"{r['scrape']} in {r['scrape_s'] * 1e3:.1f} ms; still open "
                      f"{args.idle_wait:g} s later: {r['still_open']}", flush=True)  # fmt: skip
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scrape",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scrapers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=10.0, help="of one scrape")
    parser.add_argument("--symbols", type=int, default=4, help="per venue")
    parser.add_argument("--speed", type=float, default=10.0, help="of the simulator")
    parser.add_argument("--idle", type=int, default=400)
    parser.add_argument("--idle-wait", type=float, default=6.0,
                        help="seconds before counting the idle connections still open")  # fmt: skip
    parser.add_argument("--only", choices=["old", "new"])
    parser.add_argument("--render-interval", type=float, default=DEFAULT_RENDER_INTERVAL,
                        help="of the new endpoint (seconds)")  # fmt: skip
    parser.add_argument("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client is not None:
        result = asyncio.run(scrapers(args.client, args.scrapers, args.seconds, args.timeout))
        print(json.dumps(result))
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
