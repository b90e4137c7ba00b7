"""BookSync's state machine: buffering, overflow, stale, closed, crossed, errors, views."""

from __future__ import annotations

from decimal import Decimal

import pytest
from helpers import snapshot, spot_event

from orderbook import (
    BookClosed,
    BookNotLive,
    BookResyncing,
    BookStale,
    BookSync,
    BookSyncing,
    Decision,
    SpotSequencer,
    SyncState,
)

pytestmark = pytest.mark.usefixtures("hot_path")

class Recorder:
    """An observer that records every decision."""

    def __init__(self) -> None:
        self.seen: list[tuple[Decision, object]] = []

    def __call__(self, decision: Decision, sync: BookSync, payload: object) -> None:
        self.seen.append((decision, payload))

    def decisions(self) -> list[Decision]:
        return [d for d, _ in self.seen]


def live_sync(**kw) -> BookSync:
    sync = BookSync("btc_usdt", SpotSequencer(), clock=lambda: 42.0, **kw)
    sync.on_snapshot(snapshot(120, bids=[("100", "1")], asks=[("101", "1")]))
    return sync


def test_reading_before_snapshot_raises_syncing() -> None:
    sync = BookSync("btc_usdt", SpotSequencer())
    with pytest.raises(BookSyncing) as info:
        sync.view()
    assert isinstance(info.value, BookNotLive)
    assert "btc_usdt" in str(info.value) and "syncing" in str(info.value)
    with pytest.raises(BookSyncing):
        sync.live_book()
    stale_view = sync.view(allow_stale=True)
    assert stale_view.state == "syncing" and stale_view.bids == ()


def test_view_carries_metadata() -> None:
    sync = live_sync()
    sync.on_update(spot_event(121, 125, bids=[("100.5", "2")]))
    view = sync.view(5)
    assert view.symbol == "btc_usdt" and view.venue == "spot" and view.state == "live"
    assert view.update_id == 125 and view.generation == 1 and view.last_event_time == 42.0
    assert view.is_live
    assert view.best_bid().price == Decimal("100.5")
    assert view.spread() == Decimal("0.5")
    # The view is a copy: later updates do not change it.
    sync.on_update(spot_event(126, 126, bids=[("100.5", "0")]))
    assert view.best_bid().price == Decimal("100.5")
    assert sync.view().best_bid().price == Decimal("100")


def test_gap_leaves_live_and_reads_raise_until_resynced() -> None:
    rec = Recorder()
    sync = live_sync(observer=rec)
    sync.on_update(spot_event(125, 126))
    with pytest.raises(BookResyncing, match="gap"):
        sync.view()
    view = sync.view(allow_stale=True)
    assert view.state == "resyncing" and not view.is_live
    # Events after the gap are kept for the next snapshot.
    sync.on_update(spot_event(127, 128, bids=[("99", "5")]))
    assert len(sync.buffer) == 2
    assert sync.on_snapshot(snapshot(126)) is Decision.SNAPSHOT_ACCEPTED
    assert sync.is_live and sync.update_id == 128 and sync.generation == 2
    assert Decision.GAP in rec.decisions()
    assert rec.decisions()[-1] is Decision.SNAPSHOT_ACCEPTED


def test_gap_inside_the_buffer_refuses_the_snapshot() -> None:
    sync = BookSync("btc_usdt", SpotSequencer())
    sync.on_update(spot_event(121, 122))
    sync.on_update(spot_event(124, 125))  # 123 missing
    assert sync.on_snapshot(snapshot(120)) is Decision.GAP
    assert not sync.is_live and sync.snapshot_wanted
    assert sync.on_snapshot(snapshot(123)) is Decision.SNAPSHOT_ACCEPTED
    assert sync.update_id == 125


def test_overflow_is_counted_and_asks_for_a_snapshot() -> None:
    rec = Recorder()
    sync = BookSync("btc_usdt", SpotSequencer(), max_buffer=3, observer=rec)
    for n in range(5):
        sync.on_update(spot_event(100 + n, 100 + n))
    assert len(sync.buffer) == 3
    assert sync.counts[Decision.OVERFLOW] == 2
    overflowed = [p for d, p in rec.seen if d is Decision.OVERFLOW]
    assert [e.first_id for e in overflowed] == [100, 101]
    assert sync.snapshot_wanted
    with pytest.raises(ValueError):
        BookSync("x", SpotSequencer(), max_buffer=0)


def test_stale_is_not_served_and_recovers_on_a_chained_event() -> None:
    sync = live_sync()
    sync.mark_stale("no depth_update for 5 s")
    assert sync.state is SyncState.STALE
    with pytest.raises(BookStale, match="5 s"):
        sync.view()
    assert sync.view(allow_stale=True).state == "stale"
    assert sync.on_update(spot_event(121, 121)) is Decision.APPLIED
    assert sync.is_live


def test_stale_then_gap_goes_resyncing() -> None:
    sync = live_sync()
    sync.mark_stale()
    assert sync.on_update(spot_event(130, 131)) is Decision.GAP
    assert sync.state is SyncState.RESYNCING


def test_crossed_book_is_never_live() -> None:
    rec = Recorder()
    sync = live_sync(observer=rec)
    assert sync.on_update(spot_event(121, 121, bids=[("101", "1")])) is Decision.CROSSED
    assert sync.state is SyncState.RESYNCING
    with pytest.raises(BookResyncing, match="crossed"):
        sync.live_book()
    crossed_snapshot = snapshot(125, bids=[("102", "1")], asks=[("101", "1")])
    assert sync.on_snapshot(crossed_snapshot) is Decision.CROSSED
    assert not sync.is_live


def test_bad_level_in_a_live_event_resyncs() -> None:
    sync = live_sync()
    assert sync.on_update(spot_event(121, 121, bids=[("100", "-1")])) is Decision.MALFORMED
    assert sync.state is SyncState.RESYNCING
    assert "bad event" in sync.reason


def test_bad_snapshot_is_refused() -> None:
    sync = BookSync("btc_usdt", SpotSequencer())
    assert sync.on_snapshot(snapshot(10, bids=[("abc", "1")])) is Decision.MALFORMED
    assert sync.state is SyncState.SYNCING and sync.snapshot_wanted


def test_snapshot_while_live_is_ignored() -> None:
    sync = live_sync()
    assert sync.on_snapshot(snapshot(500)) is Decision.SNAPSHOT_IGNORED
    assert sync.update_id == 120 and sync.generation == 1


def test_request_resync_and_close() -> None:
    sync = live_sync()
    sync.request_resync("integrity mismatch")
    assert sync.state is SyncState.RESYNCING and sync.reason == "integrity mismatch"
    sync.close()
    assert sync.state is SyncState.CLOSED and not sync.snapshot_wanted
    assert sync.on_update(spot_event(121, 121)) is Decision.IGNORED
    assert sync.on_snapshot(snapshot(200)) is Decision.SNAPSHOT_IGNORED
    with pytest.raises(BookClosed):
        sync.view()


def test_every_decision_reaches_the_observer_and_the_counts() -> None:
    rec = Recorder()
    sync = BookSync("btc_usdt", SpotSequencer(), observer=rec)
    sync.on_update(spot_event(120, 120))
    sync.on_update(spot_event(121, 121))
    sync.on_snapshot(snapshot(120))
    sync.on_update(spot_event(121, 121))
    sync.on_update(spot_event(122, 122))
    assert rec.decisions() == [
        Decision.BUFFERED,
        Decision.BUFFERED,
        Decision.DROPPED_OLD,
        Decision.APPLIED,
        Decision.SNAPSHOT_ACCEPTED,
        Decision.DUPLICATE,
        Decision.APPLIED,
    ]
    for decision in set(rec.decisions()):
        assert sync.counts[decision] == rec.decisions().count(decision)


def test_view_reads_match_the_book() -> None:
    sync = BookSync("btc_usdt", SpotSequencer())
    bids = [(f"{100 - n}.5", f"{n + 1}") for n in range(30)]
    asks = [(f"{101 + n}.25", f"0.{n + 1}") for n in range(30)]
    sync.on_snapshot(snapshot(1, bids=bids, asks=asks))
    book, view = sync.live_book(), sync.view()
    assert view.depth(20) == book.depth(20)
    for got, want in zip(view.arrays(20), book.arrays(20), strict=True):
        assert got.tolist() == want.tolist()
    assert view.fill("buy", "1") == book.fill("buy", "1")
    assert view.fill("sell", "100") == book.fill("sell", "100")
    assert view.mid() == book.mid()
    assert view.quantity_between("bids", "90", "95") == book.quantity_between("bids", "90", "95")
    top = sync.view(5)
    assert len(top.bids) == 5 and top.levels == 5
