"""Fail-closed rules of the core (BookSync): feed down, wrong symbol, no progress, id reset.

Each test states a way a book could be served LIVE while wrong or while nothing keeps it
current, and checks that the core refuses it, says why, counts it, and recovers.
"""

from __future__ import annotations

import pytest
from helpers import futures_event, futures_raw, snapshot, spot_event, spot_raw

from orderbook import (
    BookDisconnected,
    BookNotLive,
    BookSync,
    Decision,
    DepthUpdate,
    FuturesSequencer,
    MalformedEvent,
    SpotSequencer,
    SyncState,
    futures_snapshot,
    parse_depth_update,
)

pytestmark = pytest.mark.usefixtures("hot_path")

def live_spot(**kw) -> BookSync:
    sync = BookSync("btc_usdt", SpotSequencer(), **kw)
    sync.on_update(spot_event(101, 101, bids=[("32000", "2")]))
    assert sync.on_snapshot(snapshot(100)) is Decision.SNAPSHOT_ACCEPTED
    assert sync.is_live and sync.update_id == 101
    return sync


# -- the feed is down ------------------------------------------------------------


def test_feed_down_takes_a_live_book_out_of_live_and_says_why() -> None:
    sync = live_spot()
    sync.on_update(spot_event(102, 102))  # in flight when the socket dropped
    sync.feed_down("feed down: ConnectionClosedError: no close frame")
    assert sync.state is SyncState.DISCONNECTED and not sync.is_live
    assert sync.counts[Decision.FEED_DOWN] == 1
    with pytest.raises(BookDisconnected, match=r"disconnected, not live .feed down"):
        sync.view()
    with pytest.raises(BookNotLive):
        sync.live_book()
    view = sync.view(allow_stale=True)
    assert view.state == "disconnected" and view.reason.startswith("feed down")
    assert not sync.snapshot_wanted and not sync.buffer


def test_no_snapshot_is_accepted_while_the_feed_is_down() -> None:
    sync = live_spot()
    sync.feed_down()
    assert sync.on_snapshot(snapshot(200)) is Decision.SNAPSHOT_IGNORED
    assert sync.state is SyncState.DISCONNECTED
    # Events buffered while down (a core user feeding it by hand) do not make it LIVE either.
    sync.on_update(spot_event(201, 201))
    assert sync.state is SyncState.DISCONNECTED and not sync.snapshot_wanted


def test_after_the_feed_is_back_the_book_resyncs() -> None:
    sync = live_spot()
    sync.feed_down()
    sync.request_resync("reconnected")
    assert sync.state is SyncState.RESYNCING and sync.snapshot_wanted
    sync.on_update(spot_event(301, 302, asks=[("33000", "1")]))
    assert sync.on_snapshot(snapshot(300)) is Decision.SNAPSHOT_ACCEPTED
    assert sync.is_live and sync.update_id == 302 and sync.generation == 2


def test_a_closed_book_stays_closed_when_the_feed_drops() -> None:
    sync = live_spot()
    sync.close()
    sync.feed_down()
    assert sync.state is SyncState.CLOSED and sync.counts[Decision.FEED_DOWN] == 0


# -- symbols ----------------------------------------------------------------------


def test_an_event_of_another_symbol_is_refused_and_never_applied() -> None:
    sync = live_spot()
    before = sync.view().bids
    other = DepthUpdate("eth_usdt", 102, 102, None, [["31000", "9"]], [])
    assert sync.on_update(other) is Decision.WRONG_SYMBOL
    assert sync.counts[Decision.WRONG_SYMBOL] == 1
    assert sync.is_live and sync.update_id == 101 and sync.view().bids == before
    # The stream of the right symbol goes on.
    assert sync.on_update(spot_event(102, 102)) is Decision.APPLIED


def test_a_futures_snapshot_of_another_symbol_is_refused() -> None:
    sync = BookSync("btc_usdt", FuturesSequencer())
    sync.on_update(futures_event(90, 95, 101))
    result = {"u": 100, "s": "eth_usdt", "t": 0, "a": [["34000", "1"]], "b": [["32000", "1"]]}
    wrong = futures_snapshot(result, "btc_usdt")
    assert wrong.symbol == "eth_usdt"  # the payload's own symbol wins over the requested one
    assert sync.on_snapshot(wrong) is Decision.WRONG_SYMBOL
    assert sync.state is SyncState.SYNCING and sync.snapshot_wanted
    assert "eth_usdt" in sync.reason
    right = futures_snapshot({**result, "s": "btc_usdt"}, "btc_usdt")
    assert sync.on_snapshot(right) is Decision.SNAPSHOT_ACCEPTED


@pytest.mark.parametrize("bad", [["btc_usdt"], {"x": 1}, 5, None, ""])
@pytest.mark.parametrize("venue", ["spot", "futures"])
def test_a_depth_update_whose_symbol_is_not_a_string_is_malformed(venue: str, bad) -> None:
    raw = spot_raw(1, 2) if venue == "spot" else futures_raw(0, 1, 2)
    raw = raw.replace(b'"s":"btc_usdt"', b'"s":' + __import__("orjson").dumps(bad))
    with pytest.raises(MalformedEvent, match="s must be a symbol string"):
        parse_depth_update(raw, venue)


def test_a_futures_snapshot_whose_symbol_is_not_a_string_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="symbol string"):
        futures_snapshot({"u": 1, "s": ["x"], "a": [], "b": []}, "btc_usdt")


# -- a LIVE book that applies nothing ----------------------------------------------------


def test_a_snapshot_far_ahead_of_its_stream_does_not_stay_live() -> None:
    sync = BookSync("btc_usdt", SpotSequencer(), max_unapplied=10)
    assert sync.on_snapshot(snapshot(10**9)) is Decision.SNAPSHOT_ACCEPTED  # empty buffer
    decisions = [sync.on_update(spot_event(n, n)) for n in range(101, 111)]
    assert decisions[:9] == [Decision.DROPPED_OLD] * 9
    assert decisions[9] is Decision.NO_PROGRESS
    assert sync.state is SyncState.RESYNCING and sync.snapshot_wanted
    assert "not newer than the book" in sync.reason
    # The next honest snapshot chains with what the stream sends now.
    sync.on_update(spot_event(111, 111))
    assert sync.on_snapshot(snapshot(110)) is Decision.SNAPSHOT_ACCEPTED


def test_occasional_duplicates_never_trip_the_no_progress_rule() -> None:
    sync = live_spot(max_unapplied=3)
    for n in range(102, 300):
        assert sync.on_update(spot_event(n, n)) is Decision.APPLIED
        assert sync.on_update(spot_event(n, n)) is Decision.DUPLICATE
        assert sync.on_update(spot_event(n, n)) is Decision.DUPLICATE
    assert sync.is_live and sync.counts[Decision.NO_PROGRESS] == 0


def test_a_live_book_whose_stream_ids_reset_leaves_live() -> None:
    sync = live_spot(max_unapplied=5)
    for n in range(1, 6):  # the exchange restarted: ids start again from 1
        decision = sync.on_update(spot_event(n, n))
    assert decision is Decision.NO_PROGRESS and not sync.is_live


# -- an exchange restart while resyncing -----------------------------------------------


@pytest.mark.parametrize("venue", ["spot", "futures"])
def test_ids_going_backwards_start_a_fresh_buffer(venue: str) -> None:
    if venue == "spot":
        sync = BookSync("btc_usdt", SpotSequencer())
        old = [spot_event(n, n) for n in range(5000, 5010)]
        new = [spot_event(n, n, bids=[("32000", str(n))]) for n in range(11, 16)]
    else:
        sync = BookSync("btc_usdt", FuturesSequencer())
        old = [futures_event(n - 2, n - 1, n) for n in range(5000, 5020, 2)]
        new = [futures_event(n - 2, n - 1, n, bids=[("32000", str(n))]) for n in range(12, 22, 2)]
    for event in old + new:
        assert sync.on_update(event) is Decision.BUFFERED
    # A snapshot of the new epoch: the old epoch's events are discarded, not "too old".
    assert sync.on_snapshot(snapshot(11)) is Decision.SNAPSHOT_ACCEPTED
    assert sync.counts[Decision.ID_RESET] == 1
    assert sync.counts[Decision.SNAPSHOT_TOO_OLD] == 0
    assert sync.update_id == new[-1].last_id
    assert str(sync.view().best_bid().qty) == str(new[-1].last_id)


def test_a_lagging_snapshot_of_an_increasing_stream_is_still_too_old() -> None:
    sync = BookSync("btc_usdt", SpotSequencer())
    for n in range(50, 60):
        sync.on_update(spot_event(n, n))
    assert sync.on_snapshot(snapshot(20)) is Decision.SNAPSHOT_TOO_OLD
    assert sync.counts[Decision.ID_RESET] == 0 and len(sync.buffer) == 10


def test_a_reordered_buffer_is_never_served_across_the_hole() -> None:
    # A reorder at the buffer's front looks like a backward jump: whatever the core
    # keeps, it must not go LIVE past the event it discarded.
    sync = BookSync("btc_usdt", SpotSequencer())
    for n in (103, 102, 104):
        sync.on_update(spot_event(n, n))
    decision = sync.on_snapshot(snapshot(101))
    assert decision is not Decision.SNAPSHOT_ACCEPTED or sync.update_id == 102
    if sync.is_live:
        assert sync.on_update(spot_event(105, 105)) is Decision.GAP
