"""The Redis Streams backend: one stream per book, its head in a hash beside it.

The publisher sends each batch as one write of pipelined commands (no transaction): an
``XADD ... MAXLEN ~ N`` per entry, and for an entry that opens with a snapshot or status a
small script that adds it and stores it, with its stream id, as the book's head
(``HSET {stream}:head id ID m ENTRY``) in the same step; the batch is done when every
reply has come back, and fails (one of :data:`ERRORS`) when any reply is an error, the
connection is lost, or the replies take longer than ``timeout``. The subscriber reads
heads with ``HGETALL`` and the streams with one blocking ``XREAD`` over all its books.

The publishing side speaks RESP itself over one asyncio connection (commands packed
from bytes kept per book, replies parsed by ``hiredis``): a batch costs one socket write
and the replies' reads, where redis-py's pipeline cost several times more of the
engine's CPU per batch (``bench.broker``). The URL means what it means to redis-py (its
``parse_url``: ``redis://``, ``rediss://`` with its ``ssl_*`` options, ``unix://``; user,
password and ``db``). The reading side is redis-py's client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from .schema import stream_name

try:
    import hiredis
    import redis.asyncio as aioredis
    from redis.asyncio.connection import SSLConnection, parse_url
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError, ResponseError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError:  # the broker extra is not installed: see feeds.broker.backends
    aioredis = None  # type: ignore[assignment]
    RedisError = OSError  # type: ignore[assignment,misc]

_ADD_HEAD = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[2])
redis.call('HSET', KEYS[2], 'id', id, 'm', ARGV[2])
return id
"""

#: What a lost or refused Redis connection raises (the publisher and subscriber catch it).
ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)


def _client(url: str, timeout: float) -> Any:
    return aioredis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=0
    )


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(_bulk(a) for a in args)


class _Resp(asyncio.Protocol):
    """One RESP connection: commands written as given, replies matched to them in order."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(protocolError=RedisConnectionError, replyError=ResponseError)
        self.transport: Any = None
        #: Per request not yet answered: [future, replies still due, first error, sent at].
        self.waiting: deque[list[Any]] = deque()
        self.lost: BaseException | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        waiting = self.waiting
        try:
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                if not waiting:
                    raise RedisConnectionError("a reply nothing asked for")
                request = waiting[0]
                if request[2] is None and type(reply) is ResponseError:
                    request[2] = reply
                request[1] -= 1
                if request[1] == 0:
                    waiting.popleft()
                    future = request[0]
                    if not future.done():
                        if request[2] is None:
                            future.set_result(reply)
                        else:
                            future.set_exception(request[2])
        except RedisConnectionError as exc:
            self.abort(exc)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.lost is None:
            detail = f": {exc}" if exc is not None else ""
            self.lost = RedisConnectionError(f"connection to Redis lost{detail}")
        waiting, self.waiting = self.waiting, deque()
        for request in waiting:
            if not request[0].done():
                request[0].set_exception(self.lost)
                request[0].exception()  # retrieved: a cancelled writer does not warn

    def abort(self, exc: BaseException) -> None:
        """Drop the connection; everything waiting fails with ``exc``."""
        if self.lost is None:
            self.lost = exc
        if self.transport is not None:
            self.transport.abort()

    def request(self, data: bytes, replies: int, now: float) -> asyncio.Future[Any]:
        """Write ``data`` (``replies`` commands); the future of the last reply."""
        if self.lost is not None:
            raise self.lost
        future = asyncio.get_running_loop().create_future()
        self.waiting.append([future, replies, None, now])
        self.transport.write(data)
        return future


async def _connect(url: str) -> _Resp:
    """A connection to the server ``url`` names, as redis-py reads it."""
    options = parse_url(url)
    loop = asyncio.get_running_loop()
    if "path" in options:
        _, protocol = await loop.create_unix_connection(_Resp, options["path"])
    else:
        host, port = options.get("host", "localhost"), options.get("port", 6379)
        ssl = None
        if options.get("connection_class") is SSLConnection:
            tls = {k: v for k, v in options.items() if k.startswith("ssl_")}
            ssl = SSLConnection(**tls).ssl_context.get()
        _, protocol = await loop.create_connection(
            _Resp, host, port, ssl=ssl, server_hostname=host if ssl is not None else None
        )
    return protocol


class RedisPublishBackend:
    """Writes entries to Redis Streams (see the module docstring)."""

    name = "redis"

    def __init__(self, url: str, prefix: str, maxlen: int, timeout: float = 2.0) -> None:
        self.url, self.prefix, self.maxlen, self.timeout = url, prefix, maxlen, timeout
        self._conn: _Resp | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._sha = b""
        self._packed: dict[tuple[str, str], tuple[bytes, bytes]] = {}

    async def open(self) -> None:
        """Connect (raises one of :data:`ERRORS` when the server cannot be reached)."""
        await self.close()
        try:
            conn = await asyncio.wait_for(_connect(self.url), self.timeout)
        except TimeoutError:
            raise RedisTimeoutError(f"no connection within {self.timeout} s") from None
        self._conn = conn
        self._watchdog()
        options = parse_url(self.url)
        hello = []
        if options.get("password") is not None:
            user = options.get("username")
            credentials = (user, options["password"]) if user else (options["password"],)
            hello.append(_command(b"AUTH", *(str(c).encode() for c in credentials)))
        if options.get("db"):
            hello.append(_command(b"SELECT", str(options["db"]).encode()))
        hello.append(_command(b"SCRIPT", b"LOAD", _ADD_HEAD.encode()))
        loop = asyncio.get_running_loop()
        try:
            sha = await conn.request(b"".join(hello), len(hello), loop.time())
        except BaseException:
            await self.close()
            raise
        self._sha = sha if isinstance(sha, bytes) else str(sha).encode()
        self._packed = {}

    def _watchdog(self) -> None:
        """Every ``timeout / 2``: a batch unanswered for ``timeout`` drops the connection."""
        conn = self._conn
        if conn is None:
            return
        loop = asyncio.get_running_loop()
        waiting = conn.waiting
        if waiting and loop.time() - waiting[0][3] > self.timeout:
            conn.abort(RedisTimeoutError(f"no reply from Redis within {self.timeout} s"))
        self._watch = loop.call_later(self.timeout / 2, self._watchdog)

    def _prefixes(self, venue: str, symbol: str) -> tuple[bytes, bytes]:
        """The packed command up to its entry: ``(XADD ..., EVALSHA ...)`` for a book."""
        key = stream_name(self.prefix, venue, symbol).encode()
        maxlen = str(self.maxlen).encode()
        add = b"*8\r\n" + b"".join(
            _bulk(a) for a in (b"XADD", key, b"MAXLEN", b"~", maxlen, b"*", b"m")
        )
        head = b"*7\r\n" + b"".join(
            _bulk(a) for a in (b"EVALSHA", self._sha, b"2", key, key + b":head", maxlen)
        )
        packed = self._packed[venue, symbol] = (add, head)
        return packed

    async def write(self, entries: list[tuple[str, str, bytes, bool]]) -> None:
        """Send ``(venue, symbol, entry, is_head)`` entries in one write, in order; return
        when Redis has answered every one (one of :data:`ERRORS` if any failed)."""
        conn = self._conn
        if conn is None:
            raise RedisConnectionError("not connected")
        packed = self._packed
        parts = []
        append = parts.append
        for venue, symbol, payload, head in entries:
            prefixes = packed.get((venue, symbol)) or self._prefixes(venue, symbol)
            append(prefixes[1] if head else prefixes[0])
            append(b"$%d\r\n" % len(payload))
            append(payload)
            append(b"\r\n")
        await conn.request(b"".join(parts), len(entries), asyncio.get_running_loop().time())

    async def close(self) -> None:
        """Close the connection (nothing if none)."""
        conn, self._conn = self._conn, None
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
        if conn is not None and conn.transport is not None:
            conn.abort(RedisConnectionError("connection closed"))
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0)  # the transport's connection_lost runs


class RedisReadBackend:
    """Reads heads and streams from Redis (see the module docstring)."""

    name = "redis"
    #: The position before the first entry of a stream.
    START = "0-0"

    def __init__(self, url: str, prefix: str, timeout: float = 2.0) -> None:
        self.url, self.prefix, self.timeout = url, prefix, timeout
        self._redis: Any = None

    async def open(self) -> None:
        """Connect (raises one of :data:`ERRORS` when the server cannot be reached)."""
        await self.close()
        # A blocking read waits up to its own timeout: the socket's must be longer.
        self._redis = _client(self.url, self.timeout + 2.0)
        await self._redis.ping()

    async def head(self, venue: str, symbol: str) -> tuple[str, bytes] | None:
        """The book's head ``(stream id, entry)``, or None when there is none."""
        fields = await self._redis.hgetall(stream_name(self.prefix, venue, symbol) + ":head")
        if not fields or b"id" not in fields or b"m" not in fields:
            return None
        return fields[b"id"].decode(), fields[b"m"]

    async def read(
        self, positions: dict[tuple[str, str], str], timeout: float, count: int = 1000
    ) -> list[tuple[tuple[str, str], str, bytes]]:
        """Entries after ``positions`` (``(venue, symbol)`` -> stream id), waiting up to
        ``timeout`` seconds for the first: ``[(book, stream id, entry)]`` in order per book."""
        keys = {stream_name(self.prefix, v, s): (v, s) for v, s in positions}
        streams = {key: positions[book] for key, book in keys.items()}
        reply = await self._redis.xread(streams, count=count, block=max(1, int(timeout * 1000)))
        out = []
        for key, entries in reply or ():
            book = keys[key.decode() if isinstance(key, bytes) else key]
            for entry_id, fields in entries:
                ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                out.append((book, ident, fields.get(b"m", b"")))
        return out

    async def close(self) -> None:
        """Close the connection (nothing if none)."""
        redis, self._redis = self._redis, None
        if redis is not None:
            try:
                await redis.aclose()
            except ERRORS:
                pass
