"""Which memory primitives the board uses: the compiled seqlock helper, or none.

The board's seqlock needs ordered loads and stores across processes (acquire/release
and fences). :mod:`feeds.board._seqlock` (Cython, C11 ``__atomic`` builtins) gives them
on every CPU the compiler targets. Pure Python cannot: CPython makes no promise about
the order in which two writes into a shared mapping become visible to another
process, and on a weakly ordered CPU (ARM) a reader could accept a torn copy. So there
is no pure-Python board: when the helper is not built, or ``WEXBOOK_PURE`` is set (to
anything but ``""`` or ``"0"``, as for :mod:`orderbook.accel`), the board refuses with
:class:`~feeds.board.errors.BoardUnavailable` and says why. The futex waits are Linux's
(the board lives in ``/dev/shm``).

:data:`AVAILABLE` says whether the board can run; :data:`UNAVAILABLE` why not;
:func:`require` returns the helper or raises.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

from .errors import BoardUnavailable

_helper: ModuleType | None
try:
    from . import _seqlock as _helper  # type: ignore[attr-defined,no-redef]
except ImportError as exc:  # no compiler at install time, or a pure install
    _helper = None
    #: Why the board cannot run (``None`` when it can).
    UNAVAILABLE: str | None = (
        "its compiled seqlock helper is not built in this install (no C compiler, or "
        "WEXBOOK_NO_EXTENSION was set)"
        if importlib.util.find_spec(f"{__package__}._seqlock") is None
        else f"its compiled seqlock helper does not load ({exc})"
    )
else:
    from sortedcontainers import SortedDict

    from orderbook import Venue
    from orderbook.book import number_text

    UNAVAILABLE = None
    _helper.configure(number_text)
    _helper.configure_sides(SortedDict)
    _helper.configure_venues(Venue.SPOT)

if UNAVAILABLE is None and os.environ.get("WEXBOOK_PURE", "") not in ("", "0"):
    UNAVAILABLE = (
        "WEXBOOK_PURE is set, and a pure-Python seqlock cannot order its reads and writes "
        "across processes"
    )
if UNAVAILABLE is None and not sys.platform.startswith("linux"):
    UNAVAILABLE = "the board needs Linux shared memory (/dev/shm)"

#: True if the board can run in this process.
AVAILABLE = UNAVAILABLE is None


def require() -> ModuleType:
    """The compiled helper, or :class:`BoardUnavailable` saying why the board cannot run."""
    if UNAVAILABLE is not None or _helper is None:
        raise BoardUnavailable(f"the shared-memory board is unavailable: {UNAVAILABLE}")
    return _helper
