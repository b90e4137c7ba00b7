"""The sans-I/O websocket protocol: requests, acks, pushes, bad frames, heartbeat."""

from __future__ import annotations

import orjson
import pytest

from feeds.protocol import Ack, BadFrame, FeedProtocol, Pong
from feeds.topics import Push, SpotTrade
from orderbook import DepthUpdate


def test_spot_subscribe_request_and_ack() -> None:
    proto = FeedProtocol("spot")
    text = proto.subscribe(["depth_update@btc_usdt", "trade@btc_usdt"])
    req = orjson.loads(text)
    assert req == {
        "method": "subscribe",
        "params": ["depth_update@btc_usdt", "trade@btc_usdt"],
        "id": "1",
    }
    ack = proto.receive('{"id":"1","code":0,"msg":"success"}', now=1.0)
    assert isinstance(ack, Ack) and ack.ok and ack.params == tuple(req["params"])
    assert proto.pending_requests == 0


def test_futures_uses_upper_case_methods_and_failed_acks_drop_topics() -> None:
    proto = FeedProtocol("futures")
    req = orjson.loads(proto.subscribe(["depth_update@nope_usdt,100ms"]))
    assert req["method"] == "SUBSCRIBE"
    ack = proto.receive(orjson.dumps({"id": req["id"], "code": 400, "msg": "bad"}), now=0)
    assert isinstance(ack, Ack) and not ack.ok and ack.code == 400
    assert proto.subscriptions == set() and proto.counts["acks_failed"] == 1
    assert orjson.loads(proto.unsubscribe(["trade@btc_usdt"]))["method"] == "UNSUBSCRIBE"
    with pytest.raises(ValueError):
        proto.subscribe([])


def test_resubscribe_restores_everything_in_batches() -> None:
    proto = FeedProtocol("spot")
    topics = [f"trade@s{n}_usdt" for n in range(120)]
    proto.subscribe(topics)
    texts = proto.resubscribe()
    params = [p for t in texts for p in orjson.loads(t)["params"]]
    assert sorted(params) == sorted(topics) and len(texts) == 3


def test_pushes_and_bad_frames() -> None:
    proto = FeedProtocol("spot")
    trade = orjson.dumps(
        {
            "topic": "trade",
            "event": "trade@btc_usdt",
            "data": {"s": "btc_usdt", "i": 1, "t": 2, "p": "43000", "q": "0.21", "b": True},
        }
    )
    got = proto.receive(trade, now=0)
    assert isinstance(got, Push) and isinstance(got.data, SpotTrade)
    depth = b'{"topic":"depth_update","data":{"s":"x","fi":1,"i":2,"a":[],"b":[]}}'
    assert isinstance(proto.receive(depth, now=0).data, DepthUpdate)
    for text, kind in (
        ("{half", "malformed"),
        ('{"topic":"depth_update","data":{"s":"x"}}', "malformed"),
        ('{"topic":"mystery","data":{}}', "unknown_topic"),
        ("[]", "malformed"),
    ):
        bad = proto.receive(text, now=0)
        assert isinstance(bad, BadFrame) and bad.kind == kind and bad.raw == text
    assert proto.counts["malformed"] == 3 and proto.counts["unknown_topic"] == 1
    assert proto.counts["pushes"] == 2


def test_heartbeat_schedule_and_death() -> None:
    spot, fut = FeedProtocol("spot"), FeedProtocol("futures")
    # A ping a second and two seconds of silence by default, on both venues.
    assert spot.ping_interval == fut.ping_interval == 1.0
    assert spot.dead_after == fut.dead_after == 2.0 and fut.pong_timeout == 2.0
    fut = FeedProtocol("futures", ping_interval=10, pong_timeout=10, dead_after=30)
    assert not fut.ping_due(9.9) and fut.ping_due(10)
    assert fut.ping(10) == "ping"
    assert not fut.is_dead(15)
    assert fut.is_dead(20.1)  # ping at 10 unanswered for > 10 s
    assert "ping unanswered for 10.1 s" in fut.death(20.1)
    assert isinstance(fut.receive("pong", now=12), Pong)
    assert not fut.is_dead(25) and fut.death(25) is None
    assert fut.is_dead(42.1)  # silent for > 30 s
    assert fut.death(42.1) == "silent link: nothing received for 30.1 s"


def test_a_silent_link_is_dead_within_the_default_two_seconds() -> None:
    proto = FeedProtocol("spot")
    proto.on_connected(100.0)
    assert proto.ping_due(100.0)  # the first ping goes out at once
    proto.ping(100.0)
    assert proto.receive("pong", now=100.01) and proto.heard == 1
    assert proto.death(102.0) is None
    assert proto.death(102.02) == "silent link: nothing received for 2.0 s"


@pytest.mark.parametrize(
    "options",
    [{"ping_interval": 0}, {"ping_interval": 60}, {"pong_timeout": 0}, {"dead_after": -1}],
)
def test_heartbeat_settings_out_of_range_are_refused(options) -> None:
    with pytest.raises(ValueError):
        FeedProtocol("spot", **options)


def test_data_keeps_a_connection_alive_but_not_an_unanswered_ping() -> None:
    proto = FeedProtocol("spot", pong_timeout=5)
    proto.ping(0)
    proto.receive('{"topic":"mystery","data":{}}', now=4)
    assert not proto.is_dead(4.5)
    proto.receive('{"topic":"mystery","data":{}}', now=6)
    assert proto.is_dead(6)
