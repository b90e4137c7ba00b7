"""A synchronous, thread-backed handle on :class:`~feeds.manager.BookManager`.

For quant code that is not async::

    with ThreadedBookManager(spot_ws_url=..., spot_rest_url=...) as manager:
        book = manager.add("spot", "btc_usdt")
        book.wait_live(timeout=10)
        view = book.view()          # an immutable BookView, from any thread
        recorder = manager.record("cap/")  # optional: capture the feeds (see feeds.capture)

The manager runs in its own event loop on a daemon thread. Every call from
other threads is handed to that loop (``run_coroutine_threadsafe``); reads
take the book's lock, so a view is always a consistent copy even while
updates apply.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from orderbook import BookView, Venue

from .manager import BookManager, ManagedBook

if TYPE_CHECKING:
    from .capture import Recorder

T = TypeVar("T")


class BookHandle:
    """One book of a :class:`ThreadedBookManager`, readable from any thread."""

    def __init__(self, owner: ThreadedBookManager, book: ManagedBook) -> None:
        self._owner = owner
        self._book = book
        self.venue = book.venue
        self.symbol = book.symbol

    def view(self, levels: int | None = 20, *, allow_stale: bool = False) -> BookView:
        """An immutable view; raises ``BookNotLive`` unless LIVE or ``allow_stale``."""
        with self._book.lock:
            return self._book.sync.view(levels, allow_stale=allow_stale)

    @property
    def state(self) -> str:
        """The book's sync state, e.g. ``"live"``."""
        return self._book.sync.state.value

    def wait_live(self, timeout: float = 30.0, poll: float = 0.01) -> bool:
        """Block until the book is LIVE (True) or ``timeout`` seconds pass (False)."""
        end = time.monotonic() + timeout
        while not self._book.sync.is_live:
            if time.monotonic() > end:
                return False
            time.sleep(poll)
        return True

    def __repr__(self) -> str:
        return f"BookHandle({self.venue.value} {self.symbol}, state={self.state})"


class ThreadedBookManager:
    """Runs a :class:`BookManager` (same keyword arguments) on a background event loop."""

    def __init__(self, **manager_options: Any) -> None:
        self._options = manager_options
        self._recorders: list[Recorder] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="wexbook")
        self._thread.start()
        self.manager: BookManager = self._call(self._create())

    async def _create(self) -> BookManager:
        manager = BookManager(**self._options)
        await manager.start()
        return manager

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> ThreadedBookManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, venue: Venue | str, symbol: str) -> BookHandle:
        """Start keeping ``symbol``'s book on ``venue``; returns its handle."""
        return BookHandle(self, self._call(self.manager.add(venue, symbol)))

    def book(self, venue: Venue | str, symbol: str) -> BookHandle:
        """The handle of a book already added."""
        return BookHandle(self, self.manager.book(venue, symbol))

    def record(self, directory: str | os.PathLike[str], **options: Any) -> Recorder:
        """Start recording the manager into ``directory`` (a capture); returns the recorder.

        ``options`` are :class:`~feeds.capture.Recorder`'s. Stop it with its ``close()``
        (from any thread), or let :meth:`close` stop it with the manager.
        """
        from .capture import Recorder

        recorder = Recorder(directory, **options)

        async def attach() -> Recorder:
            return recorder.attach(self.manager)

        self._recorders.append(self._call(attach()))
        return recorder

    def stats(self) -> dict[str, Any]:
        """The manager's counters (taken in its loop)."""

        async def take() -> dict[str, Any]:
            return self.manager.stats()

        return self._call(take())

    def close(self) -> None:
        """Close the manager and stop its thread."""
        if not self._loop.is_running():
            return
        try:
            for recorder in self._recorders:
                recorder.close()  # its last checkpoints are taken on the loop
            self._call(self.manager.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()
