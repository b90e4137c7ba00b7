"""What the board raises.

Reads of a book raise the :class:`~orderbook.BookNotLive` family, as in-process reads
do: the book's own state (``BookResyncing``...), or one of these when the board itself
cannot vouch for it:

- :class:`EngineDown` (a ``BookDisconnected``): the writer's heartbeat is older than the
  reader's bound: the engine died or hangs;
- :class:`BoardStopped` (a ``BookClosed``): the engine stopped cleanly;
- :class:`NoConsistentCopy`: no consistent copy of the slot in the bounded retries;
- :class:`LevelsDoNotFit`: the book's levels did not fit its slot's text capacity.

Everything else is a :class:`BoardError`: no such board, a board already served,
the compiled helper missing (:class:`BoardUnavailable`).
"""

from __future__ import annotations

from orderbook import BookClosed, BookDisconnected, BookNotLive, WexbookError


class BoardError(WexbookError):
    """The board cannot be created, found or attached."""


class BoardNotFound(BoardError):
    """No board of that name (no engine serves it)."""


class BoardInUse(BoardError):
    """Another live engine serves a board of that name."""


class BoardUnavailable(BoardError):
    """The board cannot run here (its compiled seqlock helper is not in use)."""


class BookNotOnBoard(BoardError, KeyError):
    """The board holds no book of that venue and symbol."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "book not on the board"


class EngineDown(BookDisconnected):
    """The engine's heartbeat is too old: it died or hangs (fail closed)."""


class BoardStopped(BookClosed):
    """The engine stopped and closed its board."""


class NoConsistentCopy(BookNotLive):
    """No consistent copy of the book could be read in the bounded retries."""


class LevelsDoNotFit(BookNotLive):
    """The engine could not fit the book's levels into its slot."""
