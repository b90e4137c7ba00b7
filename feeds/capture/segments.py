"""The segment machinery of a live recorder: a queue, a writer thread, rotated segment files.

::

    sink = SegmentSink(directory, opening=..., checkpoints=..., ending=..., name="capture")
    sink.start(loop)                    # on the event loop: the first segment, thread, timer
    sink.put((conn, text, wall, mono))  # a frame (any thread; the hot path)
    sink.put(("J", stamped({...})))     # a JSON record
    ...
    sink.cancel_timer(); sink.end()     # on the loop: final checkpoints, the end record
    sink.stop()                         # any thread: flush, close, join the writer

:class:`SegmentSink` is what :class:`~feeds.capture.recorder.Recorder` (the websocket feed)
and :class:`~feeds.broker.record.SubscriberRecorder` (a broker subscriber's stream) share:
what they record differs, how it reaches the files does not. The owner supplies the
records only it can make, through three callables given to the constructor:

- ``opening(segment) -> (header, books)``: the ``header`` record and the ``book`` records
  that open segment number ``segment`` (stamped: :func:`stamped`), on the loop. The sink
  sets the header's ``"previous"`` (the name of the segment before it, ``None`` for the
  first) when it creates the file, on the writer thread: it stands where the owner put
  the key (a placeholder), else last.
- ``checkpoints()``: queue the checkpoint records (:meth:`SegmentSink.put`), on the loop,
  every ``checkpoint_interval`` and at :meth:`SegmentSink.end`.
- ``ending(rotate) -> record``: the ``end`` record of a segment: ``rotate`` is why it
  rotates (``"size"``, ``"time"``, ``"utc-day"``), ``None`` when the recording ends. An
  ``end`` record without ``"t"``/``"m"`` is written with the times of the item before it.

Queued items (the format's lines are written from them on the writer thread, see
:mod:`feeds.capture.format`): a frame ``(conn, text, wall_ns, mono_ns)`` (``conn`` an
``int``; ``text`` a ``str`` is an ``F`` record, bytes a ``B`` record), ``("J", record)``,
``("E", record)`` (an ``end``: the segment's file is closed) and ``("S", header, books)``
(a new segment: a new file). The writer thread writes the queue every ``flush_interval``
seconds as one independent zstandard frame (with its content checksum), so a ``kill -9``
loses at most the last interval. A timer on the loop calls ``checkpoints`` every
``checkpoint_interval`` and rotates segments: after ``max_segment_bytes`` compressed
bytes, after ``max_segment_seconds``, and at every UTC midnight. Files are created
exclusively: an existing file is never overwritten.

Write errors (a full disk...) are counted and logged, never raised into the owner: the
recording stops (``stats["write_errors"]``; :meth:`SegmentSink.put` and ``on_fail`` then
drop what comes, counted in ``stats["dropped"]``, as is what could not be written). A
short write is written on until the rest goes or the disk says why not; ``stats["frames"]``,
``"records"``, ``"bytes_in"`` and ``"bytes_out"`` count only what reached the file whole.
``stats["writer_cpu_ns"]`` and ``stats["checkpoint_cpu_ns"]`` are the CPU time of the
writer thread and of the checkpoint timer. The owner shares :attr:`SegmentSink.stats` and
may add counters of its own to it.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from .format import SUFFIX

try:
    import zstandard
except ImportError:  # pragma: no cover - zstandard is a core dependency
    zstandard = None  # type: ignore[assignment]

log = logging.getLogger("wexbook.capture")

_time_ns = time.time_ns
_mono_ns = time.monotonic_ns

#: The counters of :attr:`SegmentSink.stats` (see the module docstring).
STATS = (
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
)

#: The header and book records that open a segment, given its number.
Opening = Callable[[int], tuple[dict[str, Any], list[dict[str, Any]]]]
#: The ``end`` record of a segment, given why it rotates (``None``: the recording ends).
Ending = Callable[[str | None], dict[str, Any]]
#: The compiled packer of frames (``feeds.capture._recordpack.pack_frames``).
Packer = Callable[..., tuple[int, int, int, int, Any]]


def stamped(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its wall (``"t"``) and monotonic (``"m"``) times set to now."""
    record["t"] = _time_ns()
    record["m"] = _mono_ns()
    return record


def item_wall(item: tuple[Any, ...]) -> int:
    """The wall time (ns) a queued item was stamped with."""
    if type(item[0]) is int:  # a frame: (conn, text, wall, mono)
        return item[2]
    return item[1]["t"]  # ("J" | "E", record) or ("S", header, books)


def next_utc_midnight_ns(wall_ns: int) -> int:
    """The UTC midnight after ``wall_ns`` (ns since the epoch)."""
    day = dt.datetime.fromtimestamp(wall_ns / 1e9, dt.UTC).date() + dt.timedelta(days=1)
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return int(midnight.timestamp()) * 1_000_000_000


class SegmentSink:
    """Writes a recorder's queued items into rotated segment files (see the module docstring).

    ``prefix`` starts :attr:`run`; ``level`` is zstandard's; ``fsync`` syncs every write;
    ``name`` names the writer thread (``"wexbook <name>"``) and the log line of a write
    error; ``pack`` is the compiled frame packer (``None``: the reference in :meth:`drain`);
    ``on_fail`` is called (on the writer thread) when writing failed, after :meth:`put`
    became a counter of what is dropped: an owner that holds ``put`` (or another hook)
    elsewhere swaps it there.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        opening: Opening,
        checkpoints: Callable[[], None],
        ending: Ending,
        flush_interval: float = 1.0,
        checkpoint_interval: float = 1.0,
        max_segment_bytes: int = 256 * 2**20,
        max_segment_seconds: float = 3600.0,
        level: int = 1,
        fsync: bool = False,
        prefix: str = "",
        name: str = "capture",
        pack: Packer | None = None,
        on_fail: Callable[[], None] | None = None,
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
        self.fsync = fsync
        self.name = name
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        #: Identifies this recording; every segment file name starts with it.
        self.run = f"{prefix}{stamp}-{os.getpid()}"
        #: The counters (see the module docstring); the owner may add its own.
        self.stats: dict[str, int] = dict.fromkeys(STATS, 0)
        #: Paths of the segments written so far.
        self.segments: list[Path] = []
        #: The queue (the writer thread's input).
        self.queue: deque[tuple[Any, ...]] = deque()
        #: Queue an item (any thread); counts it as dropped once writing failed.
        self.put: Callable[[tuple[Any, ...]], None] = self.queue.append
        #: The segment file being written (``None``: none open).
        self.file: Any = None
        #: The zstandard compressor of every flush.
        self.compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
        #: Writing failed: the recording stopped.
        self.failed = False
        #: :meth:`begin_close` was called.
        self.closed = False
        self._opening = opening
        self._checkpoints = checkpoints
        self._ending = ending
        self._pack = pack
        self._on_fail = on_fail
        #: Frames and records packed by the writer thread but not on disk yet, and the wall
        #: time of the oldest item being written (0: none): for the counts and the lag.
        self._held = [0, 0, 0]
        self._oldest_ns = 0
        self._failed_ns = 0
        self._segment = 0
        self._segment_started_ns = 0
        self._day_end_ns = 0
        self._rotate_wanted: str | None = None
        self._file_index = 0
        self._pw = 0
        self._pm = 0
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the loop side -------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Queue the first segment, start the writer thread and the checkpoint timer."""
        self._loop = loop
        self.start_segment()
        self._thread = threading.Thread(
            target=self._writer, name=f"wexbook {self.name}", daemon=True
        )
        self._thread.start()
        self._timer = loop.call_later(self.checkpoint_interval, self._tick)

    def start_segment(self) -> None:
        """Queue a new segment: the owner's header, then its books (loop thread)."""
        header, books = self._opening(self._segment)
        self._segment_started_ns = header["t"]
        self._day_end_ns = next_utc_midnight_ns(header["t"])
        self.put(("S", header, books))
        self._segment += 1

    def begin_close(self) -> bool:
        """Mark the sink closing (the timer ticks no more); False if it already was."""
        if self.closed:
            return False
        self.closed = True
        return True

    def cancel_timer(self) -> None:
        """Stop the checkpoint timer (on the loop)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def end(self) -> None:
        """Queue the final checkpoints and the recording's ``end`` record (on the loop)."""
        self._checkpoints()
        self.put(("E", self._ending(None)))

    def stop(self) -> None:
        """Write what is queued, close the segment and join the writer thread (any thread)."""
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def rotate(self, why: str = "asked") -> None:
        """Start a new segment at the next checkpoint tick (its ``end`` record says ``why``)."""
        self._rotate_wanted = why

    def _tick(self) -> None:
        if self.closed:
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
            if why is not None and not self.failed:
                self._rotate_wanted = None
                self.put(("E", self._ending(why)))
                self.start_segment()
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

    def _writer(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            closing = self._closing
            if self.failed:
                # Hooks may be held elsewhere (an observer list, the compiled stamp): what
                # still arrives is counted and let go.
                self._discard()
            else:
                try:
                    self.drain()
                except Exception:
                    self._fail()
            # The writer thread is this sink's own: its CPU time is the recording's cost
            # off the event loop (compression, packing, writing).
            self.stats["writer_cpu_ns"] = time.thread_time_ns()
            if closing:
                break
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                self.stats["write_errors"] += 1
            self.file = None

    def _fail(self) -> None:
        """Writing failed: count it and what is lost, stop recording (the owner goes on)."""
        stats = self.stats
        stats["write_errors"] += 1
        self.failed = True
        self._failed_ns = self._oldest_ns or _time_ns()
        log.exception("%s write failed; recording stops, the books go on", self.name)
        self.put = self.drop  # type: ignore[method-assign]
        if self._on_fail is not None:
            self._on_fail()
        held, self._held = self._held, [0, 0, 0]
        stats["dropped"] += held[0] + held[1]
        self._discard()
        self._oldest_ns = 0
        file, self.file = self.file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()

    def _discard(self) -> None:
        """Let go of everything queued, counted as dropped (writing failed)."""
        lost = 0
        while True:
            try:
                item = self.queue.popleft()
            except IndexError:
                break
            lost += 1 + (len(item[2]) if item[0] == "S" else 0)
        self.stats["dropped"] += lost

    def drop(self, item: object) -> None:
        """:meth:`put` once writing failed: counted as dropped."""
        self.stats["dropped"] += 1

    def drain(self) -> None:
        """Write everything queued (the writer thread; a test may call it on its own)."""
        queue = self.queue
        try:
            self._oldest_ns = item_wall(queue[0])
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
                if tag == "E" and "t" not in record:  # an end at the segment's last item
                    record["t"], record["m"] = pw, pm
                line = dumps(record)
                append(line)
                append(b"\n")
                pw, pm = record["t"], record["m"]
                held[1] += 1
                if tag == "E":
                    self._write(chunks)
                    chunks.clear()
                    if self.file is not None:
                        self.file.close()
                        self.file = None
                continue
            if tag == "S":
                self._write(chunks)
                chunks.clear()
                if self.file is not None:  # a segment not ended with an "E" (cannot happen)
                    self.file.close()
                self.file = self._open()
                header, books = item[1], item[2]
                # Named here, where the files are made: the segment before this one.
                header["previous"] = self.segments[-2].name if len(self.segments) > 1 else None
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
        if not chunks or self.file is None:
            if self.file is None:  # nothing to write to: the end of a closed segment
                held[:] = [0, 0, 0]
            return
        frame = self.compressor.compress(b"".join(chunks))
        view = memoryview(frame)
        write = self.file.write
        while view:
            n = write(view)
            if not n:  # a raw file says why with an OSError; this is the fallback
                raise OSError(errno.ENOSPC, "no byte written", str(self.file.name))
            if n < len(view):
                self.stats["short_writes"] += 1
            view = view[n:]
        if self.fsync:
            os.fsync(self.file.fileno())
        stats = self.stats
        stats["frames"] += held[0]
        stats["records"] += held[1]
        stats["bytes_in"] += held[2]
        held[:] = [0, 0, 0]
        stats["bytes_out"] += len(frame)
        stats["flushes"] += 1
        if self._segment_bytes() >= self.max_segment_bytes:
            self._rotate_wanted = "size"

    def _segment_bytes(self) -> int:
        file = self.file
        return file.tell() if file is not None else 0

    def counters(self) -> dict[str, float]:
        """The counters as the metrics export them (any thread): frames, records,
        ``bytes_in`` (frame bytes) and ``bytes_out`` (file bytes) written whole,
        ``write_errors``, ``short_writes``, ``dropped``, ``segments``, ``writing`` (1 until
        it stopped on an error or was closed) and ``flush_lag_seconds``: how long the
        oldest record not yet on disk has waited (0 when everything is written; since the
        failure once writing failed)."""
        stats = dict(self.stats)
        now = _time_ns()
        if self.failed:
            oldest = self._failed_ns
        else:
            oldest = self._oldest_ns
            try:
                queued = item_wall(self.queue[0])
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
            "writing": int(not self.failed and not self.closed),
            "flush_lag_seconds": max(0.0, (now - oldest) / 1e9) if oldest else 0.0,
        }
