"""REST access for the book manager: depth snapshots (the full facade is :mod:`feeds.rest.client`).

Spot answers ``{"rc": 0, "mc": "SUCCESS", "ma": [], "result": ...}``; futures
answers ``{"returnCode": 0, "msgInfo": "success", "error": null, "result": ...}``.
:func:`~feeds.rest.errors.unwrap` checks either envelope and returns ``result`` or raises
an :class:`~feeds.rest.errors.ApiError` (HTTP 429: ``RateLimitError``, which is also the
scheduler's :class:`~feeds.scheduler.RateLimited`, with the ``Retry-After`` seconds).

The futures document names two snapshot endpoints: ``q/depth`` (``level``
1-50, in the endpoint list) and ``depth?level=500`` (in "Orderbook
Management"). :class:`MarketClient` defaults to the deeper ``depth`` with
level 500, because levels beyond the snapshot are unknown until they
change; ``futures_depth_path`` selects the other.

Every request is bounded (:mod:`feeds.rest.bounded`): ``deadline`` seconds for the
whole exchange (by default ``timeout``, 10 s, which also bounds each read or write) and
``max_response_bytes`` of body, counted after decompression (default 1 MiB: a 500+500
level snapshot is about 25 KB, so a tenth of the cap would still hold one 4 times deeper
than any the document allows). Past either, the request fails with
:class:`~feeds.rest.errors.RequestDeadline` or
:class:`~feeds.rest.errors.ResponseTooLarge` (both :class:`~feeds.rest.errors.TransportError`),
and nothing more is read. The client does not retry: the book manager's
:class:`~feeds.scheduler.SnapshotScheduler` retries failures within its budget.
``stats`` counts requests and each kind of failure.

Either venue's URL may be ``None`` (a client for one venue); asking for a venue
without a URL raises :class:`~feeds.rest.errors.VenueNotConfigured`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from orderbook import DepthSnapshot, MalformedEvent, Venue
from orderbook.parse import futures_snapshot, spot_snapshot

from .bounded import ACCEPT_ENCODING, BodyReader, SendTrace, deadline_error, transport_error
from .errors import ApiError, TransportError, VenueNotConfigured, unwrap

log = logging.getLogger(__name__)

SPOT_URL = "https://sapi.wexex.io"
FUTURES_URL = "https://fapi.wexex.io"
SPOT_DEPTH_PATH = "/v4/public/depth"
FUTURES_DEPTH_PATH = "/future/market/v1/public/depth"
FUTURES_Q_DEPTH_PATH = "/future/market/v1/public/q/depth"


#: Default cap on one response body, decompressed (see the module docstring).
MAX_RESPONSE_BYTES = 2**20


class MarketClient:
    """Async depth snapshots from both venues over one ``httpx.AsyncClient`` each.

    ``spot_url`` / ``futures_url``: either may be ``None`` to serve the other venue only.
    ``timeout`` bounds each I/O operation, ``deadline`` (default: ``timeout``) a whole
    request, and
    ``max_response_bytes`` its decoded body (see the module docstring).
    ``transport`` may be given for tests (any ``httpx.AsyncBaseTransport``).
    """

    def __init__(
        self,
        spot_url: str | None = SPOT_URL,
        futures_url: str | None = FUTURES_URL,
        *,
        spot_depth_limit: int = 500,
        futures_depth_path: str = FUTURES_DEPTH_PATH,
        futures_depth_level: int | None = None,
        timeout: float = 10.0,
        deadline: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not 1 <= spot_depth_limit <= 500:
            raise ValueError("spot depth limit must be 1..500 (API document)")
        deadline = timeout if deadline is None else deadline
        if deadline <= 0 or max_response_bytes < 1:
            raise ValueError("deadline must be > 0 s and max_response_bytes >= 1")
        if spot_url is None and futures_url is None:
            raise ValueError("give at least one of spot_url and futures_url")
        self.spot_depth_limit = spot_depth_limit
        self.futures_depth_path = futures_depth_path
        max_level = 50 if futures_depth_path == FUTURES_Q_DEPTH_PATH else 500
        self.futures_depth_level = futures_depth_level or max_level
        if not 1 <= self.futures_depth_level <= max_level:
            raise ValueError(f"futures depth level must be 1..{max_level} for {futures_depth_path}")
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        #: requests sent, and failures by kind (deadline, too_large, transport, api)
        self.stats: Counter[str] = Counter()
        #: Optional ``observer(venue, path, error or None, seconds)`` of every request
        #: (e.g. :class:`feeds.metrics.BookWatch`'s).
        self.observer: Callable[[Venue, str, BaseException | None, float], None] | None = None
        headers = {"Content-Type": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
        self._clients: dict[Venue, httpx.AsyncClient] = {}
        for venue, url in ((Venue.SPOT, spot_url), (Venue.FUTURES, futures_url)):
            if url is not None:
                self._clients[venue] = httpx.AsyncClient(
                    base_url=url, timeout=timeout, transport=transport, headers=headers
                )

    async def __aenter__(self) -> MarketClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def venues(self) -> tuple[Venue, ...]:
        """The venues this client has a URL for."""
        return tuple(self._clients)

    @property
    def urls(self) -> dict[Venue, str]:
        """The base URL of each venue this client has (as given, a trailing ``/`` added)."""
        return {venue: str(client.base_url) for venue, client in self._clients.items()}

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        for client in self._clients.values():
            await client.aclose()

    def _client(self, venue: Venue) -> httpx.AsyncClient:
        client = self._clients.get(venue)
        if client is None:
            raise VenueNotConfigured(
                f"this MarketClient has no {venue.value} URL (give {venue.value}_url=...)"
            )
        return client

    async def get(self, venue: Venue | str, path: str, params: dict[str, Any]) -> Any:
        """GET ``path`` on ``venue`` within the deadline and size cap; unwrap its envelope."""
        venue = Venue(venue)
        client = self._client(venue)
        self.stats["requests"] += 1
        started = time.monotonic()
        try:
            result = await self._get(venue, client, path, params)
        except TransportError as exc:
            kind = {"RequestDeadline": "deadline", "ResponseTooLarge": "too_large"}
            self.stats[kind.get(type(exc).__name__, "transport")] += 1
            log.warning("%s %s failed: %s", venue.value, path, exc)
            self._observed(venue, path, exc, started)
            raise
        except ApiError as exc:
            self.stats["api_errors"] += 1
            self._observed(venue, path, exc, started)
            raise
        self._observed(venue, path, None, started)
        return result

    def _observed(
        self, venue: Venue, path: str, error: BaseException | None, started: float
    ) -> None:
        if self.observer is not None:
            self.observer(venue, path, error, time.monotonic() - started)

    async def _get(
        self, venue: Venue, client: httpx.AsyncClient, path: str, params: dict[str, Any]
    ) -> Any:
        what = f"{venue.value} GET {path}"
        trace = SendTrace()
        request = client.build_request(
            "GET", path, params=params, extensions={"trace": trace.async_extension}
        )
        try:
            async with asyncio.timeout(self.deadline):
                response = await client.send(request, stream=True)
                try:
                    reader = BodyReader(
                        response, limit=self.max_response_bytes, what=what, method="GET"
                    )
                    body = await reader.aread()
                finally:
                    await response.aclose()
        except TimeoutError:
            raise deadline_error(what, "GET", path, self.deadline, sent=trace.maybe_sent) from None
        except httpx.TransportError as exc:
            raise transport_error(what, "GET", path, exc, trace) from None
        return unwrap(venue, response, content=body)

    async def server_time_ms(self) -> int:
        """The spot server's clock (``GET /v4/public/time``), in ms."""
        result = await self.get(Venue.SPOT, "/v4/public/time", {})
        try:
            return int(result["serverTime"])
        except (KeyError, TypeError, ValueError):
            raise MalformedEvent("server time result lacks serverTime", result) from None

    async def depth_snapshot(self, venue: Venue | str, symbol: str) -> DepthSnapshot:
        """The depth snapshot of ``symbol`` on ``venue``, parsed for the core."""
        venue = Venue(venue)
        if venue is Venue.SPOT:
            limit = self.spot_depth_limit
            result = await self.get(venue, SPOT_DEPTH_PATH, {"symbol": symbol, "limit": limit})
            return spot_snapshot(result, symbol, limit)
        level = self.futures_depth_level
        result = await self.get(venue, self.futures_depth_path, {"symbol": symbol, "level": level})
        if not isinstance(result, dict):
            raise MalformedEvent("futures depth result is not an object", result)
        return futures_snapshot(result, symbol, level)
