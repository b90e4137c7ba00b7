"""The simulator's XT switches (no XT client needed): off by default, the document is served;
``xt_headers`` accepts ``xt-validate-*``; ``xt_compat`` serves what XT's clients rely on
(``feeds/sim/xtcompat.py``). The real clients run in ``test_xt_clients.py``."""

from __future__ import annotations

import httpx
import orjson
import pytest

from feeds.apps.cli import build_parser
from feeds.apps.sim import serve, xt_clients_text
from feeds.rest import AuthError
from feeds.rest.client import AsyncWexClient
from feeds.signing import Credentials, FuturesAuth
from feeds.sim import DEMO_API_KEY, DEMO_SECRET, Simulator

V1_LIST = "/future/market/v1/public/symbol/list"
BRACKETS = "/future/market/v1/public/leverage/bracket/list"


def sim(**kw) -> Simulator:
    return Simulator(auto=False, rate_limit_scale=100, **kw)


def client(s: Simulator, prefix: str = "validate-") -> AsyncWexClient:
    return AsyncWexClient(
        DEMO_API_KEY, DEMO_SECRET, spot_url=s.spot_http_url, futures_url=s.futures_http_url,
        header_prefix=prefix,
    )  # fmt: skip


async def test_by_default_the_document_is_served() -> None:
    async with sim() as s, httpx.AsyncClient(base_url=s.spot_http_url) as http:
        assert (await http.get(V1_LIST)).status_code == 404
        assert (await http.get(BRACKETS)).status_code == 404
        currencies = (await http.get("/v4/public/currencies")).json()["result"]
        assert isinstance(currencies, list) and {c["currency"] for c in currencies} >= {"btc"}
        async with client(s, "xt-validate-") as xt:
            with pytest.raises(AuthError) as info:
                await xt.spot.get_balances()
            assert info.value.code == "AUTH_001"
            with pytest.raises(AuthError) as info:
                await xt.futures.get_balances()
            assert info.value.code == "AUTH_001"


@pytest.mark.parametrize("switch", ["xt_headers", "xt_compat"])
async def test_both_header_spellings_are_accepted(switch: str) -> None:
    async with sim(**{switch: True}) as s:
        for prefix in ("validate-", "xt-validate-"):
            async with client(s, prefix) as c:
                assert (await c.spot.get_balance(currency="usdt"))["currency"] == "usdt"
                assert (await c.futures.get_balance(coin="usdt"))["coin"] == "usdt"
        assert s.http.counts["auth_failures"] == 0


async def test_xt_compat_serves_what_xt_clients_rely_on() -> None:
    async with sim(xt_compat=True) as s, httpx.AsyncClient(base_url=s.spot_http_url) as http:
        v1 = (await http.get(V1_LIST)).json()["result"]
        v3 = (await http.get("/future/market/v3/public/symbol/list")).json()["result"]
        assert v1 == v3 and [m["symbol"] for m in v1] == ["btc_usdt", "eth_usdt"]
        brackets = (await http.get(BRACKETS)).json()["result"]
        assert [b["symbol"] for b in brackets] == ["btc_usdt", "eth_usdt"]
        assert all(b["leverageBrackets"] for b in brackets)
        currencies = (await http.get("/v4/public/currencies")).json()["result"]
        assert {c["currency"] for c in currencies["currencies"]} == {"btc", "eth", "usdt"}

        auth = FuturesAuth(Credentials(DEMO_API_KEY, DEMO_SECRET), header_prefix="xt-validate-")
        item = {"symbol": "btc_usdt", "orderSide": "BUY", "orderType": "LIMIT", "origQty": 2,
                "price": "20000", "positionSide": "LONG"}  # fmt: skip
        # pyxt's batch: the orders as a bare JSON array (the document: {"list": "<JSON text>"})
        r = await http.post(
            "/future/trade/v2/order/create-batch", content=orjson.dumps([item, item]), auth=auth,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        ids = r.json()["result"].split(",")
        assert len(ids) == 2
        # pyxt's batch cancel: orderIds as str(list)
        r = await http.post(
            "/future/trade/v1/order/cancel-batch", content=orjson.dumps({"orderIds": str(ids)}),
            auth=auth, headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert r.json()["result"] is True
        async with client(s) as c:
            states = [(await c.futures.get_order(orderId=i))["state"] for i in ids]
        assert states == ["CANCELED", "CANCELED"]


async def test_without_xt_compat_the_pyxt_bodies_are_refused() -> None:
    async with sim(xt_headers=True) as s, httpx.AsyncClient(base_url=s.spot_http_url) as http:
        auth = FuturesAuth(Credentials(DEMO_API_KEY, DEMO_SECRET), header_prefix="xt-validate-")
        r = await http.post(
            "/future/trade/v2/order/create-batch", content=b"[]", auth=auth,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_params"


async def test_the_startup_text_tells_how_to_point_xt_clients(capsys) -> None:
    parser = build_parser()
    args = parser.parse_args(["sim", "--xt-compat", "--seconds", "0.05"])
    stats = await serve(args)
    out = capsys.readouterr().out
    assert "ccxt.xt(" in out and 'ex.urls["api"]' in out and "Spot(host=" in out
    assert "Perp(host=" in out and '"contract":' in out and stats["steps"] >= 0
    async with sim() as s:
        assert "--xt-compat" in xt_clients_text(s)
    args = parser.parse_args(["sim", "--seconds", "1"])
    assert not args.xt_compat and not args.xt_headers


async def test_parameters_optional_by_their_description() -> None:
    """``symbol`` of balance/bills "queries all if not passed": optional, although the
    document's mandatory column says true (ccxt's fetch_ledger sends none)."""
    from feeds.rest.table import OPERATIONS

    says_optional = {
        (op.key, p.name) for op in OPERATIONS for p in op.params
        if "if not passed" in p.doc or "if not provided" in p.doc
    }  # fmt: skip
    assert says_optional >= {
        ("futures.get_balance_bills", "symbol"), ("futures.get_funding_fees", "symbol"),
        ("futures.get_order_history", "symbol"), ("futures.get_plans", "symbol"),
        ("futures.get_plan_history", "symbol"), ("futures.get_profits", "symbol"),
    }  # fmt: skip
    by_key = {op.key: op for op in OPERATIONS}
    assert not any(by_key[key].by_name[name].required for key, name in says_optional)
    async with sim() as s, client(s) as c:
        bills = await c.futures.get_balance_bills()
        history = await c.futures.get_order_history()
    assert isinstance(bills["items"], list) and isinstance(history["items"], list)


def test_the_startup_text_for_xt_clients_never_prints_the_secret() -> None:
    from feeds.apps.sim import xt_clients_text

    for compat in (False, True):
        sim = Simulator(xt_headers=True, xt_compat=compat)
        text = xt_clients_text(sim)
        assert DEMO_API_KEY in text and "ccxt.xt(" in text
        assert DEMO_SECRET not in text
