"""The snapshot scheduler: budget, merging, 429 handling, retries."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from feeds.scheduler import RateBudget, RateLimited, SnapshotScheduler


def test_budget_spaces_requests() -> None:
    budget = RateBudget(rate=10, burst=1, now=0.0)
    assert budget.wait_time(0.0) == 0
    budget.take(0.0)
    assert budget.wait_time(0.0) == pytest.approx(0.1)
    assert budget.wait_time(0.05) == pytest.approx(0.05)
    assert budget.wait_time(0.1) == 0
    budget.take(0.1)
    budget.pause_until(2.0)
    assert budget.wait_time(0.5) == pytest.approx(1.5)
    assert budget.wait_time(2.0) == pytest.approx(0.1)  # restarts empty
    with pytest.raises(ValueError):
        RateBudget(0)


def test_budget_burst() -> None:
    budget = RateBudget(rate=2, burst=3, now=0.0)
    for _ in range(3):
        assert budget.wait_time(0.0) == 0
        budget.take(0.0)
    assert budget.wait_time(0.0) == pytest.approx(0.5)


async def test_many_symbols_stay_within_the_rate() -> None:
    sent: list[float] = []
    loop = asyncio.get_running_loop()

    async def fetch(key):
        sent.append(loop.time())
        await asyncio.sleep(0.001)
        return key

    sched = SnapshotScheduler(fetch, rate=100, max_concurrent=8, rng=random.Random(1))
    results = await asyncio.gather(*(sched.request(("spot", f"s{n}")) for n in range(40)))
    assert results == [("spot", f"s{n}") for n in range(40)]
    assert sched.stats["sent"] == 40
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 1 / 100 - 1e-3  # never faster than the budget (90 req/s effective)
    assert sent[-1] - sent[0] >= 39 / 100


async def test_duplicate_requests_are_merged() -> None:
    calls = 0

    async def fetch(key):
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return calls

    sched = SnapshotScheduler(fetch, rate=1000)
    a, b = sched.request("btc"), sched.request("btc")
    assert a is b
    assert await a == 1
    assert sched.stats["merged"] == 1
    assert await sched.request("btc") == 2  # a finished request is not reused


async def test_429_pauses_the_host_and_retries() -> None:
    loop = asyncio.get_running_loop()
    log: list[tuple[str, float]] = []
    refused = {"eth"}

    async def fetch(key):
        log.append((key, loop.time()))
        if key in refused:
            refused.discard(key)
            raise RateLimited("429 Too Many Requests", retry_after=0.2)
        return key

    sched = SnapshotScheduler(fetch, rate=1000, rng=random.Random(2))
    first = sched.request("eth")
    await asyncio.sleep(0.01)
    second = sched.request("btc")
    assert await first == "eth" and await second == "btc"
    t429 = log[0][1]
    assert all(t - t429 >= 0.2 for key, t in log[1:]), log
    assert sched.stats["rate_limited"] == 1


async def test_errors_retry_then_fail() -> None:
    attempts = 0

    async def fetch(key):
        nonlocal attempts
        attempts += 1
        raise OSError("connection refused")

    sched = SnapshotScheduler(fetch, rate=1000, max_attempts=3, base_backoff=0.001)
    with pytest.raises(OSError, match="refused"):
        await sched.request("btc")
    assert attempts == 3
    assert sched.stats["failed"] == 1 and sched.stats["errors"] == 3


async def test_transient_error_then_success() -> None:
    outcomes = [OSError("reset"), "ok"]

    async def fetch(key):
        out = outcomes.pop(0)
        if isinstance(out, Exception):
            raise out
        return out

    sched = SnapshotScheduler(fetch, rate=1000, base_backoff=0.001)
    assert await sched.request("btc") == "ok"
    assert sched.stats["retried"] == 1


async def test_close_cancels_pending() -> None:
    async def fetch(key):
        await asyncio.sleep(10)

    sched = SnapshotScheduler(fetch, rate=1000)
    fut = sched.request("btc")
    await asyncio.sleep(0)
    await sched.aclose()
    assert fut.cancelled()
