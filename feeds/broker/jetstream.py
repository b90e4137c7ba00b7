"""The NATS JetStream backend: the books' entries in one stream, their heads in another.

Per publisher prefix (one subject token: letters, digits, ``_`` and ``-``), two streams,
created or updated by the publisher on every connect (idempotently):

- ``BOOKS_{prefix}``, subjects ``{prefix}.*.*``: a book's entries on the subject
  ``{prefix}.{venue}.{symbol}``, at most ``maxlen`` per subject (the oldest discarded: the
  Redis ``MAXLEN``); file storage.
- ``HEADS_{prefix}``, subjects ``{prefix}.head.*.*``: one message per subject, the book's
  head: the entry that opens with its latest snapshot or status, with the header
  ``Wexbook-Position``, the entry's sequence number in ``BOOKS_{prefix}``.

A venue or symbol is its own subject token when it is made of letters, digits, ``_`` and
``-``; any other character is written ``%XX`` (its UTF-8 bytes), so every book is one
token each and no two books share a subject.

Publishing, one round trip per batch: every entry is a core publish to its subject, in
order, on one connection (no per-message round trip); the entries that open with a
snapshot or status and the batch's last entry carry a reply subject, so the stream
acknowledges them with their sequence numbers. A stream stores one connection's
messages in order: the last entry's acknowledgement says the ones before it were stored
too. A batch with heads then writes each book's newest head, carrying its entry's
sequence number, and waits for those acknowledgements too. A missing acknowledgement
within ``timeout``, a refusal, no stream to take the message (no responders) or a lost
connection raise one of :data:`ERRORS`: the publisher's reconnect path (status, then
snapshot, before any delta).

A head is written once its entry is stored: a subscriber that reads a head and then the
stream after its position misses nothing. One that read the head just before it was
replaced holds the older head, whose position is older still, and reads every message
after it (a new publisher instance in between is a break: counted, the head read again).

Both streams allow direct gets: a head is read with one (``$JS.API.DIRECT.GET``, the last
message of the book's head subject, answered by the stream itself), once the heads'
stream was seen to exist (a direct get to no stream is not answered at all); a reader
makes no consumer before the books' stream exists. (A message get,
``$JS.API.STREAM.MSG.GET``, for a stream that is still being made crashes nats-server
2.9.10.) It needs nats-server 2.9 or later.

Reading: per book, an ephemeral pull consumer (no acknowledgements, its state in
memory) filtered on the book's subject and started after the position asked, with pull
requests of ``batch`` messages (another one when less than half is owed): a subscriber
that falls behind holds at most about ``batch`` messages per book, the rest waits in the
stream, where it may be trimmed away (the subscriber sees the missing sequence number and
reads the head again). Reading a head starts a fresh consumer for the book. Positions are
``BOOKS_{prefix}`` sequence numbers as text (:attr:`JetStreamReadBackend.START`: ``"0"``).

The client's own reconnecting is off: the publisher's and the subscriber's backoff own
reconnects, so a publisher that reconnected writes status and snapshot before any delta.
The client pings every second and gives up after three unanswered pings (a server that
stopped answering is noticed in about three seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from typing import Any

import orjson

from .schema import stream_name

try:
    import nats
    from nats.errors import ConnectionClosedError, NoRespondersError
    from nats.errors import Error as NatsError
    from nats.errors import TimeoutError as NatsTimeoutError
    from nats.js import api
    from nats.js.errors import APIError, BadRequestError, NotFoundError, ServiceUnavailableError
except ImportError:  # the broker extra is not installed: see feeds.broker.backends
    nats = None  # type: ignore[assignment]
    NatsError = OSError  # type: ignore[assignment,misc]

#: What a lost or refused NATS connection raises (the publisher and subscriber catch it).
ERRORS: tuple[type[BaseException], ...] = (NatsError, OSError, asyncio.TimeoutError)

#: The header of a head: the sequence number of its entry in the books' stream.
POSITION = "Wexbook-Position"
#: Seconds between the client's pings, and the unanswered pings after which it gives up.
PING_INTERVAL = 1
MAX_PINGS = 2
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_ALREADY_EXISTS = 10058  # JetStream: stream name already in use with a different configuration


def token(text: str) -> str:
    """``text`` as one subject token: itself when made of letters, digits, ``_`` and ``-``,
    otherwise with every other character written ``%XX`` (its UTF-8 bytes)."""
    if _TOKEN.fullmatch(text):
        return text
    return "".join(
        c if _TOKEN.fullmatch(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in text
    )


def stream_names(prefix: str) -> tuple[str, str]:
    """The books' and the heads' stream names of ``prefix`` (:class:`ValueError` unless it
    is one subject token of letters, digits, ``_`` and ``-``)."""
    if not _TOKEN.fullmatch(prefix):
        raise ValueError(f"prefix {prefix!r}: a NATS prefix is letters, digits, '_' and '-' only")
    return f"BOOKS_{prefix}", f"HEADS_{prefix}"


def subjects(prefix: str, venue: str, symbol: str) -> tuple[str, str]:
    """The subjects of a book's entries and of its head."""
    v, s = token(venue), token(symbol)
    return stream_name(prefix, v, s, "."), stream_name(f"{prefix}.head", v, s, ".")


async def _connect(url: str, timeout: float, name: str, on_closed: Any = None) -> Any:
    async def quiet(exc: Exception) -> None:
        """The caller sees every failure as an exception of its own call."""

    async def closed() -> None:
        if on_closed is not None:
            on_closed()

    return await nats.connect(
        url,
        name=name,
        allow_reconnect=False,
        max_reconnect_attempts=1,  # nats-py: a refused first connect is tried once more,
        reconnect_time_wait=0,  # at once, then it raises (0 would be: for ever)
        connect_timeout=timeout,
        ping_interval=PING_INTERVAL,
        max_outstanding_pings=MAX_PINGS,
        error_cb=quiet,
        closed_cb=closed,
        skip_subject_validation=True,  # every subject is built here (see subjects())
    )


async def _jetstream(nc: Any, timeout: float) -> Any:
    """The JetStream context of ``nc``, once the server said it has JetStream."""
    js = nc.jetstream(timeout=timeout)
    try:
        await js.account_info()
    except ServiceUnavailableError:
        raise APIError(
            code=503, description="the server has no JetStream (nats-server -js)"
        ) from None
    return js


async def _close(nc: Any, timeout: float) -> None:
    if nc is not None:
        with contextlib.suppress(*ERRORS):
            await asyncio.wait_for(nc.close(), timeout)


async def _ensure_stream(js: Any, config: Any) -> None:
    """Create the stream, or update it when it exists with another configuration."""
    try:
        await js.add_stream(config)
    except BadRequestError as exc:
        if exc.err_code != _ALREADY_EXISTS:
            raise
        await js.update_stream(config)


def _expire(futures: list[asyncio.Future[int]]) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(NatsTimeoutError())


class JetStreamPublishBackend:
    """Writes entries and heads to NATS JetStream (see the module docstring)."""

    name = "nats"

    def __init__(self, url: str, prefix: str, maxlen: int, timeout: float = 2.0) -> None:
        self.url, self.prefix, self.maxlen, self.timeout = url, prefix, maxlen, timeout
        self.stream, self.heads = stream_names(prefix)
        self._nc: Any = None
        self._subjects: dict[tuple[str, str], tuple[str, str]] = {}
        self._inbox = ""
        self._acks: dict[str, asyncio.Future[int]] = {}
        self._asked = 0

    async def open(self) -> None:
        """Connect and create or update the two streams (raises one of :data:`ERRORS` when
        the server cannot be reached or refuses them)."""
        await self.close()
        nc = self._nc = await _connect(self.url, self.timeout, "wexbook publisher")
        js = await _jetstream(nc, self.timeout)
        old = api.DiscardPolicy.OLD
        await _ensure_stream(
            js,
            api.StreamConfig(
                name=self.stream,
                subjects=[f"{self.prefix}.*.*"],
                max_msgs_per_subject=self.maxlen,
                discard=old,
                storage=api.StorageType.FILE,
                allow_direct=True,
            ),
        )
        await _ensure_stream(
            js,
            api.StreamConfig(
                name=self.heads,
                subjects=[f"{self.prefix}.head.*.*"],
                max_msgs_per_subject=1,
                discard=old,
                storage=api.StorageType.FILE,
                allow_direct=True,
            ),
        )
        self._inbox = nc.new_inbox()
        await nc.subscribe(self._inbox + ".*", cb=self._on_ack)

    def _subject(self, venue: str, symbol: str) -> tuple[str, str]:
        found = self._subjects.get((venue, symbol))
        if found is None:
            found = self._subjects[venue, symbol] = subjects(self.prefix, venue, symbol)
        return found

    def _ask(self) -> tuple[str, asyncio.Future[int]]:
        """A reply subject and the future its acknowledgement completes."""
        self._asked += 1
        ident = str(self._asked)
        future = self._acks[ident] = asyncio.get_running_loop().create_future()
        return f"{self._inbox}.{ident}", future

    async def _on_ack(self, msg: Any) -> None:
        future = self._acks.pop(msg.subject.rpartition(".")[2], None)
        if future is None or future.done():
            return
        headers = msg.headers
        if headers and headers.get("Status"):
            if headers["Status"] == "503":
                future.set_exception(NoRespondersError())
            else:
                future.set_exception(APIError(code=int(headers["Status"])))
            return
        try:
            reply = orjson.loads(msg.data)
            error = reply.get("error")
            if error:
                future.set_exception(
                    APIError(code=error.get("code"), description=error.get("description"))
                )
            else:
                future.set_result(int(reply["seq"]))
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            future.set_exception(APIError(description=f"unreadable acknowledgement {msg.data!r}"))

    async def _acknowledged(self, futures: list[asyncio.Future[int]]) -> None:
        """Wait for every acknowledgement; raise the first failure (or a timeout)."""
        timer = asyncio.get_running_loop().call_later(self.timeout, _expire, futures)
        try:
            for future in futures:
                await future
        finally:
            timer.cancel()
            for future in futures:
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # retrieved: an error after the first is not logged

    async def write(self, entries: list[tuple[str, str, bytes, bool]]) -> None:
        """Send ``(venue, symbol, entry, is_head)`` entries in order, then the heads (see
        the module docstring); returns once the stream acknowledged them."""
        nc = self._nc
        if nc is None or nc.is_closed:
            raise ConnectionClosedError()
        publish = nc.publish
        subject_of = self._subject
        futures: list[asyncio.Future[int]] = []
        heads: dict[str, tuple[asyncio.Future[int], bytes]] = {}
        last = len(entries) - 1
        try:
            for index, (venue, symbol, payload, head) in enumerate(entries):
                subject, head_subject = subject_of(venue, symbol)
                if head or index == last:
                    reply, future = self._ask()
                    futures.append(future)
                    if head:
                        heads[head_subject] = (future, payload)
                    await publish(subject, payload, reply=reply)
                else:
                    await publish(subject, payload)
            await self._acknowledged(futures)
            if heads:
                futures = []
                for head_subject, (entry, payload) in heads.items():
                    reply, future = self._ask()
                    futures.append(future)
                    position = {POSITION: str(entry.result())}
                    await publish(head_subject, payload, reply=reply, headers=position)
                await self._acknowledged(futures)
        finally:
            self._acks.clear()  # one batch at a time: nothing else waits

    async def close(self) -> None:
        """Close the connection (nothing if none)."""
        nc, self._nc = self._nc, None
        self._acks.clear()
        await _close(nc, self.timeout)


class _Follower:
    """One book's pull consumer as the reader keeps it."""

    __slots__ = ("at", "book", "consumer", "dead", "owed", "queue", "received")

    def __init__(self, book: tuple[str, str], consumer: str, at: int) -> None:
        self.book = book
        self.consumer = consumer
        self.at = at  #: the position the caller stands at (the last sequence returned)
        self.received = at  #: the last sequence the consumer delivered
        self.queue: deque[tuple[int, bytes]] = deque()
        self.owed: deque[list[Any]] = deque()  #: ``[request id, messages still owed]``
        self.dead = False  #: the consumer is gone (it is made again where it stood)


class JetStreamReadBackend:
    """Reads heads and entries from NATS JetStream (see the module docstring).

    ``batch``: messages asked per pull request (about the most a book holds unread).
    """

    name = "nats"
    #: The position before the first entry of a stream.
    START = "0"

    def __init__(self, url: str, prefix: str, timeout: float = 2.0, batch: int = 64) -> None:
        self.url, self.prefix, self.timeout, self.batch = url, prefix, timeout, batch
        self.stream, self.heads = stream_names(prefix)
        self._nc: Any = None
        self._js: Any = None
        self._inbox = ""
        self._followers: dict[tuple[str, str], _Follower] = {}
        self._by_consumer: dict[str, _Follower] = {}
        self._requests: dict[str, _Follower] = {}
        self._asked = 0
        self._known: set[str] = set()  #: the streams seen on this connection
        self._arrived = asyncio.Event()
        self._expires = int(10e9)  # a pull request's life (ns): then another one is sent

    async def open(self) -> None:
        """Connect (raises one of :data:`ERRORS` when the server cannot be reached)."""
        await self.close()
        self._known = set()
        self._arrived = asyncio.Event()
        nc = self._nc = await _connect(
            self.url, self.timeout, "wexbook subscriber", self._arrived.set
        )
        self._js = await _jetstream(nc, self.timeout)
        self._inbox = nc.new_inbox()
        await nc.subscribe(self._inbox + ".*", cb=self._on_message)

    async def head(self, venue: str, symbol: str) -> tuple[str, bytes] | None:
        """The book's head ``(sequence number, entry)``, or None when there is none; the
        book's consumer starts afresh at the next :meth:`read`."""
        self._check()
        await self._forget((venue, symbol))
        if not await self._exists(self.heads):
            return None
        subject = subjects(self.prefix, venue, symbol)[1]
        msg = await self._nc.request(
            f"$JS.API.DIRECT.GET.{self.heads}.{subject}", b"", timeout=self.timeout
        )
        headers = msg.headers or {}
        status = headers.get("Status")
        if status == "404":
            return None
        if status:
            raise APIError(code=int(status), description=headers.get("Description"))
        position = headers.get(POSITION, "")
        if not position.isdigit():
            return None
        return position, msg.data

    async def _exists(self, stream: str) -> bool:
        """Whether ``stream`` exists (asked until it does, once per connection)."""
        if stream in self._known:
            return True
        try:
            await self._js.stream_info(stream)
        except NotFoundError:
            return False
        self._known.add(stream)
        return True

    async def read(
        self, positions: dict[tuple[str, str], str], timeout: float, count: int = 1000
    ) -> list[tuple[tuple[str, str], str, bytes]]:
        """Entries after ``positions`` (``(venue, symbol)`` -> sequence number), at most
        ``count`` per book, waiting up to ``timeout`` seconds for the first: ``[(book,
        sequence number, entry)]`` in order per book."""
        self._check()
        followers = []
        ready = await self._exists(self.stream)
        for book, position in positions.items() if ready else ():
            at = int(position) if position.isdigit() else 0
            follower = self._followers.get(book)
            if follower is None or follower.at != at:
                follower = await self._follow(book, at)
            elif follower.dead:
                follower = await self._follow(book, at, follower)
            if follower is None:
                continue  # no stream yet: asked again at the next read
            followers.append(follower)
            if sum(owed for _, owed in follower.owed) <= self.batch // 2:
                await self._pull(follower)
        if not any(f.queue for f in followers):
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)
            self._check()
        out: list[tuple[tuple[str, str], str, bytes]] = []
        for follower in followers:
            queue, book = follower.queue, follower.book
            for _ in range(min(count, len(queue))):
                seq, data = queue.popleft()
                out.append((book, str(seq), data))
                follower.at = seq
        return out

    def _check(self) -> None:
        if self._nc is None or self._nc.is_closed:
            raise ConnectionClosedError()

    async def _follow(
        self, book: tuple[str, str], at: int, dead: _Follower | None = None
    ) -> _Follower | None:
        """A new consumer for ``book`` after ``at`` (or where the ``dead`` one stood)."""
        await self._forget(book)
        start = at if dead is None else dead.received
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.NONE,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start + 1,
            filter_subject=subjects(self.prefix, *book)[0],
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        )
        try:
            info = await self._js.add_consumer(self.stream, config)
        except NotFoundError:
            self._known.discard(self.stream)  # it is gone: asked again before the next one
            return None
        follower = _Follower(book, info.name, at)
        if dead is not None:  # what the dead one delivered is kept
            follower.queue, follower.received = dead.queue, dead.received
        self._followers[book] = self._by_consumer[info.name] = follower
        return follower

    async def _forget(self, book: tuple[str, str]) -> None:
        follower = self._followers.pop(book, None)
        if follower is None:
            return
        self._by_consumer.pop(follower.consumer, None)
        for ident, _ in follower.owed:
            self._requests.pop(ident, None)
        if not follower.dead:  # deleted without waiting (the answer is ignored)
            subject = f"$JS.API.CONSUMER.DELETE.{self.stream}.{follower.consumer}"
            await self._nc.publish(subject, b"", reply=f"{self._inbox}.deleted")

    async def _pull(self, follower: _Follower) -> None:
        self._asked += 1
        ident = str(self._asked)
        self._requests[ident] = follower
        follower.owed.append([ident, self.batch])
        request = orjson.dumps({"batch": self.batch, "expires": self._expires})
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{follower.consumer}"
        await self._nc.publish(subject, request, reply=f"{self._inbox}.{ident}")

    async def _on_message(self, msg: Any) -> None:
        reply = msg.reply
        if reply:  # a stream message: $JS.ACK.<stream>.<consumer>.<n>.<seq>... (v1 or v2)
            parts = reply.split(".")
            if len(parts) == 9:
                consumer, seq = parts[3], parts[5]
            elif len(parts) >= 11:
                consumer, seq = parts[5], parts[7]
            else:
                return
            follower = self._by_consumer.get(consumer)
            if follower is None:
                return  # a consumer given up
            follower.received = number = int(seq)
            follower.queue.append((number, msg.data))
            owed = follower.owed
            if owed:
                owed[0][1] -= 1
                if owed[0][1] <= 0:
                    self._requests.pop(owed.popleft()[0], None)
            self._arrived.set()
            return
        # The end of a pull request: 408 expired (asked again), else the consumer is gone.
        ident = msg.subject.rpartition(".")[2]
        follower = self._requests.pop(ident, None)
        if follower is None:
            return
        follower.owed = deque(o for o in follower.owed if o[0] != ident)
        if (msg.headers or {}).get("Status") != "408":
            follower.dead = True
        self._arrived.set()

    async def close(self) -> None:
        """Close the connection (nothing if none)."""
        nc, self._nc = self._nc, None
        self._followers.clear()
        self._by_consumer.clear()
        self._requests.clear()
        await _close(nc, self.timeout)
