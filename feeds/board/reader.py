"""The board's reader: exact books from an engine in another process.

>>> reader = BoardReader("desk")                        # doctest: +SKIP
>>> view = reader.view("spot", "btc_usdt", 5)            # doctest: +SKIP
>>> reader.wait("spot", "btc_usdt", timeout=1.0)         # doctest: +SKIP

:meth:`BoardReader.view` returns the same immutable :class:`~orderbook.BookView` an
in-process ``manager.view`` returns (the same ``Decimal`` levels, update id, generation
and event time), or raises what an in-process read raises: the
:class:`~orderbook.BookNotLive` family, by the book's own state (``BookResyncing``...,
:func:`feeds.status.status_error`), or, when the board cannot vouch for the book,
:class:`~feeds.board.errors.EngineDown` (the writer's heartbeat is older than
``stale_after``: the engine died or hangs), :class:`~feeds.board.errors.BoardStopped`
(it stopped), :class:`~feeds.board.errors.NoConsistentCopy` (no consistent copy in
``retries`` attempts). A reader never serves a torn, stale or dead book.

:meth:`BoardReader.wait` blocks (a futex wait; the GIL is released and no core spins)
until the book's slot changes after this reader's last read of it, or the timeout.

A reader attaches to the board file without owning it: it maps it with ``os.open`` and
``mmap`` (no :mod:`multiprocessing.shared_memory`, whose resource tracker would remove
the board when the reader exits: CPython #82300) and never removes it. When the engine
stops or dies, the reader notices a new board under the same name (a restarted engine:
a new :attr:`BoardReader.epoch`) and reattaches by itself.
"""

from __future__ import annotations

import math
import os
import time
from decimal import Decimal
from typing import Any, NamedTuple

from orderbook import BookView, Decision, Level, SyncState

from ..status import cause_of, state_code, state_of, status_error
from . import layout
from .atomics import require
from .errors import (
    BoardError,
    BoardNotFound,
    BoardStopped,
    BookNotOnBoard,
    EngineDown,
    LevelsDoNotFit,
    NoConsistentCopy,
)

_DECIMALS_MAX = 1 << 16


class SlotCopy(NamedTuple):
    """One consistent copy of a book's slot, whatever its state (for tables and tools).

    A named tuple: immutable, and made in a fraction of a frozen dataclass's time (it is
    on the path from a publish to a reader's copy).
    """

    venue: str
    symbol: str
    state: SyncState | None  #: ``None``: the levels did not fit the slot
    cause: Decision | None
    reason: str | None
    update_id: int | None
    generation: int
    last_event_time: float | None
    publish_ns: int  #: ``CLOCK_MONOTONIC`` of the publish (compare with ``time.monotonic_ns``)
    sequence: int  #: the slot's seqlock counter at the copy
    bids: int
    asks: int
    text: bytes  #: the levels' exact spellings (see :mod:`feeds.board.layout`)

    def tokens(self) -> list[str]:
        """``[price, qty, ...]`` bids best first, then asks."""
        return self.text.decode("ascii").split(" ") if self.text else []


class BoardReader:
    """Reads the board ``name`` (see the module docstring).

    ``stale_after``: the heartbeat age (seconds) beyond which the engine counts as dead
    (default 1.0; the writer beats every 0.1 s). ``retries``: attempts at a consistent
    copy before :class:`~feeds.board.errors.NoConsistentCopy`. Raises
    :class:`~feeds.board.errors.BoardNotFound` when no such board exists.
    """

    def __init__(self, name: str, *, stale_after: float = 1.0, retries: int = 1000) -> None:
        self.name = layout.check_name(name)
        if not stale_after > 0:
            raise ValueError(f"stale_after must be positive, got {stale_after}")
        if retries < 1:
            raise ValueError(f"retries must be at least 1, got {retries}")
        self.helper = require()
        self.path = layout.board_path(name)
        self.stale_after = stale_after
        self._stale_ns = int(stale_after * 1e9)
        self.retries = retries
        self.region: Any = None
        #: The epoch of the attached board (a restarted engine has a new one).
        self.epoch = 0
        #: How many times this reader attached (1 + reattachments to new epochs).
        self.attachments = 0
        self.header: layout.Header | None = None
        self._file: tuple[int, int] = (0, 0)
        self._slots: dict[tuple[str, str], int] = {}
        self._seen: dict[int, int] = {}
        self._decimals: dict[str, Decimal] = {}
        #: Per book, the last view's levels (rebuilt only where their spelling changed).
        self._views: dict[tuple[str, str], Any] = {}
        self._attach()

    # -- attaching ----------------------------------------------------------------------

    def _attach(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise BoardNotFound(
                f"no board named {self.name!r} (start one: wexbook serve --board {self.name})"
            ) from None
        except PermissionError:
            raise BoardError(f"board {self.name!r}: no permission to open {self.path}") from None
        try:
            stat = os.fstat(fd)
            try:
                header = layout.unpack_header(os.pread(fd, layout.H_HEADER.size, 0))
            except ValueError as exc:
                raise BoardError(f"board {self.name!r}: {exc}") from None
            size = layout.HEADER_SIZE + header.slots * header.slot_size
            if stat.st_size < size:
                raise BoardError(f"board {self.name!r}: file shorter than its header says")
            region = self.helper.Region(fd, size)
        finally:
            os.close(fd)
        old = self.region
        self.region, self.header, self.epoch = region, header, header.epoch
        self._file = (stat.st_dev, stat.st_ino)
        self._slots.clear()
        self._seen.clear()
        self._views.clear()
        self.attachments += 1
        if old is not None:
            old.close()

    def _reattach(self) -> bool:
        """Attach to a new board under the same name, if there is one (True if so)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return False
        if (stat.st_dev, stat.st_ino) == self._file:
            return False
        try:
            self._attach()
        except BoardError:
            return False
        return True

    def close(self) -> None:
        """Unmap the board (it stays for the engine and the other readers)."""
        if self.region is not None:
            self.region.close()
            self.region = None

    def __enter__(self) -> BoardReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the engine ---------------------------------------------------------------------

    def _check_engine(self, venue: str, symbol: str) -> None:
        """Raise unless the engine is running and its heartbeat is fresh (reattaching to a
        restarted engine first)."""
        for _ in range(2):
            region = self.region
            if region is None:
                raise BoardError(f"board reader {self.name!r} is closed")
            if region.load(layout.H_STATE) == layout.STOPPED:
                if self._reattach():
                    continue
                raise BoardStopped(symbol, venue, SyncState.CLOSED, "the engine stopped its board")
            age = self.helper.now_ns() - region.load(layout.H_HEARTBEAT)
            if age > self._stale_ns:
                if self._reattach():
                    continue
                raise EngineDown(
                    symbol,
                    venue,
                    SyncState.DISCONNECTED,
                    f"the engine's heartbeat is {age / 1e9:.2f} s old (bound "
                    f"{self.stale_after:g} s): it died or hangs",
                )
            return

    def heartbeat_age(self) -> float:
        """Seconds since the engine's last heartbeat."""
        return (self.helper.now_ns() - self.region.load(layout.H_HEARTBEAT)) / 1e9

    def running(self) -> bool:
        """True when the engine runs and its heartbeat is within ``stale_after``."""
        try:
            self._check_engine("", "")
        except (BoardStopped, EngineDown):
            return False
        return True

    # -- slots ----------------------------------------------------------------------------

    def books(self) -> list[tuple[str, str]]:
        """``(venue, symbol)`` of every book on the board, in slot order."""
        self._index()
        return list(self._slots)

    def _index(self) -> None:
        region, header = self.region, self.header
        count = min(region.load(layout.H_BOOKS), header.slots)  # type: ignore[union-attr]
        for index in range(len(self._slots), count):
            slot = layout.HEADER_SIZE + index * header.slot_size  # type: ignore[union-attr]
            identity = layout.unpack_identity(region.get(slot, layout.IDENTITY_SIZE))
            self._slots[identity] = slot + layout.SEQ_AT

    def _slot(self, venue: str, symbol: str) -> int:
        key = (getattr(venue, "value", venue), symbol)
        slot = self._slots.get(key)
        if slot is None:
            self._index()
            slot = self._slots.get(key)
            if slot is None:
                raise BookNotOnBoard(f"board {self.name!r} has no {key[0]} {symbol} book")
        return slot

    def read(self, venue: str, symbol: str) -> SlotCopy:
        """A consistent copy of the book's slot, whatever its state (raises only when the
        engine is down or stopped, or no consistent copy could be read)."""
        venue = getattr(venue, "value", venue)
        self._check_engine(venue, symbol)
        return self._copy(venue, symbol)

    def _copy(self, venue: str, symbol: str) -> SlotCopy:
        slot = self._slot(venue, symbol)
        header = self.header
        got = self.region.read(
            slot,
            layout.HEAD_SIZE,
            layout.TEXT_LEN_AT,
            header.text_capacity,  # type: ignore[union-attr]
            self.retries,
        )
        if got is None:
            raise NoConsistentCopy(
                symbol,
                venue,
                "unreadable",
                f"no consistent copy of its board slot in {self.retries} attempts",
            )
        sequence, data = got
        self._seen[slot] = sequence
        update_id, generation, event_time, publish_ns, state, cause, reason_len, nb, na, _ = (
            layout.PAYLOAD_HEAD.unpack_from(data)
        )
        start = layout.PAYLOAD_HEAD.size
        reason = data[start : start + reason_len].decode("utf-8", "replace") or None
        return SlotCopy(
            venue,
            symbol,
            None if state == layout.UNFIT else state_of(state),
            cause_of(cause),
            reason,
            None if update_id < 0 else update_id,
            generation,
            None if math.isnan(event_time) else event_time,
            publish_ns,
            sequence,
            nb,
            na,
            data[layout.HEAD_SIZE :],
        )

    # -- views ----------------------------------------------------------------------------

    def view(self, venue: str, symbol: str, levels: int | None = None) -> BookView:
        """The book's top ``levels`` per side (all the board holds if ``None``), exact, as
        the in-process :class:`~orderbook.BookView`; raises the ``BookNotLive`` family
        (see the module docstring), ``BookNotOnBoard`` for a book the board does not hold,
        ``ValueError`` for more levels than the board holds."""
        venue = getattr(venue, "value", venue)
        if levels is not None and not 0 <= levels <= self.header.levels:  # type: ignore[union-attr]
            raise ValueError(
                f"board {self.name!r} holds {self.header.levels} levels per side, "  # type: ignore[union-attr]
                f"asked for {levels}"
            )
        self._check_engine(venue, symbol)
        return self.view_from(self._copy(venue, symbol), levels)

    def view_from(self, copy: SlotCopy, levels: int | None = None) -> BookView:
        """The :class:`~orderbook.BookView` of a copy :meth:`read` returned (what
        :meth:`view` returns, from that copy), or the ``BookNotLive`` it stands for."""
        venue, symbol = copy.venue, copy.symbol
        state = copy.state
        if state is not SyncState.LIVE:
            if state is None:
                raise LevelsDoNotFit(
                    symbol, venue, "unfit", "its levels do not fit the board's slot"
                )
            raise status_error(venue, symbol, state_code(state), copy.reason)
        nb, na = copy.bids, copy.asks
        wanted_b = nb if levels is None else min(nb, levels)
        wanted_a = na if levels is None else min(na, levels)
        decimals = self._decimals
        if len(decimals) > _DECIMALS_MAX:
            decimals.clear()
        cache = self._views.get((venue, symbol))
        if cache is None:
            cache = self._views[venue, symbol] = self.helper.ViewCache(self.header.levels)  # type: ignore[union-attr]
        bids, asks = cache.build(copy.text, nb, na, wanted_b, wanted_a, decimals, Level, Decimal)
        return BookView(
            symbol=symbol,
            venue=venue,
            state="live",
            update_id=copy.update_id,
            generation=copy.generation,
            last_event_time=copy.last_event_time,
            bids=bids,
            asks=asks,
            levels=levels,
            reason=copy.reason,
        )

    def wait(
        self, venue: str, symbol: str, timeout: float | None = None, *, spin: float = 0.0
    ) -> bool:
        """Block until the book's slot changes after this reader's last read of it (at once
        if it already did), or ``timeout`` seconds pass (``None``: no limit). True if it
        changed; raises ``EngineDown``/``BoardStopped`` when the engine dies or stops
        while waiting (within ``stale_after``).

        By default no core spins: a futex wait, woken by the writer (the wake-up costs
        the scheduler's latency: tens of microseconds, more where the CPU sat idle). ``spin``: poll
        the slot for up to that many seconds first (a core busy meanwhile), then sleep:
        for a reader with a core of its own, the lowest latency (``python -m bench.board
        --isolated`` measures both)."""
        venue = getattr(venue, "value", venue)
        self._check_engine(venue, symbol)
        slot = self._slot(venue, symbol)
        epoch = self.epoch
        seen = self._seen.get(slot)
        if seen is None:
            seen = self._seen[slot] = self.region.load(slot)
        deadline = None if timeout is None else time.monotonic() + timeout
        step = self.stale_after / 2
        if not 0 <= spin <= step:
            raise ValueError(f"spin must be within 0..{step:g} s, got {spin}")
        while True:
            left = step if deadline is None else min(step, deadline - time.monotonic())
            if left > 0 and self.region.wait(slot, seen, left, spin):
                return True
            self._check_engine(venue, symbol)
            if self.epoch != epoch:
                return True  # a new engine: everything changed
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def status_line(self) -> str:
        """One line: board name, epoch, engine pid, heartbeat age, books."""
        header = self.header
        return (
            f"board {self.name} epoch {self.epoch:x} pid {header.pid} "  # type: ignore[union-attr]
            f"heartbeat {self.heartbeat_age():.2f} s books {len(self.books())}"
        )
