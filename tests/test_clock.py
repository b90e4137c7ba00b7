"""Server-time sync against the simulator, whose clock can be set far from ours."""

from __future__ import annotations

from feeds.clock import ServerClock
from feeds.rest import MarketClient
from feeds.sim import Simulator


async def test_offset_to_a_skewed_server_clock() -> None:
    skew = -7_000  # the server is 7 s behind: unsynced timestamps would be refused
    async with Simulator(auto=False, clock_skew_ms=skew) as sim:
        async with MarketClient(sim.spot_http_url, sim.futures_http_url) as market:
            clock = ServerClock()
            offset = await clock.sync(market.server_time_ms)
            assert abs(offset - skew) < 250
            assert clock.round_trip_ms is not None and clock.round_trip_ms < 250
            server_now = sim.server_time_ms()
            assert abs(clock() - server_now) < 250


async def test_sync_keeps_the_fastest_sample() -> None:
    # Two samples as (local before, server time, local after), in ms: a slow one
    # (round trip 500) and a fast one (round trip 2). The fast one decides.
    locals_ = iter([0, 500, 10, 12])
    servers = iter([1000, 1020])

    async def fetch() -> int:
        return next(servers)

    clock = ServerClock(local_ms=lambda: next(locals_))
    offset = await clock.sync(fetch, samples=2)
    assert clock.round_trip_ms == 2
    assert offset == 1020 - 11  # server time at the midpoint of the fast sample
