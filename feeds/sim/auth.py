"""The simulator's check of signed requests, as the API document specifies them.

The simulator rebuilds the signed text from what it *received* (headers, the
decoded query, the raw body bytes) with the same pure functions the client
uses (:func:`feeds.signing.spot_prehash` / :func:`~feeds.signing.futures_prehash`),
and compares HMACs in constant time. Failures carry the document's codes:

==========  ==================================================================
AUTH_001    missing ``validate-appkey``
AUTH_002    missing ``validate-timestamp``
AUTH_003    missing ``validate-recvwindow`` (spot: it is part of the signed text)
AUTH_004    bad ``validate-recvwindow`` (not an integer, or outside 1..60000)
AUTH_005    missing ``validate-algorithms`` (spot)
AUTH_006    unknown ``validate-algorithms``
AUTH_007    missing ``validate-signature``
AUTH_101    unknown API key
AUTH_103    signature mismatch
AUTH_105    outdated: ``server - timestamp >= recvwindow`` or the timestamp is more
            than 1000 ms ahead of the server
==========  ==================================================================

Spot answers these as ``rc=1, mc=AUTH_xxx`` (HTTP 200: the document's spot
status table has no 4xx for them). Futures answers HTTP 400 for missing headers
and 403 for the rest (its "Error Code" table), with the same code in ``error.code``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from orderbook import Venue

from ..signing import (
    ALGORITHMS,
    DEFAULT_PREFIX,
    futures_prehash,
    hmac_hex,
    query_string,
    spot_prehash,
)

#: How far ahead of the server a timestamp may be (the document: "more than 1 second ahead").
MAX_AHEAD_MS = 1000
FUTURES_DEFAULT_WINDOW = 5000


class AuthFailure(Exception):
    """A signed request is refused: ``code`` is AUTH_xxx, ``status`` the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A simulated API key; ``account`` names the account it trades for."""

    api_key: str
    secret: str
    account: str

    def __repr__(self) -> str:
        return f"ApiKey({self.api_key[:4]}..., account={self.account})"


def verify(
    venue: Venue,
    *,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    body: bytes,
    headers: Mapping[str, str],
    keys: Mapping[str, ApiKey],
    now_ms: int,
    prefix: str = DEFAULT_PREFIX,
) -> ApiKey:
    """The :class:`ApiKey` that signed this request, or :class:`AuthFailure`."""
    spot = venue is Venue.SPOT
    missing = 200 if spot else 400
    bad = 200 if spot else 403

    def header(name: str, code: str) -> str:
        value = headers.get(prefix + name)
        if not value:
            raise AuthFailure(code, f"Missing request header {prefix}{name}", missing)
        return value

    api_key = header("appkey", "AUTH_001")
    timestamp = header("timestamp", "AUTH_002")
    if spot:
        window_text = header("recvwindow", "AUTH_003")
        algorithm = header("algorithms", "AUTH_005")
    else:
        window_text = headers.get(prefix + "recvwindow") or str(FUTURES_DEFAULT_WINDOW)
        algorithm = headers.get(prefix + "algorithms") or "HmacSHA256"
    if not window_text.isdigit() or not 0 < int(window_text) <= 60_000:
        raise AuthFailure("AUTH_004", f"Bad request header {prefix}recvwindow", bad)
    if algorithm not in ALGORITHMS:
        raise AuthFailure("AUTH_006", f"Bad request header {prefix}algorithms", bad)
    signature = header("signature", "AUTH_007")
    key = keys.get(api_key)
    if key is None:
        raise AuthFailure("AUTH_101", "ApiKey does not exist", bad)
    query_text = query_string(query)
    body_text = body.decode("utf-8", "replace")
    if spot:
        signed = {
            f"{prefix}algorithms": algorithm,
            f"{prefix}appkey": api_key,
            f"{prefix}recvwindow": window_text,
            f"{prefix}timestamp": timestamp,
        }
        text = spot_prehash(
            method=method, path=path, query=query_text, body=body_text, headers=signed
        )
    else:
        text = futures_prehash(
            path=path,
            query=query_text,
            body=body_text,
            api_key=api_key,
            timestamp=timestamp,
            prefix=prefix,
        )
    expected = hmac_hex(key.secret.encode(), text, algorithm)
    if not hmac.compare_digest(expected, signature.lower()):
        raise AuthFailure("AUTH_103", "Signature error", bad)
    if not timestamp.isdigit():
        raise AuthFailure("AUTH_105", "Outdated message", bad)
    age = now_ms - int(timestamp)
    if age >= int(window_text) or -age > MAX_AHEAD_MS:
        raise AuthFailure("AUTH_105", "Outdated message", bad)
    return key
