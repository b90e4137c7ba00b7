"""Hostile and corrupted capture files: the reader ends in bounded time and memory, with
a position for everything it could not read, and corruption is detected, not replayed.

Captures are built with :class:`~feeds.capture.writer.SegmentWriter` (the recorder's
format) from the generated benchmark stream, or crafted byte by byte (zstandard frames
written here: RLE blocks make a 2 GiB frame out of 64 KiB).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard

from feeds.capture import CaptureError, SegmentReader, iter_events, open_capture, replay
from feeds.capture.format import (
    SUFFIX,
    book_hash,
    counts_of,
    hash_levels_of,
    whole_book_hash,
)
from feeds.capture.reader import find_segments
from feeds.capture.writer import SegmentWriter
from feeds.sim.stream_file import generate_stream
from orderbook import BookSync, SpotSequencer, spot_snapshot
from orderbook.errors import WexbookError

SYMBOL = "btc_usdt"
T0, M0 = 1_700_000_000_000_000_000, 1_000_000_000


def _bounded(fn: Callable[[], Any], seconds: float = 20.0) -> Any:
    """``fn()``, failing the test (instead of hanging it) when it does not return."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"did not end within {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]


# -- building captures -------------------------------------------------------------------


def _write_capture(
    path: Path,
    frames_n: int = 300,
    *,
    hash_levels: int | None = None,
    checksum: bool = True,
    alter: Callable[[int, bytes], bytes] | None = None,
    flush_bytes: int = 16 << 10,
) -> int:
    """A spot capture of the generated stream (500 levels per side) with a checkpoint
    every 50 frames, hashed over ``hash_levels``; ``alter(i, frame)`` changes what is
    written of frame ``i`` (the checkpoints stay those of the true stream). Returns the
    number of checkpoints."""
    stream = generate_stream(frames_n, seed=3)
    result = orjson.loads(stream.snapshot)
    live = BookSync(SYMBOL, SpotSequencer())
    header = {"run": "hostile", "segment": 0, "conns": [{"c": 0, "v": "spot", "url": None}]}
    header["t"], header["m"] = T0, M0
    checkpoints = 0
    with SegmentWriter(
        path, header, checksum=checksum, flush_bytes=flush_bytes, hash_levels=hash_levels
    ) as w:
        w.record(
            {
                "k": "book",
                "start": False,
                "v": "spot",
                "s": SYMBOL,
                "state": "syncing",
                "update_id": None,
                "generation": 0,
                "counts": {},
                "buffer": [],
                "snapshot_wanted": True,
                "config": {},
            },
            T0,
            M0,
        )
        snap = {
            "symbol": SYMBOL,
            "last_id": result["lastUpdateId"],
            "bids": result["bids"],
            "asks": result["asks"],
            "timestamp": None,
            "depth": 500,
        }
        w.record({"k": "snap", "v": "spot", "s": SYMBOL, "snapshot": snap}, T0, M0)
        live.on_snapshot(spot_snapshot(result, SYMBOL, 500))
        w.record(
            {
                "k": "d",
                "v": "spot",
                "s": SYMBOL,
                "d": "snapshot-accepted",
                "state": "live",
                "update_id": live.update_id,
                "generation": live.generation,
                "hash": None,
            },
            T0,
            M0,
        )
        wall, mono = T0, M0
        for i, frame in enumerate(stream.frames):
            wall += 1_000_000
            mono += 1_000_000
            live.on_frame(frame)
            w.frame(0, alter(i, frame) if alter else frame, wall, mono)
            if i % 50 == 49:
                cp = {
                    "k": "cp",
                    "v": "spot",
                    "s": SYMBOL,
                    "state": live.state.value,
                    "update_id": live.update_id,
                    "generation": live.generation,
                    "counts": counts_of(live),
                    "hash": book_hash(live, hash_levels),
                }
                w.record(cp, wall, mono)
                checkpoints += 1
    return checkpoints


def _frame(content: bytes, *, checksum: bool = True) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=checksum).compress(content)


def _header_line(**extra: Any) -> bytes:
    head = {"k": "header", "format": 1, "run": "x", "segment": 0, "t": T0, "m": M0}
    head["conns"] = [{"c": 0, "v": "spot", "url": None}]
    return orjson.dumps({**head, **extra}) + b"\n"


def _frame_record(payload: bytes, conn: int = 0) -> bytes:
    return b"F%d %d 1000 1000\n%s\n" % (conn, len(payload), payload)


_PAYLOAD = b'{"topic":"depth_update","data":{"s":"btc_usdt","fi":1,"i":2,"a":[],"b":[]}}'
_END = orjson.dumps({"k": "end", "t": T0 + 10, "m": M0 + 10}) + b"\n"


def _rle_frame(byte: bytes, size: int, *, prefix: bytes = b"") -> bytes:
    """A zstandard frame of ``prefix`` (a raw block) then ``size`` bytes of ``byte`` in RLE
    blocks of 128 KiB (4 bytes each): a decompression bomb, without a content size."""
    out = bytearray(b"\x28\xb5\x2f\xfd")
    out.append(0x00)  # no content size, no checksum, a window descriptor follows
    out.append(0x58)  # window 2^(10 + 11) = 2 MiB
    if prefix:
        out += ((len(prefix) << 3) | 0).to_bytes(3, "little") + prefix
    block = 128 << 10
    left = size
    while left > 0:
        n = min(block, left)
        left -= n
        out += ((n << 3) | (1 << 1) | (1 if left == 0 else 0)).to_bytes(3, "little") + byte
    return bytes(out)


# -- 1. checksums and the whole-book hash ----------------------------------------------------


def test_every_frame_carries_a_checksum_and_old_captures_still_read(tmp_path) -> None:
    new = tmp_path / f"new-00000{SUFFIX}"
    old = tmp_path / f"old-00000{SUFFIX}"
    _write_capture(new, 200)
    _write_capture(old, 200, checksum=False)
    data = new.read_bytes()
    starts = [i for i in range(len(data)) if data.startswith(b"\x28\xb5\x2f\xfd", i)]
    assert len(starts) >= 3
    assert all(zstandard.get_frame_parameters(data[s:]).has_checksum for s in starts)
    assert not zstandard.get_frame_parameters(old.read_bytes()).has_checksum
    readers = [SegmentReader(p) for p in (new, old)]
    records = [list(r) for r in readers]
    assert records[0] == records[1] and all(r.problems == [] and r.ended for r in readers)


def test_every_single_bit_flip_is_detected_or_changes_nothing(tmp_path) -> None:
    seg = tmp_path / f"flip-00000{SUFFIX}"
    _write_capture(seg, 120)
    good = seg.read_bytes()
    original = list(SegmentReader(seg))
    rng = random.Random(20)
    detected = unchanged = 0
    for _ in range(100):
        data = bytearray(good)
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
        seg.write_bytes(bytes(data))
        reader = SegmentReader(seg)
        records = _bounded(lambda r=reader: list(r))
        if reader.problems:
            detected += 1
        else:
            # Only a bit zstandard does not read (the frame header's unused bit) is left.
            assert records == original, f"bit {bit} changed the records silently"
            unchanged += 1
    assert detected >= 95, (detected, unchanged)


def test_the_whole_book_hash_sees_a_level_below_the_top_20() -> None:
    stream = generate_stream(1, seed=3)
    result = orjson.loads(stream.snapshot)
    sync = BookSync(SYMBOL, SpotSequencer())
    sync.on_snapshot(spot_snapshot(result, SYMBOL, 500))
    whole, top = book_hash(sync, None), book_hash(sync, 20)
    assert book_hash(sync) == whole and len(whole) == 32 and len(top) == 16
    price, qty = result["bids"][300]
    sync.book.apply([[price, str(float(qty) + 1)]], [])
    assert book_hash(sync, 20) == top  # what a checkpoint hashed before
    assert book_hash(sync, None) != whole
    # The same values, spelled or stored otherwise, hash the same.
    sync.book.apply([[price, qty + "000"]], [])
    assert book_hash(sync, None) == whole
    book = sync.book
    assert whole_book_hash(book.bids, book.asks) == whole
    assert whole_book_hash(book.asks, book.bids) != whole  # the sides are told apart


def test_which_hash_a_segment_has_is_read_from_its_header() -> None:
    assert hash_levels_of({"hl": None}) is None
    assert hash_levels_of({"hl": 5}) == 5
    assert hash_levels_of({"recorder": {"hash_levels": 20}}) == 20  # an older recorder's
    assert hash_levels_of({"recorder": {"hash_levels": None}}) is None
    assert hash_levels_of({}) == 20  # an older import's
    assert hash_levels_of({"hl": "all"}) == 20


def test_a_level_changed_below_the_top_20_fails_verification(tmp_path) -> None:
    """A stretch corrupted where no checksum could see it (a capture written without):
    the whole-book checkpoint hash finds it; the top-20 one of older captures did not."""
    stream = generate_stream(60, seed=3)

    def alter(i: int, frame: bytes) -> bytes:
        if i != 10:
            return frame
        # A level deep in the book, moved by one tick, in a frame that otherwise applies.
        bid = orjson.loads(stream.snapshot)["bids"][400]
        doc = orjson.loads(frame)
        doc["data"]["b"].append([bid[0], "7.77"])
        return orjson.dumps(doc)

    honest = tmp_path / "honest" / f"h-00000{SUFFIX}"
    whole = tmp_path / "whole" / f"w-00000{SUFFIX}"
    old = tmp_path / "old" / f"o-00000{SUFFIX}"
    for p in (honest, whole, old):
        p.parent.mkdir()
    _write_capture(honest, 60, checksum=False)
    _write_capture(whole, 60, checksum=False, alter=alter)
    _write_capture(old, 60, checksum=False, alter=alter, hash_levels=20)
    report = replay(honest)
    assert report.ok and report.checkpoints == report.checkpoints_matched == 1, report.summary()
    report = replay(whole)
    assert not report.ok and report.checkpoints_matched == 0, report.summary()
    # A capture whose checkpoints hash the top 20 levels (as every one written before;
    # its header says so) still verifies with that hash: the deep change passes, as then.
    report = replay(old)
    assert report.checkpoints == report.checkpoints_matched == 1, report.summary()


# -- 2./3. the reader: bounded, positioned, never a hang ------------------------------------


def _crafted(path: Path, frames: list[bytes]) -> Path:
    path.write_bytes(b"".join(frames))
    return path


@pytest.mark.parametrize("length", [b"-12", b"-1", b"99999999999", b"1_0", b"+3", b""])
def test_a_frame_record_with_a_bad_length_is_a_record_error_and_reading_resumes(
    tmp_path, length
) -> None:
    seg = tmp_path / f"x-00000{SUFFIX}"
    first = _header_line() + _frame_record(_PAYLOAD) + b"F0 " + length + b" 0 0\n" + _PAYLOAD
    second = _frame_record(_PAYLOAD) + _END
    _crafted(seg, [_frame(first), _frame(second)])
    reader = SegmentReader(seg)
    records = _bounded(lambda: list(reader))
    assert [r[0] for r in records] == ["header", "F", "F", "end"]
    (problem,) = reader.problems
    assert problem.kind == "record" and problem.record == 2 and problem.offset == 0
    text = str(problem)
    assert "record 2" in text and "at byte 0" in text and str(seg) in text
    assert "at byte -1" not in text
    # The replay and iter_events go through the same reader (and the compiled loop).
    report = _bounded(lambda: replay(seg))
    assert [p.kind for p in report.problems] == ["record"]
    _bounded(lambda: list(iter_events(seg)))


def test_json_records_of_the_wrong_shape_are_record_errors(tmp_path) -> None:
    seg = tmp_path / f"x-00000{SUFFIX}"
    bad = [
        b'{"k":"conn","t":"soon","m":1}\n',  # t as a string
        b'{"k":"conn","m":1}\n',  # no t
        b'{"k":7,"t":1,"m":1}\n',
        b"{not json\n",
    ]
    first = _frame(_header_line() + b"".join(bad) + _frame_record(_PAYLOAD))
    # Not a record at all: the rest of its zstandard frame cannot be trusted.
    second = _frame(b"[1,2,3]\n" + _frame_record(_PAYLOAD))
    _crafted(seg, [first, second, _frame(_END)])
    reader = SegmentReader(seg)
    records = _bounded(lambda: list(reader))
    assert [r[0] for r in records] == ["header", "F", "end"]
    problems = [(p.kind, p.record, p.offset) for p in reader.problems]
    assert problems == [("record", n, 0) for n in range(1, 5)] + [("record", 6, len(first))]
    assert str(reader.problems[0]).endswith(
        "bad record at record 1 (byte 127 of the zstandard frame at byte 0), 30 bytes skipped "
        '(TypeError: "k" must be a string, "t" and "m" integers)'
    )


def test_a_record_too_large_is_skipped_with_its_number(tmp_path) -> None:
    seg = tmp_path / f"x-00000{SUFFIX}"
    big = b'{"k":"conn","t":1,"m":1,"pad":"' + b"a" * (3 << 20) + b'"}\n'
    content = _header_line() + big + _frame_record(b"b" * (3 << 20)) + _frame_record(_PAYLOAD)
    _crafted(seg, [_frame(content + _END)])
    reader = SegmentReader(seg, max_record_bytes=1 << 20)
    records = _bounded(lambda: list(reader))
    assert [r[0] for r in records] == ["header", "F", "end"]
    assert [(p.kind, p.record) for p in reader.problems] == [("too-large", 1), ("too-large", 2)]


def test_a_fifo_and_a_directory_named_like_segments_are_problems_not_hangs(tmp_path) -> None:
    folder = tmp_path / "cap"
    folder.mkdir()
    _write_capture(folder / f"run-00000{SUFFIX}", 60)
    os.mkfifo(folder / f"run-00001{SUFFIX}")
    (folder / f"run-00002{SUFFIX}").mkdir()
    (run,) = _bounded(lambda: open_capture(folder))
    assert [p.name for p in run.segments] == [f"run-0000{n}{SUFFIX}" for n in range(3)]
    kinds = []
    for seg in run.segments:
        reader = SegmentReader(seg)
        _bounded(lambda r=reader: list(r), 10)
        kinds.append([(p.kind, p.detail) for p in reader.problems])
    assert kinds == [
        [],
        [("unreadable", "not a regular file: a FIFO")],
        [("unreadable", "not a regular file: a directory")],
    ]
    report = _bounded(lambda: replay(folder))
    assert sorted(p.kind for p in report.problems) == ["unreadable", "unreadable"]
    assert all("unreadable" in str(p) and "\n" not in str(p) for p in report.problems)
    # A FIFO named on its own.
    reader = SegmentReader(folder / f"run-00001{SUFFIX}", prefetch=True)
    assert _bounded(lambda: list(reader), 10) == [] and reader.problems[0].kind == "unreadable"


def _no_capabilities() -> list[str]:
    """A command prefix under which root is refused an unreadable folder, as a user is."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a folder cannot be made unreadable")
    return [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--"]


def test_an_unreadable_folder_is_an_error_or_a_problem_never_silence(tmp_path) -> None:
    folder = tmp_path / "cap"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    _write_capture(folder / "a" / f"one-00000{SUFFIX}", 60)
    _write_capture(folder / "b" / f"two-00000{SUFFIX}", 60)
    (folder / "b").chmod(0)
    script = (
        "import sys\n"
        "from feeds.capture import CaptureError, open_capture\n"
        "try:\n"
        "    open_capture(sys.argv[1])\n"
        "except CaptureError as exc:\n"
        "    print('raised:', exc)\n"
        "problems = []\n"
        "runs = open_capture(sys.argv[1], problems=problems)\n"
        "print('runs:', [r.run for r in runs])\n"
        "print('problems:', [(p.kind, p.path, p.detail) for p in problems])\n"
    )
    try:
        out = subprocess.run(
            [*_no_capabilities(), sys.executable, "-c", script, str(folder)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    finally:
        (folder / "b").chmod(0o755)
    lines = out.splitlines()
    denied = "cannot list the folder: Permission denied"
    assert lines[0] == f"raised: {folder / 'b'}: unreadable ({denied})"
    assert lines[1] == "runs: ['one']"
    assert lines[2] == f"problems: [('unreadable', '{folder / 'b'}', '{denied}')]"


def test_symlink_loops_read_each_segment_once_and_end(tmp_path) -> None:
    folder = tmp_path / "cap"
    (folder / "day").mkdir(parents=True)
    _write_capture(folder / "day" / f"run-00000{SUFFIX}", 60)
    (folder / "day" / "again").symlink_to("..")
    (folder / "day" / "loop").symlink_to(".")
    (folder / "self").symlink_to("self")  # a link to itself
    (folder / f"alias-00000{SUFFIX}").symlink_to(folder / "day" / f"run-00000{SUFFIX}")
    expected = [folder / "day" / f"run-00000{SUFFIX}"]
    assert _bounded(lambda: find_segments(folder)) == [folder / f"alias-00000{SUFFIX}"]
    for pattern in (f"{folder}/**/*{SUFFIX}", f"{folder}/day/**/run-*{SUFFIX}"):
        assert _bounded(lambda p=pattern: find_segments(p)) in (
            expected,
            [folder / f"alias-00000{SUFFIX}"],
        )
    runs = _bounded(lambda: open_capture([folder, f"{folder}/**/*{SUFFIX}"]))
    assert sum(len(r.segments) for r in runs) == 1
    report = _bounded(lambda: replay(folder))
    assert report.checkpoints == report.checkpoints_matched == 1 and not report.mismatches


_RSS_SCRIPT = """
import resource, sys
from feeds.capture import SegmentReader
reader = SegmentReader(sys.argv[1], prefetch=sys.argv[2] == "1")
kinds = [r[0] for r in reader]
print(kinds)
print([(p.kind, p.offset, p.record) for p in reader.problems])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _read_in_subprocess(seg: Path, prefetch: bool = False) -> tuple[str, str, int]:
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(seg), "1" if prefetch else "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()
    return out[0], out[1], int(out[2])


def _baseline_rss(tmp_path: Path) -> int:
    seg = tmp_path / f"base-00000{SUFFIX}"
    _crafted(seg, [_frame(_header_line() + _END)])
    return _read_in_subprocess(seg)[2]


def _compressed_bomb(size: int) -> bytes:
    """``size`` bytes of a 10-byte pattern compressed as a stream (no content size in the
    header, compressed blocks): 2 GiB make 196 KB, the issue's bomb."""
    obj = zstandard.ZstdCompressor(level=1, write_content_size=False).compressobj()
    piece = b"abcdefghij" * (1 << 20)
    out = [obj.compress(piece) for _ in range(size // len(piece))]
    return b"".join([*out, obj.flush()])


@pytest.mark.parametrize(
    ("bomb", "prefetch"), [("rle", False), ("compressed", False), ("compressed", True)]
)
def test_a_decompression_bomb_is_too_large_in_bounded_memory(tmp_path, bomb, prefetch) -> None:
    seg = tmp_path / f"bomb-00000{SUFFIX}"
    if bomb == "rle":  # 2 GiB of "x": too large from its block headers alone
        frame = _rle_frame(b"x", 2 << 30)
        assert len(frame) < 100_000
    else:  # found too large while decompressing, a MiB at a time
        frame = _compressed_bomb(2 << 30)
        assert len(frame) < 250_000
    first = _frame(_header_line() + _frame_record(_PAYLOAD))
    _crafted(seg, [first, frame, _frame(_frame_record(_PAYLOAD) + _END)])
    t = time.perf_counter()
    kinds, problems, rss = _read_in_subprocess(seg, prefetch)
    assert kinds == "['header', 'F', 'F', 'end']"
    assert problems == f"[('too-large', {len(first)}, None)]"
    base = _baseline_rss(tmp_path)
    # The cap (64 MiB) and a MiB of output at a time, never the 2 GiB.
    assert rss - base < 200 << 20, (rss, base, time.perf_counter() - t)


def test_a_500_mb_record_without_a_newline_is_too_large_in_bounded_memory(tmp_path) -> None:
    seg = tmp_path / f"long-00000{SUFFIX}"
    prefix = b"F0 500000000 0 0\n"
    long = _rle_frame(b"a", 500_000_000, prefix=prefix)
    first = _frame(_header_line())
    _crafted(seg, [first, long, _frame(_frame_record(_PAYLOAD) + _END)])
    kinds, problems, rss = _read_in_subprocess(seg)
    assert kinds == "['header', 'F', 'end']"
    assert problems == f"[('too-large', {len(first)}, None)]"
    assert rss - _baseline_rss(tmp_path) < 200 << 20


def test_a_frame_that_says_it_is_too_large_is_not_decompressed(tmp_path) -> None:
    seg = tmp_path / f"x-00000{SUFFIX}"
    big = _frame(_frame_record(b"z" * (2 << 20)))  # says its content size in its header
    first = _frame(_header_line())
    _crafted(seg, [first, big, _frame(_frame_record(_PAYLOAD) + _END)])
    reader = SegmentReader(seg, max_frame_bytes=1 << 20)
    assert [r[0] for r in reader] == ["header", "F", "end"]
    (problem,) = reader.problems
    assert (problem.kind, problem.offset, problem.length) == ("too-large", len(first), len(big))
    assert "too large at byte" in str(problem)


def test_corrupt_and_truncated_frames_resume_or_end_with_positions(tmp_path) -> None:
    seg = tmp_path / f"x-00000{SUFFIX}"
    frames = [_frame(_header_line()), _frame(_frame_record(_PAYLOAD)), _frame(_END)]
    damaged = bytearray(frames[1])
    damaged[-2] ^= 0x40  # in the checksum
    _crafted(seg, [frames[0], bytes(damaged), frames[2], frames[1][:7]])
    reader = SegmentReader(seg)
    assert [r[0] for r in reader] == ["header", "end"]
    assert [(p.kind, p.offset) for p in reader.problems] == [
        ("corrupt", len(frames[0])),
        ("truncated", len(frames[0]) + len(frames[1]) + len(frames[2])),
    ]
    assert "checksum" in reader.problems[0].detail


def test_capture_errors_are_wexbook_errors(tmp_path) -> None:
    assert issubclass(CaptureError, WexbookError)
    with pytest.raises(CaptureError, match="no such file"):
        open_capture(tmp_path / "missing")
