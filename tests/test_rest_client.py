"""The REST facade against the simulator, over real sockets: every operation of the table,
sync and async, signed and checked by the simulator; and each error path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from feeds.rest import (
    ApiError,
    AuthError,
    OrderError,
    ParameterError,
    RateLimitError,
    SymbolError,
    TransportError,
)
from feeds.rest.client import AsyncWexClient, WexClient
from feeds.rest.table import OPERATIONS
from feeds.signing import ALGORITHMS, Credentials, SigningError, SpotAuth
from feeds.sim import DEMO_API_KEY, DEMO_SECRET, Simulator
from feeds.sim.tradingroutes import EMPTY, EXAMPLES, HANDLERS, NOT_FOUND
from tests.rest_harness import Context, arguments, simulator_thread


def client_for(sim: Simulator, **options: Any) -> WexClient:
    key, secret = options.pop("key", DEMO_API_KEY), options.pop("secret", DEMO_SECRET)
    return WexClient(
        key, secret, spot_url=sim.spot_http_url, futures_url=sim.futures_http_url, **options
    )


def async_client_for(sim: Simulator, **options: Any) -> AsyncWexClient:
    key, secret = options.pop("key", DEMO_API_KEY), options.pop("secret", DEMO_SECRET)
    return AsyncWexClient(
        key, secret, spot_url=sim.spot_http_url, futures_url=sim.futures_http_url, **options
    )


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with simulator_thread(auto=False, rate_limit_scale=100) as sim:
        yield sim


@pytest.fixture(scope="module")
def client(sim: Simulator) -> Iterator[WexClient]:
    with client_for(sim) as client:
        yield client


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.key)
def test_every_operation_sync(op: Any, sim: Simulator, client: WexClient) -> None:
    requests = sim.http.counts["requests"]
    signed = sim.http.counts.get("signed", 0)
    if op.key in NOT_FOUND:  # a lookup of what the simulator does not keep: not found
        with pytest.raises(ApiError) as info:
            client.call(op.key, **arguments(op, Context(client.call, sim)))
        assert info.value.code == NOT_FOUND[op.key][0] and info.value.code in op.errors
        return
    result = client.call(op.key, **arguments(op, Context(client.call, sim)))
    assert result is not None or op.key.endswith(("get_symbol_coins",))
    assert sim.http.counts["requests"] > requests  # it reached the simulator
    if op.signed:
        assert sim.http.counts.get("signed", 0) > signed  # and was verified there
    if result != []:  # an empty list (no trades yet) has no shape to compare
        expected = shape(EXAMPLES[op.key])
        if isinstance(result, dict) and result.get("items") == []:  # an empty page: its keys
            expected = expected[0] if isinstance(expected, tuple) else expected
        assert shape(result) == expected or not expected, op.key


def shape(value: Any) -> Any:
    """The field names of a result (of its first item or page item), or its JSON type."""
    if isinstance(value, dict) and isinstance(value.get("items"), list) and value["items"]:
        return (frozenset(value), shape(value["items"][0]))
    if isinstance(value, list):
        return shape(value[0]) if value else None
    if isinstance(value, dict):
        return frozenset(value)
    return None  # scalars: the document's examples print placeholders ("", {}, true)


async def test_every_operation_async(sim: Simulator) -> None:
    """All 124 through the async twin; state-making calls go through a sync client."""
    failures = []
    with client_for(sim) as helper:
        context = Context(helper.call, sim)
        async with async_client_for(sim) as client:
            for op in OPERATIONS:
                args = await asyncio.to_thread(arguments, op, context)
                try:
                    await client.call(op.key, **args)
                except ApiError as exc:
                    if op.key not in NOT_FOUND or exc.code != NOT_FOUND[op.key][0]:
                        failures.append(f"{op.key}: {exc}")
                except Exception as exc:
                    failures.append(f"{op.key}: {exc}")
    assert failures == []
    assert len(OPERATIONS) == 124


def test_round_trip_query_and_cancel(sim: Simulator, client: WexClient) -> None:
    order_id = Context(client.call, sim).spot_order()
    assert client.spot.get_order(orderId=order_id)["state"] == "NEW"
    assert any(o["orderId"] == order_id for o in client.spot.get_open_orders(symbol="btc_usdt"))
    assert client.spot.cancel_order(orderId=order_id) == {"cancelId": order_id}
    assert client.spot.query_order(order_id=order_id)["state"] == "CANCELED"
    with pytest.raises(OrderError) as info:
        client.spot.cancel_order(orderId=order_id)
    assert info.value.code == "ORDER_004" and info.value.documented == "No transaction"


def test_market_order_fills_against_the_book_exactly(sim: Simulator, client: WexClient) -> None:
    book = sim.book("futures", "btc_usdt")
    best_ask, size = min(book.asks.items())
    before = {p["positionSide"]: p for p in client.futures.get_positions(symbol="btc_usdt")}
    order_id = client.futures.create_order(
        symbol="btc_usdt", orderSide="BUY", orderType="MARKET", origQty=1, positionSide="LONG"
    )
    order = client.futures.get_order(orderId=order_id)
    assert order["state"] == "FILLED" and order["avgPrice"] == str(best_ask.normalize())
    after = {p["positionSide"]: p for p in client.futures.get_positions(symbol="btc_usdt")}
    old = int(before["LONG"]["positionSize"]) if "LONG" in before else 0
    assert int(after["LONG"]["positionSize"]) == old + 1
    assert size > 0


# -- error paths --------------------------------------------------------------------------


def test_bad_signature_is_auth_103(sim: Simulator) -> None:
    with client_for(sim, secret="not-the-secret") as bad:
        with pytest.raises(AuthError) as info:
            bad.spot.get_balances()
        assert info.value.code == "AUTH_103" and info.value.documented == "Signature error"
        with pytest.raises(AuthError) as info:
            bad.futures.get_balances()
        assert info.value.status == 403 and info.value.code == "AUTH_103"


def test_unknown_key_and_missing_headers(sim: Simulator) -> None:
    with client_for(sim, key="nobody") as nobody:
        with pytest.raises(AuthError, match="AUTH_101"):
            nobody.spot.get_balances()
    with client_for(sim, header_prefix="xt-validate-") as wrong_prefix:
        with pytest.raises(AuthError) as info:
            wrong_prefix.spot.get_balances()
    assert info.value.code == "AUTH_001"
    with httpx.Client(base_url=sim.spot_http_url) as raw:
        response = raw.get("/v4/balances", headers={"validate-appkey": DEMO_API_KEY})
    assert response.json()["mc"] == "AUTH_002"


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_algorithm_is_verified(sim: Simulator, algorithm: str) -> None:
    with client_for(sim, algorithm=algorithm) as c:
        assert c.spot.get_balance(currency="usdt")["currency"] == "usdt"
        assert c.futures.get_balance(coin="usdt")["coin"] == "usdt"


def test_stale_timestamp_is_auth_105_unless_the_clock_is_synced() -> None:
    with simulator_thread(auto=False, clock_skew_ms=90_000) as sim:
        with client_for(sim, sync_time=False) as unsynced:
            with pytest.raises(AuthError) as info:
                unsynced.spot.get_balances()
            assert info.value.code == "AUTH_105" and info.value.documented == "Outdated message"
        with client_for(sim) as synced:
            assert synced.spot.get_balances()["assets"]
            assert abs(synced.clock.offset_ms - 90_000) < 1_000
            assert synced.stats["time_syncs"] == 1


def test_missing_parameter_is_refused_before_sending(sim: Simulator, client: WexClient) -> None:
    sent = client.stats["requests"]
    with pytest.raises(ParameterError, match="missing required parameter"):
        client.spot.submit_order(symbol="btc_usdt", side="BUY", type="LIMIT")
    with pytest.raises(ParameterError, match="not one of"):
        client.futures.create_order(
            symbol="btc_usdt", orderSide="HOLD", orderType="MARKET", origQty=1, positionSide="LONG"
        )
    with pytest.raises(ParameterError, match="does not match"):
        client.spot.submit_order(
            symbol="btc_usdt", side="BUY", type="MARKET", timeInForce="IOC", bizType="SPOT",
            quoteQty="10", clientOrderId="no spaces allowed",
        )  # fmt: skip
    with pytest.raises(ParameterError, match="unknown parameter"):
        client.spot.get_balances(currency_list="usdt")
    assert client.stats["requests"] == sent  # nothing went out


def test_missing_parameter_is_refused_by_the_simulator_too(sim: Simulator) -> None:
    auth = SpotAuth(Credentials(DEMO_API_KEY, DEMO_SECRET))
    with httpx.Client(base_url=sim.spot_http_url, auth=auth) as raw:
        body = raw.post("/v4/order", json={"symbol": "btc_usdt", "side": "BUY"}).json()
    assert body["rc"] == 1 and body["mc"].startswith("PARAMETER_")


def test_unknown_symbol(sim: Simulator, client: WexClient) -> None:
    with pytest.raises(SymbolError) as info:
        client.spot.submit_order(
            symbol="nope_usdt", side="BUY", type="MARKET", timeInForce="IOC", bizType="SPOT",
            quoteQty="10",
        )  # fmt: skip
    assert info.value.code == "SYMBOL_001"
    with pytest.raises(SymbolError) as info:
        client.futures.get_depth(symbol="nope_usdt", level=5)
    assert info.value.code == "invalid_symbol"


def test_429_with_retry_after_and_the_limiter_under_a_burst() -> None:
    # Scale 0.1: spot /v4/balances (no documented limit, 10/s here) allows 1 request/s/key.
    with simulator_thread(auto=False, rate_limit_scale=0.1) as sim:
        with client_for(sim, rate_limit=False, retries=0) as unlimited:
            unlimited.spot.get_server_time()  # the clock sync is not part of the burst
            with pytest.raises(RateLimitError) as info:
                for _ in range(5):
                    unlimited.spot.get_open_orders()
            assert info.value.status == 429 and info.value.retry_after == 1.0
        with client_for(sim, rate_limit=False, retries=3) as retrying:
            for _ in range(3):
                retrying.spot.get_open_orders()  # a GET: retried after Retry-After
            assert retrying.stats["retries"] >= 1
        with client_for(sim, rate_limit=False, retries=3, sync_time=False) as writer:
            retries = writer.stats["retries"]
            with pytest.raises(RateLimitError):
                for _ in range(3):
                    writer.spot.cancel_open_orders(bizType="SPOT")  # a DELETE: never retried
            assert writer.stats["retries"] == retries


def test_client_side_limits_keep_a_burst_under_the_documented_rate(sim: Simulator) -> None:
    # spot.get_depth: 10/s/ip. Twenty calls at once must take about a second, never 429.
    with client_for(sim, retries=0) as c:
        for _ in range(20):
            c.spot.get_depth(symbol="btc_usdt", limit=5)
        limiter = c.limiter
        assert limiter is not None and limiter.stats["waited"] >= 1


def test_the_clients_say_their_limiter_credentials_and_observer_in_public(sim: Simulator) -> None:
    from feeds import rest

    assert rest.WexClient is WexClient and rest.AsyncWexClient is AsyncWexClient
    seen: list[tuple[Any, ...]] = []
    with client_for(sim) as c, WexClient(spot_url=sim.spot_http_url, rate_limit=False) as bare:
        assert c.limiter is not None and bare.limiter is None
        assert c.credentials is not None and bare.credentials is None
        assert c.observer is None
        c.observer = lambda *attempt: seen.append(attempt)
        c.spot.get_server_time()
        assert c.observer is not None
    assert [(str(v), op, error) for v, op, error, _ in seen] == [
        ("spot", "spot.get_server_time", None)
    ]


def test_transport_error_is_wrapped() -> None:
    with WexClient(spot_url="http://127.0.0.1:9", retries=0) as c:
        with pytest.raises(TransportError, match="GET /v4/public/time"):
            c.spot.get_server_time()


def test_signed_call_without_credentials(sim: Simulator) -> None:
    with WexClient(spot_url=sim.spot_http_url) as anonymous:
        assert "serverTime" in anonymous.spot.get_server_time()
        with pytest.raises(SigningError, match=r"spot\.get_balances is signed"):
            anonymous.spot.get_balances()


def test_secret_never_shows(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with client_for(sim, secret="s3cr3t-value") as c:
        with pytest.raises(ApiError) as info:
            c.spot.get_balances()
        texts = [repr(c), str(c), str(info.value), repr(info.value), info.value.raw.decode()]
        texts.append(repr(c.credentials))
        texts.append(caplog.text)
        assert all("s3cr3t-value" not in t for t in texts)


def test_generic_request_and_table_docs(sim: Simulator, client: WexClient) -> None:
    assert client.request("spot", "GET", "/v4/public/time")["serverTime"] > 0
    assert client.request("futures", "GET", "/future/market/v1/public/q/depth",
                          params={"symbol": "btc_usdt", "level": 5})["s"] == "btc_usdt"  # fmt: skip
    doc = client.spot.submit_order.__doc__ or ""
    assert "POST /v4/order" in doc and "20/s/apikey" in doc and "^[a-zA-Z0-9_]{4,22}$" in doc


def test_no_list_answers_an_example_row(sim: Simulator, client: WexClient) -> None:
    """A list-valued result comes from the simulator's state or is empty: never the
    document's example row with blank identifiers (``position/break-list`` once answered
    ``symbol: ""``, which broke ccxt's fetch_positions)."""
    for op in OPERATIONS:
        example = EXAMPLES[op.key]
        listed = isinstance(example, list) or (isinstance(example, dict) and "items" in example)
        if op.signed and listed:
            assert op.key in HANDLERS or op.key in EMPTY, op.key
    Context(client.call, sim).futures_position()
    rows = client.futures.get_break_list() + client.futures.get_active_position()
    rows += client.futures.get_all_trades()
    rows += client.futures.get_filled_order_history(symbol="btc_usdt")
    rows += client.futures.get_balance_bills()["items"] + client.futures.get_adl_info()
    rows += (
        client.futures.get_leverage_info(symbol="btc_usdt")["items"]
        + client.futures.get_all_orders()["items"]
    )
    assert rows and all(row["symbol"] == "btc_usdt" for row in rows)
    by_key = {op.key: op for op in OPERATIONS}
    context = Context(client.call, sim)
    for key in EMPTY:
        result = client.call(key, **arguments(by_key[key], context))
        assert result == [] or result["items"] == [], key
