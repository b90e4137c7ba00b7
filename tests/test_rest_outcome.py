"""REST writes say when their outcome is unknown; the shared limiter leaves headroom
(issue 13, class 6). Over real sockets: a closed port (nothing sent), a server that reads
the request and never answers, one that resets after reading it, one that trickles its
answer; and eight threads sharing one limiter against the simulator."""

from __future__ import annotations

import asyncio
import heapq
import random
import socket
import threading
from typing import Any

import pytest

from feeds.rest.client import AsyncWexClient, WexClient
from feeds.rest.errors import (
    OutcomeUnknown,
    RateLimitError,
    RequestDeadline,
    TransportError,
)
from feeds.rest.ratelimit import RateLimiter
from feeds.sim import DEMO_API_KEY, DEMO_SECRET
from tests.hostile import HostileServer
from tests.rest_harness import simulator_thread

ORDER = {
    "symbol": "btc_usdt", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
    "bizType": "SPOT", "price": "30000", "quantity": "0.01", "clientOrderId": "cid12345",
}  # fmt: skip


def closed_port_url() -> str:
    """A loopback URL nobody listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def client(url: str, **options: Any) -> WexClient:
    options = {"rate_limit": False, "sync_time": False, "retries": 3, **options}
    return WexClient(DEMO_API_KEY, DEMO_SECRET, spot_url=url, futures_url=url, **options)


def async_client(url: str, **options: Any) -> AsyncWexClient:
    options = {"rate_limit": False, "sync_time": False, "retries": 3, **options}
    return AsyncWexClient(DEMO_API_KEY, DEMO_SECRET, spot_url=url, futures_url=url, **options)


# -- not sent, or sent with an unknown outcome ----------------------------------------------


def test_refused_write_is_not_sent() -> None:
    with client(closed_port_url()) as c:
        with pytest.raises(TransportError) as info:
            c.spot.submit_order(**ORDER)
    error = info.value
    assert error.sent is False and not isinstance(error, OutcomeUnknown)
    assert error.method == "POST" and error.path == "/v4/order"
    assert "ConnectError" in str(error) and "not sent" in str(error)


def test_write_that_timed_out_after_sending_is_outcome_unknown() -> None:
    # A read timeout (0.5 s) well before the request's deadline (5 s).
    with HostileServer("hang") as srv, client(srv.url, timeout=0.5, deadline=5.0) as c:
        with pytest.raises(OutcomeUnknown) as info:
            c.spot.submit_order(**ORDER)
        assert srv.requests == 1  # a write: never sent twice, whatever ``retries`` says
    error = info.value
    assert error.sent is True and isinstance(error, TransportError)
    assert error.client_order_id == "cid12345"
    assert "ReadTimeout" in str(error.reason) and error.reason.sent
    assert "look up clientOrderId 'cid12345'" in str(error)


def test_write_reset_after_sending_and_write_past_its_deadline() -> None:
    with HostileServer("reset") as srv, client(srv.url) as c:
        with pytest.raises(OutcomeUnknown) as info:
            c.futures.create_order(
                symbol="btc_usdt", orderSide="BUY", orderType="MARKET", origQty=1,
                positionSide="LONG", clientOrderId="fut12345",
            )  # fmt: skip
        assert srv.requests == 1
    assert info.value.client_order_id == "fut12345"  # read from the JSON body
    assert "RemoteProtocolError" in str(info.value.reason)
    with HostileServer("slow_body", interval=0.2, ok_body=b" " * 100) as srv:
        with client(srv.url, timeout=1.0) as c:
            with pytest.raises(OutcomeUnknown) as info:
                c.spot.submit_order(**ORDER)
    assert isinstance(info.value.reason, RequestDeadline) and info.value.reason.sent


def test_read_sent_but_unanswered_is_retried_not_outcome_unknown() -> None:
    with HostileServer("hang") as srv, client(srv.url, timeout=0.3, retries=2) as c:
        with pytest.raises(TransportError) as info:
            c.spot.get_server_time()
        assert srv.requests == 3
    assert info.value.sent is True and not isinstance(info.value, OutcomeUnknown)
    assert c.stats["retries"] == 2


async def test_async_client_tells_not_sent_from_unknown() -> None:
    async with async_client(closed_port_url()) as c:
        with pytest.raises(TransportError) as refused:
            await c.spot.submit_order(**ORDER)
    assert refused.value.sent is False and not isinstance(refused.value, OutcomeUnknown)
    with HostileServer("hang") as srv:
        async with async_client(srv.url, timeout=0.5, deadline=5.0) as c:
            with pytest.raises(OutcomeUnknown) as unknown:
                await asyncio.wait_for(c.spot.submit_order(**ORDER), 10)
        assert srv.requests == 1
    assert unknown.value.client_order_id == "cid12345"
    assert "ReadTimeout" in str(unknown.value.reason)
    with HostileServer("hang") as srv:
        async with async_client(srv.url, deadline=0.5) as c:  # the overall deadline
            with pytest.raises(OutcomeUnknown) as late:
                await asyncio.wait_for(c.spot.submit_order(**ORDER), 10)
    assert isinstance(late.value.reason, RequestDeadline)


# -- the shared limiter ---------------------------------------------------------------------


def test_limiter_default_headroom() -> None:
    limiter = RateLimiter()
    assert limiter.margin == 0.8
    assert [limiter.allowed(n) for n in (1, 2, 10, 50, 200)] == [1, 2, 8, 40, 160]
    assert RateLimiter(margin=1.0).allowed(10) == 10
    with pytest.raises(ValueError):
        RateLimiter(margin=0)


def _server_overruns(limiter: RateLimiter, hold: bool, seed: int) -> int:
    """Eight workers share ``limiter`` on a 10/s bucket; each request reaches the server
    at a random point of its round trip. Returns how many arrivals found the server's
    sliding 1 s window already full (each would be a 429)."""
    rng = random.Random(seed)
    bucket = [("depth", 10, 1.0)]
    events = [(0.0, n, "want") for n in range(8)]  # (time, worker, what)
    arrivals: list[float] = []
    while len(arrivals) < 300:
        now, worker, what = heapq.heappop(events)
        if what == "done":
            limiter.release(bucket, now)
            heapq.heappush(events, (now, worker, "want"))
            continue
        wait = limiter.reserve(bucket, now, hold=hold)
        if wait > 0:
            heapq.heappush(events, (now + wait, worker, "want"))
            continue
        trip = rng.uniform(0.001, 0.2)
        arrivals.append(now + rng.uniform(0, trip))
        if hold:
            heapq.heappush(events, (now + trip, worker, "done"))
        else:
            heapq.heappush(events, (now + trip, worker, "want"))
    arrivals.sort()
    return sum(1 for i, a in enumerate(arrivals) if i >= 10 and a - arrivals[i - 10] < 1.0)


def test_slots_held_until_the_answer_never_overrun_the_server_window() -> None:
    for seed in range(5):
        # Stamped when the answer is back: never more than the limit at the server,
        # even at 100% of it.
        assert _server_overruns(RateLimiter(margin=1.0), hold=True, seed=seed) == 0
        assert _server_overruns(RateLimiter(), hold=True, seed=seed) == 0
    # Stamped before sending, at 100%: the server sees bursts over the limit.
    assert _server_overruns(RateLimiter(margin=1.0), hold=False, seed=0) > 0


def test_eight_threads_sharing_one_limiter_draw_no_429() -> None:
    # spot.get_depth: 10/s/ip. Before: the limiter ran at exactly 10/s and stamped slots
    # before sending; 8 threads drew 12-21% 429s from the simulator.
    with simulator_thread(auto=False) as sim:
        shared = RateLimiter()
        results: list[str] = []
        lock = threading.Lock()

        def work() -> None:
            with WexClient(spot_url=sim.spot_http_url, rate_limit=shared, retries=0,
                           sync_time=False) as c:  # fmt: skip
                for _ in range(5):
                    try:
                        c.spot.get_depth(symbol="btc_usdt", limit=5)
                        outcome = "ok"
                    except RateLimitError:
                        outcome = "429"
                    with lock:
                        results.append(outcome)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        limited = sim.stats()["http"]["rate_limited"]
    assert len(results) == 40
    assert results.count("429") == 0, f"{results.count('429')} of 40 answered 429"
    assert limited == 0
    assert shared.stats["waited"] > 0  # the burst was spread, not sent at once
