"""Exceptions raised by the order-book core.

Every exception derives from :class:`WexbookError`, so a caller can catch the
whole family at once, and each names exactly what went wrong.
"""

from __future__ import annotations


class WexbookError(Exception):
    """Base class of every error raised by wexbook."""


class MalformedEvent(WexbookError, ValueError):
    """A frame or payload could not be turned into an event.

    ``raw`` holds the offending text or object (truncated to 512 characters
    for text), so that it can be logged and counted by the caller.
    """

    def __init__(self, message: str, raw: object = None) -> None:
        super().__init__(message)
        if isinstance(raw, (bytes, bytearray, memoryview)):
            raw = bytes(raw)[:512].decode("utf-8", "replace")
        elif isinstance(raw, str):
            raw = raw[:512]
        self.raw = raw


class InvalidLevel(WexbookError, ValueError):
    """A price or quantity is not a valid non-negative decimal number."""


class BookNotLive(WexbookError):
    """The book cannot be served as in-sync right now.

    Raised by reads of a book that is not LIVE, unless the caller explicitly
    asked for a possibly stale view. ``state`` is the book's
    :class:`~orderbook.sync.SyncState` and ``reason`` says why it left LIVE.
    """

    def __init__(self, symbol: str, venue: str, state: object, reason: str | None) -> None:
        self.symbol = symbol
        self.venue = venue
        self.state = state
        self.reason = reason
        text = f"{venue} {symbol} book is {getattr(state, 'value', state)}, not live"
        if reason:
            text += f" ({reason})"
        super().__init__(text)


class BookSyncing(BookNotLive):
    """The book is waiting for its first snapshot."""


class BookResyncing(BookNotLive):
    """The book lost sequence (gap, overflow, crossed, bad frame) and awaits a snapshot."""


class BookStale(BookNotLive):
    """The owner marked the book stale: no data arrived for too long."""


class BookDisconnected(BookNotLive):
    """The feed that keeps the book current is down; it resyncs once the feed is back."""


class BookClosed(BookNotLive):
    """The book was closed and will not be updated again."""
