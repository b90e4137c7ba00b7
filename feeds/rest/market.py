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
"""

from __future__ import annotations

from typing import Any

import httpx

from orderbook import DepthSnapshot, MalformedEvent, Venue
from orderbook.parse import futures_snapshot, spot_snapshot

from .errors import unwrap

SPOT_URL = "https://sapi.wexex.io"
FUTURES_URL = "https://fapi.wexex.io"
SPOT_DEPTH_PATH = "/v4/public/depth"
FUTURES_DEPTH_PATH = "/future/market/v1/public/depth"
FUTURES_Q_DEPTH_PATH = "/future/market/v1/public/q/depth"


class MarketClient:
    """Async depth snapshots from both venues over one ``httpx.AsyncClient`` each.

    ``transport`` may be given for tests (any ``httpx.AsyncBaseTransport``).
    """

    def __init__(
        self,
        spot_url: str = SPOT_URL,
        futures_url: str = FUTURES_URL,
        *,
        spot_depth_limit: int = 500,
        futures_depth_path: str = FUTURES_DEPTH_PATH,
        futures_depth_level: int | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not 1 <= spot_depth_limit <= 500:
            raise ValueError("spot depth limit must be 1..500 (API document)")
        self.spot_depth_limit = spot_depth_limit
        self.futures_depth_path = futures_depth_path
        max_level = 50 if futures_depth_path == FUTURES_Q_DEPTH_PATH else 500
        self.futures_depth_level = futures_depth_level or max_level
        if not 1 <= self.futures_depth_level <= max_level:
            raise ValueError(f"futures depth level must be 1..{max_level} for {futures_depth_path}")
        headers = {"Content-Type": "application/json"}
        self._clients = {
            Venue.SPOT: httpx.AsyncClient(
                base_url=spot_url, timeout=timeout, transport=transport, headers=headers
            ),
            Venue.FUTURES: httpx.AsyncClient(
                base_url=futures_url, timeout=timeout, transport=transport, headers=headers
            ),
        }

    async def __aenter__(self) -> MarketClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close both HTTP clients."""
        for client in self._clients.values():
            await client.aclose()

    async def get(self, venue: Venue | str, path: str, params: dict[str, Any]) -> Any:
        """GET ``path`` on ``venue`` and unwrap its envelope."""
        venue = Venue(venue)
        response = await self._clients[venue].get(path, params=params)
        return unwrap(venue, response)

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
