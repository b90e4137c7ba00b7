"""One websocket connection to a WEX market stream: a thin asyncio layer over FeedProtocol.

:class:`Connection` connects (on the websocket layer :mod:`feeds.wslayer` picks:
picows where installed, else websockets), restores every
subscription, sends the text ``ping`` at once and then on
:class:`~feeds.protocol.FeedProtocol`'s schedule (every second by default), and
reconnects with capped, jittered exponential backoff until :meth:`Connection.close`.

A link that goes silent (nothing received for ``dead_after`` s, or a ping
unanswered for ``pong_timeout`` s: 2 s each by default) is reported
``"disconnected"`` at once, with :attr:`Connection.last_error` saying it went
silent, and its socket is aborted (no closing handshake with a peer that does
not answer), so its books leave LIVE within about 2 s of the silence.

Backoff: the delay doubles (from ``backoff_base``, 0.25 s, jittered down to
half, capped at ``backoff_max``, 2 s) with every connection that failed or
closed before it carried a single push; only a connection that delivered a
push resets it. A server that accepts every handshake and drops it at once (a
reconnect storm) therefore sees a doubling backoff (at most 7 handshakes in 4 s;
4 measured in ``tests/test_links.py``), not a retry every quarter second, and the
cap keeps recovery within about 2 s of the storm's end (at most about 60 attempts a
minute in a long outage).
Everything received goes to one callback, ``on_message(received)``, as the
protocol's typed objects (bad frames too: they are counted, and logged through
a :class:`~feeds.logthrottle.LogThrottle`, so a flood gives one line per 10 s);
connection state changes go to ``on_state(state)`` (``"connected"`` /
``"disconnected"``).

Observers (see :mod:`feeds.observe`: a recorder, metrics; the manager shares its
own :class:`~feeds.observe.Observers` with its connections) see every received
frame as it arrives (``on_frame(conn, raw)``, before it is parsed), every text sent
(``on_send(conn, text)``) and every state change (``on_connection(conn, state)``,
before ``on_state``; after a close, :attr:`Connection.close_code` and
:attr:`Connection.close_reason` say how). Without one, a frame costs one ``is None``
test. ``tap=`` registers one observer (the older spelling).

An optional ``route(raw, now) -> bool`` sees each frame first: when it returns
True it has consumed the frame (a ``depth_update`` push given as raw bytes to its
book; the protocol counts it as a push) and the protocol does not decode it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from orderbook import Venue

from . import wslayer
from .logthrottle import LogThrottle
from .observe import Observers
from .protocol import PONG_TIMEOUT, BadFrame, FeedProtocol, Received

log = logging.getLogger("wexbook.connection")


class Connection:
    """A self-healing connection to ``url`` carrying many topics of one venue."""

    def __init__(
        self,
        venue: Venue | str,
        url: str,
        on_message: Callable[[Received], None],
        *,
        on_state: Callable[[str], None] | None = None,
        ping_interval: float | None = None,
        dead_after: float | None = None,
        pong_timeout: float = PONG_TIMEOUT,
        backoff_base: float = 0.25,
        backoff_max: float = 2.0,
        open_timeout: float = 10.0,
        close_timeout: float = 2.0,
        max_size: int = 4 * 2**20,  # largest message accepted; beyond it: close 1009, reconnect
        layer: str | None = None,
        compression: str | None = None,
        rng: random.Random | None = None,
        tap: Any = None,
        observers: Observers | None = None,
        route: Callable[[str | bytes, float], bool] | None = None,
        **protocol_options: Any,
    ) -> None:
        self.venue = Venue(venue)
        #: The observers of this connection's traffic (see the module docstring).
        self.observers = observers if observers is not None else Observers()
        if tap is not None:  # one observer, the older spelling
            self.observers.add(tap)
        #: Optional raw-frame router (see the module docstring).
        self.route = route
        self.url = url
        self.on_message = on_message
        self.on_state = on_state
        loop_time = asyncio.get_running_loop().time
        self._now = loop_time
        self.protocol = FeedProtocol(
            self.venue,
            ping_interval=ping_interval,
            dead_after=dead_after,
            pong_timeout=pong_timeout,
            now=loop_time(),
            **protocol_options,
        )
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.open_timeout = open_timeout
        #: Seconds a closing handshake may take before the socket is dropped.
        self.close_timeout = close_timeout
        self.max_size = max_size
        #: The websocket layer (``"picows"`` or ``"websockets"``; see :mod:`feeds.wslayer`).
        self.layer = wslayer.choose(layer)
        #: ``"deflate"``: negotiate permessage-deflate (websockets layer only); ``None``: off.
        self.compression = compression
        if compression is not None and self.layer != "websockets":
            raise ValueError("compression needs the websockets layer (layer='websockets')")
        self.rng = rng or random.Random()
        self.connects = 0
        self.disconnects = 0
        #: Connections that closed or failed before carrying a push, in a row (the backoff's
        #: exponent); 0 once a connection carried one.
        self.failures = 0
        #: Times a link was dropped because it went silent.
        self.silent_drops = 0
        #: Size of the frames received (characters of text frames, bytes of binary ones).
        self.bytes_received = 0
        self.last_error: str | None = None
        #: Close code and reason of the last closed socket (None: unknown, e.g. no close frame).
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._link: wslayer.Link | None = None
        self._down_reported = False  # "disconnected" already said for the current socket
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        #: Bad-frame warnings: the first at once, then one summary per 10 s (all are counted).
        self.log_throttle = LogThrottle(log, 10.0)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (the connection is shutting down for good)."""
        return self._closed

    # -- control -------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"wexbook {self.venue} ws")

    async def close(self) -> None:
        """Stop for good: close the socket and the background task."""
        self._closed = True
        if self._link is not None:
            await self._link.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def subscribe(self, topics: list[str]) -> None:
        """Subscribe to ``topics`` now if connected (and after every reconnect)."""
        text = self.protocol.subscribe(topics)
        await self._send(text)

    async def unsubscribe(self, topics: list[str]) -> None:
        """Unsubscribe from ``topics``."""
        text = self.protocol.unsubscribe(topics)
        await self._send(text)

    async def drop(self) -> None:
        """Close the current socket (it reconnects): for tests and manual recovery."""
        if self._link is not None:
            await self._link.close()

    # -- internals ---------------------------------------------------------------

    async def _send(self, text: str) -> None:
        link = self._link
        if link is None:
            return  # sent by resubscribe() on the next connect
        on_send = self.observers.on_send
        if on_send is not None:
            on_send(self, text)
        try:
            await link.send(text)
        except wslayer.LinkClosed:
            pass  # the link's end is seen by _run, which reconnects

    def _backoff(self, failures: int) -> float:
        cap = min(self.backoff_max, self.backoff_base * 2 ** min(failures, 16))
        return cap / 2 + self.rng.random() * cap / 2

    def _set_state(self, state: str) -> None:
        on_connection = self.observers.on_connection
        if on_connection is not None:
            on_connection(self, state)
        if self.on_state is not None:
            self.on_state(state)

    async def _run(self) -> None:
        proto = self.protocol
        while not self._closed:
            pushes = proto.counts["pushes"]
            link: wslayer.Link | None = None
            try:
                link = await wslayer.open_link(
                    self.url,
                    self.feed,
                    layer=self.layer,
                    open_timeout=self.open_timeout,
                    close_timeout=self.close_timeout,
                    max_size=self.max_size,
                    compression=self.compression,
                )
                self._link = link
                self._down_reported = False
                self.connects += 1
                now = self._now()
                proto.on_connected(now)
                for text in proto.resubscribe():
                    on_send = self.observers.on_send
                    if on_send is not None:
                        on_send(self, text)
                    await link.send(text)
                await link.send(proto.ping(now))  # the link proves itself within a round trip
                self.connected.set()
                self._set_state("connected")
                link.start()
                heartbeat = asyncio.create_task(self._heartbeat(link))
                try:
                    await link.wait_closed()
                finally:
                    heartbeat.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await heartbeat
            except wslayer.LINK_ERRORS as exc:
                if not self._down_reported:  # a silent link keeps its own reason
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("%s connection to %s failed: %s", self.venue, self.url, exc)
            except Exception as exc:  # a bug downstream must not end the feed for good
                self.last_error = f"{type(exc).__name__}: {exc}"
                proto.counts["handler_errors"] += 1
                log.exception("%s message handling failed; reconnecting", self.venue)
            finally:
                if link is not None:
                    with contextlib.suppress(*wslayer.LINK_ERRORS):
                        await link.close()
                    self.close_code = link.close_code
                    self.close_reason = link.close_reason
                    self._report_down()
                    self._link = None
            if self._closed:
                break
            # Only a connection that carried a push was a success: accepted-then-dropped
            # handshakes (a reconnect storm) count as failures and the backoff keeps growing.
            self.failures = 0 if proto.counts["pushes"] > pushes else self.failures + 1
            await asyncio.sleep(self._backoff(self.failures))

    def _report_down(self) -> None:
        """Say ``"disconnected"`` once for the current socket."""
        if self._down_reported:
            return
        self._down_reported = True
        self.disconnects += 1
        self.connected.clear()
        self._set_state("disconnected")

    def feed(self, raw: str | bytes) -> None:
        """Handle one received message as the socket delivered it (the layer calls this).

        Observers see it first; then the router may consume it (a depth push for a
        book), or the protocol decodes it once and ``on_message`` gets the result.
        Public for benchmarks and tests that drive a connection without a socket.
        """
        self.bytes_received += len(raw)
        on_frame = self.observers.on_frame
        if on_frame is not None:
            on_frame(self, raw)
        proto = self.protocol
        now = self._now()
        proto.arrived(now)
        route = self.route
        if route is not None and route(raw, now):
            proto.routed()
            return
        received = proto.interpret(raw)
        if isinstance(received, BadFrame):
            self.log_throttle.warning(
                received.kind,
                "%s %s frame: %s: %r",
                self.venue,
                received.kind,
                received.error,
                received.raw,
            )
        self.on_message(received)

    async def _heartbeat(self, link: wslayer.Link) -> None:
        proto = self.protocol
        tick = min(0.25, proto.ping_interval / 4, proto.pong_timeout / 4, proto.dead_after / 4)
        while True:
            await asyncio.sleep(tick)
            self.log_throttle.flush()
            reason = proto.death(self._now())
            if reason is not None:
                # Frames that arrived while this loop was busy are read before the verdict.
                for _ in range(3):
                    await asyncio.sleep(0)
                reason = proto.death(self._now())
            if reason is not None:
                self._link_silent(link, reason)
                return
            now = self._now()
            if proto.ping_due(now):
                try:
                    await link.send(proto.ping(now))
                except wslayer.LinkClosed:
                    return

    def _link_silent(self, link: wslayer.Link, reason: str) -> None:
        """The peer stopped talking: out of service at once, then drop the socket."""
        self.silent_drops += 1
        self.last_error = reason
        log.warning("%s connection to %s: %s; reconnecting", self.venue, self.url, reason)
        self._report_down()  # the books leave LIVE now, not after a closing handshake
        link.abort()

    def stats(self) -> dict[str, Any]:
        """Connection counters and the protocol's counts."""
        return {
            "layer": self.layer,
            "connects": self.connects,
            "disconnects": self.disconnects,
            "silent_drops": self.silent_drops,
            "last_error": self.last_error,
            **self.protocol.counts,
        }
