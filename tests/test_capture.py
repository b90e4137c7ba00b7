"""Capture and replay against the real simulator: record with faults, replay, verify.

One recording (module fixture, about 4 s of a fast simulator with the demo's faults and a
forced disconnect, rotated twice) is shared by the tests; each test reads or damages
its own copy.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import wait_for

from feeds.capture import CaptureError, Recorder, SegmentReader, open_capture, replay
from feeds.capture.format import SUFFIX
from feeds.capture.writer import SegmentWriter
from feeds.manager import BookManager
from feeds.rest import MarketClient
from feeds.sim import Simulator
from orderbook import Decision

SPOT = ["btc_usdt", "eth_usdt"]
FUTURES = ["btc_usdt"]


async def _record(out: Path, seconds: float, sim_books: Any) -> dict:
    async with sim_books(SPOT, FUTURES, seed=11) as run:
        sim, manager = run.sim, run.manager
        recorder = Recorder(out, checkpoint_interval=0.25, flush_interval=0.25)
        recorder.attach(manager)
        books = list(manager.books.values())

        async def live_then_rotate() -> None:
            # A segment ends once every book applied events in it (a rotation by time could
            # cut the first one before a book went LIVE: then it has nothing to check).
            await wait_for(lambda: all(b.sync.is_live for b in books), 10)
            await asyncio.sleep(seconds / 4)
            recorder.rotate()
            await asyncio.sleep(0.5)  # past the next checkpoint tick: the new segment

        await run.add_all()
        await live_then_rotate()
        sim.faults.set("spot", "eth_usdt", disconnect_after=1)
        await wait_for(lambda: manager.connections["spot"].connects >= 2, 10)
        sim.faults.set("spot", "eth_usdt", disconnect_after=None)
        await live_then_rotate()
        await asyncio.sleep(seconds / 4)
        recorder.close()
        counts = {
            f"{b.venue.value}:{b.symbol}": {d.value: n for d, n in b.sync.counts.items() if n}
            for b in manager.books.values()
        }
        return {"counts": counts, "stats": dict(recorder.stats), "segments": recorder.segments}


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory, sim_books: Any) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("capture")
    live = asyncio.run(_record(out, 3.0, sim_books))
    return out, live


def _copy(recording: tuple[Path, dict], tmp_path: Path) -> Path:
    out = tmp_path / "cap"
    shutil.copytree(recording[0], out)
    return out


def test_replay_verifies_every_checkpoint_and_decision(recording) -> None:
    out, live = recording
    assert live["stats"]["segments"] >= 2 and live["stats"]["write_errors"] == 0
    # The recorder counts its own CPU (the bench's bottom-up overhead reads these).
    assert all(0 < live["stats"][k] < 60e9 for k in ("checkpoint_cpu_ns", "writer_cpu_ns"))
    report = replay(out)
    assert report.ok, report.summary()
    assert report.problems == []
    assert report.checkpoints >= 20 and report.checkpoints_matched == report.checkpoints
    assert report.decisions >= 5 and report.decisions_matched == report.decisions
    # The replayed books made every decision the live ones made, counted the same.
    replayed = {f"{v}:{s}": b.counts for (v, s), b in report.books.items()}
    assert replayed == live["counts"]
    spot = report.books["spot", "eth_usdt"]
    assert spot.counts.get("feed-down", 0) >= 1 and spot.resyncs >= 1
    kinds = {g.kind for g in report.gaps}
    assert {"disconnected", "feed-down"} <= kinds


def test_every_segment_replays_on_its_own(recording) -> None:
    out, _ = recording
    segments = sorted(out.glob(f"*{SUFFIX}"))
    assert len(segments) >= 2
    for seg in segments:
        report = replay(seg)
        assert report.ok, (seg.name, report.summary())
        assert report.checkpoints_matched == report.checkpoints > 0


def test_header_is_self_describing_and_holds_no_secret(recording) -> None:
    out, _ = recording
    seg = sorted(out.glob(f"*{SUFFIX}"))[-1]
    reader = SegmentReader(seg)
    records = list(reader)
    header = records[0][4]
    assert records[0][0] == "header" and header["format"] == 1
    assert header["segment"] >= 1 and header["previous"].endswith(SUFFIX)
    assert set(header["ws_urls"]) == {"spot", "futures"}
    assert header["symbols"] and header["host"]["clock"]["monotonic"]
    assert all("?" not in (u or "") for u in header["ws_urls"].values())
    # The REST URLs of both venues (MarketClient.urls), as the manager's client has them.
    assert set(header["rest_urls"]) == {"spot", "futures"}
    assert all(u.startswith("http://127.0.0.1:") for u in header["rest_urls"].values())
    # A later segment starts with every book's exact state.
    starts = [r[4] for r in records if r[0] == "book" and r[4]["start"]]
    assert {(b["v"], b["s"]) for b in starts} == {("spot", s) for s in SPOT} | {
        ("futures", "btc_usdt")
    }
    assert any(b["levels"] for b in starts)
    assert reader.ended and reader.problems == []
    text = b"".join(orjson.dumps(r[4]) for r in records if r[0] != "F")
    assert b"listenKey" not in text and b"secret" not in text.lower()


def test_frames_are_kept_byte_for_byte(recording) -> None:
    out, _ = recording
    frames = [
        r for seg in sorted(out.glob(f"*{SUFFIX}")) for r in SegmentReader(seg) if r[0] == "F"
    ]
    assert len(frames) > 300
    assert any(b'"depth_update"' in f[4] for f in frames)
    assert all(f[4] == f[4].strip() and f[2] > 0 for f in frames)
    monos = [f[2] for f in frames]
    assert monos == sorted(monos)


def test_reading_ahead_gives_the_same_records_and_stops_with_the_reader(recording) -> None:
    import threading

    out, _ = recording
    seg = sorted(out.glob(f"*{SUFFIX}"))[0]
    assert list(SegmentReader(seg, prefetch=True)) == list(SegmentReader(seg))
    records = iter(SegmentReader(seg, prefetch=True))
    next(records)
    assert any(t.name == "wexbook-capture-read" for t in threading.enumerate())
    records.close()  # a consumer that stops early: the thread is not left behind
    assert not any(t.name == "wexbook-capture-read" for t in threading.enumerate())
    with pytest.raises(CaptureError, match="cannot read"):
        list(SegmentReader(out / f"missing{SUFFIX}", prefetch=True))


def test_a_truncated_tail_is_reported_with_its_offset_and_the_rest_replays(
    recording, tmp_path
) -> None:
    out = _copy(recording, tmp_path)
    seg = sorted(out.glob(f"*{SUFFIX}"))[0]
    data = seg.read_bytes()
    # The start of the last zstandard frame: cut the file in the middle of it.
    last = data.rfind(b"\x28\xb5\x2f\xfd")
    assert last > 0
    seg.write_bytes(data[: last + (len(data) - last) // 2])
    for prefetch in (False, True):
        reader = SegmentReader(seg, prefetch=prefetch)
        records = list(reader)
        assert records and not reader.ended
        (problem,) = reader.problems
        assert problem.kind == "truncated" and problem.offset == last
    assert str(last) in str(problem)
    # Cut short in the middle of a run (not its last segment: not what kill -9 leaves):
    # the rest replays, and the replay fails, saying what it could not read.
    report = replay(out)
    assert not report.ok and report.mismatch_count == 0, report.summary()
    assert [p.kind for p in report.problems] == ["truncated"]
    assert "truncated tail at byte" in report.summary()
    assert f"unchecked: unreadable data in {seg.name}" in report.summary()
    assert report.checkpoints_matched == report.checkpoints > 0


def test_corrupt_bytes_are_skipped_to_the_next_frame(recording, tmp_path) -> None:
    out = _copy(recording, tmp_path)
    seg = sorted(out.glob(f"*{SUFFIX}"))[0]
    data = bytearray(seg.read_bytes())
    starts = [i for i in range(len(data)) if data.startswith(b"\x28\xb5\x2f\xfd", i)]
    assert len(starts) >= 3
    middle = starts[1]
    data[middle + 20 : middle + 40] = b"\x00" * 20
    seg.write_bytes(bytes(data))
    reader = SegmentReader(seg)
    records = list(reader)
    assert any(p.kind == "corrupt" and p.offset == middle for p in reader.problems)
    assert reader.ended  # reading resumed after the damage and reached the end record
    assert records[0][0] == "header"


def test_a_missing_frame_is_a_mismatch_with_its_position(recording, tmp_path) -> None:
    out = _copy(recording, tmp_path)
    seg = sorted(out.glob(f"*{SUFFIX}"))[0]
    records = list(SegmentReader(seg))
    seg.unlink()
    depth = [i for i, r in enumerate(records) if r[0] == "F" and b'"depth_update"' in r[4]]
    dropped = depth[len(depth) // 2]
    header = records[0][4]
    with SegmentWriter(seg, {k: v for k, v in header.items() if k not in ("k", "format")}) as w:
        for i, (kind, wall, mono, conn, payload) in enumerate(records[1:], 1):
            if kind == "F" and i != dropped:
                w.frame(conn, payload, wall, mono)
            elif kind not in ("F", "end"):
                w.record(payload, wall, mono)
    report = replay(seg)
    assert not report.ok
    first = report.first_mismatch
    assert first is not None and first.segment == seg.name
    # Reported at the first recorded record after the missing frame that disagrees.
    assert first.record >= dropped - len([r for r in records[:dropped] if r[0] == "end"])
    assert first.what in ("checkpoint", "decision") and first.detail


def test_the_recorder_never_overwrites_a_file(tmp_path) -> None:
    async def main() -> Recorder:
        async with Simulator(spot_symbols=["btc_usdt"], futures_symbols=[], auto=False) as sim:
            market = MarketClient(sim.spot_http_url, None)
            manager = BookManager(spot_ws_url=sim.spot_ws_url, market=market)
            async with market, manager:
                recorder = Recorder(tmp_path)
                (tmp_path / f"{recorder.run}-00000{SUFFIX}").write_bytes(b"someone else's")
                recorder.attach(manager)
                await manager.add("spot", "btc_usdt")
                await sim.advance(3)
                book = manager.book("spot", "btc_usdt").sync
                await wait_for(lambda: book.is_live)
                # Events applied after the snapshot: a replay that applied none proves nothing.
                while not book.counts[Decision.APPLIED]:
                    await sim.advance(1)
                    await asyncio.sleep(0.05)
                recorder.close()
                return recorder

    recorder = asyncio.run(main())
    assert (tmp_path / f"{recorder.run}-00000{SUFFIX}").read_bytes() == b"someone else's"
    assert [p.name for p in recorder.segments] == [f"{recorder.run}-00001{SUFFIX}"]
    report = replay(recorder.segments[0])
    assert report.ok and report.books["spot", "btc_usdt"].state == "live"


def test_bad_paths_are_one_clear_error(tmp_path) -> None:
    with pytest.raises(CaptureError, match="no such file"):
        open_capture(tmp_path / "missing")
    with pytest.raises(CaptureError, match="no capture segments"):
        open_capture(tmp_path)
    bad = tmp_path / f"x-00000{SUFFIX}"
    bad.write_bytes(b"not zstandard at all")
    reader = SegmentReader(bad)
    assert list(reader) == [] and reader.problems[0].kind == "corrupt"
