"""Fail-closed over real sockets: outages, hostile snapshots, id resets and floods of bad frames.

The exchange side is :class:`MiniExchange` (a real websocket server on loopback, with real
HTTP snapshots where the test is about HTTP); the client side is the real BookManager.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest
from helpers import at_truth, wait_for
from mini_exchange import MiniExchange

from feeds.manager import BookManager
from feeds.rest import MarketClient
from orderbook import BookDisconnected, BookNotLive, Decision, SyncState

FAST = {"backoff_base": 0.05, "backoff_max": 0.2}


def manager_for(ex: MiniExchange, http_url: str | None = None, **kw) -> BookManager:
    if http_url is None:
        market = MarketClient("http://spot", "http://fut", transport=ex.transport())
    else:
        market = MarketClient(http_url, http_url)
    return BookManager(
        market=market,
        snapshot_rate=1000,
        spot_ws_url=ex.url,
        futures_ws_url=ex.url,
        connection_options=FAST,
        **kw,
    )


async def start_live(manager: BookManager, ex: MiniExchange, venue: str) -> None:
    await manager.add_many(venue, list(ex.flows))
    await wait_for(lambda: ex.clients and all(len(t) == len(ex.flows) for t in ex.clients.values()))
    for _ in range(3):
        await ex.step()
    await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()), timeout=20)


# -- 1. no LIVE book without a live feed --------------------------------------------------


@pytest.mark.parametrize("venue", ["spot", "futures"])
async def test_an_outage_takes_every_book_out_of_live_until_it_resyncs(venue: str) -> None:
    async with MiniExchange(venue, ["btc_usdt", "eth_usdt", "xrp_usdt"]) as ex:
        async with manager_for(ex) as manager:
            await start_live(manager, ex, venue)
            conn = manager.connections[manager.book(venue, "btc_usdt").venue]
            await ex.outage()
            await wait_for(lambda: not conn.connected.is_set())
            for _ in range(20):  # the exchange moves on while the feed is down
                await ex.step()
                for symbol in ex.flows:
                    sync = manager.book(venue, symbol).sync
                    assert sync.state is SyncState.DISCONNECTED
                    with pytest.raises(BookDisconnected, match="feed down"):
                        manager.view(venue, symbol)
                await asyncio.sleep(0.01)
            assert all(b.counts["feed_down"] == 1 for b in manager.books.values())
            await ex.restore()
            await wait_for(lambda: ex.clients and all(len(t) == 3 for t in ex.clients.values()))
            await ex.step()
            await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()))
            await ex.step(3)
            for symbol in ex.flows:
                await wait_for(lambda s=symbol: at_truth(manager, ex, venue, s))
                assert manager.book(venue, symbol).sync.generation == 2


@pytest.mark.slow
async def test_soak_300_books_an_outage_in_the_middle_none_live_while_down() -> None:
    symbols = [f"s{n:03d}_usdt" for n in range(300)]
    async with MiniExchange("spot", symbols) as ex:
        async with manager_for(ex) as manager:
            await start_live(manager, ex, "spot")
            conn = manager.connections[manager.book("spot", symbols[0]).venue]
            live_while_down = 0
            polls = 0

            await ex.outage()
            await wait_for(lambda: not conn.connected.is_set())
            for _ in range(30):  # about 1.5 s of outage, the market moving on
                await ex.step()
                polls += 1
                for symbol in symbols:
                    try:
                        manager.view("spot", symbol, 5)
                        live_while_down += 1
                    except BookNotLive:
                        pass
                await asyncio.sleep(0.05)
            assert polls == 30 and live_while_down == 0
            await ex.restore()
            await wait_for(lambda: ex.clients and all(len(t) == 300 for t in ex.clients.values()))
            for _ in range(3):
                await ex.step()
            await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()), timeout=30)
            await ex.step()
            for symbol in symbols[::30]:
                await wait_for(lambda s=symbol: at_truth(manager, ex, "spot", s))


# -- 2. a snapshot must belong to the book and to the stream ----------------------------------


async def test_a_snapshot_of_another_symbol_never_makes_a_book_live() -> None:
    async with MiniExchange("futures", ["btc_usdt", "eth_usdt"]) as ex:
        http_url = await ex.serve_http()
        other = ex.flows["eth_usdt"]
        # A broken server answers every btc request with eth's book.
        ex.snapshot_edit = lambda symbol, result: (
            other.futures_snapshot_result(500) if symbol == "btc_usdt" else result
        )
        async with manager_for(ex, http_url) as manager:
            await manager.add_many("futures", ["btc_usdt", "eth_usdt"])
            await wait_for(lambda: ex.clients and all(len(t) == 2 for t in ex.clients.values()))
            for _ in range(30):
                await ex.step()
                await asyncio.sleep(0.01)
            await wait_for(lambda: manager.book("futures", "eth_usdt").sync.is_live)
            btc = manager.book("futures", "btc_usdt")
            await wait_for(lambda: btc.counts["snapshot_wrong-symbol"] >= 1)
            assert not btc.sync.is_live and btc.sync.counts[Decision.SNAPSHOT_ACCEPTED] == 0
            assert "eth_usdt" in btc.sync.reason and "eth_usdt" in btc.last_snapshot_error
            ex.snapshot_edit = None  # the server is mended: the book heals
            await wait_for(lambda: btc.sync.is_live, timeout=10)
            await ex.step()
            await wait_for(lambda: at_truth(manager, ex, "futures", "btc_usdt"))


@pytest.mark.parametrize("via", ["no-progress", "watchdog"])
async def test_a_snapshot_far_ahead_of_the_stream_is_not_served_for_long(via: str) -> None:
    async with MiniExchange("spot", ["btc_usdt"]) as ex:
        http_url = await ex.serve_http()

        def ahead(symbol, result):
            return {**result, "lastUpdateId": result["lastUpdateId"] + 10**6}

        ex.snapshot_edit = ahead
        options = {"max_unapplied": 5} if via == "no-progress" else {"stale_after": 0.3}
        async with manager_for(ex, http_url, **options) as manager:
            await manager.add("spot", "btc_usdt")
            book = manager.book("spot", "btc_usdt")
            await wait_for(lambda: ex.clients and all(len(t) == 1 for t in ex.clients.values()))
            await ex.step()
            await wait_for(lambda: book.sync.counts[Decision.SNAPSHOT_ACCEPTED] == 1)
            ex.snapshot_edit = None
            # Events keep arriving, every one older than the bogus snapshot.
            for _ in range(40):
                await ex.step()
                await asyncio.sleep(0.02)
                if book.sync.counts[Decision.NO_PROGRESS] or book.counts["stalls"]:
                    break
            if via == "no-progress":
                assert book.sync.counts[Decision.NO_PROGRESS] == 1
            else:
                assert book.counts["stalls"] == 1
            assert book.sync.counts[Decision.DROPPED_OLD] >= 1
            # Healing steps back from the bogus ids, which needs evidence that the stream
            # stays behind them: max_unapplied events in a row (see BookSync.high_water).
            for _ in range(150):
                await ex.step()
                await asyncio.sleep(0.005)
                if book.sync.generation == 2 and book.sync.is_live:
                    break
            await wait_for(lambda: book.sync.generation == 2 and book.sync.is_live)
            await ex.step()
            await wait_for(lambda: at_truth(manager, ex, "spot", "btc_usdt"))


async def test_an_exchange_restart_that_resets_ids_heals_without_overflow() -> None:
    async with MiniExchange("spot", ["btc_usdt"]) as ex:
        http_url = await ex.serve_http()
        async with manager_for(ex, http_url) as manager:
            await start_live(manager, ex, "spot")
            book = manager.book("spot", "btc_usdt")
            ex.snapshot_status = 503  # snapshots fail for a while...
            ex.drop_next.add("btc_usdt")  # ... while a gap takes the book out of LIVE
            await ex.step(2)
            await wait_for(lambda: book.sync.state is SyncState.RESYNCING)
            await ex.step(5)  # old-epoch events, buffered
            flow = ex.flows["btc_usdt"]
            with ex.lock:
                flow.last_id = 10  # the exchange restarted: ids begin again
            await ex.step(5)  # new-epoch events, buffered behind the old ones
            await wait_for(lambda: len(book.sync.buffer) >= 11)
            ex.snapshot_status = None
            await wait_for(lambda: book.sync.is_live, timeout=10)
            assert book.sync.counts[Decision.ID_RESET] == 1
            assert book.sync.counts[Decision.OVERFLOW] == 0
            await ex.step()
            await wait_for(lambda: at_truth(manager, ex, "spot", "btc_usdt"))


# -- 3. one bad frame must not take a connection down ---------------------------------------


@pytest.mark.parametrize("venue", ["spot", "futures"])
async def test_a_flood_of_depth_updates_with_a_bad_symbol_keeps_the_connection(
    venue: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with MiniExchange(venue, ["btc_usdt", "eth_usdt"]) as ex:
        async with manager_for(ex) as manager:
            await start_live(manager, ex, venue)
            conn = manager.connections[manager.book(venue, "btc_usdt").venue]
            caplog.set_level(logging.WARNING, logger="wexbook")
            bad = []
            for symbol in (["btc_usdt"], {"a": 1}, 7, None):
                data = {"s": symbol, "fi": 1, "i": 2, "pu": 0, "fu": 1, "u": 2, "a": [], "b": []}
                frame = {"topic": "depth_update", "event": "depth_update@x", "data": data}
                bad.append(orjson.dumps(frame).decode())
            (ws,) = ex.clients
            for n in range(2000):
                await ws.send(bad[n % 4])
            await ex.step(3)
            await wait_for(lambda: conn.protocol.counts["malformed"] >= 2000)
            await wait_for(lambda: all(at_truth(manager, ex, venue, s) for s in ex.flows))
            assert conn.connects == 1 and conn.protocol.counts["handler_errors"] == 0
            assert all(b.sync.generation == 1 for b in manager.books.values())
            lines = [r for r in caplog.records if "malformed frame" in r.getMessage()]
            assert 1 <= len(lines) <= 3, len(lines)  # one line, not 2,000
