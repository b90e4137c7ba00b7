"""A replay says "verified" only when it verified (issue 20, sections 1, 2 and 5).

Crafted captures (written with the real :class:`SegmentWriter`, their checkpoints taken from a
real ``BookSync`` run beside the writer, so an untouched one verifies) and a short simulator
recording with faults. Each damaged case must fail verification with one clear line; the
honest ones must still pass.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import spot_raw

from feeds.capture import Recorder, replay
from feeds.capture.format import PER_EVENT, SUFFIX, book_hash, book_state, counts_of
from feeds.capture.writer import SegmentWriter
from orderbook import BookSync, Decision, DepthSnapshot, SpotSequencer, Venue, parse_depth_update

CLI = [sys.executable, "-m", "feeds.apps.cli"]
T0 = 1_700_000_000 * 10**9
MS = 1_000_000


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


# -- crafted captures ------------------------------------------------------------------------


def _records(
    *,
    frames: int = 300,
    symbol: str = "btc_usdt",
    frame_symbol: str | None = None,
    segments_at: tuple[int, ...] = (),
) -> list[tuple]:
    """An honest one-book spot capture's records after the header: ``("J", record, wall)``
    and ``("F", conn, raw, wall)``; a frame every 10 ms, a checkpoint every 50 frames.
    Before frame ``n`` of ``segments_at``: ``("seg", book start record, wall)``."""
    out: list[tuple] = []
    wall = T0

    def observe(decision: Decision, sync: BookSync, payload: object) -> None:
        if decision in PER_EVENT:
            return
        record = {
            "k": "d",
            "v": "spot",
            "s": symbol,
            "d": decision.value,
            "state": sync.state.value,
            "update_id": sync.update_id,
            "generation": sync.generation,
            "reason": sync.reason,
            "hash": book_hash(sync) if sync.is_live else None,
        }
        out.append(("J", record, wall))

    sync = BookSync(symbol, SpotSequencer(), observer=observe)
    snap = DepthSnapshot(
        symbol,
        1000,
        [[f"{100 - i}.5", "1.25"] for i in range(30)],
        [[f"{101 + i}.5", "2.5"] for i in range(30)],
        None,
        500,
    )
    out.append(("J", {"k": "conn", "state": "new", "c": 0, "v": "spot", "url": None}, wall))
    out.append(("J", {"k": "book", "start": False, **book_state(sync)}, wall))
    wall += MS
    out.append(("J", {"k": "snap", "v": "spot", "s": symbol, "snapshot": snap._asdict()}, wall))
    sync.on_snapshot(snap)
    last = 1000
    for n in range(frames):
        wall += 10 * MS
        if n in segments_at:
            out.append(("seg", {"k": "book", "start": True, **book_state(sync)}, wall))
            wall += MS
        bids = [[f"{100 - n % 30}.5", f"{1 + n % 7}.5"]]
        asks = [[f"{101 + n % 30}.5", "0" if n % 5 == 0 else "3.5"]]
        raw = spot_raw(last + 1, last + 2, bids, asks, symbol=frame_symbol or symbol)
        last += 2
        out.append(("F", 0, raw, wall))
        if (frame_symbol or symbol) == symbol:
            sync.on_update(parse_depth_update(raw, Venue.SPOT))
        if n % 50 == 49:
            wall += MS
            cp = {
                "k": "cp",
                "v": "spot",
                "s": symbol,
                "state": sync.state.value,
                "update_id": sync.update_id,
                "generation": sync.generation,
                "counts": counts_of(sync),
                "hash": book_hash(sync) if sync.is_live else None,
            }
            out.append(("J", cp, wall))
    return out


def _header(run: str = "craft", segment: int = 0, previous: str | None = None) -> dict:
    return {
        "run": run,
        "segment": segment,
        "previous": previous,
        "conns": [],
        "symbols": [],
        "recorder": {"checkpoint_interval": 0.5, "flush_interval": 0.2},
        "t": T0,
        "m": T0,
    }


def _write(path: Path, records: list[tuple], header: dict | None = None) -> Path:
    with SegmentWriter(path, header or _header()) as w:
        for n, item in enumerate(records):
            if n % 40 == 39:
                w.flush()  # a zstandard frame every 40 records, as a recorder's flushes
            if item[0] == "F":
                w.frame(item[1], item[2], item[3], item[3])
            elif item[0] == "raw":  # a JSON record written as given (its own "t"/"m")
                w._add(orjson.dumps(item[1]) + b"\n")
            else:
                w.record(item[1], item[2], item[2])
    return path


def _seg(folder: Path, n: int = 0, run: str = "craft") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{run}-{n:05d}{SUFFIX}"


def test_a_crafted_honest_capture_verifies(tmp_path: Path) -> None:
    path = _write(_seg(tmp_path), _records())
    report = replay(path)
    assert report.ok, report.summary()
    assert report.checkpoints == report.checkpoints_matched == 6
    assert "unchecked" not in report.summary()
    done = _cli("replay", str(tmp_path), "--verify")
    assert done.returncode == 0, done.stdout + done.stderr


# -- section 1: nothing verified is a failure --------------------------------------------------


def test_a_folder_of_random_bytes_fails(tmp_path: Path) -> None:
    _seg(tmp_path).write_bytes(os.urandom(4096))
    report = replay(tmp_path)
    assert not report.ok
    assert "unchecked: no book" in report.summary()
    done = _cli("replay", str(tmp_path), "--verify")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "unchecked: no book" in done.stdout


def test_a_segment_whose_first_zstd_frame_is_unreadable_fails(tmp_path: Path) -> None:
    path = _seg(tmp_path)
    with SegmentWriter(path, _header()) as w:
        records = _records()
        for item in records[:3]:
            w.record(item[1], item[2], item[2])
        w.flush()  # header, conn, book and snapshot: the first zstandard frame
        for item in records[3:]:
            if item[0] == "F":
                w.frame(item[1], item[2], item[3], item[3])
            else:
                w.record(item[1], item[2], item[2])
    data = bytearray(path.read_bytes())
    data[20:60] = b"\x00" * 40  # inside the first frame
    path.write_bytes(bytes(data))
    report = replay(path)
    assert not report.ok
    text = report.summary()
    assert "unchecked: no book" in text and "corrupt" in text, text
    done = _cli("replay", str(tmp_path), "--verify")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "unchecked:" in done.stdout


def test_depth_events_of_another_symbol_fail(tmp_path: Path) -> None:
    """An import under the wrong name: every depth frame names a symbol with no book."""
    path = _write(_seg(tmp_path), _records(frame_symbol="btc_usdt_perp"))
    report = replay(path)
    assert not report.ok
    text = report.summary()
    assert "unchecked: 300 depth events matched no book (spot:btc_usdt_perp)" in text, text
    assert "spot:btc_usdt never applied an event" in text, text
    done = _cli("replay", str(tmp_path), "--verify")
    assert done.returncode == 1 and "matched no book" in done.stdout, done.stdout


def _three_segments(folder: Path, run: str = "craft") -> list[Path]:
    """One run in three segments; each later one starts with the book's exact state."""
    records = _records(frames=450, segments_at=(150, 300))
    cuts = [i for i, r in enumerate(records) if r[0] == "seg"]
    parts = [records[: cuts[0]], records[cuts[0] : cuts[1]], records[cuts[1] :]]
    paths = [_seg(folder, i, run) for i in range(3)]
    for i, part in enumerate(parts):
        header = _header(run, i, paths[i - 1].name if i else None)
        header["t"] = header["m"] = part[0][-1] if i else T0
        if i:  # the connections opened before
            header["conns"] = [{"c": 0, "v": "spot", "url": None}]
        part = [("J", *r[1:]) if r[0] == "seg" else r for r in part]
        _write(paths[i], part, header)
    return paths


def test_a_missing_middle_segment_fails(tmp_path: Path) -> None:
    paths = _three_segments(tmp_path)
    whole = replay(tmp_path)
    assert whole.ok, whole.summary()
    paths[1].unlink()
    report = replay(tmp_path)
    assert not report.ok
    text = report.summary()
    assert f"missing segment: {paths[2].name} follows {paths[1].name}" in text, text
    done = _cli("replay", str(tmp_path), "--verify")
    assert done.returncode == 1 and "missing segment" in done.stdout


def test_a_missing_first_segment_fails_but_a_chosen_one_does_not(tmp_path: Path) -> None:
    paths = _three_segments(tmp_path)
    assert replay(paths[1:]).ok  # chosen: the first is there, not asked for
    paths[0].unlink()
    report = replay(tmp_path)
    assert not report.ok and "missing segment" in report.summary(), report.summary()


def test_every_run_of_a_folder_is_reported(tmp_path: Path) -> None:
    _write(_seg(tmp_path, 0, "a"), _records(frames=300), _header("a"))
    _write(_seg(tmp_path, 0, "b"), _records(frames=200), _header("b"))
    report = replay(tmp_path)
    assert report.ok, report.summary()
    assert report.runs == 2 and [r.run for r in report.run_reports] == ["a", "b"]
    assert report.checkpoints == report.checkpoints_matched == 6 + 4
    assert report.books["spot", "btc_usdt"].events == 500
    text = report.summary()
    assert "run a" in text and "run b" in text and "checkpoints matched: 10/10" in text


def test_a_bad_first_run_fails_even_when_the_last_run_verifies(tmp_path: Path) -> None:
    _write(_seg(tmp_path, 0, "a"), _records(frame_symbol="eth_usdt"), _header("a"))
    _write(_seg(tmp_path, 0, "b"), _records(frames=200), _header("b"))
    report = replay(tmp_path)
    assert not report.ok
    assert "unchecked: run a: 300 depth events matched no book" in report.summary()


def test_frames_of_a_connection_that_does_not_exist_fail(tmp_path: Path) -> None:
    records = _records()
    records.insert(10, ("F", 7, spot_raw(1, 2), records[9][-1]))
    report = replay(_write(_seg(tmp_path), records))
    assert not report.ok
    assert "unchecked: 1 record(s) of a connection that does not exist" in report.summary()


def test_a_book_with_no_checkpoint_fails(tmp_path: Path) -> None:
    records = [r for r in _records() if not (r[0] == "J" and r[1]["k"] == "cp")]
    report = replay(_write(_seg(tmp_path), records))
    assert not report.ok
    text = report.summary()
    assert "no checkpoint of spot:btc_usdt" in text, text


def test_a_live_checkpoint_without_its_hash_fails(tmp_path: Path) -> None:
    records = _records()
    for item in records:
        if item[0] == "J" and item[1]["k"] == "cp":
            item[1]["hash"] = None
    report = replay(_write(_seg(tmp_path), records))
    assert not report.ok and report.checkpoints_matched == 0, report.summary()


# -- a truncated tail: tolerated only at the end of a run ---------------------------------------


def test_a_truncated_tail_is_tolerated_only_in_a_runs_last_segment(tmp_path: Path) -> None:
    paths = _three_segments(tmp_path / "a")
    data = paths[2].read_bytes()
    # Cut the last segment inside its last zstandard frame: what kill -9 leaves.
    big = _write(_seg(tmp_path / "b"), _records(frames=450))
    whole = big.read_bytes()
    big.write_bytes(whole[: len(whole) - 30])
    report = replay(big)
    assert report.ok, report.summary()
    assert [p.kind for p in report.problems] == ["truncated"]
    assert "what a kill -9 leaves" in report.summary()
    # The same cut in a middle segment is data lost in the middle: a failure.
    mid = paths[1].read_bytes()
    paths[1].write_bytes(mid[: len(mid) - 30])
    assert paths[2].read_bytes() == data
    middle = replay(tmp_path / "a")
    assert not middle.ok, middle.summary()
    assert "unchecked:" in middle.summary()


# -- section 2 (record level): bad fields are problems with a position --------------------------


def _bad_cases() -> dict[str, Any]:
    def header_conn_without_venue(records: list[tuple]) -> dict:
        records[0] = ("J", {"k": "conn", "state": "new", "c": 0, "url": None}, T0)
        return {}

    def cp_without_counts(records: list[tuple]) -> dict:
        cp = next(r for r in records if r[0] == "J" and r[1]["k"] == "cp")
        del cp[1]["counts"]
        return {}

    def snapshot_without_last_id(records: list[tuple]) -> dict:
        snap = next(r for r in records if r[0] == "J" and r[1]["k"] == "snap")
        del snap[1]["snapshot"]["last_id"]
        return {}

    def unknown_decision(records: list[tuple]) -> dict:
        records.insert(5, ("J", {"k": "d", "v": "spot", "s": "btc_usdt", "d": "explode",
                                 "state": "live", "update_id": 1, "generation": 1},
                           records[4][-1]))  # fmt: skip
        return {}

    def unknown_venue(records: list[tuple]) -> dict:
        records[0] = ("J", {"k": "conn", "state": "new", "c": 0, "v": "options", "url": None}, T0)
        return {}

    def time_as_a_string(records: list[tuple]) -> dict:
        records.insert(5, ("raw", {"k": "send", "c": 0, "text": "x", "t": "soon", "m": 1}))
        return {}

    def header_conns_without_venue(records: list[tuple]) -> dict:
        records[0] = ("J", {"k": "send", "c": 0, "text": "hi"}, T0)
        return {"conns": [{"c": 0, "url": None}]}

    return {
        "conn-without-venue": header_conn_without_venue,
        "header-conns-without-venue": header_conns_without_venue,
        "cp-without-counts": cp_without_counts,
        "snapshot-without-last-id": snapshot_without_last_id,
        "unknown-decision": unknown_decision,
        "unknown-venue": unknown_venue,
        "time-as-a-string": time_as_a_string,
    }


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_a_bad_record_is_a_problem_with_its_position(case: str, tmp_path: Path) -> None:
    records = _records()
    extra = _bad_cases()[case](records)
    header = {**_header(), **extra}
    path = _write(_seg(tmp_path), records, header)
    report = replay(path)  # no exception
    assert not report.ok
    text = report.summary()
    # One line with the segment and the record's number (the reader's own, for a record
    # it cannot parse: "unreadable: ... bad record at record N").
    bad = [line for line in text.splitlines() if line.startswith(("bad record:", "unreadable:"))]
    assert bad and path.name in bad[0] and "record " in bad[0], text
    assert "unchecked:" in text
    # The rest is replayed: later checkpoints are still compared.
    if case == "snapshot-without-last-id":  # the book never had its snapshot: compared, wrong
        assert report.checkpoints >= 5 and report.mismatch_count, text
    elif case not in ("conn-without-venue", "unknown-venue", "header-conns-without-venue"):
        assert report.checkpoints_matched >= 5, text
    done = _cli("replay", str(tmp_path), "--verify")
    assert done.returncode == 1, (case, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and bad[0].split(":")[0] in done.stdout


@pytest.mark.parametrize("dialect", ["kraken", "binance-options"])
def test_an_unknown_frame_dialect_is_a_bad_record_that_names_it(
    dialect: str, tmp_path: Path
) -> None:
    records = _records()
    conn = {"k": "conn", "state": "new", "c": 0, "v": "spot", "dialect": dialect, "url": None}
    records[0] = ("J", conn, T0)
    path = _write(_seg(tmp_path), records)
    report = replay(path)
    assert not report.ok
    bad = [str(b) for b in report.bad_records]
    assert len(bad) == 1 and f"unknown frame dialect {dialect!r}" in bad[0], bad


# -- section 5: windows and options that mean what they say -------------------------------------


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory, sim_books: Any) -> Path:
    """About 3 s of the simulator with the demo's faults, two spot books and one futures."""
    out = tmp_path_factory.mktemp("faulty")

    async def main() -> None:
        async with sim_books(["btc_usdt", "eth_usdt"], ["btc_usdt"], seed=5) as run:
            recorder = Recorder(out, checkpoint_interval=0.25, flush_interval=0.25)
            recorder.attach(run.manager)
            await run.add_all()
            await asyncio.sleep(3.0)
            recorder.close()

    asyncio.run(main())
    return out


def test_an_honest_recording_with_faults_verifies(faulty: Path) -> None:
    report = replay(faulty)
    assert report.ok, report.summary()
    assert report.checkpoints_matched == report.checkpoints > 10
    assert not report.unchecked


def test_an_inverted_or_empty_window_is_bad_usage(faulty: Path) -> None:
    for window in (["--start", "+2", "--stop", "+1"], ["--start", "+1", "--stop", "+1"]):
        done = _cli("replay", str(faulty), "--verify", *window)
        assert done.returncode == 2, (window, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "window" in done.stderr
    for bad in ("+inf", "+nan", "+-3"):
        done = _cli("replay", str(faulty), "--start", bad)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, bad


def test_a_window_is_said_and_one_past_the_end_fails(faulty: Path) -> None:
    done = _cli("replay", str(faulty), "--verify", "--start", "+0.5", "--stop", "+2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "window (receive time):" in done.stdout
    past = _cli("replay", str(faulty), "--verify", "--start", "+500")
    assert past.returncode == 1, past.stdout + past.stderr
    assert "nothing in the window" in past.stdout


def test_an_exchange_time_stop_applies_in_every_mode(faulty: Path) -> None:
    from feeds.capture import iter_events

    timed = [i.event.event_time for i in iter_events(faulty) if i.event.event_time]
    assert len(timed) > 20
    stop = sorted(timed)[len(timed) // 2]
    full = replay(faulty)
    cut = replay(faulty, stop_exchange_ms=stop)
    assert cut.depth_events < full.depth_events * 0.8, (cut.depth_events, full.depth_events)
    assert "window (exchange time):" in cut.summary()
    import datetime as dt

    iso = dt.datetime.fromtimestamp(stop / 1000, dt.UTC).isoformat().replace("+00:00", "Z")
    done = _cli("replay", str(faulty), "--stop", iso, "--exchange-time")
    assert "window (exchange time):" in done.stdout, done.stdout + done.stderr
    events = int(done.stdout.split(" frames (")[1].split(" depth")[0])
    assert events < full.depth_events * 0.8


def test_levels_and_durations_are_one_line_errors(tmp_path: Path) -> None:
    for args in (
        ["replay", str(tmp_path), "--levels", "0"],
        ["replay", str(tmp_path), "--levels", "501"],
        ["record", "--seconds", "1e9999"],
        ["record", "--seconds", "nan"],
        ["record", "--flush-interval", "inf"],
    ):
        done = _cli(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        err = done.stderr.strip()
        assert len(err.splitlines()) == 1 and len(err) < 200, (args, err)


def test_depth_events_before_their_book_are_said_not_failed(tmp_path: Path) -> None:
    """A recording that hears a symbol's pushes before it adds the book (an import reading
    the frames before the snapshot): those events are said, and the replay still verifies."""
    records = _records()
    conn, book = records[0], records[1]
    early = [("F", 0, spot_raw(1, 2 + n, symbol="btc_usdt"), T0 + n) for n in range(3)]
    records = [conn, *early, ("J", book[1], T0 + 5), *records[2:]]
    report = replay(_write(_seg(tmp_path), records))
    assert report.ok, report.summary()
    assert "warning: 3 depth events came before their book was added (spot:btc_usdt)" in (
        report.summary()
    )
