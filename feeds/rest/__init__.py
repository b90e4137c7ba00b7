"""WEX REST access: the full facade (:class:`WexClient`, :class:`AsyncWexClient`), the
operation table it is generated from, its errors, and the book manager's snapshot client.

- :mod:`feeds.rest.table`: every documented operation (generated from the API document);
- :mod:`feeds.rest.spec`: what an operation is, parameter checks, exact request bodies;
- :mod:`feeds.rest.errors`: the exception hierarchy and the envelopes;
- :mod:`feeds.rest.client`: sync and async clients, signing, rate limits, retries;
- :mod:`feeds.rest.market`: :class:`MarketClient`, depth snapshots for the book manager.
"""

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

__all__ = [
    "FUTURES_DEPTH_PATH",
    "FUTURES_Q_DEPTH_PATH",
    "FUTURES_URL",
    "SPOT_DEPTH_PATH",
    "SPOT_URL",
    "ApiError",
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
    "unwrap",
]
