"""The declarative REST table: complete, generated from the document, and turned into exact
requests (parameter checks, body bytes = signed bytes). No network."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest

from feeds.rest import ParameterError
from feeds.rest.error_table import FUTURES_ERROR_MESSAGES, SPOT_ERROR_MESSAGES
from feeds.rest.ratelimit import RateLimiter, WindowLimiter
from feeds.rest.table import OPERATIONS
from feeds.signing import Credentials, FuturesAuth, SpotAuth
from feeds.sim.tradingroutes import EXAMPLES

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT.parent / "shared" / "docs" / "wex-api.txt"
OPS = {op.key: op for op in OPERATIONS}


def test_all_124_operations() -> None:
    assert Counter(op.venue for op in OPERATIONS) == {"spot": 34, "futures": 90}
    assert len({(op.method, op.path) for op in OPERATIONS}) == 124
    assert len(OPS) == 124
    assert all(op.method in ("GET", "POST", "PUT", "DELETE") for op in OPERATIONS)
    assert all(op.method_source and op.line > 0 for op in OPERATIONS)
    assert all(op.signed == ("/public/" not in op.path) for op in OPERATIONS)
    assert set(EXAMPLES) == set(OPS)  # a documented example result for every one


def test_inferred_methods_are_the_known_ones() -> None:
    inferred = {op.key for op in OPERATIONS if op.inferred}
    assert inferred == {
        "spot.get_client_ip",
        "futures.get_open_orders",  # XT's pages disagree (GET/POST)
        "futures.get_partial_canceled_orders",
        "futures.get_order_list",
        "futures.get_quant_order_history",
        "futures.get_quant_trades",
        "futures.get_compat_balances",
        "futures.get_active_position",
    }
    assert OPS["futures.get_order_list"].method == "POST"
    assert OPS["futures.get_open_orders"].method == "GET"


def test_documented_quirks_are_in_the_table() -> None:
    assert OPS["spot.cancel_batch_order"].by_name["orderIds"].location == "json"  # DELETE body
    assert OPS["spot.cancel_open_orders"].by_name["symbol"].location == "json"
    assert OPS["spot.cancel_order"].by_name["orderId"].location == "path"
    assert OPS["futures.atomic_create_batch_orders"].by_name["orders"].location == "array"
    assert OPS["spot.submit_order"].by_name["clientOrderId"].pattern == "^[a-zA-Z0-9_]{4,22}$"
    assert OPS["spot.get_depth"].by_name["limit"].max == 500
    assert OPS["spot.get_ws_token"].method == "POST" and not OPS["spot.get_ws_token"].params
    assert OPS["spot.submit_order"].rate_limits == ((20, "apikey"),)
    assert OPS["spot.get_depth"].rate_limits == ((10, "ip"),)
    assert SPOT_ERROR_MESSAGES["AUTH_105"] == "Outdated message"
    assert FUTURES_ERROR_MESSAGES["invalid_symbol"]


@pytest.mark.skipif(not DOC.exists(), reason="the API document is not beside the project")
def test_the_table_is_what_the_document_gives() -> None:
    tool = ROOT / "tools" / "extract_endpoints.py"
    done = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_arguments_are_checked_and_spelled_exactly() -> None:
    submit = OPS["spot.submit_order"]
    call = submit.prepare(
        {"symbol": "btc_usdt", "side": "BUY", "type": "LIMIT", "time_in_force": "GTC",
         "biz_type": "SPOT", "price": 0.1, "quantity": Decimal("2.50")}
    )  # fmt: skip
    assert call.method == "POST" and call.path == "/v4/order" and call.query == ()
    assert orjson.loads(call.body or b"") == {
        "symbol": "btc_usdt", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
        "bizType": "SPOT", "price": "0.1", "quantity": "2.50",
    }  # fmt: skip
    cancel = OPS["spot.cancel_order"].prepare({"orderId": "537993219009398400"})
    assert cancel.path == "/v4/order/537993219009398400" and cancel.body is None
    detail = OPS["futures.get_order"].prepare({"orderId": 537993219009398401})
    assert detail.query == (("orderId", "537993219009398401"),)  # beyond 2**53, intact
    transfer = OPS["spot.transfer"]
    body = transfer.prepare({"bizId": "b1", "from_": "SPOT", "to": "LEVER", "currency": "usdt",
                             "amount": "1"}).body  # fmt: skip
    assert orjson.loads(body or b"")["from"] == "SPOT"
    batch = OPS["futures.create_batch_orders"].prepare({"list": [{"symbol": "btc_usdt"}]})
    assert orjson.loads(batch.body or b"") == {"list": '[{"symbol":"btc_usdt"}]'}
    with pytest.raises(ParameterError, match="above 500"):
        OPS["spot.get_depth"].prepare({"symbol": "btc_usdt", "limit": 501})
    with pytest.raises(ParameterError, match="must be an integer"):
        OPS["futures.get_order"].prepare({"orderId": 1.5})
    with pytest.raises(ParameterError, match="missing required"):
        OPS["spot.get_balance"].prepare({})


@pytest.mark.parametrize("auth_class", [SpotAuth, FuturesAuth])
def test_the_body_sent_is_the_body_signed(auth_class: type) -> None:
    op = OPS["spot.submit_batch_order"] if auth_class is SpotAuth else OPS["futures.create_order"]
    args = (
        {"clientBatchId": "batch01", "items": [{"symbol": "btc_usdt", "side": "BUY",
         "type": "MARKET", "timeInForce": "IOC", "bizType": "SPOT", "quoteQty": "10"}]}
        if auth_class is SpotAuth
        else {"symbol": "btc_usdt", "orderSide": "BUY", "orderType": "MARKET", "origQty": 1,
              "positionSide": "LONG"}
    )  # fmt: skip
    call = op.prepare(args)
    auth = auth_class(Credentials("key", "secret"), clock=lambda: 1_700_000_000_000)
    request = httpx.Request(call.method, "https://example" + call.path, content=call.body)
    signed = auth.sign_request(request)
    assert request.content == call.body
    assert signed.endswith("#" + call.body.decode())  # type: ignore[union-attr]


def test_window_limiter_never_exceeds_its_rate() -> None:
    window = WindowLimiter(3, 1.0)
    sent = []
    now = 0.0
    while len(sent) < 10:
        wait = window.wait_time(now)
        if wait:
            now += wait
            continue
        window.take(now)
        sent.append(now)
    # any 1-second window holds at most 3 sends
    assert all(sum(1 for t in sent if s <= t < s + 1.0) <= 3 for s in sent)
    assert sent[3] == pytest.approx(1.0)
    limiter = RateLimiter()
    buckets = [("a", 2, 1.0), ("b", 100, 60.0)]
    assert limiter.reserve(buckets, 0.0) == 0.0 and limiter.reserve(buckets, 0.0) == 0.0
    assert limiter.reserve(buckets, 0.5) == pytest.approx(0.5)
