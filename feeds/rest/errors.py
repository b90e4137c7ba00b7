"""Every way a REST call can fail, as one exception hierarchy, and the envelopes' unwrapping.

::

    WexbookError
    ├── ParameterError            refused before sending (also a ValueError)
    ├── VenueNotConfigured        the client has no URL for that venue (also a ValueError)
    ├── TransportError            no usable answer; ``sent`` says whether it may have arrived
    │   ├── RequestDeadline       the request's overall deadline passed
    │   ├── ResponseTooLarge      the (decompressed) body passed the size cap
    │   └── OutcomeUnknown        a write that may have been executed (see below)
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

Every :class:`TransportError` says whether the request may have reached the server
(``sent``). ``sent`` is ``False`` only when nothing left this process: the connection
was refused or never opened (``httpx.ConnectError``, ``ConnectTimeout``,
``PoolTimeout``), or the deadline passed before the first byte was written. It is
``True`` whenever the request was being or had been written (``ReadTimeout``,
``ReadError``, ``WriteError``, ``RemoteProtocolError``, a deadline or a size cap hit
after sending): the server may have processed it. A read (GET) with ``sent`` true is
simply retried. A write (any other method) with ``sent`` true raises
:class:`OutcomeUnknown`: the order may or may not exist. Do not send it again blindly:
look it up first, by the client order id you gave it (spot ``query_order(clientOrderId=...)``,
futures ``get_orders(clientOrderId=...)``), or by listing open orders; the private
stream also reports it. ``OutcomeUnknown.client_order_id`` holds the id when the
call carried one, and ``reason`` the underlying :class:`TransportError`. (An HTTP 5xx
answer to a write, such as a gateway's 502 or 504, is a :class:`ServerError`, not an
``OutcomeUnknown``; it too may hide an executed order.)

Spot answers ``{"rc": 0, "mc": "SUCCESS", "ma": [], "result": ...}``; futures
``{"returnCode": 0, "msgInfo": "success", "error": null, "result": ...}``.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from orderbook import Venue, WexbookError

from ..scheduler import RateLimited
from .error_table import FUTURES_ERROR_MESSAGES, SPOT_ERROR_MESSAGES


class ParameterError(WexbookError, ValueError):
    """An argument does not fit the operation's documented parameters; nothing was sent."""


class VenueNotConfigured(WexbookError, ValueError):
    """The client was built without a URL for the venue a call asked for."""


class TransportError(WexbookError):
    """The request got no usable HTTP answer (connection refused or reset, timeout...).

    ``sent`` is ``False`` when nothing can have reached the server, ``True`` when it may
    have (see the module docstring); ``method`` and ``path`` name the request.
    """

    def __init__(
        self, message: str, *, sent: bool = True, method: str | None = None, path: str | None = None
    ) -> None:
        super().__init__(message)
        self.sent = sent
        self.method = method
        self.path = path


class RequestDeadline(TransportError):
    """The request's overall deadline (``deadline`` seconds) passed before its answer was read."""

    def __init__(self, message: str, *, deadline: float, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.deadline = deadline


class ResponseTooLarge(TransportError):
    """The response body passed ``limit`` bytes (counted after decompression); reading
    stopped there. ``received`` is how many decoded bytes had arrived when it stopped."""

    def __init__(self, message: str, *, limit: int, received: int, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.limit = limit
        self.received = received


class OutcomeUnknown(TransportError):
    """A write (POST, PUT, DELETE...) was sent, or partly sent, and no answer was read:
    it may have been executed. Look it up (by ``client_order_id`` when there is one)
    before sending it again; see the module docstring. ``reason`` is the underlying
    :class:`TransportError` (a :class:`RequestDeadline`, a read timeout...)."""

    def __init__(
        self,
        message: str,
        *,
        reason: TransportError,
        client_order_id: str | None = None,
        **fields: Any,
    ) -> None:
        fields.setdefault("sent", True)
        super().__init__(message, **fields)
        self.reason = reason
        self.client_order_id = client_order_id


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


def unwrap(
    venue: Venue | str,
    response: httpx.Response,
    operation: str | None = None,
    content: bytes | None = None,
) -> Any:
    """The ``result`` of a venue's envelope, or the matching :class:`ApiError`.

    ``content`` is the decoded body when it was read apart from ``response`` (a streamed
    response read under a size cap); by default ``response.content``.
    """
    venue = Venue(venue)
    path = response.request.url.path
    status = response.status_code
    raw = response.content if content is None else content
    fields: dict[str, Any] = {
        "status": status,
        "venue": venue.value,
        "operation": operation,
        "raw": raw,
    }
    body: Any = None
    try:
        body = orjson.loads(raw)
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
