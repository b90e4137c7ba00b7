"""Books through a real ``redis-server``: the engine against the simulator with faults on,
subscribers in other processes; every view a subscriber accepts equals the simulator's
truth at its update id, every not-LIVE state reaches it, and the broker's and the
publisher's faults heal, counted."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import brokers
import orjson
import pytest
from brokers import child, truth_lines
from helpers import wait_for

from feeds.apps.demo import arm_faults
from feeds.broker import BookPublisher, BookSubscriber  # noqa: F401
from feeds.manager import BookManager
from feeds.rest import MarketClient
from feeds.sim import Simulator

redis_server = brokers.redis_server  # the fixture

SPOT = ["btc_usdt", "eth_usdt"]
FUTURES = ["btc_usdt"]
BOOKS = [f"spot:{s}" for s in SPOT] + [f"futures:{s}" for s in FUTURES]


def exact(bids: list[Any], asks: list[Any]) -> tuple[list[Any], list[Any]]:
    """Levels as exact numbers (``"2.0"`` and ``"2"`` are one quantity)."""
    return [(Decimal(p), Decimal(q)) for p, q in bids], [(Decimal(p), Decimal(q)) for p, q in asks]


class Engine:
    """A stepped simulator with the demo's faults, a manager and a publisher; the truth
    (top 10 per book per update id) recorded after every step."""

    def __init__(self, sim: Simulator, manager: BookManager, publisher: BookPublisher) -> None:
        self.sim, self.manager, self.publisher = sim, manager, publisher
        self.truth: dict[tuple[str, str, int], Any] = {}
        self.step_pause = 0.003
        self.running = True

    def record(self) -> None:
        for line in truth_lines(self.sim).splitlines():
            venue, symbol, update_id, bids, asks = orjson.loads(line)
            self.truth[venue, symbol, update_id] = (bids, asks)

    async def drive(self) -> None:
        while self.running:
            await self.sim.advance(1)
            self.record()
            await asyncio.sleep(self.step_pause)

    async def run_for(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def compare(self, views: list[Any]) -> tuple[int, int]:
        """``(compared, mismatches)`` of ``[venue, symbol, update id, gen, bids, asks]``."""
        compared = mismatches = 0
        for venue, symbol, update_id, _, bids, asks in views:
            truth = self.truth.get((venue, symbol, update_id))
            if truth is None:
                continue
            compared += 1
            mismatches += exact(bids, asks) != exact(*truth)
        return compared, mismatches


@asynccontextmanager
async def engine(url: str, **publisher_options: Any) -> AsyncIterator[Engine]:
    seed = int.from_bytes(os.urandom(2), "big")
    async with Simulator(spot_symbols=SPOT, futures_symbols=FUTURES, seed=seed, auto=False) as sim:
        arm_faults(sim, SPOT, FUTURES)
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(
            spot_ws_url=sim.spot_ws_url,
            futures_ws_url=sim.futures_ws_url,
            market=market,
            stale_after=0.4,
            connection_options={"backoff_base": 0.05},
        )
        async with market, manager:
            options = {"heartbeat": 0.2, **publisher_options}
            publisher = await BookPublisher(url, **options).start(manager)
            run = Engine(sim, manager, publisher)
            await manager.add_many("spot", SPOT)
            await manager.add_many("futures", FUTURES)
            driver = asyncio.create_task(run.drive())
            try:
                yield run
            finally:
                run.running = False
                await driver
                await manager.close()  # every book CLOSED: a status each
                await publisher.close()  # then "publisher stopped"


def subscriber_output(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        return orjson.loads(f.read())


async def wait_process(process: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    if process.poll() is None:
        process.kill()
        pytest.fail("subscriber process did not finish")
    assert process.returncode == 0


async def test_subscribers_in_other_processes_serve_only_the_truth(redis_server, tmp_path) -> None:
    outs = [str(tmp_path / f"sub{n}.json") for n in range(2)]
    children = [child("subscribe", redis_server.url, out, 20, BOOKS, "t1") for out in outs]
    try:
        async with engine(redis_server.url, prefix="t1") as run:
            manager, sim = run.manager, run.sim
            await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()), 10)
            await asyncio.sleep(1.5)  # the subscribers start (a Python process each)
            sim.faults.set("spot", "btc_usdt", drop_next=1)  # a gap: resyncing
            await asyncio.sleep(0.5)
            sim.faults.set("spot", "eth_usdt", disconnect_after=1)  # feed down: disconnected
            eth = manager.book("spot", "eth_usdt")
            await wait_for(lambda: eth.sync.state.value == "disconnected", 3)
            sim.faults.set("spot", "eth_usdt", disconnect_after=None)
            await wait_for(lambda: eth.sync.is_live, 5)
            sim.faults.set("futures", "btc_usdt", stall=True)  # no updates: stale
            await wait_for(
                lambda: manager.book("futures", "btc_usdt").sync.state.value != "live", 3
            )
            sim.faults.set("futures", "btc_usdt", stall=False)
            await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()), 10)
            await asyncio.sleep(0.5)
            compared_engine = len(run.truth)
        for process in children:
            await wait_process(process, 10)
    finally:
        for process in children:
            if process.poll() is None:
                process.kill()
    assert compared_engine > 0
    for out in outs:
        result = subscriber_output(out)
        compared, mismatches = run.compare(result["views"])
        assert mismatches == 0
        assert compared > 100, (compared, len(result["views"]))
        states = result["states"]
        seen = {book: {entry[0] for entry in entries} for book, entries in states.items()}
        assert {"live", "resyncing", "closed"} <= seen["spot:btc_usdt"]
        assert {"live", "disconnected"} <= seen["spot:eth_usdt"]
        assert {"live", "stale"} <= seen["futures:btc_usdt"] or {
            "live",
            "resyncing",
        } <= seen["futures:btc_usdt"]
        assert all(entries[-1][2] == "publisher stopped" for entries in states.values())
