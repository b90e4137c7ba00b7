"""A synchronous segment writer, for importers and tools (the live path uses the Recorder).

::

    with SegmentWriter(path, header) as w:       # the header record is written first
        w.frame(0, raw_bytes, wall_ns, mono_ns)
        w.record({"k": "snap", ...}, wall_ns, mono_ns)
        w.flush()                                # one independent zstandard frame

It writes exactly the format of :mod:`feeds.capture.format` (the recorder's), creates
the file exclusively (never overwrites) and ends it with an ``end`` record. Every
zstandard frame carries its content checksum; the header says which hash the records'
``hash`` fields are (``"hl"``: ``None``, the whole book, unless told otherwise).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import zstandard

from .format import FORMAT_VERSION, HASH_LEVELS, WRITE_CHECKSUM, wexbook_version


class SegmentWriter:
    """Writes one segment file (see the module docstring).

    ``hash_levels``: what the ``hash`` of the records given to it cover (the header's
    ``"hl"``; :func:`~feeds.capture.format.book_hash`'s ``levels``), unless ``header``
    says it. ``checksum``: zstandard's content checksum on every frame (only a test
    writing a capture as older versions did turns it off).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        header: dict[str, Any],
        *,
        level: int = 3,
        flush_bytes: int = 4 * 2**20,
        hash_levels: int | None = HASH_LEVELS,
        checksum: bool = WRITE_CHECKSUM,
    ) -> None:
        self.path = Path(path)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=checksum)
        self._chunks: list[bytes] = []
        self._size = 0
        self._flush_bytes = flush_bytes
        self._wall = self._mono = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.frames = 0
        head = {
            "k": "header",
            "format": FORMAT_VERSION,
            "wexbook": wexbook_version(),
            "hl": hash_levels,
            **header,
        }
        self.record(head, head.get("t", 0), head.get("m", 0))

    def __enter__(self) -> SegmentWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def frame(self, conn: int, data: bytes | str, wall_ns: int, mono_ns: int) -> None:
        """One websocket frame, as received."""
        kind = b"F"
        if isinstance(data, str):
            data = data.encode()
        elif not isinstance(data, bytes):
            data = bytes(data)
        self._add(
            b"%s%d %d %d %d\n" % (kind, conn, len(data), wall_ns - self._wall, mono_ns - self._mono)
        )
        self._add(data)
        self._add(b"\n")
        self._wall, self._mono = wall_ns, mono_ns
        self.frames += 1
        self.bytes_in += len(data)
        if self._size >= self._flush_bytes:
            self.flush()

    def record(self, record: dict[str, Any], wall_ns: int, mono_ns: int) -> None:
        """One JSON record (``"k"`` names its kind); its times are set to those given."""
        record = {**record, "t": wall_ns, "m": mono_ns}
        self._add(orjson.dumps(record))
        self._add(b"\n")
        self._wall, self._mono = wall_ns, mono_ns
        if self._size >= self._flush_bytes:
            self.flush()

    def _add(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)

    def flush(self) -> None:
        """Write what is pending as one independent zstandard frame."""
        if not self._chunks:
            return
        frame = self._compressor.compress(b"".join(self._chunks))
        self._file.write(frame)
        self.bytes_out += len(frame)
        self._chunks.clear()
        self._size = 0

    def close(self) -> None:
        """Write the ``end`` record, flush and close."""
        if self._file.closed:
            return
        self.record({"k": "end"}, self._wall, self._mono)
        self.flush()
        self._file.close()
