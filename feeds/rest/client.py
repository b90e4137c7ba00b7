"""The REST facade: every documented operation, sync (:class:`WexClient`) and async
(:class:`AsyncWexClient`), signed as the document specifies.

::

    with WexClient(api_key, secret) as client:
        client.spot.submit_order(symbol="btc_usdt", side="BUY", type="LIMIT",
                                 timeInForce="GTC", bizType="SPOT", price="30000", quantity="1")
        client.futures.create_order(symbol="btc_usdt", orderSide="BUY", orderType="MARKET",
                                    origQty=1, positionSide="LONG")
        client.request("spot", "GET", "/v4/public/time")

``client.spot``, ``client.futures`` (USDT-M, the ``fapi`` host) and
``client.coin_futures`` (COIN-M, the ``dapi`` host; same operations) have one
method per row of :data:`feeds.rest.table.OPERATIONS`; the methods are made from
the table, with its documentation, not written by hand. Each call:

1. checks its arguments against the documented parameters (:class:`ParameterError`
   before anything is sent) and builds the exact request (:mod:`feeds.rest.spec`);
2. waits for the documented rate limits (per IP and per API key; the futures
   host's 1000 requests/minute/IP as well), by default at 80% of each, a slot held
   until the answer is back (:mod:`feeds.rest.ratelimit` says why);
3. signs it (:class:`~feeds.signing.SpotAuth` / :class:`~feeds.signing.FuturesAuth`,
   ``httpx.Auth`` flows that sign the very body bytes sent), with timestamps
   corrected to the exchange's clock (synced from ``/v4/public/time`` before the
   first signed request);
4. sends it within ``deadline`` seconds for the whole exchange (by default
   ``timeout``, 10 s, which also bounds each single read or write) and reads at most
   ``max_response_bytes`` of body,
   counted after decompression (:mod:`feeds.rest.bounded`); past either, a
   :class:`~feeds.rest.errors.RequestDeadline` or
   :class:`~feeds.rest.errors.ResponseTooLarge`;
5. unwraps the envelope or raises the matching :class:`~feeds.rest.errors.ApiError`.

Retries: reads (GET) are retried on transport errors (deadline and size cap
included), 5xx and 429 (after Retry-After), up to ``retries`` times. Writes are
never retried, with one exception: an ``AUTH_105`` answer (outdated timestamp)
means the request was refused before it was processed, so the clock is resynced and
it is sent once more.

Not sent, or outcome unknown: every :class:`~feeds.rest.errors.TransportError` has
``sent``. A write that failed with ``sent`` false (connection refused, connect
timeout, no free connection) never reached the exchange. A write that may have
reached it (a read timeout, a reset or a deadline after sending) raises
:class:`~feeds.rest.errors.OutcomeUnknown`: the order may exist. Look it up before
sending it again: give orders a ``clientOrderId`` and query it (spot
``query_order(clientOrderId=...)``, futures ``get_orders(clientOrderId=...)``);
``OutcomeUnknown.client_order_id`` carries it back.

Secrets: :class:`~feeds.signing.Credentials` never shows its secret; nothing
here logs headers or bodies of signed requests.
"""

from __future__ import annotations

import asyncio
import inspect
import keyword
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from orderbook import Venue

from ..clock import ServerClock
from ..signing import Credentials, FuturesAuth, SigningError, SpotAuth
from .bounded import (
    ACCEPT_ENCODING,
    BodyReader,
    SendTrace,
    deadline_error,
    deadline_scope,
    may_have_been_sent,
    sync_transport,
    transport_error,
)
from .errors import (
    ApiError,
    OutcomeUnknown,
    RateLimitError,
    ServerError,
    TransportError,
    unwrap,
)
from .market import FUTURES_URL, SPOT_URL
from .ratelimit import RateLimiter
from .spec import Operation, Param, PreparedCall
from .table import OPERATIONS

log = logging.getLogger(__name__)

COIN_FUTURES_URL = "https://dapi.wexex.io"
#: The namespaces of a client and the table venue each one serves.
NAMESPACES = {"spot": "spot", "futures": "futures", "coin_futures": "futures"}
#: Futures "Other endpoints: ... 1000 requests per minute per IP" (document, Rate Limits).
FUTURES_IP_PER_MINUTE = 1000
#: Default cap on one response body, decompressed: the largest documented answers
#: (every symbol's rules, long kline or trade pages) are far below it.
MAX_RESPONSE_BYTES = 16 * 2**20


_BY_NAME: dict[str, dict[str, Operation]] = {}
_BY_ROUTE: dict[tuple[str, str, str], Operation] = {}
for _op in OPERATIONS:
    _BY_NAME.setdefault(_op.venue, {})[_op.name] = _op
    _BY_ROUTE[_op.venue, _op.method, _op.path] = _op


def operations(venue: str) -> dict[str, Operation]:
    """The table's operations of ``venue`` (``spot`` or ``futures``), by name."""
    return _BY_NAME.get(venue, {})


def find_operation(venue: str, method: str, path: str) -> Operation | None:
    """The table row for ``method path`` on ``venue`` (or namespace), if the document has one."""
    return _BY_ROUTE.get((NAMESPACES.get(venue, venue), method.upper(), path))


def resolve(key: str) -> tuple[str, Operation]:
    """``"coin_futures.create_order"`` -> the namespace and its table row."""
    namespace, _, name = key.partition(".")
    return namespace, operations(NAMESPACES[namespace])[name]


class _Core:
    """What both clients share: URLs, signing, clock, limits; builds and judges requests."""

    def __init__(
        self,
        api_key: str | None,
        secret: str | None,
        *,
        spot_url: str,
        futures_url: str,
        coin_futures_url: str,
        algorithm: str,
        recv_window: int,
        header_prefix: str,
        retries: int,
        rate_limiter: RateLimiter | None,
        sync_time: bool,
        deadline: float,
        max_response_bytes: int,
    ) -> None:
        if deadline <= 0 or max_response_bytes < 1:
            raise ValueError("deadline must be > 0 s and max_response_bytes >= 1")
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self.credentials = Credentials(api_key, secret) if api_key or secret else None
        self.urls = {"spot": spot_url, "futures": futures_url, "coin_futures": coin_futures_url}
        self.clock = ServerClock()
        self.retries = retries
        self.limiter = rate_limiter
        self.sync_time = sync_time
        self.time_synced = False
        self.stats = {"requests": 0, "retries": 0, "errors": 0, "time_syncs": 0}
        #: Optional ``observer(venue, operation, error or None, seconds)`` of every attempt
        #: (``operation``: the table's key, or ``raw`` for a raw request), e.g.
        #: :meth:`feeds.metrics.BookWatch.watch_client`'s.
        self.observer: Any = None
        self.auth: dict[str, httpx.Auth] = {}
        if self.credentials is not None:
            options: dict[str, Any] = {
                "algorithm": algorithm,
                "header_prefix": header_prefix,
                "clock": self.clock,
            }
            spot = SpotAuth(self.credentials, recv_window=recv_window, **options)
            futures = FuturesAuth(self.credentials, recv_window=recv_window, **options)
            self.auth = {"spot": spot, "futures": futures, "coin_futures": futures}

    def __repr__(self) -> str:
        return f"<{self.credentials!r}, {self.urls['spot']}, {self.urls['futures']}>"

    def observe(
        self, namespace: str, op: Operation | None, call: PreparedCall, error: Any, started: float
    ) -> None:
        """Report one attempt to the observer, if any."""
        if self.observer is not None:
            operation = op.key if op is not None else "raw"
            self.observer(NAMESPACES[namespace], operation, error, time.monotonic() - started)

    def auth_for(self, namespace: str, op: Operation | None, signed: bool | None) -> Any:
        needs = op.signed if signed is None and op is not None else bool(signed)
        if not needs:
            return None
        if namespace not in self.auth:
            what = op.key if op else "this request"
            raise SigningError(f"{what} is signed: give the client an API key and secret")
        return self.auth[namespace]

    def buckets(self, namespace: str, op: Operation | None) -> list[tuple[Any, int, float]]:
        host = self.urls[namespace]
        found: list[tuple[Any, int, float]] = []
        if op is not None:
            for count, scope in op.rate_limits:
                who = self.credentials.api_key if scope == "apikey" and self.credentials else "ip"
                found.append(((host, op.method, op.path, scope, who), count, 1.0))
        if NAMESPACES[namespace] == "futures":
            found.append(((host, "ip-minute"), FUTURES_IP_PER_MINUTE, 60.0))
        return found

    def retryable(self, method: str, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before retrying, or ``None`` not to retry."""
        if attempt >= self.retries or method != "GET":
            return None
        if isinstance(exc, RateLimitError):
            return exc.retry_after if exc.retry_after is not None else 1.0
        if isinstance(exc, (ServerError, TransportError)):
            return min(2.0, 0.1 * 2**attempt) * (0.5 + random.random())
        return None

    def failed(self, call: PreparedCall, error: TransportError) -> TransportError:
        """``error``, or an :class:`OutcomeUnknown` for a write that may have been sent."""
        if call.method == "GET" or not error.sent:
            return error
        client_id = _client_order_id(call)
        lookup = f"look up clientOrderId {client_id!r}" if client_id else "look the order up"
        return OutcomeUnknown(
            f"{call.method} {call.path}: outcome unknown, it may have been executed; "
            f"{lookup} before sending it again ({error})",
            reason=error,
            client_order_id=client_id,
            method=call.method,
            path=call.path,
        )

    def after_failure(
        self, call: PreparedCall, signed: bool, exc: Exception, attempt: int, resynced: bool
    ) -> float | str:
        """What to do after a failed attempt: ``"resync"`` (the clock, then send again), or
        the seconds to wait before a retry; re-raises ``exc`` when neither applies."""
        outdated = isinstance(exc, ApiError) and exc.code == "AUTH_105"
        if signed and self.sync_time and outdated and not resynced:
            return "resync"
        delay = self.retryable(call.method, exc, attempt)
        if delay is None:
            self.stats["errors"] += 1
            raise exc
        self.stats["retries"] += 1
        log.info("retrying %s %s in %.2fs after %s", call.method, call.path, delay, exc)
        return delay


def _client_order_id(call: PreparedCall) -> str | None:
    """The ``clientOrderId`` a call carries (query or JSON body), if any."""
    for name, value in call.query:
        if name == "clientOrderId":
            return value
    if call.body:
        try:
            body = orjson.loads(call.body)
        except orjson.JSONDecodeError:
            return None
        if isinstance(body, dict) and body.get("clientOrderId") is not None:
            return str(body["clientOrderId"])
    return None


def _describe(op: Operation) -> str:
    lines = [
        f"{op.title} (``{op.method} {op.path}``, {'signed' if op.signed else 'public'}).",
        "",
        f"API document line {op.line}; HTTP method from: {op.method_source}"
        + (" (inferred)" if op.inferred else "")
        + ".",
    ]
    if op.limits:
        lines.append(f"Rate limit: {'; '.join(op.limits)}.")
    if op.params:
        lines += ["", "Parameters:"]
        for prm in op.params:
            bits = [prm.type, "required" if prm.required else "optional", prm.location]
            if prm.enum:
                bits.append("one of " + "/".join(prm.enum))
            if prm.pattern:
                bits.append(f"pattern {prm.pattern}")
            if prm.min is not None:
                bits.append(f"{prm.min}..{prm.max}")
            lines.append(f"    {prm.name} ({', '.join(bits)}): {prm.doc}")
    if op.errors:
        lines += ["", f"Documented error codes: {', '.join(op.errors)}."]
    return "\n".join(lines)


def _signature(op: Operation) -> inspect.Signature:
    def kw(prm: Param) -> inspect.Parameter:
        default = inspect.Parameter.empty if prm.required else None
        name = prm.name + "_" if keyword.iskeyword(prm.name) else prm.name  # from -> from_
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)

    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)]
    params += [kw(prm) for prm in op.by_name.values() if prm.name.isidentifier()]
    params.append(inspect.Parameter("extra", inspect.Parameter.KEYWORD_ONLY, default=None))
    return inspect.Signature(params)


def _make_method(op: Operation, is_async: bool) -> Callable[..., Any]:
    if is_async:

        async def method(self: _Api, **arguments: Any) -> Any:
            return await self._client.call_operation(self._namespace, op, arguments)

    else:

        def method(self: _Api, **arguments: Any) -> Any:  # type: ignore[misc]
            return self._client.call_operation(self._namespace, op, arguments)

    method.__name__ = method.__qualname__ = op.name
    method.__doc__ = _describe(op)
    method.__signature__ = _signature(op)  # type: ignore[attr-defined]
    method.operation = op  # type: ignore[attr-defined]
    return method


class _Api:
    """One venue's operations on a client (``client.spot``, ``client.futures``...)."""

    venue = ""

    def __init__(self, client: Any, namespace: str) -> None:
        self._client = client
        self._namespace = namespace

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._namespace}: {len(operations(self.venue))} operations>"
        )

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(operations(self.venue)))


def _api_class(name: str, venue: str, is_async: bool) -> type[_Api]:
    namespace: dict[str, Any] = {
        "venue": venue,
        "__doc__": f"Every {venue} operation of the API document, one method each"
        + (" (coroutines)." if is_async else "."),
    }
    for op in operations(venue).values():
        namespace[op.name] = _make_method(op, is_async)
    return type(name, (_Api,), namespace)


SpotApi = _api_class("SpotApi", "spot", False)
FuturesApi = _api_class("FuturesApi", "futures", False)
AsyncSpotApi = _api_class("AsyncSpotApi", "spot", True)
AsyncFuturesApi = _api_class("AsyncFuturesApi", "futures", True)


def _raw_call(method: str, path: str, params: Mapping[str, Any] | None, json: Any) -> PreparedCall:
    """A request outside the table, sent as given (``None`` values left out)."""
    query = tuple(
        (k, "true" if v is True else "false" if v is False else str(v))
        for k, v in (params or {}).items()
        if v is not None
    )
    body = None if json is None else orjson.dumps(json)
    return PreparedCall(None, method.upper(), path, query, body)


class _ClientMixin:
    """Construction and the generic entry points shared by both clients."""

    _core: _Core

    def _init(self, api_key: str | None, secret: str | None, options: dict[str, Any]) -> None:
        self._core = _Core(api_key, secret, **options)

    @property
    def stats(self) -> dict[str, int]:
        """Requests sent, retries, errors and clock syncs."""
        return self._core.stats

    @property
    def clock(self) -> ServerClock:
        """The exchange-corrected clock used for ``validate-timestamp``."""
        return self._core.clock

    @property
    def limiter(self) -> RateLimiter | None:
        """The rate limiter the calls wait for (``None``: built with ``rate_limit=False``)."""
        return self._core.limiter

    @property
    def credentials(self) -> Credentials | None:
        """The API key pair (its repr never shows the secret), ``None`` without one."""
        return self._core.credentials

    @property
    def observer(self) -> Callable[[str, str, BaseException | None, float], None] | None:
        """Optional ``observer(venue, operation, error or None, seconds)`` called after every
        attempt (``operation``: the table's key, or ``raw``), e.g. the metrics' request
        observer (:meth:`feeds.metrics.BookWatch.watch_client`)."""
        return self._core.observer

    @observer.setter
    def observer(
        self, observer: Callable[[str, str, BaseException | None, float], None] | None
    ) -> None:
        self._core.observer = observer

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self._core!r}"

    def _build(
        self,
        namespace: str,
        call: PreparedCall,
        http: httpx.Client | httpx.AsyncClient,
        trace: Any,
    ) -> httpx.Request:
        headers = {"Content-Type": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
        return http.build_request(
            call.method,
            self._core.urls[namespace] + call.path,
            params=list(call.query) or None,
            content=call.body,
            headers=headers,
            extensions={"trace": trace},
        )

    def _reader(self, response: httpx.Response, call: PreparedCall, at: float) -> BodyReader:
        core = self._core
        return BodyReader(
            response,
            limit=core.max_response_bytes,
            what=f"{call.method} {call.path}",
            method=call.method,
            deadline=at,
            deadline_seconds=core.deadline,
        )

    def _hold_limits(self, namespace: str, op: Operation | None) -> list[Any]:
        """The buckets to wait for (empty without a limiter)."""
        return self._core.buckets(namespace, op) if self._core.limiter is not None else []

    def _release(self, buckets: list[Any]) -> None:
        if buckets and self._core.limiter is not None:
            self._core.limiter.release(buckets, time.monotonic())


def _options(
    spot_url: str,
    futures_url: str,
    coin_futures_url: str,
    algorithm: str,
    recv_window: int,
    header_prefix: str,
    retries: int,
    rate_limit: bool | RateLimiter,
    sync_time: bool,
    deadline: float,
    max_response_bytes: int,
) -> dict[str, Any]:
    limiter = (
        rate_limit
        if isinstance(rate_limit, RateLimiter)
        else (RateLimiter() if rate_limit else None)
    )
    return {
        "spot_url": spot_url.rstrip("/"),
        "futures_url": futures_url.rstrip("/"),
        "coin_futures_url": coin_futures_url.rstrip("/"),
        "algorithm": algorithm,
        "recv_window": recv_window,
        "header_prefix": header_prefix,
        "retries": retries,
        "rate_limiter": limiter,
        "sync_time": sync_time,
        "deadline": deadline,
        "max_response_bytes": max_response_bytes,
    }


class WexClient(_ClientMixin):
    """Synchronous client for every WEX REST operation (see the module docstring).

    ``api_key``/``secret`` are needed for signed operations only. ``transport``
    swaps the HTTP transport (tests, proxies; the deadline is then checked between
    body chunks only, see :mod:`feeds.rest.bounded`). ``rate_limit`` is ``True`` (a
    limiter of its own, at 80% of the documented limits), ``False``, or a shared
    :class:`RateLimiter`. ``timeout`` bounds each I/O operation, ``deadline`` (default:
    ``timeout``) a whole request, ``max_response_bytes`` (16 MiB) its decompressed body.
    """

    def __init__(
        self,
        api_key: str | None = None,
        secret: str | None = None,
        *,
        spot_url: str = SPOT_URL,
        futures_url: str = FUTURES_URL,
        coin_futures_url: str = COIN_FUTURES_URL,
        algorithm: str = "HmacSHA256",
        recv_window: int = 5000,
        header_prefix: str = "validate-",
        timeout: float = 10.0,
        deadline: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        retries: int = 2,
        rate_limit: bool | RateLimiter = True,
        sync_time: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._init(
            api_key,
            secret,
            _options(spot_url, futures_url, coin_futures_url, algorithm, recv_window,
                     header_prefix, retries, rate_limit, sync_time,
                     timeout if deadline is None else deadline, max_response_bytes),
        )  # fmt: skip
        if transport is None:
            transport = sync_transport()  # sockets bounded by the request's deadline
        self._http = httpx.Client(timeout=timeout, transport=transport)
        self.spot = SpotApi(self, "spot")
        self.futures = FuturesApi(self, "futures")
        self.coin_futures = FuturesApi(self, "coin_futures")

    def __enter__(self) -> WexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def sync_time(self) -> int:
        """Measure the offset to the exchange's clock (``GET /v4/public/time``); returns ms."""
        op = operations("spot")["get_server_time"]

        def fetch() -> int:
            return int(self.call_operation("spot", op, {})["serverTime"])

        offset = self._core.clock.sync_blocking(fetch)
        self._core.time_synced = True
        self._core.stats["time_syncs"] += 1
        return offset

    def call(self, key: str, **arguments: Any) -> Any:
        """Call an operation by its table key, e.g. ``call("spot.submit_order", ...)``."""
        return self.call_operation(*resolve(key), arguments)

    def request(
        self,
        venue: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        signed: bool | None = None,
    ) -> Any:
        """Any request. A documented ``method path`` goes through its table row (checked,
        limited); anything else is sent as given (``signed`` says whether to sign)."""
        op = find_operation(venue, method, path)
        if op is not None and json is None and signed is None:
            return self.call_operation(venue, op, dict(params or {}))
        return self._send(venue, op, _raw_call(method, path, params, json), signed)

    def call_operation(self, namespace: str, op: Operation, arguments: dict[str, Any]) -> Any:
        """Check, limit, sign, send and unwrap one call of ``op``."""
        extra = arguments.pop("extra", None)
        return self._send(namespace, op, op.prepare(arguments, extra), None)

    def _send(
        self, namespace: str, op: Operation | None, call: PreparedCall, signed: bool | None
    ) -> Any:
        core = self._core
        auth = core.auth_for(namespace, op, signed)
        if auth is not None and core.sync_time and not core.time_synced:
            self._try_sync_time()
        attempt, resynced = 0, False
        while True:
            buckets = self._wait_for_limits(namespace, op)
            started = time.monotonic()
            try:
                result = self._send_once(namespace, op, call, auth)
                core.observe(namespace, op, call, None, started)
                return result
            except (ApiError, TransportError) as exc:
                core.observe(namespace, op, call, exc, started)
                step = core.after_failure(call, auth is not None, exc, attempt, resynced)
            finally:
                self._release(buckets)
            if step == "resync":
                resynced = True
                self._try_sync_time()
            else:
                attempt += 1
                time.sleep(step)

    def _send_once(
        self, namespace: str, op: Operation | None, call: PreparedCall, auth: Any
    ) -> Any:
        trace = SendTrace()
        request = self._build(namespace, call, self._http, trace.extension)
        self._core.stats["requests"] += 1
        at = time.monotonic() + self._core.deadline
        try:
            with deadline_scope(at):
                if auth is not None:
                    response = self._http.send(request, auth=auth, stream=True)
                else:
                    response = self._http.send(request, stream=True)
                try:
                    body = self._reader(response, call, at).read()
                finally:
                    response.close()
        except httpx.TransportError as exc:
            what, late = f"{call.method} {call.path}", time.monotonic() >= at
            sent = may_have_been_sent(exc, trace)
            error = (
                deadline_error(what, call.method, call.path, self._core.deadline, sent=sent)
                if late
                else transport_error(what, call.method, call.path, exc, trace)
            )
            raise self._core.failed(call, error) from None
        except TransportError as exc:  # deadline or size cap, while reading the body
            raise self._core.failed(call, exc) from None
        venue = Venue(NAMESPACES[namespace])
        return unwrap(venue, response, op.key if op else None, content=body)

    def _wait_for_limits(self, namespace: str, op: Operation | None) -> list[Any]:
        """Hold a slot of every bucket of this call; returns them (release them after)."""
        buckets = self._hold_limits(namespace, op)
        if buckets:
            limiter = self._core.limiter
            assert limiter is not None
            while (wait := limiter.reserve(buckets, time.monotonic(), hold=True)) > 0:
                time.sleep(wait)
        return buckets

    def _try_sync_time(self) -> None:
        try:
            self.sync_time()
        except (ApiError, TransportError) as exc:
            self._core.time_synced = True  # do not ask before every request
            log.warning("could not sync with the exchange's clock, using local time: %s", exc)


class AsyncWexClient(_ClientMixin):
    """The asyncio twin of :class:`WexClient` (same arguments; methods are coroutines)."""

    def __init__(
        self,
        api_key: str | None = None,
        secret: str | None = None,
        *,
        spot_url: str = SPOT_URL,
        futures_url: str = FUTURES_URL,
        coin_futures_url: str = COIN_FUTURES_URL,
        algorithm: str = "HmacSHA256",
        recv_window: int = 5000,
        header_prefix: str = "validate-",
        timeout: float = 10.0,
        deadline: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        retries: int = 2,
        rate_limit: bool | RateLimiter = True,
        sync_time: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._init(
            api_key,
            secret,
            _options(spot_url, futures_url, coin_futures_url, algorithm, recv_window,
                     header_prefix, retries, rate_limit, sync_time,
                     timeout if deadline is None else deadline, max_response_bytes),
        )  # fmt: skip
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._sync_lock = asyncio.Lock()
        self.spot = AsyncSpotApi(self, "spot")
        self.futures = AsyncFuturesApi(self, "futures")
        self.coin_futures = AsyncFuturesApi(self, "coin_futures")

    async def __aenter__(self) -> AsyncWexClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def sync_time(self) -> int:
        """Measure the offset to the exchange's clock (``GET /v4/public/time``); returns ms."""
        op = operations("spot")["get_server_time"]

        async def fetch() -> int:
            return int((await self.call_operation("spot", op, {}))["serverTime"])

        offset = await self._core.clock.sync(fetch)
        self._core.time_synced = True
        self._core.stats["time_syncs"] += 1
        return offset

    async def call(self, key: str, **arguments: Any) -> Any:
        """Call an operation by its table key, e.g. ``await call("futures.create_order", ...)``."""
        return await self.call_operation(*resolve(key), arguments)

    async def request(
        self,
        venue: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        signed: bool | None = None,
    ) -> Any:
        """Any request (see :meth:`WexClient.request`)."""
        op = find_operation(venue, method, path)
        if op is not None and json is None and signed is None:
            return await self.call_operation(venue, op, dict(params or {}))
        return await self._send(venue, op, _raw_call(method, path, params, json), signed)

    async def call_operation(self, namespace: str, op: Operation, arguments: dict[str, Any]) -> Any:
        """Check, limit, sign, send and unwrap one call of ``op``."""
        extra = arguments.pop("extra", None)
        return await self._send(namespace, op, op.prepare(arguments, extra), None)

    async def _send(
        self, namespace: str, op: Operation | None, call: PreparedCall, signed: bool | None
    ) -> Any:
        core = self._core
        auth = core.auth_for(namespace, op, signed)
        if auth is not None and core.sync_time and not core.time_synced:
            await self._try_sync_time()
        attempt, resynced = 0, False
        while True:
            buckets = await self._wait_for_limits(namespace, op)
            started = time.monotonic()
            try:
                result = await self._send_once(namespace, op, call, auth)
                core.observe(namespace, op, call, None, started)
                return result
            except (ApiError, TransportError) as exc:
                core.observe(namespace, op, call, exc, started)
                step = core.after_failure(call, auth is not None, exc, attempt, resynced)
            finally:
                self._release(buckets)
            if step == "resync":
                resynced = True
                await self._try_sync_time(force=True)
            else:
                attempt += 1
                await asyncio.sleep(step)

    async def _send_once(
        self, namespace: str, op: Operation | None, call: PreparedCall, auth: Any
    ) -> Any:
        trace = SendTrace()
        request = self._build(namespace, call, self._http, trace.async_extension)
        self._core.stats["requests"] += 1
        what = f"{call.method} {call.path}"
        try:
            async with asyncio.timeout(self._core.deadline):
                if auth is not None:
                    response = await self._http.send(request, auth=auth, stream=True)
                else:
                    response = await self._http.send(request, stream=True)
                try:
                    body = await self._reader(response, call, math.inf).aread()
                finally:
                    await response.aclose()
        except TimeoutError:
            seconds, sent = self._core.deadline, trace.maybe_sent
            error = deadline_error(what, call.method, call.path, seconds, sent=sent)
            raise self._core.failed(call, error) from None
        except httpx.TransportError as exc:
            error = transport_error(what, call.method, call.path, exc, trace)
            raise self._core.failed(call, error) from None
        except TransportError as exc:  # the size cap, while reading the body
            raise self._core.failed(call, exc) from None
        venue = Venue(NAMESPACES[namespace])
        return unwrap(venue, response, op.key if op else None, content=body)

    async def _wait_for_limits(self, namespace: str, op: Operation | None) -> list[Any]:
        """Hold a slot of every bucket of this call; returns them (release them after)."""
        buckets = self._hold_limits(namespace, op)
        if buckets:
            limiter = self._core.limiter
            assert limiter is not None
            while (wait := limiter.reserve(buckets, time.monotonic(), hold=True)) > 0:
                await asyncio.sleep(wait)
        return buckets

    async def _try_sync_time(self, force: bool = False) -> None:
        async with self._sync_lock:
            if self._core.time_synced and not force:
                return
            try:
                await self.sync_time()
            except (ApiError, TransportError) as exc:
                self._core.time_synced = True
                log.warning("could not sync with the exchange's clock, using local time: %s", exc)
