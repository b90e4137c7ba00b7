"""The API document's numbered rules, each with its own example events.

Spot ("Orderbook manage"): snapshot ``lastUpdateId`` = L; rule 4 drops ``i <= L``;
rule 5 wants the first event to have ``fi <= L+1 <= i``; rule 6 wants
``fi == previous i + 1``; rules 7-9 are about quantities (absolute, 0 deletes,
deleting an absent level is normal). The document's example event is
``fi=121, i=123`` (spot) and ``pu=120, fu=121, u=123`` (futures).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from helpers import futures_event, snapshot, spot_event

from orderbook import (
    BookSync,
    ChainRule,
    Decision,
    FuturesSequencer,
    Level,
    SpotSequencer,
    SyncState,
    sequencer_for,
)

pytestmark = pytest.mark.usefixtures("hot_path")


def spot_sync() -> BookSync:
    return BookSync("btc_usdt", SpotSequencer())


def futures_sync(rule: ChainRule = ChainRule.PU) -> BookSync:
    return BookSync("btc_usdt", FuturesSequencer(rule))


# -- spot ----------------------------------------------------------------------


def test_spot_rule_2_events_are_buffered_until_a_snapshot() -> None:
    sync = spot_sync()
    assert sync.on_update(spot_event(121, 123)) is Decision.BUFFERED
    assert sync.state is SyncState.SYNCING and len(sync.buffer) == 1


def test_spot_rule_4_drops_events_covered_by_the_snapshot() -> None:
    sync = spot_sync()
    sync.on_update(spot_event(118, 120, bids=[("1", "9")]))
    sync.on_update(spot_event(121, 123, asks=[("34000", "1.2")]))
    assert sync.on_snapshot(snapshot(123)) is Decision.SNAPSHOT_ACCEPTED
    assert sync.counts[Decision.DROPPED_OLD] == 2
    assert sync.update_id == 123
    assert sync.live_book().best_ask() == Level(Decimal("34000"), Decimal("1"))


def test_spot_rule_5_first_event_straddles_the_snapshot() -> None:
    sync = spot_sync()
    sync.on_update(spot_event(121, 123, asks=[("34000", "1.2")]))
    assert sync.on_snapshot(snapshot(121)) is Decision.SNAPSHOT_ACCEPTED  # 121 <= 122 <= 123
    assert sync.update_id == 123
    assert sync.live_book().best_ask() == Level(Decimal("34000"), Decimal("1.2"))


def test_spot_rule_5_snapshot_older_than_the_buffer_is_refused() -> None:
    sync = spot_sync()
    sync.on_update(spot_event(121, 123))
    assert sync.on_snapshot(snapshot(119)) is Decision.SNAPSHOT_TOO_OLD  # fi 121 > L+1 = 120
    assert sync.state is SyncState.SYNCING and sync.snapshot_wanted
    assert len(sync.buffer) == 1, "the buffered event is kept for the next attempt"
    assert sync.on_snapshot(snapshot(120)) is Decision.SNAPSHOT_ACCEPTED
    assert sync.update_id == 123


def test_spot_rule_6_chain_and_gap() -> None:
    sync = spot_sync()
    sync.on_snapshot(snapshot(120))
    assert sync.on_update(spot_event(121, 123)) is Decision.APPLIED
    assert sync.on_update(spot_event(124, 124)) is Decision.APPLIED
    assert sync.on_update(spot_event(126, 127)) is Decision.GAP  # 125 missing
    assert sync.state is SyncState.RESYNCING and sync.snapshot_wanted
    assert sync.sequencer.fi_violations == 1
    assert not sync.is_live


def test_spot_duplicate_after_live_is_dropped() -> None:
    sync = spot_sync()
    sync.on_snapshot(snapshot(120))
    sync.on_update(spot_event(121, 123))
    assert sync.on_update(spot_event(121, 123)) is Decision.DUPLICATE
    assert sync.is_live and sync.update_id == 123


def test_rules_7_to_9_quantities() -> None:
    sync = spot_sync()
    sync.on_snapshot(snapshot(120, bids=[("32000", "0.2")], asks=[("34000", "1.2")]))
    sync.on_update(spot_event(121, 123, asks=[("34000", "2.3")]))  # 7: absolute
    sync.on_update(spot_event(124, 125, bids=[("32000", "0")]))  # 8: zero deletes
    sync.on_update(spot_event(126, 126, bids=[("31000", "0")]))  # 9: absent delete is normal
    book = sync.live_book()
    assert book.best_ask() == Level(Decimal("34000"), Decimal("2.3"))
    assert book.best_bid() is None
    assert sync.is_live


# -- futures -------------------------------------------------------------------


def test_futures_rule_4_and_5_with_the_document_example() -> None:
    sync = futures_sync()
    sync.on_update(futures_event(117, 118, 120))
    sync.on_update(futures_event(120, 121, 123, asks=[("34000", "1.2")]))
    assert sync.on_snapshot(snapshot(121)) is Decision.SNAPSHOT_ACCEPTED
    assert sync.counts[Decision.DROPPED_OLD] == 1
    assert sync.update_id == 123


def test_futures_snapshot_too_old() -> None:
    sync = futures_sync()
    sync.on_update(futures_event(120, 121, 123))
    assert sync.on_snapshot(snapshot(119)) is Decision.SNAPSHOT_TOO_OLD
    assert len(sync.buffer) == 1


def test_futures_pu_rule_accepts_skipped_ids_and_counts_fu_violations() -> None:
    sync = futures_sync()
    sync.on_snapshot(snapshot(120))
    assert sync.on_update(futures_event(120, 121, 123)) is Decision.APPLIED
    # A 250 ms stream merged ids 124..125 away: fu runs ahead, pu still chains.
    assert sync.on_update(futures_event(123, 126, 128)) is Decision.APPLIED
    seq = sync.sequencer
    assert (seq.pu_violations, seq.fu_violations) == (0, 1)
    assert sync.on_update(futures_event(127, 129, 130)) is Decision.GAP  # pu != 128
    assert seq.pu_violations == 1
    assert sync.state is SyncState.RESYNCING


@pytest.mark.parametrize(
    ("rule", "skip_ok", "broken_pu_ok"),
    [
        (ChainRule.PU, True, False),
        (ChainRule.FU, False, True),
        (ChainRule.EITHER, True, True),
        (ChainRule.BOTH, False, False),
    ],
)
def test_futures_selectable_rules(rule: ChainRule, skip_ok: bool, broken_pu_ok: bool) -> None:
    skip = futures_sync(rule)
    skip.on_snapshot(snapshot(120))
    skip.on_update(futures_event(120, 121, 123))
    assert (skip.on_update(futures_event(123, 126, 128)) is Decision.APPLIED) is skip_ok

    broken = futures_sync(rule)
    broken.on_snapshot(snapshot(120))
    broken.on_update(futures_event(120, 121, 123))
    # fu chains on u but pu does not.
    assert (broken.on_update(futures_event(122, 124, 125)) is Decision.APPLIED) is broken_pu_ok


def test_futures_first_event_rule_by_chain_rule() -> None:
    # fu <= L+1 <= u holds, but pu (125) is past the snapshot: under the pu rule
    # the ids between the snapshot and this event were in an event we never saw.
    for rule, accepted in ((ChainRule.PU, False), (ChainRule.FU, True)):
        sync = futures_sync(rule)
        sync.on_update(futures_event(125, 121, 130))
        got = sync.on_snapshot(snapshot(122))
        assert (got is Decision.SNAPSHOT_ACCEPTED) is accepted, rule


def test_sequencer_for() -> None:
    assert isinstance(sequencer_for("spot"), SpotSequencer)
    fut = sequencer_for("futures", "both")
    assert isinstance(fut, FuturesSequencer) and fut.rule is ChainRule.BOTH
    with pytest.raises(ValueError):
        sequencer_for("options")
