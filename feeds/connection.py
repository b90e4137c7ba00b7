"""One websocket connection to a WEX market stream: a thin asyncio layer over FeedProtocol.

:class:`Connection` connects (permessage-deflate on), restores every
subscription, sends the text ``ping`` on :class:`~feeds.protocol.FeedProtocol`'s
schedule, drops the socket when the protocol says it is dead, and reconnects
with capped, jittered exponential backoff until :meth:`Connection.close`.
Everything received goes to one callback, ``on_message(received)``, as the
protocol's typed objects (bad frames too: they are counted, and logged through
a :class:`~feeds.logthrottle.LogThrottle`, so a flood gives one line per 10 s);
connection state changes go to ``on_state(state)`` (``"connected"`` /
``"disconnected"``).

An optional ``tap`` (see :class:`~feeds.manager.FeedTap`: a recorder, metrics) sees
every received frame as it arrives (``tap.on_frame(conn, text)``, before it is
parsed), every text sent (``tap.on_send(conn, text)``) and every state change
(``tap.on_connection(conn, state)``, before ``on_state``; after a close,
:attr:`Connection.close_code` and :attr:`Connection.close_reason` say how). Without a
tap, it costs one ``is None`` test per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from orderbook import Venue

from .logthrottle import LogThrottle
from .protocol import BadFrame, FeedProtocol, Received

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
        pong_timeout: float = 10.0,
        backoff_base: float = 0.25,
        backoff_max: float = 15.0,
        open_timeout: float = 10.0,
        max_size: int = 4 * 2**20,  # largest message accepted; beyond it: close 1009, reconnect
        rng: random.Random | None = None,
        tap: Any = None,
        **protocol_options: Any,
    ) -> None:
        self.venue = Venue(venue)
        #: Optional observer of raw traffic (see the module docstring).
        self.tap = tap
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
        self.max_size = max_size
        self.rng = rng or random.Random()
        self.connects = 0
        self.disconnects = 0
        #: Size of the frames received (characters of text frames, bytes of binary ones).
        self.bytes_received = 0
        self.last_error: str | None = None
        #: Close code and reason of the last closed socket (None: unknown, e.g. no close frame).
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._ws: ClientConnection | None = None
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        #: Bad-frame warnings: the first at once, then one summary per 10 s (all are counted).
        self.log_throttle = LogThrottle(log, 10.0)

    # -- control -------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"wexbook {self.venue} ws")

    async def close(self) -> None:
        """Stop for good: close the socket and the background task."""
        self._closed = True
        if self._ws is not None:
            await self._ws.close()
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
        if self._ws is not None:
            await self._ws.close()

    # -- internals ---------------------------------------------------------------

    async def _send(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            return  # sent by resubscribe() on the next connect
        if self.tap is not None:
            self.tap.on_send(self, text)
        try:
            await ws.send(text)
        except websockets.ConnectionClosed:
            pass  # the receive loop sees it and reconnects

    def _backoff(self, failures: int) -> float:
        cap = min(self.backoff_max, self.backoff_base * 2 ** min(failures, 16))
        return cap / 2 + self.rng.random() * cap / 2

    def _set_state(self, state: str) -> None:
        if self.tap is not None:
            self.tap.on_connection(self, state)
        if self.on_state is not None:
            self.on_state(state)

    async def _run(self) -> None:
        failures = 0
        while not self._closed:
            try:
                async with connect(
                    self.url,
                    compression="deflate",
                    ping_interval=None,  # WEX heartbeats are text pings, sent below
                    open_timeout=self.open_timeout,
                    max_size=self.max_size,
                    proxy=None,
                ) as ws:
                    self._ws = ws
                    self.connects += 1
                    failures = 0
                    now = self._now()
                    self.protocol.last_heard = now
                    self.protocol.ping_outstanding_since = None
                    self.protocol.last_ping = now
                    for text in self.protocol.resubscribe():
                        if self.tap is not None:
                            self.tap.on_send(self, text)
                        await ws.send(text)
                    self.connected.set()
                    self._set_state("connected")
                    await self._serve(ws)
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("%s connection to %s failed: %s", self.venue, self.url, exc)
            except Exception as exc:  # a bug downstream must not end the feed for good
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.protocol.counts["handler_errors"] += 1
                log.exception("%s message handling failed; reconnecting", self.venue)
            finally:
                if self._ws is not None:
                    self.close_code = self._ws.close_code
                    self.close_reason = self._ws.close_reason
                    self._ws = None
                    self.disconnects += 1
                    self.connected.clear()
                    self._set_state("disconnected")
            if self._closed:
                break
            failures += 1
            await asyncio.sleep(self._backoff(failures))

    async def _serve(self, ws: ClientConnection) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(ws))
        try:
            proto, now, deliver = self.protocol, self._now, self.on_message
            async for text in ws:
                self.bytes_received += len(text)
                if self.tap is not None:
                    self.tap.on_frame(self, text)
                received = proto.receive(text, now())
                if isinstance(received, BadFrame):
                    self.log_throttle.warning(
                        received.kind,
                        "%s %s frame: %s: %r",
                        self.venue,
                        received.kind,
                        received.error,
                        received.raw,
                    )
                deliver(received)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, ws: ClientConnection) -> None:
        proto = self.protocol
        tick = min(1.0, proto.ping_interval / 4, proto.pong_timeout / 4)
        while True:
            await asyncio.sleep(tick)
            self.log_throttle.flush()
            now = self._now()
            if proto.is_dead(now):
                self.last_error = "heartbeat: no pong or no data in time"
                log.warning("%s connection to %s is silent; reconnecting", self.venue, self.url)
                await ws.close(code=1001, reason="heartbeat timeout")
                return
            if proto.ping_due(now):
                try:
                    await ws.send(proto.ping(now))
                except websockets.ConnectionClosed:
                    return

    def stats(self) -> dict[str, Any]:
        """Connection counters and the protocol's counts."""
        return {
            "connects": self.connects,
            "disconnects": self.disconnects,
            "last_error": self.last_error,
            **self.protocol.counts,
        }
