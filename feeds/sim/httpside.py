"""The simulator's HTTP side (aiohttp): public market endpoints of both venues.

One declarative table, :data:`ROUTES`, maps each path to its venue, its rate
limit (requests per second per client address, from the API document) and
the function that builds its ``result``. Every answer is wrapped in its
venue's envelope: spot ``{"rc", "mc", "ma", "result"}``, futures
``{"returnCode", "msgInfo", "error", "result"}``. Bad parameters answer the
documented error style (spot ``SYMBOL_001`` / ``PARAMETER_001`` with ``rc``
1; futures ``invalid_symbol`` / ``invalid_params`` in ``error``), HTTP 400;
too many requests answer 429 with ``Retry-After``.

Depth snapshots come from the same exact books as the stream, so their
``lastUpdateId`` / ``u`` line up with it; the ``snapshot_lag``,
``snapshot_429`` and ``snapshot_5xx`` faults apply to them.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from orderbook import Venue

from ..rest.errors import ParameterError
from ..rest.spec import Operation
from ..rest.table import OPERATIONS
from . import xtcompat
from .auth import AuthFailure, verify
from .context import Handler, SimContext
from .exchange import SymbolMarket
from .trading import FUTURES_FEE, SPOT_FEE, DeskError
from .tradingroutes import answer, check_arguments


class ParamError(Exception):
    """A bad request parameter: ``code`` is the venue's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SnapshotFault(Exception):
    """A snapshot fault fired: answer with ``status`` (429 or 5xx)."""

    def __init__(self, status: int, retry_after: int = 1) -> None:
        super().__init__(status)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: venue, path, limit (requests/s/ip) and result builder."""

    venue: Venue
    path: str
    limit: int
    handler: Handler


# -- parameter helpers -------------------------------------------------------------


def _market(
    sim: SimContext, venue: Venue, q: dict[str, str], required: bool = True
) -> SymbolMarket:
    symbol = q.get("symbol")
    if not symbol:
        if required:
            raise ParamError(*_missing(venue, "symbol"))
        raise ParamError(*_missing(venue, "symbol"))
    market = sim.markets.get((venue, symbol))
    if market is None:
        code = "SYMBOL_001" if venue is Venue.SPOT else "invalid_symbol"
        raise ParamError(
            code, "Symbol not exist" if venue is Venue.SPOT else "The trading pair does not exist"
        )
    return market


def _markets(sim: SimContext, venue: Venue, q: dict[str, str]) -> list[SymbolMarket]:
    if q.get("symbols"):
        return [_market(sim, venue, {"symbol": s}) for s in q["symbols"].split(",")]
    if q.get("symbol"):
        return [_market(sim, venue, q)]
    return [m for (v, _), m in sim.markets.items() if v is venue]


def _missing(venue: Venue, name: str) -> tuple[str, str]:
    code = "PARAMETER_001" if venue is Venue.SPOT else "invalid_params"
    return code, f"missing parameter {name}"


def _int(venue: Venue, q: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(*_bad(venue, name, raw)) from None
    if not lo <= value <= hi:
        raise ParamError(*_bad(venue, name, raw))
    return value


def _bad(venue: Venue, name: str, raw: object) -> tuple[str, str]:
    code = "PARAMETER_002" if venue is Venue.SPOT else "invalid_params"
    return code, f"bad parameter {name}={raw!r}"


def _f(value: Decimal) -> str:
    return format(value, "f")


# -- spot ------------------------------------------------------------------------


def spot_time(sim: SimContext, q: dict[str, str]) -> Any:
    return {"serverTime": sim.server_time_ms()}


def spot_client(sim: SimContext, q: dict[str, str]) -> Any:
    return {"ip": q.get("_ip", "127.0.0.1")}


def spot_symbol(sim: SimContext, q: dict[str, str]) -> Any:
    symbols = [
        {
            "id": n,
            "symbol": m.symbol,
            "state": "ONLINE",
            "tradingEnabled": True,
            "openapiEnabled": True,
            "baseCurrency": m.symbol.split("_")[0],
            "quoteCurrency": m.symbol.split("_")[1],
            "pricePrecision": m.flow.config.price_places,
            "quantityPrecision": m.flow.config.qty_places,
            "takerFeeRate": float(SPOT_FEE),
            "makerFeeRate": float(SPOT_FEE),
            "orderTypes": ["LIMIT", "MARKET"],
            "timeInForces": ["GTC", "FOK", "IOC", "GTX"],
            "filters": [],
        }
        for n, m in enumerate(_markets(sim, Venue.SPOT, q))
    ]
    return {"time": sim.clock_ms(), "version": "sim", "symbols": symbols}


def spot_depth(sim: SimContext, q: dict[str, str]) -> Any:
    market = _market(sim, Venue.SPOT, q)
    limit = _int(Venue.SPOT, q, "limit", 100, 1, 500)
    last_id, bids, asks = sim.snapshot(market, limit)
    return {"timestamp": sim.clock_ms(), "lastUpdateId": last_id, "bids": bids, "asks": asks}


def spot_kline(sim: SimContext, q: dict[str, str]) -> Any:
    market = _market(sim, Venue.SPOT, q)
    if not q.get("interval"):
        raise ParamError(*_missing(Venue.SPOT, "interval"))
    c = market.candle
    assert c is not None
    now = sim.clock_ms()
    return [
        {
            "t": now - now % 60_000,
            "o": _f(c.open),
            "c": _f(c.close),
            "h": _f(c.high),
            "l": _f(c.low),
            "q": _f(c.qty),
            "v": _f(c.value),
        }
    ]


def spot_trades(sim: SimContext, q: dict[str, str]) -> Any:
    market = _market(sim, Venue.SPOT, q)
    limit = _int(Venue.SPOT, q, "limit", 200, 1, 1000)
    trades = list(market.trades)[-limit:]
    return [{k: t[k] for k in ("i", "t", "p", "q", "v", "b")} for t in reversed(trades)]


def spot_trade_history(sim: SimContext, q: dict[str, str]) -> Any:
    if q.get("direction") not in ("PREV", "NEXT"):
        raise ParamError(*_missing(Venue.SPOT, "direction"))
    return spot_trades(sim, q)


def spot_ticker(sim: SimContext, q: dict[str, str]) -> Any:
    out = []
    for m in _markets(sim, Venue.SPOT, q):
        book = _book_ticker(sim, m)
        out.append(
            {**m.spot_ticker(sim.clock_ms()), **{k: book[k] for k in ("ap", "aq", "bp", "bq")}}
        )
    return out


def spot_ticker_price(sim: SimContext, q: dict[str, str]) -> Any:
    return [
        {"s": m.symbol, "t": sim.clock_ms(), "p": _f(m.candle.close)}  # type: ignore[union-attr]
        for m in _markets(sim, Venue.SPOT, q)
    ]


def spot_ticker_book(sim: SimContext, q: dict[str, str]) -> Any:
    return [_book_ticker(sim, m) for m in _markets(sim, Venue.SPOT, q)]


def spot_ticker_24h(sim: SimContext, q: dict[str, str]) -> Any:
    return [m.spot_ticker(sim.clock_ms()) for m in _markets(sim, Venue.SPOT, q)]


def spot_currencies(sim: SimContext, q: dict[str, str]) -> Any:
    names = sorted({part for (v, s) in sim.markets for part in s.split("_") if v is Venue.SPOT})
    return xtcompat.currencies_result(sim, _currency_rows(names))


def _currency_rows(names: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "id": n + 1,
            "currency": c,
            "fullName": c,
            "logo": None,
            "cmcLink": None,
            "weight": 100 - n,
            "maxPrecision": 8,
            "depositStatus": 1,
            "withdrawStatus": 1,
            "convertEnabled": 1,
            "transferEnabled": 1,
        }
        for n, c in enumerate(names)
    ]


def spot_wallet_currencies(sim: SimContext, q: dict[str, str]) -> Any:
    names = sorted({part for (v, s) in sim.markets for part in s.split("_") if v is Venue.SPOT})
    return [
        {
            "currency": c.upper(),
            "supportChains": [
                {
                    "chain": f"{c.upper()}-chain",
                    "depositEnabled": True,
                    "withdrawEnabled": True,
                    "withdrawFeeAmount": 0.2,
                    "withdrawMinAmount": 10,
                    "depositFeeRate": 0.2,
                }
            ],
        }
        for c in names
    ]


# -- futures ------------------------------------------------------------------------


def fut_symbol_coins(sim: SimContext, q: dict[str, str]) -> Any:
    return sorted({s.split("_")[1] for (v, s) in sim.markets if v is Venue.FUTURES})


def fut_leverage_bracket(sim: SimContext, q: dict[str, str]) -> Any:
    m = _market(sim, Venue.FUTURES, q)
    brackets = [
        {
            "bracket": n + 1,
            "maintMarginRate": 0.005 * (n + 1),
            "maxLeverage": 100 // (n + 1),
            "maxNominalValue": 100_000 * (n + 1),
            "maxStartMarginRate": 0.01 * (n + 1),
            "minLeverage": 1,
            "startMarginRate": 0.01 * (n + 1),
            "symbol": m.symbol,
        }
        for n in range(3)
    ]
    return {"leverageBrackets": brackets, "symbol": m.symbol}


def fut_depth_q(sim: SimContext, q: dict[str, str]) -> Any:
    market = _market(sim, Venue.FUTURES, q)
    if "level" not in q:
        raise ParamError(*_missing(Venue.FUTURES, "level"))
    level = _int(Venue.FUTURES, q, "level", 50, 1, 50)
    return _fut_depth(sim, market, level)


def fut_depth_500(sim: SimContext, q: dict[str, str]) -> Any:
    market = _market(sim, Venue.FUTURES, q)
    level = _int(Venue.FUTURES, q, "level", 500, 1, 500)
    return _fut_depth(sim, market, level)


def _fut_depth(sim: SimContext, market: SymbolMarket, level: int) -> Any:
    last_id, bids, asks = sim.snapshot(market, level)
    return {"a": asks, "b": bids, "s": market.symbol, "t": sim.clock_ms(), "u": last_id}


def _fut_ticker(sim: SimContext, m: SymbolMarket) -> dict[str, Any]:
    c = m.candle
    assert c is not None
    return {
        "s": m.symbol,
        "t": sim.clock_ms(),
        "c": _f(c.close),
        "h": _f(c.high),
        "l": _f(c.low),
        "a": _f(c.qty),
        "v": _f(c.value),
        "o": _f(c.open),
        "r": _f(c.close - c.open),
    }


def fut_ticker(sim: SimContext, q: dict[str, str]) -> Any:
    return _fut_ticker(sim, _market(sim, Venue.FUTURES, q))


def fut_tickers(sim: SimContext, q: dict[str, str]) -> Any:
    return [_fut_ticker(sim, m) for m in _markets(sim, Venue.FUTURES, {})]


def fut_deal(sim: SimContext, q: dict[str, str]) -> Any:
    market = _market(sim, Venue.FUTURES, q)
    num = _int(Venue.FUTURES, q, "num", 50, 1, 1000)
    return [
        {"t": t["t"], "s": market.symbol, "p": t["p"], "a": t["q"], "m": "ASK" if t["b"] else "BID"}
        for t in list(market.trades)[-num:]
    ]


def fut_index(sim: SimContext, q: dict[str, str]) -> Any:
    m = _market(sim, Venue.FUTURES, q)
    return {"s": m.symbol, "p": _f(m.index_price()), "t": sim.clock_ms()}


def fut_indexes(sim: SimContext, q: dict[str, str]) -> Any:
    return [fut_index(sim, {"symbol": m.symbol}) for m in _markets(sim, Venue.FUTURES, {})]


def fut_mark(sim: SimContext, q: dict[str, str]) -> Any:
    m = _market(sim, Venue.FUTURES, q)
    return {"s": m.symbol, "p": _f(m.mark_price()), "t": sim.clock_ms()}


def fut_marks(sim: SimContext, q: dict[str, str]) -> Any:
    return [fut_mark(sim, {"symbol": m.symbol}) for m in _markets(sim, Venue.FUTURES, {})]


def fut_kline(sim: SimContext, q: dict[str, str]) -> Any:
    m = _market(sim, Venue.FUTURES, q)
    if not q.get("interval"):
        raise ParamError(*_missing(Venue.FUTURES, "interval"))
    c = m.candle
    assert c is not None
    now = sim.clock_ms()
    return [
        {
            "s": m.symbol,
            "t": now - now % 60_000,
            "o": _f(c.open),
            "c": _f(c.close),
            "h": _f(c.high),
            "l": _f(c.low),
            "a": _f(c.qty),
            "v": _f(c.value),
        }
    ]


def _agg(sim: SimContext, m: SymbolMarket) -> dict[str, Any]:
    bid, ask = m.best()
    return {
        **_fut_ticker(sim, m),
        "i": _f(m.index_price()),
        "m": _f(m.mark_price()),
        "bp": bid[0] if bid else None,
        "ap": ask[0] if ask else None,
    }


def fut_agg_ticker(sim: SimContext, q: dict[str, str]) -> Any:
    return _agg(sim, _market(sim, Venue.FUTURES, q))


def fut_agg_tickers(sim: SimContext, q: dict[str, str]) -> Any:
    return [_agg(sim, m) for m in _markets(sim, Venue.FUTURES, {})]


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"hasNext": False, "hasPrev": False, "items": items}


def fut_funding_rate(sim: SimContext, q: dict[str, str]) -> Any:
    m = _market(sim, Venue.FUTURES, q)
    item = {
        "collectionInternal": 8,
        "createdTime": sim.clock_ms(),
        "fundingRate": float(m.funding_rate),
        "id": 1,
        "symbol": m.symbol,
    }
    return _page([item])


def fut_funding_record(sim: SimContext, q: dict[str, str]) -> Any:
    markets = _markets(sim, Venue.FUTURES, q)
    items = [
        {
            "collectionInternal": 28_800,
            "createdTime": sim.clock_ms(),
            "fundingRate": float(m.funding_rate),
            "id": n + 1,
            "symbol": m.symbol,
        }
        for n, m in enumerate(markets)
    ]
    return _page(items)


def fut_risk_balance(sim: SimContext, q: dict[str, str]) -> Any:
    m = _market(sim, Venue.FUTURES, q)
    return _page(
        [
            {
                "amount": 1_000_000,
                "coin": m.symbol.split("_")[1],
                "createdTime": sim.clock_ms(),
                "id": 1,
            }
        ]
    )


def _book_ticker(sim: SimContext, m: SymbolMarket) -> dict[str, Any]:
    bid, ask = m.best()
    return {
        "s": m.symbol,
        "t": sim.clock_ms(),
        "ap": ask[0] if ask else None,
        "aq": ask[1] if ask else None,
        "bp": bid[0] if bid else None,
        "bq": bid[1] if bid else None,
    }


def fut_ticker_book(sim: SimContext, q: dict[str, str]) -> Any:
    return _book_ticker(sim, _market(sim, Venue.FUTURES, q))


def fut_ticker_books(sim: SimContext, q: dict[str, str]) -> Any:
    return [_book_ticker(sim, m) for m in _markets(sim, Venue.FUTURES, {})]


def fut_symbol_detail(sim: SimContext, q: dict[str, str]) -> Any:
    return _fut_symbol(_market(sim, Venue.FUTURES, q))


def _fut_symbol(m: SymbolMarket) -> dict[str, Any]:
    """A symbol's configuration, with every field of the document's example."""
    base, quote = m.symbol.split("_")
    cfg = m.flow.config
    tick = Decimal(1).scaleb(-cfg.price_places)
    return {
        "baseCoin": base,
        "baseCoinDisplayPrecision": 4,
        "baseCoinPrecision": 8,
        "cnDesc": "",
        "cnName": m.symbol.upper(),
        "cnRemark": "",
        "contractSize": float(m.contract_size),
        "contractType": "PERPETUAL",
        "deliveryCompletion": False,
        "deliveryDate": 0,
        "deliveryPrice": 0,
        "depthPrecisionMerge": 5,
        "enDesc": "",
        "enName": m.symbol.upper(),
        "enRemark": "",
        "initLeverage": 20,
        "initPositionType": "CROSSED",
        "isDisplay": True,
        "isOpenApi": True,
        "labels": [],
        "liquidationFee": 0.01,
        "makerFee": float(FUTURES_FEE),
        "marketTakeBound": 0.1,
        "maxEntrusts": 200,
        "maxNotional": 100_000_000,
        "maxOpenOrders": 200,
        "maxPrice": 1_000_000,
        "minNotional": 5,
        "minPrice": float(tick),
        "minQty": 1,
        "minStepPrice": float(tick),
        "multiplierDown": 0.1,
        "multiplierUp": 0.1,
        "onboardDate": 1_600_000_000_000,
        "pair": m.symbol,
        "plates": [],
        "predictEventParam": "",
        "predictEventSort": "",
        "predictEventType": "",
        "pricePrecision": cfg.price_places,
        "productType": "perpetual",
        "quantityPrecision": cfg.qty_places,
        "quoteCoin": quote,
        "quoteCoinDisplayPrecision": 2,
        "quoteCoinPrecision": 8,
        "state": 0,
        "supportEntrustType": "TAKE_PROFIT,STOP",
        "supportOrderType": "LIMIT,MARKET",
        "supportPositionType": "CROSSED,ISOLATED",
        "supportTimeInForce": "GTC,IOC,FOK,GTX",
        "symbol": m.symbol,
        "symbolGroupId": 1,
        "takerFee": float(FUTURES_FEE),
        "tradeSwitch": True,
        "underlyingType": "U_BASED",
    }


def fut_symbol_list(sim: SimContext, q: dict[str, str]) -> Any:
    return [{**_fut_symbol(m), "offTime": 0} for m in _markets(sim, Venue.FUTURES, {})]


def fut_client(sim: SimContext, q: dict[str, str]) -> Any:
    return {"ip": q.get("_ip", "127.0.0.1")}


def fut_open_interest(sim: SimContext, q: dict[str, str]) -> Any:
    m = _market(sim, Venue.FUTURES, q)
    return {
        "symbol": m.symbol,
        "openInterest": "12345.6",
        "openInterestUsd": "370000000",
        "time": sim.clock_ms(),
    }


_S, _F = Venue.SPOT, Venue.FUTURES
_FM = "/future/market/v1/public"

#: Every HTTP endpoint of the simulator: (venue, path, requests/s/ip, handler).
ROUTES: tuple[Route, ...] = (
    Route(_S, "/v4/public/time", 10, spot_time),
    Route(_S, "/v4/public/client", 10, spot_client),
    Route(_S, "/v4/public/symbol", 10, spot_symbol),
    Route(_S, "/v4/public/depth", 10, spot_depth),
    Route(_S, "/v4/public/kline", 10, spot_kline),
    Route(_S, "/v4/public/trade/recent", 10, spot_trades),
    Route(_S, "/v4/public/trade/history", 10, spot_trade_history),
    Route(_S, "/v4/public/ticker", 10, spot_ticker),
    Route(_S, "/v4/public/ticker/price", 10, spot_ticker_price),
    Route(_S, "/v4/public/ticker/book", 10, spot_ticker_book),
    Route(_S, "/v4/public/ticker/24h", 10, spot_ticker_24h),
    Route(_S, "/v4/public/currencies", 10, spot_currencies),
    Route(_S, "/v4/public/wallet/support/currency", 10, spot_wallet_currencies),
    Route(_F, f"{_FM}/symbol/coins", 10, fut_symbol_coins),
    Route(_F, f"{_FM}/leverage/bracket/detail", 10, fut_leverage_bracket),
    Route(_F, "/future/public/client", 10, fut_client),
    Route(_F, f"{_FM}/symbol/detail", 10, fut_symbol_detail),
    Route(_F, "/future/market/v3/public/symbol/list", 10, fut_symbol_list),
    Route(_F, f"{_FM}/q/ticker", 10, fut_ticker),
    Route(_F, f"{_FM}/q/tickers", 10, fut_tickers),
    Route(_F, f"{_FM}/q/deal", 10, fut_deal),
    Route(_F, f"{_FM}/q/depth", 10, fut_depth_q),
    Route(_F, f"{_FM}/depth", 10, fut_depth_500),
    Route(_F, f"{_FM}/q/symbol-index-price", 10, fut_index),
    Route(_F, f"{_FM}/q/index-price", 10, fut_indexes),
    Route(_F, f"{_FM}/q/symbol-mark-price", 10, fut_mark),
    Route(_F, f"{_FM}/q/mark-price", 10, fut_marks),
    Route(_F, f"{_FM}/q/kline", 10, fut_kline),
    Route(_F, f"{_FM}/q/agg-ticker", 10, fut_agg_ticker),
    Route(_F, f"{_FM}/q/agg-tickers", 10, fut_agg_tickers),
    Route(_F, f"{_FM}/q/funding-rate", 1, fut_funding_rate),
    Route(_F, f"{_FM}/q/funding-rate-record", 10, fut_funding_record),
    Route(_F, f"{_FM}/q/ticker/book", 10, fut_ticker_book),
    Route(_F, f"{_FM}/q/ticker/books", 10, fut_ticker_books),
    Route(_F, f"{_FM}/contract/risk-balance", 10, fut_risk_balance),
    Route(_F, f"{_FM}/contract/open-interest", 10, fut_open_interest),
)

#: Run-time fault control (not a WEX endpoint): see ``HttpSide._control``.
CONTROL_PATH = "/__sim__/faults"
DEPTH_PATHS = {"/v4/public/depth", f"{_FM}/q/depth", f"{_FM}/depth"}


def envelope(venue: Venue, result: Any = None, error: ParamError | None = None) -> bytes:
    """The venue's envelope around ``result`` or ``error``."""
    if venue is Venue.SPOT:
        if error is None:
            return orjson.dumps({"rc": 0, "mc": "SUCCESS", "ma": [], "result": result})
        return orjson.dumps({"rc": 1, "mc": error.code, "ma": [str(error)], "result": None})
    if error is None:
        return orjson.dumps(
            {"returnCode": 0, "msgInfo": "success", "error": None, "result": result}
        )
    return orjson.dumps(
        {
            "returnCode": 1,
            "msgInfo": "failure",
            "error": {"code": error.code, "msg": str(error)},
            "result": None,
        }
    )


class HttpSide:
    """The aiohttp application of a :class:`~feeds.sim.simulator.Simulator`."""

    def __init__(self, sim: SimContext) -> None:
        self.sim = sim
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self.counts: dict[str, int] = {
            "requests": 0, "rate_limited": 0, "errors": 0, "signed": 0, "auth_failures": 0
        }  # fmt: skip
        self.app = web.Application()
        for route in ROUTES:
            self.app.router.add_get(route.path, self._make(route))
        for venue, path, handler in xtcompat.compat_routes(fut_symbol_list, fut_leverage_bracket):
            self.app.router.add_get(path, self._make(Route(venue, path, 10, handler), xt=True))
        for op in OPERATIONS:
            if op.signed:
                self.app.router.add_route(op.method, op.path, self._make_signed(op))
        self.app.router.add_get(CONTROL_PATH, self._control)
        self.app.router.add_post(CONTROL_PATH, self._control)

    async def _control(self, request: web.Request) -> web.Response:
        """``GET``: injected-fault counters; ``POST {"venue", "symbol", knob: value, ...}``: set
        knobs (``{"clear": true}`` switches everything off). Loopback clients only."""
        if request.remote not in ("127.0.0.1", "::1"):
            return web.Response(status=403, text="the control endpoint is for loopback clients")
        if request.method == "POST":
            try:
                body = orjson.loads(await request.read())
                if body.pop("clear", False):
                    self.sim.faults.clear(body.get("venue"), body.get("symbol"))
                else:
                    venue, symbol = Venue(body.pop("venue")), body.pop("symbol")
                    if (venue, symbol) not in self.sim.markets:
                        raise ValueError(f"no {venue.value} symbol {symbol!r}")
                    self.sim.faults.set(venue, symbol, **body)
            except (orjson.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
                return web.Response(status=400, text=f"bad fault request: {exc}")
        return web.Response(body=orjson.dumps(self.sim.stats()), content_type="application/json")

    def _limited(self, ip: str, route: Route) -> bool:
        limit = self.sim.rate_limits.get(route.path, route.limit) * self.sim.rate_limit_scale
        return self._hit((ip, route.path), limit)

    def _reply(self, venue: Venue, status: int, error: ParamError) -> web.Response:
        self.counts["errors"] += 1
        headers = {"Retry-After": "1"} if status == 429 else None
        return web.Response(
            status=status,
            headers=headers,
            body=envelope(venue, error=error),
            content_type="application/json",
        )

    def _make_signed(self, op: Operation) -> Callable[[web.Request], Any]:
        """A handler for one signed operation (see :mod:`feeds.sim.tradingroutes`)."""
        venue = Venue(op.venue)
        limit = op.rate_limits[0][0] if op.rate_limits else 10

        async def handle(request: web.Request) -> web.Response:
            self.counts["requests"] += 1
            self.counts["signed"] += 1
            body = await request.read()
            query = list(request.query.items())
            try:
                key = verify(
                    venue,
                    method=request.method,
                    path=request.path,
                    query=query,
                    body=body,
                    headers=request.headers,
                    keys=self.sim.api_keys,
                    now_ms=self.sim.server_time_ms(),
                    prefix=self._prefix(request.headers),
                )
            except AuthFailure as exc:
                self.counts["auth_failures"] += 1
                return self._reply(venue, exc.status, ParamError(exc.code, str(exc)))
            scaled = limit * self.sim.rate_limit_scale
            if self._hit(("key:" + key.api_key, op.method + " " + op.path), scaled):
                self.counts["rate_limited"] += 1
                return self._reply(venue, 429, ParamError("TOO_MANY_REQUESTS", "rate limit"))
            args: dict[str, Any] = dict(query)
            args.update(request.match_info)
            try:
                if body:
                    parsed = orjson.loads(body)
                    if isinstance(parsed, list) and any(p.location == "array" for p in op.params):
                        args["orders"] = parsed
                    elif isinstance(parsed, dict):
                        args.update(parsed)
                    elif not (self.sim.xt_compat and xtcompat.signed_arguments(op, parsed, args)):
                        raise ParameterError("the body must be a JSON object")
                if self.sim.xt_compat:
                    xtcompat.fix_arguments(op, args)
                args = check_arguments(op, args)
                desk = self.sim.desk
                result = answer(desk, op, desk.accounts[key.account], args)
            except (orjson.JSONDecodeError, ParameterError) as exc:
                return self._reply(venue, 400, ParamError(*_bad(venue, "request", str(exc))))
            except DeskError as exc:
                return self._reply(venue, 200, ParamError(exc.code, str(exc)))
            return web.Response(body=envelope(venue, result), content_type="application/json")

        return handle

    def _prefix(self, headers: Any) -> str:
        """The signature header spelling of this request, among the accepted ones."""
        prefixes = self.sim.header_prefixes
        return next((p for p in prefixes if p + "appkey" in headers), prefixes[0])

    def _hit(self, key: tuple[str, str], limit: float) -> bool:
        """Record a request in the one-second window of ``key``; ``True`` when over ``limit``."""
        hits = self._hits.setdefault(key, deque())
        now = time.monotonic()
        while hits and now - hits[0] >= 1.0:
            hits.popleft()
        if len(hits) >= limit:
            return True
        hits.append(now)
        return False

    def _make(self, route: Route, xt: bool = False) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            if xt and not self.sim.xt_compat:  # an XT path: served with XT compatibility only
                raise web.HTTPNotFound(text=f"{route.path} is not in the API document")
            self.counts["requests"] += 1
            ip = request.remote or "?"
            if self._limited(ip, route):
                self.counts["rate_limited"] += 1
                return web.Response(
                    status=429,
                    headers={"Retry-After": "1"},
                    body=envelope(
                        route.venue, error=ParamError("TOO_MANY_REQUESTS", "rate limit exceeded")
                    ),
                )
            query = dict(request.query)
            query["_ip"] = ip
            try:
                if route.path in DEPTH_PATHS:
                    self.sim.snapshot_fault(route.venue, query.get("symbol", ""))
                result = route.handler(self.sim, query)
            except ParamError as exc:
                self.counts["errors"] += 1
                return web.Response(
                    status=400,
                    body=envelope(route.venue, error=exc),
                    content_type="application/json",
                )
            except SnapshotFault as fault:
                headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
                return web.Response(status=fault.status, headers=headers, text="simulated fault")
            return web.Response(body=envelope(route.venue, result), content_type="application/json")

        return handle
