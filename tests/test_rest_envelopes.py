"""Depth snapshots through MarketClient: envelopes, errors, 429 (httpx transport stands in
for the exchange; the simulator-backed integration tests use real sockets)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from feeds.rest import FUTURES_Q_DEPTH_PATH, ApiError, MarketClient, SymbolError
from feeds.scheduler import RateLimited

SPOT_OK = {
    "rc": 0, "mc": "SUCCESS", "ma": [],
    "result": {"timestamp": 1, "lastUpdateId": 137333589606963580,
               "bids": [["200.0000", "0.996000"]], "asks": [["230.0000", "3"]]},
}  # fmt: skip
FUT_OK = {
    "error": None, "msgInfo": "success", "returnCode": 0,
    "result": {"a": [["101", "1"]], "b": [["100", "2"]], "s": "btc_usdt", "t": 0, "u": 77},
}  # fmt: skip


def client(handler, **kw) -> MarketClient:
    return MarketClient("http://spot", "http://fut", transport=httpx.MockTransport(handler), **kw)


async def test_spot_and_futures_snapshots() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.url.path, dict(request.url.params)))
        body = SPOT_OK if request.url.host == "spot" else FUT_OK
        return httpx.Response(200, content=orjson.dumps(body))

    async with client(handler) as c:
        spot = await c.depth_snapshot("spot", "btc_usdt")
        fut = await c.depth_snapshot("futures", "btc_usdt")
    assert spot.last_id == 137333589606963580 and spot.depth == 500
    assert spot.bids == [["200.0000", "0.996000"]]
    assert fut.last_id == 77 and fut.asks == [["101", "1"]] and fut.bids == [["100", "2"]]
    assert seen == [
        ("spot", "/v4/public/depth", {"symbol": "btc_usdt", "limit": "500"}),
        ("fut", "/future/market/v1/public/depth", {"symbol": "btc_usdt", "level": "500"}),
    ]


async def test_futures_q_depth_is_selectable_and_checked() -> None:
    paths = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append((request.url.path, request.url.params["level"]))
        return httpx.Response(200, content=orjson.dumps(FUT_OK))

    async with client(handler, futures_depth_path=FUTURES_Q_DEPTH_PATH) as c:
        snap = await c.depth_snapshot("futures", "btc_usdt")
    assert paths == [(FUTURES_Q_DEPTH_PATH, "50")] and snap.depth == 50
    with pytest.raises(ValueError, match=r"1\.\.50"):
        MarketClient(futures_depth_path=FUTURES_Q_DEPTH_PATH, futures_depth_level=500)


@pytest.mark.parametrize(
    ("status", "body", "venue", "code"),
    [
        (200, {"rc": 1, "mc": "SYMBOL_001", "ma": [], "result": None}, "spot", "SYMBOL_001"),
        (400, {"rc": 1, "mc": "PARAMETER_001", "ma": []}, "spot", "PARAMETER_001"),
        (
            200,
            {"returnCode": 1, "msgInfo": "failure",
             "error": {"code": "invalid_symbol", "msg": "The trading pair does not exist"},
             "result": None},
            "futures",
            "invalid_symbol",
        ),
    ],
)  # fmt: skip
async def test_error_envelopes(status: int, body: dict, venue: str, code: object) -> None:
    async with client(lambda r: httpx.Response(status, content=orjson.dumps(body))) as c:
        with pytest.raises(ApiError) as info:
            await c.depth_snapshot(venue, "nope_usdt")
    assert info.value.code == code and info.value.status == status
    assert info.value.raw == orjson.dumps(body)
    if code in ("SYMBOL_001", "invalid_symbol"):  # known codes: their class and documented text
        assert isinstance(info.value, SymbolError)
        assert info.value.documented in ("Symbol not exist", "The trading pair does not exist")


async def test_429_carries_retry_after_and_5xx_is_an_api_error() -> None:
    async with client(lambda r: httpx.Response(429, headers={"Retry-After": "3"})) as c:
        with pytest.raises(RateLimited) as info:
            await c.depth_snapshot("spot", "btc_usdt")
    assert info.value.retry_after == 3.0
    async with client(lambda r: httpx.Response(502, text="<html>bad gateway</html>")) as c:
        with pytest.raises(ApiError, match="502"):
            await c.depth_snapshot("futures", "btc_usdt")
