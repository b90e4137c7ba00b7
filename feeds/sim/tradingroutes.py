"""The simulator's answers to the signed operations of the REST table.

Every signed row of :data:`feeds.rest.table.OPERATIONS` (89 of them) is served:
the request is rate limited per API key, its signature, timestamp and window
are verified (:mod:`feeds.sim.auth`), its documented parameters are checked
(required, type, enum, pattern, range: the table's own :class:`~feeds.rest.spec.Param`
rules), and then:

- the operations in :data:`HANDLERS` act on the :class:`~feeds.sim.trading.Desk`
  (orders, fills, balances, positions, tokens), and answer with their state;
- list-valued results of what the simulator does not keep (deposits, withdrawals,
  plan/profit/track orders, quant orders, funding fees, closed positions...) are
  empty lists or pages (:data:`EMPTY`): never the document's example row, whose blank
  identifiers (``symbol: ""``) break real clients;
- looking up or cancelling one such object by its id answers the document's not-found
  code (:data:`NOT_FOUND`): none can exist;
- the rest are acknowledgements (``true``, ``{}``, a new id) and answer the document's
  example ``result`` (``feeds/sim/doc_examples.json``, extracted with the table), or the
  request laid on its fields (``withdraw``).

Every list-valued operation is in :data:`HANDLERS` or :data:`EMPTY` (a test checks it).
Plan (trigger), profit (TP/SL) and track (trailing) orders are acknowledged but not
kept: they never trigger and never show in lists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from importlib import resources
from typing import Any

from orderbook import Venue

from ..rest.errors import ParameterError
from ..rest.spec import Operation
from .trading import DEFAULT_LEVERAGE, Account, Desk, DeskError, Order, decimal_text, parse_batch

Handler = Callable[[Desk, Account, dict[str, Any]], Any]
_S, _F = Venue.SPOT, Venue.FUTURES


def doc_examples() -> dict[str, Any]:
    """The document's example ``result`` of every operation, by ``venue.name``."""
    text = resources.files("feeds.sim").joinpath("doc_examples.json").read_text()
    return json.loads(text)


EXAMPLES = doc_examples()


def like(key: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` laid out on the fields of the document's example for ``key``
    (the first item when the example is a list or a page of ``items``)."""
    example = EXAMPLES.get(key)
    if isinstance(example, list):
        example = example[0] if example else {}
    if isinstance(example, dict) and "items" in example and isinstance(example["items"], list):
        example = example["items"][0] if example["items"] else {}
    if not isinstance(example, dict) or not example:
        return values
    return {k: values.get(k, v) for k, v in example.items()}


def _futures_order(order: Order, key: str = "futures.get_order") -> dict[str, Any]:
    return like(key, order.futures_view())


def _page(items: list[Any]) -> dict[str, Any]:
    return {"hasPrev": False, "hasNext": False, "items": items}


def _futures_page(items: list[Any]) -> dict[str, Any]:
    return {"items": items, "page": 1, "ps": len(items), "total": len(items)}


# -- spot --------------------------------------------------------------------------------


def spot_submit(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return {"orderId": str(desk.spot_submit(acct, a).order_id), "ip": "127.0.0.1"}


def spot_get(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return desk.order(acct, _S, a["orderId"]).spot_view()


def spot_query(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    if a.get("orderId") is not None:
        return like("spot.query_order", desk.order(acct, _S, a["orderId"]).spot_view())
    for order in desk.all_orders(acct, _S):
        if a.get("clientOrderId") and order.client_order_id == a["clientOrderId"]:
            return like("spot.query_order", order.spot_view())
    raise DeskError("ORDER_005", "Order not exist")


def spot_cancel(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    desk.spot_cancel(acct, desk.order(acct, _S, a["orderId"]))
    return {"cancelId": str(a["orderId"])}


def spot_update(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    order = desk.order(acct, _S, a["orderId"])
    desk.spot_update(acct, order, a["price"], a["quantity"])
    return {"orderId": str(order.order_id), "modifyId": str(desk.next_id())}


def spot_batch_get(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    ids = [i.strip() for i in str(a["orderIds"]).split(",") if i.strip()]
    return [desk.order(acct, _S, i).spot_view() for i in ids]


def spot_batch_submit(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    items = []
    for index, item in enumerate(a.get("items") or []):
        try:
            order = desk.spot_submit(acct, item)
            items.append(
                {
                    "index": str(index),
                    "clientOrderId": item.get("clientOrderId"),
                    "orderId": str(order.order_id),
                    "reject": "false",
                    "reason": None,
                }
            )
        except (DeskError, KeyError, ArithmeticError) as exc:
            items.append(
                {
                    "index": str(index),
                    "clientOrderId": item.get("clientOrderId"),
                    "orderId": None,
                    "reject": "true",
                    "reason": str(exc),
                }
            )
    return {"batchId": a.get("clientBatchId") or str(desk.next_id()), "items": items}


def spot_batch_cancel(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    for order_id in a.get("orderIds") or []:
        order = desk.order(acct, _S, order_id)
        if order.open:
            desk.spot_cancel(acct, order)
    return {}


def _spot_open(desk: Desk, acct: Account, a: dict[str, Any]) -> list[Order]:
    return [
        o for o in desk.open_orders(acct, _S, a.get("symbol"))
        if a.get("side") in (None, o.side)
    ]  # fmt: skip


def spot_open(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return [o.spot_view() for o in _spot_open(desk, acct, a)]


def spot_cancel_open(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    for order in _spot_open(desk, acct, a):
        desk.spot_cancel(acct, order)
    return {}


def spot_history(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    orders = [o for o in desk.all_orders(acct, _S, a.get("symbol")) if not o.open]
    return _page([o.spot_view() for o in orders][-(a.get("limit") or 20) :])


def spot_trades(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    items = []
    for t in acct.trades:
        if t["venue"] != "spot" or a.get("symbol") not in (None, t["s"]):
            continue
        order = desk.orders[t["oi"]]
        base, quote = t["s"].split("_")
        items.append(like("spot.get_trades", {
            "symbol": t["s"], "tradeId": str(t["i"]), "orderId": str(t["oi"]),
            "orderSide": order.side, "orderType": order.type, "bizType": "SPOT",
            "time": t["t"], "price": t["p"], "quantity": t["q"], "quoteQty": t["v"],
            "baseCurrency": base, "quoteCurrency": quote, "fee": t["fee"],
            "feeCurrency": quote, "takerMaker": "TAKER",
        }))  # fmt: skip
    return _page(items)


def _asset(currency: str, free: Decimal, frozen: Decimal) -> dict[str, Any]:
    return {"currency": currency, "currencyId": 0, "frozenAmount": str(frozen),
            "availableAmount": str(free), "totalAmount": str(free + frozen),
            "convertBtcAmount": "0"}  # fmt: skip


def spot_balance(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    free, frozen = desk.balance(acct, a["currency"])
    return _asset(a["currency"], free, frozen)


def spot_balances(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    wanted = a.get("currencies")
    names = wanted.split(",") if isinstance(wanted, str) else wanted or sorted(acct.spot)
    assets = [_asset(c, *desk.balance(acct, c)) for c in names]
    return {"totalBtcAmount": "0", "assets": assets}


def spot_ws_token(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return {"accessToken": desk.new_token(_S, acct), "refreshToken": desk.new_token(_S, acct)}


# -- futures -----------------------------------------------------------------------------


def fut_create(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return str(desk.futures_create(acct, a).order_id)


def fut_batch(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    orders = parse_batch(a.get("list") if "list" in a else a.get("orders"))
    if len(orders) > 20:
        raise DeskError("order_create_size_exceed", "more than 20 orders in one batch")
    return ",".join(str(desk.futures_create(acct, o).order_id) for o in orders)


def fut_get(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return _futures_order(desk.order(acct, _F, a["orderId"]))


def fut_list(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    orders = desk.all_orders(acct, _F, a.get("symbol"))
    if a.get("state") in ("NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED"):
        orders = [o for o in orders if o.state == a["state"]]
    return _futures_page([_futures_order(o, "futures.get_orders") for o in orders])


def fut_open(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return [_futures_order(o, "futures.get_open_orders")
            for o in desk.open_orders(acct, _F, a.get("symbol"))]  # fmt: skip


def fut_history(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    orders = [o for o in desk.all_orders(acct, _F, a.get("symbol")) if not o.open]
    return _page([_futures_order(o, "futures.get_order_history") for o in orders])


def fut_trades(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    items = [
        like("futures.get_order_trades", {
            "fee": t["fee"], "feeCoin": "usdt", "orderId": t["orderId"], "execId": t["execId"],
            "price": t["price"], "quantity": t["quantity"], "symbol": t["symbol"],
            "timestamp": t["timestamp"], "takerMaker": "TAKER",
        })
        for t in acct.trades
        if t["venue"] == "futures" and a.get("symbol") in (None, t["symbol"])
        and a.get("orderId") in (None, int(t["orderId"]))
    ]  # fmt: skip
    return _futures_page(items)


def fut_cancel(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    desk.futures_cancel(acct, desk.order(acct, _F, a["orderId"]))
    return str(a["orderId"])


def fut_cancel_batch(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    for order_id in str(a["orderIds"]).split(","):
        order = desk.order(acct, _F, order_id.strip())
        if order.open:
            desk.futures_cancel(acct, order)
    return True


def fut_cancel_all(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    for order in desk.open_orders(acct, _F, a.get("symbol")):
        desk.futures_cancel(acct, order)
    return True


def _fut_balance(desk: Desk, acct: Account) -> dict[str, Any]:
    margin = desk.margin(acct)
    return like("futures.get_balance", {
        "availableBalance": str(acct.wallet - margin), "coin": "usdt", "isolatedMargin": "0",
        "openOrderMarginFrozen": "0", "crossedMargin": str(margin), "bonus": "0", "coupon": "0",
        "walletBalance": str(acct.wallet),
    })  # fmt: skip


def fut_balance(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    if a.get("coin") not in (None, "usdt"):
        raise DeskError("invalid_params", f"no {a['coin']} balance")
    return _fut_balance(desk, acct)


def fut_positions(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return [
        like("futures.get_positions", {**p.view(), "autoMargin": False})
        for p in acct.positions.values()
        if a.get("symbol") in (None, "", p.symbol)
    ]


def fut_active_positions(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return [
        like("futures.get_active_positions", p.view())
        for p in acct.positions.values()
        if a.get("symbol") in (None, "", p.symbol)
    ]


def fut_listen_key(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return desk.new_token(_F, acct)


def fut_adjust_leverage(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    leverage = int(a["leverage"])
    if not 1 <= leverage <= 125:
        raise DeskError("exceed_max_leverage", "Exceeds maximum leverage")
    acct.leverage[(a["symbol"], a["positionSide"].upper())] = leverage
    return {}


def fut_close_all(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return desk.futures_close_all(acct)


def fut_update(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    """The order id, as for create and cancel (the document's example ``{}`` is a placeholder;
    XT answers the id, which ccxt's ``edit_order`` reads)."""
    order = desk.order(acct, _F, a["orderId"])
    desk.futures_update(acct, order, a["price"], a["origQty"])
    return str(order.order_id)


def _positions(acct: Account, a: dict[str, Any]) -> list[Any]:
    return [p for p in acct.positions.values() if a.get("symbol") in (None, "", p.symbol)]


def fut_break_list(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    out = []
    for p in _positions(acct, a):
        mark = desk.market(_F, p.symbol).mark_price()
        sign = -1 if p.side == "LONG" else 1  # cross margin: liquidation 1/leverage away
        out.append(like("futures.get_break_list", {
            **p.view(), "breakPrice": decimal_text(p.entry * (1 + sign * Decimal(1) / p.leverage)),
            "calMarkPrice": decimal_text(mark),
        }))  # fmt: skip
    return out


def fut_active_position(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return [
        like("futures.get_active_position", {
            **p.view(), "autoMargin": False, "openOrderSize": "0", "floatingPL": "0",
            "breakPrice": "0", "calMarkPrice": decimal_text(desk.market(_F, p.symbol).mark_price()),
            "welfareAccount": False, "profitId": None, "triggerPriceType": None,
            "triggerProfitPrice": None, "triggerStopPrice": None,
        })
        for p in _positions(acct, a)
    ]  # fmt: skip


def fut_adl(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    symbols = sorted({p.symbol for p in _positions(acct, a)})
    return [
        {"symbol": s, "longQuantile": int((s, "LONG") in acct.positions),
         "shortQuantile": int((s, "SHORT") in acct.positions)}
        for s in symbols
    ]  # fmt: skip


def fut_leverage_info(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    items = [
        like("futures.get_leverage_info", {
            "symbol": symbol, "accountId": str(acct.account_id), "positionType": "CROSSED",
            "positionSide": side, "contractType": "PERPETUAL",
            "leverage": acct.leverage.get((symbol, side), DEFAULT_LEVERAGE),
        })
        for (venue, symbol) in desk.markets if venue is _F
        and a.get("symbol") in (None, "", symbol)
        for side in ("LONG", "SHORT")
    ]  # fmt: skip
    return _page(items)


def _compat_balance(
    desk: Desk, acct: Account, key: str = "futures.get_compat_balances"
) -> dict[str, Any]:
    wallet = str(acct.wallet)
    return like(key, {
        **_fut_balance(desk, acct), "accountId": acct.account_id, "userId": acct.account_id,
        "underlyingType": 1, "amount": wallet, "totalAmount": wallet, "convertBtcAmount": "0",
        "convertUsdtAmount": wallet, "profit": "0", "notProfit": "0",
    })  # fmt: skip


def fut_compat_balance(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    if str(a["coin"]).lower() != "usdt":
        raise DeskError("invalid_params", f"no {a['coin']} balance")
    return _compat_balance(desk, acct, "futures.get_compat_balance")


def _filled(desk: Desk, acct: Account, a: dict[str, Any]) -> list[Order]:
    return [o for o in desk.all_orders(acct, _F, a.get("symbol")) if o.executed]


def fut_filled_history(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    keys = ("symbol", "orderSide", "avgPrice", "origQty", "executedQty", "updatedTime")
    return [{k: o.futures_view()[k] for k in keys} for o in _filled(desk, acct, a)]


def fut_all_trades(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return [
        like("futures.get_all_trades", {
            **t, "contractSize": float(desk.market(_F, t["symbol"]).contract_size),
            "fee": decimal_text(Decimal(str(t["fee"]))), "couponDeductFee": "0",
            "bonusDeductFee": "0", "feeCoin": "usdt", "takerMaker": "TAKER",
        })
        for t in acct.trades
        if t["venue"] == "futures" and a.get("symbol") in (None, "", t["symbol"])
    ]  # fmt: skip


def fut_all_orders(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    orders = desk.all_orders(acct, _F, a.get("symbol"))
    items = [
        like("futures.get_all_orders", {**o.futures_view(), "id": str(o.order_id), "type": "ORDER"})
        for o in orders
    ]
    return _futures_page(items)


def fut_partial_canceled(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    orders = [o for o in _filled(desk, acct, a) if o.state == "CANCELED"]
    return _page([
        like("futures.get_partial_canceled_orders", {
            **o.futures_view(), "state": "PARTIALLY_CANCELED",
            "canceledQty": decimal_text((o.qty or Decimal(0)) - o.executed),
        })
        for o in orders
    ])  # fmt: skip


def fut_order_list(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    orders = desk.all_orders(acct, _F, a.get("symbol"))
    return _futures_page([_futures_order(o, "futures.get_order_list") for o in orders])


def fut_bills(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    bills = [b for b in acct.bills if a.get("symbol") in (None, "", b["symbol"])]
    return _page(bills[-(a.get("limit") or 10) :][::-1])  # newest first


def fut_cross_margin(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    """The cross margin held by the symbol's positions (the document's example: a string)."""
    desk.market(_F, a["symbol"])
    return decimal_text(sum((p.margin for p in _positions(acct, a)), Decimal(0)))


def fut_collect(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    desk.market(_F, a["symbol"])
    if a["symbol"] not in acct.collections:
        acct.collections.append(a["symbol"])
    return True


def fut_uncollect(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    if a["symbol"] in acct.collections:
        acct.collections.remove(a["symbol"])
    return True


def spot_withdraw(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    """The request laid on the example's fields (withdrawals are not kept)."""
    return like("spot.withdraw", {k: a.get(k) for k in ("currency", "chain", "amount", "address")}
                | {"memo": a.get("memo") or ""})  # fmt: skip


def fut_account(desk: Desk, acct: Account, a: dict[str, Any]) -> Any:
    return like("futures.get_account_info", {
        "accountId": acct.account_id, "allowOpenPosition": True, "allowTrade": True,
        "allowTransfer": True, "openTime": "", "state": 1, "userId": acct.account_id,
    })  # fmt: skip


#: The operations that act on the simulated accounts, by table key.
HANDLERS: dict[str, Handler] = {
    "spot.submit_order": spot_submit,
    "spot.get_order": spot_get,
    "spot.query_order": spot_query,
    "spot.cancel_order": spot_cancel,
    "spot.update_order": spot_update,
    "spot.get_batch_orders": spot_batch_get,
    "spot.submit_batch_order": spot_batch_submit,
    "spot.cancel_batch_order": spot_batch_cancel,
    "spot.get_open_orders": spot_open,
    "spot.cancel_open_orders": spot_cancel_open,
    "spot.get_history_orders": spot_history,
    "spot.get_trades": spot_trades,
    "spot.get_balance": spot_balance,
    "spot.get_balances": spot_balances,
    "spot.get_ws_token": spot_ws_token,
    "futures.create_order": fut_create,
    "futures.create_batch_orders": fut_batch,
    "futures.atomic_create_batch_orders": fut_batch,
    "futures.get_order": fut_get,
    "futures.get_orders": fut_list,
    "futures.get_open_orders": fut_open,
    "futures.get_order_history": fut_history,
    "futures.get_order_trades": fut_trades,
    "futures.cancel_order": fut_cancel,
    "futures.cancel_batch_orders": fut_cancel_batch,
    "futures.cancel_all_orders": fut_cancel_all,
    "futures.get_balance": fut_balance,
    "futures.get_balances": lambda desk, acct, a: [_fut_balance(desk, acct)],
    "futures.get_positions": fut_positions,
    "futures.get_active_positions": fut_active_positions,
    "futures.get_listen_key": fut_listen_key,
    "futures.adjust_leverage": fut_adjust_leverage,
    "futures.close_all_positions": fut_close_all,
    "futures.get_account_info": fut_account,
    "futures.update_order": fut_update,
    "futures.get_break_list": fut_break_list,
    "futures.get_active_position": fut_active_position,
    "futures.get_adl_info": fut_adl,
    "futures.get_leverage_info": fut_leverage_info,
    "futures.get_compat_balances": lambda desk, acct, a: [_compat_balance(desk, acct)],
    "futures.get_compat_balance": fut_compat_balance,
    "futures.get_filled_order_history": fut_filled_history,
    "futures.get_all_trades": fut_all_trades,
    "futures.get_all_orders": fut_all_orders,
    "futures.get_partial_canceled_orders": fut_partial_canceled,
    "futures.get_order_list": fut_order_list,
    "futures.get_balance_bills": fut_bills,
    "futures.get_cross_margin": fut_cross_margin,
    "futures.add_collection": fut_collect,
    "futures.cancel_collection": fut_uncollect,
    "futures.get_collections": lambda desk, acct, a: list(acct.collections),
    "spot.withdraw": spot_withdraw,
    "spot.transfer": lambda desk, acct, a: desk.next_id(),
    "spot.account_transfer": lambda desk, acct, a: desk.next_id(),
}

#: List-valued operations on what the simulator does not keep: always empty.
EMPTY = frozenset({
    "spot.get_deposit_history", "spot.get_withdraw_history",
    "futures.get_quant_order_history", "futures.get_quant_trades",
    "futures.get_plans", "futures.get_plan_history", "futures.get_profits",
    "futures.get_tracks", "futures.get_track_history", "futures.get_profit_history",
    "futures.get_reverse_plans", "futures.get_reverse_plan_history",
    "futures.get_position_history", "futures.get_funding_fees",
    "futures.get_auto_deleverage_history", "futures.get_taker_over_list",
})  # fmt: skip

#: Lookups and cancels by id of what the simulator does not keep: the document's code.
NOT_FOUND: dict[str, tuple[str, str]] = {  # each operation's own documented code
    "futures.get_plan": ("invalid_entrust_Id", "Invalid order ID"),
    "futures.cancel_plan": ("invalid_params", "Invalid parameters"),
    "futures.get_profit": ("invalid_profit_id", "Profit ID does not exist"),
    "futures.cancel_profit": ("invalid_entrust", "Invalid order ID"),
    "futures.update_profit": ("invalid_entrust", "Invalid order ID"),
    "futures.get_track": ("invalid_track_Id", "Tracking order does not exist"),
    "futures.cancel_track": ("invalid_track_entrust", "Tracking order does not exist"),
}


def empty_like(example: Any) -> Any:
    """An empty result of the example's kind: ``[]``, or its page with no ``items``."""
    if isinstance(example, dict) and isinstance(example.get("items"), list):
        page = {**example, "items": []}
        for key in ("hasNext", "hasPrev", "hasPre"):
            if key in page:
                page[key] = False
        for key in ("total", "ps"):
            if key in page:
                page[key] = 0
        return page
    return []


def check_arguments(op: Operation, args: dict[str, Any]) -> dict[str, Any]:
    """The documented parameters of ``op`` checked as the exchange would (unknown names are
    passed through); :class:`ParameterError` for a missing or bad one."""
    where = f"{op.method} {op.path}"
    checked = dict(args)
    for name, param in op.by_name.items():
        if args.get(name) in (None, ""):
            if param.required and not (param.type == "str" and args.get(name) == ""):
                raise ParameterError(f"{where}: missing parameter {name}")
            continue
        checked[name] = param.check(args[name], where)
    return checked


def answer(desk: Desk, op: Operation, account: Account, args: dict[str, Any]) -> Any:
    """The ``result`` of one signed call (see the module docstring)."""
    handler = HANDLERS.get(op.key)
    if handler is None:
        if isinstance(args.get("symbol"), str) and args["symbol"]:
            desk.market(Venue(op.venue), args["symbol"])  # unknown symbol: its error
        if op.key in EMPTY:
            return empty_like(EXAMPLES.get(op.key))
        if op.key in NOT_FOUND:
            raise DeskError(*NOT_FOUND[op.key])
        return EXAMPLES.get(op.key)
    return handler(desk, account, args)
