"""Research outputs of a replay: iterators, samples, seeking, pacing, the gap audit, pandas,
Parquet, the plot, and replay_many on a process pool and on a Dask LocalCluster."""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from helpers import wait_for

from feeds.capture import Recorder, SegmentReader, iter_events, iter_views, open_capture, replay
from feeds.capture.many import plan, replay_many
from feeds.capture.research import gap_table, gap_table_text, sample_books
from feeds.manager import BookManager
from feeds.rest import MarketClient
from feeds.sim import Simulator
from orderbook import BookView, DepthUpdate


async def _record(out: Path) -> None:
    async with Simulator(
        spot_symbols=["btc_usdt"], futures_symbols=["eth_usdt"], seed=3, speed=4
    ) as sim:
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(
            spot_ws_url=sim.spot_ws_url, futures_ws_url=sim.futures_ws_url, market=market
        )
        async with market, manager:
            recorder = Recorder(
                out, max_segment_seconds=1.0, flush_interval=0.2, checkpoint_interval=0.25
            )
            recorder.attach(manager)
            await manager.add("spot", "btc_usdt")
            await manager.add("futures", "eth_usdt")
            await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()), 10)
            await asyncio.sleep(1.2)
            sim.faults.set("spot", "btc_usdt", drop_next=1)  # one gap, healed by a resync
            await asyncio.sleep(1.3)
            recorder.close()


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("research")
    asyncio.run(_record(out))
    return out


def test_iter_events_yields_every_depth_event_in_receive_order(capture: Path) -> None:
    items = list(iter_events(capture))
    report = replay(capture)
    assert report.ok, report.summary()
    assert len(items) == report.depth_events > 100
    assert all(isinstance(i.event, DepthUpdate) for i in items)
    times = [i.time_ns for i in items]
    assert times == sorted(times)
    assert {(i.venue, i.symbol) for i in items} == {("spot", "btc_usdt"), ("futures", "eth_usdt")}
    only = list(iter_events(capture, symbols=["futures:eth_usdt"]))
    assert only and all(i.symbol == "eth_usdt" for i in only)


def test_views_sampled_every_k_ms(capture: Path) -> None:
    views = list(iter_views(capture, every_ms=100, levels=5, symbols=["spot:btc_usdt"]))
    assert len(views) > 15
    times = [t for t, *_ in views]
    assert all(t % 100_000_000 == 0 for t in times) and times == sorted(times)
    assert all(isinstance(v, BookView) and len(v.bids) <= 5 for *_, v in views)


def test_sampled_numpy_arrays(capture: Path) -> None:
    samples, _report = sample_books(capture, every_ms=50, levels=10)
    s = samples["spot", "btc_usdt"]
    assert s.bids.shape == (len(s.time_ns), 10, 2) and s.asks.shape == s.bids.shape
    live = s.live
    assert live.any()
    assert np.all(s.bids[live, 0, 0] < s.asks[live, 0, 0])
    assert np.all(np.diff(s.bids[live][:, :, 0], axis=1)[np.isfinite(s.bids[live][:, 1:, 0])] < 0)
    assert np.all(s.spread[live] > 0)


def test_seek_to_a_time_starts_from_the_right_segment(capture: Path) -> None:
    (run,) = open_capture(capture)
    assert len(run.segments) >= 3
    second = next(iter(SegmentReader(run.segments[1])))[1]
    start = second + 200_000_000
    items = list(iter_events(capture, start_ns=start))
    assert items and items[0].time_ns >= start
    full = [i for i in iter_events(capture) if i.time_ns >= start]
    assert [(i.time_ns, i.event.last_id) for i in items] == [
        (i.time_ns, i.event.last_id) for i in full
    ]
    report = replay(capture, start_ns=start)
    assert report.segments == len(run.segments) - 1 and report.ok


def test_seek_to_an_exchange_time_starts_from_the_right_segment(capture: Path) -> None:
    (run,) = open_capture(capture)
    assert len(run.segments) >= 3
    # Futures pushes carry the exchange's time ("t"); spot pushes carry none (not in the
    # window of an exchange-time replay).
    timed = (i.event.event_time for i in iter_events(run.segments[1]))
    start = next(t for t in timed if t is not None) + 200
    items = list(iter_events(capture, start_exchange_ms=start, seek_margin=0))
    assert items and all(i.event.event_time >= start for i in items)
    full = [i for i in iter_events(capture) if (i.event.event_time or 0) >= start]
    assert [(i.time_ns, i.event.last_id) for i in items] == [
        (i.time_ns, i.event.last_id) for i in full
    ]
    report = replay(capture, start_exchange_ms=start, seek_margin=0)
    assert report.segments == len(run.segments) - 1 and report.ok
    # The default margin (5 s: longer than this capture) starts from the first segment.
    assert replay(capture, start_exchange_ms=start).segments == len(run.segments)


def test_speed_factor_paces_and_changes_nothing(capture: Path) -> None:
    (run,) = open_capture(capture)
    fast = [(i.time_ns, i.event.last_id) for i in iter_events(run.segments[-1])]
    paced = [(i.time_ns, i.event.last_id) for i in iter_events(run.segments[-1], speed=20.0)]
    assert paced == fast


def test_gap_audit_lists_every_gap_with_times(capture: Path) -> None:
    report = replay(capture)
    gaps = [g for g in report.gaps if g.kind == "gap"]
    assert gaps and report.books["spot", "btc_usdt"].gaps == len(gaps)
    assert all(g.end_ns is None or g.end_ns >= g.start_ns for g in report.gaps)
    rows = gap_table(report.gaps)
    assert rows[0]["start"].endswith("Z") and {"kind", "reason", "seconds"} <= set(rows[0])
    assert "sequence gap" in gap_table_text(report.gaps)


def test_dataframe_and_parquet(capture: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from feeds.capture.research import to_dataframe, to_parquet

    samples, _ = sample_books(capture, every_ms=100, levels=3)
    df = to_dataframe(samples)
    assert {"time", "venue", "symbol", "live", "mid", "bid_px_0", "ask_qty_2"} <= set(df.columns)
    assert len(df) == sum(len(s.time_ns) for s in samples.values())
    to_parquet(samples, tmp_path / "books.parquet")
    back = pd.read_parquet(tmp_path / "books.parquet")
    assert len(back) == len(df) and back["update_id"].tolist() == df["update_id"].tolist()


def test_plot(capture: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from feeds.capture.research import plot_book

    samples, report = sample_books(capture, every_ms=50, levels=10)
    out = tmp_path / "book.png"
    plot_book(samples["spot", "btc_usdt"], report.gaps, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


@pytest.mark.parametrize(
    ("flag", "blocked", "extra", "name"),
    [
        ("--plot", "matplotlib", "plot", "book.png"),
        ("--parquet", "pyarrow", "research", "books.parquet"),
        ("--parquet", "pandas", "research", "books.parquet"),
    ],
)
def test_a_missing_extra_or_folder_fails_before_the_replay(
    capture: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    flag: str,
    blocked: str,
    extra: str,
    name: str,
) -> None:
    from feeds.apps.cli import main

    with monkeypatch.context() as patch:  # restores the module (if imported) on exit
        patch.setitem(sys.modules, blocked, None)  # import fails: as if not installed
        assert main(["replay", str(capture), flag, str(tmp_path / name)]) == 2
    out, err = capsys.readouterr()
    assert (
        err.strip()
        == f"wexbook replay: error: this needs {blocked}: pip install 'wexbook[{extra}]'"
    )
    assert "replayed" not in out  # said before an hour of replay, not after
    pytest.importorskip(blocked)
    assert main(["replay", str(capture), flag, str(tmp_path / "no" / name)]) == 2
    out, err = capsys.readouterr()
    assert "no such directory" in err and "replayed" not in out
    assert main(["replay", str(capture), flag, str(tmp_path / name)]) == 0
    out, _ = capsys.readouterr()
    assert "replayed" in out and (tmp_path / name).stat().st_size > 0


def test_replay_many_on_an_executor(capture: Path, tmp_path: Path) -> None:
    tasks = plan(capture)
    assert {t.book for t in tasks} == {"spot:btc_usdt", "futures:eth_usdt"}
    with ThreadPoolExecutor(2) as pool:
        results = replay_many(capture, executor=pool, every_ms=200)
    assert [r.task for r in results] == tasks
    assert all(r.ok and r.error is None for r in results), [r.first_mismatch for r in results]
    single = replay(capture)
    for r in results:
        venue, symbol = r.task.book.split(":")
        assert r.counts == single.books[venue, symbol].counts
        assert r.samples is not None and len(r.samples.time_ns) > 5


def test_replay_many_on_a_dask_local_cluster(capture: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    pytest.importorskip("pyarrow")
    results = replay_many(capture, dask=True, workers=2, every_ms=200, out_dir=tmp_path)
    assert len(results) == 2 and all(r.ok for r in results), [r.error for r in results]
    assert all(r.parquet and Path(r.parquet).exists() for r in results)
    assert all(r.checkpoints == r.checkpoints_matched > 0 for r in results)


def test_replay_command_draws_and_exports(capture: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    pytest.importorskip("pyarrow")
    from feeds.apps.cli import main

    png, parquet = tmp_path / "b.png", tmp_path / "b.parquet"
    code = main(
        [
            "replay",
            str(capture),
            "--verify",
            "--book",
            "spot:btc_usdt",
            "--plot",
            str(png),
            "--parquet",
            str(parquet),
            "--every-ms",
            "50",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert png.stat().st_size > 20_000 and parquet.stat().st_size > 1_000
    assert f"wrote {png}" in out and "mismatches: 0" in out
    assert main(["replay", str(capture), "--plot", str(png), "--book", "spot:nope_usdt"]) == 2


def test_a_missing_extra_is_a_wexbook_error_and_still_an_import_error() -> None:
    from feeds.capture.research import MissingExtra, require_extra
    from orderbook import WexbookError

    with pytest.raises(WexbookError) as info:
        require_extra("wexbook_no_such_module", "research")
    assert isinstance(info.value, MissingExtra) and isinstance(info.value, ImportError)
    assert "pip install 'wexbook[research]'" in str(info.value)
