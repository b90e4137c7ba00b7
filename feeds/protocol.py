"""The websocket protocol of one WEX market connection, sans I/O.

:class:`FeedProtocol` knows what to send and what a received text means, and
nothing about sockets or clocks (time is passed in), so the asyncio adapter
stays thin and the protocol is tested without a network:

- ``subscribe``/``unsubscribe`` build the documented requests (spot lowercase
  ``subscribe``, futures ``SUBSCRIBE``) with a fresh ``id``; the ack
  ``{"id", "code", "msg"}`` is matched back to them (``code`` 0 is success).
- ``receive(text)`` turns one received text into an :class:`Ack`,
  :class:`Pong`, a :class:`~feeds.topics.Push`, or a :class:`BadFrame`
  (malformed frame or unknown topic, counted, with its raw text); it never
  raises for bad input.
- Heartbeat: :meth:`ping_due` says when to send the text ``ping`` (every
  ``ping_interval``, :data:`PING_INTERVAL` = 1 s by default: four bytes a
  second, nothing next to the frame rate, and far inside the server's window,
  which closes a connection that sent no ping for 60 s on spot, 30 s on
  futures); :meth:`death` says when, and why, the connection must be dropped:
  nothing at all received for ``dead_after`` s (:data:`SILENCE_TIMEOUT`, 2 s:
  a live link answers every ping within a round trip, so two seconds of
  silence means the peer stopped talking even on a quiet market), or a
  ``ping`` unanswered for ``pong_timeout`` s (:data:`PONG_TIMEOUT`, 2 s).
  So a link that goes silent is known dead within about 2 s (the asyncio
  layer checks four times a second), not after the 10 s no-update watchdog.
- :attr:`FeedProtocol.heard` counts everything received: the owner compares
  it before and after a REST request to know whether the link showed itself
  alive in between.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from orderbook import MalformedEvent, Venue

from .topics import Push, UnknownTopic, parse_message

#: Seconds without a ping after which the server closes the connection (API document).
SERVER_PING_WINDOW = {Venue.SPOT: 60.0, Venue.FUTURES: 30.0}
#: Default seconds between two text pings.
PING_INTERVAL = 1.0
#: Default seconds of complete silence (nothing received) after which a link is dead.
SILENCE_TIMEOUT = 2.0
#: Default seconds a ping may stay unanswered before the link is dead.
PONG_TIMEOUT = 2.0
SPOT_PUBLIC_URL = "wss://stream.wexex.io/public"
FUTURES_MARKET_URL = "wss://fstream.wexex.io/ws/market"


@dataclass(frozen=True, slots=True)
class Ack:
    """The server's answer to one (un)subscribe request."""

    id: str
    ok: bool
    code: object
    msg: str
    method: str
    params: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Pong:
    """The server's ``pong``."""


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A received text that could not be used; ``kind`` is ``malformed`` or ``unknown_topic``."""

    kind: str
    error: str
    raw: str


Received = Ack | Pong | Push | BadFrame


class FeedProtocol:
    """Protocol state of one connection to ``venue``'s public market stream."""

    def __init__(
        self,
        venue: Venue | str,
        *,
        ping_interval: float | None = None,
        dead_after: float | None = None,
        pong_timeout: float = PONG_TIMEOUT,
        now: float = 0.0,
        parse: Callable[[Any, str | bytes, Venue], Push] = parse_message,
        request_fields: dict[str, Any] | None = None,
    ) -> None:
        self.venue = Venue(venue)
        #: Turns a push's decoded message into a :class:`~feeds.topics.Push`:
        #: ``parse(msg, raw, venue)`` (private streams differ). A frame is decoded once.
        self.parse = parse
        #: Extra fields of every (un)subscribe request (the spot private ``listenKey``).
        self.request_fields = request_fields if request_fields is not None else {}
        window = SERVER_PING_WINDOW[self.venue]
        self.ping_interval = ping_interval if ping_interval is not None else PING_INTERVAL
        if not 0 < self.ping_interval < window:
            raise ValueError(f"ping_interval must be above 0 and below the server's {window:g} s")
        self.dead_after = dead_after if dead_after is not None else SILENCE_TIMEOUT
        if pong_timeout <= 0 or self.dead_after <= 0:
            raise ValueError("pong_timeout and dead_after must be above 0")
        self.pong_timeout = pong_timeout
        self.subscriptions: set[str] = set()
        self.counts: Counter[str] = Counter()
        self._ids = itertools.count(1)
        self._requests: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.last_ping = now
        #: When the oldest unanswered ping was sent (``None``: none is outstanding).
        self.ping_outstanding_since: float | None = None
        self.last_heard = now
        #: Texts received so far (any kind: every one shows the link alive).
        self.heard = 0

    # -- requests ----------------------------------------------------------------

    def _request(self, method: str, params: list[str]) -> str:
        if not params:
            raise ValueError(f"{method} needs at least one topic")
        request_id = str(next(self._ids))
        if self.venue is Venue.FUTURES:
            method = method.upper()
        self._requests[request_id] = (method, tuple(params))
        request = {"method": method, "params": params, **self.request_fields, "id": request_id}
        return orjson.dumps(request).decode()

    def subscribe(self, params: list[str]) -> str:
        """The text of a subscribe request for ``params`` (e.g. ``["depth_update@btc_usdt"]``)."""
        self.subscriptions.update(params)
        return self._request("subscribe", params)

    def unsubscribe(self, params: list[str]) -> str:
        """The text of an unsubscribe request for ``params``."""
        self.subscriptions.difference_update(params)
        return self._request("unsubscribe", params)

    def resubscribe(self) -> list[str]:
        """Requests that restore every subscription (after a reconnect), 50 topics each."""
        self._requests.clear()
        topics = sorted(self.subscriptions)
        return [self._request("subscribe", topics[i : i + 50]) for i in range(0, len(topics), 50)]

    @property
    def pending_requests(self) -> int:
        """Requests not acknowledged yet."""
        return len(self._requests)

    # -- heartbeat -------------------------------------------------------------

    def ping_due(self, now: float) -> bool:
        """True when a ``ping`` should be sent."""
        return now - self.last_ping >= self.ping_interval

    def ping(self, now: float) -> str:
        """The ping text; records when it was sent."""
        self.last_ping = now
        if self.ping_outstanding_since is None:
            self.ping_outstanding_since = now
        self.counts["pings"] += 1
        return "ping"

    def on_connected(self, now: float) -> None:
        """A new socket is open: the heartbeat starts afresh (a ping is due at once)."""
        self.last_heard = now
        self.ping_outstanding_since = None
        self.last_ping = now - self.ping_interval

    def death(self, now: float) -> str | None:
        """Why the connection must be dropped now, or ``None`` while it is alive.

        Either nothing at all was heard for ``dead_after`` seconds, or the oldest
        unanswered ``ping`` got no ``pong`` within ``pong_timeout`` seconds.
        """
        silent = now - self.last_heard
        if silent > self.dead_after:
            return f"silent link: nothing received for {silent:.1f} s"
        since = self.ping_outstanding_since
        if since is not None and now - since > self.pong_timeout:
            return f"silent link: ping unanswered for {now - since:.1f} s"
        return None

    def is_dead(self, now: float) -> bool:
        """True when the connection must be dropped (see :meth:`death`)."""
        return self.death(now) is not None

    # -- received ----------------------------------------------------------------

    def arrived(self, now: float) -> None:
        """Something was received at ``now`` (the link is alive); see :meth:`receive`."""
        self.last_heard = now
        self.heard += 1

    def routed(self) -> None:
        """A push that :meth:`arrived` was consumed by the owner's router, undecoded."""
        self.counts["pushes"] += 1

    def receive(self, text: str | bytes, now: float) -> Received:
        """Interpret one received text; never raises for bad input.

        The same as :meth:`arrived` then :meth:`interpret`.
        """
        self.last_heard = now
        self.heard += 1
        return self.interpret(text)

    def interpret(self, text: str | bytes) -> Received:
        """What one received text means (after :meth:`arrived`); never raises for bad input."""
        if text == "pong" or text == b"pong":
            self.ping_outstanding_since = None
            self.counts["pongs"] += 1
            return Pong()
        try:
            msg: Any = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return self._bad("malformed", f"not JSON: {exc}", text)
        if type(msg) is dict and "topic" not in msg and "code" in msg:
            return self._ack(msg, text)
        try:
            push = self.parse(msg, text, self.venue)
        except UnknownTopic as exc:
            return self._bad("unknown_topic", str(exc), text)
        except MalformedEvent as exc:
            return self._bad("malformed", str(exc), text)
        self.counts["pushes"] += 1
        return push

    def _ack(self, msg: dict[str, Any], text: str | bytes) -> Received:
        request_id = str(msg.get("id"))
        method, params = self._requests.pop(request_id, ("", ()))
        ok = msg.get("code") == 0
        self.counts["acks_ok" if ok else "acks_failed"] += 1
        if not ok and method.lower() == "subscribe":
            self.subscriptions.difference_update(params)
        return Ack(request_id, ok, msg.get("code"), str(msg.get("msg") or ""), method, params)

    def _bad(self, kind: str, error: str, text: str | bytes) -> BadFrame:
        self.counts[kind] += 1
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        return BadFrame(kind, error, raw[:512])
