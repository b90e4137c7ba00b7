"""A broker subscriber's stream recorded in the capture format (issue 24): with a real
``redis-server``, the engine against the simulator with faults on publishing, a subscriber
recording; ``replay(..., verify=True)`` rebuilds every book and proves, at every
checkpoint, that it is the book the subscriber held. A break in the stream is a not-LIVE
span of the replay from the break on; a capture tampered with, or a subscriber whose book
went wrong, fails the replay."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import brokers
import orjson
import pytest
import zstandard
from helpers import wait_for
from test_broker_redis import BOOKS, FUTURES, SPOT, engine

from feeds.broker import BookSubscriber
from feeds.broker.record import SubscriberRecorder
from feeds.capture import replay
from feeds.capture.format import SUFFIX

redis_server = brokers.redis_server  # the fixture

# The engine (a stepped simulator with the demo's faults, a manager, a publisher) and
# its books are the Redis scenarios'.


async def wait_live(sub: BookSubscriber, timeout: float) -> None:
    for book in BOOKS:
        assert await sub.wait_live(*book.split(":"), timeout=timeout), sub.stats()


async def record(url: str, out: Path, seconds: float) -> dict[str, Any]:
    """The engine (faults on) publishing; a subscriber recording ``seconds`` once LIVE."""
    async with engine(url, prefix="r1", snapshot_interval=0.7):
        sub = BookSubscriber(url, BOOKS, prefix="r1", max_silence=2.0)
        async with sub:
            recorder = SubscriberRecorder(
                out, checkpoint_interval=0.25, flush_interval=0.2, max_segment_seconds=1.0
            )
            recorder.attach(sub)
            await wait_live(sub, 10)
            await asyncio.sleep(seconds)
            # Read with no await before the close: its final checkpoints are of these books.
            views = {book: sub.view(*book.split(":"), allow_stale=True) for book in BOOKS}
            await recorder.aclose()
            return {"views": views, "stats": sub.stats(), "recorder": dict(recorder.stats)}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """One recording (3 s, faults on, a new segment every second) shared by the tests
    that read it."""
    brokers._client_installed("redis")
    server = brokers.RedisServer()
    out = tmp_path_factory.mktemp("broker-capture")
    try:
        yield out, asyncio.run(record(server.url, out, 3.0))
    finally:
        server.cleanup()


def test_a_recorded_subscriber_replays_verified(recorded) -> None:
    out, live = recorded
    report = replay(out, verify=True)
    assert report.ok, report.summary()
    assert report.checkpoints_matched == report.checkpoints > 0
    assert report.decisions_matched == report.decisions > 0
    assert report.mismatch_count == 0 and not report.unchecked
    assert report.segments == live["recorder"]["segments"] >= 3  # each continues the one before
    assert live["recorder"]["frames"] == report.frames == report.depth_events > 0
    for book in BOOKS:
        got = report.books[tuple(book.split(":"))]  # type: ignore[index]
        assert got.checkpoints >= 3 and got.checkpoints_matched == got.checkpoints, got
        assert got.applied > 0
        view = live["views"][book]
        if view.state == "live":  # the replayed book ends where the subscriber's ended
            assert (got.state, got.update_id) == ("live", view.update_id), (got, live["stats"])
    # The faults took books out of LIVE: each such span is a span of the replay too.
    assert live["recorder"]["breaks"] > 0 and report.gaps


def _records(data: bytes) -> Iterator[tuple[int, int, bool]]:
    """``(start, end, is_json)`` of each record of a decompressed segment."""
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        if data[pos : pos + 1] in (b"F", b"B"):
            length = int(data[pos + 1 : end].split()[1])
            end = end + 1 + length
            yield pos, end + 1, False
        else:
            yield pos, end + 1, True
        pos = end + 1


def test_a_tampered_capture_fails_the_replay(recorded, tmp_path) -> None:
    out, _ = recorded
    copy = tmp_path / "tampered"
    shutil.copytree(out, copy)
    changed = 0
    for segment in sorted(copy.glob(f"*{SUFFIX}")):
        with open(segment, "rb") as f:
            data = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()
        parts = []
        for start, end, is_json in _records(data):
            line = data[start:end]
            if is_json and line.startswith(b'{"k":"snap"'):
                record = orjson.loads(line)
                bids = record["snapshot"]["bids"]
                if bids:  # the deepest bid, one more: a level no delta of the run touches
                    bids[-1][1] = str(Decimal(bids[-1][1]) + 1)
                    line = orjson.dumps(record) + b"\n"
                    changed += 1
            parts.append(line)
        compressed = zstandard.ZstdCompressor(write_checksum=True).compress(b"".join(parts))
        segment.write_bytes(compressed)
    assert changed > 0
    assert replay(out, verify=True).ok  # the original still verifies
    report = replay(copy, verify=True)
    assert not report.ok
    assert report.mismatch_count > 0 and report.checkpoints_matched < report.checkpoints
    assert any("levels differ" in m.detail for m in report.mismatches), report.summary()


async def test_a_subscriber_book_gone_wrong_fails_the_replay(redis_server, tmp_path) -> None:
    # The checkpoints hash the subscriber's own book, not the recorder's copy of the stream:
    # a book the subscriber got wrong (here a level put into it by hand) is caught.
    out = tmp_path / "cap"
    async with engine(redis_server.url, faults=False, prefix="r3", snapshot_interval=30):
        sub = BookSubscriber(redis_server.url, BOOKS, prefix="r3", max_silence=2.0)
        async with sub:
            recorder = SubscriberRecorder(out, checkpoint_interval=0.2, flush_interval=0.2)
            recorder.attach(sub)
            await wait_live(sub, 10)
            await asyncio.sleep(0.6)
            held = sub.books["futures", "btc_usdt"]
            with held.lock:
                assert held.book is not None
                held.book.apply([["0.01", "7"]], [])  # far below any price the flow reaches
            await asyncio.sleep(0.8)
            await recorder.aclose()
    report = replay(out, verify=True)
    assert not report.ok
    wrong = {(m.venue, m.symbol) for m in report.mismatches}
    assert wrong == {("futures", "btc_usdt")}, report.summary()
    assert any(m.what == "checkpoint" and "levels differ" in m.detail for m in report.mismatches)
    assert report.books["spot", "btc_usdt"].checkpoints_matched > 0


async def test_a_break_in_the_stream_is_not_live_in_the_replay_from_the_break(
    redis_server, tmp_path
) -> None:
    # The broker restarts (its data gone): the subscriber's books break, then heal from a
    # fresh snapshot. The replay's books leave LIVE at the break, not at the next snapshot.
    out = tmp_path / "cap"
    async with engine(redis_server.url, faults=False, prefix="r4"):
        sub = BookSubscriber(redis_server.url, BOOKS, prefix="r4", max_silence=2.0)
        async with sub:
            recorder = SubscriberRecorder(out, checkpoint_interval=0.2, flush_interval=0.2)
            recorder.attach(sub)
            await wait_live(sub, 10)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(redis_server.restart, 0.3)
            await wait_for(lambda: all(sub.is_live(*b.split(":")) for b in BOOKS), 10)
            await asyncio.sleep(0.6)
            await recorder.aclose()
            stats = sub.stats()
    assert all(book.get("broker_lost", 0) >= 1 for book in stats["books"].values()), stats
    report = replay(out, verify=True)
    assert report.ok, report.summary()
    assert report.checkpoints_matched == report.checkpoints > 0
    for book in BOOKS:
        venue, symbol = book.split(":")
        rows = [g for g in report.gaps if (g.venue, g.symbol) == (venue, symbol)]
        broken = [g for g in rows if g.kind == "feed-down" and "broker_lost" in (g.reason or "")]
        assert len(broken) == 1, rows  # from the break...
        assert broken[0].end_ns is not None  # ...to the fresh snapshot that healed it
        assert report.books[venue, symbol].state == "live"


async def test_subscribe_record_then_replay_verify_on_the_command_line(
    redis_server, tmp_path
) -> None:
    out = tmp_path / "cap"
    books = ["--spot", *SPOT, "--futures", *FUTURES]
    # No faults: the command's exit code says whether every book ended LIVE.
    async with engine(redis_server.url, faults=False, prefix="r5"):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "feeds.apps.cli", "subscribe", redis_server.url, *books,
            "--prefix", "r5", "--seconds", "3", "--record", str(out),
            "--checkpoint-interval", "0.25",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    result = orjson.loads(stdout[stdout.index(b"\n{") :])
    assert result["recorder"]["frames"] > 0 and result["recorder"]["checkpoints"] > 0
    assert result["segments"] and all(Path(p).parent == out for p in result["segments"])
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "feeds.apps.cli", "replay", str(out), "--verify",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    text, err = await asyncio.wait_for(done.communicate(), 30)
    assert done.returncode == 0, (text + err).decode()
    assert b"mismatches: 0" in text


async def test_subscribe_record_into_a_directory_it_cannot_make_is_bad_usage(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "feeds.apps.cli", "subscribe", "redis://127.0.0.1:1/0",
        "--spot", "btc_usdt", "--record", str(blocker / "cap"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert err.count(b"\n") == 1 and b"cannot create" in err
