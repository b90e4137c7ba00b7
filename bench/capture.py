"""Capture and replay figures, each measured side by side in one run.

    python -m bench.capture                 # all four
    python -m bench.capture overhead        # CPU of the live path, recording vs not
    python -m bench.capture replay          # replay frames/s vs the bare engine, same frames
    python -m bench.capture size            # capture bytes per million frames vs raw JSON
    python -m bench.capture kill            # data lost to kill -9 of `wexbook record`
    python -m bench.capture integrity       # checksums + whole-book hash: CPU and size

- **overhead**: the simulator runs in its own process (its CPU is not counted); one
  BookManager keeps 4 spot + 4 futures books; rounds alternate without a Recorder, with
  one (a fresh one each round, its segment start timed apart), and with one whose own
  per-frame work runs on its Python reference; each round's process CPU (all threads:
  the writer thread is counted) is divided by the frames received in it. That difference
  of two totals moves by several percent with the machine's other load, so the recorder's
  own cost is also counted bottom-up: its writer thread's and checkpoint timer's CPU
  (``Recorder.stats``) per frame recorded, plus the per-frame stamp on the loop (timed
  alone over the same number of frames), over the live path's CPU without recording.
- **replay**: a generated spot stream (``bench.streams``; ``--frames``) is written as a
  capture; interleaved rounds time ``replay(verify=True)`` of the capture (reading,
  decompressing, parsing, sequencing, applying) against the bare engine loop
  (``BookSync.on_frame`` over the same frames in memory): by wall time with the
  read-ahead thread (decompression on a second core), by CPU time of all threads, and by
  wall time without the thread (``prefetch=False``).
- **size**: compressed capture bytes over the frames' raw JSON bytes, for the generated
  stream, a simulator recording, and the real Binance samples in ``../shared/realdata``
  when present; and the bytes per million frames.
- **kill**: ``wexbook record`` in a subprocess, ``kill -9`` after a random time, then
  the kill time minus the receive time of the last record that reads back.
- **integrity** (not in the default four): what frame checksums and whole-book checkpoint
  hashes cost. First one checkpoint's hash of a book of 20, 1,000 and 5,000 levels per
  side, whole book against the top 20 levels (captures before); then, as **overhead**
  does, interleaved rounds of the live path with no recorder, with a recorder as before
  (top-20 hash, no checksum: ``legacy``) and with the recorder as it is (``integrity``):
  CPU per frame of all threads, the recorder's own CPU (checkpoints on the loop, the
  writer thread) and the capture bytes per frame of each, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import zstandard

from bench.runners import loop_engine, setup_engine
from bench.simproc import start_simulator
from bench.streams import bench_stream
from feeds.capture import Recorder, SegmentReader, open_capture, replay
from feeds.capture.format import LEGACY_HASH_LEVELS, SUFFIX, book_hash, counts_of
from feeds.capture.writer import SegmentWriter
from feeds.manager import BookManager
from feeds.rest import MarketClient
from orderbook import BookSync, SpotSequencer, accel, spot_snapshot

REALDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata"


# -- overhead --------------------------------------------------------------------------


async def _overhead(speed: float, symbols: int, rounds: int, seconds: float) -> dict:
    names = [f"s{n}_usdt" for n in range(symbols)]
    proc, urls = start_simulator(speed, names, rounds * 2 * seconds + 60)
    tmp = Path(tempfile.mkdtemp(prefix="wexbook-bench-"))
    try:
        market = MarketClient(urls["spot REST"], urls["futures REST"])
        manager = BookManager(
            spot_ws_url=urls["spot websocket"],
            futures_ws_url=urls["futures websocket"],
            market=market,
            max_concurrent_snapshots=8,
        )
        results: dict[str, list[float]] = {"off": [], "on": [], "on_python": []}
        fps: list[float] = []
        starts: list[float] = []
        # The recorder's own CPU per frame: on the event loop (the stamp, the checkpoints)
        # and on its writer thread (packing, compressing, writing).
        own_loop: dict[str, list[float]] = {"on": [], "on_python": []}
        own_writer: dict[str, list[float]] = {"on": [], "on_python": []}
        captured = 0
        async with market, manager:
            await manager.add_many("spot", names)
            await manager.add_many("futures", names)
            while not all(b.sync.is_live for b in manager.books.values()):
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            modes = ["off", "on", "on_python"] if accel.active() == "compiled" else ["off", "on"]
            for n in range(rounds * len(modes)):
                mode = modes[n % len(modes)]
                recorder = None
                if mode != "off":
                    # A segment's start (the header and every book's whole state) is
                    # counted apart: a recording pays it once per segment (hourly).
                    cpu0 = time.process_time()
                    # on_python: the recorder's own per-frame work on its Python reference
                    # (the books stay on the compiled engine).
                    with accel.path(mode == "on"):
                        recorder = Recorder(tmp / f"r{n}")
                    recorder.attach(manager)
                    starts.append(time.process_time() - cpu0)
                events0 = sum(b.depth_events for b in manager.books.values())
                cpu0, wall0 = time.process_time(), time.perf_counter()
                await asyncio.sleep(seconds)
                if recorder is not None:
                    recorder.close()  # the last flush is part of the round's cost
                    captured += recorder.stats["frames"]
                cpu1, wall1 = time.process_time(), time.perf_counter()
                events = sum(b.depth_events for b in manager.books.values()) - events0
                results[mode].append((cpu1 - cpu0) / max(events, 1) * 1e6)
                fps.append(events / (wall1 - wall0))
                if recorder is not None:  # after the round's clock: the stamp is timed alone
                    st = recorder.stats
                    frames = max(st["frames"], 1)
                    stamp_ns = _stamp_ns(tmp / f"s{n}", mode == "on")
                    own_loop[mode].append((st["checkpoint_cpu_ns"] / frames + stamp_ns) / 1e3)
                    own_writer[mode].append(st["writer_cpu_ns"] / frames / 1e3)
        off, on = statistics.median(results["off"]), statistics.median(results["on"])
        python = statistics.median(results["on_python"]) if results["on_python"] else None
        return {
            "cpu_us_per_frame_off": off,
            "cpu_us_per_frame_on": on,
            "ratio": on / off,
            "ratio_python": None if python is None else python / off,
            "own_us": {
                mode: (statistics.median(own_loop[mode]), statistics.median(own_writer[mode]))
                for mode in own_loop
                if own_loop[mode]
            },
            "frames_per_s": statistics.median(fps),
            "segment_start_ms": statistics.median(starts) * 1e3,
            "rounds": rounds,
            "captured_frames": captured,
        }
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def _stamp_ns(directory: Path, compiled: bool, n: int = 100_000) -> float:
    """The recorder's per-frame work on the event loop (stamp and queue), ns per frame."""
    with accel.path(compiled):
        recorder = Recorder(directory)
    conn = object()  # any hashable: the stamp only looks its index up
    recorder._conns[conn] = 0  # indexed already, as every connection is after its first frame
    stamp = recorder.on_frame
    frame = b'{"topic":"depth_update","data":{}}'
    t = time.process_time_ns()
    for _ in range(n):
        stamp(conn, frame)
    ns = (time.process_time_ns() - t) / n
    recorder._queue.clear()
    shutil.rmtree(directory, ignore_errors=True)
    return ns


# -- replay speed and size ------------------------------------------------------------


def _write_stream_capture(path: Path, frames: list[bytes], snapshot: bytes) -> SegmentWriter:
    header = {"run": "bench", "segment": 0, "conns": [{"c": 0, "v": "spot", "url": None}]}
    t0, m0 = time.time_ns(), time.monotonic_ns()
    result = orjson.loads(snapshot)
    with SegmentWriter(path, {**header, "t": t0, "m": m0}) as w:
        w.record(
            {
                "k": "book",
                "start": False,
                "v": "spot",
                "s": "btc_usdt",
                "state": "syncing",
                "update_id": None,
                "generation": 0,
                "counts": {},
                "buffer": [],
                "snapshot_wanted": True,
                "config": {},
            },
            t0,
            m0,
        )
        w.record(
            {
                "k": "snap",
                "v": "spot",
                "s": "btc_usdt",
                "snapshot": {
                    "symbol": "btc_usdt",
                    "last_id": result["lastUpdateId"],
                    "bids": result["bids"],
                    "asks": result["asks"],
                    "timestamp": None,
                    "depth": 500,
                },
            },
            t0,
            m0,
        )
        w.record(
            {
                "k": "d",
                "v": "spot",
                "s": "btc_usdt",
                "d": "snapshot-accepted",
                "state": "live",
                "update_id": result["lastUpdateId"],
                "generation": 1,
                "hash": None,
            },
            t0,
            m0,
        )
        for i, frame in enumerate(frames):
            step = 1_000_000 + (i * 7919) % 200_000  # about 1 ms apart, jittered
            w.frame(0, frame, t0 + i * step, m0 + i * step)
        # A checkpoint at the end, as a recorder writes them: a replay that compared none
        # could not verify (and fails).
        sync = setup_engine(snapshot)
        loop_engine(sync, frames)
        end = len(frames) * 1_000_000
        w.record(
            {
                "k": "cp",
                "v": "spot",
                "s": "btc_usdt",
                "state": sync.state.value,
                "update_id": sync.update_id,
                "generation": sync.generation,
                "counts": counts_of(sync),
                "hash": book_hash(sync),  # the writer's default "hl": the whole book
            },
            t0 + end,
            m0 + end,
        )
    return w


def _replay_speed(frames_n: int, rounds: int) -> dict:
    stream = bench_stream(frames_n)
    tmp = Path(tempfile.mkdtemp(prefix="wexbook-bench-"))
    try:
        path = tmp / f"bench-00000{SUFFIX}"
        writer = _write_stream_capture(path, stream.frames, stream.snapshot)
        bare, rep, alone = [], [], []
        bare_cpu, rep_cpu = [], []
        for _ in range(rounds):
            sync = setup_engine(stream.snapshot)
            t, c = time.perf_counter(), time.process_time()
            loop_engine(sync, stream.frames)
            bare.append(time.perf_counter() - t)
            bare_cpu.append(time.process_time() - c)
            for prefetch, out in ((True, rep), (False, alone)):
                t, c = time.perf_counter(), time.process_time()
                report = replay(path, verify=True, prefetch=prefetch)
                out.append(time.perf_counter() - t)
                if prefetch:
                    rep_cpu.append(time.process_time() - c)
                assert report.ok and report.books["spot", "btc_usdt"].counts["applied"] == len(
                    stream.frames
                ), report.summary()
        b, r = min(bare), min(rep)
        n = len(stream.frames)
        raw = sum(len(f) for f in stream.frames)
        return {
            "frames": n,
            "bare_frames_per_s": n / b,
            "replay_frames_per_s": n / r,
            "ratio": b / r,
            "ratio_one_thread": b / min(alone),
            "ratio_cpu": min(bare_cpu) / min(rep_cpu),
            "capture_bytes": writer.bytes_out,
            "raw_bytes": raw,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _size_of_capture(path: Path) -> tuple[int, int, int, int]:
    """(frames, raw frame bytes, raw frame and REST snapshot bytes, compressed bytes)."""
    frames = raw = rest = size = 0
    for run in open_capture(path):
        for seg in run.segments:
            size += seg.stat().st_size
            for kind, *_rest, payload in SegmentReader(seg):
                if kind in ("F", "B"):
                    frames += 1
                    raw += len(payload)
                elif kind == "snap" and "snapshot" in payload:
                    rest += len(orjson.dumps(payload["snapshot"]))
    return frames, raw, raw + rest, size


def _sizes(frames_n: int, replay_result: dict | None) -> list[dict]:
    rows = []
    if replay_result is None:
        replay_result = _replay_speed(frames_n, 1)
    r = replay_result
    rows.append(
        {
            "what": f"generated spot stream ({r['frames']} frames)",
            "frames": r["frames"],
            "raw": r["raw_bytes"],
            "capture": r["capture_bytes"],
        }
    )
    tmp = Path(tempfile.mkdtemp(prefix="wexbook-bench-"))
    try:
        code = subprocess.call(
            [
                sys.executable,
                "-m",
                "feeds.apps.cli",
                "record",
                "--out",
                str(tmp / "sim"),
                "--seconds",
                "15",
                "--speed",
                "4",
            ],
            stdout=subprocess.DEVNULL,
        )
        if code == 0:
            f, raw, with_rest, size = _size_of_capture(tmp / "sim")
            rows.append(
                {
                    "what": "wexbook record, simulator with faults (15 s, x4)",
                    "frames": f,
                    "raw": raw,
                    "capture": size,
                    "with_rest": with_rest,
                }
            )
        if REALDATA.is_dir():
            from feeds.capture.importers import import_cryptofeed, import_hftbacktest

            spot = REALDATA / "hftbacktest-binance-spot-btcusdt"
            if spot.is_dir():
                import_hftbacktest(sorted(spot.glob("*.gz")), tmp / "hft")
                f, raw, with_rest, size = _size_of_capture(tmp / "hft")
                gz = sum(p.stat().st_size for p in spot.glob("*.gz"))
                rows.append(
                    {
                        "what": f"real Binance spot BTCUSDT (hftbacktest; gzip {gz / raw:.1%})",
                        "frames": f,
                        "raw": raw,
                        "capture": size,
                        "with_rest": with_rest,
                    }
                )
            fut = REALDATA / "cryptofeed-binance-usdm-4sym"
            if fut.is_dir():
                import_cryptofeed(fut, tmp / "cf")
                f, raw, with_rest, size = _size_of_capture(tmp / "cf")
                rows.append(
                    {
                        "what": "real Binance USD-M 4 symbols (cryptofeed)",
                        "frames": f,
                        "raw": raw,
                        "capture": size,
                        "with_rest": with_rest,
                    }
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


# -- kill -9 ---------------------------------------------------------------------------------


def _kill(trials: int, flush: float) -> list[float]:
    losses = []
    rng = random.Random(1)
    for _ in range(trials):
        tmp = Path(tempfile.mkdtemp(prefix="wexbook-bench-"))
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "feeds.apps.cli",
                    "record",
                    "--out",
                    str(tmp),
                    "--seconds",
                    "60",
                    "--speed",
                    "3",
                    "--flush-interval",
                    str(flush),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proc.stdout is not None
            proc.stdout.readline()  # "recording ..."
            time.sleep(3.0 + rng.random() * 3.0)
            killed = time.time_ns()
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            last = 0
            for run in open_capture(tmp):
                for seg in run.segments:
                    for _kind, wall, *_ in SegmentReader(seg):
                        last = max(last, wall)
            losses.append((killed - last) / 1e9)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return losses


# -- integrity: checksums and whole-book hashes ----------------------------------------------


def _hash_costs(sizes: tuple[int, ...] = (20, 1000, 5000), n: int = 200) -> list[dict]:
    """One checkpoint hash of a LIVE book of ``size`` levels per side, median of ``n``."""
    rows = []
    for size in sizes:
        result = {
            "lastUpdateId": 1,
            "bids": [
                [f"{30000 - i * 0.01:.2f}", f"{1 + (i * 7919) % 5000 / 100:.8f}"]
                for i in range(1, size + 1)
            ],
            "asks": [
                [f"{30000 + i * 0.01:.2f}", f"{1 + (i * 104729) % 5000 / 100:.4f}"]
                for i in range(size)
            ],
        }
        sync = BookSync("btc_usdt", SpotSequencer())
        sync.on_snapshot(spot_snapshot(result, "btc_usdt", size))
        # Half of each side re-set by events: quantities stored as the exchange spelled them.
        sync.book.apply(result["bids"][: size // 2], result["asks"][: size // 2])
        row: dict[str, Any] = {"levels": size}
        for name, levels in (("whole", None), ("top20", LEGACY_HASH_LEVELS)):
            times = []
            for _ in range(n):
                t = time.perf_counter_ns()
                book_hash(sync, levels)
                times.append(time.perf_counter_ns() - t)
            row[name] = statistics.median(times) / 1e3
        rows.append(row)
    return rows


async def _integrity(speed: float, symbols: int, rounds: int, seconds: float) -> dict:
    names = [f"s{n}_usdt" for n in range(symbols)]
    modes = ["off", "legacy", "integrity"]
    proc, urls = start_simulator(speed, names, rounds * len(modes) * seconds + 60)
    tmp = Path(tempfile.mkdtemp(prefix="wexbook-bench-"))
    try:
        market = MarketClient(urls["spot REST"], urls["futures REST"])
        manager = BookManager(
            spot_ws_url=urls["spot websocket"],
            futures_ws_url=urls["futures websocket"],
            market=market,
            max_concurrent_snapshots=8,
        )
        cpu: dict[str, list[float]] = {m: [] for m in modes}
        own_cp: dict[str, list[float]] = {m: [] for m in modes[1:]}
        own_writer: dict[str, list[float]] = {m: [] for m in modes[1:]}
        size: dict[str, list[float]] = {m: [] for m in modes[1:]}
        levels: list[int] = []
        async with market, manager:
            await manager.add_many("spot", names)
            await manager.add_many("futures", names)
            while not all(b.sync.is_live for b in manager.books.values()):
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            for n in range(rounds * len(modes)):
                mode = modes[n % len(modes)]
                recorder = None
                if mode != "off":
                    if mode == "legacy":
                        recorder = Recorder(tmp / f"r{n}", hash_levels=LEGACY_HASH_LEVELS)
                        # As captures were written before: no zstandard content checksum.
                        recorder._compressor = zstandard.ZstdCompressor(level=recorder.level)
                    else:
                        recorder = Recorder(tmp / f"r{n}")
                    recorder.attach(manager)
                events0 = sum(b.depth_events for b in manager.books.values())
                cpu0 = time.process_time()
                await asyncio.sleep(seconds)
                if recorder is not None:
                    recorder.close()
                cpu1 = time.process_time()
                events = max(sum(b.depth_events for b in manager.books.values()) - events0, 1)
                cpu[mode].append((cpu1 - cpu0) / events * 1e6)
                levels.extend(
                    len(b.sync.book.bids) + len(b.sync.book.asks)
                    for b in manager.books.values()
                    if b.sync.book is not None
                )
                if recorder is not None:
                    st = recorder.stats
                    frames = max(st["frames"], 1)
                    own_cp[mode].append(st["checkpoint_cpu_ns"] / frames / 1e3)
                    own_writer[mode].append(st["writer_cpu_ns"] / frames / 1e3)
                    size[mode].append(st["bytes_out"] / frames)
        med = {m: statistics.median(v) for m, v in cpu.items()}
        return {
            "cpu": med,
            "own_cp": {m: statistics.median(v) for m, v in own_cp.items()},
            "own_writer": {m: statistics.median(v) for m, v in own_writer.items()},
            "size": {m: statistics.median(v) for m, v in size.items()},
            "levels": statistics.median(levels) / 2 if levels else 0,
            "books": len(manager.books),
            "rounds": rounds,
        }
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def _print_integrity(args: argparse.Namespace) -> None:
    for row in _hash_costs():
        print(
            f"integrity: one checkpoint hash of a book of {row['levels']:,} levels per side: "
            f"whole book {row['whole']:.1f} us, top 20 levels {row['top20']:.1f} us",
            flush=True,
        )
    r = asyncio.run(_integrity(args.speed, 4, args.rounds, args.seconds))
    cpu, cp, wr, size = r["cpu"], r["own_cp"], r["own_writer"], r["size"]
    bottom = {m: (cpu["off"] + cp[m] + wr[m]) / cpu["off"] for m in cp}
    print(
        f"integrity: live path CPU per frame (all threads, median of {r['rounds']} "
        f"interleaved rounds, {r['books']} books of about {r['levels']:,.0f} levels per "
        f"side): no recorder {cpu['off']:.2f} us, recorder as before (top-20 hash, no "
        f"checksum) {cpu['legacy']:.2f} us, with checksums + whole-book hash "
        f"{cpu['integrity']:.2f} us: ratios to no recorder {cpu['legacy'] / cpu['off']:.3f} "
        f"and {cpu['integrity'] / cpu['off']:.3f}; with over without "
        f"{cpu['integrity'] / cpu['legacy']:.3f}",
        flush=True,
    )
    print(
        f"integrity: the recorder's own CPU per frame, before -> now: checkpoints "
        f"{cp['legacy']:.3f} -> {cp['integrity']:.3f} us, writer thread "
        f"{wr['legacy']:.2f} -> {wr['integrity']:.2f} us; capture bytes per frame "
        f"{size['legacy']:.1f} -> {size['integrity']:.1f} "
        f"({size['integrity'] / size['legacy']:.4f}); bottom-up ratio to no recorder "
        f"(its own CPU over the live path's) {bottom['legacy']:.3f} -> "
        f"{bottom['integrity']:.3f}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "what",
        nargs="*",
        help="overhead, replay, size, kill (default: all four), integrity",
    )
    p.add_argument("--frames", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--speed", type=float, default=40.0, help="simulator speed (overhead)")
    p.add_argument("--seconds", type=float, default=4.0, help="seconds per overhead round")
    p.add_argument("--label", default=" (compiled engine)", help=argparse.SUPPRESS)
    p.add_argument("--trials", type=int, default=5, help="kill -9 trials")
    args = p.parse_args(argv)
    args.what = args.what or ["overhead", "replay", "size", "kill"]
    unknown = set(args.what) - {"overhead", "replay", "size", "kill", "integrity"}
    if unknown:
        p.error(f"unknown measurement: {', '.join(sorted(unknown))}")
    replay_result = None
    if "overhead" in args.what:
        r = asyncio.run(_overhead(args.speed, 4, args.rounds, args.seconds))
        print(
            f"capture overhead: {r['frames_per_s']:,.0f} frames/s, live path CPU "
            f"{r['cpu_us_per_frame_off']:.1f} us/frame without recording, "
            f"{r['cpu_us_per_frame_on']:.1f} with: ratio {r['ratio']:.3f} "
            f"(median of {r['rounds']} interleaved rounds each)"
            + (
                ""
                if r["ratio_python"] is None
                else f"; the recorder's Python reference: {r['ratio_python']:.3f}"
            )
            + f"; a segment's start {r['segment_start_ms']:.1f} ms CPU, once per segment",
            flush=True,
        )
        off = r["cpu_us_per_frame_off"]
        for mode, (on_loop, writer) in r["own_us"].items():
            print(
                f"capture overhead, bottom-up ({'compiled' if mode == 'on' else 'Python'} "
                f"recorder): its own CPU {on_loop:.2f} us/frame on the event loop (stamp, "
                f"checkpoints) + {writer:.2f} on its writer thread (pack, compress, write): "
                f"the book path's thread {(off + on_loop) / off:.3f}, "
                f"all threads {(off + on_loop + writer) / off:.3f}",
                flush=True,
            )
    if "replay" in args.what:
        replay_result = r = _replay_speed(args.frames, args.rounds)
        print(
            f"replay: {r['replay_frames_per_s']:,.0f} frames/s (verify on) vs bare engine "
            f"{r['bare_frames_per_s']:,.0f} frames/s on the same {r['frames']:,} frames: "
            f"ratio {r['ratio']:.3f} (best of {args.rounds}){args.label}; "
            f"CPU ratio {r['ratio_cpu']:.3f} (all threads); "
            f"without the read-ahead thread {r['ratio_one_thread']:.3f}",
            flush=True,
        )
    if "replay" in args.what and os.environ.get("WEXBOOK_PURE", "") in ("", "0"):
        # The same with the pure-Python engine (the reference the live path falls back to).
        env = {**os.environ, "WEXBOOK_PURE": "1"}
        subprocess.call(
            [
                sys.executable,
                "-m",
                "bench.capture",
                "replay",
                "--frames",
                str(args.frames),
                "--rounds",
                str(args.rounds),
                "--label",
                " (pure-Python engine)",
            ],
            env=env,
        )
    if "size" in args.what:
        for row in _sizes(args.frames, replay_result):
            per_m = row["capture"] / row["frames"] * 1e6 / 2**20
            print(
                f"size: {row['what']}: {row['capture'] / row['raw']:.1%} of the raw JSON, "
                f"{per_m:,.1f} MiB per million frames "
                f"(raw {row['raw'] / row['frames'] * 1e6 / 2**20:,.1f} MiB)"
                + (
                    f"; {row['capture'] / row['with_rest']:.1%} of frames and REST snapshots"
                    if row.get("with_rest", row["raw"]) > row["raw"]
                    else ""
                ),
                flush=True,
            )
    if "integrity" in args.what:
        _print_integrity(args)
    if "kill" in args.what:
        losses = _kill(args.trials, 1.0)
        print(
            f"kill -9: lost the last {statistics.median(losses):.2f} s (median), "
            f"{max(losses):.2f} s (max) of {len(losses)} kills, flush interval 1 s; "
            f"every segment read back",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
