"""``BookSubscriber``: exact books rebuilt from a broker's streams, served like in-process
books (:class:`~orderbook.BookView`, or the :class:`~orderbook.BookNotLive` family).

For each book it reads the head (the latest snapshot or status, one call), then the
stream after it, and applies the messages in sequence (:mod:`feeds.broker.schema`): a
snapshot rebuilds the book (its checksum checked), a delta is applied to it
(:meth:`~orderbook.OrderBook.apply`, the engine's own book), a status or heartbeat says
whether the publisher's book is LIVE. A view is served only while all of these hold:

- the book was rebuilt from a snapshot and every later message of the same publisher
  instance arrived, without a missing sequence number, and every delta chains on the
  update id before it (``pu``) in the same generation;
- the last status (or snapshot) said LIVE;
- a message from the publisher arrived within ``max_silence`` seconds (the publisher
  writes heartbeats), checked at the moment of the read;
- the broker connection is up.

Anything else takes the book out of LIVE with the reason, is counted
(:meth:`BookSubscriber.stats`: ``gap`` for a missing sequence number or history trimmed
away, ``publisher`` for a new publisher instance, ``chain`` for a delta that does not
chain or changes generation, ``checksum``, ``bad_entry``, ``silence``, ``broker_lost``,
``not_live`` for each not-LIVE status received) and, for a broken sequence, the head
is read again: the book heals with the next snapshot.

    async with BookSubscriber("redis://127.0.0.1:6379/0", ["spot:btc_usdt"]) as sub:
        await sub.wait_live("spot", "btc_usdt", timeout=10)
        view = sub.view("spot", "btc_usdt", 5)  # BookNotLive unless LIVE

:class:`ThreadedBookSubscriber` runs one on a background thread for code that is not
async; its views can be read from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from orderbook import BookView, Decision, OrderBook, SyncState, not_live_error

from ..logthrottle import LogThrottle
from ..status import BookStatus, cause_of, state_of
from . import schema
from .backends import errors_of, read_backend

log = logging.getLogger("wexbook.broker")

_LIVE = SyncState.LIVE
_CLOSED = SyncState.CLOSED


def parse_books(books: Iterable[str | tuple[str, str]]) -> list[tuple[str, str]]:
    """``["spot:btc_usdt", ("futures", "eth_usdt")]`` as ``[(venue, symbol)]``."""
    out = []
    for book in books:
        if isinstance(book, str):
            venue, sep, symbol = book.partition(":")
            if not sep or venue not in ("spot", "futures") or not symbol:
                raise ValueError(f"book {book!r}: expected spot:SYMBOL or futures:SYMBOL")
            out.append((venue, symbol))
        else:
            out.append((str(book[0]), str(book[1])))
    return out


class HeldBook:
    """One subscribed book as the subscriber rebuilds it (read it through the subscriber)."""

    def __init__(self, venue: str, symbol: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.lock = threading.Lock()
        self.book: OrderBook | None = None
        self.based = False  #: the book follows the stream from a snapshot
        self.position: str | None = None  #: the backend position read up to
        self.publisher: str | None = None
        self.seq: int | None = None
        self.update_id: int | None = None
        self.generation = 0
        self.state = SyncState.SYNCING
        self.cause: Decision | None = None
        self.reason: str | None = "no snapshot read yet"
        self.last_heard: float | None = None  #: monotonic time of the last stream message
        self.silent = False  #: the publisher's silence was counted (until it speaks again)
        #: The publisher and sequence number of the newest message read from the stream.
        self.newest: tuple[str, int] = ("", 0)
        self.last_event_time: float | None = None  #: wall time of the last applied message
        self.need_head = True
        self.counts: Counter[str] = Counter()
        #: Publish-to-apply delays of deltas (ns), kept when the subscriber is asked to.
        self.delays: list[int] | None = None


class BookSubscriber:
    """Subscribes to books published at ``url`` (see the module docstring).

    ``books``: ``"venue:symbol"`` strings or ``(venue, symbol)`` pairs. ``max_silence``:
    seconds without a message from the publisher after which a book is not served
    (several of the publisher's heartbeat intervals). ``on_entry(venue, symbol)`` is
    called on the subscriber's loop after each stream entry is applied (a status or
    snapshot always opens an entry, so it sees every state the stream carries).

    Observers (:meth:`observe`; a capture of the stream, :mod:`feeds.broker.record`) are
    told, on the subscriber's loop and under the book's lock, of every message the book
    took (``observer.on_message(held, message)``: a delta applied, a snapshot that
    rebuilt the book, a status or heartbeat; not a duplicate or a message skipped) and of
    every break (``observer.on_break(held, counter, reason)``: the book's sequence cannot
    be continued, for the reason counted as ``counter``: ``gap``, ``publisher``,
    ``chain``, ``checksum``, ``bad_entry``, ``broker_lost``, ``silence``); after a break
    the book starts afresh from the next snapshot. ``held`` is the book's
    :class:`HeldBook`, to be read only.
    """

    def __init__(
        self,
        url: str,
        books: Iterable[str | tuple[str, str]],
        *,
        prefix: str = schema.DEFAULT_PREFIX,
        max_silence: float = 2.0,
        poll: float = 0.25,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        on_entry: Callable[[str, str], None] | None = None,
        record_delays: bool = False,
        backend: Any = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.backend = backend if backend is not None else read_backend(url, prefix)
        self.max_silence = max_silence
        self.poll = poll
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.on_entry = on_entry
        #: Observers of every message taken and every break (see :meth:`observe`).
        self.observers: list[Any] = []
        self.books: dict[tuple[str, str], HeldBook] = {}
        for venue, symbol in parse_books(books):
            held = self.books[venue, symbol] = HeldBook(venue, symbol)
            if record_delays:
                held.delays = []
        self.connected = False
        self.counts: Counter[str] = Counter()
        self._errors = errors_of(self.backend)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._throttle = LogThrottle(log, 10.0)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> BookSubscriber:
        """Start reading (on the running loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wexbook subscriber")
        return self

    async def close(self) -> None:
        """Stop reading; every book is then CLOSED."""
        task, self._task = self._task, None
        self._closing = True  # a cancel the client turns into a connection error ends it too
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.backend.close()
        self.connected = False
        for held in self.books.values():
            with held.lock:
                self._set(held, SyncState.CLOSED, Decision.CLOSED, "subscriber closed")

    async def __aenter__(self) -> BookSubscriber:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def observe(self, observer: Any) -> None:
        """Tell ``observer`` of every message taken and every break (see the class
        docstring); call on the subscriber's loop."""
        self.observers.append(observer)

    def unobserve(self, observer: Any) -> None:
        """Stop telling ``observer``."""
        if observer in self.observers:
            self.observers.remove(observer)

    # -- reads (any thread) ----------------------------------------------------------------

    def view(
        self, venue: str, symbol: str, levels: int | None = None, *, allow_stale: bool = False
    ) -> BookView:
        """An immutable view of the top ``levels`` (all: ``None``) of a subscribed book.

        Raises the :class:`~orderbook.BookNotLive` subclass of its state unless it is
        LIVE (see the module docstring), or ``allow_stale`` is true (the view then
        carries the real state).
        """
        held = self.books[venue, symbol]
        with held.lock:
            state, reason = self._effective(held)
            if state is not _LIVE and not allow_stale:
                raise not_live_error(symbol, venue, state, reason)
            book = held.book if held.based else None
            bids, asks = book.copy_levels(levels) if book is not None else ((), ())
            return BookView(
                symbol=symbol,
                venue=venue,
                state=state.value,
                update_id=held.update_id,
                generation=held.generation,
                last_event_time=held.last_event_time,
                bids=bids,
                asks=asks,
                levels=levels,
                reason=reason,
            )

    def status(self, venue: str, symbol: str) -> BookStatus:
        """The book's status now, as this subscriber knows it."""
        held = self.books[venue, symbol]
        with held.lock:
            state, reason = self._effective(held)
            cause = held.cause if state is not _LIVE else None
            if state is SyncState.DISCONNECTED and held.state is _LIVE:
                cause = Decision.FEED_DOWN
            return BookStatus(venue, symbol, state, cause, reason, held.update_id, held.generation)

    def is_live(self, venue: str, symbol: str) -> bool:
        """True when :meth:`view` would serve the book now."""
        held = self.books[venue, symbol]
        with held.lock:
            return self._effective(held)[0] is _LIVE

    async def wait_live(self, venue: str, symbol: str, timeout: float) -> bool:
        """Wait until the book is LIVE (False after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while not self.is_live(venue, symbol):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def stats(self) -> dict[str, Any]:
        """Counters of the subscriber (``connects``, ``broker_lost``...) and per book."""
        books = {}
        for (venue, symbol), held in self.books.items():
            with held.lock:
                state, _ = self._effective(held)
                books[f"{venue}:{symbol}"] = {
                    "state": state.value,
                    "update_id": held.update_id,
                    "generation": held.generation,
                    **held.counts,
                }
        return {"subscriber": dict(self.counts), "books": books}

    def _effective(self, held: HeldBook) -> tuple[SyncState, str | None]:
        """The state a read sees now: the held state, unless the publisher went silent."""
        heard = held.last_heard
        quiet = None if heard is None else time.monotonic() - heard
        if quiet is not None and quiet > self.max_silence and held.state is not _CLOSED:
            return SyncState.DISCONNECTED, f"nothing from the publisher for {quiet:.1f} s"
        if held.state is not _LIVE:
            return held.state, held.reason
        if not held.based:
            return SyncState.SYNCING, "no snapshot read yet"
        if quiet is None:
            return SyncState.DISCONNECTED, "nothing from the publisher yet"
        return _LIVE, None

    # -- the reader --------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.backoff
        while not self._closing:
            if not self.connected:
                try:
                    await self.backend.open()
                except self._errors as exc:
                    self.counts["connect_failures"] += 1
                    self._all_down(f"broker unreachable: {exc}")
                    await asyncio.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, self.max_backoff)
                    continue
                delay = self.backoff
                self.connected = True
                self.counts["connects"] += 1
                for held in self.books.values():
                    held.need_head = True
            try:
                for held in self.books.values():
                    if held.need_head:
                        await self._read_head(held)
                positions = {key: held.position or "0-0" for key, held in self.books.items()}
                entries = await self.backend.read(positions, self.poll)
            except self._errors as exc:
                self.connected = False
                self.counts["broker_lost"] += 1
                self._all_down(f"broker connection lost: {exc}")
                with contextlib.suppress(*self._errors):
                    await self.backend.close()
                continue
            on_entry = self.on_entry
            for key, position, payload in entries:
                held = self.books[key]
                if held.need_head:
                    continue  # broken earlier in this read: the head is read again first
                held.position = position
                with held.lock:
                    self._entry(held, payload, from_head=False)
                if on_entry is not None:
                    on_entry(held.venue, held.symbol)
            self._check_silence()

    def _all_down(self, reason: str) -> None:
        for held in self.books.values():
            with held.lock:
                if held.state is not SyncState.DISCONNECTED or held.reason != reason:
                    held.counts["broker_lost"] += 1
                self._set(held, SyncState.DISCONNECTED, Decision.FEED_DOWN, reason)
                held.based = False
                held.need_head = True
                for observer in self.observers:
                    observer.on_break(held, "broker_lost", reason)

    def _check_silence(self) -> None:
        now = time.monotonic()
        for held in self.books.values():
            heard = held.last_heard
            if held.silent or heard is None or held.state is _CLOSED:
                continue
            quiet = now - heard
            if quiet > self.max_silence:
                with held.lock:
                    held.silent = True
                    held.need_head = True  # heal from the head once it speaks again
                    held.counts["silence"] += 1
                    reason = f"nothing from the publisher for {quiet:.1f} s"
                    self._set(held, SyncState.DISCONNECTED, Decision.FEED_DOWN, reason)
                    for observer in self.observers:
                        observer.on_break(held, "silence", reason)

    async def _read_head(self, held: HeldBook) -> None:
        head = await self.backend.head(held.venue, held.symbol)
        with held.lock:
            held.need_head = False
            held.seq = held.publisher = None
            held.based = False
            if head is None:
                held.position = self.backend.START
                if held.state is not SyncState.CLOSED:
                    self._set(held, SyncState.SYNCING, None, "nothing published for this book yet")
                return
            held.position, payload = head
            held.counts["heads"] += 1
            self._entry(held, payload, from_head=True)

    def _entry(self, held: HeldBook, payload: bytes, *, from_head: bool) -> None:
        try:
            messages = schema.decode_entry(payload)
        except schema.SchemaError as exc:
            self._break(held, "bad_entry", f"unreadable entry: {exc}")
            return
        for message in messages:
            if not self._message(held, message, from_head):
                return
            from_head = False

    def _message(self, held: HeldBook, m: dict[str, Any], from_head: bool) -> bool:
        """Apply one message; False when the stream broke (the head is to be read again)."""
        kind = m["k"]
        if from_head or held.seq is None:
            if kind != schema.SNAPSHOT and kind != schema.STATUS:
                held.counts["skipped"] += 1  # a sequence starts at a snapshot or status
                return True
            held.publisher, held.seq = m["p"], m["n"]
        else:
            if m["p"] != held.publisher:
                return self._break(held, "publisher", "a new publisher instance")
            seq = m["n"]
            if seq != held.seq + 1:
                if seq <= held.seq:
                    held.counts["duplicates"] += 1
                    return True
                return self._break(
                    held, "gap", f"messages {held.seq + 1}..{seq - 1} missing (trimmed or lost)"
                )
            held.seq = seq
        if not from_head and (m["p"] != held.newest[0] or m["n"] > held.newest[1]):
            # News from the publisher (not an entry read again after a resync).
            held.newest = (m["p"], m["n"])
            held.last_heard = time.monotonic()
            held.silent = False
        if kind == schema.DELTA:
            if not held.based or held.book is None:
                return True
            if m["pu"] != held.update_id or m["g"] != held.generation:
                return self._break(
                    held,
                    "chain",
                    f"delta {m['u']} (generation {m['g']}) does not follow update id "
                    f"{held.update_id} (generation {held.generation})",
                )
            try:
                held.book.apply(m["b"], m["a"])
            except Exception as exc:
                return self._break(held, "bad_entry", f"bad delta: {exc}")
            held.update_id = m["u"]
            held.last_event_time = time.time()
            held.counts["deltas"] += 1
            if held.delays is not None:
                held.delays.append(time.time_ns() - m["t"])
        elif kind == schema.SNAPSHOT:
            if not self._snapshot(held, m):
                return False
        elif kind == schema.STATUS:
            state = state_of(m["s"])
            if state is not _LIVE:
                held.counts["not_live"] += 1
            self._set(held, state, cause_of(m["ca"]), m["r"])
            held.counts["status"] += 1
        else:
            held.counts["heartbeats"] += 1
            if m["s"] != 0 and held.state is _LIVE:
                state = state_of(m["s"])
                held.counts["not_live"] += 1
                self._set(held, state, None, f"publisher reports the book {state.value}")
            elif held.based and m["u"] != held.update_id:
                return self._break(
                    held, "chain", f"heartbeat at {m['u']}, book at {held.update_id}"
                )
        for observer in self.observers:
            observer.on_message(held, m)
        return True

    def _snapshot(self, held: HeldBook, m: dict[str, Any]) -> bool:
        bids, asks = m["b"], m["a"]
        if schema.checksum(bids, asks) != m["c"]:
            return self._break(held, "checksum", "snapshot checksum mismatch")
        try:
            book = OrderBook.from_levels(bids, asks)
        except Exception as exc:
            return self._break(held, "bad_entry", f"bad snapshot: {exc}")
        if held.based and held.book is not None and held.update_id == m["u"]:
            bids_now, asks_now = held.book.depth(None)
            if schema.checksum(bids_now, asks_now) != m["c"]:
                held.counts["mismatch"] += 1  # the rebuilt book had drifted: replaced now
        held.book = book
        held.based = True
        held.update_id = m["u"]
        held.generation = m["g"]
        held.last_event_time = time.time()
        held.counts["snapshots"] += 1
        state = state_of(m["s"])
        self._set(held, state, None, None if state is _LIVE else f"publisher's book {state.value}")
        return True

    def _break(self, held: HeldBook, counter: str, reason: str) -> bool:
        held.counts[counter] += 1
        held.counts["resyncs"] += 1
        held.based = False
        held.need_head = True
        held.seq = None
        self._set(held, SyncState.RESYNCING, Decision.GAP, f"stream broken: {reason}")
        for observer in self.observers:
            observer.on_break(held, counter, reason)
        self._throttle.log(
            logging.INFO,
            f"{held.venue}:{held.symbol}:{counter}",
            "%s %s: %s; reading the snapshot again",
            held.venue,
            held.symbol,
            reason,
        )
        return False

    @staticmethod
    def _set(held: HeldBook, state: SyncState, cause: Decision | None, reason: str | None) -> None:
        held.state = state
        held.cause = cause
        held.reason = reason


class ThreadedBookSubscriber:
    """A :class:`BookSubscriber` on its own thread and loop; read it from any thread.

    Same arguments as :class:`BookSubscriber`; ``with`` starts and stops it.
    """

    def __init__(self, url: str, books: Iterable[str | tuple[str, str]], **options: Any) -> None:
        self.subscriber = BookSubscriber(url, books, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> ThreadedBookSubscriber:
        """Start the thread and the subscriber on it."""
        self._thread = threading.Thread(target=self._main, name="wexbook subscriber", daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def _main(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        loop.run_until_complete(self.subscriber.start())
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self.subscriber.close())
        loop.close()

    def close(self) -> None:
        """Stop the subscriber and its thread."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._thread = None

    def __enter__(self) -> ThreadedBookSubscriber:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def view(
        self, venue: str, symbol: str, levels: int | None = None, *, allow_stale: bool = False
    ) -> BookView:
        """See :meth:`BookSubscriber.view`."""
        return self.subscriber.view(venue, symbol, levels, allow_stale=allow_stale)

    def status(self, venue: str, symbol: str) -> BookStatus:
        """See :meth:`BookSubscriber.status`."""
        return self.subscriber.status(venue, symbol)

    def is_live(self, venue: str, symbol: str) -> bool:
        """See :meth:`BookSubscriber.is_live`."""
        return self.subscriber.is_live(venue, symbol)

    def wait_live(self, venue: str, symbol: str, timeout: float) -> bool:
        """Block until the book is LIVE (False after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while not self.is_live(venue, symbol):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def stats(self) -> dict[str, Any]:
        """See :meth:`BookSubscriber.stats` (a snapshot of the counters)."""
        return self.subscriber.stats()
