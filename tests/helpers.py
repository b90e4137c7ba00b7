"""Small builders shared by the unit tests."""

from __future__ import annotations

import orjson

from orderbook import DepthSnapshot, DepthUpdate


def spot_raw(fi: int, i: int, bids=(), asks=(), symbol: str = "btc_usdt") -> bytes:
    """A spot ``depth_update`` frame, shaped as the API document's example."""
    return orjson.dumps(
        {
            "topic": "depth_update",
            "event": f"depth_update@{symbol}",
            "data": {"s": symbol, "fi": fi, "i": i, "a": list(asks), "b": list(bids)},
        }
    )


def futures_raw(pu: int, fu: int, u: int, bids=(), asks=(), symbol: str = "btc_usdt") -> bytes:
    """A futures ``depth_update`` frame, shaped as the API document's example."""
    return orjson.dumps(
        {
            "topic": "depth_update",
            "event": f"depth_update@{symbol}",
            "data": {
                "s": symbol,
                "pu": pu,
                "fu": fu,
                "u": u,
                "a": list(asks),
                "b": list(bids),
                "t": 123456789,
            },
        }
    )


def spot_event(fi: int, i: int, bids=(), asks=()) -> DepthUpdate:
    return DepthUpdate("btc_usdt", fi, i, None, [list(x) for x in bids], [list(x) for x in asks])


def futures_event(pu: int, fu: int, u: int, bids=(), asks=()) -> DepthUpdate:
    return DepthUpdate("btc_usdt", fu, u, pu, [list(x) for x in bids], [list(x) for x in asks])


def snapshot(last_id: int, bids=(("32000", "1"),), asks=(("34000", "1"),)) -> DepthSnapshot:
    return DepthSnapshot("btc_usdt", last_id, [list(x) for x in bids], [list(x) for x in asks])


async def wait_for(predicate, timeout: float = 8.0) -> None:
    """Poll ``predicate`` in the running loop until true, or fail after ``timeout`` seconds."""
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def at_truth(manager, ex, venue: str, symbol: str) -> bool:
    """The book of ``symbol`` is LIVE at the exchange's last id and equal to its truth."""
    sync = manager.book(venue, symbol).sync
    if not sync.is_live or sync.update_id != ex.flows[symbol].last_id:
        return False
    bids, asks = ex.truth(symbol)
    view = manager.view(venue, symbol, 100)
    return list(view.bids) == bids and list(view.asks) == asks
