"""Books through a real ``nats-server -js``: the same scenarios as on Redis
(:mod:`test_broker_redis`, its helpers and scenario functions run here with the NATS URL),
the ones that differ written out (a broker restart, a trimmed history), and what is the
JetStream backend's own: the subjects it builds, the streams it creates or updates, a
publish the server did not take raising, the URL errors without credentials."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import brokers
import nats
import pytest
import test_broker_redis as scenarios
from brokers import child, wait_ready
from helpers import wait_for
from test_broker_cli import serve_and_subscribe
from test_broker_redis import BOOKS, engine, exact

from feeds.broker import (
    BookPublisher,
    BookSubscriber,
    BrokerUnavailable,
    ThreadedBookSubscriber,
    backend_kind,
)
from feeds.broker.backends import BACKENDS, errors_of, publish_backend, read_backend
from feeds.broker.jetstream import (
    ERRORS,
    JetStreamPublishBackend,
    JetStreamReadBackend,
    stream_names,
    subjects,
    token,
)
from orderbook import BookNotLive

nats_server = brokers.nats_server  # the fixture


# -- the scenarios of the Redis tests, on NATS -----------------------------------------------


async def test_subscribers_in_other_processes_serve_only_the_truth(nats_server, tmp_path) -> None:
    await scenarios.test_subscribers_in_other_processes_serve_only_the_truth(nats_server, tmp_path)


async def test_kill_9_publisher_fails_closed_then_a_new_one_heals(nats_server, tmp_path) -> None:
    await scenarios.test_kill_9_publisher_fails_closed_then_a_new_one_heals(nats_server, tmp_path)


async def test_overloaded_publisher_stops_deltas_sends_status_and_snapshot(nats_server) -> None:
    await scenarios.test_overloaded_publisher_stops_deltas_sends_status_and_snapshot(nats_server)


async def test_broker_restart_mid_stream_heals_counted(nats_server) -> None:
    await scenarios.broker_restart_heals(nats_server, "nats", "n2")  # its store kept


async def test_paused_subscriber_whose_history_was_trimmed_heals(nats_server, tmp_path) -> None:
    out = str(tmp_path / "paused.json")
    # 20 entries per book kept; the paused subscriber holds at most a pull request's worth
    # (4: like a Redis reader, which holds nothing it has not asked for).
    async with engine(nats_server.url, prefix="n4", maxlen=20, snapshot_every=10) as run:
        process = child(
            "subscribe", nats_server.url, out, 20, BOOKS, "n4", max_silence=5.0, batch=4
        )
        try:
            await wait_ready([out])
            process.send_signal(signal.SIGSTOP)
            await asyncio.sleep(1.5)  # far more than 20 + 4 entries per book
            process.send_signal(signal.SIGCONT)
            await asyncio.sleep(1.0)
        except BaseException:
            process.kill()
            raise
    await scenarios.healed_from_trimmed_history(process, out, run)


async def test_a_threaded_subscriber_serves_views_from_any_thread(nats_server) -> None:
    async with engine(nats_server.url, prefix="n6") as run:
        sub = ThreadedBookSubscriber(nats_server.url, BOOKS, prefix="n6", max_silence=1.0)
        with sub:
            for book in BOOKS:
                assert await asyncio.to_thread(sub.wait_live, *book.split(":"), 10)
            compared = 0
            for _ in range(100):  # the faults are on: some reads find it not LIVE
                await asyncio.sleep(0.01)
                try:
                    view = sub.view("spot", "btc_usdt", 10)  # not the subscriber's thread
                except BookNotLive:
                    continue
                truth = run.truth.get(("spot", "btc_usdt", view.update_id))
                if truth is not None:
                    compared += 1
                    bids = [[str(p), str(q)] for p, q in view.bids]
                    asks = [[str(p), str(q)] for p, q in view.asks]
                    assert exact(bids, asks) == exact(*truth)
            assert compared > 0
        assert sub.status("spot", "btc_usdt").state.value == "closed"


# -- the backend's own ------------------------------------------------------------------------


@asynccontextmanager
async def admin(url: str) -> AsyncIterator[Any]:
    """A JetStream client of the test's own (to look at the server, or break it)."""
    nc = await nats.connect(url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


def test_subjects_are_one_token_per_book_and_the_prefix_must_be_one() -> None:
    assert subjects("wexbook", "spot", "btc_usdt") == (
        "wexbook.spot.btc_usdt",
        "wexbook.head.spot.btc_usdt",
    )
    assert token("btc-usdt_2") == "btc-usdt_2"
    assert token("a.b*c >") == "a%2Eb%2Ac%20%3E"
    assert token("a%2E") != token("a.")  # the escape escapes itself
    assert token("é") == "%C3%A9"
    assert stream_names("t-1") == ("BOOKS_t-1", "HEADS_t-1")
    for bad in ("a.b", "a b", "", "a*"):
        with pytest.raises(ValueError, match="NATS prefix"):
            stream_names(bad)


def test_urls_name_their_backend_in_one_table() -> None:
    assert [b.name for b in BACKENDS] == ["redis", "nats"]
    assert backend_kind("nats://127.0.0.1:4222") == "nats"
    assert backend_kind("tls://127.0.0.1:4222") == "nats"
    assert backend_kind("redis://127.0.0.1:6379/0") == "redis"
    publisher = publish_backend("nats://127.0.0.1:1", "p", 100)
    reader = read_backend("nats://127.0.0.1:1", "p")
    assert isinstance(publisher, JetStreamPublishBackend) and publisher.name == "nats"
    assert isinstance(reader, JetStreamReadBackend) and reader.START == "0"
    assert errors_of(publisher) is ERRORS and errors_of(reader) is ERRORS


def test_an_unknown_scheme_is_one_line_without_credentials() -> None:
    with pytest.raises(BrokerUnavailable) as caught:
        backend_kind("http://user:hunter2@127.0.0.1:1/x?password=hunter3")
    message = str(caught.value)
    assert "\n" not in message and "nats://" in message and "redis://" in message
    assert "hunter2" not in message and "hunter3" not in message and "user" not in message


async def test_credentials_stay_out_of_errors_and_logs(caplog) -> None:
    url = f"nats://user:hunter2@127.0.0.1:{brokers.free_port()}"  # nothing listens there
    caplog.set_level(logging.DEBUG)
    publisher = BookPublisher(url, backoff=0.01, max_backoff=0.02)
    with pytest.raises(ERRORS) as caught:
        await publisher.backend.open()
    assert "hunter2" not in str(caught.value) and "hunter2" not in repr(publisher.backend)
    sub = BookSubscriber(url, ["spot:btc_usdt"], backoff=0.01, max_backoff=0.02)
    async with sub:
        await wait_for(lambda: sub.counts["connect_failures"] >= 2, 5)
        status = sub.status("spot", "btc_usdt")
    assert status.reason is not None and "hunter2" not in status.reason
    assert "hunter2" not in caplog.text


async def test_streams_are_created_or_updated_on_open(nats_server) -> None:
    first = JetStreamPublishBackend(nats_server.url, "u1", 100)
    await first.open()
    await first.open()  # the same configuration again: nothing to change
    second = JetStreamPublishBackend(nats_server.url, "u1", 30)
    await second.open()  # another bound: the stream is updated
    try:
        for n in range(40):
            await second.write([("spot", "btc_usdt", b"[%d]" % n, n == 0)])
        async with admin(nats_server.url) as js:
            books, heads = await js.stream_info("BOOKS_u1"), await js.stream_info("HEADS_u1")
        assert books.config.max_msgs_per_subject == 30 and books.state.messages == 30
        assert heads.config.max_msgs_per_subject == 1 and heads.state.messages == 1
        reader = JetStreamReadBackend(nats_server.url, "u1")
        await reader.open()
        try:
            assert await reader.head("spot", "btc_usdt") == ("1", b"[0]")  # the first entry
            assert await reader.head("spot", "eth_usdt") is None
            entries = await reader.read({("spot", "btc_usdt"): "0"}, 1.0)
            assert [p for _, p, _ in entries] == [str(n) for n in range(11, 41)]  # trimmed
        finally:
            await reader.close()
    finally:
        await first.close()
        await second.close()


async def test_a_publish_the_server_did_not_take_raises(nats_server) -> None:
    backend = JetStreamPublishBackend(nats_server.url, "u2", 100, timeout=0.5)
    await backend.open()
    try:
        await backend.write([("spot", "btc_usdt", b"[1]", True)])
        async with admin(nats_server.url) as js:
            await js.delete_stream("BOOKS_u2")
        with pytest.raises(ERRORS):  # no stream takes it: no responders, not silence
            await backend.write([("spot", "btc_usdt", b"[2]", False)])
        await backend.open()  # the publisher's reconnect: the stream is there again
        await backend.write([("spot", "btc_usdt", b"[3]", False)])
        nats_server.stop()
        with pytest.raises(ERRORS):
            await backend.write([("spot", "btc_usdt", b"[4]", False)])
    finally:
        await backend.close()


async def test_a_server_without_jetstream_is_said_so() -> None:
    server = brokers.PlainNatsServer()
    try:
        for backend in (
            JetStreamPublishBackend(server.url, "u4", 100),
            JetStreamReadBackend(server.url, "u4"),
        ):
            with pytest.raises(ERRORS, match=r"no JetStream \(nats-server -js\)"):
                await backend.open()
            await backend.close()
    finally:
        server.cleanup()


async def test_reading_while_the_streams_are_made_leaves_the_server_up(nats_server) -> None:
    reader = JetStreamReadBackend(nats_server.url, "u5")
    await reader.open()
    try:
        for n in range(20):  # each a new prefix: its streams made while a reader asks
            prefix = f"u5x{n}"
            reader = JetStreamReadBackend(nats_server.url, prefix)
            publisher = JetStreamPublishBackend(nats_server.url, prefix, 100)
            await reader.open()
            opening = asyncio.create_task(publisher.open())
            while not opening.done():
                assert await reader.head("spot", "btc_usdt") is None
                assert await reader.read({("spot", "btc_usdt"): reader.START}, 0.0) == []
            await opening
            await publisher.write([("spot", "btc_usdt", b"[1]", True)])
            assert await reader.head("spot", "btc_usdt") == ("1", b"[1]")
            await publisher.close()
            await reader.close()
    finally:
        await reader.close()
    assert nats_server.process.poll() is None  # nats-server 2.9.10 crashed on message gets


async def test_reading_starts_after_the_position_asked(nats_server) -> None:
    publisher = JetStreamPublishBackend(nats_server.url, "u3", 100)
    reader = JetStreamReadBackend(nats_server.url, "u3", batch=4)
    await publisher.open()
    await reader.open()
    try:
        book = ("spot", "btc_usdt")
        assert await reader.read({book: reader.START}, 0.05) == []  # nothing yet
        await publisher.write([("spot", "btc_usdt", b"[%d]" % n, False) for n in range(10)])
        got, position = [], "3"
        while len(got) < 7:  # more than one pull request's worth, in order
            entries = await reader.read({book: position}, 1.0)
            assert entries
            got.extend(entry for _, _, entry in entries)
            position = entries[-1][1]
        assert got == [b"[%d]" % n for n in range(3, 10)]
        entries = await reader.read({book: "8"}, 1.0)  # somewhere else: a new consumer
        assert [(p, e) for _, p, e in entries] == [("9", b"[8]"), ("10", b"[9]")]
    finally:
        await reader.close()
        await publisher.close()


async def test_a_consumer_deleted_under_the_reader_is_made_again_where_it_stood(
    nats_server,
) -> None:
    publisher = JetStreamPublishBackend(nats_server.url, "u6", 100)
    reader = JetStreamReadBackend(nats_server.url, "u6", batch=4)
    await publisher.open()
    await reader.open()
    try:
        book = ("spot", "btc_usdt")
        await publisher.write([("spot", "btc_usdt", b"[%d]" % n, False) for n in range(3)])
        entries = await reader.read({book: reader.START}, 1.0)
        position = entries[-1][1]
        got = [entry for _, _, entry in entries]
        async with admin(nats_server.url) as js:
            for consumer in await js.consumers_info("BOOKS_u6"):
                await js.delete_consumer("BOOKS_u6", consumer.name)
        await publisher.write([("spot", "btc_usdt", b"[%d]" % n, False) for n in range(3, 9)])
        for _ in range(10):
            if len(got) >= 9:
                break
            entries = await reader.read({book: position}, 0.5)
            got.extend(entry for _, _, entry in entries)
            position = entries[-1][1] if entries else position
        assert got == [b"[%d]" % n for n in range(9)]  # none lost, none twice
    finally:
        await reader.close()
        await publisher.close()


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.slow
def test_serve_publishes_and_subscribe_shows_the_books_live(nats_server) -> None:
    serve_and_subscribe(nats_server.url, "nats://")
