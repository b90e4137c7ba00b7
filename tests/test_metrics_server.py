"""The metrics endpoint under load, over real loopback sockets (issue 21, section 4).

The old endpoint (prometheus-client's ``start_http_server``: a thread per connection, no
timeout, a listen backlog of 5) fails each load test here: 400 idle connections held 400
threads and were never closed, a slow-loris connection was never closed, every one of
many concurrent scrapes rendered the registry again. The other tests hold the behaviour
that must not change: prometheus-client's answers, and values never older than the scrape.
"""

from __future__ import annotations

import asyncio
import gzip
import select
import socket
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from helpers import wait_for
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from feeds.manager import BookManager
from feeds.metrics import serve
from feeds.rest import MarketClient
from feeds.sim import Simulator

BOOKS = [("spot", "btc_usdt"), ("futures", "eth_usdt")]


class Live:
    """A manager with two LIVE books on the simulator (``async with Live() as live``)."""

    async def __aenter__(self) -> Live:
        self.sim = Simulator(auto=False, seed=3, rate_limit_scale=20)
        await self.sim.__aenter__()
        self.market = MarketClient(self.sim.spot_http_url, self.sim.futures_http_url)
        self.manager = BookManager(
            spot_ws_url=self.sim.spot_ws_url,
            futures_ws_url=self.sim.futures_ws_url,
            market=self.market,
            snapshot_rate=200,
        )
        await self.market.__aenter__()
        await self.manager.__aenter__()
        for venue, symbol in BOOKS:
            await self.manager.add(venue, symbol)
        await wait_for(lambda: sum(len(c.subscriptions) for c in self.sim.ws.clients) == 2)
        await self.sim.advance(3)
        await wait_for(lambda: all(b.sync.is_live for b in self.manager.books.values()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.manager.__aexit__(*exc)
        await self.market.__aexit__(*exc)
        await self.sim.__aexit__(*exc)


def families(body: bytes) -> dict[str, list]:
    """The exposition parsed by prometheus-client's parser: ``{family: samples}``."""
    return {f.name: f.samples for f in text_string_to_metric_families(body.decode())}


async def get(
    port: int, request: bytes = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection, read to its end: status, headers, body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def scrape(url: str) -> dict[str, list]:
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        body = response.read()
        assert len(body) == int(response.headers["Content-Length"])
    return families(body)


def closed(sock: socket.socket) -> bool:
    """True once the peer closed ``sock`` (end of stream or reset); never blocks."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1) == b""
    except ConnectionError:
        return True


def wait_closed(socks: list[socket.socket], within: float) -> list[socket.socket]:
    """Poll until every socket is closed by the peer or ``within`` s pass; the open ones."""
    end = time.monotonic() + within
    left = list(socks)
    while left and time.monotonic() < end:
        left = [s for s in left if not closed(s)]
        time.sleep(0.05)
    return left


def connect(port: int, count: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]


async def test_400_idle_connections_take_no_threads_and_are_closed_after_the_read_timeout():
    async with Live() as live:
        with serve(live.manager, port=0, read_timeout=1.0) as server:
            await get(server.port)  # the render thread exists from now on
            await asyncio.to_thread(int)  # and the thread that connects
            before = threading.active_count()
            idle = await asyncio.to_thread(connect, server.port, 400)
            try:
                await asyncio.sleep(0.3)  # the server accepts them meanwhile
                added = threading.active_count() - before
                assert added <= 2, f"{added} threads for 400 idle connections"
                status, _, body = await get(server.port)  # a scrape still gets through
                assert status == 200 and "wexbook_book_state" in families(body)
                still_open = await asyncio.to_thread(wait_closed, idle, 1.0 + 3.0)
                assert not still_open, f"{len(still_open)} of 400 still open"
            finally:
                for s in idle:
                    s.close()
            # Past max_connections (256) the oldest made room; the rest timed out.
            assert server.evicted + server.timeouts == 400
            await wait_for(lambda: server.connections == 0, timeout=2)


async def test_a_flood_past_max_connections_closes_the_oldest_idle_ones_first():
    async with Live() as live:
        with serve(live.manager, port=0, read_timeout=5.0, max_connections=20) as server:
            old = await asyncio.to_thread(connect, server.port, 20)
            await asyncio.sleep(0.2)
            new = await asyncio.to_thread(connect, server.port, 20)
            # Well inside the read timeout: the 20 oldest made room for the 20 newest.
            left = await asyncio.to_thread(wait_closed, old, 2.0)
            assert not left, "the oldest idle connections stayed open"
            assert all(not closed(s) for s in new)
            status, _, body = await get(server.port)
            assert status == 200 and "wexbook_book_state" in families(body)
            for s in old + new:
                s.close()
            assert server.evicted == 21 and server.timeouts == 0


def test_a_slow_loris_does_not_hold_up_scrapers_and_is_closed_after_the_read_timeout():
    from feeds.sim.background import simulator_thread
    from feeds.threaded import ThreadedBookManager

    with simulator_thread(speed=5) as sim:
        with ThreadedBookManager(
            spot_ws_url=sim.spot_ws_url,
            spot_rest_url=sim.spot_http_url,
            futures_ws_url=sim.futures_ws_url,
            futures_rest_url=sim.futures_http_url,
        ) as manager:
            assert manager.add("spot", "btc_usdt").wait_live(timeout=10)
            with serve(manager.manager, port=0, read_timeout=1.0, render_interval=0.1) as server:
                # One sends half a request line and waits; one trickles a byte every 0.1 s.
                waiting, trickling = connect(server.port, 2)
                start = time.monotonic()
                waiting.sendall(b"GET /metr")
                trickle = iter(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*" * 10)
                with ThreadPoolExecutor(4) as pool:
                    scrapes = [pool.submit(scrape, server.url) for _ in range(8)]
                    while not closed(trickling) and time.monotonic() - start < 4:
                        try:
                            trickling.send(bytes([next(trickle)]))
                        except ConnectionError:
                            break
                        time.sleep(0.1)
                    results = [s.result(timeout=5) for s in scrapes]
                trickled_for = time.monotonic() - start
                assert all(r["wexbook_book_state"] for r in results)
                assert trickled_for < 1.0 + 1.5, "a trickling client was never cut off"
                assert not wait_closed([waiting], within=1.0 + 1.5 - trickled_for)
                waiting.close()
                trickling.close()
                assert server.timeouts == 2


async def test_many_concurrent_scrapers_get_whole_responses_from_a_few_renders():
    async with Live() as live:
        with serve(live.manager, port=0) as server:
            renders = server.collector.scrapes
            answers = await asyncio.gather(*(get(server.port) for _ in range(150)))
            for status, headers, body in answers:
                assert status == 200
                assert len(body) == int(headers["content-length"])
                parsed = families(body)
                assert len(parsed["wexbook_book_state"]) > 0
                assert {s.labels["symbol"] for s in parsed["wexbook_book_generation"]} == {
                    "btc_usdt",
                    "eth_usdt",
                }
            made = server.collector.scrapes - renders
            assert made <= 5, f"150 concurrent scrapes rendered the registry {made} times"
            assert server.renders == made


async def test_a_scrape_never_returns_values_older_than_itself():
    async with Live() as live:
        registry = CollectorRegistry()
        bumps = Counter("test_bumps", "bumped between two scrapes", registry=registry)
        with serve(live.manager, port=0, registry=registry, render_interval=0.5) as server:
            for expected in range(4):
                _, _, body = await get(server.port)
                assert families(body)["test_bumps"][0].value == expected
                bumps.inc()  # the next scrape, at once, must see it
            assert server.renders == 4


async def test_the_answers_are_prometheus_clients_own():
    async with Live() as live:
        with serve(live.manager, port=0) as server:
            port = server.port
            status, headers, body = await get(port, b"OPTIONS /metrics HTTP/1.1\r\n\r\n")
            assert (status, headers["allow"], body) == (200, "OPTIONS,GET", b"")
            status, headers, _ = await get(port, b"POST /metrics HTTP/1.0\r\n\r\n")
            assert (status, headers["allow"]) == (405, "OPTIONS,GET")
            status, headers, body = await get(port, b"GET /favicon.ico HTTP/1.0\r\n\r\n")
            assert (status, body) == (200, b"")
            status, headers, body = await get(
                port, b"GET /metrics HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n"
            )
            assert headers["content-encoding"] == "gzip"
            assert "wexbook_book_state" in families(gzip.decompress(body))
            status, headers, body = await get(
                port, b"GET / HTTP/1.1\r\nAccept: application/openmetrics-text\r\n\r\n"
            )
            assert headers["content-type"].startswith("application/openmetrics-text")
            assert body.endswith(b"# EOF\n")
            status, _, body = await get(
                port, b"GET /metrics?name[]=wexbook_book_generation HTTP/1.1\r\n\r\n"
            )
            assert list(families(body)) == ["wexbook_book_generation"]
            status, _, body = await get(port, b"HELLO\r\n\r\n")
            assert status == 400 and b"not an HTTP request line" in body
            # A line past the limit: closed without an answer.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /" + b"x" * 10_000 + b" HTTP/1.1\r\n\r\n")
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
