"""Raw frames and REST payloads to events; malformed input gets a clear, specific error."""

from __future__ import annotations

import orjson
import pytest
from helpers import futures_raw, spot_raw

from orderbook import (
    MalformedEvent,
    Venue,
    futures_snapshot,
    load_frame,
    parse_depth_update,
    spot_snapshot,
)

pytestmark = pytest.mark.usefixtures("hot_path")


def test_spot_document_example() -> None:
    raw = spot_raw(121, 123, bids=[["32000", "0.2"]], asks=[["34000", "1.2"], ["34001", "2.3"]])
    event = parse_depth_update(raw, Venue.SPOT)
    assert (event.symbol, event.first_id, event.last_id, event.prev_id) == (
        "btc_usdt",
        121,
        123,
        None,
    )
    assert event.asks == [["34000", "1.2"], ["34001", "2.3"]]
    assert event.bids == [["32000", "0.2"]]


def test_futures_document_example() -> None:
    raw = futures_raw(120, 121, 123, bids=[["32000", "0.2"]], asks=[["34000", "1.2"]])
    event = parse_depth_update(raw.decode(), "futures")
    assert (event.first_id, event.last_id, event.prev_id, event.event_time) == (
        121,
        123,
        120,
        123456789,
    )


@pytest.mark.parametrize(
    ("raw", "venue", "message"),
    [
        (b"{not json", "spot", "not valid JSON"),
        (b"[1,2]", "spot", "topic and data"),
        (b'{"topic":"trade","data":{}}', "spot", "not a depth_update"),
        (b'{"topic":"depth_update","data":{"s":"x","fi":1,"a":[],"b":[]}}', "spot", "lacks"),
        (b'{"topic":"depth_update","data":{"s":"x","fi":"1","i":2,"a":[],"b":[]}}', "spot", "ids"),
        (b'{"topic":"depth_update","data":{"s":"x","fi":3,"i":2,"a":[],"b":[]}}', "spot", "ids"),
        (b'{"topic":"depth_update","data":{"s":"x","fi":1,"i":2,"a":{},"b":[]}}', "spot", "lists"),
        (
            b'{"topic":"depth_update","data":{"s":"x","pu":5,"fu":1,"u":5,"a":[],"b":[]}}',
            "futures",
            "pu < u",
        ),
        (
            b'{"topic":"depth_update","data":{"s":"x","fu":1,"u":5,"a":[],"b":[]}}',
            "futures",
            "lacks",
        ),
    ],
)
def test_malformed_frames(raw: bytes, venue: str, message: str) -> None:
    with pytest.raises(MalformedEvent, match=message) as info:
        parse_depth_update(raw, venue)
    assert info.value.raw is not None
    assert isinstance(info.value, ValueError)


def test_malformed_raw_is_truncated_for_logging() -> None:
    with pytest.raises(MalformedEvent) as info:
        parse_depth_update(b"x" * 5000, "spot")
    assert info.value.raw == "x" * 512


def test_unknown_venue() -> None:
    with pytest.raises(ValueError, match="venue"):
        parse_depth_update(spot_raw(1, 2), "options")


def test_load_frame() -> None:
    assert load_frame(b'{"id":"1","code":0,"msg":""}') == {"id": "1", "code": 0, "msg": ""}
    with pytest.raises(MalformedEvent):
        load_frame(b'"pong"')
    with pytest.raises(MalformedEvent):
        load_frame("pong")


def test_spot_snapshot_document_shape() -> None:
    result = orjson.loads(
        b'{"timestamp":1662445330524,"lastUpdateId":137333589606963580,'
        b'"bids":[["200.0000","0.996000"]],"asks":[["230.0000","3.000000"]]}'
    )
    snap = spot_snapshot(result, "btc_usdt", 500)
    assert snap.last_id == 137333589606963580 and snap.depth == 500
    assert snap.bids == [["200.0000", "0.996000"]] and snap.asks == [["230.0000", "3.000000"]]


def test_futures_snapshot_reads_a_as_asks_and_b_as_bids() -> None:
    result = {"t": 1, "s": "btc_usdt", "u": 99, "a": [["101", "1"]], "b": [["100", "2"]]}
    snap = futures_snapshot(result)
    assert snap.symbol == "btc_usdt" and snap.last_id == 99
    assert snap.asks == [["101", "1"]]
    assert snap.bids == [["100", "2"]]


@pytest.mark.parametrize(
    "result",
    [
        {"bids": [], "asks": []},
        {"lastUpdateId": "12", "bids": [], "asks": []},
        {"lastUpdateId": 12, "bids": [["1"]], "asks": []},
        {"lastUpdateId": 12, "bids": [["1", 1.5]], "asks": []},
        {"lastUpdateId": 12, "bids": {}, "asks": []},
        None,
    ],
)
def test_malformed_spot_snapshots(result: object) -> None:
    with pytest.raises(MalformedEvent):
        spot_snapshot(result, "btc_usdt")  # type: ignore[arg-type]
