"""Request signing for WEX's private REST endpoints, exactly as the API document specifies.

Spot ("Signature generation", document lines ~60-195): the signed text is
``X + Y`` where X joins the sorted ``validate-*`` headers (algorithms, appkey,
recvwindow, timestamp) as ``key=value`` with ``&``, and
``Y = #METHOD#path[#query][#body]`` (query: ``key=value`` sorted by key,
joined with ``&``; body: the raw JSON text, byte for byte as sent). The
signature is the lowercase hex HMAC of that text with the secret, with one of
six algorithms (``HmacMD5`` ... ``HmacSHA512``).

Futures ("Obtain Signature", lines ~4470-4500): the signed text is
``validate-appkey=..&validate-timestamp=..#path[#query][#body]``: no method
and no algorithm or recvwindow in it.

The pure functions (:func:`spot_prehash`, :func:`futures_prehash`,
:func:`query_string`, :func:`hmac_hex`) are what the tests check against the
document and against XT.com client vectors; :class:`SpotAuth` and
:class:`FuturesAuth` are ``httpx.Auth`` flows that sign the very bytes httpx
sends. ``header_prefix`` is ``"validate-"`` as the WEX document prints it;
XT.com's clients send ``"xt-validate-"``.

Secrets never appear in reprs, exceptions or logs: :class:`Credentials`
hides the secret, and nothing here logs.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any

import httpx

from orderbook import WexbookError

#: The document's supported algorithms and their hash functions.
ALGORITHMS: dict[str, Callable[..., Any]] = {
    "HmacMD5": hashlib.md5,
    "HmacSHA1": hashlib.sha1,
    "HmacSHA224": hashlib.sha224,
    "HmacSHA256": hashlib.sha256,
    "HmacSHA384": hashlib.sha384,
    "HmacSHA512": hashlib.sha512,
}
DEFAULT_PREFIX = "validate-"


class SigningError(WexbookError):
    """A request cannot be signed (unknown algorithm, bad window...)."""


class Credentials:
    """An API key and its secret; the secret never shows in ``repr`` or ``str``."""

    __slots__ = ("_secret", "api_key")

    def __init__(self, api_key: str, secret: str) -> None:
        if not api_key or not secret:
            raise SigningError("both the API key and the secret are required")
        self.api_key = api_key
        self._secret = secret.encode()

    def sign(self, text: str, algorithm: str = "HmacSHA256") -> str:
        """Lowercase hex HMAC of ``text`` with the secret."""
        return hmac_hex(self._secret, text, algorithm)

    def __repr__(self) -> str:
        return f"Credentials(api_key={self.api_key[:4]}..., secret=***)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Credentials are not picklable (they hold a secret)")


def hmac_hex(secret: bytes, text: str, algorithm: str = "HmacSHA256") -> str:
    """Lowercase hex HMAC of ``text`` under ``algorithm`` (one of :data:`ALGORITHMS`)."""
    try:
        digest = ALGORITHMS[algorithm]
    except KeyError:
        raise SigningError(
            f"unknown algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}"
        ) from None
    return hmac.new(secret, text.encode(), digest).hexdigest()


def render_value(value: Any) -> str:
    """A query value as the signed text spells it (booleans as ``true``/``false``)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def query_string(params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """``key=value`` pairs sorted by key and joined with ``&``, raw (not percent-encoded).

    ``None`` values are left out, as they are left out of the request.
    """
    items = params.items() if isinstance(params, Mapping) else params
    pairs = sorted((k, render_value(v)) for k, v in items if v is not None)
    return "&".join(f"{k}={v}" for k, v in pairs)


def spot_prehash(
    *, method: str, path: str, query: str, body: str, headers: Mapping[str, str]
) -> str:
    """The spot signed text: sorted header part X, then ``#METHOD#path[#query][#body]``."""
    x = "&".join(f"{k}={v}" for k, v in sorted(headers.items()))
    y = f"#{method.upper()}#{path}"
    if query:
        y += f"#{query}"
    if body:
        y += f"#{body}"
    return x + y


def futures_prehash(
    *, path: str, query: str, body: str, api_key: str, timestamp: str, prefix: str = DEFAULT_PREFIX
) -> str:
    """The futures signed text: ``{p}appkey=..&{p}timestamp=..#path[#query][#body]``."""
    text = f"{prefix}appkey={api_key}&{prefix}timestamp={timestamp}#{path}"
    if query:
        text += f"#{query}"
    if body:
        text += f"#{body}"
    return text


def now_ms() -> int:
    """Milliseconds since the epoch (the default clock)."""
    return time.time_ns() // 1_000_000


def _request_parts(request: httpx.Request) -> tuple[str, str]:
    query = query_string(request.url.params.multi_items())
    body = request.content.decode() if request.content else ""
    return query, body


class _SigningAuth(httpx.Auth):
    """What both venues' signers share: credentials, algorithm, window, prefix, clock."""

    requires_request_body = True

    def __init__(
        self,
        credentials: Credentials,
        *,
        algorithm: str = "HmacSHA256",
        recv_window: int | None = None,
        header_prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise SigningError(f"unknown algorithm {algorithm!r}")
        if recv_window is not None and not 0 < recv_window <= 60_000:
            raise SigningError("recv_window must be 1..60000 ms (the document's maximum)")
        self.credentials = credentials
        self.algorithm = algorithm
        self.recv_window = recv_window
        self.prefix = header_prefix
        self.clock = clock

    def sign_request(self, request: httpx.Request) -> str:
        """Add the signature headers to ``request``; returns the signed text (for tests)."""
        raise NotImplementedError

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign_request(request)
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.credentials!r}, algorithm={self.algorithm})"


class SpotAuth(_SigningAuth):
    """Signs spot requests (see the module docstring).

    ``clock`` returns the timestamp in milliseconds; pass one corrected by the
    server-time offset so that ``validate-timestamp`` is never outdated.
    ``recv_window`` defaults to the document's 5000 ms.
    """

    def __init__(
        self, credentials: Credentials, *, recv_window: int = 5000, **options: Any
    ) -> None:
        super().__init__(credentials, recv_window=recv_window, **options)

    def sign_request(self, request: httpx.Request) -> str:
        """Add the signature headers to ``request``; returns the signed text (for tests)."""
        p = self.prefix
        headers = {
            f"{p}algorithms": self.algorithm,
            f"{p}appkey": self.credentials.api_key,
            f"{p}recvwindow": str(self.recv_window),
            f"{p}timestamp": str(self.clock()),
        }
        query, body = _request_parts(request)
        text = spot_prehash(
            method=request.method, path=request.url.path, query=query, body=body, headers=headers
        )
        request.headers.update(headers)
        request.headers[f"{p}signature"] = self.credentials.sign(text, self.algorithm)
        return text


class FuturesAuth(_SigningAuth):
    """Signs futures requests (see the module docstring).

    The document's futures text carries only appkey and timestamp; a
    ``recv_window`` or non-default ``algorithm``, when given, are sent as the
    optional ``validate-recvwindow`` / ``validate-algorithms`` headers.
    """

    def sign_request(self, request: httpx.Request) -> str:
        """Add the signature headers to ``request``; returns the signed text (for tests)."""
        p, timestamp = self.prefix, str(self.clock())
        query, body = _request_parts(request)
        text = futures_prehash(
            path=request.url.path,
            query=query,
            body=body,
            api_key=self.credentials.api_key,
            timestamp=timestamp,
            prefix=p,
        )
        request.headers[f"{p}appkey"] = self.credentials.api_key
        request.headers[f"{p}timestamp"] = timestamp
        if self.recv_window is not None:
            request.headers[f"{p}recvwindow"] = str(self.recv_window)
        if self.algorithm != "HmacSHA256":
            request.headers[f"{p}algorithms"] = self.algorithm
        request.headers[f"{p}signature"] = self.credentials.sign(text, self.algorithm)
        return text
