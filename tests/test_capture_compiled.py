"""The compiled replay loop (feeds/capture/_replayloop.pyx) against its Python reference.

Random captures, written with the real writer, mix what the compiled loop takes (plain
frames that chain, for several books on two connections) with everything it must leave
to the Python loop: gaps, duplicates, crossed books, malformed and unplain frames, frames
of unknown books, silences longer than the audit's limit, snapshots, disconnects,
checkpoints, a torn record and a stop time. Each capture is replayed three ways (compiled
loop; compiled engine with the Python loop; pure Python) and every observable must be
identical: report counters, per-book counts, states, ids, events, final book hashes over
every level, gap rows and mismatches.
"""

from __future__ import annotations

import importlib
import random
from dataclasses import asdict
from pathlib import Path

import orjson
import pytest

from feeds.capture.format import SUFFIX, book_state
from feeds.capture.reader import open_capture
from feeds.capture.replay import Replayer, ReplayReport
from feeds.capture.writer import SegmentWriter
from orderbook import BookSync, DepthSnapshot, FuturesSequencer, SpotSequencer, accel

# (feeds.capture.replay is also the name of the package's replay function)
replay_module = importlib.import_module("feeds.capture.replay")
try:
    compiled_loop = importlib.import_module("feeds.capture._replayloop")
except ImportError:  # pragma: no cover - a pure install
    compiled_loop = None
pytestmark = pytest.mark.skipif(
    compiled_loop is None or not accel.AVAILABLE, reason="compiled replay loop not built"
)

BOOKS = [("spot", "btc_usdt", 0), ("spot", "eth_usdt", 0), ("futures", "btc_usdt", 1)]
MS = 1_000_000


def _snapshot(symbol: str, last_id: int, rng: random.Random) -> DepthSnapshot:
    bids = [[f"{100 - i}.{rng.randrange(100):02d}", f"{rng.randrange(1, 50)}.5"] for i in range(8)]
    asks = [[f"{101 + i}.{rng.randrange(100):02d}", f"{rng.randrange(1, 50)}.25"] for i in range(8)]
    return DepthSnapshot(symbol, last_id, bids, asks, None, 500)


def _levels(rng: random.Random, low: float, high: float, n: int) -> list[list[str]]:
    out = []
    for _ in range(n):
        price = f"{rng.uniform(low, high):.2f}"
        qty = "0" if rng.random() < 0.3 else f"{rng.randrange(1, 900) / 100}"
        out.append([price, qty])
    return out


def _frame(venue: str, symbol: str, first: int, last: int, prev: int, bids, asks) -> bytes:
    data: dict = {"s": symbol, "a": asks, "b": bids}
    if venue == "spot":
        data.update(fi=first, i=last)
    else:
        data.update(fu=first, u=last, pu=prev)
    return orjson.dumps({"topic": "depth_update", "event": f"depth_update@{symbol}", "data": data})


def _write_capture(path: Path, seed: int, steps: int) -> None:
    rng = random.Random(seed)
    t0, m0 = 1_700_000_000 * 10**9, 10**12
    now = [t0, m0]
    header = {
        "run": "diff",
        "segment": 0,
        "conns": [{"c": 0, "v": "spot", "url": None}, {"c": 1, "v": "futures", "url": None}],
        "t": t0,
        "m": m0,
    }
    ids = {}
    with SegmentWriter(path, header) as w:
        for venue, symbol, _ in BOOKS:
            sync = BookSync(symbol, SpotSequencer() if venue == "spot" else FuturesSequencer())
            ids[venue, symbol] = last = 1000 * (1 + len(ids))
            sync.on_snapshot(_snapshot(symbol, last, rng))
            w.record({"k": "book", "start": True, **book_state(sync)}, *now)

        def tick(ns: int = MS) -> None:
            now[0] += ns + rng.randrange(ns // 5 + 1)
            now[1] += ns

        def push(conn: int, raw: bytes) -> None:
            tick()
            w.frame(conn, raw, *now)

        for _ in range(steps):
            venue, symbol, conn = rng.choice(BOOKS)
            last = ids[venue, symbol]
            r = rng.random()
            bids = _levels(rng, 90, 100, rng.randrange(0, 4))
            asks = _levels(rng, 101, 111, rng.randrange(0, 4))
            if r < 0.78:  # chains
                ids[venue, symbol] = new = last + rng.randrange(1, 4)
                push(conn, _frame(venue, symbol, last + 1, new, last, bids, asks))
            elif r < 0.80:  # a gap
                ids[venue, symbol] = new = last + 10
                push(conn, _frame(venue, symbol, last + 5, new, last + 4, bids, asks))
            elif r < 0.82:  # an old event
                push(conn, _frame(venue, symbol, last - 3, last - 1, last - 4, bids, asks))
            elif r < 0.83:  # crosses the book
                ids[venue, symbol] = new = last + 1
                cross = [[f"{rng.uniform(112, 120):.2f}", "1.5"]]
                push(conn, _frame(venue, symbol, last + 1, new, last, cross, asks))
            elif r < 0.84:  # malformed
                push(conn, b'{"topic":"depth_update","data":{"s":"btc_usdt","fi":')
            elif r < 0.85:  # another symbol
                push(conn, _frame(venue, "xrp_usdt", 1, 2, 0, bids, asks))
            elif r < 0.87:  # not plain: spaces, an exponent price, a long quantity
                ids[venue, symbol] = new = last + 1
                frame = _frame(venue, symbol, last + 1, new, last, [*bids, ["9.5e1", "1"]], asks)
                if rng.random() < 0.5:
                    frame = frame.replace(b",", b", ")
                push(conn, frame)
            elif r < 0.88:  # silence longer than the audit's limit (1 s here)
                tick(2_000 * MS)
                ids[venue, symbol] = new = last + 1
                push(conn, _frame(venue, symbol, last + 1, new, last, bids, asks))
            elif r < 0.91:  # a snapshot (resyncs a book that left LIVE)
                tick()
                snap = _snapshot(symbol, last, rng)
                w.record({"k": "snap", "v": venue, "s": symbol, "snapshot": snap._asdict()}, *now)
            elif r < 0.92:  # the connection drops and comes back
                tick()
                down = {"k": "conn", "c": conn, "state": "disconnected", "close_code": 1006}
                w.record(down, *now)
                tick()
                w.record({"k": "conn", "c": conn, "state": "connected"}, *now)
            elif r < 0.93:  # a checkpoint that cannot match (the same mismatch either way)
                tick()
                w.record(
                    {
                        "k": "cp",
                        "v": venue,
                        "s": symbol,
                        "state": "live",
                        "update_id": last,
                        "generation": 1,
                        "counts": {},
                        "hash": "0" * 16,
                    },
                    *now,
                )
            else:  # a text frame of another topic
                push(conn, b'{"topic":"trade","data":{"s":"btc_usdt","p":"100"}}')
        # A frame record whose header does not hold: the reader reports it, and the rest
        # of that zstandard frame is not read.
        tick()
        w._add(b"F0 x 1 1\n")
        push(0, _frame("spot", "btc_usdt", 1, 2, 0, [], []))


def _trace(report: ReplayReport, replayer: Replayer) -> dict:
    books = {
        f"{v}:{s}": (
            asdict(b),
            replayer.books[v, s].sync.book.depth() if replayer.books[v, s].sync.book else None,
        )
        for (v, s), b in sorted(report.books.items())
    }
    fields = {k: v for k, v in asdict(report).items() if k not in ("books", "seconds")}
    return {"report": fields, "books": books}


def _replay(path: Path, **options) -> tuple[dict, int]:
    before = compiled_loop.stats()
    replayer = Replayer(audit_silence=1.0, hash_levels=1000, **options)
    report = replayer.run(open_capture(path))
    return _trace(report, replayer), compiled_loop.stats() - before


@pytest.mark.parametrize("seed", range(12))
def test_compiled_loop_equals_the_python_loop(seed: int, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / f"diff-00000{SUFFIX}"
    _write_capture(path, seed, 1500)
    # Every third seed stops in the middle of the capture.
    options = {"stop_ns": 1_700_000_000 * 10**9 + 15_000 * MS if seed % 3 == 2 else None}
    with accel.path(True):
        compiled, consumed = _replay(path, **options)
        monkeypatch.setattr(replay_module, "_compiled_frames", None)
        python_loop, none = _replay(path, **options)
        monkeypatch.setattr(replay_module, "_compiled_frames", compiled_loop.frames)
    with accel.path(False):
        pure, also_none = _replay(path, **options)
    assert none == 0 and also_none == 0
    # The compiled loop took most frames, and left the rest to the reference.
    frames = compiled["report"]["frames"]
    assert frames > 200 and consumed >= frames // 5, (consumed, frames)
    assert consumed < frames
    assert compiled == python_loop
    assert compiled == pure
    # The session exercised what it is meant to.
    report = compiled["report"]
    kinds = {g["kind"] for g in report["gaps"]}
    assert "silence" in kinds and "disconnected" in kinds
    assert report["mismatch_count"] > 0
    assert bool(report["problems"]) == (options["stop_ns"] is None)  # the torn record at the end


# -- the recorder's compiled per-frame work ------------------------------------------------


def _recorded_bytes(items: list[tuple], tmp_path: Path, name: str) -> tuple[bytes, dict]:
    """What a recorder writes for ``items`` queued as they are on the event loop."""
    import io

    import zstandard

    from feeds.capture.recorder import Recorder

    recorder = Recorder(tmp_path / name)
    recorder._file = io.BytesIO()
    recorder._queue.extend(items)
    with accel.path(True):  # the recorder's choice was made when it was built
        recorder._drain()
    data = zstandard.ZstdDecompressor().decompressobj().decompress(recorder._file.getvalue())
    return data, dict(recorder.stats)


def test_compiled_packing_writes_the_bytes_of_the_reference(tmp_path: Path) -> None:
    from feeds.capture import recorder as recorder_module

    assert recorder_module._pack_frames is not None
    rng = random.Random(5)
    wall, mono = 1_700_000_000 * 10**9, 10**12
    items: list[tuple] = []
    for n in range(3000):
        wall += rng.randrange(-1000, 3_000_000)  # the wall clock may step back
        mono += rng.randrange(0, 3_000_000)
        r = rng.random()
        if r < 0.6:
            text: object = orjson.dumps({"n": n, "p": f"{rng.random():.6f}"}).decode()
        elif r < 0.7:
            text = f'{{"s":"ü€{n}","x":"{"é" * rng.randrange(5)}"}}'  # not ASCII
        elif r < 0.85:
            text = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        elif r < 0.9:
            text = bytearray(b"binary as a bytearray %d" % n)  # left to the reference
        elif r < 0.92:
            text = ""
        else:
            items.append(("J", {"k": "send", "c": 0, "text": "x", "t": wall, "m": mono}))
            continue
        items.append((rng.randrange(3), text, wall, mono))
    with accel.path(True):
        compiled = _recorded_bytes(items, tmp_path, "compiled")
    with accel.path(False):
        reference = _recorded_bytes(items, tmp_path, "reference")
    assert compiled == reference
    data, stats = reference
    assert stats["frames"] == sum(1 for i in items if i[0] != "J") and stats["records"] > 0
    as_bytearray = sum(1 for i in items if isinstance(i[1], bytearray))
    assert as_bytearray > 0 and data.count(b"binary as a bytearray") == as_bytearray


def test_the_compiled_stamp_queues_what_the_reference_queues(tmp_path: Path) -> None:
    import time

    from feeds.capture.recorder import Recorder

    with accel.path(True):
        compiled = Recorder(tmp_path / "c")
    with accel.path(False):
        reference = Recorder(tmp_path / "r")
    assert "on_frame" in vars(compiled) and "on_frame" not in vars(reference)
    conn = object()
    for recorder in (compiled, reference):
        recorder._conns[conn] = 3
        before = time.time_ns(), time.monotonic_ns()
        recorder.on_frame(conn, "frame")
        after = time.time_ns(), time.monotonic_ns()
        ((index, text, wall, mono),) = recorder._queue
        assert (index, text) == (3, "frame")
        assert before[0] <= wall <= after[0] and before[1] <= mono <= after[1]
