"""BookManager against the embedded simulator over real sockets: one test per fault knob.

For each knob: the faulty book is never LIVE while wrong (checked whenever it is LIVE and
at the simulator's update id), the fault is seen and healed, the healed book equals the
simulator's ground truth, and the other symbol keeps its generation.
"""

from __future__ import annotations

import asyncio

import pytest
from helpers import wait_for

from feeds.manager import BookManager
from feeds.rest import MarketClient
from feeds.sim import Simulator
from orderbook import BookSyncing


def equals_truth(manager: BookManager, sim: Simulator, venue: str, symbol: str) -> bool:
    sync = manager.book(venue, symbol).sync
    truth = sim.book(venue, symbol)
    if not sync.is_live or sync.update_id != truth.last_id:
        return False
    bids, asks = truth.top(10**6)
    got_bids, got_asks = sync.live_book().depth()
    return got_bids == bids and got_asks == asks


async def step_and_check(manager, sim, venue, symbol, steps: int, checked: list[int]) -> None:
    """Advance one step at a time; whenever the book is LIVE at the simulator's id, compare."""
    for _ in range(steps):
        await sim.advance(1)
        for _ in range(40):
            await asyncio.sleep(0.001)
            sync = manager.book(venue, symbol).sync
            if sync.update_id == sim.book(venue, symbol).last_id or not sync.is_live:
                break
        sync = manager.book(venue, symbol).sync
        if sync.is_live and sync.update_id == sim.book(venue, symbol).last_id:
            assert equals_truth(manager, sim, venue, symbol)
            checked[0] += 1


FAULTS = [
    ("drop_next", {"drop_next": 1}),
    ("duplicate_next", {"duplicate_next": 2}),
    ("reorder_next", {"reorder_next": 1}),
    ("malformed_next", {"malformed_next": 1}),
    ("unknown_topic_next", {"unknown_topic_next": 2}),
    ("skip_ids_next", {"skip_ids_next": 1}),
    ("snapshot_lag", {"snapshot_lag": 6}),
    ("snapshot_429", {"snapshot_429": 1, "drop_next": 1}),
    ("snapshot_5xx", {"snapshot_5xx": 1, "drop_next": 1}),
    ("disconnect_after", {"disconnect_after": 3}),
]


@pytest.mark.parametrize("venue", ["spot", "futures"])
@pytest.mark.parametrize(("name", "knobs"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_fault_is_healed_and_never_served_wrong(venue: str, name: str, knobs: dict) -> None:
    async with Simulator(auto=False, seed=5, rate_limit_scale=20) as sim:
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(
            spot_ws_url=sim.spot_ws_url,
            futures_ws_url=sim.futures_ws_url,
            market=market,
            snapshot_rate=200,
            connection_options={"backoff_base": 0.01},
        )
        async with market, manager:
            await manager.add_many(venue, ["btc_usdt", "eth_usdt"])
            await wait_for(lambda: sum(len(c.subscriptions) for c in sim.ws.clients) == 2)
            await sim.advance(3)
            await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()))
            other = manager.book(venue, "eth_usdt").sync
            generation = other.generation
            book = manager.book(venue, "btc_usdt")
            if name.startswith("snapshot_") or name == "disconnect_after":
                with book.lock:
                    book.sync.request_resync("test: force a snapshot")
                manager._fetch_snapshot(book)
            sim.faults.set(venue, "btc_usdt", **knobs)
            checked = [0]
            await step_and_check(manager, sim, venue, "btc_usdt", 25, checked)
            sim.faults.clear()
            await sim.advance(1)
            await wait_for(lambda: equals_truth(manager, sim, venue, "btc_usdt"))
            await step_and_check(manager, sim, venue, "btc_usdt", 5, checked)
            injected = sum(n for (v, s, _), n in sim.faults.counts.items() if s == "btc_usdt")
            assert injected >= 1
            assert checked[0] > 0
            if name not in ("duplicate_next", "unknown_topic_next", "reorder_next"):
                assert book.sync.generation >= 2  # a gap was seen and healed with a snapshot
            if name != "disconnect_after":
                assert other.generation == generation  # the other symbol was untouched
            if name == "unknown_topic_next":
                assert manager.counts[f"{venue}.unknown_topic"] == 2
            if name == "malformed_next":
                assert manager.counts[f"{venue}.malformed"] == 1


async def test_stall_is_detected_and_resynced() -> None:
    async with Simulator(auto=False, seed=2) as sim:
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(spot_ws_url=sim.spot_ws_url, market=market, stale_after=0.3)
        async with market, manager:
            await manager.add("spot", "btc_usdt")
            await wait_for(lambda: sum(len(c.subscriptions) for c in sim.ws.clients) == 1)
            await sim.advance(3)
            book = manager.book("spot", "btc_usdt")
            await wait_for(lambda: book.sync.is_live)
            sim.faults.set("spot", "btc_usdt", stall=True)
            for _ in range(8):
                await sim.advance(1)  # the market moves; the stream says nothing
                await asyncio.sleep(0.1)
            await wait_for(lambda: book.counts["stalls"] >= 1)
            await wait_for(lambda: book.sync.generation >= 2)
            sim.faults.set("spot", "btc_usdt", stall=False)
            await sim.advance(2)
            await wait_for(lambda: equals_truth(manager, sim, "spot", "btc_usdt"))
            # Pings kept flowing through the stall: the connection never dropped.
            assert manager.connections["spot"].connects == 1


async def test_futures_merged_stream_under_the_pu_rule() -> None:
    async with Simulator(auto=False, seed=3) as sim:
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(
            futures_ws_url=sim.futures_ws_url, market=market, futures_interval="250ms"
        )
        async with market, manager:
            await manager.add("futures", "btc_usdt")
            await wait_for(lambda: sum(len(c.subscriptions) for c in sim.ws.clients) == 1)
            await sim.advance(10)
            book = manager.book("futures", "btc_usdt")
            await wait_for(lambda: book.sync.is_live)
            await sim.advance(20)
            await wait_for(lambda: equals_truth(manager, sim, "futures", "btc_usdt"))
            assert book.sync.generation == 1
            assert book.sync.sequencer.fu_violations > 0  # fu skips ids; pu chains
            assert book.sync.sequencer.pu_violations == 0


async def test_200_symbols_start_and_reconnect_without_a_429_from_the_simulator() -> None:
    symbols = [f"s{n:03d}_usdt" for n in range(200)]
    # The simulator enforces the documented 10/s/ip, scaled x10 (and the manager's budget
    # with it) so that the test takes seconds rather than the real-time 45 s.
    async with Simulator(
        auto=False, spot_symbols=symbols, futures_symbols=[], seed=9, rate_limit_scale=10
    ) as sim:
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(
            spot_ws_url=sim.spot_ws_url,
            market=market,
            snapshot_rate=100,
            max_concurrent_snapshots=8,
            connection_options={"backoff_base": 0.01},
        )
        async with market, manager:
            await manager.add_many("spot", symbols)
            await wait_for(lambda: sum(len(c.subscriptions) for c in sim.ws.clients) == 200)
            await sim.advance(1)
            await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()), 20)
            await manager.connections["spot"].drop()
            await wait_for(lambda: manager.connections["spot"].connects == 2)
            await wait_for(lambda: all(b.sync.generation == 2 for b in manager.books.values()), 20)
            await sim.advance(1)
            await wait_for(lambda: equals_truth(manager, sim, "spot", "s199_usdt"))
        assert sim.http.counts["rate_limited"] == 0
        assert sim.http.counts["requests"] >= 400


async def test_reads_raise_while_no_snapshot_can_be_had() -> None:
    async with Simulator(auto=False, seed=4) as sim:
        sim.faults.set("spot", "btc_usdt", snapshot_5xx=10**6)
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(spot_ws_url=sim.spot_ws_url, market=market)
        async with market, manager:
            await manager.add("spot", "btc_usdt")
            await wait_for(lambda: sum(len(c.subscriptions) for c in sim.ws.clients) == 1)
            await sim.advance(3)
            await wait_for(lambda: sim.faults.total("snapshot_5xx") >= 2)
            with pytest.raises(BookSyncing, match="btc_usdt"):
                manager.view("spot", "btc_usdt")
            view = manager.view("spot", "btc_usdt", allow_stale=True)
            assert view.state == "syncing" and not view.is_live and view.bids == ()
            sim.faults.set("spot", "btc_usdt", snapshot_5xx=0)
            await wait_for(lambda: manager.book("spot", "btc_usdt").sync.is_live, 15)
            assert manager.view("spot", "btc_usdt").is_live
