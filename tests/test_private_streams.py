"""Private websocket streams against the simulator: a full round trip (order -> private
events -> query -> cancel) on both venues, and token renewal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from feeds.private import (
    FuturesFillEvent,
    FuturesOrderEvent,
    FuturesPositionEvent,
    ListenKeyInvalid,
    PrivateStream,
    SpotFillEvent,
    SpotOrderEvent,
    parse_private_push,
)
from feeds.rest.client import AsyncWexClient
from feeds.sim import DEMO_API_KEY, DEMO_SECRET, Simulator
from feeds.topics import Push, UnknownTopic
from tests.helpers import wait_for


def _client(sim: Simulator) -> AsyncWexClient:
    return AsyncWexClient(
        DEMO_API_KEY, DEMO_SECRET, spot_url=sim.spot_http_url, futures_url=sim.futures_http_url
    )


def _of(events: list[Push], cls: type) -> list:
    return [e.data for e in events if isinstance(e.data, cls)]


async def test_spot_round_trip() -> None:
    async with Simulator(auto=False) as sim, _client(sim) as client:
        events: list[Push] = []
        async with PrivateStream(client, "spot", url=sim.spot_private_url, on_event=events.append):
            await wait_for(lambda: sim.stats()["private"]["connections"] == 1)
            await wait_for(lambda: sim.ws.private.clients and all(
                len(c.subscriptions) == 3 for c in sim.ws.private.clients))  # fmt: skip
            placed = await client.spot.submit_order(
                symbol="btc_usdt", side="SELL", type="MARKET", timeInForce="IOC",
                bizType="SPOT", quantity="0.5",
            )  # fmt: skip
            order_id = int(placed["orderId"])
            await wait_for(lambda: any(o.state == "FILLED" for o in _of(events, SpotOrderEvent)))
            fills = [f for f in _of(events, SpotFillEvent) if f.order_id == order_id]
            assert sum(f.qty for f in fills) == Decimal("0.5")
            queried = await client.spot.get_order(orderId=order_id)
            assert queried["state"] == "FILLED"
            assert Decimal(queried["executedQty"]) == Decimal("0.5")
            book = sim.book("spot", "btc_usdt")
            price = str(min(book.bids) - 50)
            resting = await client.spot.submit_order(
                symbol="btc_usdt", side="BUY", type="LIMIT", timeInForce="GTC", bizType="SPOT",
                price=price, quantity="0.1",
            )  # fmt: skip
            await client.spot.cancel_order(orderId=resting["orderId"])
            await wait_for(lambda: any(
                o.state == "CANCELED" and o.order_id == int(resting["orderId"])
                for o in _of(events, SpotOrderEvent)))  # fmt: skip
            assert any(e.topic == "balance" for e in events)


async def test_futures_round_trip_and_renewal_on_invalid_key() -> None:
    async with Simulator(auto=False) as sim, _client(sim) as client:
        stream = PrivateStream(client, "futures", url=sim.futures_user_url)
        async with stream:
            await wait_for(lambda: sim.ws.private.clients and all(
                len(c.subscriptions) == 5 for c in sim.ws.private.clients))  # fmt: skip
            order_id = await client.futures.create_order(
                symbol="btc_usdt", orderSide="BUY", orderType="MARKET", origQty=4,
                positionSide="LONG",
            )  # fmt: skip
            seen: list[Push] = []

            async def collect(n: int) -> None:
                async for event in stream.events():
                    seen.append(event)
                    if len(seen) >= n:
                        return

            await collect(4)  # trade, position, balance, order
            assert {e.topic for e in seen} == {"trade", "position", "balance", "order"}
            assert _of(seen, FuturesFillEvent)[0].order_id == int(order_id)
            assert _of(seen, FuturesPositionEvent)[0].size == 4
            assert _of(seen, FuturesOrderEvent)[0].state == "FILLED"
            # The exchange invalidates the key: the stream renews it and resubscribes.
            await sim.ws.private.revoke()
            await wait_for(lambda: stream.counts["renewals"] == 1)
            await wait_for(lambda: sim.ws.private.clients and all(
                len(c.subscriptions) == 5 for c in sim.ws.private.clients))  # fmt: skip
            seen.clear()
            await client.futures.create_order(
                symbol="btc_usdt", orderSide="SELL", orderType="MARKET", origQty=4,
                positionSide="LONG",
            )  # fmt: skip
            await collect(4)
            assert _of(seen, FuturesPositionEvent)[0].size == 0
            assert stream.counts["tokens"] == 2 and stream.counts["invalid_key"] == 1
            assert "listen" not in repr(stream) or "key=set" in repr(stream)


async def test_spot_token_renewed_when_the_server_drops_it() -> None:
    async with Simulator(auto=False) as sim, _client(sim) as client:
        async with PrivateStream(
            client, "spot", url=sim.spot_private_url, backoff_base=0.05
        ) as stream:
            await wait_for(lambda: len(sim.ws.private.clients) == 1)
            await sim.ws.private.revoke()  # spot: the connection is closed, the key dead
            await wait_for(lambda: stream.counts["renewals"] >= 1)
            await wait_for(lambda: sim.ws.private.clients and all(
                len(c.subscriptions) == 3 for c in sim.ws.private.clients))  # fmt: skip
            await client.spot.submit_order(
                symbol="btc_usdt", side="BUY", type="MARKET", timeInForce="IOC", bizType="SPOT",
                quoteQty="100",
            )  # fmt: skip
            await wait_for(lambda: stream.counts["order"] >= 1)


def test_private_push_parsing() -> None:
    push = parse_private_push(
        b'{"topic":"order","event":"order@invalid_listenkey","data":{}}', "futures"
    )
    assert isinstance(push.data, ListenKeyInvalid)
    with pytest.raises(UnknownTopic):
        parse_private_push(b'{"topic":"depth","event":"depth","data":{}}', "spot")
    fill = parse_private_push(
        b'{"topic":"trade","event":"trade","data":{"s":"btc_usdt","i":1,"t":2,"oi":3,'
        b'"p":"43000","q":"0.21","v":"9030","b":true,"tm":1}}',
        "spot",
    )
    assert fill.data == SpotFillEvent(
        symbol="btc_usdt", trade_id=1, time=2, order_id=3, price=Decimal("43000"),
        qty=Decimal("0.21"), quote_qty=Decimal("9030"), buyer_maker=True, taker_maker=1,
    )  # fmt: skip
