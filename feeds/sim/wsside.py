"""The simulator's websocket side: subscriptions, pushes, heartbeat, wire faults.

Paths: spot ``/public``, futures ``/ws/market`` (as the API document names
them). Requests are ``{"method", "params", "id"}`` with the venue's method
spelling (spot ``subscribe``/``unsubscribe``, futures ``SUBSCRIBE``/
``UNSUBSCRIBE``); each is answered ``{"id", "code", "msg"}``, code 0 on
success and 400 with a message for a bad request (unknown topic, symbol,
argument, method or malformed JSON). The text ``ping`` is answered ``pong``;
a connection that sends no ping for the venue's window is closed.

Depth streams are per (venue, symbol, interval) and shared by their
subscribers, so two clients see the same frames. Futures streams slower than
100 ms merge the steps of their interval into one push: ``fu`` is the first id
of the merged steps, ``u`` the last, ``pu`` the ``u`` of the stream's
previous push, so ``fu`` runs ahead of ``pu + 1`` while ``pu`` still chains.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from orderbook import Venue

from ..topics import TOPICS, TopicSpec
from .context import SimContext
from .exchange import StepResult, SymbolMarket
from .privateside import PRIVATE_PATHS, Pinged, PrivateSide

PATHS = {"/public": Venue.SPOT, "/ws/market": Venue.FUTURES}
METHODS = {Venue.SPOT: ("subscribe", "unsubscribe"), Venue.FUTURES: ("SUBSCRIBE", "UNSUBSCRIBE")}


@dataclass(slots=True, eq=False)
class Client:
    """One websocket connection."""

    ws: ServerConnection
    venue: Venue
    subscriptions: set[str] = field(default_factory=set)
    last_ping: float = 0.0
    frames: int = 0
    frames_by_symbol: dict[str, int] = field(default_factory=dict)
    queue: asyncio.Queue[tuple[str, int]] = field(default_factory=asyncio.Queue)
    closing: bool = False  #: a disconnect fault fired: nothing more is queued
    silent: bool = False  #: a silent fault fired: nothing is read or sent any more
    sent: int = 0  #: frames actually written to the socket


@dataclass(slots=True)
class DepthStream:
    """A ``depth_update`` stream of one symbol at one interval, shared by its subscribers."""

    interval_ms: int
    prev_u: int
    futures: bool = False
    first: int | None = None
    last: int = 0
    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)
    held: str | None = None  #: a frame held back by the reorder fault

    def add(self, step: StepResult) -> None:
        # Futures: ``fu`` is the first id of the latest merged update (the ids of
        # the earlier merged updates are skipped, while ``pu`` still chains).
        # Spot has no ``pu``: a merged push (after a stall) keeps ``fi`` at the
        # first id of the range, so ``fi == previous i + 1`` still holds.
        if self.first is None or self.futures:
            self.first = step.first_id
        self.last = step.last_id
        self.bids.update(step.bids)
        self.asks.update(step.asks)

    def skip(self, step: StepResult) -> None:
        """The step's ids are consumed but never pushed (a real gap)."""
        self.first, self.bids, self.asks = None, {}, {}
        self.prev_u = step.last_id


def parse_subscription(venue: Venue, param: object) -> tuple[TopicSpec, str | None, list[str]]:
    """``depth_update@btc_usdt,250ms`` -> (spec, symbol, args); ValueError if not documented."""
    if type(param) is not str or not param:
        raise ValueError(f"bad topic {param!r}")
    name, _, rest = param.partition("@")
    spec = TOPICS.get((venue, name))
    if spec is None:
        raise ValueError(f"unknown topic {name!r}")
    parts = rest.split(",") if rest else []
    symbol = parts[0] if parts else None
    args = parts[1:]
    if venue is Venue.FUTURES and name == "depth_update" and not args:
        args = ["100ms"]  # the documented default interval
    if venue is Venue.FUTURES and name == "depth" and len(args) == 1:
        args = [args[0], "1000ms"]
    spec.subscription(symbol, *args)  # raises ValueError on bad arguments
    return spec, symbol, args


class WebsocketSide:
    """Serves the websocket paths for a :class:`~feeds.sim.simulator.Simulator`."""

    def __init__(self, sim: SimContext) -> None:
        self.sim = sim
        self.clients: set[Client] = set()
        self.streams: dict[tuple[Venue, str, int], DepthStream] = {}
        self.counts: dict[str, int] = {"connections": 0, "bad_requests": 0, "timeouts": 0}
        self.private = PrivateSide(sim, self.heartbeat_watch)

    # -- connections ---------------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        path = ws.request.path.split("?")[0] if ws.request else ""
        if path in PRIVATE_PATHS:
            await self.private.handler(ws, PRIVATE_PATHS[path])
            return
        venue = PATHS.get(path)
        if venue is None:
            await ws.close(code=1008, reason=f"unknown path {path}")
            return
        client = Client(ws, venue, last_ping=self.sim.now())
        self.clients.add(client)
        self.counts["connections"] += 1
        sender = asyncio.create_task(self._sender(client))
        watchdog = asyncio.create_task(self.heartbeat_watch(client))
        try:
            async for text in ws:
                await self._on_text(client, text)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            sender.cancel()
            watchdog.cancel()

    async def _sender(self, client: Client) -> None:
        while True:
            text, delay_ms = await client.queue.get()
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            if client.silent:
                continue
            try:
                await client.ws.send(text)
            except ConnectionClosed:
                return
            client.sent += 1

    async def heartbeat_watch(self, client: Pinged) -> None:
        """Close ``client``'s connection when it sent no ping for the venue's window."""
        timeout = self.sim.ping_timeouts[client.venue]
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            if self.sim.now() - client.last_ping > timeout:
                self.counts["timeouts"] += 1
                await client.ws.close(code=1000, reason="no ping")
                return

    async def _on_text(self, client: Client, text: str | bytes) -> None:
        if text == "ping":
            client.last_ping = self.sim.now()
            await client.ws.send("pong")
            return
        try:
            msg = orjson.loads(text)
            method, params, request_id = msg["method"], msg["params"], msg.get("id")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.counts["bad_requests"] += 1
            await client.ws.send(
                orjson.dumps({"id": None, "code": 400, "msg": "bad request"}).decode()
            )
            return
        subscribe, unsubscribe = METHODS[client.venue]
        try:
            if method not in (subscribe, unsubscribe):
                raise ValueError(f"method must be {subscribe!r} or {unsubscribe!r}")
            if type(params) is not list or not params:
                raise ValueError("params must be a non-empty list")
            for param in params:
                _spec, symbol, _ = parse_subscription(client.venue, param)
                if symbol is not None and (client.venue, symbol) not in self.sim.markets:
                    raise ValueError(f"unknown symbol {symbol!r}")
        except ValueError as exc:
            self.counts["bad_requests"] += 1
            reply = {"id": request_id, "code": 400, "msg": str(exc)}
            await client.ws.send(orjson.dumps(reply).decode())
            return
        if method == subscribe:
            client.subscriptions.update(_normal(client.venue, p) for p in params)
        else:
            client.subscriptions.difference_update(_normal(client.venue, p) for p in params)
        ok = "success" if client.venue is Venue.SPOT else ""
        await client.ws.send(orjson.dumps({"id": request_id, "code": 0, "msg": ok}).decode())

    # -- pushing -------------------------------------------------------------------

    def _send(self, venue: Venue, topic_param: str, symbol: str | None, text: str) -> None:
        """Queue ``text`` to every ``venue`` client subscribed to ``topic_param``."""
        faults = None
        for client in list(self.clients):
            if client.venue is not venue or client.closing or client.silent:
                continue
            if topic_param not in client.subscriptions:
                continue
            delay = 0
            if symbol is not None:
                faults = self.sim.faults.of(client.venue, symbol)
                delay = faults.delay_ms
                if faults.silent:
                    self._go_silent(client)
                    self.sim.faults.count(client.venue, symbol, "silent")
                    continue
            client.queue.put_nowait((text, delay))
            client.frames += 1
            if symbol is not None and faults is not None and faults.disconnect_after is not None:
                n = client.frames_by_symbol.get(symbol, 0) + 1
                client.frames_by_symbol[symbol] = n
                if n >= faults.disconnect_after:
                    client.frames_by_symbol[symbol] = 0
                    client.closing = True
                    self.sim.faults.count(client.venue, symbol, "disconnect")
                    asyncio.get_running_loop().create_task(_close_after_queue(client))

    @staticmethod
    def _go_silent(client: Client) -> None:
        """Half-open ``client``: stop reading its socket and sending to it; keep it open."""
        client.silent = True
        transport = client.ws.transport
        if transport is not None:
            transport.pause_reading()

    def abort_silent(self) -> None:
        """Drop the connections a silent fault left half-open (at shutdown)."""
        for client in list(self.clients):
            if client.silent and client.ws.transport is not None:
                client.ws.transport.abort()

    def has_subscribers(self, venue: Venue, topic_param: str) -> bool:
        return any(c.venue is venue and topic_param in c.subscriptions for c in self.clients)

    def on_step(self, market: SymbolMarket, step: StepResult, t_ms: int, skipped: bool) -> None:
        """Feed one market step to the depth streams (100 ms streams push at once)."""
        venue, symbol = market.venue, market.symbol
        intervals = (100,) if venue is Venue.SPOT else (100, 250, 500, 1000)
        for interval in intervals:
            key = (venue, symbol, interval)
            stream = self.streams.get(key)
            if stream is None:
                stream = self.streams[key] = DepthStream(
                    interval, prev_u=step.first_id - 1, futures=venue is Venue.FUTURES
                )
            if skipped:
                stream.skip(step)
            else:
                stream.add(step)
        for trade in step.trades:
            self._push_trade(market, trade)

    def flush_depth(self, market: SymbolMarket, t_ms: int) -> None:
        """Push the depth streams whose interval boundary was crossed at simulated ``t_ms``."""
        venue, symbol = market.venue, market.symbol
        faults = self.sim.faults.of(venue, symbol)
        intervals = (100,) if venue is Venue.SPOT else (100, 250, 500, 1000)
        for interval in intervals:
            stream = self.streams.get((venue, symbol, interval))
            if stream is None or stream.first is None:
                continue
            if t_ms // interval == (t_ms - 100) // interval:
                continue  # no boundary in this 100 ms step
            if faults.stall:
                continue  # keep merging; nothing goes out while stalled
            param = _depth_update_param(venue, symbol, interval)
            frame = _depth_update_frame(market, stream, self.sim.clock_ms())
            stream.prev_u = stream.last
            stream.first, stream.bids, stream.asks = None, {}, {}
            if not self.has_subscribers(venue, param):
                continue
            for text in self._wire(market, stream, frame, faults):
                self._send(venue, param, symbol, text)

    def _wire(
        self, market: SymbolMarket, stream: DepthStream, frame: str, faults: Any
    ) -> list[str]:
        """Apply the symbol's wire faults to one depth_update frame."""
        board, venue, symbol = self.sim.faults, market.venue, market.symbol
        if not faults.any_wire_fault():
            out = [frame]
        elif board.roll(faults, "drop"):
            board.count(venue, symbol, "drop")
            out = []
        elif board.roll(faults, "duplicate"):
            board.count(venue, symbol, "duplicate")
            out = [frame, frame]
        elif board.roll(faults, "malformed"):
            board.count(venue, symbol, "malformed")
            out = [frame[: len(frame) // 2]]
        elif board.roll(faults, "unknown_topic"):
            board.count(venue, symbol, "unknown_topic")
            junk = {"topic": "mystery_topic", "event": f"mystery_topic@{symbol}", "data": {}}
            out = [orjson.dumps(junk).decode(), frame]
        elif stream.held is None and board.roll(faults, "reorder"):
            board.count(venue, symbol, "reorder")
            stream.held = frame
            return []
        else:
            out = [frame]
        if stream.held is not None and out:
            out.append(stream.held)
            stream.held = None
        return out

    def _push_trade(self, market: SymbolMarket, trade: dict[str, Any]) -> None:
        param = f"trade@{market.symbol}"
        if not self.has_subscribers(market.venue, param):
            return
        if market.venue is Venue.SPOT:
            data = {"s": market.symbol, **trade, "oi": trade["i"] + 10**12}
        else:
            side = "ASK" if trade["b"] else "BID"  # the taker's side
            data = {
                "s": market.symbol,
                "p": trade["p"],
                "a": trade["q"],
                "m": side,
                "t": trade["t"],
            }
        self._send(market.venue, param, market.symbol, _push("trade", param, data))

    def push_periodic(self, market: SymbolMarket, t_ms: int) -> None:
        """Push the topics with a fixed cadence that is due at ``t_ms``."""
        venue, symbol = market.venue, market.symbol
        every_second = t_ms % 1000 == 0
        subscribed = {p for c in self.clients if c.venue is venue for p in c.subscriptions}
        for client_param in sorted(subscribed):
            name, _, rest = client_param.partition("@")
            parts = rest.split(",") if rest else []
            if name == "tickers" or not parts or parts[0] != symbol:
                continue
            if (venue, name) not in TOPICS or name in ("trade", "depth_update"):
                continue
            if name == "depth":
                interval = int(parts[2].removesuffix("ms")) if len(parts) > 2 else 1000
                if t_ms % interval:
                    continue
                levels = int(parts[1])
                data = _depth_payload(market, levels, self.sim.clock_ms())
                event = f"depth@{symbol},{levels}"
                self._send(venue, client_param, symbol, _push("depth", event, data))
                continue
            if name == "fund_rate":
                if t_ms % 60_000:
                    continue
            elif not every_second:
                continue
            data = _periodic_payload(market, name, parts, self.sim.clock_ms())
            self._send(venue, client_param, symbol, _push(name, client_param, data))

    def push_tickers(self, markets: list[SymbolMarket], t_ms: int) -> None:
        """Spot ``tickers`` every second."""
        if t_ms % 1000 or not self.has_subscribers(Venue.SPOT, "tickers"):
            return
        stamp = self.sim.clock_ms()
        data = [m.spot_ticker(stamp) for m in markets if m.venue is Venue.SPOT]
        self._send(Venue.SPOT, "tickers", None, _push("tickers", "tickers", data))


async def _close_after_queue(client: Client) -> None:
    while client.sent < client.frames and not client.ws.close_code:
        await asyncio.sleep(0.001)
    with contextlib.suppress(ConnectionClosed):
        await client.ws.close(code=1001, reason="fault: disconnect")


def _normal(venue: Venue, param: str) -> str:
    """The canonical form of a subscription (futures defaults filled in)."""
    spec, symbol, args = parse_subscription(venue, param)
    return spec.subscription(symbol, *args)


def _depth_update_param(venue: Venue, symbol: str, interval: int) -> str:
    return (
        f"depth_update@{symbol}" if venue is Venue.SPOT else f"depth_update@{symbol},{interval}ms"
    )


def _push(topic: str, event: str, data: Any) -> str:
    return orjson.dumps({"topic": topic, "event": event, "data": data}).decode()


def _depth_update_frame(market: SymbolMarket, stream: DepthStream, t_ms: int) -> str:
    symbol = market.symbol
    bids = [[p, q] for p, q in stream.bids.items()]
    asks = [[p, q] for p, q in stream.asks.items()]
    if market.venue is Venue.SPOT:
        data = {"s": symbol, "fi": stream.first, "i": stream.last, "a": asks, "b": bids}
    else:
        data = {
            "s": symbol,
            "pu": stream.prev_u,
            "fu": stream.first,
            "u": stream.last,
            "a": asks,
            "b": bids,
            "t": t_ms,
        }
    return _push("depth_update", f"depth_update@{symbol}", data)


def _depth_payload(market: SymbolMarket, levels: int, t_ms: int) -> dict[str, Any]:
    last_id, bids, asks = market.snapshot_levels(levels)
    if market.venue is Venue.SPOT:
        return {"s": market.symbol, "i": last_id, "a": asks, "b": bids}
    return {"id": str(last_id), "s": market.symbol, "a": asks, "b": bids, "t": t_ms}


def _periodic_payload(market: SymbolMarket, name: str, parts: list[str], t_ms: int) -> Any:
    c = market.candle
    assert c is not None
    s = market.symbol
    if market.venue is Venue.SPOT:
        if name == "kline":
            return {
                "s": s,
                "t": t_ms - t_ms % 60_000,
                "i": parts[1],
                "o": format(c.open, "f"),
                "c": format(c.close, "f"),
                "h": format(c.high, "f"),
                "l": format(c.low, "f"),
                "q": format(c.qty, "f"),
                "v": format(c.value, "f"),
            }
        return market.spot_ticker(t_ms)
    base = {
        "s": s,
        "o": format(c.open, "f"),
        "c": format(c.close, "f"),
        "h": format(c.high, "f"),
        "l": format(c.low, "f"),
        "a": format(c.qty, "f"),
        "v": format(c.value, "f"),
        "ch": format(c.close - c.open, "f"),
    }
    if name == "kline":
        return {**base, "t": t_ms - t_ms % 60_000}
    if name == "agg_ticker":
        (bid, _), (ask, _) = market.best()[0] or ("0", "0"), market.best()[1] or ("0", "0")
        return {
            **base,
            "i": format(market.index_price(), "f"),
            "m": format(market.mark_price(), "f"),
            "bp": bid,
            "ap": ask,
            "t": t_ms,
        }
    if name == "index_price":
        return {"s": s, "p": format(market.index_price(), "f"), "t": t_ms}
    if name == "mark_price":
        return {"s": s, "p": format(market.mark_price(), "f"), "t": t_ms}
    if name == "fund_rate":
        return {"s": s, "r": format(market.funding_rate, "f"), "t": t_ms}
    raise ValueError(f"no periodic payload for {name}")
