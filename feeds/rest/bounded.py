"""Bounded HTTP exchanges: one overall deadline per request, a cap on the response body
counted on the decompressed bytes, and whether a failed request may have reached the server.

Used by :class:`~feeds.rest.market.MarketClient` and both
:mod:`feeds.rest.client` clients. httpx's ``timeout`` bounds each I/O operation (one
read, one write), not a request: a server that sends a byte every few seconds never
trips it, and httpx reads (and decompresses) whatever body it is sent. Here:

- **Deadline.** Asyncio: the whole exchange (connect, send, headers, body) runs under
  ``asyncio.timeout``. Synchronous: every socket operation of the default transport
  (:func:`sync_transport`) waits at most until the calling thread's deadline (a
  ``contextvars`` value set by :func:`deadline_scope`), so a trickle of header bytes
  is cut off as surely as a trickling body. With a transport given by the caller, or
  when proxy environment variables are set (httpx then builds its own proxy
  transports), the synchronous deadline is checked between body chunks only.
- **Size cap.** Responses are streamed. The body is decompressed here, ``gzip`` and
  ``deflate`` (the only encodings asked for: ``Accept-Encoding: gzip, deflate``), in
  steps that never produce more than the bytes still allowed, so a gzip bomb costs at
  most the cap, not its expanded size. A body without ``Content-Encoding`` whose
  ``Content-Length`` is over the cap is refused before it is read. Other encodings,
  if a server sends one anyway, are decoded by httpx and counted chunk by chunk.
- **Sent or not.** :class:`SendTrace` is an httpx ``trace`` extension that notes when
  the request's headers start going out; :func:`may_have_been_sent` combines it with
  the exception type (see :mod:`feeds.rest.errors`).
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
import zlib
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from .errors import RequestDeadline, ResponseTooLarge, TransportError

ACCEPT_ENCODING = "gzip, deflate"
#: Errors raised before any byte of the request can have left this process.
NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
)

_DEADLINE: ContextVar[float | None] = ContextVar("wexbook_http_deadline", default=None)


class SendTrace:
    """An httpx ``trace`` extension: did the request start going out?

    ``events`` counts the transport's trace events (a mock transport sends none);
    ``sending`` turns true at ``send_request_headers``. Pass :meth:`extension` (sync) or
    :meth:`async_extension` as ``extensions={"trace": ...}``.
    """

    __slots__ = ("events", "sending")

    def __init__(self) -> None:
        self.events = 0
        self.sending = False

    def _note(self, name: str) -> None:
        self.events += 1
        if ".send_request_headers." in name:
            self.sending = True

    def extension(self, name: str, info: dict[str, Any]) -> None:
        """The synchronous trace callback."""
        self._note(name)

    async def async_extension(self, name: str, info: dict[str, Any]) -> None:
        """The asyncio trace callback."""
        self._note(name)

    @property
    def maybe_sent(self) -> bool:
        """Whether the request may have reached the server (``True`` when unknown)."""
        return self.sending or not self.events


def may_have_been_sent(exc: httpx.TransportError, trace: SendTrace) -> bool:
    """``False`` only when ``exc`` (or the trace) shows nothing was written."""
    if isinstance(exc, NOT_SENT_ERRORS):
        return False
    return trace.maybe_sent


# -- synchronous deadline: deadline-aware sockets ----------------------------------------


@contextlib.contextmanager
def deadline_scope(at: float) -> Iterator[None]:
    """Bound every socket operation of :func:`sync_transport` in this thread by ``at``
    (``time.monotonic()`` seconds)."""
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    at = _DEADLINE.get()
    if at is None:
        return timeout
    remaining = at - time.monotonic()
    if remaining <= 0:
        raise error("request deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous socket backend, bounded by the thread's :func:`deadline_scope`."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        timeout = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def sync_transport() -> httpx.BaseTransport | None:
    """httpx's default synchronous transport on :class:`DeadlineBackend` sockets.

    ``None`` (let httpx build its transports) when proxy environment variables are set,
    so that they keep applying. httpx has no public hook for a network backend: the
    transport's connection pool is replaced by one built with the same defaults.
    """
    proxies = urllib.request.getproxies()
    if any(proxies.get(scheme) for scheme in ("http", "https", "all")):
        return None
    transport = httpx.HTTPTransport()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    transport._pool = httpcore.ConnectionPool(  # no public hook; see the docstring
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=DeadlineBackend(),
    )
    return transport


# -- capped, incrementally decompressed bodies ---------------------------------------------


class _TooLarge(Exception):
    def __init__(self, received: int) -> None:
        self.received = received


class _Decoder:
    """Decompresses ``gzip`` / ``deflate`` / identity, never past ``limit`` output bytes.

    Each step asks zlib for at most one byte more than the room left, so the output of
    one chunk either fits (and the chunk is consumed whole) or proves the body too large.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self.fed = 0
        self.encoding = encoding
        if encoding in ("gzip", "x-gzip"):
            self._z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            self._z = None

    @staticmethod
    def handles(encoding: str) -> bool:
        return encoding in ("", "identity", "gzip", "x-gzip", "deflate")

    def _count(self, piece: bytes) -> bytes:
        self.total += len(piece)
        if self.total > self.limit:
            raise _TooLarge(self.total)
        return piece

    def feed(self, data: bytes) -> bytes:
        if self._z is None:
            return self._count(data)
        first = not self.fed
        self.fed += len(data)
        try:
            return self._count(self._z.decompress(data, self.limit - self.total + 1))
        except zlib.error as exc:
            if self.encoding == "deflate" and first:  # raw deflate, as httpx also accepts
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                return self._count(self._z.decompress(data, self.limit - self.total + 1))
            raise httpx.DecodingError(f"{self.encoding} body: {exc}") from None

    def finish(self) -> bytes:
        if self._z is None or not self.fed:
            return b""
        tail = self.feed(b"")
        if not self._z.eof and self.encoding != "deflate":
            raise httpx.DecodingError(f"{self.encoding} body ended early")
        return tail


class BodyReader:
    """Reads one streamed response under ``limit`` decoded bytes (and, for the
    synchronous client, checks ``deadline`` between chunks). ``what`` names the request
    (``"GET /v4/public/depth"``) in error messages."""

    def __init__(
        self,
        response: httpx.Response,
        *,
        limit: int,
        what: str,
        method: str,
        deadline: float | None = None,
        deadline_seconds: float = 0.0,
    ) -> None:
        self.response = response
        self.limit = limit
        self.what = what
        self.method = method
        self.deadline = deadline
        self.deadline_seconds = deadline_seconds
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        self.native = _Decoder.handles(encoding)
        self.decoder = _Decoder(encoding if self.native else "", limit)
        length = response.headers.get("Content-Length")
        if encoding in ("", "identity") and length and length.isdigit() and int(length) > limit:
            raise self.too_large(0, announced=int(length))

    def too_large(self, received: int, announced: int | None = None) -> ResponseTooLarge:
        said = f" (Content-Length {announced})" if announced is not None else ""
        return ResponseTooLarge(
            f"{self.what}: response body over the {self.limit}-byte limit{said}; not read",
            limit=self.limit,
            received=received,
            sent=True,
            method=self.method,
            path=self.response.request.url.path,
        )

    def past_deadline(self) -> RequestDeadline:
        path = self.response.request.url.path
        return deadline_error(self.what, self.method, path, self.deadline_seconds, sent=True)

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise self.past_deadline()

    def _preloaded(self) -> bytes | None:
        """The body of a response that was read before it reached us (a mock
        transport's), checked against the cap; ``None`` for a stream still to read."""
        try:
            content = self.response.content
        except httpx.ResponseNotRead:
            return None
        if len(content) > self.limit:
            raise self.too_large(len(content))
        return content

    def read(self) -> bytes:
        """The decoded body (synchronous response)."""
        preloaded = self._preloaded()
        if preloaded is not None:
            return preloaded
        parts = []
        try:
            chunks = self.response.iter_raw() if self.native else self.response.iter_bytes()
            for chunk in chunks:
                parts.append(self.decoder.feed(chunk))
                self._check_deadline()
            parts.append(self.decoder.finish())
        except _TooLarge as exc:
            raise self.too_large(exc.received) from None
        return b"".join(parts)

    async def aread(self) -> bytes:
        """The decoded body (asyncio response; the deadline is the caller's ``timeout``)."""
        preloaded = self._preloaded()
        if preloaded is not None:
            return preloaded
        parts = []
        try:
            chunks: AsyncIterator[bytes] = (
                self.response.aiter_raw() if self.native else self.response.aiter_bytes()
            )
            async for chunk in chunks:
                parts.append(self.decoder.feed(chunk))
            parts.append(self.decoder.finish())
        except _TooLarge as exc:
            raise self.too_large(exc.received) from None
        return b"".join(parts)


def deadline_error(
    what: str, method: str, path: str, seconds: float, *, sent: bool
) -> RequestDeadline:
    """The :class:`RequestDeadline` of a request that ran out of time."""
    state = "after it was sent" if sent else "before it was sent"
    return RequestDeadline(
        f"{what}: no complete answer within the {seconds:g} s deadline ({state})",
        deadline=seconds,
        sent=sent,
        method=method,
        path=path,
    )


def transport_error(
    what: str, method: str, path: str, exc: httpx.TransportError, trace: SendTrace
) -> TransportError:
    """An httpx transport failure as a :class:`TransportError` with ``sent`` set."""
    sent = may_have_been_sent(exc, trace)
    state = "after it was sent" if sent else "not sent"
    return TransportError(
        f"{what}: {type(exc).__name__}: {exc} ({state})", sent=sent, method=method, path=path
    )
