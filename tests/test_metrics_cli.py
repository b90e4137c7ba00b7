"""``--metrics-port``, ``--metrics-host`` and ``--log-format`` on the commands; watch's exit
codes; the per-book alerts of the live view."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request

from helpers import snapshot, spot_event
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from feeds.apps.cli import main
from feeds.apps.dashboard import RateMeter, book_rows, render
from feeds.apps.watch import problems
from feeds.manager import BookManager
from feeds.sim import Simulator
from orderbook import Venue


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


BTC = (("symbol", "btc_usdt"), ("venue", "spot"))


def key(name: str, **labels: str) -> tuple:
    return name, tuple(sorted({**dict(BTC), **labels}.items()))


async def test_watch_serves_metrics_and_logs_json_while_it_runs(capsys) -> None:
    async with Simulator(spot_symbols=["btc_usdt"], futures_symbols=[]) as sim:
        port = free_port()
        argv = ["watch", "--spot", "btc_usdt", "--seconds", "6", "--spot-ws", sim.spot_ws_url,
                "--spot-rest", sim.spot_http_url, "--metrics-port", str(port),
                "--log-format", "json"]  # fmt: skip
        run = asyncio.create_task(asyncio.to_thread(main, argv))
        live = key("wexbook_book_state", state="live")
        samples: dict = {}
        for _ in range(200):
            samples = await asyncio.to_thread(scrape, port)
            if samples.get(live) == 1:
                break
            await asyncio.sleep(0.02)
        assert samples.get(live) == 1
        sim.faults.set("spot", "btc_usdt", drop_next=1)
        gap = key("wexbook_book_resyncs_total", cause="gap")
        for _ in range(200):
            samples = await asyncio.to_thread(scrape, port)
            if samples.get(gap) == 1 and samples.get(live) == 1:
                break
            await asyncio.sleep(0.02)
        assert samples[gap] == 1 and samples[live] == 1
        assert samples[key("wexbook_book_gaps_total")] == 1
        assert samples["wexbook_book_generation", BTC] == 2
        code = await run
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    assert f"wexbook watch: metrics on http://127.0.0.1:{port}/metrics" in captured.err
    records = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    changes = [(r["from"], r["to"], r["cause"]) for r in records if r["event"] == "state_change"]
    assert ("live", "resyncing", "gap") in changes
    report = json.loads(captured.out[captured.out.index("\n\n{\n") + 2 :])
    assert report["books"]["spot btc_usdt"]["gaps"] == 1


def test_a_metrics_port_in_use_is_one_line_and_exit_2(capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            main(["watch", "--spot", "btc_usdt", "--seconds", "1", "--metrics-port",
                  str(port), "--sim", "ws://127.0.0.1:9", "http://127.0.0.1:9"])  # fmt: skip
        except SystemExit as exc:
            code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"wexbook watch: argument --metrics-port: cannot serve metrics on 127.0.0.1:{port}: "
        "in use (see wexbook watch --help)"
    ]


def test_bad_monitoring_options_are_refused(capsys) -> None:
    for argv, what in (
        (["demo", "--offline", "--metrics-port", "0"], "--metrics-port applies to the live demo"),
        (["watch", "--spot", "btc_usdt", "--metrics-port", "70000"], "argument --metrics-port"),
        (["watch", "--spot", "btc_usdt", "--log-format", "xml"], "argument --log-format"),
        (["watch", "--spot", "btc_usdt", "--seconds", "1", "--sim", "ws://127.0.0.1:9",
          "http://127.0.0.1:9", "--metrics-port", "0", "--metrics-host", "192.0.2.1"],
         "argument --metrics-host: cannot serve metrics on 192.0.2.1:0: "),  # not this machine's
    ):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2, argv
        assert what in err and "Traceback" not in err, err


async def test_watch_fails_a_book_that_ended_not_live_and_the_view_alerts() -> None:
    manager = BookManager(spot_ws_url="ws://127.0.0.1:9/public")
    await manager.start()
    try:
        book = await manager._prepare(Venue.SPOT, "btc_usdt")
        never = await manager._prepare(Venue.SPOT, "eth_usdt")
        book.sync.on_snapshot(snapshot(100))
        book.first_live = book.live_since = manager._now()
        book.sync.on_update(spot_event(101, 101))
        assert problems(manager, []) == [f"spot eth_usdt never went live: {never.sync.reason}"]
        book.sync.on_update(spot_event(103, 104))  # a gap: out of LIVE
        found = problems(manager, [])
        assert "spot btc_usdt ended not live (resyncing): sequence gap after id 101" in found
        meter = RateMeter()
        rows = book_rows(manager, manager._now() + 11, meter)
        by_symbol = {r.symbol: r for r in rows}
        assert by_symbol["eth_usdt"].alerts == ("not live 11s",)
        assert by_symbol["btc_usdt"].alerts == ()  # out of LIVE just now
        rows = book_rows(manager, manager._now() + 30, meter)
        console = Console(width=80, record=True)
        console.print(render(rows, "wexbook watch", 80))
        text = console.export_text()
        assert "! spot eth_usdt: not live 30s" in text
        assert "! spot btc_usdt: not live 19s" in text
        assert max(len(line) for line in text.splitlines()) <= 80
    finally:
        await manager.close()


def test_a_threaded_manager_is_served_from_plain_code() -> None:
    from feeds.metrics import serve
    from feeds.sim.background import simulator_thread
    from feeds.threaded import ThreadedBookManager

    with simulator_thread(speed=5) as sim:
        with ThreadedBookManager(
            spot_ws_url=sim.spot_ws_url,
            spot_rest_url=sim.spot_http_url,
            futures_ws_url=sim.futures_ws_url,
            futures_rest_url=sim.futures_http_url,
        ) as manager:
            btc = manager.add("spot", "btc_usdt")
            assert btc.wait_live(timeout=10)
            with serve(manager.manager, port=0) as server:
                samples = scrape(server.port)
    assert samples[key("wexbook_book_state", state="live")] == 1
    assert samples[key("wexbook_book_events_applied_total")] >= 0
    assert samples["wexbook_connection_up", (("venue", "spot"),)] == 1
