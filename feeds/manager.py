"""The book manager: live, self-healing books for many symbols on both venues.

For each ``(venue, symbol)`` added, :class:`BookManager` subscribes
``depth_update`` on that venue's shared :class:`~feeds.connection.Connection`,
buffers events in the symbol's :class:`~orderbook.BookSync` from the first
one, fetches the REST snapshot once the subscription is acknowledged (and
whenever the sync asks again) through the host's
:class:`~feeds.scheduler.SnapshotScheduler` (one budget per host, merged
duplicates, 429s honoured), and lets the core's sequencing decide. On a gap
only that symbol resyncs, buffering while its snapshot is in flight; the new
book is swapped in at once; other symbols are untouched.

- When a connection drops, or goes silent (nothing received for 2 s, see
  :class:`~feeds.connection.Connection`), every book on it leaves LIVE at once
  (``DISCONNECTED``, with the connection's error as the reason: nothing can
  keep it current); after the reconnect every book of that connection
  resyncs, and the scheduler's budget staggers their snapshot requests.
- A link must show itself alive before a snapshot is used over it. After a
  (re)connect, snapshots are requested only once the new connection carried a
  push or answered a ping (a server that acknowledges and drops every
  connection costs no snapshots); and a snapshot that arrives before anything
  was received since it was requested is held until the link speaks (it is
  used then, in order) or dropped with the link: a book never goes LIVE over
  a link that went silent while its snapshot was in flight.
- A LIVE book that applies no ``depth_update`` for ``stale_intervals`` times
  its push interval (100 ms spot, the chosen futures interval; default 100x,
  so 10 s on spot), or for ``stale_after`` seconds if given, while its
  connection is up, is marked STALE and resynced (a stalled stream, or a
  stream whose events are all older than the book). WEX pushes only on
  change, so a very quiet symbol also trips it; the cost is one snapshot.
- A snapshot of another symbol is refused and asked for again after a second.
- Integrity (optional, ``integrity_levels=20``): WEX sends no checksum, so
  the manager also subscribes ``depth@sym,20`` and compares those levels
  with the local top 20 at the same update id (spot ``i``; futures ``id``,
  read as the ``u`` it was built at); ``integrity_tolerance`` mismatches in a
  row resync the book.
- A refused subscription (unknown symbol...) closes that book, with the
  server's message as the reason; a refused request for several topics is
  retried topic by topic, so one bad symbol does not take the others down.

Reads: :meth:`BookManager.view` (an immutable :class:`~orderbook.BookView`,
raising :class:`~orderbook.BookNotLive` unless LIVE); :meth:`BookManager.events`
is an async iterator of :class:`BookEvent` and of other topics' pushes.
Every book is guarded by a lock, so :class:`~feeds.threaded.ThreadedBookManager`
can serve views to other threads while updates apply.

Observation has one seam (:mod:`feeds.observe`): any number of observers
(:class:`feeds.capture.Recorder`, :class:`feeds.metrics.BookWatch`, your own) are
registered with :meth:`BookManager.observe` and see, on the event loop and in order,
everything the manager and its connections receive and decide; a hook no observer
defines costs one ``is None`` test. ``tap=`` is an older spelling of
:meth:`BookManager.observe`. :meth:`BookManager.events` and
:meth:`BookManager.on_event` are the convenience built beside it: typed
:class:`BookEvent` items (every decision, ``applied`` included) and other pushes.

The live data path: a ``depth_update`` frame for a book is routed as raw bytes to
its sync's :meth:`~orderbook.BookSync.on_frame` (the compiled accelerator reads the
bytes of a LIVE book's plain frame directly and builds no event); every other frame
is decoded once by the connection's protocol and dispatched by type. Per-event
``applied`` decisions reach the sync's observer only while some ``events()`` /
``on_event`` consumer exists, so observing a book does not push it off the
compiled path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from orderbook import (
    BookSync,
    BookView,
    ChainRule,
    Decision,
    DepthSnapshot,
    DepthUpdate,
    MalformedEvent,
    SyncState,
    Venue,
    frame_symbol,
    sequencer_for,
)

from .connection import Connection
from .logthrottle import LogThrottle
from .observe import Observers
from .protocol import FUTURES_MARKET_URL, SPOT_PUBLIC_URL, Ack, BadFrame, Pong, Received
from .rest import FUTURES_URL, SPOT_URL, MarketClient
from .scheduler import SnapshotScheduler
from .topics import DEPTH_LEVELS, FuturesDepth, Push, SpotDepth, topic_spec

log = logging.getLogger("wexbook.manager")

#: Decisions worth a log line of their own (the rest are counted only).
_APPLIED = Decision.APPLIED

_LOGGED = {
    Decision.GAP: logging.INFO,
    Decision.OVERFLOW: logging.INFO,
    Decision.NO_PROGRESS: logging.WARNING,
    Decision.ID_RESET: logging.WARNING,
    Decision.WRONG_SYMBOL: logging.WARNING,
}


class FeedTap(Protocol):
    """The hooks of a recorder-like observer (see :mod:`feeds.observe` for all of them).

    Connection side (from :class:`~feeds.connection.Connection`): ``on_frame`` for every
    received frame before it is parsed, ``on_send`` for every subscribe request sent,
    ``on_connection`` for ``"connected"`` / ``"disconnected"``. Manager side:
    ``on_book`` when a book is added, ``on_decision`` for every decision of every
    book's sync but ``applied`` (counted by the sync), ``on_snapshot_request`` /
    ``on_snapshot`` around every REST snapshot (``on_snapshot`` just before the book
    gets it).
    """

    def on_frame(self, conn: Connection, text: str | bytes) -> None: ...
    def on_send(self, conn: Connection, text: str) -> None: ...
    def on_connection(self, conn: Connection, state: str) -> None: ...
    def on_book(self, book: ManagedBook) -> None: ...
    def on_decision(self, decision: Decision, sync: BookSync, payload: object) -> None: ...
    def on_snapshot_request(self, book: ManagedBook) -> None: ...
    def on_snapshot(
        self, book: ManagedBook, snapshot: DepthSnapshot | None, error: BaseException | None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class BookEvent:
    """Something happened to one book: a decision of its sync, with its state after it."""

    venue: Venue
    symbol: str
    decision: Decision
    state: SyncState
    update_id: int | None


@dataclass(slots=True)
class ManagedBook:
    """A book under management: its sync, its lock, and what the manager knows of it."""

    venue: Venue
    symbol: str
    sync: BookSync
    subscription: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    fetching: bool = False
    last_depth: float | None = None  #: loop time of the last depth_update received
    last_applied: float | None = None  #: loop time of the last depth_update applied
    live_since: float | None = None
    first_live: float | None = None  #: loop time the book first went LIVE
    added: float = 0.0
    depth_events: int = 0  #: depth_update events received for this book
    stale_after: float = 10.0  #: seconds without depth_update after which a LIVE book is stale
    #: The last pushed top levels not yet compared: (update id, bids, asks).
    pending_check: tuple[int, tuple[Any, ...], tuple[Any, ...]] | None = None
    integrity_misses: int = 0  #: consecutive integrity mismatches
    last_snapshot_error: str | None = None  #: why the last snapshot could not be used
    #: ``protocol.heard`` of the book's connection when its snapshot was requested.
    requested_heard: int = 0
    #: A snapshot that arrived before the link spoke again since its request.
    held_snapshot: DepthSnapshot | None = None
    counts: Counter[str] = field(default_factory=Counter)


class BookManager:
    """Keeps exact books for many symbols on both venues (see the module docstring)."""

    def __init__(
        self,
        *,
        spot_ws_url: str = SPOT_PUBLIC_URL,
        futures_ws_url: str = FUTURES_MARKET_URL,
        spot_rest_url: str = SPOT_URL,
        futures_rest_url: str = FUTURES_URL,
        market: MarketClient | None = None,
        chain_rule: ChainRule | str = ChainRule.PU,
        futures_interval: str = "100ms",
        snapshot_rate: float = 10.0,
        max_concurrent_snapshots: int = 4,
        stale_intervals: float = 100.0,
        stale_after: float | None = None,
        max_buffer: int = 10_000,
        max_unapplied: int = 100,
        integrity_levels: int | None = None,
        integrity_tolerance: int = 2,
        connection_options: dict[str, Any] | None = None,
        tap: FeedTap | None = None,
        observers: list[object] | None = None,
    ) -> None:
        #: The observers of everything received and decided (see :mod:`feeds.observe`).
        self.observers = Observers()
        for observer in observers or ():
            self.observers.add(observer)
        self._tap: Any = None
        if tap is not None:
            self.tap = tap
        self.urls = {Venue.SPOT: spot_ws_url, Venue.FUTURES: futures_ws_url}
        self.market = market or MarketClient(spot_rest_url, futures_rest_url)
        self._own_market = market is None
        self.chain_rule = ChainRule(chain_rule)
        self.futures_interval = futures_interval
        self.snapshot_rate = snapshot_rate
        self.max_concurrent_snapshots = max_concurrent_snapshots
        self.stale_intervals = stale_intervals
        self.stale_after = stale_after
        self.max_buffer = max_buffer
        self.max_unapplied = max_unapplied
        if integrity_levels is not None and str(integrity_levels) not in DEPTH_LEVELS:
            raise ValueError(f"integrity_levels must be one of {DEPTH_LEVELS}")
        self.integrity_levels = integrity_levels
        self.integrity_tolerance = integrity_tolerance
        self.connection_options = connection_options or {}
        self.books: dict[tuple[Venue, str], ManagedBook] = {}
        self.connections: dict[Venue, Connection] = {}
        self.schedulers: dict[Venue, SnapshotScheduler] = {}
        self.counts: Counter[str] = Counter()
        #: Per venue: books holding a snapshot until their link speaks again.
        self._held: dict[Venue, list[ManagedBook]] = {Venue.SPOT: [], Venue.FUTURES: []}
        #: Per venue: True while a new connection has not yet carried a push or a pong.
        self._unproven: dict[Venue, bool] = {Venue.SPOT: False, Venue.FUTURES: False}
        self._queues: list[asyncio.Queue[BookEvent | Push]] = []
        self._callbacks: list[Callable[[BookEvent | Push], None]] = []
        self._watchdog: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        #: Repeated warnings (failing snapshots, refused payloads): one line per key per 10 s.
        self.log_throttle = LogThrottle(log, 10.0)

    # -- observers -----------------------------------------------------------------

    def observe(self, observer: object) -> None:
        """Register ``observer`` on the seam (see :mod:`feeds.observe`); once is enough."""
        self.observers.add(observer)

    def unobserve(self, observer: object) -> None:
        """Unregister ``observer`` (nothing if it is not registered)."""
        self.observers.remove(observer)

    @property
    def tap(self) -> Any:
        """The observer given as ``tap=`` or set here (an older spelling of :meth:`observe`)."""
        return self._tap

    @tap.setter
    def tap(self, observer: Any) -> None:
        if self._tap is not None:
            self.observers.remove(self._tap)
        self._tap = observer
        if observer is not None:
            self.observers.add(observer)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the manager runs on (``None`` before :meth:`start`)."""
        return self._loop

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> BookManager:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the staleness watchdog (connections start with their first symbol)."""
        self._loop = asyncio.get_running_loop()
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch(), name="wexbook watchdog")

    async def close(self) -> None:
        """Close every connection, pending snapshot and book."""
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        for conn in self.connections.values():
            await conn.close()
        for sched in self.schedulers.values():
            await sched.aclose()
        for book in self.books.values():
            with book.lock:
                book.sync.close("manager closed")
        if self._own_market:
            await self.market.aclose()

    # -- books -------------------------------------------------------------------

    def _connection(self, venue: Venue) -> Connection:
        conn = self.connections.get(venue)
        if conn is None:
            conn = Connection(
                venue,
                self.urls[venue],
                lambda received, v=venue: self._on_message(v, received),
                on_state=lambda state, v=venue: self._on_state(v, state),
                observers=self.observers,
                route=lambda raw, now, v=venue: self._route(v, raw, now),
                **self.connection_options,
            )
            self.connections[venue] = conn
            market = self.market
            self.schedulers[venue] = SnapshotScheduler(
                lambda key: market.depth_snapshot(*key),
                rate=self.snapshot_rate,
                max_concurrent=self.max_concurrent_snapshots,
            )
            conn.start()
        return conn

    async def add(self, venue: Venue | str, symbol: str) -> ManagedBook:
        """Start keeping the book of ``symbol`` on ``venue`` (subscribes ``depth_update``)."""
        venue = Venue(venue)
        book = self.books.get((venue, symbol))
        if book is None:
            book = await self._prepare(venue, symbol)
            await self._connection(venue).subscribe(self._topics_of(book))
        return book

    async def add_many(self, venue: Venue | str, symbols: list[str]) -> None:
        """Add several symbols with one subscribe request per 50 symbols."""
        venue = Venue(venue)
        new = []
        for symbol in symbols:
            if (venue, symbol) in self.books:
                continue
            book = await self._prepare(venue, symbol)
            new.extend(self._topics_of(book))
        conn = self._connection(venue)
        for i in range(0, len(new), 50):
            await conn.subscribe(new[i : i + 50])

    async def _prepare(self, venue: Venue, symbol: str) -> ManagedBook:
        if self._loop is None:
            await self.start()
        args = (self.futures_interval,) if venue is Venue.FUTURES else ()
        subscription = topic_spec(venue, "depth_update").subscription(symbol, *args)
        sync = BookSync(
            symbol,
            sequencer_for(venue, self.chain_rule),
            max_buffer=self.max_buffer,
            max_unapplied=self.max_unapplied,
            observer=self._observe,
        )
        sync.observe_applied = bool(self._queues or self._callbacks)
        book = ManagedBook(venue, symbol, sync, subscription, added=self._now())
        interval = topic_spec(venue, "depth_update").cadence_ms / 1000
        if venue is Venue.FUTURES:
            interval = int(self.futures_interval.removesuffix("ms")) / 1000
        book.stale_after = self.stale_after or interval * self.stale_intervals
        self.books[venue, symbol] = book
        on_book = self.observers.on_book
        if on_book is not None:
            on_book(book)
        return book

    async def subscribe(self, venue: Venue | str, topics: list[str]) -> None:
        """Subscribe other topics (``trade@btc_usdt``, ``tickers``...) on ``venue``'s connection.

        Their pushes arrive, typed, through :meth:`events` and :meth:`on_event`;
        the spellings are checked against the topic table first.
        """
        venue = Venue(venue)
        for topic in topics:
            name, _, rest = topic.partition("@")
            spec = topic_spec(venue, name)
            args = rest.split(",")[1:] if rest else []
            spec.subscription(rest.split(",")[0] if rest else None, *args)  # validates
        await self._connection(venue).subscribe(list(topics))

    def _topics_of(self, book: ManagedBook) -> list[str]:
        topics = [book.subscription]
        if self.integrity_levels is not None:
            args = [str(self.integrity_levels)]
            if book.venue is Venue.FUTURES:
                args.append(self.futures_interval)
            topics.append(topic_spec(book.venue, "depth").subscription(book.symbol, *args))
        return topics

    def book(self, venue: Venue | str, symbol: str) -> ManagedBook:
        """The managed book of ``symbol`` on ``venue`` (KeyError if not added)."""
        return self.books[Venue(venue), symbol]

    def view(
        self, venue: Venue | str, symbol: str, levels: int | None = 20, *, allow_stale: bool = False
    ) -> BookView:
        """An immutable view of the book; raises ``BookNotLive`` unless LIVE or ``allow_stale``."""
        book = self.book(venue, symbol)
        with book.lock:
            return book.sync.view(levels, allow_stale=allow_stale)

    # -- events ------------------------------------------------------------------

    async def events(self, maxsize: int = 10_000) -> AsyncIterator[BookEvent | Push]:
        """Every book event and every other push, as they happen.

        Each iterator has its own bounded queue; when a slow reader lets it
        fill up, the oldest item is dropped and counted (``events_dropped``).
        """
        queue: asyncio.Queue[BookEvent | Push] = asyncio.Queue(maxsize)
        self._queues.append(queue)
        self._applied_wanted()
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)
            self._applied_wanted()

    def on_event(self, callback: Callable[[BookEvent | Push], None]) -> None:
        """Call ``callback(item)`` for every book event and push (in the event loop)."""
        self._callbacks.append(callback)
        self._applied_wanted()

    def _applied_wanted(self) -> None:
        """Per-event ``applied`` decisions reach the books' observer only while consumed."""
        wanted = bool(self._queues or self._callbacks)
        for book in self.books.values():
            book.sync.observe_applied = wanted

    def _emit(self, item: BookEvent | Push) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
                self.counts["events_dropped"] += 1
            queue.put_nowait(item)
        for callback in self._callbacks:
            try:
                callback(item)
            except Exception:
                self.counts["callback_errors"] += 1
                log.exception("event callback failed")

    def _observe(self, decision: Decision, sync: BookSync, payload: object) -> None:
        on_decision = self.observers.on_decision
        if decision is not _APPLIED and on_decision is not None:
            on_decision(decision, sync, payload)
        level = _LOGGED.get(decision)
        if level is not None:
            self.log_throttle.log(
                level,
                f"{sync.venue.value}:{sync.symbol}:{decision.value}",
                "%s %s: %s (%s)",
                sync.venue.value,
                sync.symbol,
                decision.value,
                sync.reason,
            )
        if self._queues or self._callbacks:
            self._emit(BookEvent(sync.venue, sync.symbol, decision, sync.state, sync.update_id))

    # -- incoming ------------------------------------------------------------------

    def _now(self) -> float:
        loop = self._loop or asyncio.get_running_loop()
        return loop.time()

    def _on_message(self, venue: Venue, received: Received) -> None:
        self._handle(venue, received)
        if self._held[venue]:
            # The link spoke: the snapshots held for it are used now, after this frame
            # (the order a capture records them in).
            self._release_held(venue)
        if self._unproven[venue] and isinstance(received, Push | Pong):
            self._proven(venue)

    def _handle(self, venue: Venue, received: Received) -> None:
        if isinstance(received, Push):
            data = received.data
            if isinstance(data, DepthUpdate):
                self._on_depth(venue, data)
            elif isinstance(data, SpotDepth | FuturesDepth) and self.integrity_levels:
                self._on_top_levels(venue, data)
            else:
                self.counts[f"{venue.value}.{received.topic}"] += 1
                if self._queues or self._callbacks:
                    self._emit(received)
        elif isinstance(received, BadFrame):
            self.counts[f"{venue.value}.{received.kind}"] += 1
        elif isinstance(received, Ack):
            if received.ok:
                self._on_subscribed(venue, received)
            else:
                self._on_refused(venue, received)
        elif isinstance(received, Pong):
            on_pong = self.observers.on_pong
            if on_pong is not None:
                on_pong(self.connections[venue])

    def _route(self, venue: Venue, raw: str | bytes, now: float) -> bool:
        """A plain ``depth_update`` frame of a known book, as raw bytes to its sync."""
        symbol = frame_symbol(raw, venue)
        if symbol is None:
            return False
        book = self.books.get((venue, symbol))
        if book is None:
            return False  # the general path counts it
        try:
            with book.lock:
                decision = book.sync.on_frame(raw)
        except MalformedEvent:
            return False  # nothing was changed; the general path reports it
        book.last_depth = now
        book.depth_events += 1
        self._after_depth(book, decision, now)
        on_depth = self.observers.on_depth
        if on_depth is not None:
            on_depth(book, decision, raw)
        if self._held[venue]:
            self._release_held(venue)
        if self._unproven[venue]:
            self._proven(venue)
        return True

    def _on_depth(self, venue: Venue, event: DepthUpdate) -> None:
        book = self.books.get((venue, event.symbol))
        if book is None:
            self.counts["depth_for_unknown_symbol"] += 1
            return
        now = book.last_depth = self._now()
        book.depth_events += 1
        with book.lock:
            decision = book.sync.on_update(event)
        self._after_depth(book, decision, now)
        on_depth = self.observers.on_depth
        if on_depth is not None:
            on_depth(book, decision, event)

    def _after_depth(self, book: ManagedBook, decision: Decision, now: float) -> None:
        if decision is Decision.APPLIED:
            book.last_applied = now
        if book.pending_check is not None:
            self._check_integrity(book)
        if book.sync.snapshot_wanted and not book.fetching:
            self._fetch_snapshot(book)

    # -- integrity (WEX sends no checksum) ------------------------------------------

    def _on_top_levels(self, venue: Venue, data: SpotDepth | FuturesDepth) -> None:
        book = self.books.get((venue, data.symbol))
        if book is None:
            return
        update_id = data.update_id if isinstance(data, SpotDepth) else data.id
        book.pending_check = (update_id, data.bids, data.asks)
        self._check_integrity(book)

    def _check_integrity(self, book: ManagedBook) -> None:
        """Compare the pushed top levels with the local book at the same update id."""
        update_id, bids, asks = book.pending_check  # type: ignore[misc]
        sync = book.sync
        if not sync.is_live or sync.update_id is None:
            return
        if sync.update_id < update_id:
            return  # the local book has not reached that id yet: keep it for later
        book.pending_check = None
        if sync.update_id > update_id:
            book.counts["integrity_skipped"] += 1
            return
        n = len(bids) if len(bids) >= len(asks) else len(asks)
        with book.lock:
            local_bids, local_asks = sync.book.depth(n)  # type: ignore[union-attr]
        book.counts["integrity_checks"] += 1
        if local_bids[: len(bids)] == list(bids) and local_asks[: len(asks)] == list(asks):
            book.integrity_misses = 0
            return
        book.counts["integrity_mismatches"] += 1
        book.integrity_misses += 1
        log.warning(
            "%s %s: top %d levels differ from depth push at update id %s (%d in a row)",
            book.venue.value, book.symbol, n, update_id, book.integrity_misses,
        )  # fmt: skip
        if book.integrity_misses >= self.integrity_tolerance:
            book.integrity_misses = 0
            book.counts["integrity_resyncs"] += 1
            with book.lock:
                sync.request_resync(f"integrity: top {n} levels differ at update id {update_id}")
            if not book.fetching:
                self._fetch_snapshot(book)

    def _on_subscribed(self, venue: Venue, ack: Ack) -> None:
        # The stream is flowing (or about to): fetch the snapshots now, even for a
        # quiet symbol whose first event may be long in coming; but on a new connection
        # only once it carried a push or a pong (see _proven).
        if self._unproven[venue]:
            return
        by_subscription = {b.subscription: b for b in self.books.values() if b.venue is venue}
        for param in ack.params:
            book = by_subscription.get(param)
            if book is not None and book.sync.snapshot_wanted and not book.fetching:
                self._fetch_snapshot(book)

    def _on_refused(self, venue: Venue, ack: Ack) -> None:
        self.counts[f"{venue.value}.subscribe_refused"] += 1
        log.warning(
            "%s subscription refused: %s %s (%s)", venue.value, ack.params, ack.code, ack.msg
        )
        if len(ack.params) > 1:
            # One bad topic refuses the whole request: retry each alone to find it.
            conn = self.connections[venue]
            for param in ack.params:
                task = asyncio.get_running_loop().create_task(conn.subscribe([param]))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            return
        for book in self.books.values():
            if book.venue is venue and book.subscription in ack.params:
                with book.lock:
                    book.sync.close(f"subscription refused: code {ack.code} {ack.msg}".strip())

    def _on_state(self, venue: Venue, state: str) -> None:
        conn = self.connections[venue]
        self.counts[f"{venue.value}.{state}"] += 1
        if state == "disconnected":
            # Nothing keeps these books current any more: out of LIVE at once.
            reason = f"feed down: {conn.last_error or 'connection closed'}"
            down = 0
            for book in self.books.values():
                if book.venue is venue and book.sync.state is not SyncState.CLOSED:
                    with book.lock:
                        book.sync.feed_down(reason)
                    book.counts["feed_down"] += 1
                    book.live_since = None
                    down += 1
            self._drop_held(venue, reason)
            if down and not self._closing:
                log.warning("%s feed down, %d books out of LIVE: %s", venue.value, down, reason)
        elif state == "connected":
            self._unproven[venue] = True
        if state == "connected" and conn.connects > 1:
            # Everything on this connection may have missed events: resync all of it.
            for book in self.books.values():
                if book.venue is venue and book.sync.state is not SyncState.CLOSED:
                    with book.lock:
                        book.sync.request_resync("reconnected")
                    book.counts["reconnect_resyncs"] += 1

    # -- snapshots -----------------------------------------------------------------

    def _fetch_snapshot(self, book: ManagedBook) -> None:
        book.fetching = True
        book.counts["snapshot_requests"] += 1
        conn = self.connections.get(book.venue)
        book.requested_heard = conn.protocol.heard if conn is not None else 0
        on_request = self.observers.on_snapshot_request
        if on_request is not None:
            on_request(book)
        future = self.schedulers[book.venue].request((book.venue, book.symbol))
        future.add_done_callback(lambda f, b=book: self._on_snapshot(b, f))

    def _on_snapshot(self, book: ManagedBook, future: asyncio.Future[DepthSnapshot]) -> None:
        if future.cancelled():
            book.fetching = False
            return
        exc = future.exception()
        if exc is not None:
            book.fetching = False
            on_snapshot = self.observers.on_snapshot
            if on_snapshot is not None:
                on_snapshot(book, None, exc)
            book.counts["snapshot_failures"] += 1
            book.last_snapshot_error = f"{type(exc).__name__}: {exc}"
            self.log_throttle.warning(
                f"{book.venue.value}:snapshot:{type(exc).__name__}",
                "%s %s snapshot failed: %s",
                book.venue.value,
                book.symbol,
                exc,
            )
            # Try again later; the scheduler already retried with backoff.
            (self._loop or asyncio.get_running_loop()).call_later(1.0, self._retry_snapshot, book)
            return
        snapshot = future.result()
        conn = self.connections.get(book.venue)
        if conn is not None and conn.protocol.heard <= book.requested_heard:
            # Nothing received since the request: the link may have died while the
            # snapshot was in flight. Hold it (still "fetching") until the link speaks.
            book.held_snapshot = snapshot
            book.counts["snapshots_held"] += 1
            self._held[book.venue].append(book)
            return
        self._use_snapshot(book, snapshot)

    def _release_held(self, venue: Venue) -> None:
        held, self._held[venue] = self._held[venue], []
        for book in held:
            snapshot, book.held_snapshot = book.held_snapshot, None
            if snapshot is not None:
                self._use_snapshot(book, snapshot)

    def _drop_held(self, venue: Venue, reason: str) -> None:
        held, self._held[venue] = self._held[venue], []
        for book in held:
            book.held_snapshot = None
            book.fetching = False
            book.counts["snapshots_dropped_silent"] += 1
            on_snapshot = self.observers.on_snapshot
            if on_snapshot is not None:
                on_snapshot(book, None, ConnectionError(f"not used: {reason}"))

    def _proven(self, venue: Venue) -> None:
        """A new connection carried a push or a pong: fetch the snapshots it waited for."""
        self._unproven[venue] = False
        for book in list(self.books.values()):
            if book.venue is venue and book.sync.snapshot_wanted and not book.fetching:
                self._fetch_snapshot(book)

    def _use_snapshot(self, book: ManagedBook, snapshot: DepthSnapshot) -> None:
        book.fetching = False
        loop = self._loop or asyncio.get_running_loop()
        on_snapshot = self.observers.on_snapshot
        if on_snapshot is not None:
            on_snapshot(book, snapshot, None)
        with book.lock:
            decision = book.sync.on_snapshot(snapshot)
        book.counts[f"snapshot_{decision.value}"] += 1
        if decision is Decision.WRONG_SYMBOL or decision is Decision.MALFORMED:
            # The server answered with something unusable: ask again, but not at once.
            book.last_snapshot_error = book.sync.reason
            loop.call_later(1.0, self._retry_snapshot, book)
            return
        if decision is Decision.SNAPSHOT_ACCEPTED:
            now = self._now()
            book.live_since = now
            if book.first_live is None:
                book.first_live = now
        if book.sync.snapshot_wanted and not book.fetching:
            self._fetch_snapshot(book)

    def _retry_snapshot(self, book: ManagedBook) -> None:
        if book.sync.snapshot_wanted and not book.fetching:
            self._fetch_snapshot(book)

    # -- staleness -----------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            shortest = min((b.stale_after for b in self.books.values()), default=4.0)
            await asyncio.sleep(min(1.0, shortest / 4))
            now = self._now()
            for book in list(self.books.values()):
                conn = self.connections.get(book.venue)
                if conn is None or not conn.connected.is_set():
                    continue
                sync = book.sync
                # No progress since the last applied event or the last accepted snapshot,
                # whichever is later: events that arrive but all drop as old are no progress.
                last = max(book.last_applied or book.added, book.live_since or book.added)
                if sync.state is SyncState.LIVE and now - last > book.stale_after:
                    book.counts["stalls"] += 1
                    quiet = now - last
                    what = "applied" if book.last_depth and book.last_depth > last else "received"
                    with book.lock:
                        sync.mark_stale(f"no depth_update {what} for {quiet:.1f} s")
                        sync.request_resync(f"stalled: no depth_update {what} for {quiet:.1f} s")
                    if not book.fetching:
                        self._fetch_snapshot(book)

    # -- reporting -----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters of the manager, its connections, schedulers and books."""
        return {
            "manager": dict(self.counts),
            "connections": {v.value: c.stats() for v, c in self.connections.items()},
            "snapshots": {v.value: dict(s.stats) for v, s in self.schedulers.items()},
            "books": {
                f"{b.venue.value}:{b.symbol}": {
                    "state": b.sync.state.value,
                    "update_id": b.sync.update_id,
                    "generation": b.sync.generation,
                    **{d.value: n for d, n in b.sync.counts.items() if n},
                    **b.counts,
                }
                for b in self.books.values()
            },
        }
