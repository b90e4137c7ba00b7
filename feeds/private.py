"""Private websocket streams: account balances, orders, fills and positions, as typed events.

Spot (``wss://stream.wexex.io/private``, document "Get token" and the spot private
pushes): a token from ``POST /v4/ws-token`` (valid 2 days) is the ``listenKey`` of
every subscribe request, ``{"method": "subscribe", "params": ["order", "trade",
"balance"], "listenKey": ..., "id": ...}``; an ack with ``code`` 2 means the key is
invalid.

Futures (``wss://fstream.wexex.io/ws/user``): a listen key from ``GET
/future/user/v1/user/listen-key`` (valid 8 hours). The document lists the topics
(``order``, ``trade``, ``balance``, ``position``, ``notify``) but not where the
key goes; we send ``{"method": "SUBSCRIBE", "params": ["order@{listenKey}", ...]}``,
the form XT.com's (WEX's upstream) documentation uses, which also matches the
documented error ``{topic}@invalid_listenkey``.

:class:`PrivateStream` runs one such stream over the same
:class:`~feeds.connection.Connection` machinery as the public feeds (heartbeat,
backoff, resubscribe). It renews the token before it expires (``renew_every``:
1 day on spot, 4 hours on futures), and at once when the server says the key is
invalid (spot ack code 2, futures ``{topic}@invalid_listenkey``), then
resubscribes. Events arrive through ``on_event`` and the :meth:`PrivateStream.events`
async iterator. The listen key is a credential: it is not shown in reprs or logs, and
every key fetched is registered with :mod:`feeds.redaction`, which strips it (or any
part of it a truncation left) from the records of the ``websockets`` loggers, which log
subscribe frames at DEBUG, and of the other loggers listed there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from orderbook import MalformedEvent, Venue

from .connection import Connection
from .protocol import Ack, BadFrame, Received
from .redaction import register_secret
from .topics import Push, UnknownTopic, as_bool, as_decimal, as_int, as_str, from_data, wire

log = logging.getLogger(__name__)

SPOT_PRIVATE_URL = "wss://stream.wexex.io/private"
FUTURES_USER_URL = "wss://fstream.wexex.io/ws/user"
SPOT_TOPICS = ("balance", "order", "trade")
FUTURES_TOPICS = ("order", "trade", "balance", "position", "notify")
RENEW_EVERY = {Venue.SPOT: 24 * 3600.0, Venue.FUTURES: 4 * 3600.0}


def _num(value: Any) -> Decimal:
    """A decimal that may come as a JSON number (futures ``fee``, spot ``oqq``)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return as_decimal(value)


# -- event classes (fields and wire keys follow the document's examples) --------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotBalanceEvent:
    """Spot ``balance``: one currency's balance changed."""

    account_id: str = wire("a", as_str)
    time: int = wire("t", as_int)
    currency: str = wire("c", as_str)
    balance: Decimal = wire("b", as_decimal)
    frozen: Decimal = wire("f", as_decimal)
    biz_type: str = wire("z", as_str)
    symbol: str | None = wire("s", as_str, optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotOrderEvent:
    """Spot ``order``: an order's state changed."""

    symbol: str = wire("s", as_str)
    time: int = wire("t", as_int)
    created: int = wire("ct", as_int)
    order_id: int = wire("i", as_int)
    client_order_id: str | None = wire("ci", as_str, optional=True)
    state: str = wire("st", as_str)
    side: str = wire("sd", as_str)
    type: str = wire("tp", as_str)
    qty: Decimal | None = wire("oq", _num, optional=True)
    quote_qty: Decimal | None = wire("oqq", _num, optional=True)
    executed_qty: Decimal = wire("eq", as_decimal)
    left_qty: Decimal = wire("lq", as_decimal)
    price: Decimal | None = wire("p", as_decimal, optional=True)
    avg_price: Decimal = wire("ap", as_decimal)
    fee: Decimal = wire("f", as_decimal)


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotFillEvent:
    """Spot ``trade``: one of the account's orders filled."""

    symbol: str = wire("s", as_str)
    trade_id: int = wire("i", as_int)
    time: int = wire("t", as_int)
    order_id: int = wire("oi", as_int)
    price: Decimal = wire("p", as_decimal)
    qty: Decimal = wire("q", as_decimal)
    quote_qty: Decimal = wire("v", as_decimal)
    buyer_maker: bool = wire("b", as_bool)
    taker_maker: int | None = wire("tm", as_int, optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesBalanceEvent:
    """Futures ``balance``."""

    coin: str = wire("coin", as_str)
    wallet_balance: Decimal = wire("walletBalance", as_decimal)
    open_order_margin_frozen: Decimal = wire("openOrderMarginFrozen", as_decimal)
    isolated_margin: Decimal = wire("isolatedMargin", as_decimal)
    crossed_margin: Decimal = wire("crossedMargin", as_decimal)


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesPositionEvent:
    """Futures ``position``."""

    symbol: str = wire("symbol", as_str)
    position_type: str = wire("positionType", as_str)
    position_side: str = wire("positionSide", as_str)
    size: Decimal = wire("positionSize", as_decimal)
    available_close_size: Decimal = wire("availableCloseSize", as_decimal)
    realized_profit: Decimal = wire("realizedProfit", as_decimal)
    entry_price: Decimal = wire("entryPrice", as_decimal)
    leverage: int = wire("leverage", as_int)


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesFillEvent:
    """Futures ``trade``: a fill of one of the account's orders."""

    symbol: str = wire("symbol", as_str)
    order_id: int = wire("orderId", as_int)
    client_order_id: str | None = wire("clientOrderId", as_str, optional=True)
    price: Decimal = wire("price", as_decimal)
    qty: Decimal = wire("quantity", as_decimal)
    time: int = wire("timestamp", as_int)
    side: str = wire("orderSide", as_str)
    position_side: str = wire("positionSide", as_str)
    is_maker: bool = wire("isMaker", as_bool)
    fee: Decimal = wire("fee", _num)


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesOrderEvent:
    """Futures ``order``: an order's state changed."""

    symbol: str = wire("symbol", as_str)
    order_id: int = wire("orderId", as_int)
    qty: Decimal = wire("origQty", as_decimal)
    avg_price: Decimal = wire("avgPrice", as_decimal)
    price: Decimal = wire("price", as_decimal)
    executed_qty: Decimal = wire("executedQty", as_decimal)
    side: str = wire("orderSide", as_str)
    position_side: str = wire("positionSide", as_str)
    order_type: str = wire("orderType", as_str)
    state: str = wire("state", as_str)
    created: int = wire("createdTime", as_int)
    leverage: int | None = wire("leverage", as_int, optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class FuturesNotifyEvent:
    """Futures ``notify``: liquidation warnings, ADL..."""

    symbol: str = wire("symbol", as_str)
    position_side: str = wire("positionSide", as_str)
    notify_type: str = wire("notifyType", as_str)
    position_size: Decimal | None = wire("positionSize", as_decimal, optional=True)


@dataclass(frozen=True, slots=True)
class ListenKeyInvalid:
    """The server says the listen key expired or is invalid (``{topic}@invalid_listenkey``)."""

    topic: str


#: Every private topic of both venues and its event class.
PRIVATE_TOPICS: dict[tuple[Venue, str], type] = {
    (Venue.SPOT, "balance"): SpotBalanceEvent,
    (Venue.SPOT, "order"): SpotOrderEvent,
    (Venue.SPOT, "trade"): SpotFillEvent,
    (Venue.FUTURES, "balance"): FuturesBalanceEvent,
    (Venue.FUTURES, "position"): FuturesPositionEvent,
    (Venue.FUTURES, "trade"): FuturesFillEvent,
    (Venue.FUTURES, "order"): FuturesOrderEvent,
    (Venue.FUTURES, "notify"): FuturesNotifyEvent,
}


def parse_private_push(raw: str | bytes, venue: Venue | str) -> Push:
    """One private push as a :class:`~feeds.topics.Push` with a typed event (or
    :class:`ListenKeyInvalid`); :class:`UnknownTopic` / ``MalformedEvent`` otherwise."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent(f"frame is not valid JSON: {exc}", raw) from None
    return parse_private_message(msg, raw, Venue(venue))


def parse_private_message(msg: Any, raw: str | bytes, venue: Venue) -> Push:
    """:func:`parse_private_push` of a frame already decoded (``msg``, from ``raw``)."""
    if type(msg) is not dict or type(msg.get("topic")) is not str:
        raise MalformedEvent("frame is not a push (no topic)", raw)
    topic, event = msg["topic"], msg.get("event")
    event = event if type(event) is str else topic
    if event.endswith("@invalid_listenkey"):
        return Push(venue, topic, event, None, ListenKeyInvalid(topic))
    cls = PRIVATE_TOPICS.get((venue, topic))
    if cls is None:
        raise UnknownTopic(f"unknown {venue.value} private topic {topic!r}", raw)
    data = from_data(cls, msg.get("data"), raw)
    return Push(venue, topic, event, getattr(data, "symbol", None), data)


TokenSource = Callable[[], Any]


class PrivateStream:
    """One venue's private stream for one account (see the module docstring).

    ``client`` is an :class:`~feeds.rest.client.AsyncWexClient` with credentials
    (it fetches the tokens). ``on_event(push)`` is called for every typed event.
    """

    def __init__(
        self,
        client: Any,
        venue: Venue | str,
        *,
        url: str | None = None,
        topics: tuple[str, ...] | None = None,
        on_event: Callable[[Push], None] | None = None,
        renew_every: float | None = None,
        queue_size: int = 10_000,
        **connection_options: Any,
    ) -> None:
        self.venue = Venue(venue)
        spot = self.venue is Venue.SPOT
        self.client = client
        self.url = url or (SPOT_PRIVATE_URL if spot else FUTURES_USER_URL)
        self.topics = topics or (SPOT_TOPICS if spot else FUTURES_TOPICS)
        unknown = [t for t in self.topics if (self.venue, t) not in PRIVATE_TOPICS]
        if unknown:
            raise ValueError(f"unknown {self.venue.value} private topic(s): {unknown}")
        self.on_event = on_event
        self.renew_every = renew_every or RENEW_EVERY[self.venue]
        self.counts: Counter[str] = Counter()
        self._key: str | None = None
        self._queue: asyncio.Queue[Push] = asyncio.Queue(queue_size)
        self._options = connection_options
        self._connection: Connection | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._renewing: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        key = "set" if self._key else "none"
        return f"PrivateStream({self.venue.value}, {self.url}, topics={self.topics}, key={key})"

    async def __aenter__(self) -> PrivateStream:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connection(self) -> Connection:
        """The underlying :class:`~feeds.connection.Connection` (after :meth:`start`)."""
        assert self._connection is not None, "start() first"
        return self._connection

    async def start(self) -> None:
        """Fetch a token, connect, subscribe; renewal runs in the background."""
        self._key = await self._fetch_key()
        self._connection = Connection(
            self.venue,
            self.url,
            self._on_message,
            parse=parse_private_message,
            request_fields={"listenKey": self._key} if self.venue is Venue.SPOT else {},
            **self._options,
        )
        self._connection.start()
        await self._connection.subscribe(self._params())
        self._renewer = asyncio.create_task(self._renew_forever(), name="wexbook token renewal")

    async def close(self) -> None:
        """Stop renewing and close the connection."""
        for task in (self._renewer, self._renewing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._connection is not None:
            await self._connection.close()

    async def events(self) -> AsyncIterator[Push]:
        """Every typed event, in arrival order."""
        while True:
            yield await self._queue.get()

    async def renew(self) -> None:
        """Fetch a new token and subscribe with it (also done on its own; see the module)."""
        self._key = await self._fetch_key()
        self.counts["renewals"] += 1
        proto = self.connection.protocol
        proto.subscriptions.clear()
        if self.venue is Venue.SPOT:
            proto.request_fields["listenKey"] = self._key
        await self.connection.subscribe(self._params())

    # -- internals ---------------------------------------------------------------------

    def _params(self) -> list[str]:
        if self.venue is Venue.SPOT:
            return list(self.topics)
        return [f"{topic}@{self._key}" for topic in self.topics]

    async def _fetch_key(self) -> str:
        if self.venue is Venue.SPOT:
            result = await self.client.spot.get_ws_token()
            key = result.get("accessToken") if isinstance(result, dict) else None
        else:
            result = await self.client.futures.get_listen_key()
            key = result if isinstance(result, str) else None
        if not key:
            raise MalformedEvent(f"{self.venue.value} token answer has no key", "")
        register_secret(key)  # before anything can log it (websockets logs frames at DEBUG)
        self.counts["tokens"] += 1
        return key

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                await self.renew()
            except Exception as exc:  # a failed renewal is retried at the next invalid key
                self.counts["renew_errors"] += 1
                log.warning("%s token renewal failed: %s", self.venue.value, exc)

    def _renew_soon(self) -> None:
        if self._renewing is None or self._renewing.done():
            self.counts["invalid_key"] += 1
            self._renewing = asyncio.create_task(self.renew(), name="wexbook token renewal")

    def _on_message(self, received: Received) -> None:
        if isinstance(received, Ack):
            if not received.ok:
                self.counts["acks_failed"] += 1
                if received.code == 2 or "invalid_listenkey" in received.msg:
                    self._renew_soon()
            return
        if isinstance(received, BadFrame):
            self.counts[received.kind] += 1
            return
        if not isinstance(received, Push):
            return
        if isinstance(received.data, ListenKeyInvalid):
            self._renew_soon()
            return
        self.counts[received.topic] += 1
        if self.on_event is not None:
            self.on_event(received)
        try:
            self._queue.put_nowait(received)
        except asyncio.QueueFull:
            self.counts["queue_overflow"] += 1
