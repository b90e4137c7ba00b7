"""The Redis Streams backend: one stream per book, its head in a hash beside it.

The publisher sends each batch as one pipeline (no transaction): an ``XADD ... MAXLEN ~
N`` per entry, and for an entry that opens with a snapshot or status a small script
that adds it and stores it, with its stream id, as the book's head
(``HSET {stream}:head id ID m ENTRY``) in the same step. The subscriber reads heads with
``HGETALL`` and the streams with one blocking ``XREAD`` over all its books.
"""

from __future__ import annotations

from typing import Any

from .schema import stream_name

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
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


class RedisPublishBackend:
    """Writes entries to Redis Streams (see the module docstring)."""

    name = "redis"

    def __init__(self, url: str, prefix: str, maxlen: int, timeout: float = 2.0) -> None:
        self.url, self.prefix, self.maxlen, self.timeout = url, prefix, maxlen, timeout
        self._redis: Any = None
        self._sha = ""

    async def open(self) -> None:
        """Connect (raises one of :data:`ERRORS` when the server cannot be reached)."""
        await self.close()
        self._redis = _client(self.url, self.timeout)
        await self._redis.ping()
        self._sha = await self._redis.script_load(_ADD_HEAD)

    async def write(self, entries: list[tuple[str, str, bytes, bool]]) -> None:
        """Send ``(venue, symbol, entry, is_head)`` entries in one pipeline, in order."""
        pipe = self._redis.pipeline(transaction=False)
        maxlen, prefix = self.maxlen, self.prefix
        for venue, symbol, payload, head in entries:
            key = stream_name(prefix, venue, symbol)
            if head:
                pipe.evalsha(self._sha, 2, key, key + ":head", maxlen, payload)
            else:
                pipe.xadd(key, {"m": payload}, maxlen=maxlen, approximate=True)
        await pipe.execute()

    async def close(self) -> None:
        """Close the connection (nothing if none)."""
        redis, self._redis = self._redis, None
        if redis is not None:
            try:
                await redis.aclose()
            except ERRORS:
                pass


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
