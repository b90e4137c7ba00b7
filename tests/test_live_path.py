"""One live data path: a depth frame is decoded once, a LIVE book's plain frames go as
raw bytes to the compiled ``on_frame``, and observing a book does not push it off that
path; the decisions, counters and observer calls are the reference's."""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest
from helpers import snapshot, spot_raw, wait_for

from feeds.manager import BookManager
from feeds.metrics import BookWatch
from feeds.observe import Observer
from feeds.rest import MarketClient
from feeds.sim import Simulator
from orderbook import BookSync, Decision, SpotSequencer, accel

compiled_only = pytest.mark.skipif(
    not accel.AVAILABLE, reason=f"compiled accelerator {accel.UNAVAILABLE}"
)


def frames_fast() -> int:
    from orderbook import _speedups  # type: ignore[attr-defined]

    return _speedups.frame_stats()[0]


def random_frames(seed: int, n: int = 400) -> list[bytes]:
    """Spot frames from id 101 with gaps, duplicates and reorders, prices never crossing."""
    rng = random.Random(seed)
    events, last = [], 100
    for _ in range(n):
        first, last = last + 1, last + rng.randint(1, 3)
        bids = [[f"{rng.randint(1, 50) * 10}", rng.choice(["0", "1.5", "2"])]]
        asks = [[f"{rng.randint(51, 99) * 10}", rng.choice(["0", "0.25", "3"])]]
        events.append(spot_raw(first, last, bids, asks))
    wire: list[bytes] = []
    for frame in events:
        roll = rng.random()
        if roll < 0.02:
            continue  # dropped: a gap
        wire.append(frame)
        if roll < 0.04:
            wire.append(frame)  # duplicated
        elif roll < 0.06 and len(wire) > 1:
            wire[-1], wire[-2] = wire[-2], wire[-1]  # reordered
    return wire


def run_sync(frames: list[bytes], compiled: bool) -> tuple[list, list, tuple, int]:
    """Decisions, observer calls and the final book of a sync fed ``frames`` raw, with an
    observer that does not take applied decisions (as the manager's)."""
    calls: list[tuple[str, str | None, int | None]] = []
    sync = BookSync(
        "btc_usdt",
        SpotSequencer(),
        observer=lambda d, s, p: calls.append((d.value, s.state.value, s.update_id)),
    )
    sync.observe_applied = False
    decisions = []
    with accel.path(compiled):
        before = frames_fast() if compiled else 0
        for frame in frames:
            if sync.snapshot_wanted:  # a fresh, empty snapshot just before this frame
                first = orjson.loads(frame)["data"]["fi"]
                sync.on_snapshot(snapshot(first - 1, bids=(), asks=()))
            decisions.append(sync.on_frame(frame).value)
        fast = (frames_fast() - before) if compiled else 0
    book = sync.book.depth() if sync.book is not None else ((), ())
    return decisions, calls, (sync.state, sync.update_id, book, sync.counts), fast


@compiled_only
@pytest.mark.parametrize("seed", range(5))
def test_an_observed_book_keeps_the_compiled_path_and_the_same_decisions(seed: int) -> None:
    frames = random_frames(seed)
    reference = run_sync(frames, compiled=False)
    compiled = run_sync(frames, compiled=True)
    assert compiled[:3] == reference[:3]
    applied = reference[0].count(Decision.APPLIED.value)
    # Every applied frame but the first after each snapshot (the reference takes those).
    assert applied > 100 and compiled[3] >= applied * 0.8, (compiled[3], applied)
    # Observed with applied calls wanted, the compiled on_frame hands every frame on.
    sync = BookSync("btc_usdt", SpotSequencer(), observer=lambda d, s, p: None)
    with accel.path(True):
        sync.on_snapshot(snapshot(100, bids=(), asks=()))
        before = frames_fast()
        sync.on_frame(spot_raw(101, 101, [["10", "1"]], []))
        assert frames_fast() == before


@pytest.mark.skipif(
    accel.active() != "compiled", reason="the compiled path is not the one running (WEXBOOK_PURE)"
)
async def test_live_books_observed_by_a_recorder_and_metrics_stay_compiled(tmp_path) -> None:
    from feeds.capture import Recorder

    class Decisions(Observer):
        def __init__(self) -> None:
            self.seen: list[str] = []

        def on_decision(self, decision, sync, payload) -> None:
            self.seen.append(decision.value)

    decisions = Decisions()
    async with Simulator(speed=20, seed=3) as sim:
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(
            spot_ws_url=sim.spot_ws_url, futures_ws_url=sim.futures_ws_url, market=market,
            observers=[decisions],
        )  # fmt: skip
        async with market, manager:
            BookWatch.attach(manager)
            Recorder(tmp_path / "cap").attach(manager)
            await manager.add("spot", "btc_usdt")
            await manager.add("futures", "btc_usdt")
            await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()))
            events = sum(b.depth_events for b in manager.books.values())
            fast = frames_fast()
            await asyncio.sleep(1.5)
            events = sum(b.depth_events for b in manager.books.values()) - events
            fast = frames_fast() - fast
            assert len(manager.observers) == 3
    assert "snapshot-accepted" in decisions.seen
    assert events > 50 and fast >= 0.9 * events, (fast, events)
