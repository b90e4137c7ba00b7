"""Research samples never see the future (issue 20, section 4).

A sample at time t is the book as of the last record at or before t, in its state then:
checked against the gap audit (no LIVE sample inside a span it marks not live) and against
a replay stopped at t (the same state and update id), on a simulator capture with faults.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from feeds.capture import Recorder, iter_views, replay
from feeds.capture.research import sample_books

SPOT = ["btc_usdt", "eth_usdt"]
FUTURES = ["btc_usdt"]
EVERY_MS = 5


async def _record(out: Path, sim_books: Any) -> None:
    async with sim_books(SPOT, FUTURES, seed=23) as run:
        for symbol in SPOT:  # many gaps, each healed by a snapshot: many span ends
            run.sim.faults.set("spot", symbol, drop=0.03)
        recorder = Recorder(out, checkpoint_interval=0.25, flush_interval=0.25)
        recorder.attach(run.manager)
        await run.add_all()
        await asyncio.sleep(3.5)
        recorder.close()


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory, sim_books: Any) -> Path:
    out = tmp_path_factory.mktemp("lookahead")
    asyncio.run(_record(out, sim_books))
    return out


def _spans(report, key) -> list[tuple[int, float]]:
    return [
        (g.start_ns, g.end_ns if g.end_ns is not None else float("inf"))
        for g in report.gaps
        if (g.venue, g.symbol) == key
    ]


def test_no_live_sample_inside_a_not_live_span(capture: Path) -> None:
    samples, report = sample_books(capture, every_ms=EVERY_MS, levels=5)
    assert report.ok, report.summary()
    spans_seen = 0
    for key, s in samples.items():
        spans = _spans(report, key)
        spans_seen += len(spans)
        for t, live in zip(s.time_ns.tolist(), s.live.tolist(), strict=True):
            inside = [(a, b) for a, b in spans if a <= t < b]
            assert not (live and inside), (key, t, inside)
            if inside:
                assert not live
    assert spans_seen >= 5, "the capture has too few not-live spans to test anything"


def _near_span_ends(report, key, times: np.ndarray, window_ns: int) -> list[int]:
    ends = [b for _, b in _spans(report, key) if b != float("inf")]
    chosen = [int(t) for t in times for b in ends if b - window_ns <= t <= b + window_ns]
    return sorted(set(chosen))


def test_a_sample_is_the_book_as_of_its_time(capture: Path) -> None:
    """Around each span's end (where a later snapshot leaked backwards), a sample equals a
    replay stopped at the sample's time: its state and update id."""
    samples, report = sample_books(capture, every_ms=EVERY_MS, levels=5)
    checked = 0
    for key, s in samples.items():
        index = {int(t): i for i, t in enumerate(s.time_ns.tolist())}
        times = _near_span_ends(report, key, s.time_ns, 3 * EVERY_MS * 1_000_000)
        for t in times[:: max(1, len(times) // 25)]:
            truth = replay(capture, stop_ns=t, verify=False, symbols=[key]).books[key]
            i = index[t]
            assert bool(s.live[i]) == (truth.state == "live"), (key, t, truth.state)
            want = -1 if truth.update_id is None else truth.update_id
            assert int(s.update_id[i]) == want, (key, t, int(s.update_id[i]), want)
            checked += 1
    assert checked >= 10


def test_views_agree_with_the_samples(capture: Path) -> None:
    samples, _ = sample_books(capture, every_ms=50, levels=5, symbols=["spot:btc_usdt"])
    s = samples["spot", "btc_usdt"]
    views = list(iter_views(capture, every_ms=50, levels=5, symbols=["spot:btc_usdt"]))
    assert [t for t, *_ in views] == s.time_ns.tolist()
    assert [v.state == "live" for *_, v in views] == s.live.tolist()
    assert [-1 if v.update_id is None else v.update_id for *_, v in views] == s.update_id.tolist()
