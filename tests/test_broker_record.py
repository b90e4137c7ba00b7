"""A broker subscriber's stream recorded in the capture format (issue 24): with a real
``redis-server``, the engine against the simulator with faults on publishing, a subscriber
recording; ``replay(..., verify=True)`` rebuilds every book and proves, at every
checkpoint, that it is the book the subscriber held; a break in the stream is a not-LIVE
span of the replay, and a tampered capture fails."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import brokers
import orjson
import pytest
import zstandard

from feeds.apps.demo import arm_faults
from feeds.broker import BookPublisher, BookSubscriber
from feeds.broker.record import SubscriberRecorder
from feeds.capture import replay
from feeds.capture.format import SUFFIX
from feeds.manager import BookManager
from feeds.rest import MarketClient
from feeds.sim import Simulator

redis_server = brokers.redis_server  # the fixture

SPOT = ["btc_usdt", "eth_usdt"]
FUTURES = ["btc_usdt"]
BOOKS = [f"spot:{s}" for s in SPOT] + [f"futures:{s}" for s in FUTURES]


class Engine:
    """A stepped simulator with the demo's faults, a manager and a publisher."""

    def __init__(self, sim: Simulator, manager: BookManager, publisher: BookPublisher) -> None:
        self.sim, self.manager, self.publisher = sim, manager, publisher
        self.running = True

    async def drive(self) -> None:
        while self.running:
            await self.sim.advance(1)
            await asyncio.sleep(0.003)


@asynccontextmanager
async def engine(url: str, *, faults: bool = True, **publisher_options: Any) -> AsyncIterator[Engine]:
    seed = int.from_bytes(os.urandom(2), "big")
    async with Simulator(spot_symbols=SPOT, futures_symbols=FUTURES, seed=seed, auto=False) as sim:
        if faults:
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
                await manager.close()
                await publisher.close()


async def wait_live(sub: BookSubscriber, timeout: float) -> None:
    for book in BOOKS:
        assert await sub.wait_live(*book.split(":"), timeout=timeout), sub.stats()


async def test_a_recorded_subscriber_replays_verified(redis_server, tmp_path) -> None:
    out = tmp_path / "cap"
    async with engine(redis_server.url, prefix="r1", snapshot_interval=0.7) as run:
        sub = BookSubscriber(redis_server.url, BOOKS, prefix="r1", max_silence=2.0)
        async with sub:
            recorder = SubscriberRecorder(out, checkpoint_interval=0.25, flush_interval=0.2)
            recorder.attach(sub)
            await wait_live(sub, 10)
            await asyncio.sleep(3.0)
            await recorder.aclose()
            final = {book: sub.view(*book.split(":"), allow_stale=True) for book in BOOKS}
            stats = sub.stats()
        del run
    report = replay(out, verify=True)
    assert report.ok, report.summary()
    assert report.checkpoints_matched == report.checkpoints > 0
    assert report.depth_events > 0 and report.mismatch_count == 0
    assert recorder.stats["frames"] == report.frames > 0
    for book in BOOKS:
        key = tuple(book.split(":"))
        got = report.books[key]
        assert got.checkpoints > 0 and got.checkpoints_matched == got.checkpoints, got
        assert got.applied > 0
        view = final[book]
        if view.state == "live":  # the replayed book ends where the subscriber's ended
            assert got.state == "live" and got.update_id == view.update_id, (got, stats)
    assert sum(report.books[tuple(b.split(":"))].checkpoints for b in BOOKS) >= 3 * len(BOOKS)
