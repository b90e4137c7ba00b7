"""The embedded simulator over real sockets: conformance, sequencing, determinism, faults."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from feeds.sim import Simulator
from feeds.sim.httpside import ROUTES
from feeds.topics import TOPICS, Push, parse_push
from orderbook import (
    BookSync,
    DepthUpdate,
    FuturesSequencer,
    SpotSequencer,
    Venue,
    futures_snapshot,
    parse_depth_update,
    spot_snapshot,
)

SPOT_ALL = [
    "depth_update@btc_usdt",
    "depth@btc_usdt,5",
    "trade@btc_usdt",
    "kline@btc_usdt,1m",
    "ticker@btc_usdt",
    "tickers",
]
FUT_ALL = [
    "depth_update@btc_usdt,100ms",
    "depth@btc_usdt,5,1000ms",
    "trade@btc_usdt",
    "kline@btc_usdt,1m",
    "agg_ticker@btc_usdt",
    "index_price@btc_usdt",
    "mark_price@btc_usdt",
    "fund_rate@btc_usdt",
]


def sim(**kw) -> Simulator:
    kw.setdefault("auto", False)
    kw.setdefault("start_ms", 1_700_000_000_000)
    return Simulator(**kw)


async def subscribe(ws, venue: str, params: list[str], rid: str = "1") -> dict:
    method = "subscribe" if venue == "spot" else "SUBSCRIBE"
    await ws.send(orjson.dumps({"method": method, "params": params, "id": rid}).decode())
    return orjson.loads(await ws.recv())


async def drain(ws, timeout: float = 0.3) -> list[str]:
    out = []
    while True:
        try:
            out.append(await asyncio.wait_for(ws.recv(), timeout))
        except TimeoutError:
            return out


@pytest.mark.parametrize(("venue", "params"), [("spot", SPOT_ALL), ("futures", FUT_ALL)])
async def test_every_topic_pushes_documented_frames(venue: str, params: list[str]) -> None:
    async with sim() as s:
        url = s.spot_ws_url if venue == "spot" else s.futures_ws_url
        async with connect(url) as ws:
            ack = await subscribe(ws, venue, params)
            assert ack["id"] == "1" and ack["code"] == 0 and set(ack) == {"id", "code", "msg"}
            await s.advance(60 if venue == "spot" else 600)  # fund_rate is pushed every 60 s
            frames = await drain(ws)
    topics = set()
    for text in frames:
        push = parse_push(text, venue)  # typed, every required field present and well typed
        assert isinstance(push, Push)
        topics.add(push.topic)
    assert topics == {p.split("@")[0] for p in params}


async def test_spot_and_futures_sequencing_invariants() -> None:
    async with sim(futures_symbols=["btc_usdt"]) as s:
        async with connect(s.spot_ws_url) as spot, connect(s.futures_ws_url) as fut:
            await subscribe(spot, "spot", ["depth_update@btc_usdt"])
            await subscribe(
                fut, "futures", [f"depth_update@btc_usdt,{i}ms" for i in (100, 250, 500, 1000)]
            )
            await s.advance(40)
            spot_frames, fut_frames = await drain(spot), await drain(fut)
    events = [parse_depth_update(f, "spot") for f in spot_frames]
    assert len(events) == 40
    for a, b in itertools.pairwise(events):
        assert b.first_id == a.last_id + 1
    fut_events = [parse_depth_update(f, "futures") for f in fut_frames]
    # The four streams interleave; split them by following each pu chain.
    chains: list[list[DepthUpdate]] = []
    for e in fut_events:
        for chain in chains:
            if chain[-1].last_id == e.prev_id:
                chain.append(e)
                break
        else:
            chains.append([e])
    lengths = sorted(len(c) for c in chains)
    assert lengths == [4, 8, 16, 40]  # 1000, 500, 250 and 100 ms over 4 s
    merged = next(c for c in chains if len(c) == 16)
    assert any(e.first_id > e.prev_id + 1 for e in merged), "merged pushes skip ids"


async def test_same_seed_same_frames_and_two_clients_agree() -> None:
    async def record(seed: int) -> tuple[list[str], list[str]]:
        async with sim(seed=seed) as s:
            async with connect(s.spot_ws_url) as a, connect(s.spot_ws_url) as b:
                await subscribe(a, "spot", ["depth_update@btc_usdt", "trade@btc_usdt"])
                await subscribe(b, "spot", ["depth_update@btc_usdt", "trade@btc_usdt"])
                await s.advance(30)
                return await drain(a), await drain(b)

    a1, b1 = await record(3)
    a2, _ = await record(3)
    a3, _ = await record(4)
    assert a1 == b1 and a1 == a2 and a1 != a3


@pytest.mark.parametrize("venue", ["spot", "futures"])
async def test_snapshot_lines_up_with_the_stream(venue: str) -> None:
    async with sim() as s:
        url = s.spot_ws_url if venue == "spot" else s.futures_ws_url
        param = "depth_update@eth_usdt" + (",100ms" if venue == "futures" else "")
        sync = BookSync("eth_usdt", SpotSequencer() if venue == "spot" else FuturesSequencer())
        async with connect(url) as ws, httpx.AsyncClient(base_url=s.spot_http_url) as http:
            await subscribe(ws, venue, [param])
            await s.advance(5)
            if venue == "spot":
                r = await http.get("/v4/public/depth", params={"symbol": "eth_usdt", "limit": 500})
                snap = spot_snapshot(r.json()["result"], "eth_usdt")
            else:
                r = await http.get(
                    "/future/market/v1/public/depth", params={"symbol": "eth_usdt", "level": 500}
                )
                snap = futures_snapshot(r.json()["result"], "eth_usdt")
            await s.advance(20)
            for text in await drain(ws):
                sync.on_update(parse_depth_update(text, venue))
            sync.on_snapshot(snap)
            truth = s.book(venue, "eth_usdt")
    assert sync.is_live and sync.update_id == truth.last_id
    bids, asks = truth.top(10**6)
    got_bids, got_asks = sync.live_book().depth()
    assert got_bids == bids and got_asks == asks


async def test_bad_requests_are_answered_400() -> None:
    async with sim() as s:
        async with connect(s.spot_ws_url) as ws:
            for params, words in (
                (["mystery@btc_usdt"], "unknown topic"),
                (["depth_update@nope_usdt"], "unknown symbol"),
                (["depth@btc_usdt,7"], "levels"),
                ([], "non-empty"),
            ):
                ack = await subscribe(ws, "spot", params)
                assert ack["code"] == 400 and words in ack["msg"], ack
            await ws.send('{"method":"SUBSCRIBE","params":["trade@btc_usdt"],"id":"9"}')
            assert orjson.loads(await ws.recv())["code"] == 400  # spot spells it lowercase
            await ws.send("{not json")
            assert orjson.loads(await ws.recv())["code"] == 400
            await ws.send("ping")
            assert await ws.recv() == "pong"


async def test_heartbeat_timeout_closes_silent_connections() -> None:
    async with sim(spot_ping_timeout=0.3) as s:
        async with connect(s.spot_ws_url) as silent, connect(s.spot_ws_url) as pinging:
            for _ in range(8):
                await pinging.send("ping")
                assert await pinging.recv() == "pong"
                await asyncio.sleep(0.1)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(silent.recv(), 1)
            await pinging.send("ping")
            assert await pinging.recv() == "pong"
        assert s.ws.counts["timeouts"] == 1


async def spot_stream(s: Simulator, steps: int, arm=None) -> list[str]:
    """Frames of ``steps`` steps; ``arm()`` runs after the first two (so faults land inside)."""
    async with connect(s.spot_ws_url) as ws:
        await subscribe(ws, "spot", ["depth_update@btc_usdt"])
        await s.advance(2)
        if arm is not None:
            arm()
        await s.advance(steps - 2)
        return await drain(ws)


def ids(frames: list[str]) -> list[tuple[int, int]]:
    out = []
    for f in frames:
        try:
            e = parse_depth_update(f, "spot")
        except ValueError:
            out.append((-1, -1))
            continue
        out.append((e.first_id, e.last_id))
    return out


@pytest.mark.parametrize(
    ("knob", "check"),
    [
        ("drop_next", lambda f, n: len(f) == n - 1),
        ("duplicate_next", lambda f, n: len(f) == n + 1 and len(set(f)) == n),
        ("reorder_next", lambda f, n: ids(f) != sorted(ids(f)) and len(f) == n),
        ("malformed_next", lambda f, n: (-1, -1) in ids(f)),
        ("unknown_topic_next", lambda f, n: any("mystery_topic" in x for x in f)),
        (
            "skip_ids_next",
            lambda f, n: (
                len(f) == n - 1
                and any(b[0] != a[1] + 1 for a, b in zip(ids(f), ids(f)[1:], strict=False))
            ),
        ),
    ],
)
async def test_each_wire_fault_is_injected_and_counted(knob: str, check) -> None:
    async with sim() as s:
        frames = await spot_stream(s, 10, lambda: s.faults.set("spot", "btc_usdt", **{knob: 1}))
        assert check(frames, 10), ids(frames)
        assert sum(s.faults.counts.values()) == 1


async def test_stall_keeps_pings_but_stops_depth() -> None:
    async with sim() as s:
        async with connect(s.spot_ws_url) as ws:
            await subscribe(ws, "spot", ["depth_update@btc_usdt"])
            await s.advance(1)
            before = parse_depth_update((await drain(ws))[-1], "spot")
            s.faults.set("spot", "btc_usdt", stall=True)
            await s.advance(5)
            await ws.send("ping")
            assert await drain(ws) == ["pong"]
            s.faults.set("spot", "btc_usdt", stall=False)
            await s.advance(1)
            frames = await drain(ws)
    assert len(frames) == 1  # the stalled steps come out merged, chain intact
    merged = parse_depth_update(frames[0], "spot")
    assert (
        merged.first_id == before.last_id + 1
        and merged.last_id == s.book("spot", "btc_usdt").last_id
    )


async def test_disconnect_after_and_delay() -> None:
    async with sim() as s:
        s.faults.set("spot", "btc_usdt", disconnect_after=3, delay_ms=20)
        async with connect(s.spot_ws_url) as ws:
            await subscribe(ws, "spot", ["depth_update@btc_usdt"])
            await s.advance(6)
            got = []
            with pytest.raises(ConnectionClosed):
                while True:
                    got.append(await asyncio.wait_for(ws.recv(), 1))
        assert len(got) == 3
        assert s.faults.total("disconnect") >= 1


async def test_snapshot_faults() -> None:
    async with sim() as s, httpx.AsyncClient(base_url=s.spot_http_url) as http:
        await s.advance(30)
        s.faults.set("spot", "btc_usdt", snapshot_lag=10, snapshot_429=1, snapshot_5xx=1)
        params = {"symbol": "btc_usdt", "limit": 50}
        r = await http.get("/v4/public/depth", params=params)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        r = await http.get("/v4/public/depth", params=params)
        assert r.status_code == 503
        r = await http.get("/v4/public/depth", params=params)
        last = s.book("spot", "btc_usdt").last_id
        lagged = r.json()["result"]["lastUpdateId"]
        assert last - 10 - 3 <= lagged <= last - 10
        assert s.faults.total("snapshot_429") == s.faults.total("snapshot_5xx") == 1


async def test_rate_limit_answers_429() -> None:
    async with sim() as s, httpx.AsyncClient(base_url=s.spot_http_url) as http:
        codes = [
            (await http.get("/v4/public/depth", params={"symbol": "btc_usdt"})).status_code
            for _ in range(12)
        ]
    assert codes[:10] == [200] * 10 and 429 in codes[10:]


async def test_every_http_route_answers_its_envelope() -> None:
    async with sim(rate_limit_scale=100) as s, httpx.AsyncClient(base_url=s.spot_http_url) as http:
        await s.advance(5)
        for route in ROUTES:
            params = {"symbol": "btc_usdt", "interval": "1m", "level": "5", "direction": "NEXT"}
            r = await http.get(route.path, params=params)
            assert r.status_code == 200, (route.path, r.text)
            body = r.json()
            if route.venue is Venue.SPOT:
                assert body["rc"] == 0 and body["mc"] == "SUCCESS" and "result" in body
            else:
                assert body["returnCode"] == 0 and body["error"] is None and "result" in body
        r = await http.get("/v4/public/depth", params={"symbol": "nope_usdt"})
        assert r.status_code == 400 and r.json()["mc"] == "SYMBOL_001"
        r = await http.get(
            "/future/market/v1/public/q/depth", params={"symbol": "btc_usdt", "level": "99"}
        )
        assert r.json()["error"]["code"] == "invalid_params"


def test_topic_table_covers_the_issue() -> None:
    assert {t for v, t in TOPICS if v is Venue.FUTURES} >= {
        "depth_update",
        "depth",
        "trade",
        "kline",
        "agg_ticker",
        "index_price",
        "mark_price",
        "fund_rate",
    }


async def test_faults_switch_at_run_time_from_the_command_line(capsys) -> None:
    from feeds.apps.cli import main

    async with sim() as s:
        code = await asyncio.to_thread(
            main,
            [
                "sim-fault",
                "--url",
                s.spot_http_url,
                "spot:btc_usdt:drop_next=2",
                "futures:eth_usdt:stall=1",
            ],
        )
        assert code == 0
        assert s.faults.of("spot", "btc_usdt").drop_next == 2
        assert s.faults.of("futures", "eth_usdt").stall is True
        code = await asyncio.to_thread(main, ["sim-fault", "--url", s.spot_http_url, "--clear"])
        assert code == 0 and s.faults.of("futures", "eth_usdt").stall is False
        code = await asyncio.to_thread(
            main, ["sim-fault", "--url", s.spot_http_url, "spot:nope_usdt:drop=0.5"]
        )
        assert code == 1
    assert "market steps" in capsys.readouterr().out


async def test_futures_quantities_are_whole_contracts() -> None:
    """The document counts futures quantity in contracts ("Cont"): books, trades, orders and the
    symbol configuration agree, and one contract is worth a few USDT."""
    from feeds.rest.client import AsyncWexClient
    from feeds.sim import DEMO_API_KEY, DEMO_SECRET

    async with sim(rate_limit_scale=100) as s, httpx.AsyncClient(base_url=s.spot_http_url) as http:
        await s.advance(300)
        fm = "/future/market/v1/public"
        for symbol in ("btc_usdt", "eth_usdt"):
            q = {"symbol": symbol}
            detail = (await http.get(f"{fm}/symbol/detail", params=q)).json()["result"]
            assert detail["quantityPrecision"] == 0 and detail["minQty"] == 1
            mid = (max(s.book("futures", symbol).bids) + min(s.book("futures", symbol).asks)) / 2
            assert 1 <= mid * Decimal(str(detail["contractSize"])) < 10
            depth = (await http.get(f"{fm}/q/depth", params={**q, "level": "50"})).json()
            deals = (await http.get(f"{fm}/q/deal", params={**q, "num": "100"})).json()
            quantities = [level[1] for side in "ab" for level in depth["result"][side]]
            quantities += [str(deal["a"]) for deal in deals["result"]]
            assert deals["result"] and all(x.isdigit() and int(x) > 0 for x in quantities)
            truth = s.book("futures", symbol)
            assert all(
                q == q.to_integral_value() for q in [*truth.bids.values(), *truth.asks.values()]
            )
        spot = (await http.get("/v4/public/depth", params={"symbol": "btc_usdt"})).json()
        assert any("." in level[1] for level in spot["result"]["bids"])  # spot: base, 4 places
        async with AsyncWexClient(
            DEMO_API_KEY, DEMO_SECRET, spot_url=s.spot_http_url, futures_url=s.futures_http_url
        ) as client:
            order_id = await client.futures.create_order(
                symbol="btc_usdt", orderSide="BUY", orderType="MARKET", origQty=7,
                positionSide="LONG",
            )  # fmt: skip
            order = await client.futures.get_order(orderId=order_id)
            assert order["executedQty"] == order["origQty"] == "7"
            price = Decimal(order["avgPrice"])
            positions = await client.futures.get_positions(symbol="btc_usdt")
            assert [p["positionSize"] for p in positions] == ["7"]
            margin = Decimal(positions[0]["isolatedMargin"])
            assert margin == 7 * Decimal("0.0001") * price / 20  # notional / default leverage


async def test_heartbeat_timeout_closes_silent_private_connections_too() -> None:
    # The private side uses the public side's watchdog (handed to it, not looked up).
    async with sim(spot_ping_timeout=0.3) as s:
        async with connect(s.spot_private_url) as silent:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(silent.recv(), 2)
        assert s.ws.counts["timeouts"] == 1
