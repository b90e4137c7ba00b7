"""Snapshot scheduling: one request budget per host, merged duplicates, honoured 429s.

The API document limits the depth endpoints per client address (spot
``/v4/public/depth`` and futures depth: 10 requests/s/ip). A book manager
that starts 200 symbols at once, or resyncs every book after a reconnect,
must not burst past that. :class:`RateBudget` is a sans-I/O token bucket
(time is passed in); :class:`SnapshotScheduler` wraps it in asyncio:

- one budget per host (spot and futures are separate hosts);
- a request for a symbol already queued or in flight joins that request;
- at most ``max_concurrent`` requests in flight per scheduler;
- a :class:`RateLimited` answer (HTTP 429) pauses the whole host's budget for
  its ``Retry-After`` (or ``default_retry_after``) and retries, jittered;
- other failures (any exception of one attempt: a transport error, a request past
  its deadline, a body over its size cap, a 5xx...) retry with capped, jittered
  exponential backoff, up to ``max_attempts``, each retry taking a token from the same
  budget; then the caller's future gets the last exception.

Counters (``stats``) say how many requests were sent, merged, rate limited,
retried and failed; ``errors`` counts failed attempts, and ``error:<class name>``
(``error:RequestDeadline``, ``error:ResponseTooLarge``...) each kind of failure.
Every failed attempt is logged (``wexbook.scheduler``, INFO; WARNING when a request
gives up), and ``last_error`` holds the latest one.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from orderbook import WexbookError

log = logging.getLogger("wexbook.scheduler")


class RateLimited(WexbookError):
    """The server answered 429; ``retry_after`` is its ``Retry-After`` in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateBudget:
    """A token bucket: ``rate`` requests per second, bursts of up to ``burst``.

    Sans-I/O: every method takes the current time ``now`` (seconds, any
    monotonic origin). :meth:`wait_time` says how long until a request may be
    sent; :meth:`take` spends a token; :meth:`pause_until` blocks the budget
    (after a 429) until a given time.
    """

    def __init__(self, rate: float, burst: float | None = None, now: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self.tokens = self.burst
        self.updated = now
        self.paused_until = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_time(self, now: float) -> float:
        """Seconds from ``now`` until one token is available and no pause is in force."""
        self._refill(now)
        wait = max(0.0, (1.0 - self.tokens) / self.rate)
        return max(wait, self.paused_until - now)

    def take(self, now: float) -> None:
        """Spend one token (call only when :meth:`wait_time` is 0)."""
        self._refill(now)
        self.tokens -= 1.0

    def pause_until(self, until: float) -> None:
        """Send nothing before ``until``; the bucket restarts empty then."""
        if until > self.paused_until:
            self.paused_until = until
            self.tokens = 0.0
            self.updated = until


Fetch = Callable[[Hashable], Awaitable[Any]]


class SnapshotScheduler:
    """Runs snapshot fetches for many keys within one host's budget (see module docstring).

    ``fetch(key)`` performs one request and returns its result, raising
    :class:`RateLimited` on a 429. ``request(key)`` returns an awaitable
    future of that result.
    """

    def __init__(
        self,
        fetch: Fetch,
        *,
        rate: float = 10.0,
        burst: float | None = None,
        max_concurrent: int = 4,
        max_attempts: int = 6,
        base_backoff: float = 0.2,
        max_backoff: float = 5.0,
        default_retry_after: float = 1.0,
        safety: float = 0.9,
        rng: random.Random | None = None,
    ) -> None:
        self.fetch = fetch
        loop_time = asyncio.get_running_loop().time
        self._now = loop_time
        # Stay a little under the documented limit: clocks and windows differ.
        self.budget = RateBudget(rate * safety, burst if burst is not None else 1.0, loop_time())
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.default_retry_after = default_retry_after
        self.rng = rng or random.Random()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._gate = asyncio.Lock()
        self._pending: dict[Hashable, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats: Counter[str] = Counter()
        #: ``"<key>: <ExceptionClass>: <message>"`` of the latest failed attempt
        self.last_error: str | None = None

    def request(self, key: Hashable) -> asyncio.Future[Any]:
        """A future of ``fetch(key)``'s result; joins a request already pending for ``key``."""
        future = self._pending.get(key)
        if future is not None and not future.done():
            self.stats["merged"] += 1
            return future
        future = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        self.stats["requested"] += 1
        task = asyncio.create_task(self._run(key, future))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return future

    @property
    def in_flight(self) -> int:
        """Requests queued or running."""
        return sum(1 for f in self._pending.values() if not f.done())

    async def aclose(self) -> None:
        """Cancel every pending request."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _acquire(self) -> None:
        """Wait for a token; one waiter at a time, so the order is first come, first served."""
        async with self._gate:
            while (wait := self.budget.wait_time(self._now())) > 0:
                await asyncio.sleep(wait)
            self.budget.take(self._now())

    def _backoff(self, attempt: int) -> float:
        cap = min(self.max_backoff, self.base_backoff * 2**attempt)
        return cap / 2 + self.rng.random() * cap / 2

    async def _run(self, key: Hashable, future: asyncio.Future[Any]) -> None:
        error: BaseException | None = None
        try:
            for attempt in range(self.max_attempts):
                async with self._slots:
                    await self._acquire()
                    self.stats["sent"] += 1
                    try:
                        result = await self.fetch(key)
                    except RateLimited as exc:
                        self.stats["rate_limited"] += 1
                        pause = exc.retry_after or self.default_retry_after
                        self.budget.pause_until(self._now() + pause * (1 + 0.2 * self.rng.random()))
                        error = exc
                        continue
                    except Exception as exc:  # any failure of one attempt: retry it
                        self.stats["errors"] += 1
                        self.stats["error:" + type(exc).__name__] += 1
                        self.last_error = f"{key}: {type(exc).__name__}: {exc}"
                        log.info("snapshot %s attempt %d failed: %s", key, attempt + 1, exc)
                        error = exc
                    else:
                        if not future.done():
                            future.set_result(result)
                        return
                self.stats["retried"] += 1
                await asyncio.sleep(self._backoff(attempt))
            self.stats["failed"] += 1
            log.warning("snapshot %s failed after %d attempts: %s", key, self.max_attempts, error)
            if not future.done():
                future.set_exception(error or RuntimeError("snapshot request failed"))
        except asyncio.CancelledError:
            if not future.done():
                future.cancel()
            raise
        finally:
            if self._pending.get(key) is future:
                del self._pending[key]
