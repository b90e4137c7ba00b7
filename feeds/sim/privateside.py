"""The simulator's private websocket paths: spot ``/private`` and futures ``/ws/user``.

Spot: ``{"method": "subscribe", "params": ["order", ...], "listenKey": token, "id"}``;
the ack is ``{"id", "code", "msg"}`` with code 0 (success), 1 (bad request) or 2
(listenKey invalid), as the document's "Response message format" lists them.
Futures: ``{"method": "SUBSCRIBE", "params": ["order@{listenKey}", ...], "id"}``; an
invalid key answers code 1 with ``{topic}@invalid_listenkey`` as the message.
When :meth:`PrivateSide.revoke` invalidates keys, futures subscribers get a
``{topic}@invalid_listenkey`` push and spot subscribers are disconnected.

Events come from the :class:`~feeds.sim.trading.Desk` and go to the connections
subscribed to that account and topic: ``{"topic", "event", "data"}`` with
``event`` = the topic on spot and ``{topic}@{accountId}`` on futures, as in the
document's examples. Text ``ping`` gets ``pong``; no ping for the venue's window
closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from orderbook import Venue

from ..private import PRIVATE_TOPICS
from .context import SimContext

PRIVATE_PATHS = {"/private": Venue.SPOT, "/ws/user": Venue.FUTURES}


class Pinged(Protocol):
    """A connection a heartbeat watchdog watches: its socket, venue and latest ping."""

    ws: ServerConnection
    venue: Venue
    last_ping: float


#: A watchdog: closes a connection that sent no ping for its venue's window.
Watchdog = Callable[[Pinged], Awaitable[None]]


@dataclass(eq=False)
class PrivateClient:
    ws: ServerConnection
    venue: Venue
    last_ping: float
    #: (account name, topic) -> the key it subscribed with
    subscriptions: dict[tuple[str, str], str] = field(default_factory=dict)


class PrivateSide:
    """Private connections of a :class:`~feeds.sim.simulator.Simulator`; ``watchdog`` is the
    public side's heartbeat watch (:meth:`feeds.sim.wsside.WebsocketSide.heartbeat_watch`)."""

    def __init__(self, sim: SimContext, watchdog: Watchdog) -> None:
        self.sim = sim
        self.watchdog = watchdog
        self.clients: set[PrivateClient] = set()
        self.counts: dict[str, int] = {"connections": 0, "pushes": 0, "invalid_key": 0}
        sim.desk.listeners.append(self.on_event)

    async def handler(self, ws: ServerConnection, venue: Venue) -> None:
        client = PrivateClient(ws, venue, self.sim.now())
        self.clients.add(client)
        self.counts["connections"] += 1
        watchdog = asyncio.create_task(self.watchdog(client))
        try:
            async for text in ws:
                await self._on_text(client, text)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            watchdog.cancel()

    async def _reply(self, client: PrivateClient, request_id: Any, code: int, msg: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await client.ws.send(
                orjson.dumps({"id": request_id, "code": code, "msg": msg}).decode()
            )

    async def _on_text(self, client: PrivateClient, text: str | bytes) -> None:
        if text == "ping":
            client.last_ping = self.sim.now()
            await client.ws.send("pong")
            return
        try:
            msg = orjson.loads(text)
            method, params, request_id = msg["method"], msg["params"], msg.get("id")
            if type(params) is not list or not params:
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await self._reply(client, None, 1, "Invalid Parameter")
            return
        spot = client.venue is Venue.SPOT
        if method not in (("subscribe", "unsubscribe") if spot else ("SUBSCRIBE", "UNSUBSCRIBE")):
            await self._reply(client, request_id, 1, f"unknown method {method!r}")
            return
        wanted: list[tuple[str, str]] = []  # (topic, key)
        for param in params:
            if type(param) is not str:
                await self._reply(client, request_id, 1, "Invalid Parameter")
                return
            topic, _, key = param.partition("@")
            key = str(msg.get("listenKey") or "") if spot else key
            if (client.venue, topic) not in PRIVATE_TOPICS:
                await self._reply(client, request_id, 1, f"unknown topic {topic!r}")
                return
            wanted.append((topic, key))
        resolved = []
        for topic, key in wanted:
            account = self.sim.desk.account_of_token(client.venue, key)
            if account is None:
                self.counts["invalid_key"] += 1
                if spot:
                    await self._reply(client, request_id, 2, "listenKey invalid")
                else:
                    await self._reply(client, request_id, 1, f"{topic}@invalid_listenkey")
                return
            resolved.append(((account.name, topic), key))
        for sub, key in resolved:
            if method.lower() == "subscribe":
                client.subscriptions[sub] = key
            else:
                client.subscriptions.pop(sub, None)
        await self._reply(client, request_id, 0, "success")

    def on_event(self, venue: Venue, account: str, topic: str, data: dict[str, Any]) -> None:
        """Push one desk event to its subscribers."""
        account_id = self.sim.desk.accounts[account].account_id
        event = topic if venue is Venue.SPOT else f"{topic}@{account_id}"
        text = orjson.dumps({"topic": topic, "event": event, "data": data}).decode()
        for client in list(self.clients):
            if client.venue is venue and (account, topic) in client.subscriptions:
                self.counts["pushes"] += 1
                asyncio.get_running_loop().create_task(self._send(client, text))

    async def _send(self, client: PrivateClient, text: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await client.ws.send(text)

    async def revoke(self, account: str | None = None) -> int:
        """Invalidate every token and listen key (of ``account``) and tell the subscribers:
        futures get ``{topic}@invalid_listenkey``, spot connections are closed."""
        n = self.sim.desk.expire_tokens(account)
        for client in list(self.clients):
            subs = [s for s in client.subscriptions if account in (None, s[0])]
            if not subs:
                continue
            if client.venue is Venue.SPOT:
                with contextlib.suppress(ConnectionClosed):
                    await client.ws.close(code=1008, reason="listenKey invalid")
                continue
            for sub in subs:
                client.subscriptions.pop(sub, None)
                frame = {"topic": sub[1], "event": f"{sub[1]}@invalid_listenkey", "data": {}}
                await self._send(client, orjson.dumps(frame).decode())
        return n
