"""The recorder: a :class:`~feeds.manager.BookManager` tap that writes a capture.

::

    recorder = Recorder("cap/")
    recorder.attach(manager)          # inside the manager's event loop
    ...
    recorder.close()                  # or: async with Recorder("cap/").attach(manager): ...

On the event loop the recorder only stamps and queues what it is handed (a frame is
queued as the object websockets delivered: no copy, no parse, no serialisation); its
:class:`~feeds.capture.segments.SegmentSink` writes the queue on a background thread
every ``flush_interval`` seconds as one independent zstandard frame (see
:mod:`feeds.capture.format`), so a ``kill -9`` loses at most the last interval. A timer
on the loop writes the checkpoints (every ``checkpoint_interval`` s, of every book) and
rotates segments: after ``max_segment_bytes`` compressed bytes, after
``max_segment_seconds``, and at every UTC midnight. A new segment starts with every
book's exact state, so it replays on its own. Files are created exclusively: an
existing file is never overwritten. What is this recorder's own (the header, the books,
the checkpoints, the compiled per-frame stamp and packer) is here; the queue, the writer
thread, the segment files, their rotation, write errors and the counters are the sink's.

Write errors (a full disk...) are counted and logged, never raised into the feed: the
books go on, the capture stops (``stats["write_errors"]``), and what could not be written
is counted (``stats["dropped"]``: frames and records). A short write (the disk filled up
during it) is written on until the rest goes or the disk says why not; ``stats["frames"]``,
``"records"``, ``"bytes_in"`` and ``"bytes_out"`` count only what reached the file whole
(a zstandard frame cut short by the error is not counted, and a reader reports it as a
truncated tail). :meth:`Recorder.counters` is what the Prometheus collector exports
(:mod:`feeds.metrics.spec`: ``wexbook_capture_*``), including the flush lag: how long the
oldest record not yet on disk has waited. ``stats["writer_cpu_ns"]``
and ``stats["checkpoint_cpu_ns"]`` are the CPU time of the writer thread and of the
checkpoint timer: with the per-frame stamp, the whole cost of a recording.

Secrets: a connection handed to the recorder that is not one of the manager's (a
:class:`~feeds.private.PrivateStream`'s, ``PrivateStream(..., tap=recorder)``) is marked
``"private"`` in its ``conn`` record, and its frames are passed through
:func:`feeds.redaction.scrub` on the event loop; every sent text, URL and error of any
connection is too. The keys a private stream fetches are registered there before use,
so no listen key or token is ever written whole (the spot token's ``listenKey`` field
and the futures ``topic@listenKey`` subscribe params alike).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from feeds.redaction import scrub
from orderbook import BookSync, Decision, SyncState, accel

from .format import (
    FORMAT_VERSION,
    HASH_LEVELS,
    PER_EVENT,
    book_hash,
    book_state,
    counts_of,
    decision_record,
    host_clock,
    public_url,
    wexbook_version,
)
from .segments import SegmentSink, stamped

try:  # the compiled frame packer (built with orderbook's accelerator)
    from ._recordpack import FrameStamp as _FrameStamp  # type: ignore[import-not-found]
    from ._recordpack import pack_frames as _pack_frames  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - a pure install
    _FrameStamp = _pack_frames = None

if TYPE_CHECKING:
    from feeds.connection import Connection
    from feeds.manager import BookManager, ManagedBook

log = logging.getLogger("wexbook.capture")

_time_ns = time.time_ns
_mono_ns = time.monotonic_ns
_LIVE = SyncState.LIVE


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    """True when called from ``loop``'s own thread, while it runs."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class Recorder:
    """Records a manager's public connections into ``directory`` (see the module docstring)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        flush_interval: float = 1.0,
        checkpoint_interval: float = 1.0,
        max_segment_bytes: int = 256 * 2**20,
        max_segment_seconds: float = 3600.0,
        level: int = 1,
        hash_levels: int | None = HASH_LEVELS,
        fsync: bool = False,
        prefix: str = "",
    ) -> None:
        self.flush_interval = flush_interval
        self.checkpoint_interval = checkpoint_interval
        self.max_segment_bytes = max_segment_bytes
        self.max_segment_seconds = max_segment_seconds
        self.level = level
        self.hash_levels = hash_levels
        self.fsync = fsync
        self.manager: BookManager | None = None
        #: Indices of the manager's connections (the only ones the compiled stamp sees).
        self._conns: dict[Connection, int] = {}
        #: Indices of the other connections handed to this recorder (private streams).
        self._private: dict[Connection, int] = {}
        compiled = _FrameStamp is not None and accel.active() == "compiled"
        self._sink = sink = SegmentSink(
            directory,
            opening=self._opening,
            checkpoints=self._checkpoints,
            ending=self._ending,
            flush_interval=flush_interval,
            checkpoint_interval=checkpoint_interval,
            max_segment_bytes=max_segment_bytes,
            max_segment_seconds=max_segment_seconds,
            level=level,
            fsync=fsync,
            prefix=prefix,
            name="capture",
            # The compiled packer of the writer thread (None: the reference in the sink).
            pack=_pack_frames if compiled else None,
            on_fail=self._on_fail,
        )
        self.directory = sink.directory
        #: Identifies this recording; every segment file name starts with it.
        self.run = sink.run
        #: The counters (the sink's: see the module docstring).
        self.stats: dict[str, int] = sink.stats
        #: Paths of the segments written so far.
        self.segments: list[Path] = sink.segments
        self._queue: deque[tuple[Any, ...]] = sink.queue
        self._put = sink.put
        if compiled:
            # The compiled twin of on_frame (the method below is its reference).
            self.on_frame = _FrameStamp(self._conns, self._put, self._index_and_queue)
        self._conn_info: list[dict[str, Any]] = []
        self._untapped = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------

    def attach(self, manager: BookManager) -> Recorder:
        """Start recording ``manager`` (call from its event loop; returns ``self``)."""
        if self.manager is not None:
            raise RuntimeError("this recorder is already attached")
        self.manager = manager
        manager.observe(self)  # the manager's connections share its observers
        self._loop = asyncio.get_running_loop()
        self._sink.start(self._loop)  # the header and every existing book, queued now
        return self

    async def __aenter__(self) -> Recorder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self._sink.begin_close():
            return
        self._untap()  # on the loop, in order with the frames
        await asyncio.get_running_loop().run_in_executor(None, self._sink.stop)

    def rotate(self) -> None:
        """Start a new segment at the next checkpoint (as a rotation by size or time does;
        its ``end`` record says ``"asked"``). From the manager's loop."""
        self._sink.rotate()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` began (or the manager's close closed it)."""
        return self._sink.closed

    def close(self) -> None:
        """Write final checkpoints, flush, close the segment and stop the writer thread.

        From any thread: the final checkpoints are taken on the manager's event loop
        (when it runs), in order with the frames, so they replay where they were taken.
        """
        if not self._sink.begin_close():
            return
        loop = self._loop
        if loop is not None and loop.is_running() and not _running_in(loop):
            done = threading.Event()

            def untap() -> None:
                try:
                    self._untap()
                finally:
                    done.set()

            loop.call_soon_threadsafe(untap)
            while not done.wait(0.1):
                if not loop.is_running():  # stopped before it ran untap: nothing races now
                    self._untap()
                    break
        else:
            self._untap()
        self._sink.stop()

    def _untap(self) -> None:
        """Stop listening, queue the final checkpoints and the end record (on the loop)."""
        self._sink.cancel_timer()
        manager = self.manager
        if manager is None or self._untapped:
            return
        self._untapped = True
        manager.unobserve(self)
        for conn in self._private:
            conn.observers.remove(self)
        self._sink.end()

    # -- the tap: called on the event loop by Connection and BookManager -----------

    def on_frame(self, conn: Connection, text: str | bytes) -> None:
        """One received websocket frame (the hot path: stamp and queue).

        A frame of a connection that is not the manager's (a private stream) is scrubbed
        of every registered secret first (see the module docstring).
        """
        index = self._conns.get(conn)
        if index is None:
            index = self._conn(conn)
            if conn in self._private:
                text = scrub(text)
        self._put((index, text, _time_ns(), _mono_ns()))

    _index_and_queue = on_frame

    def on_send(self, conn: Connection, text: str) -> None:
        """A text sent on ``conn`` (subscribe requests); a listen key or token is dropped
        (a ``listenKey``/``token`` field, and every registered secret wherever it is)."""
        text = scrub(text)  # type: ignore[assignment]
        if "listenKey" in text or "token" in text:
            try:
                msg = orjson.loads(text)
                for key in ("listenKey", "token"):
                    if key in msg:
                        msg[key] = "[redacted]"
                text = orjson.dumps(msg).decode()
            except (orjson.JSONDecodeError, TypeError):
                text = "[redacted]"
        self._put(("J", self._json({"k": "send", "c": self._conn(conn), "text": text})))

    def on_connection(self, conn: Connection, state: str) -> None:
        """``conn`` connected or disconnected (with its close code and error)."""
        record = {"k": "conn", "c": self._conn(conn), "state": state, "connects": conn.connects}
        if state == "disconnected":
            record["close_code"] = getattr(conn, "close_code", None)
            reason = getattr(conn, "close_reason", None)
            record["close_reason"] = None if reason is None else scrub(reason)
            record["error"] = None if conn.last_error is None else scrub(conn.last_error)
        self._put(("J", self._json(record)))

    def on_book(self, book: ManagedBook) -> None:
        """A book was added to the manager."""
        self._put(("J", self._book_record(book, start=False)))

    def on_decision(self, decision: Decision, sync: BookSync, payload: object) -> None:
        """A decision of a book's sync (per-event ones are only counted)."""
        if decision in PER_EVENT:
            return
        self._put(("J", self._json(decision_record(decision, sync, payload, self.hash_levels))))

    def on_snapshot_request(self, book: ManagedBook) -> None:
        """A REST snapshot was asked for."""
        self._put(("J", self._json({"k": "snapreq", "v": book.venue.value, "s": book.symbol})))

    def on_snapshot(self, book: ManagedBook, snapshot: Any, error: BaseException | None) -> None:
        """A REST snapshot response (or its failure), just before the book gets it."""
        record: dict[str, Any] = {"k": "snap", "v": book.venue.value, "s": book.symbol}
        if error is not None:
            record["error"] = scrub(f"{type(error).__name__}: {error}")
        else:
            record["snapshot"] = {
                "symbol": snapshot.symbol,
                "last_id": snapshot.last_id,
                "bids": snapshot.bids,
                "asks": snapshot.asks,
                "timestamp": snapshot.timestamp,
                "depth": snapshot.depth,
            }
        self._put(("J", self._json(record)))

    # -- loop-side helpers -----------------------------------------------------------

    _json = staticmethod(stamped)

    def _conn(self, conn: Connection) -> int:
        index = self._conns.get(conn)
        if index is None:
            index = self._private.get(conn)
        if index is None:
            index = len(self._conns) + len(self._private)
            manager = self.manager
            ours = manager is not None and any(c is conn for c in manager.connections.values())
            info: dict[str, Any] = {
                "c": index,
                "v": conn.venue.value,
                "url": public_url(scrub(conn.url)),  # type: ignore[arg-type]
            }
            if ours:
                self._conns[conn] = index
            else:
                self._private[conn] = index
                info["private"] = True
            self._conn_info.append(info)
            self._put(("J", self._json({"k": "conn", "state": "new", **info})))
        return index

    def _book_record(self, book: ManagedBook, *, start: bool) -> dict[str, Any]:
        sync = book.sync
        record = {"k": "book", "start": start, **book_state(sync)}
        record["hash"] = book_hash(sync, self.hash_levels)
        record["config"] = {
            "chain_rule": getattr(sync.sequencer, "rule", None),
            "max_buffer": sync.max_buffer,
            "max_unapplied": sync.max_unapplied,
            "subscription": book.subscription,
        }
        return self._json(record)

    def _header(self, segment: int) -> dict[str, Any]:
        manager = self.manager
        assert manager is not None
        market = manager.market
        rest = {}
        for venue, url in getattr(market, "urls", {}).items():  # a MarketClient's
            rest[venue.value] = public_url(url)
        return self._json(
            {
                "k": "header",
                "format": FORMAT_VERSION,
                "wexbook": wexbook_version(),
                "run": self.run,
                "segment": segment,
                "previous": None,  # set by the sink where the file is made
                "created_utc": dt.datetime.now(dt.UTC).isoformat(),
                "ws_urls": {v.value: public_url(u) for v, u in manager.urls.items()},
                "rest_urls": rest,
                "conns": list(self._conn_info),
                "symbols": [f"{v.value}:{s}" for v, s in manager.books],
                "manager": {
                    "chain_rule": manager.chain_rule.value,
                    "futures_interval": manager.futures_interval,
                    "max_buffer": manager.max_buffer,
                    "max_unapplied": manager.max_unapplied,
                    "integrity_levels": manager.integrity_levels,
                },
                "recorder": {
                    "flush_interval": self.flush_interval,
                    "checkpoint_interval": self.checkpoint_interval,
                    "hash_levels": self.hash_levels,
                    "level": self.level,
                },
                "host": {"clock": host_clock(), "pid": os.getpid()},
            }
        )

    def _opening(self, segment: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A new segment's header, then every book's exact state (loop thread)."""
        manager = self.manager
        assert manager is not None
        header = self._header(segment)
        return header, [self._book_record(b, start=True) for b in manager.books.values()]

    def _ending(self, rotate: str | None) -> dict[str, Any]:
        """A segment's ``end`` record: why it rotates, or ``next: null`` at the end."""
        if rotate is None:
            return self._json({"k": "end", "next": None})
        return self._json({"k": "end", "rotate": rotate})

    def _checkpoints(self) -> None:
        manager = self.manager
        if manager is None:
            return
        for book in manager.books.values():
            sync = book.sync
            record = {
                "k": "cp",
                "v": sync.venue.value,
                "s": sync.symbol,
                "state": sync.state.value,
                "update_id": sync.update_id,
                "generation": sync.generation,
                "counts": counts_of(sync),
                "hash": book_hash(sync, self.hash_levels) if sync.state is _LIVE else None,
            }
            self._put(("J", self._json(record)))
            self.stats["checkpoints"] += 1

    # -- the sink's ------------------------------------------------------------------

    def _on_fail(self) -> None:
        """Writing failed (the writer thread): the hooks held elsewhere drop what comes."""
        self._put = self._sink.put
        self.on_frame = self._drop_frame  # type: ignore[method-assign]

    def _drop_frame(self, conn: object, text: object) -> None:
        """``on_frame`` once writing failed."""
        self.stats["dropped"] += 1

    def counters(self) -> dict[str, float]:
        """The recorder's counters as the metrics export them (any thread): frames,
        records, ``bytes_in`` (frame bytes) and ``bytes_out`` (file bytes) written whole,
        ``write_errors``, ``short_writes``, ``dropped``, ``segments``, ``writing`` (1 until
        it stopped on an error or was closed) and ``flush_lag_seconds``: how long the
        oldest record not yet on disk has waited (0 when everything is written; since the
        failure once writing failed)."""
        return self._sink.counters()

    # The sink's writing, under the names the tests and the bench reach for.

    def _drain(self) -> None:
        self._sink.drain()

    @property
    def _file(self) -> Any:
        return self._sink.file

    @_file.setter
    def _file(self, file: Any) -> None:
        self._sink.file = file

    @property
    def _compressor(self) -> Any:
        return self._sink.compressor

    @_compressor.setter
    def _compressor(self, compressor: Any) -> None:
        self._sink.compressor = compressor
