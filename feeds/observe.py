"""The one observation seam of a :class:`~feeds.manager.BookManager`.

Everything that watches the live path (the capture recorder, the metrics watch, the
event iterator, and later publishers) is an *observer*: an object with any of the
hooks of :class:`Observer`, registered with ``manager.observe(observer)``. All of
them are called on the manager's event loop, in arrival order:

==========================================  ==============================================
hook                                        when
==========================================  ==============================================
``on_frame(conn, raw)``                     every frame a connection received, before it is
                                            parsed (``raw`` as the socket gave it)
``on_send(conn, text)``                     every text a connection sent (subscribe
                                            requests; the heartbeat's ``ping`` is not)
``on_connection(conn, state)``              ``"connected"`` / ``"disconnected"``
``on_pong(conn)``                           every ``pong`` (one heartbeat round trip)
``on_book(book)``                           a book was added
``on_decision(decision, sync, payload)``    every decision of every book's sync except the
                                            per-event ``applied`` (counted by the sync)
``on_depth(book, decision, frame)``         a ``depth_update`` was handled for ``book``:
                                            ``decision`` is what its sync did (``applied``,
                                            ``buffered``...); ``frame`` the raw frame as
                                            received, or the parsed
                                            :class:`~orderbook.DepthUpdate` (use
                                            :func:`depth_event` for either)
``on_snapshot_request(book)``               a REST snapshot was requested
``on_snapshot(book, snapshot, error)``      a snapshot (or its error) is handed to the book
==========================================  ==============================================

An observer defines only the hooks it needs (subclass :class:`Observer` for the rest,
or define them on any object); :class:`Observers` fans each hook out to the
observers that define it, so a hook nobody defines costs one ``is None`` test. An
observer that raises is counted (:attr:`Observers.errors`) and logged (throttled),
and the others and the books go on.

>>> class Gaps(Observer):
...     def __init__(self) -> None:
...         self.seen = []
...     def on_decision(self, decision, sync, payload) -> None:
...         self.seen.append(decision.value)
>>> observers = Observers()
>>> gaps = Gaps()
>>> observers.add(gaps)
>>> observers.on_frame is None, observers.on_decision is not None
(True, True)
>>> from orderbook import Decision
>>> observers.on_decision(Decision.GAP, None, None)
>>> gaps.seen
['gap']
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from orderbook import DepthUpdate, Venue, parse_depth_update

from .logthrottle import LogThrottle

log = logging.getLogger("wexbook.observe")

#: The hooks, in the order of the table above.
HOOKS = (
    "on_frame",
    "on_send",
    "on_connection",
    "on_pong",
    "on_book",
    "on_decision",
    "on_depth",
    "on_snapshot_request",
    "on_snapshot",
)


class Observer:
    """Base class of an observer: every hook does nothing (see the module docstring)."""

    def on_frame(self, conn: Any, raw: str | bytes) -> None:
        """A frame ``conn`` received, before it is parsed."""

    def on_send(self, conn: Any, text: str) -> None:
        """A text ``conn`` sent."""

    def on_connection(self, conn: Any, state: str) -> None:
        """``conn`` went ``"connected"`` or ``"disconnected"``."""

    def on_pong(self, conn: Any) -> None:
        """``conn`` received a ``pong``."""

    def on_book(self, book: Any) -> None:
        """A book (:class:`~feeds.manager.ManagedBook`) was added."""

    def on_decision(self, decision: Any, sync: Any, payload: object) -> None:
        """A decision of ``sync`` other than ``applied``."""

    def on_depth(self, book: Any, decision: Any, frame: Any) -> None:
        """A ``depth_update`` was handled for ``book`` (see the module docstring)."""

    def on_snapshot_request(self, book: Any) -> None:
        """A REST snapshot was requested for ``book``."""

    def on_snapshot(self, book: Any, snapshot: Any, error: BaseException | None) -> None:
        """A snapshot (or ``error``) is handed to ``book``."""


def depth_event(frame: str | bytes | DepthUpdate, venue: Venue) -> DepthUpdate:
    """The :class:`~orderbook.DepthUpdate` of an ``on_depth`` frame (parsed if it is raw)."""
    if isinstance(frame, DepthUpdate):
        return frame
    return parse_depth_update(frame, venue)


def _defines(observer: object, hook: str) -> bool:
    method = getattr(observer, hook, None)
    if method is None or not callable(method):
        return False
    base = getattr(Observer, hook)
    return getattr(type(observer), hook, None) is not base


class Observers:
    """The registered observers, each hook fanned out to those that define it.

    ``observers.on_frame`` (and every other hook name) is ``None`` when no observer
    defines it, else one callable that calls each of them in registration order.
    """

    on_frame: Callable[[Any, str | bytes], None] | None
    on_send: Callable[[Any, str], None] | None
    on_connection: Callable[[Any, str], None] | None
    on_pong: Callable[[Any], None] | None
    on_book: Callable[[Any], None] | None
    on_decision: Callable[[Any, Any, object], None] | None
    on_depth: Callable[[Any, Any, Any], None] | None
    on_snapshot_request: Callable[[Any], None] | None
    on_snapshot: Callable[[Any, Any, BaseException | None], None] | None

    def __init__(self) -> None:
        self.members: list[object] = []
        #: Exceptions raised by observers, by ``"ClassName.hook"``.
        self.errors: Counter[str] = Counter()
        self._throttle = LogThrottle(log, 10.0)
        self._rebuild()

    def add(self, observer: object) -> None:
        """Register ``observer`` (once; adding it again does nothing)."""
        if not any(member is observer for member in self.members):
            self.members.append(observer)
            self._rebuild()

    def remove(self, observer: object) -> None:
        """Unregister ``observer`` (nothing if it is not registered)."""
        self.members = [member for member in self.members if member is not observer]
        self._rebuild()

    def __contains__(self, observer: object) -> bool:
        return any(member is observer for member in self.members)

    def __len__(self) -> int:
        return len(self.members)

    def _rebuild(self) -> None:
        for hook in HOOKS:
            calls = [
                (f"{type(member).__name__}.{hook}", getattr(member, hook))
                for member in self.members
                if _defines(member, hook)
            ]
            setattr(self, hook, self._fan_out(calls) if calls else None)

    def _fan_out(self, calls: list[tuple[str, Callable[..., None]]]) -> Callable[..., None]:
        errors, throttle = self.errors, self._throttle

        def call(*args: Any) -> None:
            for name, function in calls:
                try:
                    function(*args)
                except Exception as exc:
                    errors[name] += 1
                    throttle.log(
                        logging.ERROR, name, "observer %s failed: %r; the books go on", name, exc
                    )

        return call
