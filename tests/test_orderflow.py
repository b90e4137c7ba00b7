"""The generated order flow used by the demo, the benchmarks and the simulator."""

from __future__ import annotations

import orjson

from feeds.sim.flow import FlowConfig, OrderFlow
from orderbook import BookSync, SpotSequencer, parse_depth_update, spot_snapshot


def test_same_seed_same_frames() -> None:
    assert OrderFlow(seed=3).spot_frames(200) == OrderFlow(seed=3).spot_frames(200)
    assert OrderFlow(seed=3).spot_frames(50) != OrderFlow(seed=4).spot_frames(50)


def test_stream_chains_and_never_crosses() -> None:
    flow = OrderFlow(seed=1, config=FlowConfig(levels=40, min_levels=10))
    prev = flow.last_id
    for _ in range(2000):
        first, last, bids, asks = flow.step()
        assert first == prev + 1 and last >= first
        assert len(bids) <= flow.config.max_changes and len(asks) <= flow.config.max_changes
        assert bids or asks
        prev = last
        assert flow.best_bid() < flow.best_ask()
        assert len(flow.bids) >= flow.config.min_levels


def test_benchmark_shape_snapshot() -> None:
    flow = OrderFlow(seed=0)
    result = flow.spot_snapshot_result(500)
    assert len(result["bids"]) == len(result["asks"]) == 500
    best_bid, best_ask = float(result["bids"][0][0]), float(result["asks"][0][0])
    assert 29990 < best_bid < 30000 < best_ask < 30010
    assert result["bids"][0][0].split(".")[1].__len__() == 2


def test_changes_mix_updates_inserts_and_deletes() -> None:
    flow = OrderFlow(seed=5)
    kinds = {"update": 0, "insert": 0, "delete": 0}
    for _ in range(2000):
        before = dict(flow.bids)
        _, _, bids, _ = flow.step()
        for price, qty in bids:
            tick = round(float(price) * 100)
            if float(qty) == 0:
                kinds["delete"] += 1
            elif tick in before:
                kinds["update"] += 1
            else:
                kinds["insert"] += 1
    total = sum(kinds.values())
    assert 0.55 < kinds["update"] / total < 0.8
    assert 0.1 < kinds["insert"] / total < 0.25
    assert 0.1 < kinds["delete"] / total < 0.25


def test_a_client_following_the_stream_matches_ground_truth() -> None:
    flow = OrderFlow(seed=9, config=FlowConfig(levels=60, min_levels=20))
    sync = BookSync("btc_usdt", SpotSequencer())
    snap = spot_snapshot(orjson.loads(orjson.dumps(flow.spot_snapshot_result(1000))), "btc_usdt")
    sync.on_snapshot(snap)
    for raw in flow.spot_frames(500):
        sync.on_update(parse_depth_update(raw, "spot"))
    assert sync.is_live and sync.update_id == flow.last_id
    bids, asks = flow.exact_levels()
    got_bids, got_asks = sync.live_book().depth()
    assert got_bids == bids and got_asks == asks
