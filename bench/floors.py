"""The floors of :mod:`bench.fullstack`: websocket clients that receive every frame and do nothing.

Each subscribes the same ``depth_update`` topics as wexbook (both venues, futures at
100 ms), sends the text ``ping`` every second as wexbook does, and, once every topic
has pushed and ``warmup`` seconds have passed, only counts what arrives (pongs
included: two a second against hundreds of frames). Setup messages (the acks, the
first push of each topic) go through :class:`feeds.protocol.FeedProtocol`; an
unacknowledged or refused subscription, or a topic that never pushes, is a failure.

- :func:`websockets_floor`: the ``websockets`` library's ``async for message in ws``
  (a reader task per connection, each message a Python ``str``); ``compression=
  "deflate"`` offers permessage-deflate, which the simulator accepts, ``None`` not.
- :func:`picows_floor`: picows' own callback API, a :class:`picows.WSListener` whose
  ``on_ws_frame`` adds one to a counter (the payload is never turned into a Python
  object); no permessage-deflate.

Which event loop runs them is the caller's (:func:`bench.window.run_on`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from feeds.protocol import Ack, FeedProtocol
from feeds.topics import Push
from orderbook import Venue

from .window import PING_EVERY, depth_topics, measure

#: Seconds a floor waits for every topic's first push before it gives up.
READY_TIMEOUT = 20.0
VENUE_URLS = {Venue.SPOT: "spot websocket", Venue.FUTURES: "futures websocket"}


class Setup:
    """One connection's setup: its subscribe request, then acks and first pushes until ready."""

    def __init__(self, venue: Venue, names: list[str]) -> None:
        self.protocol = FeedProtocol(venue)
        self.request = self.protocol.subscribe(depth_topics(venue, names))
        self.waiting = set(names)
        self.acked = False
        self.error: str | None = None
        self.ready = asyncio.get_running_loop().create_future()

    def take(self, message: str | bytes) -> None:
        """One message received before the connection is ready."""
        received = self.protocol.interpret(message)
        if isinstance(received, Ack):
            if not received.ok:
                self.fail(f"subscription refused: {received.code} {received.message}")
            self.acked = True
        elif isinstance(received, Push) and received.topic == "depth_update":
            self.waiting.discard(received.symbol or "")
        if self.acked and not self.waiting and not self.ready.done():
            self.ready.set_result(None)

    def fail(self, error: str) -> None:
        """The connection cannot serve the floor."""
        self.error = error
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"{self.protocol.venue.value}: {error}"))


async def _ready(setups: list[Setup]) -> float:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await asyncio.gather(*(setup.ready for setup in setups))
    except TimeoutError:
        missing = {s.protocol.venue.value: sorted(s.waiting) for s in setups if s.waiting}
        raise RuntimeError(f"no push within {READY_TIMEOUT:g} s from {missing}") from None
    return time.perf_counter() - start


async def websockets_floor(
    urls: dict[str, str], names: list[str], seconds: float, warmup: float, compression: str | None
) -> dict[str, Any]:
    """The ``websockets`` floor (see the module docstring); the window and setup figures."""
    from websockets.asyncio.client import connect

    class Count:
        n = 0

    count = Count()

    async def read(ws: Any, setup: Setup) -> None:
        while not setup.ready.done():
            message = await ws.recv()
            count.n += 1
            setup.take(message)
        async for _message in ws:
            count.n += 1

    async def ping(ws: Any) -> None:
        while True:
            await asyncio.sleep(PING_EVERY)
            await ws.send("ping")

    tasks: list[asyncio.Task[None]] = []
    sockets = []
    setups = []
    try:
        for venue, key in VENUE_URLS.items():
            ws = await connect(
                urls[key],
                compression=compression,
                ping_interval=None,
                max_size=4 * 2**20,
                proxy=None,
            )
            sockets.append(ws)
            setup = Setup(venue, names)
            setups.append(setup)
            await ws.send(setup.request)
            tasks += [asyncio.create_task(read(ws, setup)), asyncio.create_task(ping(ws))]
        ready = await _ready(setups)
        await asyncio.sleep(warmup)
        window = await measure(lambda: count.n, seconds)
        dead = [t for t in tasks if t.done()]
        if dead:
            raise RuntimeError(f"a connection ended during the window: {dead[0].exception()!r}")
        extensions = [
            str(ext.name) for ws in sockets for ext in getattr(ws.protocol, "extensions", [])
        ]
        return {**window.as_dict(), "ready_s": ready, "extensions": sorted(set(extensions))}
    finally:
        for task in tasks:
            task.cancel()
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()


async def picows_floor(
    urls: dict[str, str], names: list[str], seconds: float, warmup: float
) -> dict[str, Any]:
    """The picows floor (see the module docstring); the window and setup figures."""
    import picows

    text = picows.WSMsgType.TEXT

    class Listener(picows.WSListener):  # type: ignore[misc]
        def __init__(self, setup: Setup) -> None:
            super().__init__()
            self.setup: Setup | None = setup
            self.n = 0

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            self.n += 1
            setup = self.setup
            if setup is not None:
                if frame.msg_type is text:
                    setup.take(frame.get_payload_as_utf8_text())
                if setup.ready.done():
                    self.setup = None

        def on_ws_disconnected(self, transport: Any) -> None:
            if self.setup is not None:
                self.setup.fail("disconnected during setup")

    transports: list[Any] = []
    listeners: list[Listener] = []
    setups = []
    pinger: asyncio.Task[None] | None = None

    async def ping() -> None:
        while True:
            await asyncio.sleep(PING_EVERY)
            for transport in transports:
                transport.send(text, b"ping")

    try:
        for venue, key in VENUE_URLS.items():
            setup = Setup(venue, names)
            setups.append(setup)
            transport, listener = await picows.ws_connect(
                lambda setup=setup: Listener(setup),
                urls[key],
                enable_auto_ping=False,
                enable_auto_pong=True,
                max_frame_size=4 * 2**20,
                max_redirects=0,
            )
            transports.append(transport)
            listeners.append(listener)
            transport.send(text, setup.request.encode())
        pinger = asyncio.create_task(ping())
        ready = await _ready(setups)
        await asyncio.sleep(warmup)
        window = await measure(lambda: sum(listener.n for listener in listeners), seconds)
        if any(transport.is_disconnected for transport in transports):
            raise RuntimeError("a connection ended during the window")
        return {**window.as_dict(), "ready_s": ready}
    finally:
        if pinger is not None:
            pinger.cancel()
        for transport in transports:
            with contextlib.suppress(Exception):
                transport.send_close(1000)
                transport.disconnect()
