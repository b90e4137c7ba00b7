"""A book never steps back in time: the ids it serves as LIVE only go forward.

The case found over real sockets: after a reconnect, a spot book went LIVE at
update id 1,000,238 from a lagging snapshot with nothing buffered, after it had
already served 1,000,263. The floor under a new generation is the highest id
served or seen; only evidence that the exchange's ids went back lifts it.
"""

from __future__ import annotations

import pytest
from helpers import snapshot, spot_event

from orderbook import BookSync, Decision, SpotSequencer, SyncState, accel


@pytest.fixture(params=["python", "compiled"])
def path(request):
    """Run each case on the reference and on the compiled hot path."""
    compiled = request.param == "compiled"
    if compiled and not accel.AVAILABLE:
        pytest.skip(f"compiled accelerator {accel.UNAVAILABLE}")
    before = accel.active() == "compiled"
    accel.use(compiled)
    yield request.param
    accel.use(before)


def live_at(last: int, **options) -> BookSync:
    sync = BookSync("btc_usdt", SpotSequencer(), **options)
    assert sync.on_snapshot(snapshot(last - 10)) is Decision.SNAPSHOT_ACCEPTED
    for n in range(last - 9, last + 1):
        assert sync.on_update(spot_event(n, n)) is Decision.APPLIED
    assert sync.update_id == last and sync.high_water == last
    return sync


def test_a_lagging_snapshot_after_a_reconnect_is_too_old(path) -> None:
    sync = live_at(1_000_263)
    sync.feed_down("feed down: connection closed")
    sync.request_resync("reconnected")
    decision = sync.on_snapshot(snapshot(1_000_238))  # nothing buffered yet
    assert decision is Decision.SNAPSHOT_TOO_OLD
    assert sync.state is SyncState.RESYNCING and sync.snapshot_wanted
    assert "behind update id 1000263" in sync.reason
    assert sync.counts[Decision.SNAPSHOT_TOO_OLD] == 1
    # The next snapshot at or past what was served is used.
    assert sync.on_snapshot(snapshot(1_000_263)) is Decision.SNAPSHOT_ACCEPTED
    assert sync.update_id == 1_000_263 and sync.generation == 2


def test_a_lagging_snapshot_with_newer_buffered_events_still_goes_live(path) -> None:
    sync = live_at(500)
    sync.on_update(spot_event(502, 502))  # a gap: out of LIVE, the event buffered
    assert sync.state is SyncState.RESYNCING
    for n in range(503, 506):
        sync.on_update(spot_event(n, n))
    # The snapshot itself lags what was served, but with the buffer it lands ahead.
    assert sync.on_snapshot(snapshot(501)) is Decision.SNAPSHOT_ACCEPTED
    assert sync.update_id == 505


def test_ids_seen_but_never_served_also_bound_the_next_generation(path) -> None:
    sync = live_at(300)
    sync.on_update(spot_event(305, 305))  # a gap at 305: seen, never served
    sync.feed_down("lost")
    sync.request_resync("reconnected")
    assert sync.on_snapshot(snapshot(302)) is Decision.SNAPSHOT_TOO_OLD
    assert sync.high_water == 305
    assert sync.on_snapshot(snapshot(306)) is Decision.SNAPSHOT_ACCEPTED


def test_an_exchange_restart_while_disconnected_is_a_new_epoch_after_enough_evidence(
    path,
) -> None:
    sync = live_at(5_000, max_unapplied=5)
    sync.feed_down("lost")
    sync.request_resync("reconnected")
    # The exchange restarted: its ids begin again. A few events are no evidence yet.
    for n in range(11, 14):
        sync.on_update(spot_event(n, n))
    assert sync.on_snapshot(snapshot(12)) is Decision.SNAPSHOT_TOO_OLD
    for n in range(14, 16):
        sync.on_update(spot_event(n, n))
    # max_unapplied (5) events in a row behind the floor: the ids really went back.
    assert sync.on_snapshot(snapshot(12)) is Decision.SNAPSHOT_ACCEPTED
    assert sync.counts[Decision.ID_RESET] == 1
    assert sync.update_id == 15
    # From here on the new epoch's ids are the floor.
    sync.on_update(spot_event(17, 17))
    sync.feed_down("lost")
    sync.request_resync("reconnected")
    assert sync.on_snapshot(snapshot(16)) is Decision.SNAPSHOT_TOO_OLD


def test_a_bogus_snapshot_far_ahead_does_not_pin_the_floor(path) -> None:
    sync = BookSync("btc_usdt", SpotSequencer(), max_unapplied=10)
    assert sync.on_snapshot(snapshot(10**9)) is Decision.SNAPSHOT_ACCEPTED
    for n in range(101, 111):
        sync.on_update(spot_event(n, n))
    assert sync.counts[Decision.NO_PROGRESS] == 1  # the stream stayed behind: an epoch break
    assert sync.high_water == 110
    sync.on_update(spot_event(111, 111))
    assert sync.on_snapshot(snapshot(110)) is Decision.SNAPSHOT_ACCEPTED
    assert sync.update_id == 111
