"""WEX REST access: the full facade (:class:`WexClient`, :class:`AsyncWexClient`), the
operation table it is generated from, its errors, and the book manager's snapshot client.

- :mod:`feeds.rest.table`: every documented operation (generated from the API document);
- :mod:`feeds.rest.error_table`: the document's message for each error code (generated too);
- :mod:`feeds.rest.spec`: what an operation is, parameter checks, exact request bodies;
- :mod:`feeds.rest.errors`: the exception hierarchy and the envelopes;
- :mod:`feeds.rest.client`: sync and async clients, signing, rate limits, retries;
- :mod:`feeds.rest.market`: :class:`MarketClient`, depth snapshots for the book manager.

``from feeds.rest import WexClient`` (or ``AsyncWexClient``) imports the client on first
use: building its methods from the operation table takes about 50 ms, which code that
only needs :class:`MarketClient` (the book manager) does not pay.
"""

from typing import TYPE_CHECKING, Any

from .errors import (
    ApiError,
    AuthError,
    FundsError,
    OrderError,
    OutcomeUnknown,
    ParameterError,
    RateLimitError,
    RequestDeadline,
    ResponseTooLarge,
    RiskControlError,
    ServerError,
    SymbolError,
    TransportError,
    VenueNotConfigured,
    unwrap,
)
from .market import (
    FUTURES_DEPTH_PATH,
    FUTURES_Q_DEPTH_PATH,
    FUTURES_URL,
    SPOT_DEPTH_PATH,
    SPOT_URL,
    MarketClient,
)

if TYPE_CHECKING:
    from .client import AsyncWexClient, WexClient

_CLIENTS = ("AsyncWexClient", "WexClient")


def __getattr__(name: str) -> Any:
    """:class:`~feeds.rest.client.WexClient` and ``AsyncWexClient``, imported on first use."""
    if name in _CLIENTS:
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_CLIENTS))


__all__ = [
    "FUTURES_DEPTH_PATH",
    "FUTURES_Q_DEPTH_PATH",
    "FUTURES_URL",
    "SPOT_DEPTH_PATH",
    "SPOT_URL",
    "ApiError",
    "AsyncWexClient",
    "AuthError",
    "FundsError",
    "MarketClient",
    "OrderError",
    "OutcomeUnknown",
    "ParameterError",
    "RateLimitError",
    "RequestDeadline",
    "ResponseTooLarge",
    "RiskControlError",
    "ServerError",
    "SymbolError",
    "TransportError",
    "VenueNotConfigured",
    "WexClient",
    "unwrap",
]
