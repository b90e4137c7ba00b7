"""Reading captures: segments, runs, and what could not be read.

:func:`read_segment` yields every record of one segment file as a tuple
``(kind, wall_ns, mono_ns, conn, payload)``: for a frame, ``kind`` is ``"F"`` (text)
or ``"B"`` (binary), ``conn`` the connection index and ``payload`` the frame's bytes
exactly as received; for a JSON record, ``kind`` is its ``"k"`` (``header``, ``book``,
``d``...), ``conn`` is ``None`` and ``payload`` the decoded object.

A damaged segment never raises, never hangs and never takes unbounded memory: each
thing that cannot be read is a :class:`Problem` on the :class:`SegmentReader` (its
``problems``), with the segment's path, the byte offset of the zstandard frame where
it lies and, for a bad record, the record's number in the segment; the readable
records around it are all yielded. Problem kinds:

- ``truncated``: the tail (the frame a ``kill -9`` cut short);
- ``corrupt``: a zstandard frame that does not decode, or whose content checksum
  fails; reading resumes at the next zstandard frame;
- ``too-large``: a frame that decompresses to more than ``max_frame_bytes`` (64 MiB
  by default; a recorder's frame is about one second of data), found while
  decompressing it piece by piece (it is never held whole), or one record longer than
  ``max_record_bytes`` (16 MiB); the frame, or the record, is skipped;
- ``record``: a record that cannot be parsed (a frame record whose length is
  negative, absurd or does not end at a newline, a JSON record that is not an object
  with ``"k"``, ``"t"``, ``"m"``...); the rest of its zstandard frame is skipped (a
  record's end cannot be trusted after it) and reading resumes at the next one;
- ``unreadable``: the segment is not a regular file (a FIFO, a directory...: never
  opened for reading, so never waited on), or a folder cannot be listed.

:func:`open_capture` finds the segments under a path (a file, a directory, or a glob)
and groups them into runs (one per recording process) ordered by segment number. Each
file is read once, whatever the links to it, and a directory reached again through a
symbolic link (a loop) is not walked again. A folder that cannot be listed raises
:class:`CaptureError`, or is a problem in the list given as ``problems``.
"""

from __future__ import annotations

import errno
import fnmatch
import glob
import mmap
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orderbook.errors import WexbookError

from .format import FORMAT_VERSION, SUFFIX

try:
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None  # type: ignore[assignment]

_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20
#: Default cap on one zstandard frame's decompressed size (a recorder's frame holds
#: about one second of data, a few MiB).
MAX_FRAME_BYTES = 64 << 20
#: Default cap on one record's size (a websocket frame, a book record).
MAX_RECORD_BYTES = 16 << 20
#: The largest block a zstandard frame may hold, decompressed.
_BLOCK_MAX = 128 << 10
#: The longest frame record header line (``F<conn> <length> <d_wall> <d_mono>``).
_MAX_HEAD = 128

Record = tuple[str, int, int, int | None, Any]
Skip = Callable[[bytes, int, int, int], tuple[int, ...]]


class CaptureError(WexbookError):
    """A capture cannot be used at all (no segment, not a capture); one line for the user."""


_WHAT = {
    "truncated": "truncated tail",
    "corrupt": "corrupt data",
    "too-large": "too large",
    "record": "bad record",
    "unreadable": "unreadable",
}


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in a capture that could not be read (see the module docstring)."""

    path: str
    #: ``truncated``, ``corrupt``, ``too-large``, ``record`` or ``unreadable``
    kind: str
    #: byte offset in the file where the unreadable part starts (for a record: of the
    #: zstandard frame it is in)
    offset: int
    #: bytes not read (for a record: decompressed bytes of its frame skipped)
    length: int
    detail: str = ""
    #: the record's number in the segment (0: the header), where known
    record: int | None = None
    #: for a record: its byte offset in its zstandard frame's decompressed content
    at: int | None = None

    def __str__(self) -> str:
        what = _WHAT.get(self.kind, self.kind)
        extra = f" ({self.detail})" if self.detail else ""
        if self.kind == "unreadable":
            return f"{self.path}: {what}{extra}"
        if self.at is None:
            return f"{self.path}: {what} at byte {self.offset}, {self.length} bytes unread{extra}"
        record = "a record" if self.record is None else f"record {self.record}"
        return (
            f"{self.path}: {what} at {record} (byte {self.at} of the zstandard frame at byte "
            f"{self.offset}), {self.length} bytes skipped{extra}"
        )


class _Unreadable(Exception):
    """A zstandard frame's header or block structure cannot be walked."""

    def __init__(self, kind: str, detail: str, resume: int = -1) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        #: Where to look for the next frame from (-1: after the frame's start).
        self.resume = resume


@dataclass(slots=True)
class _Extent:
    end: int  #: offset just past the frame
    content: int  #: the size the frame header declares, or -1
    lower: int  #: decompressed bytes at least (raw and RLE blocks)
    upper: int  #: decompressed bytes at most
    cuts: list[int]  #: offsets to feed up to, each about a MiB of output apart
    skippable: bool = False


def _extent(mm: mmap.mmap, start: int, size: int, max_bytes: int) -> _Extent:
    """Walk the zstandard frame at ``start`` (its header and block headers only).

    Raises :class:`_Unreadable` (``truncated``: it runs past the end of the file;
    ``corrupt``: not a frame; ``too-large``: more blocks than ``max_bytes`` can hold).
    """
    if size - start < 4:
        raise _Unreadable("truncated", "incomplete zstandard frame")
    magic = int.from_bytes(mm[start : start + 4], "little")
    if 0x184D2A50 <= magic <= 0x184D2A5F:  # a skippable frame: no content
        if size - start < 8:
            raise _Unreadable("truncated", "incomplete skippable frame")
        end = start + 8 + int.from_bytes(mm[start + 4 : start + 8], "little")
        if end > size:
            raise _Unreadable("truncated", "incomplete skippable frame")
        return _Extent(end, 0, 0, 0, [], skippable=True)
    if magic != 0xFD2FB528:
        raise _Unreadable("corrupt", "not a zstandard frame")
    p = start + 4
    if p >= size:
        raise _Unreadable("truncated", "incomplete zstandard frame")
    fhd = mm[p]
    p += 1
    if fhd & 0x08:
        raise _Unreadable("corrupt", "reserved bit set in the frame header")
    single = fhd & 0x20
    p += (0 if single else 1) + (0, 1, 2, 4)[fhd & 3]
    fcs_size = (1 if single else 0, 2, 4, 8)[fhd >> 6]
    if p + fcs_size > size:
        raise _Unreadable("truncated", "incomplete zstandard frame")
    content = int.from_bytes(mm[p : p + fcs_size], "little") if fcs_size else -1
    if fcs_size == 2:
        content += 256
    p += fcs_size
    lower = upper = blocks = 0
    cuts: list[int] = []
    fed = 0
    max_blocks = max_bytes // 512 + 1024
    while True:
        if p + 3 > size:
            raise _Unreadable("truncated", "incomplete zstandard frame")
        head = int.from_bytes(mm[p : p + 3], "little")
        p += 3
        kind = (head >> 1) & 3
        n = head >> 3
        if n > _BLOCK_MAX or kind == 3:
            raise _Unreadable("corrupt", "bad block header")
        if kind == 0:  # raw
            p += n
            lower += n
            upper += n
        elif kind == 1:  # one byte, repeated
            p += 1
            lower += n
            upper += n
        else:  # compressed
            p += n
            upper += _BLOCK_MAX
        blocks += 1
        if upper - fed >= _CHUNK:
            cuts.append(p)
            fed = upper
        if head & 1:
            break
        if blocks > max_blocks:
            raise _Unreadable(
                "too-large", f"more than {max_blocks} blocks in one zstandard frame", p
            )
    if fhd & 0x04:
        p += 4  # the content checksum
    if p > size:
        raise _Unreadable("truncated", "incomplete zstandard frame")
    return _Extent(p, content, lower, upper, cuts)


class SegmentReader:
    """Iterates the records of one segment; collects :attr:`problems` as it goes.

    ``max_frame_bytes`` and ``max_record_bytes`` cap one zstandard frame's decompressed
    size and one record's (see the module docstring): memory stays bounded by about
    the first whatever a file holds.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        prefetch: bool = False,
        skip: Skip | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        if zstandard is None:  # pragma: no cover
            raise CaptureError("reading captures needs the zstandard package")
        if max_frame_bytes < 1 or max_record_bytes < 1:
            raise ValueError("max_frame_bytes and max_record_bytes must be >= 1")
        self.path = Path(path)
        #: Decompress the next zstandard frame on a thread while this one is read.
        self.prefetch = prefetch
        #: ``skip(data, pos, wall, mono) -> (pos, wall, mono[, records])``, called at each
        #: frame record after the header: it may consume frame records itself (the
        #: compiled replay loop), and iteration goes on after them; returning ``pos``
        #: unchanged consumes nothing. Without ``records`` (how many it consumed), the
        #: record numbers of later problems are not known.
        self.skip = skip
        self.max_frame_bytes = max_frame_bytes
        self.max_record_bytes = max_record_bytes
        self.problems: list[Problem] = []
        #: The segment's header record (after the first record is read).
        self.header: dict[str, Any] | None = None
        #: True when the segment ended with an ``end`` record (closed cleanly).
        self.ended = False
        #: Decompressed bytes read so far (for sizes and ratios).
        self.raw_bytes = 0
        self.compressed_bytes = 0

    def _problem(
        self,
        kind: str,
        offset: int,
        length: int,
        detail: str = "",
        record: int | None = None,
        at: int | None = None,
    ) -> None:
        self.problems.append(Problem(str(self.path), kind, offset, length, detail, record, at))

    def frames(self) -> Iterator[bytes]:
        """The decompressed content of each complete zstandard frame, in order."""
        for _, data in self._located():
            yield data

    def _located(self) -> Iterator[tuple[int, bytes]]:
        """``(file offset, decompressed content)`` of each readable zstandard frame."""
        try:
            # Never blocks: a FIFO named like a segment opens at once (and is refused).
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise CaptureError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self._problem("unreadable", 0, 0, f"not a regular file: {_file_type(st.st_mode)}")
                return
            size = st.st_size
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

    def _frames(self, mm: mmap.mmap, size: int) -> Iterator[tuple[int, bytes]]:
        pos = 0
        new = zstandard.ZstdDecompressor().decompressobj
        cap = self.max_frame_bytes
        while pos < size:
            start = pos
            try:
                ext = _extent(mm, start, size, cap)
            except _Unreadable as exc:
                following = mm.find(_MAGIC, exc.resume if exc.resume > start else start + 1)
                if exc.kind == "truncated" and following == -1:
                    self._problem("truncated", start, size - start, exc.detail)
                    return
                end = following if following != -1 else size
                kind = "corrupt" if exc.kind == "truncated" else exc.kind
                self._problem(kind, start, end - start, exc.detail)
                pos = end
                continue
            pos = ext.end
            if ext.skippable:
                continue
            too_large = f"decompresses to more than {cap} bytes"
            if ext.content > cap or ext.lower > cap:
                self._problem("too-large", start, pos - start, too_large)
                continue
            try:
                if ext.upper <= cap:
                    # In one piece, sized by the header where it says (the recorder's do):
                    # the decompressor then gives up the GIL once per frame.
                    size_hint = ext.content if ext.content >= 0 else ext.upper
                    obj = new(write_size=min(size_hint, cap) + 1)
                    data = obj.decompress(mm[start:pos])
                else:
                    # Piece by piece, each about a MiB of output: stop at the cap.
                    obj = new(write_size=_CHUNK)
                    out: list[bytes] = []
                    total = 0
                    at = start
                    for cut in [*ext.cuts, pos]:
                        if cut <= at:
                            continue
                        chunk = obj.decompress(mm[at:cut])
                        at = cut
                        total += len(chunk)
                        if total > cap:
                            break
                        out.append(chunk)
                    if total > cap:
                        out.clear()
                        self._problem("too-large", start, pos - start, too_large)
                        continue
                    data = b"".join(out)
            except zstandard.ZstdError as exc:
                following = mm.find(_MAGIC, start + 1)
                end = following if following != -1 else size
                self._problem("corrupt", start, end - start, str(exc))
                pos = end
                continue
            if not obj.eof or len(data) > cap:
                following = mm.find(_MAGIC, start + 1)
                end = following if following != -1 else size
                self._problem("corrupt", start, end - start, "zstandard frame does not end")
                pos = end
                continue
            self.raw_bytes += len(data)
            yield start, data

    def __iter__(self) -> Iterator[Record]:
        first = True
        wall = mono = 0
        loads = orjson.loads
        skip = self.skip
        max_record = self.max_record_bytes
        #: The number of the next record in the segment (None once a skip hid it).
        number: int | None = 0
        for offset, data in self._located():
            pos, end = 0, len(data)
            find = data.find
            while pos < end:
                first_byte = data[pos]
                if skip is not None and first_byte == 0x46 and not first:
                    result = skip(data, pos, wall, mono)
                    if result[0] != pos:
                        if number is not None:
                            number = number + result[3] if len(result) > 3 else None
                        pos, wall, mono = result[0], result[1], result[2]
                        if pos >= end:
                            break
                        first_byte = data[pos]
                if first_byte == 0x7B:  # "{": a JSON record
                    nl = find(b"\n", pos)
                    if nl == -1:
                        detail = "record without end of line"
                        self._problem("record", offset, end - pos, detail, number, pos)
                        break
                    this, at = number, pos
                    if number is not None:
                        number += 1
                    if nl - pos > max_record:
                        detail = f"a record of {nl - pos} bytes, more than {max_record}"
                        self._problem("too-large", offset, nl + 1 - pos, detail, this, pos)
                        pos = nl + 1
                        continue
                    try:
                        obj = loads(data[pos:nl])
                        if type(obj) is not dict:
                            raise TypeError("not a JSON object")
                        kind = obj["k"]
                        t, m = obj["t"], obj["m"]
                        if type(kind) is not str or type(t) is not int or type(m) is not int:
                            raise TypeError('"k" must be a string, "t" and "m" integers')
                    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                        detail = f"{type(exc).__name__}: {exc}"
                        self._problem("record", offset, nl + 1 - pos, detail, this, pos)
                        pos = nl + 1
                        continue
                    wall, mono = t, m
                    pos = nl + 1
                    if first:
                        first = False
                        if kind != "header":
                            self._problem("record", offset, 0, _NO_HEADER, this, at)
                        else:
                            self.header = obj
                            if obj.get("format") != FORMAT_VERSION:
                                raise CaptureError(
                                    f"{self.path}: capture format {obj.get('format')!r} "
                                    f"is not {FORMAT_VERSION}"
                                )
                    if kind == "end":
                        self.ended = True
                    yield kind, wall, mono, None, obj
                    continue
                # A frame record: F<conn> <length> <d_wall> <d_mono>\n<length bytes>\n
                nl = find(b"\n", pos, pos + _MAX_HEAD)
                try:
                    if first_byte != 0x46 and first_byte != 0x42:
                        raise ValueError(f"unknown record type {bytes([first_byte])!r}")
                    if nl == -1:
                        raise ValueError("no frame record header line")
                    conn, length, dwall, dmono = data[pos + 1 : nl].split(b" ")
                    if not conn.isdigit() or not length.isdigit():
                        raise ValueError("connection and length must be digits")
                    start = nl + 1
                    stop = start + int(length)
                    if stop >= end or data[stop] != 0x0A:
                        raise ValueError("frame length does not match")
                    dw, dm = int(dwall), int(dmono)
                except ValueError as exc:
                    self._problem(
                        "record", offset, end - pos, f"bad frame record: {exc}", number, pos
                    )
                    break
                this = number
                if number is not None:
                    number += 1
                at = pos
                pos = stop + 1
                wall += dw
                mono += dm
                if first:
                    first = False
                    self._problem("record", offset, 0, _NO_HEADER, this, at)
                if stop - start > max_record:
                    detail = f"a frame of {stop - start} bytes, more than {max_record}"
                    self._problem("too-large", offset, pos - at, detail, this, at)
                    continue
                yield ("F" if first_byte == 0x46 else "B"), wall, mono, int(conn), data[start:stop]
        if first and not self.problems:
            self._problem("truncated", 0, 0, "no record")


_NO_HEADER = "segment does not start with a header"


def _file_type(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


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


def _discovered(problems: list[Problem] | None, problem: Problem) -> None:
    if problems is None:
        raise CaptureError(str(problem))
    problems.append(problem)


def _walk(top: Path, problems: list[Problem] | None) -> list[Path]:
    """Files named like segments under ``top``, following directory links but never a
    directory twice (a link loop ends there)."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            detail = f"cannot list the folder: {exc.strerror}"
            _discovered(problems, Problem(str(folder), "unreadable", 0, 0, detail))
            continue
        for entry in entries:
            if entry.name.endswith(SUFFIX):  # whatever it is: the reader says what it is not
                found.append(Path(entry.path))
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False  # a link loop or a dangling link: not a folder
            if is_dir:
                stack.append(Path(entry.path))
    return found


def _matches(parts: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    if not pattern:
        return not parts
    head = pattern[0]
    if head == "**":
        return any(_matches(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _matches(parts[1:], pattern[1:])


def _glob(text: str, problems: list[Problem] | None) -> list[Path]:
    """The glob ``text``'s segment files; ``**`` through :func:`_walk` (loop-safe)."""
    if "**" not in text:  # a fixed depth: cannot loop
        return [Path(x) for x in glob.glob(text) if x.endswith(SUFFIX)]
    parts = Path(text).parts
    fixed = 0
    while fixed < len(parts) and not glob.has_magic(parts[fixed]):
        fixed += 1
    base = Path(*parts[:fixed]) if fixed else Path(".")
    pattern = parts[fixed:]
    if not base.is_dir():
        return []
    return [f for f in _walk(base, problems) if _matches(f.relative_to(base).parts, pattern)]


def _once(paths: list[Path], problems: list[Problem] | None) -> list[Path]:
    """``paths`` with each file once (by device and inode), the shortest path kept."""
    by_file: dict[tuple[int, int], Path] = {}
    for path in sorted(paths, key=lambda q: (len(q.parts), str(q))):
        try:
            st = os.stat(path)
        except OSError as exc:
            detail = f"cannot read: {exc.strerror}"
            _discovered(problems, Problem(str(path), "unreadable", 0, 0, detail))
            continue
        by_file.setdefault((st.st_dev, st.st_ino), path)
    return sorted(by_file.values())


def find_segments(
    path: str | os.PathLike[str], *, problems: list[Problem] | None = None
) -> list[Path]:
    """Segment files at ``path``: a segment, a directory (searched recursively) or a glob.

    A file named like a segment is listed whatever it is (the reader refuses what is not
    a regular file, as a problem); each file once. A folder that cannot be listed (or a
    dangling link named like a segment) raises :class:`CaptureError`, or is appended to
    ``problems`` when a list is given.
    """
    text = os.fspath(path)
    p = Path(text)
    try:
        st = os.stat(p)
    except OSError as exc:
        if any(ch in text for ch in "*?["):
            found = _once(_glob(text, problems), problems)
            if not found:
                raise CaptureError(f"no capture segments (*{SUFFIX}) match {text}") from None
            return found
        if exc.errno == errno.ENOENT:
            raise CaptureError(f"no such file or directory: {text}") from None
        raise CaptureError(f"cannot read {text}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        if not p.name.endswith(SUFFIX):
            raise CaptureError(f"not a capture segment (*{SUFFIX}): {text}")
        return [p]
    found = _once(_walk(p, problems), problems)
    if not found:
        raise CaptureError(f"no capture segments (*{SUFFIX}) under {text}")
    return found


def open_capture(
    path: str | os.PathLike[str] | list[Any], *, problems: list[Problem] | None = None
) -> list[Run]:
    """The runs of the capture at ``path`` (or a list of paths), each in segment order.

    ``problems``: see :func:`find_segments` (without it, an unreadable folder raises).
    """
    paths = path if isinstance(path, list | tuple) else [path]
    segments: list[Path] = []
    for p in paths:
        segments.extend(find_segments(p, problems=problems))
    runs: dict[str, Run] = {}
    for seg in sorted(_once(segments, problems), key=_segment_key):
        run, _ = _segment_key(seg)
        runs.setdefault(run, Run(run)).segments.append(seg)
    return list(runs.values())
