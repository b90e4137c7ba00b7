"""The recorder's own failures, counted where an operator looks; no secret in a capture.

- A full disk: a child process records the simulator under ``RLIMIT_FSIZE`` (the kernel
  takes the write that crosses the limit only in part, then refuses the next one with
  ``EFBIG``: a real short write, then a real error). The frames the recorder says it
  wrote are exactly the frames a reader finds, and the metrics say so.
- The recorder's counters are exported by the Prometheus collector while it records.
- Private streams handed the recorder (``PrivateStream(tap=recorder)``), against the
  simulator: no listen key or token of either venue appears in the capture's bytes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import zstandard
from helpers import wait_for
from prometheus_client import CollectorRegistry, generate_latest

from feeds.capture import Recorder, SegmentReader, open_capture, replay
from feeds.manager import BookManager
from feeds.metrics import WexbookCollector
from feeds.private import PrivateStream
from feeds.rest import MarketClient
from feeds.rest.client import AsyncWexClient
from feeds.sim import DEMO_API_KEY, DEMO_SECRET, Simulator

FULL_DISK = textwrap.dedent(
    """
    import asyncio, json, resource, signal, sys
    from prometheus_client import CollectorRegistry, generate_latest
    from feeds.capture import Recorder
    from feeds.manager import BookManager
    from feeds.metrics import WexbookCollector
    from feeds.rest import MarketClient
    from feeds.sim import Simulator

    out, limit = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal

    async def main():
        async with Simulator(spot_symbols=["btc_usdt", "eth_usdt"], futures_symbols=["btc_usdt"],
                             seed=3, speed=4) as sim:
            market = MarketClient(sim.spot_http_url, sim.futures_http_url)
            manager = BookManager(spot_ws_url=sim.spot_ws_url, futures_ws_url=sim.futures_ws_url,
                                  market=market)
            async with market, manager:
                registry = CollectorRegistry()
                WexbookCollector(manager, registry=registry)
                recorder = Recorder(out, flush_interval=0.05, checkpoint_interval=0.25)
                # From here on this process writes no file larger than the limit.
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
                recorder.attach(manager)
                await manager.add_many("spot", ["btc_usdt", "eth_usdt"])
                await manager.add("futures", "btc_usdt")
                for _ in range(400):
                    if recorder.stats["write_errors"]:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)  # a few more frames, dropped
                metrics = generate_latest(registry).decode()
                recorder.close()
                return {"stats": dict(recorder.stats), "metrics": metrics,
                        "books_live": all(b.sync.is_live for b in manager.books.values())}

    print(json.dumps(asyncio.run(main())))
    """
)


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported:\n{text}")


def test_a_full_disk_counts_what_was_really_written(tmp_path: Path) -> None:
    out = tmp_path / "cap"
    limit = 40_000
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(out), str(limit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    stats, metrics = result["stats"], result["metrics"]
    assert stats["write_errors"] == 1 and stats["short_writes"] >= 1, stats
    assert "capture write failed" in done.stderr
    (segment,) = open_capture(out)[0].segments
    assert segment.stat().st_size == limit  # the last zstandard frame went in only in part
    reader = SegmentReader(segment)
    records = list(reader)
    frames = sum(1 for r in records if r[0] in ("F", "B"))
    assert [p.kind for p in reader.problems] == ["truncated"]
    # What the summary and the metrics say was written is what a reader finds.
    assert frames > 0 and stats["frames"] == frames, (stats["frames"], frames)
    assert stats["records"] == len(records) - frames
    assert stats["bytes_out"] < limit and stats["dropped"] > 0
    assert _metric(metrics, "wexbook_capture_frames_written_total") == frames
    assert _metric(metrics, "wexbook_capture_write_errors_total") == 1
    assert _metric(metrics, "wexbook_capture_writing") == 0
    assert _metric(metrics, "wexbook_capture_dropped_total") > 0
    assert _metric(metrics, "wexbook_capture_flush_lag_seconds") > 0


async def test_the_recorders_counters_are_exported_while_it_records(tmp_path: Path) -> None:
    async with Simulator(spot_symbols=["btc_usdt"], futures_symbols=[], seed=2, speed=4) as sim:
        market = MarketClient(sim.spot_http_url, None)
        manager = BookManager(spot_ws_url=sim.spot_ws_url, market=market)
        async with market, manager:
            registry = CollectorRegistry()
            WexbookCollector(manager, registry=registry)
            assert "\nwexbook_capture_writing " not in generate_latest(registry).decode()
            recorder = Recorder(tmp_path, flush_interval=0.05)
            recorder.attach(manager)
            await manager.add("spot", "btc_usdt")
            await wait_for(lambda: recorder.stats["frames"] > 20, 10)
            text = generate_latest(registry).decode()
            recorder.close()
    assert _metric(text, "wexbook_capture_writing") == 1
    assert _metric(text, "wexbook_capture_frames_written_total") > 20
    assert _metric(text, "wexbook_capture_written_bytes_total") > 0
    assert _metric(text, "wexbook_capture_write_errors_total") == 0
    assert _metric(text, "wexbook_capture_dropped_total") == 0
    assert 0 <= _metric(text, "wexbook_capture_flush_lag_seconds") < 5


def _keys(sim: Simulator) -> set[str]:
    """Every ws token and listen key the simulator handed out so far (still valid)."""
    return {t.split(":", 1)[1] for a in sim.desk.accounts.values() for t in a.tokens}


async def test_private_streams_leave_no_key_in_the_capture(tmp_path: Path) -> None:
    async with (
        Simulator(spot_symbols=["btc_usdt"], futures_symbols=["btc_usdt"], seed=4, speed=4) as sim,
        AsyncWexClient(
            DEMO_API_KEY, DEMO_SECRET, spot_url=sim.spot_http_url, futures_url=sim.futures_http_url
        ) as client,
    ):
        market = MarketClient(sim.spot_http_url, None)
        manager = BookManager(spot_ws_url=sim.spot_ws_url, market=market)
        async with market, manager:
            recorder = Recorder(tmp_path, flush_interval=0.05)
            recorder.attach(manager)
            await manager.add("spot", "btc_usdt")
            await wait_for(lambda: manager.book("spot", "btc_usdt").sync.is_live)
            futures = PrivateStream(
                client, "futures", url=sim.futures_user_url, tap=recorder, backoff_base=0.05
            )
            spot = PrivateStream(
                client, "spot", url=sim.spot_private_url, tap=recorder, backoff_base=0.05
            )
            keys: set[str] = set()
            async with futures, spot:
                await wait_for(lambda: len(sim.ws.private.clients) == 2 and all(
                    len(c.subscriptions) in (3, 5) for c in sim.ws.private.clients))  # fmt: skip
                keys |= _keys(sim)
                await client.futures.create_order(
                    symbol="btc_usdt", orderSide="BUY", orderType="MARKET", origQty=2,
                    positionSide="LONG",
                )  # fmt: skip
                await wait_for(lambda: futures.counts["order"] >= 1)
                await futures.renew()  # a second listen key, subscribed with again
                keys |= _keys(sim)
                await sim.ws.private.revoke()  # every key dead: both streams fetch new ones
                await wait_for(lambda: futures.counts["tokens"] >= 3 and spot.counts["tokens"] >= 2)
                await wait_for(lambda: len(sim.ws.private.clients) == 2 and all(
                    len(c.subscriptions) in (3, 5) for c in sim.ws.private.clients))  # fmt: skip
                keys |= _keys(sim)
            recorder.close()
    assert len(keys) >= 4
    sends, private_frames = [], 0
    data = b""
    for segment in recorder.segments:
        with open(segment, "rb") as f:
            data += zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()
        conns = {}
        for kind, _, _, conn, payload in SegmentReader(segment):
            if kind == "conn" and payload.get("state") == "new":
                conns[payload["c"]] = payload
            elif kind == "send":
                sends.append(payload["text"])
            elif kind == "F" and conns.get(conn, {}).get("private"):
                private_frames += 1
    futures_subscribes = [t for t in sends if '"SUBSCRIBE"' in t]
    assert len(futures_subscribes) >= 3 and private_frames > 0
    assert all(t.count("[redacted]") == 5 for t in futures_subscribes), futures_subscribes
    for key in keys:
        assert key.encode() not in data, "a key is in the capture"
    report = replay(tmp_path)  # the private connections' frames are no book's: not a fault
    assert report.ok, report.summary()
