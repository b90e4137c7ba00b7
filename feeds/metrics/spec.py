"""Every exported metric as one row: name, type, unit, labels, help, and where it is read.

The table (:data:`METRICS`) is the single description of wexbook's metrics: the
collector (:mod:`feeds.metrics.collector`) exports exactly its rows, ``docs/metrics.md``
is generated from it (``python -m feeds.metrics.docs``), and the tests check both, and
that every alert rule names a metric of it.

Each row's ``read`` is called at scrape time with a :class:`Scrape` and, for the
per-book, per-connection and per-scheduler rows, one such object. It returns a number,
or a dict from the row's extra label values to numbers, or (histograms) a dict from
label values to :class:`~feeds.metrics.watch.Durations`. Nothing is computed on the
path that applies events: every value is a counter the engine keeps anyway, or a
moment :class:`~feeds.metrics.watch.BookWatch` recorded off that path.

The ``capture`` rows (``wexbook_capture_*``) are there while a
:class:`~feeds.capture.recorder.Recorder` is attached to the manager (its tap): what it
wrote, its write errors and what they lost, and how far behind the disk is.

Labels stay low-cardinality: ``venue``, ``symbol``, ``state``, ``rule``, ``cause``,
``result``, ``decision``, ``kind``, ``client``, ``operation`` (one of the REST table's
operations), ``outcome`` (``ok`` or an exception class); never an id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orderbook import Decision, SyncState, Venue

from .watch import BookWatch

PREFIX = "wexbook_"


@dataclass(slots=True)
class Scrape:
    """What one scrape reads from: the manager, its watch, and the time (monotonic)."""

    manager: Any
    watch: BookWatch | None
    now: float
    clients: tuple[tuple[str, Any], ...] = ()
    #: The capture recorder's counters (``Recorder.counters()``), read once per scrape;
    #: None when no recorder is attached to the manager.
    capture: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One exported metric (see the module docstring)."""

    name: str  #: full name, ``_total`` included for counters
    kind: str  #: ``counter``, ``gauge`` or ``histogram``
    unit: str  #: base unit (``seconds``, ``bytes``, ``events``) or ``""``
    scope: str  #: ``book``, ``connection``, ``scheduler``, ``venue``, ``rest`` or ``publisher``
    labels: tuple[str, ...]  #: every label, in order
    help: str
    source: str  #: where the value comes from, for the docs
    read: Callable[..., Any]


def _book_counts(decision: Decision) -> Callable[[Scrape, Any], int]:
    return lambda s, b: b.sync.counts[decision]


def _own(key: str) -> Callable[[Scrape, Any], int]:
    return lambda s, b: b.counts[key]


def _state(s: Scrape, b: Any) -> dict[tuple[str], int]:
    current = b.sync.state
    return {(state.value,): int(state is current) for state in SyncState}


def _times(s: Scrape, b: Any) -> Any:
    watch = s.watch
    return None if watch is None else watch.books.get((b.venue, b.symbol))


def _state_seconds(s: Scrape, b: Any) -> float | None:
    t = _times(s, b)
    return None if t is None else s.now - t.since


def _not_live_seconds(s: Scrape, b: Any) -> float | None:
    t = _times(s, b)
    return None if t is None else t.not_live_seconds(s.now)


def _high_water(s: Scrape, b: Any) -> int:
    t = _times(s, b)
    return max(len(b.sync.buffer), 0 if t is None else t.high_water)


def _gaps_by_rule(s: Scrape, b: Any) -> dict[tuple[str], int]:
    seq = b.sync.sequencer
    if b.venue is Venue.SPOT:
        return {("fi",): seq.fi_violations}
    return {("pu",): seq.pu_violations, ("fu",): seq.fu_violations}


#: resync cause -> where it is counted
RESYNC_CAUSES: dict[str, Callable[[Any], int]] = {
    "gap": lambda b: b.sync.counts[Decision.GAP],
    "crossed": lambda b: b.sync.counts[Decision.CROSSED],
    "malformed": lambda b: b.sync.counts[Decision.MALFORMED],
    "overflow": lambda b: b.sync.counts[Decision.OVERFLOW],
    "no_progress": lambda b: b.sync.counts[Decision.NO_PROGRESS],
    "stale": lambda b: b.counts["stalls"],
    "integrity": lambda b: b.counts["integrity_resyncs"],
    "reconnect": lambda b: b.counts["reconnect_resyncs"],
}


def _resyncs(s: Scrape, b: Any) -> dict[tuple[str], int]:
    return {(cause,): count(b) for cause, count in RESYNC_CAUSES.items()}


#: snapshot results a book counts (``snapshot_<decision>`` in ManagedBook.counts)
SNAPSHOT_RESULTS = (
    Decision.SNAPSHOT_ACCEPTED,
    Decision.SNAPSHOT_TOO_OLD,
    Decision.SNAPSHOT_IGNORED,
    Decision.GAP,
    Decision.CROSSED,
    Decision.MALFORMED,
    Decision.WRONG_SYMBOL,
)


def _snapshot_results(s: Scrape, b: Any) -> dict[tuple[str], int]:
    own = b.counts
    found = {(d.value,): own[f"snapshot_{d.value}"] for d in SNAPSHOT_RESULTS}
    return {k: n for k, n in found.items() if n or k == ("snapshot-accepted",)}


def _decisions(s: Scrape, b: Any) -> dict[tuple[str], int]:
    # Only the decisions that happened: most never do, and a book has 19 kinds.
    return {(d.value,): n for d, n in list(b.sync.counts.items()) if n}


def _last_update_age(s: Scrape, b: Any) -> float:
    last = b.last_applied if b.last_applied is not None else b.added
    return max(0.0, s.now - last)


def _quiet(s: Scrape, b: Any) -> float:
    last = b.last_depth if b.last_depth is not None else b.added
    return s.now - last


def _stale(s: Scrape, b: Any) -> int:
    """1 while the book's stream is silent for longer than its stale threshold."""
    if b.sync.state is SyncState.CLOSED:
        return 0
    conn = s.manager.connections.get(b.venue)
    if conn is None or not conn.connected.is_set():
        return 0  # a connection that is down is counted as such, not as a stalled stream
    return int(_quiet(s, b) > b.stale_after)


def _hist(table: str) -> Callable[[Scrape], dict[tuple[str], Any]]:
    def read(s: Scrape) -> dict[tuple[str], Any]:
        if s.watch is None:
            return {}
        return {(venue.value,): d for venue, d in list(getattr(s.watch, table).items())}

    return read


def _frames(s: Scrape, c: Any) -> dict[tuple[str], int]:
    counts = c.protocol.counts
    return {
        (kind,): counts[kind]
        for kind in ("pushes", "pongs", "acks_ok", "acks_failed", "malformed", "unknown_topic")
    }


def _disconnect_causes(s: Scrape, c: Any) -> dict[tuple[str], int]:
    watch = s.watch
    times = None if watch is None else watch.connections.get(c.venue)
    causes = dict(times.causes) if times is not None else {}
    unexplained = c.disconnects - sum(causes.values())
    if unexplained > 0:  # drops before the watch was attached
        causes["unknown"] = causes.get("unknown", 0) + unexplained
    return {(cause,): n for cause, n in causes.items()}


def _refused(s: Scrape, c: Any) -> int:
    return s.manager.counts[f"{c.venue.value}.subscribe_refused"]


def _sched(key: str) -> Callable[[Scrape, Any], int]:
    return lambda s, sched: sched.stats[key]


def _rest_requests(s: Scrape) -> dict[tuple[str, str, str, str], int]:
    return {} if s.watch is None else dict(s.watch.requests)


def _rest_durations(s: Scrape) -> dict[tuple[str, str, str], Any]:
    return {} if s.watch is None else dict(s.watch.request_durations)


def _rest_stat(key: str) -> Callable[[Scrape], dict[tuple[str], int]]:
    def read(s: Scrape) -> dict[tuple[str], int]:
        out = {}
        for name, client in s.clients:
            stats = client.stats
            if key in stats:
                out[(name,)] = stats[key]
        return out

    return read


def _rest_waits(s: Scrape) -> dict[tuple[str], int]:
    out = {}
    for name, client in s.clients:
        limiter = getattr(client, "limiter", None)
        if limiter is not None:
            out[(name,)] = limiter.stats["waited"]
    return out


def _capture(key: str) -> Callable[[Scrape], float | None]:
    return lambda s: None if s.capture is None else s.capture[key]


def _publishers(s: Scrape) -> list[Any]:
    """The broker publishers observing the manager (they have ``publisher_stats()``)."""
    members = getattr(getattr(s.manager, "observers", None), "members", ())
    return [m for m in members if callable(getattr(m, "publisher_stats", None))]


def _publisher(key: str) -> Callable[[Scrape], dict[tuple[str], float]]:
    def read(s: Scrape) -> dict[tuple[str], float]:
        out: dict[tuple[str], float] = {}
        for publisher in _publishers(s):
            value = publisher.publisher_stats().get(key, 0)
            out[(publisher.backend.name,)] = float(value)
        return out

    return read


def _publisher_kinds(s: Scrape) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for publisher in _publishers(s):
        stats = publisher.publisher_stats()
        for kind, key in (("delta", "deltas"), ("snapshot", "snapshots"),
                          ("status", "status"), ("heartbeat", "heartbeats")):  # fmt: skip
            out[(publisher.backend.name, kind)] = float(stats.get(key, 0))
    return out


def _publisher_latency(s: Scrape) -> dict[tuple[str], Any]:
    return {(p.backend.name,): p.latency for p in _publishers(s)}


BOOK = ("venue", "symbol")
VENUE = ("venue",)

#: Every metric wexbook exports, in the order of the docs.
METRICS: tuple[MetricSpec, ...] = (
    # -- per book -------------------------------------------------------------------
    MetricSpec(
        "wexbook_book_state", "gauge", "", "book", (*BOOK, "state"),
        "1 for the state the book is in, 0 for the others (syncing, live, resyncing, stale, "
        "disconnected, closed).",
        "BookSync.state", _state,
    ),
    MetricSpec(
        "wexbook_book_state_seconds", "gauge", "seconds", "book", BOOK,
        "Seconds the book has been in its current state.",
        "BookWatch: time of the last state change", _state_seconds,
    ),
    MetricSpec(
        "wexbook_book_not_live_seconds_total", "counter", "seconds", "book", BOOK,
        "Seconds the book was not LIVE since it was added (the current spell included).",
        "BookWatch: summed state times", _not_live_seconds,
    ),
    MetricSpec(
        "wexbook_book_generation", "gauge", "", "book", BOOK,
        "Snapshots accepted so far (each resync that healed adds one).",
        "BookSync.generation", lambda s, b: b.sync.generation,
    ),
    MetricSpec(
        "wexbook_book_gaps_total", "counter", "", "book", BOOK,
        "Sequence gaps: events that did not follow the book or the snapshot by the venue's "
        "rules (each takes a LIVE book out of LIVE, or restarts a resync).",
        "BookSync.counts[gap]", _book_counts(Decision.GAP),
    ),
    MetricSpec(
        "wexbook_book_chain_breaks_total", "counter", "", "book", (*BOOK, "rule"),
        "Events that broke a continuity rule between two events, by rule: spot fi "
        "(fi == previous i + 1), futures pu (pu == previous u) and fu (fu == previous u + "
        "1), each counted whichever rule is enforced (fu breaks alone are normal on "
        "throttled futures streams).",
        "the sequencer's fi_violations / pu_violations / fu_violations", _gaps_by_rule,
    ),
    MetricSpec(
        "wexbook_book_resyncs_total", "counter", "", "book", (*BOOK, "cause"),
        "Fresh snapshots asked for, by cause: gap, crossed, malformed, overflow (per event "
        "dropped from a full buffer), no_progress, stale (stalled stream), integrity "
        "(depth push mismatch), reconnect.",
        "BookSync.counts (gap, crossed, malformed, overflow, no-progress) and "
        "ManagedBook.counts (stalls, integrity_resyncs, reconnect_resyncs)",
        _resyncs,
    ),
    MetricSpec(
        "wexbook_book_feed_down_total", "counter", "", "book", BOOK,
        "Times the book's connection dropped under it (it went DISCONNECTED).",
        "BookSync.counts[feed-down]", _book_counts(Decision.FEED_DOWN),
    ),
    MetricSpec(
        "wexbook_book_snapshot_requests_total", "counter", "", "book", BOOK,
        "REST snapshots the manager asked its scheduler for, for this book.",
        "ManagedBook.counts[snapshot_requests]", _own("snapshot_requests"),
    ),
    MetricSpec(
        "wexbook_book_snapshot_failures_total", "counter", "", "book", BOOK,
        "Snapshot requests that failed after the scheduler's retries.",
        "ManagedBook.counts[snapshot_failures]", _own("snapshot_failures"),
    ),
    MetricSpec(
        "wexbook_book_snapshot_results_total", "counter", "", "book", (*BOOK, "result"),
        "Snapshots handed to the book, by what it did with them (snapshot-accepted, "
        "snapshot-too-old: retried, snapshot-ignored, gap, crossed, malformed, wrong-symbol); "
        "results that never happened (but snapshot-accepted) have no series.",
        "ManagedBook.counts[snapshot_<decision>]", _snapshot_results,
    ),
    MetricSpec(
        "wexbook_book_buffer_events", "gauge", "events", "book", BOOK,
        "Events buffered now, waiting for a snapshot.",
        "len(BookSync.buffer)", lambda s, b: len(b.sync.buffer),
    ),
    MetricSpec(
        "wexbook_book_buffer_high_water_events", "gauge", "events", "book", BOOK,
        "Most events the book ever held buffered at once.",
        "BookWatch: buffer length at each buffered event", _high_water,
    ),
    MetricSpec(
        "wexbook_book_events_applied_total", "counter", "", "book", BOOK,
        "depth_update events applied to the book.",
        "BookSync.counts[applied]", _book_counts(Decision.APPLIED),
    ),
    MetricSpec(
        "wexbook_book_depth_updates_received_total", "counter", "", "book", BOOK,
        "depth_update events received for the book (applied, buffered, dropped...).",
        "ManagedBook.depth_events", lambda s, b: b.depth_events,
    ),
    MetricSpec(
        "wexbook_book_decisions_total", "counter", "", "book", (*BOOK, "decision"),
        "Every decision of the book's sync, by decision (applied, buffered, gap...); a "
        "decision that never happened has no series.",
        "BookSync.counts", _decisions,
    ),
    MetricSpec(
        "wexbook_book_last_update_age_seconds", "gauge", "seconds", "book", BOOK,
        "Seconds since the book last applied a depth_update (since it was added, if never).",
        "ManagedBook.last_applied", _last_update_age,
    ),
    MetricSpec(
        "wexbook_book_stale", "gauge", "", "book", BOOK,
        "1 while the book's connection is up but no depth_update arrived for longer than "
        "wexbook_book_stale_after_seconds (a stalled stream).",
        "ManagedBook.last_depth, stale_after", _stale,
    ),
    MetricSpec(
        "wexbook_book_stale_after_seconds", "gauge", "seconds", "book", BOOK,
        "Seconds without a depth_update after which the manager takes a LIVE book for stale.",
        "ManagedBook.stale_after", lambda s, b: b.stale_after,
    ),
    MetricSpec(
        "wexbook_book_integrity_checks_total", "counter", "", "book", BOOK,
        "Comparisons of the book's top levels with a depth push at the same update id.",
        "ManagedBook.counts[integrity_checks]", _own("integrity_checks"),
    ),
    MetricSpec(
        "wexbook_book_integrity_mismatches_total", "counter", "", "book", BOOK,
        "Integrity comparisons that found a difference.",
        "ManagedBook.counts[integrity_mismatches]", _own("integrity_mismatches"),
    ),
    # -- per venue: timings -----------------------------------------------------------
    MetricSpec(
        "wexbook_book_subscribe_to_live_seconds", "histogram", "seconds", "venue", VENUE,
        "Seconds from adding a book (subscribe) to its first LIVE.",
        "BookWatch: first LIVE minus ManagedBook.added", _hist("subscribe_to_live"),
    ),
    MetricSpec(
        "wexbook_book_heal_seconds", "histogram", "seconds", "venue", VENUE,
        "Seconds from a book leaving LIVE to its being LIVE again.",
        "BookWatch: state changes", _hist("heal"),
    ),
    MetricSpec(
        "wexbook_connection_ping_rtt_seconds", "histogram", "seconds", "venue", VENUE,
        "Round trip of the websocket heartbeat: ping sent to pong received.",
        "BookWatch.on_pong: FeedProtocol.last_ping", _hist("ping_rtt"),
    ),
    # -- per connection ---------------------------------------------------------------
    MetricSpec(
        "wexbook_connection_up", "gauge", "", "connection", VENUE,
        "1 while the venue's websocket is connected.",
        "Connection.connected", lambda s, c: int(c.connected.is_set()),
    ),
    MetricSpec(
        "wexbook_connection_last_frame_age_seconds", "gauge", "seconds", "connection", VENUE,
        "Seconds since the connection last received anything (a push, a pong, an ack).",
        "FeedProtocol.last_heard", lambda s, c: max(0.0, s.now - c.protocol.last_heard),
    ),
    MetricSpec(
        "wexbook_connection_connects_total", "counter", "", "connection", VENUE,
        "Successful websocket connects (the first one included).",
        "Connection.connects", lambda s, c: c.connects,
    ),
    MetricSpec(
        "wexbook_connection_reconnects_total", "counter", "", "connection", VENUE,
        "Connects after the first one.",
        "Connection.connects - 1", lambda s, c: max(0, c.connects - 1),
    ),
    MetricSpec(
        "wexbook_connection_disconnects_total", "counter", "", "connection", (*VENUE, "cause"),
        "Connections lost, by cause: heartbeat (no pong or no data in time), closed (a close "
        "frame, either side), shutdown (closed by us), handler_error, or the exception's "
        "class (ConnectionClosedError, OSError...).",
        "Connection.disconnects, classified by BookWatch.on_connection", _disconnect_causes,
    ),
    MetricSpec(
        "wexbook_connection_frames_received_total", "counter", "", "connection",
        (*VENUE, "kind"),
        "Frames received, by kind: pushes, pongs, acks_ok, acks_failed, malformed, "
        "unknown_topic.",
        "FeedProtocol.counts", _frames,
    ),
    MetricSpec(
        "wexbook_connection_received_bytes_total", "counter", "bytes", "connection", VENUE,
        "Size of the frames received, after decompression (characters of text frames: WEX "
        "sends ASCII JSON).",
        "Connection.bytes_received", lambda s, c: getattr(c, "bytes_received", 0),
    ),
    MetricSpec(
        "wexbook_connection_subscriptions_refused_total", "counter", "", "connection", VENUE,
        "Subscribe requests the server refused (unknown symbol...).",
        "BookManager.counts[<venue>.subscribe_refused]", _refused,
    ),
    MetricSpec(
        "wexbook_connection_handler_errors_total", "counter", "", "connection", VENUE,
        "Unexpected errors while handling a frame (each one reconnects).",
        "FeedProtocol.counts[handler_errors]",
        lambda s, c: c.protocol.counts["handler_errors"],
    ),
    # -- per scheduler (one per venue host) -------------------------------------------
    MetricSpec(
        "wexbook_snapshot_requests_total", "counter", "", "scheduler", VENUE,
        "Snapshot requests started by the venue's scheduler (duplicates merged).",
        "SnapshotScheduler.stats[requested]", _sched("requested"),
    ),
    MetricSpec(
        "wexbook_snapshot_merged_total", "counter", "", "scheduler", VENUE,
        "Snapshot requests that joined one already pending for the same book.",
        "SnapshotScheduler.stats[merged]", _sched("merged"),
    ),
    MetricSpec(
        "wexbook_snapshot_attempts_total", "counter", "", "scheduler", VENUE,
        "Snapshot HTTP requests sent (retries included).",
        "SnapshotScheduler.stats[sent]", _sched("sent"),
    ),
    MetricSpec(
        "wexbook_snapshot_rate_limited_total", "counter", "", "scheduler", VENUE,
        "Snapshot requests answered 429 (the host's budget pauses for Retry-After).",
        "SnapshotScheduler.stats[rate_limited]", _sched("rate_limited"),
    ),
    MetricSpec(
        "wexbook_snapshot_attempt_errors_total", "counter", "", "scheduler", VENUE,
        "Snapshot attempts that failed otherwise (transport, deadline, 5xx...); retried.",
        "SnapshotScheduler.stats[errors]", _sched("errors"),
    ),
    MetricSpec(
        "wexbook_snapshot_failures_total", "counter", "", "scheduler", VENUE,
        "Snapshot requests that gave up after every attempt.",
        "SnapshotScheduler.stats[failed]", _sched("failed"),
    ),
    MetricSpec(
        "wexbook_snapshot_in_flight", "gauge", "", "scheduler", VENUE,
        "Snapshot requests queued or running.",
        "SnapshotScheduler.in_flight", lambda s, sched: sched.in_flight,
    ),
    # -- REST clients ------------------------------------------------------------------
    MetricSpec(
        "wexbook_rest_requests_total", "counter", "", "rest",
        ("client", "venue", "operation", "outcome"),
        "REST requests by client (market: the snapshots; wex: WexClient), operation (the "
        "table's key, or the path for market) and outcome (ok or the exception's class).",
        "MarketClient / WexClient observer, recorded by BookWatch", _rest_requests,
    ),
    MetricSpec(
        "wexbook_rest_request_duration_seconds", "histogram", "seconds", "rest",
        ("client", "venue", "operation"),
        "Seconds per REST request (one attempt), snapshots included (client=market).",
        "MarketClient / WexClient observer, recorded by BookWatch", _rest_durations,
    ),
    MetricSpec(
        "wexbook_rest_rate_limit_waits_total", "counter", "", "rest", ("client",),
        "Times a WexClient waited for its client-side rate limits.",
        "RateLimiter.stats[waited]", _rest_waits,
    ),
    # -- the capture recorder (while one is attached) -------------------------------
    MetricSpec(
        "wexbook_capture_writing", "gauge", "", "capture", (),
        "1 while the recorder writes its capture; 0 once it stopped on a write error (the "
        "books go on, nothing more is recorded) or was closed.",
        "Recorder.counters()[writing]", _capture("writing"),
    ),
    MetricSpec(
        "wexbook_capture_frames_written_total", "counter", "", "capture", (),
        "Websocket frames written to the capture whole (a zstandard frame cut short by a "
        "write error is not counted: its frames are dropped).",
        "Recorder.stats[frames]", _capture("frames"),
    ),
    MetricSpec(
        "wexbook_capture_records_written_total", "counter", "", "capture", (),
        "JSON records written to the capture whole (headers, books, decisions, checkpoints, "
        "snapshots, connection events).",
        "Recorder.stats[records]", _capture("records"),
    ),
    MetricSpec(
        "wexbook_capture_written_bytes_total", "counter", "bytes", "capture", (),
        "Bytes written to the capture's files (compressed).",
        "Recorder.stats[bytes_out]", _capture("bytes_out"),
    ),
    MetricSpec(
        "wexbook_capture_frame_bytes_total", "counter", "bytes", "capture", (),
        "Bytes of the websocket frames written (before compression).",
        "Recorder.stats[bytes_in]", _capture("bytes_in"),
    ),
    MetricSpec(
        "wexbook_capture_flush_lag_seconds", "gauge", "seconds", "capture", (),
        "Seconds the oldest frame or record not yet on disk has waited (0: all written; "
        "about the flush interval at most while healthy; since the failure once writing "
        "failed).",
        "Recorder.counters()[flush_lag_seconds]", _capture("flush_lag_seconds"),
    ),
    MetricSpec(
        "wexbook_capture_write_errors_total", "counter", "", "capture", (),
        "Errors writing the capture (a full disk...): the first one stops the recording.",
        "Recorder.stats[write_errors]", _capture("write_errors"),
    ),
    MetricSpec(
        "wexbook_capture_short_writes_total", "counter", "", "capture", (),
        "Writes the system took only in part (the rest was written on, or failed).",
        "Recorder.stats[short_writes]", _capture("short_writes"),
    ),
    MetricSpec(
        "wexbook_capture_dropped_total", "counter", "", "capture", (),
        "Frames and records never written because writing had failed.",
        "Recorder.stats[dropped]", _capture("dropped"),
    ),
    MetricSpec(
        "wexbook_rest_retries_total", "counter", "", "rest", ("client",),
        "WexClient requests retried (GET after a 429, a 5xx or a transport error).",
        "WexClient.stats[retries]", _rest_stat("retries"),
    ),
    # -- the broker publisher (feeds.broker), while one observes the manager -----------
    MetricSpec(
        "wexbook_publisher_messages_total", "counter", "", "publisher", ("backend", "kind"),
        "Messages written to the broker, by kind (delta, snapshot, status, heartbeat).",
        "BookPublisher.publisher_stats()", _publisher_kinds,
    ),
    MetricSpec(
        "wexbook_publisher_batches_total", "counter", "", "publisher", ("backend",),
        "Pipelined batches written to the broker (one round trip each).",
        "BookPublisher.publisher_stats()[batches]", _publisher("batches"),
    ),
    MetricSpec(
        "wexbook_publisher_queue_depth", "gauge", "", "publisher", ("backend",),
        "Items queued for the broker writer now.",
        "BookPublisher.publisher_stats()[queue_depth]", _publisher("queue_depth"),
    ),
    MetricSpec(
        "wexbook_publisher_overflows_total", "counter", "", "publisher", ("backend",),
        "Times a book's deltas were stopped because the queue was full (a status and a "
        "fresh snapshot followed).",
        "BookPublisher.publisher_stats()[overflows]", _publisher("overflows"),
    ),
    MetricSpec(
        "wexbook_publisher_reconnects_total", "counter", "", "publisher", ("backend",),
        "Reconnections to the broker after it was lost.",
        "BookPublisher.publisher_stats()[reconnects]", _publisher("reconnects"),
    ),
    MetricSpec(
        "wexbook_publisher_superseded_total", "counter", "", "publisher", ("backend",),
        "Deltas not sent because a snapshot replaced them (overflow, reconnect, periodic).",
        "BookPublisher.publisher_stats()[deltas_superseded]",
        _publisher("deltas_superseded"),
    ),
    MetricSpec(
        "wexbook_publisher_connected", "gauge", "", "publisher", ("backend",),
        "1 while the publisher is connected to the broker.",
        "BookPublisher.publisher_stats()[connected]", _publisher("connected"),
    ),
    MetricSpec(
        "wexbook_publisher_publish_seconds", "histogram", "seconds", "publisher", ("backend",),
        "Seconds to write one batch to the broker (one pipelined round trip).",
        "BookPublisher.latency", _publisher_latency,
    ),
)  # fmt: skip

BY_NAME = {m.name: m for m in METRICS}
