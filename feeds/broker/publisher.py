"""``BookPublisher``: an observer of a :class:`~feeds.manager.BookManager` that writes every
book's snapshots, deltas and status to a broker (the schema: :mod:`feeds.broker.schema`).

The hooks run on the manager's loop and only append to a bounded queue (a delta is the
frame as received and its receive time; it is parsed and encoded by the writer); a
writer task on the same loop sends what is queued as one pipelined batch per round
trip (``linger`` seconds to gather more first, at most ``max_batch`` queue items), so
nothing on the manager's path waits for the broker.

When a book's stream cannot be continued (the queue is full, the broker connection was
lost) the book's queued deltas are dropped and no new ones are queued until the writer
has sent a not-LIVE status saying why and then a fresh snapshot taken at that moment
(or, for a book that is not LIVE, its status): every such break is counted, and a
subscriber sees the status, then the snapshot. The same mechanism writes the periodic
snapshot (``snapshot_every`` deltas or ``snapshot_interval`` seconds) and the snapshot of
every generation the engine accepts: the deltas it supersedes are never sent.

A lost broker is reconnected with exponential backoff (``backoff`` seconds, doubled up
to ``max_backoff``, with jitter); while it is down nothing is queued. Counters:
:meth:`BookPublisher.publisher_stats` (exported by the metrics collector as the
``wexbook_publisher_*`` rows).

    publisher = BookPublisher("redis://127.0.0.1:6379/0")
    await publisher.start(manager)  # observes it; books added later are published too
    ...
    await publisher.close()  # a last "publisher stopped" status for every book
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import Counter, deque
from typing import Any

import orjson

from orderbook import Decision, SyncState, Venue

from ..logthrottle import LogThrottle
from ..metrics.watch import Durations
from ..observe import Observer, depth_event
from ..status import cause_code, state_code
from . import schema
from .backends import errors_of, publish_backend

log = logging.getLogger("wexbook.broker")

_APPLIED = Decision.APPLIED
_ACCEPTED = Decision.SNAPSHOT_ACCEPTED
_LIVE = SyncState.LIVE
_STALE = SyncState.STALE
_DELTA, _STATUS, _HEARTBEAT = 0, 1, 2
#: Bounds of the publish latency histogram (seconds: one pipeline round trip).
LATENCY_BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1, 1.0)


class _Lane:
    """One book's stream as the publisher keeps it."""

    __slots__ = (
        "book",
        "broken",
        "epoch",
        "last_head",
        "last_u",
        "last_write",
        "resend",
        "sent",
        "sent_state",
        "seq",
        "since_snapshot",
        "symbol",
        "venue",
    )

    def __init__(self, book: Any) -> None:
        self.book = book
        self.venue: str = book.venue.value
        self.symbol: str = book.symbol
        self.seq = 0
        self.epoch = 0
        self.resend = True  # the first thing written: its status (and snapshot if any)
        self.broken: tuple[int, int, str] | None = None  # the not-LIVE status of a break
        self.last_u: int | None = None
        self.sent: tuple[SyncState, Decision | None, str | None] | None = None
        self.sent_state: SyncState | None = None
        self.last_write = 0.0
        self.last_head = 0.0
        self.since_snapshot = 0


class BookPublisher(Observer):
    """Publishes the books of a manager to the broker at ``url`` (see the module docstring).

    ``prefix``: the streams' key prefix; ``maxlen``: each stream's bound (trimmed,
    approximately, to it); ``max_queue``: deltas held for the writer before a book
    overflows; ``heartbeat``: seconds of silence after which a book's stream gets a
    heartbeat.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = schema.DEFAULT_PREFIX,
        maxlen: int = 10_000,
        max_queue: int = 10_000,
        max_batch: int = 2_000,
        linger: float = 0.0,
        heartbeat: float = 0.5,
        snapshot_interval: float = 5.0,
        snapshot_every: int = 1_000,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        backend: Any = None,
    ) -> None:
        if snapshot_every * 2 > maxlen:
            raise ValueError("maxlen must hold at least two snapshot intervals of messages")
        self.url = url
        self.prefix = prefix
        self.backend = backend if backend is not None else publish_backend(url, prefix, maxlen)
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.linger = linger
        self.heartbeat = heartbeat
        self.snapshot_interval = snapshot_interval
        self.snapshot_every = snapshot_every
        self.backoff = backoff
        self.max_backoff = max_backoff
        #: This publisher's instance id (the ``p`` of its messages).
        self.instance = os.urandom(6).hex()
        self._instance = self.instance.encode()
        self.manager: Any = None
        self.connected = False
        self.counts: Counter[str] = Counter()
        #: Seconds per batch written (one pipeline round trip).
        self.latency = Durations(LATENCY_BOUNDS)
        self._errors = errors_of(self.backend)
        self._lanes: dict[int, _Lane] = {}
        self._by_sync: dict[int, _Lane] = {}
        self._resend: list[_Lane] = []
        self._queue: deque[tuple[_Lane, int, int, Any, int]] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._stopping = False
        self._throttle = LogThrottle(log, 10.0)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, manager: Any) -> BookPublisher:
        """Observe ``manager`` and start writing (on the running loop, the manager's)."""
        self.manager = manager
        for book in list(manager.books.values()):
            self.on_book(book)
        manager.observe(self)
        self._wake = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._write_forever(), name="wexbook publisher"),
            asyncio.create_task(self._tick_forever(), name="wexbook publisher ticks"),
        ]
        return self

    async def close(self, timeout: float = 2.0) -> None:
        """Stop: flush, write a last "publisher stopped" status per book, disconnect."""
        if self.manager is not None:
            self.manager.unobserve(self)
        self._closing = True
        ticks = self._tasks[1:] if len(self._tasks) > 1 else []
        for task in ticks:
            task.cancel()
        if self.connected:
            for lane in self._lanes.values():
                self._queue.append((lane, lane.epoch, _STATUS, _stopped(lane), 0))
            self._wake.set()
        writer = self._tasks[0] if self._tasks else None
        if writer is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._drained(), timeout)
            self._stopping = True  # a cancel the client turns into a connection error ends it
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        for task in ticks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.backend.close()
        self.connected = False

    async def __aenter__(self) -> BookPublisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _drained(self) -> None:
        while self._queue or self._resend:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0)

    def suspend(self) -> None:
        """Stop observing the manager (heartbeats go on; nothing else is written)."""
        if self.manager is not None:
            self.manager.unobserve(self)

    def resume(self) -> None:
        """Observe the manager again: every book's stream goes on with a fresh snapshot."""
        if self.manager is not None:
            for lane in self._lanes.values():
                self._restart(lane, None)
            self.manager.observe(self)

    # -- hooks (the manager's loop) ----------------------------------------------------------

    def on_book(self, book: Any) -> None:
        """A new book: its stream starts with its status (and a snapshot once LIVE)."""
        if id(book) not in self._lanes:
            lane = self._lanes[id(book)] = self._by_sync[id(book.sync)] = _Lane(book)
            self._resend.append(lane)
            self._wake.set()

    def on_decision(self, decision: Any, sync: Any, payload: object) -> None:
        """A new generation: a snapshot; any other change of state: a status."""
        lane = self._by_sync.get(id(sync))
        if lane is None or lane.resend:
            return
        if decision is _ACCEPTED:
            self._restart(lane, None)
            return
        self._status_if_changed(lane, sync)

    def on_depth(self, book: Any, decision: Any, frame: Any) -> None:
        """An applied ``depth_update``: queued as a delta (see the module docstring)."""
        if decision is not _APPLIED:
            return
        lane = self._lanes.get(id(book))
        if lane is None:
            return
        if lane.resend:
            self.counts["deltas_superseded"] += 1
            return
        sync = book.sync
        if sync.state is not lane.sent_state:
            self._status_if_changed(lane, sync)
        queue = self._queue
        if len(queue) >= self.max_queue:
            self.counts["overflows"] += 1
            self._restart(
                lane,
                (
                    state_code(SyncState.RESYNCING),
                    cause_code(Decision.OVERFLOW),
                    f"publisher queue full ({self.max_queue}): deltas stopped, a snapshot follows",
                ),
            )
            return
        queue.append((lane, lane.epoch, _DELTA, frame, time.time_ns()))
        lane.since_snapshot += 1
        if lane.since_snapshot >= self.snapshot_every:
            self._restart(lane, None)
        self._wake.set()

    def _status_if_changed(self, lane: _Lane, sync: Any) -> None:
        now = (sync.state, sync.cause, sync.reason)
        if now == lane.sent:
            return
        lane.sent, lane.sent_state = now, sync.state
        status = (state_code(sync.state), cause_code(sync.cause), sync.reason)
        self._queue.append((lane, lane.epoch, _STATUS, status, 0))
        self._wake.set()

    def _restart(self, lane: _Lane, broken: tuple[int, int, str] | None) -> None:
        """Drop the lane's queued deltas; the writer sends ``broken`` (if any), then a
        snapshot (or the status) before any further delta."""
        lane.epoch += 1
        if broken is not None:
            lane.broken = broken
        if not lane.resend:
            lane.resend = True
            self._resend.append(lane)
        self._wake.set()

    # -- the writer --------------------------------------------------------------------------

    async def _write_forever(self) -> None:
        delay = self.backoff
        ever = False
        while not self._stopping:
            if not self.connected:
                try:
                    await self.backend.open()
                except self._errors as exc:
                    self.counts["connect_failures"] += 1
                    self._throttle.log(
                        logging.WARNING, "connect", "publisher cannot reach the broker: %s", exc
                    )
                    await asyncio.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, self.max_backoff)
                    continue
                delay = self.backoff
                self.connected = True
                self.counts["connects"] += 1
                if ever:
                    self.counts["reconnects"] += 1
                ever = True
            if not self._queue and not self._resend:
                self._wake.clear()
                await self._wake.wait()
                if self.linger:
                    await asyncio.sleep(self.linger)
            entries, messages = self._batch()
            if not entries:
                continue
            started = time.perf_counter()
            try:
                await self.backend.write(entries)
            except self._errors as exc:
                self._lost(exc)
                continue
            self.latency.observe(time.perf_counter() - started)
            self.counts["batches"] += 1
            self.counts["entries"] += len(entries)
            self.counts["published"] += messages

    def _lost(self, exc: BaseException) -> None:
        self.connected = False
        self.counts["disconnects"] += 1
        self.counts["discarded"] += len(self._queue)
        self._queue.clear()
        self._throttle.log(logging.WARNING, "lost", "publisher lost the broker: %s", exc)
        broken = (
            state_code(SyncState.RESYNCING),
            cause_code(Decision.FEED_DOWN),
            "publisher reconnected to the broker: a snapshot follows",
        )
        for lane in self._lanes.values():
            self._restart(lane, broken)

    def _batch(self) -> tuple[list[tuple[str, str, bytes, bool]], int]:
        """Encode what is queued: ``([(venue, symbol, entry, is_head)], messages)``."""
        now_ns = time.time_ns()
        now = time.monotonic()
        out: list[tuple[str, str, list[bytes], bool]] = []
        open_entry: dict[_Lane, list[bytes]] = {}
        counts = self.counts
        encode = schema.encode_message

        def head(lane: _Lane, message: dict[str, Any]) -> None:
            entry = open_entry[lane] = [encode(message)]
            out.append((lane.venue, lane.symbol, entry, True))
            lane.last_write = lane.last_head = now

        resend, self._resend = self._resend, []
        for lane in resend:
            lane.resend = False
            if lane.broken is not None:
                counts["status"] += 1
                head(lane, self._status(lane, lane.broken, now_ns))
                lane.broken = None
            sync = lane.book.sync
            with lane.book.lock:
                if sync.book is not None and sync.state in (_LIVE, _STALE):
                    bids, asks = sync.book.depth(None)
                    snapshot = self._snapshot(lane, sync, bids, asks, now_ns)
                else:
                    snapshot = None
                state = (sync.state, sync.cause, sync.reason)
            lane.sent, lane.sent_state = state, state[0]
            if snapshot is not None:
                counts["snapshots"] += 1
                head(lane, snapshot)
            else:
                counts["status"] += 1
                status = (state_code(state[0]), cause_code(state[1]), state[2])
                head(lane, self._status(lane, status, now_ns))
        queue = self._queue
        taken = deltas = superseded = 0
        instance = self._instance
        encode_delta = schema.encode_delta
        while queue and taken < self.max_batch:
            lane, epoch, kind, data, received = queue.popleft()
            taken += 1
            if epoch != lane.epoch:
                superseded += 1
                continue
            if kind == _DELTA:
                first_id, last_id, prev_id, bids, asks = delta_parts(data, lane.book.venue)
                before, lane.last_u = lane.last_u, last_id
                lane.seq += 1
                message = encode_delta(
                    instance, lane.seq, lane.book.sync.generation, last_id, now_ns,
                    bids, asks, first_id, prev_id, before, received,
                )  # fmt: skip
                deltas += 1
                entry = open_entry.get(lane)
                if entry is None:
                    entry = open_entry[lane] = [message]
                    out.append((lane.venue, lane.symbol, entry, False))
                else:
                    entry.append(message)
                lane.last_write = now
            elif kind == _STATUS:
                counts["status"] += 1
                head(lane, self._status(lane, data, now_ns))
            else:
                counts["heartbeats"] += 1
                message_dict = self._message(lane, schema.HEARTBEAT, now_ns)
                message_dict["s"] = state_code(lane.sent_state or SyncState.SYNCING)
                entry = open_entry.get(lane)
                if entry is None:
                    entry = open_entry[lane] = []
                    out.append((lane.venue, lane.symbol, entry, False))
                entry.append(encode(message_dict))
                lane.last_write = now
        if deltas:
            counts["deltas"] += deltas
        if superseded:
            counts["deltas_superseded"] += superseded
        join = schema.join_entry
        messages = 0
        entries = []
        for venue, symbol, parts, is_head in out:
            messages += len(parts)
            entries.append((venue, symbol, join(parts), is_head))
        return entries, messages

    def _message(self, lane: _Lane, kind: str, now_ns: int) -> dict[str, Any]:
        lane.seq += 1
        return {
            "v": schema.VERSION,
            "k": kind,
            "p": self.instance,
            "n": lane.seq,
            "g": lane.book.sync.generation,
            "u": lane.last_u,
            "t": now_ns,
        }

    def _snapshot(
        self, lane: _Lane, sync: Any, bids: list[Any], asks: list[Any], now_ns: int
    ) -> dict[str, Any]:
        text = schema.decimal_text
        b = [[text(p), text(q)] for p, q in bids]
        a = [[text(p), text(q)] for p, q in asks]
        lane.last_u = sync.update_id
        lane.since_snapshot = 0
        message = self._message(lane, schema.SNAPSHOT, now_ns)
        message.update(s=state_code(sync.state), b=b, a=a, c=schema.checksum(bids, asks))
        return message

    def _status(self, lane: _Lane, status: tuple[int, int, str | None], now_ns: int) -> dict:
        message = self._message(lane, schema.STATUS, now_ns)
        message.update(s=status[0], ca=status[1], r=status[2])
        return message

    # -- heartbeats and periodic snapshots ------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat / 2)
            if not self.connected:
                continue
            now = time.monotonic()
            for lane in list(self._lanes.values()):
                if lane.resend:
                    continue
                if now - lane.last_head >= self.snapshot_interval:
                    sync = lane.book.sync
                    if sync.state is _LIVE or sync.state is _STALE:
                        self._restart(lane, None)
                    else:
                        lane.sent = None  # the status again: a recent head
                        self._status_if_changed(lane, sync)
                elif now - lane.last_write >= self.heartbeat:
                    self._queue.append((lane, lane.epoch, _HEARTBEAT, None, 0))
                    lane.last_write = now
                    self._wake.set()

    # -- reporting ---------------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        """Items waiting for the writer."""
        return len(self._queue)

    def publisher_stats(self) -> dict[str, Any]:
        """Counters: ``published`` messages (``deltas``, ``snapshots``, ``status``,
        ``heartbeats``), ``batches``, ``entries``, ``overflows``, ``reconnects``,
        ``disconnects``, ``connect_failures``, ``discarded`` (queued when the broker was
        lost), ``deltas_superseded`` (replaced by a snapshot), and ``queue_depth``."""
        stats: dict[str, Any] = dict(self.counts)
        stats["queue_depth"] = len(self._queue)
        stats["connected"] = self.connected
        stats["books"] = len(self._lanes)
        return stats


def _stopped(lane: _Lane) -> tuple[int, int, str]:
    return (
        state_code(SyncState.DISCONNECTED),
        cause_code(Decision.FEED_DOWN),
        "publisher stopped",
    )


#: What a level list's JSON text may hold on the fast path (see :func:`delta_parts`).
_LEVEL_TEXT = b'0123456789.",[]'
_DATA = b'"data":{"s":"'
_Parts = tuple[int, int, int | None, bytes, bytes]


def delta_parts(frame: Any, venue: Venue) -> _Parts:
    """``(first id, last id, previous id, bids JSON, asks JSON)`` of an applied frame.

    Decode once: the engine has parsed the frame already, so the delta message is made
    from the frame's own text: a frame whose ``data`` is the push's last member, spelled
    as the exchange sends it (no spaces, no escapes, its keys in their order: ``s``,
    ``fi``, ``i``, ``a``, ``b`` on spot, ``s``, ``pu``, ``fu``, ``u``, ``a``, ``b`` and
    an optional ``t`` on futures) is cut at its keys, each piece checked to be only what
    its value may be (digits; a level list's brackets, quotes, commas, digits and dots),
    so that the pieces are exactly the values a JSON parser reads. Anything else (and an
    event the engine parsed) is parsed as before."""
    raw = frame.encode() if type(frame) is str else frame
    if type(raw) is bytes:
        parts = _spot_text(raw) if venue is Venue.SPOT else _futures_text(raw)
        if parts is not None:
            return parts
    return _parsed_delta_parts(frame, venue)


def _spot_text(raw: bytes) -> _Parts | None:
    """:func:`delta_parts` of a spot frame spelled as the exchange does, else None."""
    if raw[-3:] != b"]}}" or b"\\" in raw:
        return None
    kb = raw.rfind(b',"b":')
    ka = raw.rfind(b',"a":', 0, kb)
    ki = raw.rfind(b',"i":', 0, ka)
    kf = raw.rfind(b',"fi":', 0, ki)
    if not 0 <= kf < ki < ka < kb:
        return None
    ks = raw.rfind(_DATA, 0, kf)
    if ks < 0 or raw.find(b'"', ks + 13) != kf - 1:
        return None
    first, last, asks, bids = raw[kf + 6 : ki], raw[ki + 5 : ka], raw[ka + 5 : kb], raw[kb + 5 : -2]
    if (
        first.isdigit()
        and last.isdigit()
        and not bids.translate(None, _LEVEL_TEXT)
        and not asks.translate(None, _LEVEL_TEXT)
    ):
        return int(first), int(last), None, bids, asks
    return None


def _futures_text(raw: bytes) -> _Parts | None:
    """:func:`delta_parts` of a futures frame spelled as the exchange does, else None."""
    if raw[-2:] != b"}}" or b"\\" in raw:
        return None
    end = len(raw) - 2
    if raw[end - 1] != 93:  # not "]": the optional "t" last
        kt = raw.rfind(b',"t":', 0, end)
        if kt < 0 or not raw[kt + 5 : end].isdigit():
            return None
        end = kt
    kb = raw.rfind(b',"b":', 0, end)
    ka = raw.rfind(b',"a":', 0, kb)
    ku = raw.rfind(b',"u":', 0, ka)
    kf = raw.rfind(b',"fu":', 0, ku)
    kp = raw.rfind(b',"pu":', 0, kf)
    if not 0 <= kp < kf < ku < ka < kb:
        return None
    ks = raw.rfind(_DATA, 0, kp)
    if ks < 0 or raw.find(b'"', ks + 13) != kp - 1:
        return None
    prev, first, last = raw[kp + 6 : kf], raw[kf + 6 : ku], raw[ku + 5 : ka]
    asks, bids = raw[ka + 5 : kb], raw[kb + 5 : end]
    if (
        prev.isdigit()
        and first.isdigit()
        and last.isdigit()
        and not bids.translate(None, _LEVEL_TEXT)
        and not asks.translate(None, _LEVEL_TEXT)
    ):
        return int(first), int(last), int(prev), bids, asks
    return None


def _parsed_delta_parts(frame: Any, venue: Venue) -> _Parts:
    event = depth_event(frame, venue)
    dumps = orjson.dumps
    return event.first_id, event.last_id, event.prev_id, dumps(event.bids), dumps(event.asks)
