"""Reading captures: segments, runs, and what could not be read.

:func:`read_segment` yields every record of one segment file as a tuple
``(kind, wall_ns, mono_ns, conn, payload)``: for a frame, ``kind`` is ``"F"`` (text)
or ``"B"`` (binary), ``conn`` the connection index and ``payload`` the frame's bytes
exactly as received; for a JSON record, ``kind`` is its ``"k"`` (``header``, ``book``,
``d``...), ``conn`` is ``None`` and ``payload`` the decoded object.

A damaged segment never raises: a truncated tail (the frame a ``kill -9`` cut short)
or a corrupt stretch is recorded as a :class:`Problem` on the :class:`SegmentReader`
(with the byte offset where it starts), the readable records before it are all
yielded, and after a corrupt stretch reading resumes at the next zstandard frame.

:func:`open_capture` finds the segments under a path (a file, a directory, or a glob)
and groups them into runs (one per recording process) ordered by segment number.
"""

from __future__ import annotations

import glob
import mmap
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .format import FORMAT_VERSION, SUFFIX

try:
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None  # type: ignore[assignment]

_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20
#: Largest output buffer asked for at once (a recorder's frame is about 4 MiB).
_MAX_WRITE = 64 << 20

Record = tuple[str, int, int, int | None, Any]
Skip = Callable[[bytes, int, int, int], tuple[int, int, int]]


class CaptureError(Exception):
    """A capture cannot be used at all (no segment, not a capture); one line for the user."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in a segment that could not be read."""

    path: str
    kind: str  #: ``truncated`` (the tail) or ``corrupt`` (a stretch in the middle)
    offset: int  #: byte offset in the file where the unreadable part starts
    length: int  #: bytes not read
    detail: str = ""

    def __str__(self) -> str:
        what = "truncated tail" if self.kind == "truncated" else "corrupt data"
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.path}: {what} at byte {self.offset}, {self.length} bytes unread{extra}"


class SegmentReader:
    """Iterates the records of one segment; collects :attr:`problems` as it goes."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        prefetch: bool = False,
        skip: Skip | None = None,
    ) -> None:
        if zstandard is None:  # pragma: no cover
            raise CaptureError("reading captures needs the zstandard package")
        self.path = Path(path)
        #: Decompress the next zstandard frame on a thread while this one is read.
        self.prefetch = prefetch
        #: ``skip(data, pos, wall, mono) -> (pos, wall, mono)``, called at each frame record
        #: after the header: it may consume frame records itself (the compiled replay loop),
        #: and iteration goes on after them; returning ``pos`` unchanged consumes nothing.
        self.skip = skip
        self.problems: list[Problem] = []
        #: The segment's header record (after the first record is read).
        self.header: dict[str, Any] | None = None
        #: True when the segment ended with an ``end`` record (closed cleanly).
        self.ended = False
        #: Decompressed bytes read so far (for sizes and ratios).
        self.raw_bytes = 0
        self.compressed_bytes = 0

    def _problem(self, kind: str, offset: int, length: int, detail: str = "") -> None:
        self.problems.append(Problem(str(self.path), kind, offset, length, detail))

    def frames(self) -> Iterator[bytes]:
        """The decompressed content of each complete zstandard frame, in order."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise CaptureError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            self.compressed_bytes = size
            if size == 0:
                self._problem("truncated", 0, 0, "empty file")
                return
            with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mm:
                if self.prefetch:
                    yield from _ahead(self._frames(mm, size))
                else:
                    yield from self._frames(mm, size)
        finally:
            os.close(fd)

    def _frames(self, mm: mmap.mmap, size: int) -> Iterator[bytes]:
        pos = 0
        new = zstandard.ZstdDecompressor().decompressobj
        while pos < size:
            start = pos
            # Output in one piece where the frame says its size (the recorder's do): the
            # decompressor then gives up the GIL once per frame, not once per 128 KiB.
            try:
                content = zstandard.frame_content_size(mm[pos : pos + 18])
            except zstandard.ZstdError:
                content = -1
            obj = new(write_size=content + 1 if 0 < content <= _MAX_WRITE else _CHUNK)
            out: list[bytes] = []
            try:
                while True:
                    chunk = mm[pos : pos + _CHUNK]
                    if not chunk:
                        break
                    out.append(obj.decompress(chunk))
                    if obj.eof:
                        pos += len(chunk) - len(obj.unused_data)
                        break
                    pos += len(chunk)
            except zstandard.ZstdError as exc:
                following = mm.find(_MAGIC, start + 1)
                end = following if following != -1 else size
                self._problem("corrupt", start, end - start, str(exc))
                pos = end
                continue
            if not obj.eof:
                self._problem("truncated", start, size - start, "incomplete zstandard frame")
                return
            data = b"".join(out)
            self.raw_bytes += len(data)
            yield data

    def __iter__(self) -> Iterator[Record]:
        first = True
        wall = mono = 0
        loads = orjson.loads
        skip = self.skip
        for data in self.frames():
            pos, end = 0, len(data)
            find = data.find
            while pos < end:
                first_byte = data[pos]
                if skip is not None and first_byte == 0x46 and not first:
                    pos, wall, mono = skip(data, pos, wall, mono)
                    if pos >= end:
                        break
                    first_byte = data[pos]
                nl = find(b"\n", pos)
                if nl == -1:
                    self._problem("corrupt", -1, end - pos, "record without end of line")
                    break
                if first_byte == 0x7B:  # "{": a JSON record
                    try:
                        obj = loads(data[pos:nl])
                        kind = obj["k"]
                        wall, mono = obj["t"], obj["m"]
                    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                        self._problem("corrupt", -1, nl - pos, f"bad record: {exc}")
                        pos = nl + 1
                        continue
                    pos = nl + 1
                    if first:
                        first = False
                        if kind != "header":
                            self._problem("corrupt", 0, 0, "segment does not start with a header")
                        else:
                            self.header = obj
                            if obj.get("format") != FORMAT_VERSION:
                                raise CaptureError(
                                    f"{self.path}: capture format {obj.get('format')} "
                                    f"is not {FORMAT_VERSION}"
                                )
                    if kind == "end":
                        self.ended = True
                    yield kind, wall, mono, None, obj
                    continue
                try:
                    conn, length, dwall, dmono = data[pos + 1 : nl].split(b" ")
                    start = nl + 1
                    stop = start + int(length)
                    if data[stop : stop + 1] != b"\n" or first_byte not in (0x46, 0x42):
                        raise ValueError("frame length does not match")
                except ValueError as exc:
                    self._problem("corrupt", -1, end - pos, f"bad frame record: {exc}")
                    break
                wall += int(dwall)
                mono += int(dmono)
                pos = stop + 1
                yield ("F" if first_byte == 0x46 else "B"), wall, mono, int(conn), data[start:stop]
        if first and not self.problems:
            self._problem("truncated", 0, 0, "no record")


_DONE = object()


def _ahead(source: Iterator[bytes], depth: int = 2) -> Iterator[bytes]:
    """``source``'s items, produced on a thread up to ``depth`` ahead of the consumer.

    The thread's exceptions are raised here, in order; closing this generator early
    stops the thread (it is never left blocked on a full queue).
    """
    items: queue.Queue[Any] = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        items.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            outcome: tuple[Any, BaseException | None] = (_DONE, None)
        except BaseException as exc:  # handed to the consumer
            outcome = (_DONE, exc)
        while not stop.is_set():
            try:
                items.put(outcome, timeout=0.1)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=produce, name="wexbook-capture-read", daemon=True)
    thread.start()
    try:
        while True:
            item, error = items.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()


def read_segment(path: str | os.PathLike[str]) -> Iterator[Record]:
    """Every readable record of one segment (problems are not reported: use SegmentReader)."""
    return iter(SegmentReader(path))


@dataclass(slots=True)
class Run:
    """The segments one recording process wrote, in order."""

    run: str
    segments: list[Path] = field(default_factory=list)


def _segment_key(path: Path) -> tuple[str, int]:
    stem = path.name[: -len(SUFFIX)]
    run, _, number = stem.rpartition("-")
    try:
        return run, int(number)
    except ValueError:
        return stem, 0


def find_segments(path: str | os.PathLike[str]) -> list[Path]:
    """Segment files at ``path``: a segment, a directory (searched recursively) or a glob."""
    text = os.fspath(path)
    p = Path(text)
    if p.is_file():
        if not p.name.endswith(SUFFIX):
            raise CaptureError(f"not a capture segment (*{SUFFIX}): {text}")
        return [p]
    if p.is_dir():
        found = sorted(p.rglob(f"*{SUFFIX}"))
    elif any(ch in text for ch in "*?["):
        found = sorted(Path(x) for x in glob.glob(text, recursive=True) if x.endswith(SUFFIX))
    else:
        raise CaptureError(f"no such file or directory: {text}")
    if not found:
        raise CaptureError(f"no capture segments (*{SUFFIX}) under {text}")
    return found


def open_capture(path: str | os.PathLike[str] | list[Any]) -> list[Run]:
    """The runs of the capture at ``path`` (or a list of paths), each in segment order."""
    paths = path if isinstance(path, list | tuple) else [path]
    segments: list[Path] = []
    for p in paths:
        segments.extend(find_segments(p))
    runs: dict[str, Run] = {}
    for seg in sorted(set(segments), key=_segment_key):
        run, _ = _segment_key(seg)
        runs.setdefault(run, Run(run)).segments.append(seg)
    return list(runs.values())
