"""The book board: exact books in shared memory, for other processes on this machine.

One engine process (``wexbook serve --board NAME``, or :func:`publish_board` on a
running :class:`~feeds.manager.BookManager`) publishes every book's top levels into a
shared-memory file, one fixed-size slot per book written under a seqlock
(:mod:`feeds.board.layout`, :mod:`feeds.board.writer`). Any number of local processes
read them with :class:`BoardReader` (:mod:`feeds.board.reader`): the same
:class:`~orderbook.BookView` and the same :class:`~orderbook.BookNotLive` exceptions as
in-process reads, failing closed when the engine dies (:mod:`feeds.board.errors`). The
memory ordering comes from a compiled helper (:mod:`feeds.board.atomics`).
"""

from .atomics import AVAILABLE, UNAVAILABLE
from .errors import (
    BoardError,
    BoardInUse,
    BoardNotFound,
    BoardStopped,
    BoardUnavailable,
    BookNotOnBoard,
    EngineDown,
    LevelsDoNotFit,
    NoConsistentCopy,
)
from .reader import BoardReader, SlotCopy
from .writer import BoardWriter, publish_board

__all__ = [
    "AVAILABLE",
    "UNAVAILABLE",
    "BoardError",
    "BoardInUse",
    "BoardNotFound",
    "BoardReader",
    "BoardStopped",
    "BoardUnavailable",
    "BoardWriter",
    "BookNotOnBoard",
    "EngineDown",
    "LevelsDoNotFit",
    "NoConsistentCopy",
    "SlotCopy",
    "publish_board",
]
