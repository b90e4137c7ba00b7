"""The recorder: a :class:`~feeds.manager.BookManager` tap that writes a capture.

::

    recorder = Recorder("cap/")
    recorder.attach(manager)          # inside the manager's event loop
    ...
    recorder.close()                  # or: async with Recorder("cap/").attach(manager): ...

On the event loop the recorder only stamps and queues what it is handed (a frame is
queued as the object websockets delivered: no copy, no parse, no serialisation); a
background thread writes the queue every ``flush_interval`` seconds as one
independent zstandard frame (see :mod:`feeds.capture.format`), so a ``kill -9``
loses at most the last interval. A timer on the loop writes the checkpoints (every
``checkpoint_interval`` s, of every book) and rotates segments: after
``max_segment_bytes`` compressed bytes, after ``max_segment_seconds``, and at every
UTC midnight. A new segment starts with every book's exact state, so it replays on
its own. Files are created exclusively: an existing file is never overwritten.

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
import contextlib
import datetime as dt
import errno
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
    SUFFIX,
    book_hash,
    book_state,
    counts_of,
    host_clock,
    public_url,
    wexbook_version,
)

try:
    import zstandard
except ImportError:  # pragma: no cover - zstandard is a core dependency
    zstandard = None  # type: ignore[assignment]

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


def _item_wall(item: tuple[Any, ...]) -> int:
    """The wall time (ns) a queued item was stamped with."""
    if type(item[0]) is int:  # a frame: (conn, text, wall, mono)
        return item[2]
    return item[1]["t"]  # ("J" | "E", record) or ("S", header, books)


def _next_utc_midnight_ns(wall_ns: int) -> int:
    day = dt.datetime.fromtimestamp(wall_ns / 1e9, dt.UTC).date() + dt.timedelta(days=1)
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return int(midnight.timestamp()) * 1_000_000_000


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
        if zstandard is None:  # pragma: no cover
            raise RuntimeError("capture needs the zstandard package: pip install zstandard")
        if flush_interval <= 0 or checkpoint_interval <= 0:
            raise ValueError("flush_interval and checkpoint_interval must be > 0")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.flush_interval = flush_interval
        self.checkpoint_interval = checkpoint_interval
        self.max_segment_bytes = max_segment_bytes
        self.max_segment_seconds = max_segment_seconds
        self.level = level
        self.hash_levels = hash_levels
        self.fsync = fsync
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        #: Identifies this recording; every segment file name starts with it.
        self.run = f"{prefix}{stamp}-{os.getpid()}"
        self.manager: BookManager | None = None
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "frames",
                "records",
                "flushes",
                "bytes_in",
                "bytes_out",
                "segments",
                "checkpoints",
                "write_errors",
                "short_writes",
                "dropped",
                "writer_cpu_ns",
                "checkpoint_cpu_ns",
            ),
            0,
        )
        #: Paths of the segments written so far.
        self.segments: list[Path] = []
        self._queue: deque[tuple[Any, ...]] = deque()
        self._put = self._queue.append
        #: Indices of the manager's connections (the only ones the compiled stamp sees).
        self._conns: dict[Connection, int] = {}
        #: Indices of the other connections handed to this recorder (private streams).
        self._private: dict[Connection, int] = {}
        #: Frames and records packed by the writer thread but not on disk yet, and the wall
        #: time of the oldest item being written (0: none): for the counts and the lag.
        self._held = [0, 0, 0]
        self._oldest_ns = 0
        self._failed_ns = 0
        #: The compiled packer of the writer thread (None: the reference in ``_drain``).
        self._pack = None
        if _FrameStamp is not None and accel.active() == "compiled":
            # The compiled twins of on_frame (the method below is its reference) and of
            # the frame branch of _drain.
            self.on_frame = _FrameStamp(self._conns, self._put, self._index_and_queue)
            self._pack = _pack_frames
        self._conn_info: list[dict[str, Any]] = []
        self._segment = 0
        self._segment_started_ns = 0
        self._day_end_ns = 0
        self._rotate_wanted: str | None = None
        self._wake = threading.Event()
        self._closing = False
        self._closed = False
        self._untapped = False
        self._failed = False
        self._thread: threading.Thread | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._file: Any = None
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)

    # -- lifecycle ---------------------------------------------------------------

    def attach(self, manager: BookManager) -> Recorder:
        """Start recording ``manager`` (call from its event loop; returns ``self``)."""
        if self.manager is not None:
            raise RuntimeError("this recorder is already attached")
        self.manager = manager
        manager.observe(self)  # the manager's connections share its observers
        self._loop = asyncio.get_running_loop()
        self._start_segment()  # the header and every existing book, queued now
        self._thread = threading.Thread(target=self._writer, name="wexbook capture", daemon=True)
        self._thread.start()
        self._timer = self._loop.call_later(self.checkpoint_interval, self._tick)
        return self

    async def __aenter__(self) -> Recorder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._closed:
            return
        self._closed = True
        self._untap()  # on the loop, in order with the frames
        await asyncio.get_running_loop().run_in_executor(None, self._stop_writer)

    def close(self) -> None:
        """Write final checkpoints, flush, close the segment and stop the writer thread.

        From any thread: the final checkpoints are taken on the manager's event loop
        (when it runs), in order with the frames, so they replay where they were taken.
        """
        if self._closed:
            return
        self._closed = True
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
        self._stop_writer()

    def _untap(self) -> None:
        """Stop listening, queue the final checkpoints and the end record (on the loop)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        manager = self.manager
        if manager is None or self._untapped:
            return
        self._untapped = True
        manager.unobserve(self)
        for conn in self._private:
            conn.observers.remove(self)
        self._checkpoints()
        self._put(("E", self._json({"k": "end", "next": None})))

    def _stop_writer(self) -> None:
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

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
        live = sync.state is _LIVE
        record = {
            "k": "d",
            "v": sync.venue.value,
            "s": sync.symbol,
            "d": decision.value,
            "state": sync.state.value,
            "update_id": sync.update_id,
            "generation": sync.generation,
            "reason": payload if isinstance(payload, str) else sync.reason,
            "hash": book_hash(sync, self.hash_levels) if live else None,
        }
        self._put(("J", self._json(record)))

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

    @staticmethod
    def _json(record: dict[str, Any]) -> dict[str, Any]:
        record["t"] = _time_ns()
        record["m"] = _mono_ns()
        return record

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

    def _header(self) -> dict[str, Any]:
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
                "segment": self._segment,
                "previous": self.segments[-1].name if self.segments else None,
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

    def _start_segment(self) -> None:
        """Queue a new segment: header, then every book's exact state (loop thread)."""
        manager = self.manager
        assert manager is not None
        header = self._header()
        books = [self._book_record(b, start=True) for b in manager.books.values()]
        self._segment_started_ns = header["t"]
        self._day_end_ns = _next_utc_midnight_ns(header["t"])
        self._put(("S", header, books))
        self._segment += 1

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

    def _tick(self) -> None:
        if self._closed:
            return
        cpu0 = time.thread_time_ns()
        try:
            self._checkpoints()
            now = _time_ns()
            why = self._rotate_wanted
            if now >= self._day_end_ns:
                why = "utc-day"
            elif now - self._segment_started_ns >= self.max_segment_seconds * 1e9:
                why = "time"
            if why is not None and not self._failed:
                self._rotate_wanted = None
                self._put(("E", self._json({"k": "end", "rotate": why})))
                self._start_segment()
                self._wake.set()
        finally:
            self.stats["checkpoint_cpu_ns"] += time.thread_time_ns() - cpu0
            assert self._loop is not None
            self._timer = self._loop.call_later(self.checkpoint_interval, self._tick)

    # -- the writer thread ---------------------------------------------------------------

    def _open(self) -> Any:
        while True:
            path = self.directory / f"{self.run}-{self._file_index:05d}{SUFFIX}"
            self._file_index += 1
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            self.segments.append(path)
            self.stats["segments"] += 1
            return os.fdopen(fd, "wb", buffering=0)

    _file_index = 0

    def _writer(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            closing = self._closing
            if self._failed:
                # Hooks may be held elsewhere (an observer list, the compiled stamp): what
                # still arrives is counted and let go.
                self._discard()
            else:
                try:
                    self._drain()
                except Exception:
                    self._fail()
            # The writer thread is this recorder's own: its CPU time is the capture's cost
            # off the event loop (compression, packing, writing).
            self.stats["writer_cpu_ns"] = time.thread_time_ns()
            if closing:
                break
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                self.stats["write_errors"] += 1
            self._file = None

    def _fail(self) -> None:
        """Writing failed: count it and what is lost, stop recording (the books go on)."""
        stats = self.stats
        stats["write_errors"] += 1
        self._failed = True
        self._failed_ns = self._oldest_ns or _time_ns()
        log.exception("capture write failed; recording stops, the books go on")
        self._put = self._drop  # type: ignore[method-assign]
        self.on_frame = self._drop_frame  # type: ignore[method-assign]
        held, self._held = self._held, [0, 0, 0]
        stats["dropped"] += held[0] + held[1]
        self._discard()
        self._oldest_ns = 0
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()

    def _discard(self) -> None:
        """Let go of everything queued, counted as dropped (writing failed)."""
        lost = 0
        while True:
            try:
                item = self._queue.popleft()
            except IndexError:
                break
            lost += 1 + (len(item[2]) if item[0] == "S" else 0)
        self.stats["dropped"] += lost

    def _drop(self, item: object) -> None:
        """``_put`` once writing failed: the capture stops, the books go on."""
        self.stats["dropped"] += 1

    def _drop_frame(self, conn: object, text: object) -> None:
        """``on_frame`` once writing failed."""
        self.stats["dropped"] += 1

    _pw = 0
    _pm = 0

    def _drain(self) -> None:
        queue = self._queue
        try:
            self._oldest_ns = _item_wall(queue[0])
        except IndexError:
            return
        popleft = queue.popleft
        chunks: list[bytes] = []
        append = chunks.append
        dumps = orjson.dumps
        pw, pm = self._pw, self._pm
        # Frames, records and frame bytes packed into ``chunks``, not on disk yet.
        held = self._held
        # The compiled packer writes the runs of frames (the same bytes as the frame
        # branch below, its reference) and hands back the item that stopped it.
        pack = self._pack
        while queue:
            if pack is not None:
                pw, pm, n, nbytes, item = pack(popleft, append, pw, pm)
                held[0] += n
                held[2] += nbytes
                if item is None:
                    break
            else:
                item = popleft()
            tag = item[0]
            if type(tag) is int:
                conn, text, wall, mono = item
                if type(text) is str:
                    data = text.encode()
                    kind = b"F"
                else:
                    data = bytes(text)
                    kind = b"B"
                append(b"%s%d %d %d %d\n" % (kind, conn, len(data), wall - pw, mono - pm))
                append(data)
                append(b"\n")
                pw, pm = wall, mono
                held[0] += 1
                held[2] += len(data)
                continue
            if tag == "J" or tag == "E":
                record = item[1]
                line = dumps(record)
                append(line)
                append(b"\n")
                pw, pm = record["t"], record["m"]
                held[1] += 1
                if tag == "E":
                    self._write(chunks)
                    chunks.clear()
                    if self._file is not None:
                        self._file.close()
                        self._file = None
                continue
            if tag == "S":
                self._write(chunks)
                chunks.clear()
                if self._file is not None:  # a segment not ended with an "E" (cannot happen)
                    self._file.close()
                self._file = self._open()
                header, books = item[1], item[2]
                for record in (header, *books):
                    append(dumps(record))
                    append(b"\n")
                    held[1] += 1
                pw, pm = (
                    books[-1]["t"] if books else header["t"],
                    (books[-1]["m"] if books else header["m"]),
                )
        self._write(chunks)
        self._pw, self._pm = pw, pm
        self._oldest_ns = 0

    def _write(self, chunks: list[bytes]) -> None:
        """Compress ``chunks`` into one zstandard frame and write it whole; then count what
        it held (``self._held``) as written."""
        held = self._held
        if not chunks or self._file is None:
            if self._file is None:  # nothing to write to: the end of a closed segment
                held[:] = [0, 0, 0]
            return
        frame = self._compressor.compress(b"".join(chunks))
        view = memoryview(frame)
        write = self._file.write
        while view:
            n = write(view)
            if not n:  # a raw file says why with an OSError; this is the fallback
                raise OSError(errno.ENOSPC, "no byte written", str(self._file.name))
            if n < len(view):
                self.stats["short_writes"] += 1
            view = view[n:]
        if self.fsync:
            os.fsync(self._file.fileno())
        stats = self.stats
        stats["frames"] += held[0]
        stats["records"] += held[1]
        stats["bytes_in"] += held[2]
        held[:] = [0, 0, 0]
        stats["bytes_out"] += len(frame)
        stats["flushes"] += 1
        if self._segment_bytes() >= self.max_segment_bytes:
            self._rotate_wanted = "size"

    def counters(self) -> dict[str, float]:
        """The recorder's counters as the metrics export them (any thread): frames,
        records, ``bytes_in`` (frame bytes) and ``bytes_out`` (file bytes) written whole,
        ``write_errors``, ``short_writes``, ``dropped``, ``segments``, ``writing`` (1 until
        it stopped on an error or was closed) and ``flush_lag_seconds``: how long the
        oldest record not yet on disk has waited (0 when everything is written; since the
        failure once writing failed)."""
        stats = dict(self.stats)
        now = _time_ns()
        if self._failed:
            oldest = self._failed_ns
        else:
            oldest = self._oldest_ns
            try:
                queued = _item_wall(self._queue[0])
            except IndexError:
                queued = 0
            if queued and (not oldest or queued < oldest):
                oldest = queued
        return {
            "frames": stats["frames"],
            "records": stats["records"],
            "bytes_in": stats["bytes_in"],
            "bytes_out": stats["bytes_out"],
            "segments": stats["segments"],
            "write_errors": stats["write_errors"],
            "short_writes": stats["short_writes"],
            "dropped": stats["dropped"],
            "writing": int(not self._failed and not self._closed),
            "flush_lag_seconds": max(0.0, (now - oldest) / 1e9) if oldest else 0.0,
        }

    def _segment_bytes(self) -> int:
        file = self._file
        return file.tell() if file is not None else 0
