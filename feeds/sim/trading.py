"""The simulator's trading side: accounts, balances, orders, fills, positions.

One :class:`Desk` per simulator. Orders fill against the simulated book at the
moment they arrive: a MARKET order, or the crossing part of a LIMIT order, walks
the opposite side level by level (exact ``Decimal`` arithmetic); the rest of a GTC
LIMIT order rests (its funds frozen) until cancelled; IOC cancels the rest, FOK
fills all or nothing, GTX (post only) is rejected if it would cross. Fills do not
consume the public book (the simulated flow stays deterministic for market-data
tests); resting orders are not filled later by the random flow.

Spot: balances per currency (``free``/``frozen``), a taker fee of 0.1% of the
quote amount, paid in the quote currency. Futures (USDT-M): a wallet balance in
USDT, positions per ``(symbol, LONG|SHORT)`` in whole contracts of the market's contract
size (``SymbolMarket.contract_size``; the books count contracts too), margin = notional /
leverage (20 by default), taker fee 0.04%, realized profit on closing fills.

Every change is published to ``listeners`` as ``(venue, account, topic, data)``
with the private websocket payloads of the API document (spot ``order``,
``trade``, ``balance``; futures ``order``, ``trade``, ``balance``, ``position``).

Handlers take the checked arguments of one operation and return its ``result``;
:class:`DeskError` carries the venue's error code.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from orderbook import Venue

from .auth import ApiKey
from .exchange import SymbolMarket

SPOT_FEE = Decimal("0.001")
FUTURES_FEE = Decimal("0.0004")
QTY_STEP = Decimal("0.00000001")  #: spot quantities bought by quote amount are cut to 8 places
DEFAULT_LEVERAGE = 20
SPOT_START = {"usdt": Decimal(1_000_000)}
SPOT_START_BASE = Decimal(100)
FUTURES_START = Decimal(1_000_000)
TOKEN_TTL_MS = 2 * 24 * 3600 * 1000  # spot ws-token: "valid for 2 days"
LISTEN_KEY_TTL_MS = 8 * 3600 * 1000  # futures listen key: "valid time is 8 hours"

Listener = Callable[[Venue, str, str, dict[str, Any]], None]


class DeskError(Exception):
    """A refused trading request: ``code`` is the venue's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def decimal_text(value: Decimal) -> str:
    """``value`` as the exchange writes amounts: plain digits, no trailing zeros, ``0``."""
    return format(value.normalize(), "f") if value else "0"


@dataclass(slots=True)
class Fill:
    price: Decimal
    qty: Decimal


@dataclass(slots=True)
class Order:
    """One order of either venue (futures quantities are contracts)."""

    venue: Venue
    account: str
    order_id: int
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: Decimal | None
    qty: Decimal | None
    quote_qty: Decimal | None
    created: int
    client_order_id: str | None = None
    position_side: str | None = None
    executed: Decimal = Decimal(0)
    quote_done: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    state: str = "NEW"
    updated: int = 0
    frozen: Decimal = Decimal(0)  #: spot funds frozen for the resting part
    leverage: int = DEFAULT_LEVERAGE
    contract_size: Decimal = Decimal(1)  #: base per contract (futures); 1 on spot

    @property
    def open(self) -> bool:
        return self.state in ("NEW", "PARTIALLY_FILLED")

    @property
    def avg_price(self) -> Decimal:
        if not self.executed:
            return Decimal(0)
        return self.quote_done / (self.executed * self.contract_size)

    def spot_view(self) -> dict[str, Any]:
        base, quote = self.symbol.split("_")
        left = (self.qty - self.executed) if self.qty is not None and self.open else Decimal(0)
        return {
            "symbol": self.symbol,
            "orderId": str(self.order_id),
            "clientOrderId": self.client_order_id,
            "baseCurrency": base,
            "quoteCurrency": quote,
            "side": self.side,
            "type": self.type,
            "timeInForce": self.time_in_force,
            "price": decimal_text(self.price) if self.price is not None else None,
            "origQty": decimal_text(self.qty) if self.qty is not None else None,
            "origQuoteQty": decimal_text(self.quote_qty) if self.quote_qty is not None else None,
            "executedQty": decimal_text(self.executed),
            "leavingQty": decimal_text(left),
            "tradeBase": decimal_text(self.executed),
            "tradeQuote": decimal_text(self.quote_done),
            "avgPrice": decimal_text(self.avg_price),
            "fee": decimal_text(self.fee),
            "feeCurrency": quote,
            "state": self.state,
            "time": self.created,
            "ip": "127.0.0.1",
            "updatedTime": self.updated or self.created,
        }

    def futures_view(self) -> dict[str, Any]:
        notional = (self.qty or 0) * self.contract_size * (self.price or 0)
        return {
            "orderId": str(self.order_id),
            "clientOrderId": self.client_order_id,
            "symbol": self.symbol,
            "contractSize": float(self.contract_size),
            "orderType": self.type,
            "orderSide": self.side,
            "positionSide": self.position_side,
            "positionType": "CROSSED",
            "timeInForce": self.time_in_force,
            "price": decimal_text(self.price or Decimal(0)),
            "origQty": decimal_text(self.qty or Decimal(0)),
            "avgPrice": decimal_text(self.avg_price),
            "executedQty": decimal_text(self.executed),
            "marginFrozen": decimal_text(notional / self.leverage if self.open else Decimal(0)),
            "remark": None,
            "sourceId": None,
            "sourceType": "DEFAULT",
            "leverage": self.leverage,
            "openPrice": None,
            "state": self.state,
            "createdTime": self.created,
            "updatedTime": self.updated or self.created,
            "welfareAccount": False,
            "triggerPriceType": None,
            "triggerProfitPrice": None,
            "profitDelegateOrderType": None,
            "profitDelegateTimeInForce": None,
            "profitDelegatePrice": None,
            "triggerStopPrice": None,
            "stopDelegateOrderType": None,
            "stopDelegateTimeInForce": None,
            "stopDelegatePrice": None,
            "markPrice": None,
            "desc": None,
        }


@dataclass(slots=True)
class Position:
    symbol: str
    side: str  #: LONG or SHORT
    size: Decimal = Decimal(0)  #: contracts
    entry: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    leverage: int = DEFAULT_LEVERAGE
    contract_size: Decimal = Decimal(1)

    @property
    def margin(self) -> Decimal:
        return self.size * self.contract_size * self.entry / self.leverage

    def view(self) -> dict[str, Any]:
        margin = self.margin
        return {
            "symbol": self.symbol,
            "contractType": "PERPETUAL",
            "positionType": "CROSSED",
            "positionSide": self.side,
            "positionSize": decimal_text(self.size),
            "closeOrderSize": "0",
            "availableCloseSize": decimal_text(self.size),
            "realizedProfit": decimal_text(self.realized),
            "entryPrice": decimal_text(self.entry),
            "isolatedMargin": decimal_text(margin),
            "openOrderMarginFrozen": "0",
            "underlyingType": "U_BASED",
            "leverage": self.leverage,
        }


@dataclass
class Account:
    """One simulated account: spot balances, a futures wallet, orders, fills, positions."""

    name: str
    account_id: int
    spot: dict[str, list[Decimal]] = field(default_factory=dict)  #: currency -> [free, frozen]
    wallet: Decimal = FUTURES_START
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    leverage: dict[tuple[str, str], int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)  #: ws token / listen key -> expiry ms
    bills: list[dict[str, Any]] = field(default_factory=list)  #: futures wallet changes
    collections: list[str] = field(default_factory=list)  #: futures symbols collected


class Desk:
    """Accounts and order handling of a :class:`~feeds.sim.simulator.Simulator`.

    ``markets`` are the simulator's markets (``(venue, symbol)`` -> market: orders fill
    against their books), ``clock`` the exchange's wall clock in ms (order times, token
    expiry), ``keys`` the API keys, each trading for its account.
    """

    def __init__(
        self,
        markets: Mapping[tuple[Venue, str], SymbolMarket],
        clock: Callable[[], int],
        keys: dict[str, ApiKey],
    ) -> None:
        self.markets = markets
        self.clock = clock
        self.keys = keys
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}
        self.listeners: list[Listener] = []
        self._ids = itertools.count(537_993_219_009_398_400)  # ids beyond 2**53, as on WEX
        for n, key in enumerate(keys.values()):
            if key.account not in self.accounts:
                self.accounts[key.account] = self._new_account(key.account, 100_000 + n)

    def _new_account(self, name: str, account_id: int) -> Account:
        account = Account(name, account_id)
        account.spot = {c: [q, Decimal(0)] for c, q in SPOT_START.items()}
        for venue, symbol in self.markets:
            if venue is Venue.SPOT:
                account.spot.setdefault(symbol.split("_")[0], [SPOT_START_BASE, Decimal(0)])
        return account

    # -- shared ----------------------------------------------------------------------

    def now(self) -> int:
        """The exchange's wall clock in ms."""
        return self.clock()

    def publish(self, venue: Venue, account: Account, topic: str, data: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(venue, account.name, topic, data)

    def account_of_token(self, venue: Venue, token: str) -> Account | None:
        """The account a live ws token / listen key belongs to, or ``None``."""
        for account in self.accounts.values():
            expiry = account.tokens.get(f"{venue.value}:{token}")
            if expiry is not None and expiry > self.now():
                return account
        return None

    def new_token(self, venue: Venue, account: Account) -> str:
        ttl = TOKEN_TTL_MS if venue is Venue.SPOT else LISTEN_KEY_TTL_MS
        token = secrets.token_hex(16)
        account.tokens[f"{venue.value}:{token}"] = self.now() + ttl
        return token

    def next_id(self) -> int:
        """A new exchange id (orders, trades, bills, transfers), beyond 2**53 as on WEX."""
        return next(self._ids)

    def expire_tokens(self, account_name: str | None = None) -> int:
        """Invalidate every token and listen key (of one account): for renewal tests."""
        n = 0
        for account in self.accounts.values():
            if account_name in (None, account.name):
                n += len(account.tokens)
                account.tokens.clear()
        return n

    def market(self, venue: Venue, symbol: str) -> SymbolMarket:
        """The market of ``symbol``; :class:`DeskError` (the venue's code) when unknown."""
        market = self.markets.get((venue, symbol))
        if market is None:
            if venue is Venue.SPOT:
                raise DeskError("SYMBOL_001", "Symbol not exist")
            raise DeskError("invalid_symbol", "The trading pair does not exist")
        return market

    def order(self, account: Account, venue: Venue, order_id: Any) -> Order:
        """``account``'s order ``order_id`` on ``venue``; :class:`DeskError` when it has none."""
        try:
            order = self.orders.get(int(order_id))
        except (TypeError, ValueError):
            order = None
        if order is None or order.account != account.name or order.venue is not venue:
            if venue is Venue.SPOT:
                raise DeskError("ORDER_005", "Order not exist")
            raise DeskError("invalid_order", "Order ID does not exist")
        return order

    def _levels(self, venue: Venue, symbol: str, side: str) -> list[tuple[Decimal, Decimal]]:
        truth = self.market(venue, symbol).truth()
        if side == "BUY":
            return sorted(truth.asks.items())
        return sorted(truth.bids.items(), reverse=True)

    @staticmethod
    def _walk(
        levels: list[tuple[Decimal, Decimal]],
        side: str,
        limit: Decimal | None,
        qty: Decimal | None,
        budget: Decimal | None,
    ) -> list[Fill]:
        """Fills taking ``levels`` until ``qty`` (or the quote ``budget``) or ``limit``."""
        fills: list[Fill] = []
        for price, available in levels:
            if limit is not None and (price > limit if side == "BUY" else price < limit):
                break
            if qty is not None:
                take = min(qty, available)  # futures: whole contracts on both sides
                qty -= take
            else:
                assert budget is not None
                take = min(available, (budget / price).quantize(QTY_STEP, rounding="ROUND_DOWN"))
                budget -= take * price
            if take > 0:
                fills.append(Fill(price, take))
            if (qty is not None and qty <= 0) or (budget is not None and budget < price * QTY_STEP):
                break
        return fills

    # -- spot ------------------------------------------------------------------------

    def balance(self, account: Account, currency: str) -> list[Decimal]:
        """``account``'s spot ``[free, frozen]`` of ``currency`` (the list itself: mutable)."""
        return account.spot.setdefault(currency, [Decimal(0), Decimal(0)])

    def _push_balance(self, account: Account, currency: str, symbol: str) -> None:
        free, frozen = self.balance(account, currency)
        data = {
            "a": str(account.account_id),
            "t": self.now(),
            "c": currency,
            "b": decimal_text(free + frozen),
            "f": decimal_text(frozen),
            "z": "SPOT",
            "s": symbol,
        }
        self.publish(Venue.SPOT, account, "balance", data)

    def _push_spot_order(self, account: Account, order: Order) -> None:
        view = order.spot_view()
        data = {
            "s": order.symbol,
            "bc": view["baseCurrency"],
            "qc": view["quoteCurrency"],
            "t": order.updated or order.created,
            "ct": order.created,
            "i": view["orderId"],
            "ci": order.client_order_id,
            "st": order.state,
            "sd": order.side,
            "tp": order.type,
            "oq": view["origQty"],
            "oqq": view["origQuoteQty"],
            "eq": view["executedQty"],
            "lq": view["leavingQty"],
            "p": view["price"],
            "ap": view["avgPrice"],
            "f": view["fee"],
        }
        self.publish(Venue.SPOT, account, "order", data)

    def spot_submit(self, account: Account, args: dict[str, Any]) -> Order:
        symbol = args["symbol"]
        self.market(Venue.SPOT, symbol)
        side, kind, tif = args["side"].upper(), args["type"].upper(), args["timeInForce"].upper()
        price = Decimal(args["price"]) if args.get("price") is not None else None
        qty = Decimal(args["quantity"]) if args.get("quantity") is not None else None
        quote_qty = Decimal(args["quoteQty"]) if args.get("quoteQty") is not None else None
        if kind == "LIMIT" and (price is None or qty is None):
            raise DeskError("PARAMETER_001", "LIMIT orders need price and quantity")
        if kind == "MARKET" and side == "BUY" and (quote_qty is None or qty is not None):
            raise DeskError("PARAMETER_001", "a MARKET BUY needs quoteQty and no quantity")
        if kind == "MARKET" and side == "SELL" and (qty is None or quote_qty is not None):
            raise DeskError("PARAMETER_001", "a MARKET SELL needs quantity and no quoteQty")
        for value in (price, qty, quote_qty):
            if value is not None and value <= 0:
                raise DeskError("ORDER_008", "The order price or quantity precision is abnormal")
        base, quote = symbol.split("_")
        need = (qty * price if kind == "LIMIT" else quote_qty) if side == "BUY" else qty
        pay = self.balance(account, quote if side == "BUY" else base)
        assert need is not None
        if pay[0] < need:
            raise DeskError("ORDER_002", "Insufficient funds")
        now = self.now()
        order = Order(
            Venue.SPOT, account.name, self.next_id(), symbol, side, kind, tif, price, qty,
            quote_qty, now, args.get("clientOrderId"),
        )  # fmt: skip
        levels = self._levels(Venue.SPOT, symbol, side)
        fills = self._walk(levels, side, price, qty, quote_qty if qty is None else None)
        filled = sum((f.qty for f in fills), Decimal(0))
        if tif == "GTX" and fills:
            order.state, fills = "REJECTED", []
        elif tif == "FOK" and qty is not None and filled < qty:
            order.state, fills = "CANCELED", []
        self.orders[order.order_id] = order
        self._apply_spot_fills(account, order, fills)
        if order.state in ("NEW", "PARTIALLY_FILLED"):
            dust = fills[-1].price * QTY_STEP if fills else Decimal(0)  # budget left unspendable
            done = (qty is not None and order.executed >= qty) or (
                qty is None and quote_qty is not None and quote_qty - order.quote_done < dust
            )
            if done:
                order.state = "FILLED"
            elif kind == "MARKET" or tif in ("IOC", "FOK"):
                order.state = "CANCELED"  # the unfilled rest does not rest
            else:  # a resting LIMIT order: freeze what it still needs
                assert qty is not None and price is not None
                rest = qty - order.executed
                order.frozen = rest * price if side == "BUY" else rest
                pay = self.balance(account, quote if side == "BUY" else base)
                pay[0] -= order.frozen
                pay[1] += order.frozen
                self._push_balance(account, quote if side == "BUY" else base, symbol)
        order.updated = now
        self._push_spot_order(account, order)
        return order

    def _apply_spot_fills(self, account: Account, order: Order, fills: list[Fill]) -> None:
        base, quote = order.symbol.split("_")
        for fill in fills:
            amount = fill.qty * fill.price
            fee = amount * SPOT_FEE
            b, q = self.balance(account, base), self.balance(account, quote)
            if order.side == "BUY":
                q[0] -= amount + fee
                b[0] += fill.qty
            else:
                b[0] -= fill.qty
                q[0] += amount - fee
            order.executed += fill.qty
            order.quote_done += amount
            order.fee += fee
            order.state = "PARTIALLY_FILLED"
            trade = {
                "s": order.symbol,
                "i": self.next_id(),
                "t": self.now(),
                "oi": order.order_id,
                "p": decimal_text(fill.price),
                "q": decimal_text(fill.qty),
                "v": decimal_text(amount),
                "b": order.side == "SELL",
                "tm": 1,
            }
            account.trades.append({"venue": "spot", "fee": decimal_text(fee), **trade})
            self.publish(Venue.SPOT, account, "trade", trade)
        if fills:
            self._push_balance(account, base, order.symbol)
            self._push_balance(account, quote, order.symbol)

    def spot_cancel(self, account: Account, order: Order) -> None:
        if not order.open:
            raise DeskError("ORDER_004", "No transaction")
        base, quote = order.symbol.split("_")
        currency = quote if order.side == "BUY" else base
        pay = self.balance(account, currency)
        pay[0] += order.frozen
        pay[1] -= order.frozen
        order.frozen = Decimal(0)
        order.state = "CANCELED"
        order.updated = self.now()
        self._push_balance(account, currency, order.symbol)
        self._push_spot_order(account, order)

    def spot_update(self, account: Account, order: Order, price: Any, quantity: Any) -> None:
        """Re-price a resting LIMIT order: cancel and re-freeze (no new fills)."""
        if not order.open or order.type != "LIMIT":
            raise DeskError("SYMBOL_007", "The trading pair does not support order modification")
        new_price, new_qty = Decimal(price), Decimal(quantity)
        base, quote = order.symbol.split("_")
        currency = quote if order.side == "BUY" else base
        pay = self.balance(account, currency)
        rest = new_qty - order.executed
        need = rest * new_price if order.side == "BUY" else rest
        if rest <= 0 or pay[0] + order.frozen < need:
            raise DeskError("ORDER_002", "Insufficient funds")
        pay[0] += order.frozen - need
        pay[1] += need - order.frozen
        order.frozen, order.price, order.qty = need, new_price, new_qty
        order.updated = self.now()
        self._push_spot_order(account, order)

    # -- futures -----------------------------------------------------------------------

    def _push_futures_order(self, account: Account, order: Order) -> None:
        view = order.futures_view()
        data = {k: view[k] for k in (
            "symbol", "orderId", "origQty", "avgPrice", "price", "executedQty", "orderSide",
            "timeInForce", "positionSide", "marginFrozen", "sourceType", "leverage",
            "positionType", "orderType", "state", "createdTime",
        )}  # fmt: skip
        data["type"] = "ORDER"
        self.publish(Venue.FUTURES, account, "order", data)

    def _push_wallet(self, account: Account) -> None:
        data = {
            "coin": "usdt",
            "underlyingType": 1,
            "walletBalance": decimal_text(account.wallet),
            "openOrderMarginFrozen": "0",
            "isolatedMargin": "0",
            "crossedMargin": decimal_text(self.margin(account)),
        }
        self.publish(Venue.FUTURES, account, "balance", data)

    def margin(self, account: Account) -> Decimal:
        return sum((p.margin for p in account.positions.values()), Decimal(0))

    def futures_create(self, account: Account, args: dict[str, Any]) -> Order:
        symbol = args["symbol"]
        contract = self.market(Venue.FUTURES, symbol).contract_size
        side, kind = args["orderSide"].upper(), args["orderType"].upper()
        position_side = args["positionSide"].upper()
        tif = (args.get("timeInForce") or ("IOC" if kind == "MARKET" else "GTC")).upper()
        qty = Decimal(args["origQty"])
        if qty <= 0 or qty != qty.to_integral_value():
            raise DeskError("invalid_quantity", "origQty must be an integer")
        price = Decimal(args["price"]) if args.get("price") is not None else None
        if kind == "LIMIT" and price is None:
            raise DeskError("invalid_price", "Invalid price setting")
        closing = (side == "SELL") == (position_side == "LONG")
        position = account.positions.get((symbol, position_side))
        if closing and (position is None or position.size < qty):
            raise DeskError("more_than_available", "Exceeds available quantity")
        leverage = account.leverage.get((symbol, position_side), DEFAULT_LEVERAGE)
        now = self.now()
        order = Order(
            Venue.FUTURES, account.name, self.next_id(), symbol, side, kind, tif, price, qty,
            None, now, args.get("clientOrderId"), position_side, leverage=leverage,
            contract_size=contract,
        )  # fmt: skip
        levels = self._levels(Venue.FUTURES, symbol, side)  # whole contracts
        fills = self._walk(levels, side, price, qty, None)
        filled = sum((f.qty for f in fills), Decimal(0))
        if tif == "GTX" and fills:
            order.state, fills = "REJECTED", []
        elif tif == "FOK" and filled < qty:
            order.state, fills = "CANCELED", []
        if not closing and fills:
            cost = sum((f.qty * contract * f.price for f in fills), Decimal(0)) / leverage
            if cost > account.wallet - self.margin(account):
                raise DeskError("insufficient_balance", "Insufficient balance")
        self.orders[order.order_id] = order
        self._apply_futures_fills(account, order, fills, closing)
        if order.state in ("NEW", "PARTIALLY_FILLED"):
            if order.executed >= qty:
                order.state = "FILLED"
            elif kind == "MARKET" or tif in ("IOC", "FOK"):
                order.state = "CANCELED"
        order.updated = now
        self._push_futures_order(account, order)
        return order

    def _apply_futures_fills(
        self, account: Account, order: Order, fills: list[Fill], closing: bool
    ) -> None:
        if not fills:
            return
        key = (order.symbol, order.position_side or "LONG")
        position = account.positions.setdefault(
            key,
            Position(
                order.symbol, key[1], leverage=order.leverage, contract_size=order.contract_size
            ),
        )
        for fill in fills:
            notional = fill.qty * order.contract_size * fill.price
            fee = notional * FUTURES_FEE
            account.wallet -= fee
            self._bill(account, order.symbol, "FEE", -fee)
            if closing:
                direction = 1 if position.side == "LONG" else -1
                pnl = (fill.price - position.entry) * fill.qty * order.contract_size * direction
                position.realized += pnl
                account.wallet += pnl
                self._bill(account, order.symbol, "CLOSE_POSITION", pnl)
                position.size -= fill.qty
            else:
                total = position.size + fill.qty
                position.entry = (position.entry * position.size + fill.price * fill.qty) / total
                position.size = total
            order.executed += fill.qty
            order.quote_done += notional
            order.fee += fee
            order.state = "PARTIALLY_FILLED"
            trade = {
                "orderId": str(order.order_id),
                "clientOrderId": order.client_order_id,
                "price": decimal_text(fill.price),
                "quantity": decimal_text(fill.qty),
                "marginUnfrozen": "0",
                "timestamp": self.now(),
                "symbol": order.symbol,
                "orderSide": order.side,
                "positionSide": order.position_side,
                "isMaker": False,
                "fee": float(fee),
            }
            account.trades.append({"venue": "futures", "execId": str(self.next_id()), **trade})
            self.publish(Venue.FUTURES, account, "trade", trade)
        self.publish(Venue.FUTURES, account, "position", position.view())
        if position.size == 0:
            del account.positions[key]
        self._push_wallet(account)

    def _bill(self, account: Account, symbol: str, kind: str, amount: Decimal) -> None:
        """Record one change of the futures wallet (``balance/bills``)."""
        account.bills.append({
            "id": self.next_id(), "coin": "usdt", "symbol": symbol, "type": kind,
            "side": "ADD" if amount >= 0 else "SUB", "amount": decimal_text(abs(amount)),
            "afterAmount": decimal_text(account.wallet), "createdTime": self.now(),
        })  # fmt: skip

    def futures_update(self, account: Account, order: Order, price: Any, quantity: Any) -> None:
        """Re-price / re-size a resting futures LIMIT order (no new fills, like spot's)."""
        if not order.open or order.type != "LIMIT":
            raise DeskError("invalid_order", "Order ID does not exist")
        new_price, new_qty = Decimal(str(price)), Decimal(str(quantity))
        if new_qty != new_qty.to_integral_value() or new_qty <= order.executed:
            raise DeskError("invalid_quantity", "origQty must be an integer")
        if new_price <= 0:
            raise DeskError("invalid_price", "Invalid price setting")
        order.price, order.qty, order.updated = new_price, new_qty, self.now()
        self._push_futures_order(account, order)

    def futures_cancel(self, account: Account, order: Order) -> None:
        if not order.open:
            raise DeskError("invalid_order", "Order ID does not exist")
        order.state = "CANCELED"
        order.updated = self.now()
        self._push_futures_order(account, order)

    def futures_close_all(self, account: Account) -> bool:
        for (symbol, side), position in list(account.positions.items()):
            closing_side = "SELL" if side == "LONG" else "BUY"
            self.futures_create(account, {
                "symbol": symbol, "orderSide": closing_side, "orderType": "MARKET",
                "positionSide": side, "origQty": position.size,
            })  # fmt: skip
        return True

    def open_orders(self, account: Account, venue: Venue, symbol: str | None = None) -> list[Order]:
        return [
            o
            for o in self.orders.values()
            if o.account == account.name and o.venue is venue and o.open
            and (symbol in (None, "") or o.symbol == symbol)
        ]  # fmt: skip

    def all_orders(self, account: Account, venue: Venue, symbol: str | None = None) -> list[Order]:
        return [
            o
            for o in self.orders.values()
            if o.account == account.name and o.venue is venue
            and (symbol in (None, "") or o.symbol == symbol)
        ]  # fmt: skip


def parse_batch(value: Any) -> list[dict[str, Any]]:
    """Futures ``create-batch``'s ``list``: a JSON text of orders (or already a list)."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise DeskError("invalid_params", "list is not a JSON array") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise DeskError("invalid_params", "list must be a JSON array of orders")
    return value
