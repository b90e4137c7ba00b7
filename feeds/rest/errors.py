"""Every way a REST call can fail, as one exception hierarchy, and the envelopes' unwrapping.

::

    WexbookError
    ├── ParameterError            refused before sending (also a ValueError)
    ├── TransportError            no answer: connection refused, reset, timeout
    └── ApiError                  the exchange answered with an error
        ├── AuthError             AUTH_xxx (spot), HTTP 401/403
        ├── SymbolError           SYMBOL_xxx, invalid_symbol, symbol_is_not_trading...
        ├── OrderError            ORDER_xxx, invalid_order, order rules (futures)
        ├── FundsError            FUND_/TRANSFER_/DEPOSIT_/WITHDRAW_/CURRENCY_xxx
        ├── RiskControlError      GATEWAY_xxx, gateway_decommission_*
        ├── RateLimitError        HTTP 429 (``retry_after`` from Retry-After)
        └── ServerError           HTTP 5xx

Every :class:`ApiError` carries the venue, the HTTP status, the exchange's
``code`` (spot ``mc`` when ``rc`` is 1; futures ``error.code``), the message
the document gives for that code (``documented``), the message the server sent,
the operation, and ``raw``: the response body as received. Response bodies
never hold the secret, and requests (which carry signatures) are not kept.

Spot answers ``{"rc": 0, "mc": "SUCCESS", "ma": [], "result": ...}``; futures
``{"returnCode": 0, "msgInfo": "success", "error": null, "result": ...}``.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from orderbook import Venue, WexbookError

from ..scheduler import RateLimited


class ParameterError(WexbookError, ValueError):
    """An argument does not fit the operation's documented parameters; nothing was sent."""


class TransportError(WexbookError):
    """The request got no HTTP answer (connection refused or reset, timeout...)."""


class ApiError(WexbookError):
    """The exchange answered with an error envelope or an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: object = None,
        venue: str | None = None,
        server_message: str | None = None,
        documented: str | None = None,
        operation: str | None = None,
        raw: bytes = b"",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.venue = venue
        self.server_message = server_message
        self.documented = documented
        self.operation = operation
        self.raw = raw


class AuthError(ApiError):
    """Authentication refused: AUTH_001 ... AUTH_106 (spot), or HTTP 401/403."""


class SymbolError(ApiError):
    """Unknown, offline or untradeable symbol."""


class OrderError(ApiError):
    """The order was refused or does not exist."""


class FundsError(ApiError):
    """Balances, transfers, deposits and withdrawals."""


class RiskControlError(ApiError):
    """The account or request was stopped by the exchange's risk control."""


class RateLimitError(ApiError, RateLimited):
    """HTTP 429; ``retry_after`` is the Retry-After header in seconds (``None`` if absent)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **fields: Any) -> None:
        ApiError.__init__(self, message, **fields)
        self.retry_after = retry_after


class ServerError(ApiError):
    """HTTP 5xx: the exchange failed; safe to retry only for reads."""


_PREFIXES: tuple[tuple[tuple[str, ...], type[ApiError]], ...] = (
    (("AUTH_",), AuthError),
    (("SYMBOL_", "invalid_symbol", "symbol_", "openapi_not_supported"), SymbolError),
    (
        (
            "ORDER_",
            "invalid_order",
            "order_",
            "trigger_",
            "invalid_price",
            "invalid_quantity",
            "invalid_time_in_force",
            "quantity_can_not",
        ),
        OrderError,
    ),
    (("FUND_", "TRANSFER_", "DEPOSIT_", "WITHDRAW_", "CURRENCY_", "insufficient"), FundsError),
    (("GATEWAY_", "gateway_"), RiskControlError),
)


def error_class(code: object, status: int) -> type[ApiError]:
    """The :class:`ApiError` subclass for an exchange ``code`` and HTTP ``status``."""
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    text = str(code or "")
    for prefixes, cls in _PREFIXES:
        if text.startswith(prefixes):
            return cls
    if status in (401, 403):
        return AuthError
    return ApiError


def documented_message(venue: Venue | str, code: object) -> str | None:
    """The message the document gives for ``code`` (spot ``mc`` table, futures error tables)."""
    from .table import FUTURES_ERROR_MESSAGES, SPOT_ERROR_MESSAGES

    text = str(code)
    first, second = (
        (SPOT_ERROR_MESSAGES, FUTURES_ERROR_MESSAGES)
        if Venue(venue) is Venue.SPOT
        else (FUTURES_ERROR_MESSAGES, SPOT_ERROR_MESSAGES)
    )
    return first.get(text) or second.get(text)


def retry_after(headers: httpx.Headers) -> float | None:
    """The Retry-After header in seconds, when it is a number."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def unwrap(venue: Venue | str, response: httpx.Response, operation: str | None = None) -> Any:
    """The ``result`` of a venue's envelope, or the matching :class:`ApiError`."""
    venue = Venue(venue)
    path = response.request.url.path
    status = response.status_code
    fields: dict[str, Any] = {
        "status": status,
        "venue": venue.value,
        "operation": operation,
        "raw": response.content,
    }
    body: Any = None
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        pass
    if type(body) is not dict:
        if status == 429:
            raise RateLimitError(
                f"429 from {path}", retry_after=retry_after(response.headers), **fields
            )
        cls = error_class(None, status) if status >= 400 else ApiError
        raise cls(f"HTTP {status} from {path}: the body is not a JSON envelope", **fields)
    if venue is Venue.SPOT:
        code, ok = body.get("rc"), body.get("rc") == 0
        message = body.get("mc")
        if not ok and message:
            code = message
        ma = body.get("ma")
        server_message = "; ".join(map(str, ma)) if isinstance(ma, list) and ma else message
    else:
        code, ok = body.get("returnCode"), body.get("returnCode") == 0
        error = body.get("error")
        server_message = (error or {}).get("msg") if isinstance(error, dict) else None
        server_message = server_message or body.get("msgInfo")
        if isinstance(error, dict) and error.get("code"):
            code = error.get("code")
    if status >= 400 or not ok:
        documented = documented_message(venue, code)
        text = f"{venue.value} {path}: HTTP {status}, code {code!r}"
        if documented:
            text += f" ({documented})"
        if server_message and server_message != documented and server_message != code:
            text += f": {server_message}"
        fields.update(code=code, server_message=server_message, documented=documented)
        if status == 429:
            raise RateLimitError(text, retry_after=retry_after(response.headers), **fields)
        raise error_class(code, status)(text, **fields)
    if "result" not in body:
        raise ApiError(f"{venue.value} {path}: envelope has no result", **fields)
    return body["result"]
