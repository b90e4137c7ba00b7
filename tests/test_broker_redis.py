"""Books through a real ``redis-server``: the engine against the simulator with faults on,
subscribers in other processes; every view a subscriber accepts equals the simulator's
truth at its update id, every not-LIVE state reaches it, and the broker's and the
publisher's faults heal, counted."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import brokers
import orjson
import pytest
import redis.asyncio as redis
from brokers import child, truth_lines, wait_ready
from helpers import futures_raw, spot_raw, wait_for
from prometheus_client import CollectorRegistry, generate_latest

from feeds.apps.demo import arm_faults
from feeds.broker import BookPublisher, BookSubscriber, schema
from feeds.broker.publisher import delta_parts
from feeds.broker.redisstreams import ERRORS as RESP_ERRORS
from feeds.broker.redisstreams import RedisPublishBackend
from feeds.manager import BookManager
from feeds.metrics import register
from feeds.observe import depth_event
from feeds.rest import MarketClient
from feeds.sim import Simulator
from feeds.sim.flow import OrderFlow
from orderbook import BookDisconnected, BookNotLive, Venue

redis_server = brokers.redis_server  # the fixture

SPOT = ["btc_usdt", "eth_usdt"]
FUTURES = ["btc_usdt"]
BOOKS = [f"spot:{s}" for s in SPOT] + [f"futures:{s}" for s in FUTURES]


def exact(bids: list[Any], asks: list[Any]) -> tuple[list[Any], list[Any]]:
    """Levels as exact numbers (``"2.0"`` and ``"2"`` are one quantity)."""
    return [(Decimal(p), Decimal(q)) for p, q in bids], [(Decimal(p), Decimal(q)) for p, q in asks]


class Engine:
    """A stepped simulator with the demo's faults, a manager and a publisher; the truth
    (top 10 per book per update id) recorded after every step."""

    def __init__(self, sim: Simulator, manager: BookManager, publisher: BookPublisher) -> None:
        self.sim, self.manager, self.publisher = sim, manager, publisher
        self.truth: dict[tuple[str, str, int], Any] = {}
        self.step_pause = 0.003
        self.running = True

    def record(self) -> None:
        for line in truth_lines(self.sim).splitlines():
            venue, symbol, update_id, bids, asks = orjson.loads(line)
            self.truth[venue, symbol, update_id] = (bids, asks)

    async def drive(self) -> None:
        while self.running:
            await self.sim.advance(1)
            self.record()
            await asyncio.sleep(self.step_pause)

    async def run_for(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def compare(self, views: list[Any]) -> tuple[int, int]:
        """``(compared, mismatches)`` of ``[venue, symbol, update id, gen, bids, asks]``."""
        compared = mismatches = 0
        for venue, symbol, update_id, _, bids, asks in views:
            truth = self.truth.get((venue, symbol, update_id))
            if truth is None:
                continue
            compared += 1
            mismatches += exact(bids, asks) != exact(*truth)
        return compared, mismatches


@asynccontextmanager
async def engine(
    url: str, *, faults: bool = True, **publisher_options: Any
) -> AsyncIterator[Engine]:
    seed = int.from_bytes(os.urandom(2), "big")
    async with Simulator(spot_symbols=SPOT, futures_symbols=FUTURES, seed=seed, auto=False) as sim:
        if faults:  # the demo's
            arm_faults(sim, SPOT, FUTURES)
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(
            spot_ws_url=sim.spot_ws_url,
            futures_ws_url=sim.futures_ws_url,
            market=market,
            stale_after=0.4,
            connection_options={"backoff_base": 0.05},
        )
        async with market, manager:
            options = {"heartbeat": 0.2, **publisher_options}
            publisher = await BookPublisher(url, **options).start(manager)
            run = Engine(sim, manager, publisher)
            await manager.add_many("spot", SPOT)
            await manager.add_many("futures", FUTURES)
            driver = asyncio.create_task(run.drive())
            try:
                yield run
            finally:
                run.running = False
                await driver
                await manager.close()  # every book CLOSED: a status each
                await publisher.close()  # then "publisher stopped"


def subscriber_output(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        return orjson.loads(f.read())


async def wait_process(process: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    if process.poll() is None:
        process.kill()
        pytest.fail("subscriber process did not finish")
    assert process.returncode == 0


async def test_subscribers_in_other_processes_serve_only_the_truth(redis_server, tmp_path) -> None:
    outs = [str(tmp_path / f"sub{n}.json") for n in range(2)]
    children = [child("subscribe", redis_server.url, out, 30, BOOKS, "t1") for out in outs]
    try:
        async with engine(redis_server.url, prefix="t1") as run:
            manager, sim = run.manager, run.sim
            await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()), 10)
            await wait_ready(outs)  # the subscribers started (a Python process each), LIVE
            sim.faults.set("spot", "btc_usdt", drop_next=1)  # a gap: resyncing
            await asyncio.sleep(0.5)
            sim.faults.set("spot", "eth_usdt", disconnect_after=1)  # feed down: disconnected
            eth = manager.book("spot", "eth_usdt")
            await wait_for(lambda: eth.sync.state.value == "disconnected", 3)
            sim.faults.set("spot", "eth_usdt", disconnect_after=None)
            await wait_for(lambda: eth.sync.is_live, 5)
            sim.faults.set("futures", "btc_usdt", stall=True)  # no updates: stale
            await wait_for(
                lambda: manager.book("futures", "btc_usdt").sync.state.value != "live", 3
            )
            sim.faults.set("futures", "btc_usdt", stall=False)
            await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()), 10)
            await asyncio.sleep(0.5)
            compared_engine = len(run.truth)
        for process in children:
            await wait_process(process, 20)
    finally:
        for process in children:
            if process.poll() is None:
                process.kill()
    assert compared_engine > 0
    for out in outs:
        result = subscriber_output(out)
        compared, mismatches = run.compare(result["views"])
        assert mismatches == 0
        assert compared > 100, (compared, len(result["views"]))
        states = result["states"]
        seen = {book: {entry[0] for entry in entries} for book, entries in states.items()}
        assert {"live", "resyncing", "closed"} <= seen["spot:btc_usdt"]
        assert {"live", "disconnected"} <= seen["spot:eth_usdt"]
        assert {"live", "stale"} <= seen["futures:btc_usdt"] or {
            "live",
            "resyncing",
        } <= seen["futures:btc_usdt"]
        assert all(entries[-1][2] == "publisher stopped" for entries in states.values())


class Watched:
    """An in-process subscriber whose accepted views and states are recorded."""

    def __init__(self, url: str, prefix: str, **options: Any) -> None:
        self.views: list[Any] = []
        self.states: dict[str, list[tuple[str, str | None]]] = {b: [] for b in BOOKS}
        options = {"max_silence": 1.0, **options}
        self.sub = BookSubscriber(url, BOOKS, prefix=prefix, on_entry=self.on_entry, **options)

    def note(self, venue: str, symbol: str) -> None:
        status = self.sub.status(venue, symbol)
        seen = self.states[f"{venue}:{symbol}"]
        entry = (status.state.value, status.cause.value if status.cause else None)
        if not seen or seen[-1] != entry:
            seen.append(entry)

    async def poll(self) -> None:
        """Also note the states a read sees between entries (a lost broker, silence)."""
        while True:
            for book in BOOKS:
                self.note(*book.split(":"))
            await asyncio.sleep(0.005)

    def on_entry(self, venue: str, symbol: str) -> None:
        self.note(venue, symbol)
        try:
            view = self.sub.view(venue, symbol, 10)
        except BookNotLive:
            return
        self.views.append([venue, symbol, view.update_id, view.generation,
                           [[str(p), str(q)] for p, q in view.bids],
                           [[str(p), str(q)] for p, q in view.asks]])  # fmt: skip

    def all_live(self) -> bool:
        return all(self.sub.is_live(*book.split(":")) for book in BOOKS)

    def counts(self, name: str) -> int:
        return sum(book.get(name, 0) for book in self.sub.stats()["books"].values())


async def test_broker_restart_mid_stream_heals_counted(redis_server) -> None:
    await broker_restart_heals(redis_server, "redis", "t2")


async def broker_restart_heals(server: Any, backend: str, prefix: str) -> None:
    """Restart the broker under a publishing engine and a subscriber: both reconnect,
    the subscriber serves only the truth again, every book's loss is counted (and the
    publisher's reconnect exported by the metrics collector, labelled ``backend``)."""
    async with engine(server.url, prefix=prefix) as run:
        watched = Watched(server.url, prefix)
        async with watched.sub:
            poller = asyncio.create_task(watched.poll())
            await wait_for(watched.all_live, 10)
            await asyncio.sleep(0.3)
            before = len(watched.views)
            await asyncio.to_thread(server.restart, 0.2)  # down, then back on its port
            await wait_for(lambda: run.publisher.counts["reconnects"] >= 1, 5)
            await wait_for(watched.all_live, 5)
            await asyncio.sleep(0.3)
            assert watched.counts("broker_lost") >= len(BOOKS)
            assert watched.sub.stats()["subscriber"]["connects"] >= 2
            # The publisher's counters through the metrics collector (Prometheus).
            registry = CollectorRegistry()
            register(run.manager, registry)
            text = generate_latest(registry).decode()
            assert f'wexbook_publisher_reconnects_total{{backend="{backend}"}} 1.0' in text
            assert f'wexbook_publisher_connected{{backend="{backend}"}} 1.0' in text
            assert f'wexbook_publisher_publish_seconds_count{{backend="{backend}"}}' in text
            poller.cancel()
    compared, mismatches = run.compare(watched.views)
    assert mismatches == 0 and compared > 0
    assert len(watched.views) > before  # it served again after the restart
    assert run.publisher.counts["disconnects"] >= 1
    for states in watched.states.values():
        assert ("disconnected", "feed-down") in states  # the subscriber lost the broker


async def test_kill_9_publisher_fails_closed_then_a_new_one_heals(redis_server, tmp_path) -> None:
    truths = [str(tmp_path / "truth1.jsonl"), str(tmp_path / "truth2.jsonl")]
    watched = Watched(redis_server.url, "t3")
    phases: list[list[Any]] = [[], []]
    first = child("engine", redis_server.url, truths[0], 30, BOOKS, "t3")
    second = None
    try:
        async with watched.sub:
            await wait_for(watched.all_live, 15)
            await asyncio.sleep(0.3)
            first.send_signal(signal.SIGKILL)
            first.wait()
            phases[0] = list(watched.views)
            await wait_for(lambda: not any(watched.sub.is_live(*b.split(":")) for b in BOOKS), 3)
            for book in BOOKS:
                with pytest.raises(BookDisconnected, match="nothing from the publisher"):
                    watched.sub.view(*book.split(":"))
            watched.views.clear()
            second = child("engine", redis_server.url, truths[1], 30, BOOKS, "t3")
            await wait_for(watched.all_live, 15)
            await asyncio.sleep(0.3)
            phases[1] = list(watched.views)
            assert watched.counts("silence") >= len(BOOKS)
            assert watched.counts("publisher") + watched.counts("heads") >= len(BOOKS)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    for views, path in zip(phases, truths, strict=True):
        truth = {}
        with open(path, "rb") as f:
            for line in f.read().splitlines():
                with contextlib.suppress(orjson.JSONDecodeError):  # the line kill -9 cut
                    venue, symbol, update_id, bids, asks = orjson.loads(line)
                    truth[venue, symbol, update_id] = exact(bids, asks)
        compared = mismatches = 0
        for venue, symbol, update_id, _, bids, asks in views:
            if (venue, symbol, update_id) in truth:
                compared += 1
                mismatches += exact(bids, asks) != truth[venue, symbol, update_id]
        assert mismatches == 0 and compared > 0


async def test_paused_subscriber_whose_history_was_trimmed_heals(redis_server, tmp_path) -> None:
    out = str(tmp_path / "paused.json")
    async with engine(redis_server.url, prefix="t4", maxlen=20, snapshot_every=10) as run:
        # Trimming in nodes of 10 entries (not 100): MAXLEN ~ 20 keeps 20 to 30 entries.
        admin = redis.Redis.from_url(redis_server.url)
        await admin.config_set("stream-node-max-entries", 10)
        await admin.aclose()
        process = child("subscribe", redis_server.url, out, 20, BOOKS, "t4", max_silence=5.0)
        try:
            await wait_ready([out])  # it started and went LIVE
            process.send_signal(signal.SIGSTOP)
            await asyncio.sleep(1.5)  # far more than 30 entries per book
            process.send_signal(signal.SIGCONT)
            await asyncio.sleep(1.0)
        except BaseException:
            process.kill()
            raise
    await healed_from_trimmed_history(process, out, run)


async def healed_from_trimmed_history(process: Any, out: str, run: Any) -> None:
    """The paused subscriber ``process`` (its output ``out``) served only the truth, and
    every book counted the history it lost and healed from a later snapshot."""
    await wait_process(process, 10)
    result = subscriber_output(out)
    compared, mismatches = run.compare(result["views"])
    assert mismatches == 0 and compared > 0
    stats = result["stats"]["books"]
    for book in BOOKS:
        assert stats[book].get("gap", 0) >= 1, stats[book]  # history trimmed away: counted
        assert stats[book]["snapshots"] >= 2  # and healed from a later snapshot
        assert any(state == "live" for state, *_ in result["states"][book][2:])


async def test_overloaded_publisher_stops_deltas_sends_status_and_snapshot(redis_server) -> None:
    async with engine(redis_server.url, prefix="t5", max_queue=20) as run:
        watched = Watched(redis_server.url, "t5", max_silence=5.0)
        async with watched.sub:
            await wait_for(watched.all_live, 10)
            os.kill(redis_server.process.pid, signal.SIGSTOP)  # the broker stops answering
            try:
                await wait_for(lambda: run.publisher.counts["overflows"] >= 1, 5)
                await asyncio.sleep(0.1)
            finally:
                os.kill(redis_server.process.pid, signal.SIGCONT)
            assert run.publisher.queue_depth <= 20 + 3 * len(BOOKS)  # bounded
            await wait_for(watched.all_live, 5)
            await asyncio.sleep(0.3)
    compared, mismatches = run.compare(watched.views)
    assert mismatches == 0 and compared > 0
    # The overflowed books' subscribers saw why their stream stopped, then healed.
    assert any(("resyncing", "overflow") in states for states in watched.states.values())
    assert run.publisher.counts["deltas_superseded"] > 0


# -- the publisher's encoding and its Redis connection (issue 24: a cheap publisher) ------


def _parsed(frame: Any, venue: Venue) -> tuple[Any, ...]:
    event = depth_event(frame, venue)
    return event.first_id, event.last_id, event.prev_id, list(event.bids), list(event.asks)


def _spellings(frame: bytes) -> list[Any]:
    """One frame spelled every way a parser reads the same: the exchange's, spaced, keys
    reordered, an escape, ``data`` not last, a decoy ``data`` nested after it, as text."""
    push = orjson.loads(frame)
    data = push["data"]
    reordered = {"topic": push["topic"], "data": dict(reversed(list(data.items())))}
    decoy = {**push, "zz": {"data": {**data, "b": [], "a": []}}}
    return [
        frame,
        orjson.dumps(push, option=orjson.OPT_INDENT_2),
        orjson.dumps(reordered),
        orjson.dumps({**push, "event": 'depth "update"'}),
        orjson.dumps({"data": data, "topic": push["topic"]}),
        frame.replace(b'"data":', b'"x":{"data":{"s":"q"}},"data":', 1),
        orjson.dumps(decoy),
        frame.decode(),
    ]


def test_delta_parts_are_what_a_parser_reads_from_every_spelling() -> None:
    flow = OrderFlow(seed=7)
    spot = flow.spot_frames(40)
    futures = []
    for _ in range(40):
        first, last, bids, asks = flow.step()
        futures.append(futures_raw(first - 1, first, last, bids, asks))
    futures.append(futures_raw(9, 10, 12, [["1.50", "2.0"]]).replace(b',"t":123456789', b""))
    futures.append(futures_raw(9, 10, 12, [["1.50", "2.0"]]).replace(b"123456789", b"null"))
    spot.append(spot_raw(5, 6, [["0.10", "0"]], []))
    cases = [(f, Venue.SPOT) for f in spot] + [(f, Venue.FUTURES) for f in futures]
    checked = 0
    for frame, venue in cases:
        for spelling in _spellings(frame):
            first, last, prev, bids, asks = delta_parts(spelling, venue)
            assert (first, last, prev, orjson.loads(bids), orjson.loads(asks)) == _parsed(
                spelling, venue
            )
            checked += 1
        # The exchange's own spelling is kept to the byte (exact level strings).
        data = orjson.loads(frame)["data"]
        assert delta_parts(frame, venue)[3] == orjson.dumps(data["b"])
    event = depth_event(spot[0], Venue.SPOT)
    assert delta_parts(event, Venue.SPOT)[:3] == (event.first_id, event.last_id, None)
    assert checked == len(cases) * 8


def test_an_encoded_delta_is_the_message_encode_message_writes() -> None:
    status = {"v": 1, "k": "status", "p": "ab12", "n": 6, "g": 1, "u": 41, "t": 5, "s": 0,
              "ca": 0, "r": None}  # fmt: skip
    for prev, before in ((None, None), (40, 41)):
        delta = {"v": 1, "k": "delta", "p": "ab12", "n": 7, "g": 2, "u": 42, "t": 1_764_000,
                 "b": [["100.50", "0"]], "a": [], "fi": 42, "pi": prev, "pu": before,
                 "r": 1_763_999}  # fmt: skip
        encoded = schema.encode_delta(
            b"ab12", 7, 2, 42, 1_764_000, b'[["100.50","0"]]', b"[]", 42, prev, before, 1_763_999
        )
        entry = schema.join_entry([schema.encode_message(status), encoded])
        assert entry == schema.encode_entry([status, delta])
        assert schema.decode_entry(entry) == [status, delta]


async def test_redis_backend_writes_entries_and_heads_in_one_batch(redis_server) -> None:
    backend = RedisPublishBackend(redis_server.url, "b1", maxlen=20)
    admin = redis.Redis.from_url(redis_server.url)
    try:
        await admin.config_set("stream-node-max-entries", 10)
        await backend.open()
        await backend.write([("spot", "x", b"[1]", True), ("spot", "x", b"[2]", False),
                             ("futures", "y", b"[3]", False)])  # fmt: skip
        entries = await admin.xrange("b1:spot:x")
        assert [fields[b"m"] for _, fields in entries] == [b"[1]", b"[2]"]
        head = await admin.hgetall("b1:spot:x:head")
        assert head == {b"id": entries[0][0], b"m": b"[1]"}  # the head names its entry
        assert [f[b"m"] for _, f in await admin.xrange("b1:futures:y")] == [b"[3]"]
        assert not await admin.exists("b1:futures:y:head")
        for n in range(10):
            await backend.write([("spot", "x", b"[%d]" % (10 * n + k), False) for k in range(10)])
        assert 20 <= await admin.xlen("b1:spot:x") <= 30  # MAXLEN ~ 20
    finally:
        await backend.close()
        await admin.aclose()


async def test_redis_backend_an_error_reply_fails_its_batch_only(redis_server) -> None:
    backend = RedisPublishBackend(redis_server.url, "b2", maxlen=100)
    admin = redis.Redis.from_url(redis_server.url)
    try:
        await admin.set("b2:spot:bad", "not a stream")
        await backend.open()
        with pytest.raises(RESP_ERRORS, match="WRONGTYPE"):
            await backend.write([("spot", "bad", b"[1]", False), ("spot", "ok", b"[2]", True)])
        assert await admin.xlen("b2:spot:ok") == 1  # the rest of the batch was written
        await backend.write([("spot", "ok", b"[3]", False)])  # the connection goes on
        assert await admin.xlen("b2:spot:ok") == 2
        await admin.client_kill_filter(_type="normal", skipme=True)  # the server drops it
        with pytest.raises(RESP_ERRORS):
            for _ in range(50):  # the loss is seen by the write after it, at the latest
                await backend.write([("spot", "ok", b"[4]", False)])
                await asyncio.sleep(0.01)
    finally:
        await backend.close()
        await admin.aclose()


async def test_redis_backend_a_silent_server_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 20)
        await asyncio.sleep(10)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    backend = RedisPublishBackend(f"redis://127.0.0.1:{port}/0", "b3", maxlen=100, timeout=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(RESP_ERRORS, match="no reply"):
            await backend.open()
        assert time.monotonic() - started < 2.0
    finally:
        await backend.close()
        server.close()


class LockedRedis(brokers.RedisServer):
    """``redis-server`` with a password and a unix socket too."""

    def command(self) -> list[str]:
        socket_path = os.path.join(self.dir, "redis.sock")
        return [*super().command(), "--requirepass", "s3cret", "--unixsocket", socket_path]


async def test_redis_backend_url_password_db_and_unix_socket() -> None:
    server = LockedRedis()
    socket_path = os.path.join(server.dir, "redis.sock")
    admin = redis.Redis.from_url(f"redis://:s3cret@127.0.0.1:{server.port}/0")
    try:
        for url, db in ((f"redis://:s3cret@127.0.0.1:{server.port}/3", 3),
                        (f"unix://:s3cret@{socket_path}?db=2", 2)):  # fmt: skip
            backend = RedisPublishBackend(url, "b4", maxlen=100)
            await backend.open()
            await backend.write([("spot", "x", b"[1]", True)])
            await backend.close()
            await admin.select(db)
            assert await admin.xlen("b4:spot:x") == 1
            assert await admin.hget("b4:spot:x:head", "m") == b"[1]"
            await admin.delete("b4:spot:x")
        wrong = RedisPublishBackend(f"redis://:nope@127.0.0.1:{server.port}/0", "b4", 100)
        with pytest.raises(RESP_ERRORS) as refused:
            await wrong.open()
        assert "nope" not in str(refused.value)
        await wrong.close()
    finally:
        await admin.aclose()
        server.cleanup()
