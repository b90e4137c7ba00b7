"""Parity with replay: a capture replayed reports the gap, resync and snapshot counts that
the live run's metrics exposed for every book, from the same decisions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from helpers import wait_for
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from feeds.capture import Recorder, replay
from feeds.metrics import register

SPOT = ["btc_usdt", "eth_usdt"]
FUTURES = ["btc_usdt"]


async def record_with_metrics(out: Path, sim_books: Any) -> dict:
    async with sim_books(SPOT, FUTURES, seed=11) as run:  # the demo's faults: drops, 429...
        sim, manager = run.sim, run.manager
        collector = register(manager)
        recorder = Recorder(out, checkpoint_interval=0.25, flush_interval=0.25)
        recorder.attach(manager)
        await run.add_all()
        sim.faults.set("spot", "eth_usdt", drop_next=1)
        await asyncio.sleep(1.5)
        sim.faults.set("spot", "eth_usdt", disconnect_after=1)
        await wait_for(lambda: manager.connections["spot"].connects >= 2, 10)
        sim.faults.set("spot", "eth_usdt", disconnect_after=None)
        await asyncio.sleep(1.0)
        recorder.close()  # the last decision recorded is the last one exposed
        text = generate_latest(collector.registry).decode()
    samples: dict = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[s.name, tuple(sorted(s.labels.items()))] = s.value
    return samples


def test_a_replayed_capture_reports_the_live_runs_gap_resync_and_snapshot_counts(
    tmp_path: Path, sim_books: Any
) -> None:
    live = asyncio.run(record_with_metrics(tmp_path / "cap", sim_books))
    report = replay(tmp_path / "cap")
    assert report.ok, report.summary()
    assert set(report.books) == {("spot", s) for s in SPOT} | {("futures", s) for s in FUTURES}
    total_gaps = 0
    for (venue, symbol), book in report.books.items():
        key = (("symbol", symbol), ("venue", venue))

        def metric(name: str, extra: tuple = (), key=key) -> float:
            return live.get((name, tuple(sorted((*key, *extra)))), 0)

        assert metric("wexbook_book_gaps_total") == book.gaps, (venue, symbol)
        assert metric("wexbook_book_generation") == book.generation
        assert metric("wexbook_book_generation") - 1 == book.resyncs
        for decision in ("snapshot-accepted", "snapshot-too-old", "gap", "overflow",
                         "feed-down", "resync-requested", "marked-stale"):  # fmt: skip
            got = metric("wexbook_book_decisions_total", (("decision", decision),))
            assert got == book.counts.get(decision, 0), (venue, symbol, decision)
        total_gaps += book.gaps
    assert total_gaps >= 1  # the drop (and the demo's faults) showed up on both sides
