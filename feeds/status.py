"""A book's status as small stable numbers: what books carry out of the process.

The shared-memory board and the broker streams tell their readers, with every book,
the same thing a :class:`~orderbook.BookSync` tells in-process: its
:class:`~orderbook.SyncState`, what took it out of LIVE (:attr:`BookSync.cause`, a
:class:`~orderbook.Decision`), the reason text, its update id and generation. Numbers
travel better than names, so each state and cause has a code here that never changes
meaning (new ones are only appended). A reader turns a status back into the exception
an in-process read raises with :func:`not_live_error` (``BookResyncing`` for a
resyncing book...).

>>> from orderbook import SyncState, Decision
>>> state_code(SyncState.LIVE), state_code(SyncState.DISCONNECTED)
(0, 4)
>>> cause_code(Decision.GAP), cause_of(cause_code(Decision.FEED_DOWN))
(1, <Decision.FEED_DOWN: 'feed-down'>)
>>> error = status_error("spot", "btc_usdt", state_code(SyncState.RESYNCING), "sequence gap")
>>> type(error).__name__, str(error)
('BookResyncing', 'spot btc_usdt book is resyncing, not live (sequence gap)')
"""

from __future__ import annotations

from dataclasses import dataclass

from orderbook import BookNotLive, BookSync, Decision, SyncState, not_live_error

#: State codes, by state (0 is LIVE: the only state a reader may serve).
STATES: tuple[SyncState, ...] = (
    SyncState.LIVE,
    SyncState.SYNCING,
    SyncState.RESYNCING,
    SyncState.STALE,
    SyncState.DISCONNECTED,
    SyncState.CLOSED,
)
#: Cause codes: what took a book out of LIVE (0: nothing, the book is LIVE or syncing).
CAUSES: tuple[Decision | None, ...] = (
    None,
    Decision.GAP,
    Decision.CROSSED,
    Decision.MALFORMED,
    Decision.OVERFLOW,
    Decision.NO_PROGRESS,
    Decision.FEED_DOWN,
    Decision.MARKED_STALE,
    Decision.RESYNC_REQUESTED,
    Decision.CLOSED,
    Decision.ID_RESET,
)
_STATE_CODES = {state: code for code, state in enumerate(STATES)}
_CAUSE_CODES = {cause: code for code, cause in enumerate(CAUSES)}


def state_code(state: SyncState) -> int:
    """The code of ``state``."""
    return _STATE_CODES[state]


def state_of(code: int) -> SyncState:
    """The state of ``code`` (``ValueError`` for a code no version of wexbook wrote)."""
    if not 0 <= code < len(STATES):
        raise ValueError(f"unknown book state code {code}")
    return STATES[code]


def cause_code(cause: Decision | None) -> int:
    """The code of ``cause`` (a decision that is not a cause of leaving LIVE counts as 0)."""
    return _CAUSE_CODES.get(cause, 0)


def cause_of(code: int) -> Decision | None:
    """The cause of ``code`` (``None`` for 0 or a code this version does not know)."""
    return CAUSES[code] if 0 <= code < len(CAUSES) else None


@dataclass(frozen=True, slots=True)
class BookStatus:
    """A book's status, as the engine knows it (see the module docstring)."""

    venue: str
    symbol: str
    state: SyncState
    cause: Decision | None
    reason: str | None
    update_id: int | None
    generation: int

    @property
    def is_live(self) -> bool:
        """True when the book may be served."""
        return self.state is SyncState.LIVE

    def error(self) -> BookNotLive:
        """What a read of this book raises (see :func:`not_live_error`)."""
        return not_live_error(self.symbol, self.venue, self.state, self.reason)


def status_of(sync: BookSync) -> BookStatus:
    """The status of ``sync`` now."""
    return BookStatus(
        sync.venue.value,
        sync.symbol,
        sync.state,
        sync.cause,
        sync.reason,
        sync.update_id,
        sync.generation,
    )


def status_error(venue: str, symbol: str, code: int, reason: str | None) -> BookNotLive:
    """The exception an in-process read of a book in state ``code`` raises."""
    return not_live_error(symbol, venue, state_of(code), reason)
