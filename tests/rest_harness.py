"""Arguments for every operation of the REST table, for tests against the simulator.

:func:`arguments` gives each operation's documented required parameters (and a few
optional ones) with values the simulator accepts: generic values from the table
(first enum value, the bounds of a range, a string fitting the pattern), and, for
operations that act on state, real ids made by :class:`Context` through the same
client (a resting order to cancel, a position to close...).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from feeds.rest.spec import Operation, Param
from feeds.sim import Simulator
from feeds.sim.background import simulator_thread

__all__ = ["Context", "arguments", "generic_value", "simulator_thread"]

NAMED = {
    "symbol": "btc_usdt",
    "currency": "usdt",
    "coin": "usdt",
    "chain": "Ethereum",
    "address": "0xfa3abfa50eb2006f5be7831658b17aca240d8526",
    "bizId": "biz12345",
    "direction": "NEXT",
}


def generic_value(param: Param) -> Any:
    """A value of the documented type that fits the documented rules."""
    if param.name in NAMED:
        return NAMED[param.name]
    if param.enum:
        return param.enum[0]
    if param.pattern:
        return "abcd1234"
    if param.type == "int":
        return param.min if param.min is not None else 1
    if param.type == "decimal":
        return str(param.min) if param.min is not None else "1"
    if param.type == "bool":
        return False
    if param.type == "list":
        return ["usdt"]
    return "1"


class Context:
    """Makes the state some operations need, through a synchronous call function."""

    def __init__(self, call: Any, sim: Simulator) -> None:
        self.call = call  # call(key, **arguments) -> result
        self.sim = sim

    def far_price(self, venue: str, side: str) -> str:
        book = self.sim.book(venue, "btc_usdt")
        best = max(book.bids) if side == "BUY" else min(book.asks)
        return str((best * Decimal("0.9" if side == "BUY" else "1.1")).quantize(Decimal("0.01")))

    def spot_order(self) -> str:
        result = self.call(
            "spot.submit_order", symbol="btc_usdt", side="BUY", type="LIMIT",
            timeInForce="GTC", bizType="SPOT", price=self.far_price("spot", "BUY"),
            quantity="0.01",
        )  # fmt: skip
        return result["orderId"]

    def futures_order(self) -> str:
        return self.call(
            "futures.create_order", symbol="btc_usdt", orderSide="BUY", orderType="LIMIT",
            origQty=3, price=self.far_price("futures", "BUY"), positionSide="LONG",
        )  # fmt: skip

    def futures_position(self) -> None:
        self.call(
            "futures.create_order", symbol="btc_usdt", orderSide="BUY", orderType="MARKET",
            origQty=5, positionSide="LONG",
        )  # fmt: skip


def futures_item() -> dict[str, Any]:
    return {"symbol": "btc_usdt", "orderSide": "BUY", "orderType": "MARKET", "origQty": 1,
            "positionSide": "LONG"}  # fmt: skip


SPECIAL: dict[str, Any] = {
    "spot.get_depth": lambda c: {"symbol": "btc_usdt", "limit": 20},
    "spot.submit_order": lambda c: {
        "symbol": "btc_usdt", "side": "BUY", "type": "MARKET", "timeInForce": "IOC",
        "bizType": "SPOT", "quoteQty": "100",
    },
    "spot.get_order": lambda c: {"orderId": c.spot_order()},
    "spot.query_order": lambda c: {"orderId": c.spot_order()},
    "spot.cancel_order": lambda c: {"orderId": c.spot_order()},
    "spot.update_order": lambda c: {
        "orderId": c.spot_order(), "price": c.far_price("spot", "BUY"), "quantity": "0.02",
    },
    "spot.get_batch_orders": lambda c: {"orderIds": f"{c.spot_order()},{c.spot_order()}"},
    "spot.submit_batch_order": lambda c: {
        "clientBatchId": "batch0001",
        "items": [{"symbol": "btc_usdt", "side": "SELL", "type": "MARKET", "timeInForce": "IOC",
                   "bizType": "SPOT", "quantity": "0.01"}],
    },
    "spot.cancel_batch_order": lambda c: {"orderIds": [c.spot_order()]},
    "spot.get_balance": lambda c: {"currency": "btc"},
    "futures.create_order": lambda c: futures_item(),
    "futures.create_batch_orders": lambda c: {"list": [futures_item(), futures_item()]},
    "futures.atomic_create_batch_orders": lambda c: {"orders": [futures_item()]},
    "futures.get_order": lambda c: {"orderId": c.futures_order()},
    "futures.cancel_order": lambda c: {"orderId": c.futures_order()},
    "futures.update_order": lambda c: {
        "orderId": c.futures_order(), "price": c.far_price("futures", "BUY"), "origQty": 4,
    },
    "futures.cancel_batch_orders": lambda c: {
        "orderIds": f"{c.futures_order()},{c.futures_order()}"
    },
    "futures.adjust_leverage": lambda c: {"symbol": "btc_usdt", "positionSide": "LONG",
                                          "leverage": 10},
    "futures.close_all_positions": lambda c: c.futures_position() or {},
    "futures.get_depth": lambda c: {"symbol": "btc_usdt", "level": 5},
}  # fmt: skip


def arguments(op: Operation, context: Context) -> dict[str, Any]:
    """Arguments for one call of ``op``."""
    special = SPECIAL.get(op.key)
    if special is not None:
        return special(context)
    return {
        name: generic_value(param)
        for name, param in op.by_name.items()
        if param.required or (name == "symbol" and op.venue == "futures" and "kline" in op.name)
    }
