"""Real XT.com clients against the simulator: ccxt's ``xt`` (sync), ccxt.pro websockets, pyxt.

These are independent implementations of the XT protocol that WEX mirrors. Each test
drives one client through its public and signed calls over loopback, with the
simulator's XT compatibility on (``Simulator(xt_compat=True)``), and checks the answers
against the simulator's own state (the exact books, the accounts). Where a client and
the simulator disagree, the document decides; the cases are written down in
``feeds/sim/xtcompat.py`` and tested here (``test_ccxt_signs_a_query_it_does_not_send``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from feeds.sim import DEMO_API_KEY, DEMO_SECRET, Simulator

ccxt = pytest.importorskip("ccxt", reason="ccxt is not installed (pip install -e '.[xt]')")

SYMBOLS = {"spot": "BTC/USDT", "swap": "BTC/USDT:USDT"}


class Exchange:
    """A simulator (manual time) serving from a background thread, and a way to move it."""

    def __init__(self, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = Simulator(auto=False, **options)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.run(self.sim.start())

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def advance(self, steps: int) -> None:
        self.run(self.sim.advance(steps))

    def close(self) -> None:
        self.run(self.sim.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def exchange() -> Iterator[Exchange]:
    exchange = Exchange(xt_compat=True, rate_limit_scale=100, seed=3)
    exchange.advance(30)
    yield exchange
    exchange.close()


def point(client: Any, sim: Simulator) -> Any:
    """Point a ccxt ``xt`` instance at the simulator (the README shows the same)."""
    client.urls["api"] = dict.fromkeys(("spot", "linear", "inverse", "user"), sim.spot_http_url)
    return client


@pytest.fixture(scope="module")
def xt(exchange: Exchange) -> Any:
    client = point(ccxt.xt({"apiKey": DEMO_API_KEY, "secret": DEMO_SECRET}), exchange.sim)
    client.load_markets()
    return client


def venue(kind: str) -> str:
    return "spot" if kind == "spot" else "futures"


def number(value: Decimal) -> float:
    return float(value)


def far_price(sim: Simulator, kind: str, side: str = "buy") -> float:
    book = sim.book(venue(kind), "btc_usdt")
    best = max(book.bids) if side == "buy" else min(book.asks)
    return float((best * Decimal("0.9" if side == "buy" else "1.1")).quantize(Decimal("0.01")))


# -- public ---------------------------------------------------------------------------


def test_markets_and_currencies(xt: Any) -> None:
    assert set(SYMBOLS.values()) <= set(xt.markets) and "ETH/USDT:USDT" in xt.markets
    spot, swap = xt.market("BTC/USDT"), xt.market("BTC/USDT:USDT")
    assert spot["spot"] and spot["active"] and spot["precision"]["amount"] == 0.0001
    assert swap["swap"] and swap["linear"] and swap["settle"] == "USDT" and swap["active"]
    assert swap["contractSize"] == 0.0001 and swap["precision"]["amount"] == 1  # whole contracts
    assert xt.market("ETH/USDT:USDT")["contractSize"] == 0.001
    assert {"BTC", "ETH", "USDT"} <= set(xt.currencies)  # result.currencies (XT compatibility)


@pytest.mark.parametrize("kind", ["spot", "swap"])
def test_order_book_is_the_exact_book(xt: Any, exchange: Exchange, kind: str) -> None:
    book = xt.fetch_order_book(SYMBOLS[kind], 50)
    truth = exchange.sim.book(venue(kind), "btc_usdt")
    bids, asks = truth.top(50)
    assert book["nonce"] == truth.last_id
    assert book["bids"] == [[number(p), number(q)] for p, q in bids]
    assert book["asks"] == [[number(p), number(q)] for p, q in asks]
    if kind == "swap":
        assert all(q == int(q) for _, q in book["bids"] + book["asks"])  # contracts


@pytest.mark.parametrize("kind", ["spot", "swap"])
def test_ticker_and_trades(xt: Any, exchange: Exchange, kind: str) -> None:
    market = exchange.sim.markets[venue(kind), "btc_usdt"]
    ticker = xt.fetch_ticker(SYMBOLS[kind])
    assert ticker["last"] == number(market.candle.close)
    if kind == "swap":  # the aggregated ticker carries the best bid and ask
        (bid, _), (ask, _) = market.best()
        assert (ticker["bid"], ticker["ask"]) == (float(bid), float(ask))
    trades = xt.fetch_trades(SYMBOLS[kind], limit=20)
    expected = list(market.trades)[-20:]
    assert trades and len(trades) == len(expected)
    size = market.contract_size  # ccxt counts trade amounts in base currency, not contracts
    ours = sorted((t["t"], float(t["p"]), float(Decimal(t["q"]) * size)) for t in expected)
    theirs = sorted((t["timestamp"], t["price"], t["amount"]) for t in trades)
    assert theirs == ours


# -- signed ---------------------------------------------------------------------------


def test_balances_are_the_accounts(xt: Any, exchange: Exchange) -> None:
    account = exchange.sim.desk.accounts["account-0"]
    spot = xt.fetch_balance()
    assert spot["USDT"]["free"] == float(account.spot["usdt"][0])
    assert spot["BTC"]["total"] == float(sum(account.spot["btc"]))
    swap = xt.fetch_balance({"type": "swap"})
    assert swap["USDT"]["total"] == float(account.wallet)


def test_spot_orders(xt: Any, exchange: Exchange) -> None:
    symbol, price = SYMBOLS["spot"], far_price(exchange.sim, "spot")
    order = xt.create_order(symbol, "limit", "buy", 0.01, price)
    assert [o["id"] for o in xt.fetch_open_orders(symbol)] == [order["id"]]
    placed = xt.fetch_order(order["id"], symbol)
    assert (placed["status"], placed["price"], placed["amount"]) == ("open", price, 0.01)
    edited = xt.edit_order(order["id"], symbol, "limit", "buy", 0.02, price - 1)
    assert edited["id"] == order["id"]
    assert (
        xt.fetch_order(order["id"], symbol)["price"],
        xt.fetch_order(order["id"])["amount"],
    ) == (
        price - 1,
        0.02,
    )
    xt.cancel_order(order["id"], symbol)
    assert xt.fetch_order(order["id"], symbol)["status"] == "canceled"
    assert xt.fetch_open_orders(symbol) == []

    best_ask = min(exchange.sim.book("spot", "btc_usdt").asks)
    market = xt.create_order(symbol, "market", "buy", 0.01, float(best_ask))  # cost = 0.01 * ask
    filled = xt.fetch_order(market["id"], symbol)
    assert filled["status"] == "closed" and filled["average"] == float(best_ask)
    mine = [t for t in xt.fetch_my_trades(symbol) if t["order"] == market["id"]]
    assert mine and {t["price"] for t in mine} == {float(best_ask)}
    spent = exchange.sim.desk.orders[int(market["id"])].quote_done  # ccxt cut the cost to 0.01
    assert sum(t["cost"] for t in mine) == float(spent) and spent <= Decimal("0.01") * best_ask


def test_swap_orders_positions_and_leverage(xt: Any, exchange: Exchange) -> None:
    symbol, price = SYMBOLS["swap"], far_price(exchange.sim, "swap")
    order = xt.create_order(symbol, "limit", "buy", 3, price, {"positionSide": "LONG"})
    assert order["id"] in [o["id"] for o in xt.fetch_open_orders(symbol)]
    edited = xt.edit_order(order["id"], symbol, "limit", "buy", 4, price - 1)
    assert edited["id"] == order["id"]
    placed = xt.fetch_order(order["id"], symbol)
    # ccxt takes swap amounts in contracts but reports them in base (contracts x 0.0001)
    assert (placed["status"], placed["price"]) == ("open", price - 1)
    assert placed["amount"] == pytest.approx(4 * 0.0001)
    xt.cancel_order(order["id"], symbol)
    assert xt.fetch_order(order["id"], symbol)["status"] == "canceled"

    xt.set_leverage(10, symbol, {"positionSide": "LONG"})
    account = exchange.sim.desk.accounts["account-0"]
    assert account.leverage["btc_usdt", "LONG"] == 10
    best_ask = min(exchange.sim.book("futures", "btc_usdt").asks)
    market = xt.create_order(symbol, "market", "buy", 5, None, {"positionSide": "LONG"})
    filled = xt.fetch_order(market["id"], symbol)
    assert (filled["status"], filled["average"]) == ("closed", float(best_ask))
    assert filled["filled"] == pytest.approx(5 * 0.0001)
    positions = {p["side"]: p for p in xt.fetch_positions([symbol])}
    long = positions["long"]
    assert long["contracts"] == float(account.positions["btc_usdt", "LONG"].size)
    assert long["leverage"] == 10 and long["symbol"] == symbol
    assert xt.fetch_position(symbol)["contracts"] == long["contracts"]
    mine = [t for t in xt.fetch_my_trades(symbol) if t["order"] == market["id"]]
    assert sum(t["amount"] for t in mine) == pytest.approx(5 * 0.0001)  # base, as orders
    assert mine[0]["price"] == float(best_ask)
    fees = [e for e in xt.fetch_ledger("USDT", params={"type": "swap"}) if e["type"] == "fee"]
    assert fees and fees[0]["currency"] == "USDT"  # balance/bills without symbol
    closed = xt.fetch_closed_orders(symbol)
    assert market["id"] in [o["id"] for o in closed]
    assert xt.fetch_funding_history(symbol) == []  # no funding is charged: empty, no blank row


def test_leverage_tiers(xt: Any) -> None:
    tiers = xt.fetch_leverage_tiers([SYMBOLS["swap"]])[SYMBOLS["swap"]]
    assert [t["maxLeverage"] for t in tiers] == [100, 50, 33]


def test_ccxt_signs_a_query_it_does_not_send(xt: Any) -> None:
    """ccxt adds ``media=CCXT`` to the signed query of spot ``GET /v4/order`` after it built
    the URL. The document signs what is sent, so the simulator refuses it (``AUTH_103``);
    ccxt's own fetch_order uses ``/v4/order/{orderId}`` and is not affected."""
    with pytest.raises(ccxt.AuthenticationError, match="AUTH_103"):
        xt.privateSpotGetOrder({"orderId": "1"})


def test_without_xt_compat_ccxt_cannot_load_markets() -> None:
    """The document has no v1 futures symbol list: ccxt needs the compatibility switch."""
    exchange = Exchange(xt_headers=True)
    try:
        client = point(ccxt.xt({"apiKey": DEMO_API_KEY, "secret": DEMO_SECRET}), exchange.sim)
        with pytest.raises(ccxt.BaseError, match="404"):
            client.load_markets()
        assert client.privateSpotGetBalances()["rc"] == 0  # the headers alone: signed calls ok
        assert client.privateLinearGetFutureUserV1BalanceList()["returnCode"] == 0
    finally:
        exchange.close()


# -- ccxt.pro: books over the simulator's websockets ---------------------------------------


@pytest.mark.parametrize("kind", ["spot", "swap"])
async def test_ccxt_pro_book_equals_the_ground_truth(kind: str) -> None:
    pro = pytest.importorskip("ccxt.pro")
    async with Simulator(auto=False, xt_compat=True, rate_limit_scale=100, seed=5) as sim:
        client = point(pro.xt({"apiKey": DEMO_API_KEY, "secret": DEMO_SECRET}), sim)
        ws = sim.spot_ws_url.removesuffix("/public")
        client.urls["api"]["ws"] = {"spot": ws, "contract": ws + "/ws"}
        symbol, checks = SYMBOLS[kind], 0
        try:
            watch = asyncio.ensure_future(client.watch_order_book(symbol))
            while not watch.done():  # ccxt buffers 25 pushes, then fetches its snapshot
                await sim.advance(1)
                await asyncio.sleep(0.01)
            book = watch.result()
            for _ in range(60):
                await sim.advance(1)
                truth = sim.book(venue(kind), "btc_usdt")
                book = await asyncio.wait_for(client.watch_order_book(symbol), 5)
                while book["nonce"] < truth.last_id:
                    book = await asyncio.wait_for(client.watch_order_book(symbol), 5)
                assert book["nonce"] == truth.last_id
                bids, asks = truth.top(20)
                assert book["bids"][:20] == [[number(p), number(q)] for p, q in bids]
                assert book["asks"][:20] == [[number(p), number(q)] for p, q in asks]
                checks += 1
        finally:
            await client.close()
    assert checks == 60


# -- pyxt: XT's own SDK ---------------------------------------------------------------


def test_pyxt_spot(exchange: Exchange) -> None:
    spot_module = pytest.importorskip("pyxt.spot", reason="pyxt is not installed")
    sim = exchange.sim
    spot = spot_module.Spot(host=sim.spot_http_url, access_key=DEMO_API_KEY, secret_key=DEMO_SECRET)
    depth = spot.get_depth("btc_usdt", 5)
    assert depth["lastUpdateId"] == sim.book("spot", "btc_usdt").last_id
    price = far_price(sim, "spot")
    order = spot.order("btc_usdt", "BUY", "LIMIT", price=price, quantity=0.01)
    assert spot.get_order(order_id=order["orderId"])["state"] == "NEW"
    assert order["orderId"] in [o["orderId"] for o in spot.get_open_orders("btc_usdt")]
    spot.cancel_order(order["orderId"])
    assert spot.get_order(order_id=order["orderId"])["state"] == "CANCELED"
    items = [{"symbol": "btc_usdt", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
              "bizType": "SPOT", "price": price, "quantity": 0.01}] * 2  # fmt: skip
    batch = spot.batch_order(items, batch_id="pyxt0001")
    ids = [item["orderId"] for item in batch["items"]]
    assert len(ids) == 2 and all(ids)
    spot.cancel_orders(ids)
    assert {o["state"] for o in spot.get_batch_orders(ids)} == {"CANCELED"}
    balances = {a["currency"]: a for a in spot.balances()["assets"]}
    account = sim.desk.accounts["account-0"]
    assert Decimal(balances["usdt"]["availableAmount"]) == account.spot["usdt"][0]


def test_pyxt_futures(exchange: Exchange) -> None:
    perp_module = pytest.importorskip("pyxt.perp", reason="pyxt is not installed")
    sim = exchange.sim
    perp = perp_module.Perp(sim.futures_http_url, DEMO_API_KEY, DEMO_SECRET)

    def ok(answer: tuple[Any, Any, Any]) -> Any:
        code, body, error = answer
        assert code == 200 and error is None and body["returnCode"] == 0, (code, body, error)
        return body["result"]

    assert ok(perp.get_market_config("btc_usdt"))["contractSize"] == 0.0001
    depth = ok(perp.get_depth("btc_usdt", 5))
    bids, _ = sim.book("futures", "btc_usdt").top(5)
    assert depth["b"] == [[str(p), str(q)] for p, q in bids]
    assert ok(perp.get_account_capital())[0]["coin"] == "usdt"
    price = far_price(sim, "swap")
    order_id = ok(perp.send_order("btc_usdt", 2, "BUY", "LIMIT", "LONG", price=price))
    assert ok(perp.get_order_id(order_id))["state"] == "NEW"
    assert ok(perp.cancel_order(order_id)) == order_id
    item = {"symbol": "btc_usdt", "origQty": 1, "orderSide": "BUY", "orderType": "LIMIT",
            "positionSide": "LONG", "price": price}  # fmt: skip
    batch = ok(perp.send_batch_order([item, item])).split(",")  # a bare JSON array
    assert len(batch) == 2
    assert ok(perp.cancel_batch_order(batch)) is True  # orderIds as str(list)
    assert {ok(perp.get_order_id(i))["state"] for i in batch} == {"CANCELED"}
    ok(perp.set_account_leverage(15, "LONG", "btc_usdt"))
    assert sim.desk.accounts["account-0"].leverage["btc_usdt", "LONG"] == 15
    assert isinstance(ok(perp.get_position("btc_usdt")), list)
    assert ok(perp.get_listen_key())
