"""Metrics scraped over real HTTP from a manager against the simulator with faults on.

Each test injects faults through the simulator, scrapes ``/metrics`` over a socket,
parses the exposition with prometheus-client's own parser and checks that the faults
moved the right counters by the right amounts, and that every per-book value equals
what the engine counted (``BookSync.counts``, ``BookManager.stats()``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.request

import pytest
from helpers import wait_for
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from feeds.manager import BookManager
from feeds.metrics import METRICS, BookWatch, MetricsPortInUse, register, serve
from feeds.metrics.logs import book_logs
from feeds.rest import MarketClient
from feeds.sim import Simulator
from orderbook import Decision


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as ``{(name, sorted labels): value}``."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def value(samples, name: str, **labels: str) -> float:
    return samples[name, tuple(sorted(labels.items()))]


async def scrape(url: str) -> dict:
    def get() -> str:
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
            return response.read().decode()

    return parse(await asyncio.to_thread(get))


def new_manager(sim: Simulator, **options) -> tuple[MarketClient, BookManager]:
    market = MarketClient(sim.spot_http_url, sim.futures_http_url)
    manager = BookManager(
        spot_ws_url=sim.spot_ws_url,
        futures_ws_url=sim.futures_ws_url,
        market=market,
        snapshot_rate=200,
        connection_options={"backoff_base": 0.01},
        **options,
    )
    return market, manager


async def start(sim: Simulator, manager: BookManager, books: list[tuple[str, str]]) -> None:
    for venue, symbol in books:
        await manager.add(venue, symbol)
    await wait_for(lambda: sum(len(c.subscriptions) for c in sim.ws.clients) == len(books))
    await sim.advance(3)
    await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()))


async def advance(sim: Simulator, steps: int) -> None:
    for _ in range(steps):
        await sim.advance(1)
        await asyncio.sleep(0.005)


def check_book_equals_engine(samples, manager: BookManager, venue: str, symbol: str) -> None:
    """Every per-book counter in the exposition equals the engine's own count."""
    book = manager.book(venue, symbol)
    stats = manager.stats()["books"][f"{venue}:{symbol}"]
    key = {"venue": venue, "symbol": symbol}
    for decision in Decision:
        labels = tuple(sorted({**key, "decision": decision.value}.items()))
        got = samples.get(("wexbook_book_decisions_total", labels), 0)
        assert got == book.sync.counts[decision], decision
    assert value(samples, "wexbook_book_generation", **key) == stats["generation"]
    assert value(samples, "wexbook_book_events_applied_total", **key) == stats.get("applied", 0)
    assert value(samples, "wexbook_book_snapshot_requests_total", **key) == (
        stats["snapshot_requests"]
    )
    assert value(samples, "wexbook_book_state", **key, state=stats["state"]) == 1
    assert value(samples, "wexbook_book_depth_updates_received_total", **key) == book.depth_events


async def test_one_dropped_frame_is_one_gap_one_resync_one_snapshot() -> None:
    async with Simulator(auto=False, seed=7, rate_limit_scale=20) as sim:
        market, manager = new_manager(sim)
        async with market, manager:
            server = serve(manager, port=0)
            try:
                await start(sim, manager, [("spot", "btc_usdt"), ("futures", "eth_usdt"),
                                           ("spot", "eth_usdt")])  # fmt: skip
                await advance(sim, 3)
                before = await scrape(server.url)
                sim.faults.set("spot", "btc_usdt", drop_next=1)
                sim.faults.set("futures", "eth_usdt", drop_next=1)
                await advance(sim, 4)
                await wait_for(lambda: manager.book("spot", "btc_usdt").sync.generation == 2)
                await wait_for(lambda: manager.book("futures", "eth_usdt").sync.generation == 2)
                await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()))
                await advance(sim, 2)
                after = await scrape(server.url)
            finally:
                server.close()
            assert sim.faults.total("drop") == 2

            def moved(name: str, **labels: str) -> float:
                return value(after, name, **labels) - value(before, name, **labels)

            spot = {"venue": "spot", "symbol": "btc_usdt"}
            futures = {"venue": "futures", "symbol": "eth_usdt"}
            assert moved("wexbook_book_chain_breaks_total", **spot, rule="fi") == 1
            assert moved("wexbook_book_chain_breaks_total", **futures, rule="pu") == 1
            assert moved("wexbook_book_chain_breaks_total", **futures, rule="fu") == 1
            for key in (spot, futures):
                assert moved("wexbook_book_gaps_total", **key) == 1
                assert moved("wexbook_book_resyncs_total", **key, cause="gap") == 1
                for cause in ("crossed", "malformed", "overflow", "stale", "reconnect"):
                    assert moved("wexbook_book_resyncs_total", **key, cause=cause) == 0
                assert moved("wexbook_book_snapshot_requests_total", **key) == 1
                assert moved("wexbook_book_snapshot_results_total", **key,
                             result="snapshot-accepted") == 1  # fmt: skip
                assert moved("wexbook_book_generation", **key) == 1
                assert value(after, "wexbook_book_heal_seconds_count", venue=key["venue"]) == 1
            # The untouched book moved none of them.
            quiet = {"venue": "spot", "symbol": "eth_usdt"}
            assert moved("wexbook_book_gaps_total", **quiet) == 0
            assert moved("wexbook_book_chain_breaks_total", **quiet, rule="fi") == 0
            assert moved("wexbook_book_generation", **quiet) == 0
            # Each snapshot is one REST request, timed; every book went live once.
            requests = sum(
                v for (name, labels), v in after.items()
                if name == "wexbook_rest_requests_total" and ("outcome", "ok") in labels
            )  # fmt: skip
            assert requests == sum(b.counts["snapshot_requests"] for b in manager.books.values())
            assert value(after, "wexbook_book_subscribe_to_live_seconds_count", venue="spot") == 2
            for book in manager.books.values():
                check_book_equals_engine(after, manager, book.venue.value, book.symbol)
            assert value(after, "wexbook_connection_reconnects_total", venue="spot") == 0
            assert value(after, "wexbook_connection_received_bytes_total", venue="spot") > 0


async def test_reconnect_counts_once_and_resyncs_every_book_of_the_venue() -> None:
    async with Simulator(auto=False, seed=3, rate_limit_scale=20) as sim:
        market, manager = new_manager(sim)
        async with market, manager:
            collector = register(manager)
            await start(sim, manager, [("futures", "btc_usdt"), ("futures", "eth_usdt")])
            conn = manager.connections["futures"]
            sim.faults.set("futures", "btc_usdt", disconnect_after=2)
            for _ in range(20):
                await sim.advance(1)
                await asyncio.sleep(0.01)
                if conn.disconnects:
                    break
            sim.faults.clear()
            await wait_for(lambda: conn.connects == 2)
            await advance(sim, 3)
            await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()))
            samples = parse(generate_latest(collector.registry).decode())
            assert value(samples, "wexbook_connection_reconnects_total", venue="futures") == 1
            assert value(samples, "wexbook_connection_connects_total", venue="futures") == 2
            causes = {
                dict(labels)["cause"]: v for (name, labels), v in samples.items()
                if name == "wexbook_connection_disconnects_total"
            }  # fmt: skip
            assert sum(causes.values()) == 1 == conn.disconnects, causes
            assert value(samples, "wexbook_connection_up", venue="futures") == 1
            for symbol in ("btc_usdt", "eth_usdt"):
                key = {"venue": "futures", "symbol": symbol}
                assert value(samples, "wexbook_book_resyncs_total", **key, cause="reconnect") == 1
                assert value(samples, "wexbook_book_feed_down_total", **key) == 1
                assert value(samples, "wexbook_book_state", **key, state="live") == 1
                check_book_equals_engine(samples, manager, "futures", symbol)
            assert value(samples, "wexbook_book_heal_seconds_count", venue="futures") == 2


async def test_a_stalled_stream_raises_the_stale_gauge_and_a_429_is_counted() -> None:
    async with Simulator(auto=False, seed=2, rate_limit_scale=20) as sim:
        market, manager = new_manager(sim, stale_after=0.3)
        async with market, manager:
            collector = register(manager)
            await start(sim, manager, [("spot", "btc_usdt")])
            book = manager.book("spot", "btc_usdt")
            key = {"venue": "spot", "symbol": "btc_usdt"}
            samples = parse(generate_latest(collector.registry).decode())
            assert value(samples, "wexbook_book_stale", **key) == 0
            sim.faults.set("spot", "btc_usdt", stall=True, snapshot_429=1)
            for _ in range(8):
                await sim.advance(1)
                await asyncio.sleep(0.1)
            await wait_for(lambda: book.counts["stalls"] >= 1)
            await wait_for(lambda: manager.schedulers["spot"].stats["rate_limited"] == 1)
            samples = parse(generate_latest(collector.registry).decode())
            assert value(samples, "wexbook_book_stale", **key) == 1
            assert value(samples, "wexbook_book_resyncs_total", **key, cause="stale") == (
                book.counts["stalls"]
            )
            assert value(samples, "wexbook_snapshot_rate_limited_total", venue="spot") == 1
            assert value(samples, "wexbook_book_last_update_age_seconds", **key) > 0.3
            sim.faults.set("spot", "btc_usdt", stall=False)
            await wait_for(lambda: book.sync.is_live)
            stale = []
            for _ in range(20):  # the stream flows again: the gauge falls at once
                await sim.advance(1)
                await asyncio.sleep(0.02)
                samples = parse(generate_latest(collector.registry).decode())
                stale.append(value(samples, "wexbook_book_stale", **key))
                if stale[-1] == 0:
                    break
            assert stale[-1] == 0, stale
            assert value(samples, "wexbook_connection_reconnects_total", venue="spot") == 0


async def test_every_metric_of_the_table_is_exported_and_state_changes_are_logged() -> None:
    lines: list[str] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    async with Simulator(auto=False, seed=1, rate_limit_scale=20) as sim:
        market, manager = new_manager(sim)
        registry = CollectorRegistry()
        with book_logs("json") as handler:
            capture = Lines()
            capture.setFormatter(handler.formatter)
            logging.getLogger("wexbook.books").addHandler(capture)
            try:
                async with market, manager:
                    register(manager, registry)
                    await start(sim, manager, [("spot", "btc_usdt"), ("futures", "btc_usdt")])
                    sim.faults.set("spot", "btc_usdt", drop_next=1)
                    await advance(sim, 3)
                    book = manager.book("spot", "btc_usdt")
                    await wait_for(lambda: book.sync.generation == 2 and book.sync.is_live)
                    text = generate_latest(registry).decode()
            finally:
                logging.getLogger("wexbook.books").removeHandler(capture)
    names = {f.name for f in text_string_to_metric_families(text)}
    expected = {m.name.removesuffix("_total") for m in METRICS}
    assert names == expected
    with_samples = {f.name for f in text_string_to_metric_families(text) if f.samples}
    # Only the rows of a WexClient, of drops and of a capture recorder (none attached:
    # tests/test_recorder_failures.py) have no samples; pings go every second.
    assert expected - with_samples == {
        "wexbook_rest_rate_limit_waits",
        "wexbook_rest_retries",
        "wexbook_connection_disconnects",
    } | {m.name.removesuffix("_total") for m in METRICS if m.scope in ("capture", "publisher")}
    assert not any(len(labels) > 6 for labels in (m.labels for m in METRICS))
    records = [json.loads(line) for line in lines]
    changes = [(r["venue"], r["symbol"], r["from"], r["to"], r["cause"]) for r in records
               if r["event"] == "state_change"]  # fmt: skip
    assert ("spot", "btc_usdt", "syncing", "live", "snapshot_accepted") in changes
    assert ("spot", "btc_usdt", "live", "resyncing", "gap") in changes
    assert ("spot", "btc_usdt", "resyncing", "live", "snapshot_accepted") in changes
    gap = next(r for r in records if r.get("cause") == "gap")
    assert gap["level"] == "WARNING" and gap["update_id"] > 0 and gap["seconds"] >= 0
    assert "sequence gap" in gap["reason"]
    # The book ended closed: the shutdown lines are INFO, not warnings.
    closed = [r for r in records if r.get("to") in ("disconnected", "closed")]
    assert closed and all(r["level"] == "INFO" for r in closed)


async def test_a_port_in_use_is_one_clear_error() -> None:
    async with Simulator(auto=False) as sim:
        market, manager = new_manager(sim)
        async with market, manager:
            with socket.socket() as taken:
                taken.bind(("127.0.0.1", 0))
                taken.listen()
                port = taken.getsockname()[1]
                with pytest.raises(MetricsPortInUse, match=rf"127.0.0.1:{port}: in use"):
                    serve(manager, port=port)
            assert any(isinstance(o, BookWatch) for o in manager.observers.members)  # attached


async def test_rest_client_requests_are_counted_by_operation_and_outcome() -> None:
    from feeds.rest.client import AsyncWexClient
    from feeds.rest.errors import ApiError
    from feeds.sim import DEMO_API_KEY, DEMO_SECRET

    async with Simulator(auto=False) as sim:
        market, manager = new_manager(sim)
        collector = register(manager)
        async with AsyncWexClient(
            DEMO_API_KEY, DEMO_SECRET, spot_url=sim.spot_http_url, futures_url=sim.futures_http_url
        ) as client:
            collector.watch.watch_client(client)
            placed = await client.spot.submit_order(
                symbol="btc_usdt", side="BUY", type="MARKET", timeInForce="IOC",
                bizType="SPOT", quoteQty="100",
            )  # fmt: skip
            await client.spot.get_order(orderId=placed["orderId"])
            with pytest.raises(ApiError):
                await client.spot.get_order(orderId="1")  # no such order
        await market.aclose()
    samples = parse(generate_latest(collector.registry).decode())
    requests = {
        (dict(labels)["operation"], dict(labels)["outcome"]): v
        for (name, labels), v in samples.items()
        if name == "wexbook_rest_requests_total" and ("client", "wex") in labels
    }
    assert requests[("spot.submit_order", "ok")] == 1
    assert requests[("spot.get_order", "ok")] == 1
    assert sum(n for (op, outcome), n in requests.items() if op == "spot.get_order") == 2
    assert client.stats["requests"] == sum(requests.values())
    count = value(samples, "wexbook_rest_request_duration_seconds_count", client="wex",
                  venue="spot", operation="spot.get_order")  # fmt: skip
    assert count == 2
    assert value(samples, "wexbook_rest_retries_total", client="wex") == 0


async def test_every_pong_is_one_round_trip_and_the_connection_is_heard() -> None:
    async with Simulator(auto=False) as sim:
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(
            spot_ws_url=sim.spot_ws_url, market=market, connection_options={"ping_interval": 0.05}
        )
        async with market, manager:
            collector = register(manager)
            await start(sim, manager, [("spot", "btc_usdt")])
            proto = manager.connections["spot"].protocol
            await wait_for(lambda: proto.counts["pongs"] >= 3)
            pongs = proto.counts["pongs"]
            samples = parse(generate_latest(collector.registry).decode())
    assert value(samples, "wexbook_connection_ping_rtt_seconds_count", venue="spot") == pongs
    assert value(samples, "wexbook_connection_ping_rtt_seconds_sum", venue="spot") < pongs * 1.0
    assert value(samples, "wexbook_connection_frames_received_total", venue="spot",
                 kind="pongs") == pongs  # fmt: skip
    assert value(samples, "wexbook_connection_last_frame_age_seconds", venue="spot") < 1.0
