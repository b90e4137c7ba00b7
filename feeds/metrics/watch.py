"""What the metrics need beyond the counters the engine keeps: state times and a few durations.

Almost every exported value is read at scrape time from objects that already hold it
(:attr:`orderbook.BookSync.counts`, :class:`~feeds.manager.ManagedBook`, the
connections' and schedulers' counters). A few need a moment recorded when it happens:
when a book changed state (seconds in the state, total seconds not live, heal times),
the highest buffer fill, a pong's round trip, why a connection dropped, and how long each
REST request took. :class:`BookWatch` records them, registered as an observer of the
manager (:mod:`feeds.observe`; and as the REST clients' ``observer``). The manager calls
it only for decisions other than ``applied``, pongs and connection events, so a LIVE
book's per-event path pays nothing for it.

:class:`BookWatch` also writes the structured log lines of :mod:`feeds.metrics.logs`:
one per state change and per resync, with venue, symbol, from/to state, cause, update
id and the seconds the previous state lasted.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from orderbook import BookSync, Decision, SyncState, Venue

from . import logs

#: Buckets (seconds) of the book timing histograms: subscribe to LIVE, heal.
BOOK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
#: Buckets (seconds) of REST request durations (snapshots included).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Buckets (seconds) of websocket ping round trips.
RTT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

_LIVE = SyncState.LIVE
_APPLIED = Decision.APPLIED
_BUFFERED = Decision.BUFFERED

#: Decisions that are worth a log line even when the state does not change.
_RESYNC_DECISIONS = frozenset(
    {
        Decision.GAP,
        Decision.CROSSED,
        Decision.MALFORMED,
        Decision.NO_PROGRESS,
        Decision.RESYNC_REQUESTED,
        Decision.SNAPSHOT_TOO_OLD,
        Decision.ID_RESET,
        Decision.WRONG_SYMBOL,
    }
)


class Durations:
    """A cumulative histogram of durations (seconds): bucket counts, sum, count. Thread-safe."""

    __slots__ = ("_lock", "bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.sum = 0.0
        self.count = 0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        """Record one duration."""
        seconds = max(0.0, seconds)
        with self._lock:
            self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
            self.sum += seconds
            self.count += 1

    def cumulative(self) -> tuple[list[tuple[str, int]], float]:
        """``([(le, cumulative count)...], sum)`` in Prometheus' form (``+Inf`` last)."""
        with self._lock:
            counts, total = list(self.counts), self.sum
        out, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), counts, strict=True):
            running += n
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return out, total


@dataclass(slots=True)
class BookTimes:
    """When one book entered its state, and how long it was not LIVE before that."""

    state: SyncState
    since: float  #: monotonic time the state was entered
    not_live: float = 0.0  #: seconds not LIVE in earlier states
    left_live: float | None = None  #: when the book last left LIVE (None: LIVE, or never was)
    high_water: int = 0  #: most events ever buffered at once
    leave_cause: str | None = None

    def not_live_seconds(self, now: float) -> float:
        """Seconds not LIVE so far, the current state included."""
        return self.not_live + (0.0 if self.state is _LIVE else now - self.since)


def cause_of(decision: Decision, reason: str | None) -> str:
    """A short, low-cardinality cause for a decision (``gap``, ``stale``, ``reconnect``...)."""
    if decision is Decision.RESYNC_REQUESTED:
        text = reason or ""
        if text.startswith("stalled"):
            return "stale"
        if text.startswith("integrity"):
            return "integrity"
        if text.startswith("reconnect"):
            return "reconnect"
        return "requested"
    return decision.value.replace("-", "_")


@dataclass(slots=True)
class _ConnectionTimes:
    last_error: str | None = None
    handler_errors: int = 0
    causes: Counter[str] = field(default_factory=Counter)


class BookWatch:
    """Records state times, durations and disconnect causes (see the module docstring).

    ``attach(manager)`` registers it as an observer of the manager and as the observer of the
    manager's :class:`~feeds.rest.MarketClient`; :meth:`watch_client` adds a
    :class:`~feeds.rest.client.WexClient` or :class:`~feeds.rest.client.AsyncWexClient`.
    ``log`` (default true) writes the structured state-change lines.
    """

    def __init__(self, *, log: bool = True, clock: Any = time.monotonic) -> None:
        self.log = log
        self.clock = clock
        self.manager: Any = None
        self.books: dict[tuple[Venue, str], BookTimes] = {}
        self.subscribe_to_live: dict[Venue, Durations] = {}
        self.heal: dict[Venue, Durations] = {}
        self.ping_rtt: dict[Venue, Durations] = {}
        self.connections: dict[Venue, _ConnectionTimes] = {}
        #: (client, venue, operation) -> Durations, and (client, venue, operation, outcome) -> n
        self.request_durations: dict[tuple[str, str, str], Durations] = {}
        self.requests: Counter[tuple[str, str, str, str]] = Counter()
        self.clients: list[tuple[str, Any]] = []
        #: True once a connection was closed on purpose: books leaving LIVE log as INFO.
        self.shutting_down = False
        self._lock = threading.Lock()

    # -- attaching ---------------------------------------------------------------

    @classmethod
    def attach(cls, manager: Any, **options: Any) -> BookWatch:
        """The watch of ``manager``: the one installed already, or a new one."""
        for existing in manager.observers.members:
            if isinstance(existing, BookWatch):
                return existing
        watch = cls(**options)
        watch.watch_manager(manager)
        return watch

    def watch_manager(self, manager: Any) -> None:
        """Observe ``manager`` (its books so far included) and time its market client."""
        self.manager = manager
        manager.observe(self)
        market = getattr(manager, "market", None)
        if market is not None and hasattr(market, "observer"):
            market.observer = self.request_observer("market")
            self.clients.append(("market", market))
        now = self.clock()
        for book in list(manager.books.values()):
            self._times(book.sync, now, late=True)
            if book.first_live is not None:
                self._durations(self.subscribe_to_live, book.venue, BOOK_BUCKETS).observe(
                    book.first_live - book.added
                )

    def watch_client(self, client: Any, name: str = "wex") -> None:
        """Count and time every request of a WexClient/AsyncWexClient (``client`` label)."""
        client.observer = self.request_observer(name)
        self.clients.append((name, client))

    def request_observer(self, client: str) -> Any:
        """The ``observer(venue, operation, error, seconds)`` of one REST client."""

        def observe(venue: Any, operation: str, error: BaseException | None, seconds: float):
            v = getattr(venue, "value", venue)
            if operation.startswith("/"):  # a MarketClient path: its last words
                operation = operation.rpartition("/public/")[2] or operation
            outcome = "ok" if error is None else type(error).__name__
            with self._lock:
                self.requests[client, v, operation, outcome] += 1
                durations = self.request_durations.get((client, v, operation))
                if durations is None:
                    durations = Durations(REQUEST_BUCKETS)
                    self.request_durations[client, v, operation] = durations
            durations.observe(seconds)

        return observe

    # -- the manager's calls (off the per-event path) --------------------------------

    def _durations(
        self, table: dict[Venue, Durations], venue: Venue, bounds: tuple[float, ...]
    ) -> Durations:
        durations = table.get(venue)
        if durations is None:
            durations = table[venue] = Durations(bounds)
        return durations

    def _times(self, sync: BookSync, now: float, *, late: bool = False) -> BookTimes:
        """The times of ``sync``'s book, new ones if unknown.

        A book added after the watch was attached started SYNCING when it was added (its
        first decision may already have changed that); one that was there before
        (``late``) is taken as it is, from now on.
        """
        key = (sync.venue, sync.symbol)
        times = self.books.get(key)
        if times is None:
            if late:
                times = BookTimes(sync.state, now)
            else:
                book = self.manager.books.get(key) if self.manager is not None else None
                since = now
                if book is not None and book.added:
                    since = now - max(0.0, _loop_now(self.manager) - book.added)
                times = BookTimes(SyncState.SYNCING, since)
            self.books[key] = times
        return times

    def on_decision(self, decision: Decision, sync: BookSync, payload: object) -> None:
        """Every decision but ``applied`` of every book (called by the manager)."""
        now = self.clock()
        times = self.books.get((sync.venue, sync.symbol)) or self._times(sync, now)
        if decision is _BUFFERED:
            n = len(sync.buffer)
            if n > times.high_water:
                times.high_water = n
            return
        state = sync.state
        if state is not times.state:
            self._change(sync, times, state, decision, now)
        elif self.log and decision in _RESYNC_DECISIONS:
            logs.resync(sync, cause_of(decision, sync.reason), now - times.since)

    def _change(
        self,
        sync: BookSync,
        times: BookTimes,
        state: SyncState,
        decision: Decision | None,
        now: float,
    ) -> None:
        took = now - times.since
        old = times.state
        if old is not _LIVE:
            times.not_live += took
        cause = cause_of(decision, sync.reason) if decision is not None else "observed"
        if state is _LIVE:
            if times.left_live is not None:
                self._durations(self.heal, sync.venue, BOOK_BUCKETS).observe(now - times.left_live)
            elif sync.generation == 1:
                book = self.manager.books.get((sync.venue, sync.symbol)) if self.manager else None
                if book is not None:
                    first = _loop_now(self.manager) - book.added
                    self._durations(self.subscribe_to_live, sync.venue, BOOK_BUCKETS).observe(first)
            times.left_live = None
        elif old is _LIVE:
            times.left_live = now
            times.leave_cause = cause
        times.state, times.since = state, now
        if self.log:
            logs.state_change(sync, old, state, cause, took, quiet=self.shutting_down)

    def reconcile(self) -> None:
        """Catch state changes made without a decision the watch saw (called at scrape time)."""
        if self.manager is None:
            return
        for book in list(self.manager.books.values()):
            # The manager changes a book's state and reports the decision under its lock:
            # holding it, a change not yet reported cannot be taken for an unseen one.
            with book.lock:
                sync = book.sync
                now = self.clock()
                times = self.books.get((sync.venue, sync.symbol)) or self._times(sync, now)
                if sync.state is not times.state:
                    self._change(sync, times, sync.state, None, now)

    def on_pong(self, conn: Any) -> None:
        """A pong arrived on ``conn``: its round trip since the latest ping."""
        rtt = self.clock() - conn.protocol.last_ping
        self._durations(self.ping_rtt, conn.venue, RTT_BUCKETS).observe(rtt)

    def on_connection(self, conn: Any, state: str) -> None:
        """``conn`` went ``"connected"`` or ``"disconnected"``; on a drop, count why."""
        times = self.connections.get(conn.venue)
        if times is None:
            times = self.connections[conn.venue] = _ConnectionTimes()
        errors = conn.protocol.counts["handler_errors"]
        if state == "connected":
            times.last_error, times.handler_errors = conn.last_error, errors
            return
        if state != "disconnected":
            return
        error = conn.last_error
        if getattr(conn, "closed", False):
            cause = "shutdown"
            self.shutting_down = True
        elif errors > times.handler_errors:
            cause = "handler_error"
        elif error is not None and error != times.last_error:
            cause = "heartbeat" if error.startswith("silent link") else error.split(":", 1)[0]
        else:
            cause = "closed"
        times.causes[cause] += 1
        times.last_error, times.handler_errors = error, errors
        logs.connection_down(conn, cause)


def _loop_now(manager: Any) -> float:
    loop = getattr(manager, "loop", None)
    return loop.time() if loop is not None else time.monotonic()
