"""Links that die silently, and reconnect storms, over real sockets.

The exchange peer is :class:`mini_exchange.MiniExchange`: a real websocket server
on loopback and real HTTP for snapshots. Three behaviours:

- a half-open link (the peer keeps TCP and the websocket up but stops reading and
  sending, while its market moves on) takes its books out of LIVE within the
  heartbeat's silence bound, with a reason that says so, long before the
  no-update watchdog; and no snapshot makes a book LIVE over it;
- a storm of accepted-then-dropped handshakes meets a doubling backoff, and costs
  no snapshot while no connection carried anything;
- after either, the books come back LIVE and exact.

The measured times are printed (``-s``); the assertions are on behaviour, with
timeouts well above the bounds (performance figures live in ``bench/links.py``).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import at_truth, wait_for
from mini_exchange import MiniExchange

from feeds.manager import BookManager
from feeds.observe import Observer
from feeds.rest import MarketClient
from orderbook import Decision, SyncState


def manager_over_http(ex: MiniExchange, http_url: str, **options) -> BookManager:
    return BookManager(
        market=MarketClient(http_url, http_url),
        snapshot_rate=1000,
        spot_ws_url=ex.url,
        futures_ws_url=ex.url,
        stale_after=30.0,  # the no-update watchdog must not be what catches a silent link
        **options,
    )


async def go_live(manager: BookManager, ex: MiniExchange, venue: str) -> None:
    await manager.add_many(venue, list(ex.flows))
    await wait_for(lambda: ex.clients and all(len(t) == len(ex.flows) for t in ex.clients.values()))
    for _ in range(3):
        await ex.step()
    await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()), timeout=10)


async def market_moves(ex: MiniExchange, seconds: float, every: float = 0.01) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await ex.step()
        await asyncio.sleep(every)


@pytest.mark.parametrize("venue", ["spot", "futures"])
async def test_a_half_open_link_takes_its_books_out_of_live_within_seconds(venue: str) -> None:
    async with MiniExchange(venue, ["btc_usdt", "eth_usdt"]) as ex:
        http_url = await ex.serve_http()
        async with manager_over_http(ex, http_url) as manager:
            await go_live(manager, ex, venue)
            conn = manager.connections[venue]
            silent_at = time.monotonic()
            ex.go_silent()
            left: dict[str, float] = {}
            served_stale = 0
            end = silent_at + 10
            while len(left) < len(ex.flows) and time.monotonic() < end:
                await ex.step()  # the market moves on; nothing reaches the client
                for symbol in ex.flows:
                    sync = manager.book(venue, symbol).sync
                    if symbol not in left and not sync.is_live:
                        left[symbol] = time.monotonic() - silent_at
                    elif sync.is_live and sync.update_id != ex.flows[symbol].last_id:
                        served_stale += 1
                await asyncio.sleep(0.01)
            print(f"{venue}: left LIVE {', '.join(f'{s} {t:.2f} s' for s, t in left.items())}")
            assert set(left) == set(ex.flows), "a book stayed LIVE on a silent link"
            for symbol in ex.flows:
                book = manager.book(venue, symbol)
                assert book.sync.state in (SyncState.DISCONNECTED, SyncState.RESYNCING)
                assert book.counts["stalls"] == 0  # the heartbeat caught it, not the watchdog
            assert conn.silent_drops == 1
            assert "silent link" in (conn.last_error or "")
            # A consumer reading through the silence saw stale books only until the drop.
            assert served_stale > 0
            # The link is dropped and a new one made: LIVE and exact again.
            await wait_for(lambda: conn.connects >= 2, timeout=10)
            await wait_for(lambda: ex.clients.keys() - ex.silenced, timeout=10)
            await ex.step(3)
            for symbol in ex.flows:
                await wait_for(lambda s=symbol: at_truth(manager, ex, venue, s), timeout=10)


async def test_a_snapshot_in_flight_when_the_link_goes_silent_never_makes_the_book_live() -> None:
    async with MiniExchange("spot", ["btc_usdt"]) as ex:
        http_url = await ex.serve_http()
        async with manager_over_http(ex, http_url) as manager:
            await go_live(manager, ex, "spot")
            book = manager.book("spot", "btc_usdt")
            held = book.counts["snapshots_held"]
            ex.snapshot_delay = 0.5
            ex.drop_next.add("btc_usdt")
            await ex.step(2)  # a gap: the book resyncs, its snapshot takes 0.5 s
            await wait_for(lambda: book.fetching)
            ex.go_silent()  # ... and the link goes silent while it is in flight
            went_live = False
            end = time.monotonic() + 4
            while time.monotonic() < end and book.sync.state is not SyncState.DISCONNECTED:
                await ex.step()
                went_live = went_live or book.sync.is_live
                await asyncio.sleep(0.01)
            assert not went_live, "a snapshot made the book LIVE over a silent link"
            assert book.sync.state is SyncState.DISCONNECTED
            assert "silent link" in (book.sync.reason or "")
            assert book.counts["snapshots_held"] == held + 1
            assert book.counts["snapshots_dropped_silent"] == 1
            assert book.sync.counts[Decision.SNAPSHOT_ACCEPTED] == 1  # only the first one
            ex.snapshot_delay = 0.0
            await wait_for(lambda: ex.clients.keys() - ex.silenced, timeout=10)
            await ex.step(3)
            await wait_for(lambda: at_truth(manager, ex, "spot", "btc_usdt"), timeout=10)


@pytest.mark.parametrize(("venue", "storm"), [("spot", "close"), ("futures", "ack-drop")])
async def test_a_reconnect_storm_meets_a_doubling_backoff_and_costs_no_snapshots(
    venue: str, storm: str
) -> None:
    seconds = 4.0
    async with MiniExchange(venue, ["btc_usdt"]) as ex:
        http_url = await ex.serve_http()
        async with manager_over_http(ex, http_url) as manager:
            await go_live(manager, ex, venue)
            conn = manager.connections[venue]
            book = manager.book(venue, "btc_usdt")
            handshakes, snapshots = ex.handshakes, ex.snapshot_requests
            ex.storm = storm
            for ws in list(ex.clients):
                ws.transport.abort()  # the storm starts with the current connection lost
            await market_moves(ex, seconds)
            during = ex.handshakes - handshakes
            storm_snapshots = ex.snapshot_requests - snapshots
            ex.storm = None
            ended = time.monotonic()
            # The least time a doubling backoff from 0.25 s (jittered down to half, capped
            # at 2 s, so at least 1 s) can take between attempts: 0.125, 0.25, 0.5, 1, 1..
            # within 4 s that is at most 7 attempts. A backoff restarting at every
            # accepted handshake makes 16 to 32.
            print(
                f"{venue} storm ({storm}) for {seconds} s: {during} handshakes, "
                f"{storm_snapshots} snapshot requests; backoff failures {conn.failures}"
            )
            assert 2 <= during <= 7, during
            assert conn.failures >= 2
            assert storm_snapshots == 0  # no connection carried anything: nothing to sync to
            await wait_for(lambda: ex.clients.keys() - ex.silenced, timeout=10)
            await ex.step(3)
            await wait_for(lambda: at_truth(manager, ex, venue, "btc_usdt"), timeout=10)
            print(f"{venue}: LIVE again {time.monotonic() - ended:.2f} s after the storm")
            assert book.sync.is_live
            # A connection that carried a push resets the backoff when it ends. (The book
            # may have gone LIVE from a snapshot alone: make this connection carry one.)
            pushes = conn.protocol.counts["pushes"]
            await ex.step(2)
            await wait_for(lambda: conn.protocol.counts["pushes"] > pushes)
            connects = conn.connects
            await conn.drop()
            await wait_for(lambda: conn.connects > connects and conn.failures == 0, timeout=10)


async def test_the_simulators_silent_fault_half_opens_a_connection() -> None:
    from feeds.sim import Simulator

    async with Simulator(speed=5, seed=3) as sim:
        market = MarketClient(sim.spot_http_url, None)
        options = {"ping_interval": 0.2, "dead_after": 0.5, "pong_timeout": 0.5}
        manager = BookManager(
            spot_ws_url=sim.spot_ws_url, market=market, connection_options=options
        )
        async with market, manager:
            reasons: list[str] = []

            class Downs(Observer):
                def on_decision(self, decision, sync, payload) -> None:
                    if decision is Decision.FEED_DOWN:
                        reasons.append(str(payload))

            manager.observe(Downs())
            await manager.add("spot", "btc_usdt")
            book = manager.book("spot", "btc_usdt")
            await wait_for(lambda: book.sync.is_live, timeout=10)
            sim.faults.set("spot", "btc_usdt", silent=True)
            await wait_for(lambda: not book.sync.is_live, timeout=10)
            await wait_for(lambda: reasons, timeout=10)
            assert sim.faults.counts["spot", "btc_usdt", "silent"] >= 1
            assert "silent link" in reasons[0], reasons
            assert manager.connections["spot"].silent_drops >= 1
            sim.faults.set("spot", "btc_usdt", silent=False)
            await wait_for(lambda: book.sync.is_live, timeout=10)
