"""The board's writer: an observer of a :class:`~feeds.manager.BookManager` that publishes
every book's top levels into shared memory.

>>> writer = BoardWriter("desk", levels=20)           # doctest: +SKIP
>>> writer.attach(manager)                            # doctest: +SKIP
>>> ...                                               # doctest: +SKIP
>>> writer.close()                                    # doctest: +SKIP

(:func:`publish_board` does the first two.) The writer publishes a book's slot after
every ``depth_update`` its sync applied (``on_depth`` with ``applied``) and after every
other decision of its sync (``on_decision``: snapshot accepted, gap, feed down, stale,
closed...), so a slot's state is the book's state as soon as the manager decided it.
A LIVE book's slot carries its top ``levels`` per side as exact text; a book that is not
LIVE carries its state, cause and reason and no levels (it is never served).

Publishing happens on the manager's event loop, under the book's lock, through the
compiled seqlock (:mod:`feeds.board.atomics`). The writer beats a heartbeat into the
header every ``heartbeat`` seconds from the same loop, so a loop that hangs stops the
heartbeat too, and readers fail closed.

Lifecycle: :meth:`BoardWriter.open` creates the board under a new epoch and holds an
exclusive ``flock`` on it for the engine's life. A board file that is already there is
either served (its lock is held: :class:`~feeds.board.errors.BoardInUse`) or the
leftover of an engine that died (nobody holds its lock: it is replaced, atomically, and
:attr:`BoardWriter.reclaimed` says so). :meth:`BoardWriter.close` marks the board
stopped, wakes every waiting reader and removes the file. Readers never remove it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import glob
import logging
import os
import time
from typing import Any

from orderbook import Decision, SyncState

from ..status import cause_code, state_code
from . import layout
from .atomics import require
from .errors import BoardError, BoardInUse

log = logging.getLogger("wexbook.board")

_APPLIED = Decision.APPLIED
_LIVE = SyncState.LIVE


class BoardWriter:
    """Publishes a manager's books on the board ``name`` (see the module docstring).

    ``levels`` per side (default 20), room for ``slots`` books (default 256), a heartbeat
    every ``heartbeat`` seconds (default 0.1).
    """

    def __init__(
        self, name: str, *, levels: int = 20, slots: int = 256, heartbeat: float = 0.1
    ) -> None:
        self.name = layout.check_name(name)
        if not 1 <= levels <= 1000:
            raise ValueError(f"levels must be within 1..1000, got {levels}")
        if not 1 <= slots <= 65536:
            raise ValueError(f"slots must be within 1..65536, got {slots}")
        if not 0.001 <= heartbeat <= 10:
            raise ValueError(f"heartbeat must be within 0.001..10 s, got {heartbeat}")
        self.helper = require()
        self.geometry = layout.Geometry(slots, levels)
        self.levels = levels
        self.heartbeat = heartbeat
        self.path = layout.board_path(name)
        #: The epoch of this engine's board (random, new at every open).
        self.epoch = 0
        #: True when :meth:`open` replaced the leftover of an engine that died.
        self.reclaimed = False
        #: Books that found no free slot.
        self.overflow = 0
        self.region: Any = None
        self._fd: int | None = None
        self._slots: dict[tuple[Any, str], tuple[int, Any]] = {}
        self._manager: Any = None
        self._beat_handle: asyncio.TimerHandle | None = None
        #: Exact spellings of float prices and quantities already published.
        self._texts: dict[float, str] = {}
        self._publisher: Any = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------

    def open(self) -> BoardWriter:
        """Create the board (a new epoch), reclaiming the leftover of a dead engine."""
        if self.region is not None:
            return self
        self._reclaim_partial()
        tmp = f"{self.path}.{os.getpid()}.new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, self.geometry.size)
            region = self.helper.Region(fd, self.geometry.size)
            self.epoch = int.from_bytes(os.urandom(8), "little") >> 1 or 1
            interval = int(self.heartbeat * 1e9)
            region.put(0, layout.pack_header(self.geometry, self.epoch, os.getpid(), interval))
            region.store(layout.H_CREATED, time.time_ns())
            region.store(layout.H_HEARTBEAT, self.helper.now_ns())
            region.store(layout.H_STATE, layout.RUNNING)
            region.store(layout.H_BOOKS, 0)
            publisher = self.helper.Publisher(
                region,
                self.levels,
                self._texts,
                layout.HEAD_SIZE,
                self.geometry.text_capacity,
                layout.REASON_MAX,
                _LIVE,
                layout.UNFIT,
                {state: state_code(state) for state in SyncState},
                {cause: cause_code(cause) for cause in Decision},
                layout.encode_reason,
                _APPLIED,
            )
            self._install(fd, tmp)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self.region, self._fd, self._publisher = region, fd, publisher
        # The depth hook is the publisher's own (one compiled call per applied update).
        self.on_depth = publisher.on_depth  # type: ignore[method-assign]
        return self

    def _install(self, fd: int, tmp: str) -> None:
        """Put the new board under its name: atomically, and only over a dead one."""
        for _ in range(5):
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass
            else:
                os.unlink(tmp)
                return
            try:
                old = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # its engine removed it just now: try again
            try:
                try:
                    fcntl.flock(old, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pid = _pid_of(old)
                    raise BoardInUse(
                        f"board {self.name!r} is served by a running engine (pid {pid}); "
                        "stop it first or choose another name"
                    ) from None
                # Nobody holds it: the leftover of an engine that died. Replace it.
                if os.fstat(old).st_ino != os.stat(self.path).st_ino:
                    continue
                os.rename(tmp, self.path)
                self.reclaimed = True
                log.warning(
                    "board %s: reclaimed the leftover of a dead engine (pid %s)",
                    self.name,
                    _pid_of(old),
                )
                return
            finally:
                os.close(old)
        raise BoardError(f"board {self.name!r}: could not install the board file")

    def _reclaim_partial(self) -> None:
        """Remove half-created board files of dead engines (``NAME.<pid>.new``)."""
        for path in glob.glob(glob.escape(self.path) + ".*.new"):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another engine is creating it now
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            finally:
                os.close(fd)

    def attach(self, manager: Any) -> BoardWriter:
        """Open the board (if needed), publish ``manager``'s books and observe it.

        Call it on the manager's event loop (the heartbeat runs there).
        """
        self.open()
        self._manager = manager
        for book in list(manager.books.values()):
            self.on_book(book)
        manager.observe(self)
        loop = manager.loop or asyncio.get_running_loop()
        self._beat_handle = loop.call_later(self.heartbeat, self._beat, loop)
        return self

    def _beat(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.region is None:
            return
        self.region.store(layout.H_HEARTBEAT, self.helper.now_ns())
        self._beat_handle = loop.call_later(self.heartbeat, self._beat, loop)

    def beat(self) -> None:
        """Beat the heartbeat now (the writer does it every ``heartbeat`` seconds)."""
        if self.region is not None:
            self.region.store(layout.H_HEARTBEAT, self.helper.now_ns())

    def close(self) -> None:
        """Mark the board stopped, wake every waiting reader, remove the board file."""
        if self.region is None or self._closed:
            return
        self._closed = True
        if self._beat_handle is not None:
            self._beat_handle.cancel()
        if self._manager is not None:
            self._manager.unobserve(self)
        region, fd = self.region, self._fd
        region.store(layout.H_STATE, layout.STOPPED)
        for book, _ in list(self._slots.values()):
            self.publish(book)  # bumps every slot: waiting readers wake and see the stop
        try:
            if os.stat(self.path).st_ino == os.fstat(fd).st_ino:  # type: ignore[arg-type]
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.region = None
        region.close()
        os.close(fd)  # type: ignore[arg-type]
        self._fd = None

    def __enter__(self) -> BoardWriter:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- observer hooks ----------------------------------------------------------------

    def on_book(self, book: Any) -> None:
        """A book was added: give it a slot and publish it."""
        key = (book.venue, book.symbol)
        if self.region is None:
            return
        known = self._slots.get(key)
        if known is not None:
            if known[0] is not book:  # the symbol was added again: its new book
                self._slots[key] = (book, known[1])
                self._publisher.add(book, known[1])
                self.publish(book)
            return
        index = len(self._slots)
        if index >= self.geometry.slots:
            self.overflow += 1
            log.warning("board %s is full: %s %s is not published", self.name, *key)
            return
        slot = self.geometry.slot_at(index)
        self.region.put(slot, layout.pack_identity(book.venue, book.symbol))
        self._slots[key] = (book, slot + layout.SEQ_AT)
        self._publisher.add(book, slot + layout.SEQ_AT)
        self.publish(book)
        self.region.store(layout.H_BOOKS, index + 1)

    def on_depth(self, book: Any, decision: Decision, frame: Any) -> None:
        """A ``depth_update`` was handled: publish the book if it was applied."""
        if decision is _APPLIED:
            self.publish(book)

    def on_decision(self, decision: Decision, sync: Any, payload: object) -> None:
        """Any other decision of a book's sync: publish its new state."""
        entry = self._slots.get((sync.venue, sync.symbol))
        if entry is not None:
            self.publish(entry[0])

    # -- publishing ----------------------------------------------------------------------

    def publish(self, book: Any) -> None:
        """Write ``book``'s slot now (state, ids, reason, and its levels when LIVE)."""
        entry = self._slots.get((book.venue, book.symbol))
        if entry is None or self.region is None or self._publisher is None:
            return
        self._publisher.publish(book, entry[1])

    @property
    def published(self) -> int:
        """Publishes done."""
        return 0 if self._publisher is None else self._publisher.published

    def stats(self) -> dict[str, Any]:
        """Counters: books on the board, publishes (of them, applied frames patched onto
        the last publish, and patches the check against the book refused), books that
        found no slot."""
        publisher = self._publisher
        return {
            "books": len(self._slots),
            "published": self.published,
            "patched": 0 if publisher is None else publisher.patched,
            "patch_misses": 0 if publisher is None else publisher.patch_misses,
            "overflow": self.overflow,
        }


def _pid_of(fd: int) -> int | str:
    try:
        return layout.unpack_header(os.pread(fd, layout.H_HEADER.size, 0)).pid
    except (OSError, ValueError):
        return "unknown"


def publish_board(manager: Any, name: str, **options: Any) -> BoardWriter:
    """Publish ``manager``'s books on the board ``name`` (on its running loop); returns
    the :class:`BoardWriter` (close it to remove the board)."""
    return BoardWriter(name, **options).attach(manager)
