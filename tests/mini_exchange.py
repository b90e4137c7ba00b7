"""A minimal exchange peer for the adapter tests: a real websocket server on loopback
driven by :class:`feeds.sim.flow.OrderFlow`, plus an httpx transport that serves depth
snapshots from the same flows. (The full simulator lives in ``feeds.sim``; this peer
keeps the adapter tests independent of it and fully deterministic.)"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from feeds.sim.flow import FlowConfig, OrderFlow
from orderbook import Venue


class MiniExchange:
    """Spot or futures market stream for a few symbols; frames are pushed by :meth:`step`."""

    def __init__(
        self,
        venue: Venue | str,
        symbols: list[str],
        seed: int = 0,
        snapshot_limit: int | None = None,
    ) -> None:
        self.venue = Venue(venue)
        self.flows = {
            s: OrderFlow(seed + n, FlowConfig(symbol=s, levels=60, min_levels=20))
            for n, s in enumerate(symbols)
        }
        self.prev_u = {s: f.last_id for s, f in self.flows.items()}
        self.clients: dict[ServerConnection, set[str]] = {}  #: depth_update symbols
        self.depth_clients: dict[ServerConnection, set[str]] = {}  #: depth@sym,20 symbols
        #: Symbols whose next frame silently loses one level change (ids still chain).
        self.omit_level_next: set[str] = set()
        #: symbol -> f(bids, asks) -> (bids, asks), applied to that symbol's next frame only.
        self.edit_levels_next: dict[str, Callable[[list, list], tuple[list, list]]] = {}
        self.drop_next: set[str] = set()
        #: Per-frame probabilities of wire faults: drop, duplicate, malformed, swap.
        self.faults: dict[str, float] = {}
        self.injected: Counter[str] = Counter()
        self.rng = random.Random(seed)
        self._held: dict[str, list[str]] = {}
        self.refuse: set[str] = set()
        self.answer_pings = True  #: False: a half-dead server that never says pong
        self.snapshot_requests = 0
        #: Snapshot requests allowed in any 1 s window (None: unlimited); beyond it, 429.
        self.snapshot_limit = snapshot_limit
        self.snapshot_times: list[float] = []
        self.refused_429 = 0
        #: Answer every snapshot request with this HTTP status (None: serve snapshots).
        self.snapshot_status: int | None = None
        #: ``edit(symbol, result) -> result``: what a broken or hostile server answers instead.
        self.snapshot_edit: Any = None
        #: Held while a flow changes or a snapshot is taken (from any thread).
        self.lock = threading.Lock()
        self.pings = 0
        #: Websocket handshakes accepted so far.
        self.handshakes = 0
        #: A reconnect storm: ``"close"`` closes every new connection at once (1013),
        #: ``"ack-drop"`` acknowledges its subscription and then drops the TCP connection.
        self.storm: str | None = None
        #: Connections that went silent (see :meth:`go_silent`).
        self.silenced: set[ServerConnection] = set()
        #: Seconds each snapshot request waits before it is answered.
        self.snapshot_delay = 0.0
        self._server: Any = None
        self._http: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> MiniExchange:
        self._server = await serve(self._handler, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}/"
        return self

    async def outage(self) -> None:
        """Go down: close every websocket and stop listening (until :meth:`restore`)."""
        self._server.close()
        await self._server.wait_closed()

    async def restore(self) -> None:
        """Listen again on the same port after :meth:`outage`."""
        self._server = await serve(self._handler, "127.0.0.1", self.port)

    def go_silent(self) -> None:
        """Every open connection goes half-open: the TCP connection and the websocket stay
        up, but this side stops reading (no pong, no close handshake) and sends nothing,
        while the market moves on. New connections are served normally."""
        for ws in list(self.clients):
            ws.transport.pause_reading()
            self.silenced.add(ws)

    async def __aexit__(self, *exc: object) -> None:
        for ws in self.silenced:
            ws.transport.abort()
        self._server.close()
        await self._server.wait_closed()
        if self._http is not None:
            await self._http.cleanup()

    async def _handler(self, ws: ServerConnection) -> None:
        self.handshakes += 1
        if self.storm == "close":
            await ws.close(1013, "try again later")
            return
        topics: set[str] = set()
        self.clients[ws] = topics
        try:
            async for text in ws:
                if text == "ping":
                    self.pings += 1
                    if self.answer_pings:
                        await ws.send("pong")
                    continue
                msg = orjson.loads(text)
                params = msg["params"]
                symbols = {p.split("@", 1)[1].split(",")[0] for p in params}
                if symbols & self.refuse or not symbols <= set(self.flows):
                    await ws.send(orjson.dumps({"id": msg["id"], "code": 400, "msg": "bad symbol"}))
                    continue
                updates = {
                    p.split("@", 1)[1].split(",")[0] for p in params if p.startswith("depth_")
                }
                tops = {p.split("@", 1)[1].split(",")[0] for p in params if p.startswith("depth@")}
                depth = self.depth_clients.setdefault(ws, set())
                if msg["method"].lower() == "subscribe":
                    topics.update(updates)
                    depth.update(tops)
                else:
                    topics.difference_update(updates)
                    depth.difference_update(tops)
                await ws.send(orjson.dumps({"id": msg["id"], "code": 0, "msg": "success"}))
                if self.storm == "ack-drop":
                    ws.transport.abort()
                    return
        finally:
            del self.clients[ws]
            self.depth_clients.pop(ws, None)

    async def step(self, n: int = 1) -> None:
        """Advance every symbol ``n`` events and push them to subscribers."""
        for _ in range(n):
            for symbol, flow in self.flows.items():
                with self.lock:
                    first, last, bids, asks = flow.step()
                edit = self.edit_levels_next.pop(symbol, None)
                if edit is not None:  # respell or break the levels of this one frame
                    bids, asks = edit(bids, asks)
                if symbol in self.omit_level_next and len(bids) > 1:
                    self.omit_level_next.discard(symbol)
                    bids = bids[1:]  # an exchange-side bug the integrity check must catch
                if self.venue is Venue.SPOT:
                    frame = flow.spot_frame(first, last, bids, asks)
                else:
                    frame = flow.futures_frame(self.prev_u[symbol], first, last, bids, asks)
                self.prev_u[symbol] = last
                if symbol in self.drop_next:
                    self.drop_next.discard(symbol)
                    continue
                await self._send_to(symbol, self._wire(symbol, frame.decode()))
                await self._send_top_levels(symbol, flow)
            await asyncio.sleep(0)

    def _wire(self, symbol: str, frame: str) -> list[str]:
        """What the wire delivers for one frame under :attr:`faults` (seeded)."""
        if not self.faults:
            return [frame]
        roll, f = self.rng.random(), self.faults
        held = self._held.pop(symbol, [])
        if roll < f.get("drop", 0):
            self.injected["drop"] += 1
            return held
        roll -= f.get("drop", 0)
        if roll < f.get("duplicate", 0):
            self.injected["duplicate"] += 1
            return [frame, frame, *held]
        roll -= f.get("duplicate", 0)
        if roll < f.get("malformed", 0):
            self.injected["malformed"] += 1
            return [frame[: len(frame) // 2], *held]
        roll -= f.get("malformed", 0)
        if roll < f.get("swap", 0) and not held:
            self.injected["swap"] += 1
            self._held[symbol] = [frame]  # goes out after the next frame
            return []
        return [frame, *held]

    async def _send_top_levels(self, symbol: str, flow: OrderFlow) -> None:
        """Push ``depth@sym,20`` (the exact top 20 at the current id) to its subscribers."""
        targets = [
            ws
            for ws, syms in self.depth_clients.items()
            if symbol in syms and ws not in self.silenced
        ]
        if not targets:
            return
        bids, asks = flow.snapshot_levels(20)
        if self.venue is Venue.SPOT:
            data = {"s": symbol, "i": flow.last_id, "a": asks, "b": bids}
            event = f"depth@{symbol},20"
        else:
            data = {"id": str(flow.last_id), "s": symbol, "a": asks, "b": bids, "t": 0}
            event = f"depth@{symbol},20"
        text = orjson.dumps({"topic": "depth", "event": event, "data": data}).decode()
        for ws in targets:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(text)

    async def _send_to(self, symbol: str, frames: list[str]) -> None:
        for ws, topics in list(self.clients.items()):
            if symbol in topics and ws not in self.silenced:
                for frame in frames:
                    with contextlib.suppress(ConnectionClosed):
                        await ws.send(frame)

    def snapshot_response(self, symbol: str) -> tuple[int, bytes, dict[str, str]]:
        """Status, body and headers of a depth snapshot request for ``symbol``."""
        self.snapshot_requests += 1
        now = time.monotonic()
        if self.snapshot_limit is not None:
            recent = [t for t in self.snapshot_times if now - t < 1.0]
            if len(recent) >= self.snapshot_limit:
                self.refused_429 += 1
                return 429, b"", {"Retry-After": "1"}
        self.snapshot_times.append(now)
        if self.snapshot_status is not None:
            return self.snapshot_status, b"unavailable", {}
        flow = self.flows[symbol]
        with self.lock:
            if self.venue is Venue.SPOT:
                result = flow.spot_snapshot_result(500)
            else:
                result = flow.futures_snapshot_result(500)
        if self.snapshot_edit is not None:
            result = self.snapshot_edit(symbol, result)
        if self.venue is Venue.SPOT:
            body = {"rc": 0, "mc": "SUCCESS", "ma": [], "result": result}
        else:
            body = {"returnCode": 0, "msgInfo": "success", "error": None, "result": result}
        return 200, orjson.dumps(body), {"Content-Type": "application/json"}

    def transport(self) -> httpx.MockTransport:
        """Serves the depth endpoints from the flows, in process."""

        def handler(request: httpx.Request) -> httpx.Response:
            status, body, headers = self.snapshot_response(request.url.params["symbol"])
            return httpx.Response(status, content=body, headers=headers)

        return httpx.MockTransport(handler)

    async def serve_http(self) -> str:
        """Serve the depth endpoints over real HTTP on loopback too; returns the base URL."""

        async def handler(request: web.Request) -> web.Response:
            if self.snapshot_delay:
                await asyncio.sleep(self.snapshot_delay)
            status, body, headers = self.snapshot_response(request.query["symbol"])
            return web.Response(status=status, body=body, headers=headers)

        app = web.Application()
        for path in ("/v4/public/depth", "/future/market/v1/public/depth"):
            app.router.add_get(path, handler)
        self._http = web.AppRunner(app)
        await self._http.setup()
        site = web.TCPSite(self._http, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    def truth(self, symbol: str) -> tuple[list, list]:
        """Exact top-100 levels of ``symbol`` now."""
        return self.flows[symbol].exact_levels(100)
