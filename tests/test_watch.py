"""``wexbook watch`` end to end against a loopback exchange (websocket + real HTTP) and the
embedded simulator: the table says why a book is not live, identical log lines are printed
once, a book that never went live fails the run, and the table fits 80 columns."""

from __future__ import annotations

import asyncio
import json
import socket
from decimal import Decimal

from mini_exchange import MiniExchange
from rich.console import Console

from feeds.apps.cli import main
from feeds.apps.dashboard import BookRow, RateMeter, book_rows, render
from feeds.manager import BookManager
from feeds.sim import Simulator


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exit_report(out: str) -> dict:
    """The JSON printed on exit: after a blank line (stdout is not a terminal here)."""
    assert "\n\n{\n" in out, out[-500:]
    return json.loads(out[out.index("\n\n{\n") + 2 :])


async def test_watch_command_runs_and_reports(capsys) -> None:
    async with MiniExchange("spot", ["btc_usdt", "eth_usdt"]) as ex:
        http = await ex.serve_http()

        async def pump() -> None:
            while True:
                await ex.step()
                await asyncio.sleep(0.01)

        pumping = asyncio.create_task(pump())
        try:
            argv = ["watch", "--spot", "btc_usdt", "eth_usdt", "--seconds", "1.5",
                    "--spot-ws", ex.url, "--spot-rest", http]  # fmt: skip
            code = await asyncio.to_thread(main, argv)
        finally:
            pumping.cancel()
    assert code == 0
    out = capsys.readouterr().out
    report = exit_report(out)
    assert set(report["books"]) == {"spot btc_usdt", "spot eth_usdt"}
    for book in report["books"].values():
        assert book["state"] == "live" and book["went live"] and book["snapshots accepted"] >= 1
    keys = {k for book in report["books"].values() for k in book} | set(report)
    assert not any("_" in k or "-" in k for k in keys), keys  # written for people
    assert ex.snapshot_requests >= 2


async def test_watch_sim_points_at_the_simulator_in_one_flag(capsys) -> None:
    async with Simulator(spot_symbols=["btc_usdt"], futures_symbols=["eth_usdt"]) as sim:
        ws = sim.spot_ws_url.removesuffix("/public")
        argv = ["watch", "--sim", ws, sim.spot_http_url, "--spot", "btc_usdt",
                "--futures", "eth_usdt", "--seconds", "2"]  # fmt: skip
        code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    assert code == 0, out[-2000:]
    report = exit_report(out)
    assert report["books"]["spot btc_usdt"]["went live"]
    assert report["books"]["futures eth_usdt"]["went live"]
    assert report["connections"]["futures"]["url"] == f"{ws}/ws/market"


async def test_failing_snapshots_are_shown_and_fail_the_run(capsys) -> None:
    async with Simulator(spot_symbols=["btc_usdt"], futures_symbols=[]) as sim:
        argv = ["watch", "--spot", "btc_usdt", "--seconds", "3", "--spot-ws", sim.spot_ws_url,
                "--spot-rest", f"http://127.0.0.1:{closed_port()}"]  # fmt: skip
        code = await asyncio.to_thread(main, argv)
    captured = capsys.readouterr()
    assert code == 1
    table = captured.out.split("\n\n{")[0]
    assert "snapshot failing" in table and "ConnectError" in table, table
    assert "spot btc_usdt never went live: snapshot failing" in captured.err
    # The scheduler retried several times; its identical warning is printed once.
    failures = [line for line in captured.err.splitlines() if line.startswith("WARNING")]
    assert len(failures) == len(set(failures)), failures
    assert exit_report(captured.out)["repeated log lines not shown"] > 0
    assert "Traceback" not in captured.err


async def test_an_unreachable_websocket_is_shown_once_and_fails_the_run(capsys) -> None:
    port = closed_port()
    argv = ["watch", "--futures", "btc_usdt", "--seconds", "3",
            "--futures-ws", f"ws://127.0.0.1:{port}/ws/market",
            "--futures-rest", f"http://127.0.0.1:{port}"]  # fmt: skip
    code = await asyncio.to_thread(main, argv)
    captured = capsys.readouterr()
    assert code == 1
    table = captured.out.split("\n\n{")[0]
    assert "no connection: ConnectionRefusedError" in table, table
    refused = [line for line in captured.err.splitlines() if "connection to" in line]
    assert len(refused) == 1, captured.err
    report = exit_report(captured.out)
    assert report["connections"]["futures"]["connects"] == 0
    assert report["repeated log lines not shown"] > 0


async def test_a_refused_symbol_fails_the_run(capsys) -> None:
    async with Simulator(spot_symbols=["btc_usdt"], futures_symbols=[]) as sim:
        ws = sim.spot_ws_url.removesuffix("/public")
        argv = ["watch", "--sim", ws, sim.spot_http_url, "--spot", "btc_usdt", "nope_usdt",
                "--seconds", "2"]  # fmt: skip
        code = await asyncio.to_thread(main, argv)
    captured = capsys.readouterr()
    assert code == 1
    assert "spot nope_usdt was refused: subscription refused" in captured.err
    report = exit_report(captured.out)
    assert report["books"]["spot btc_usdt"]["went live"]
    assert report["books"]["spot nope_usdt"]["state"] == "closed"


async def test_dashboard_rows_and_table() -> None:
    async with MiniExchange("spot", ["btc_usdt"]) as ex:
        http = await ex.serve_http()
        async with BookManager(spot_ws_url=ex.url, spot_rest_url=http) as manager:
            await manager.add("spot", "btc_usdt")
            meter = RateMeter(window=0.01)
            loop = asyncio.get_running_loop()
            rows = book_rows(manager, loop.time(), meter)
            assert rows[0].state == "syncing" and rows[0].best_bid is None
            for _ in range(50):
                await ex.step()
                await asyncio.sleep(0.01)
                if manager.book("spot", "btc_usdt").sync.is_live:
                    break
            await ex.step(5)
            await asyncio.sleep(0.05)
            rows = book_rows(manager, loop.time(), meter)
            row = rows[0]
            assert row.state == "live" and row.best_bid < row.best_ask and row.reason is None
            assert row.spread == row.best_ask - row.best_bid
            assert row.msgs_per_s > 0
            console = Console(record=True, width=160)
            console.print(render(rows, width=160))
            text = console.export_text()
            assert "btc_usdt" in text and "live" in text and "why not live" in text


def test_the_table_fits_80_columns_without_cutting_prices() -> None:
    long_reason = "no connection: ConnectionRefusedError: [Errno 111] Connect call failed " * 2
    rows = [
        BookRow("spot", "btc_usdt", "live", Decimal("104321.55"), Decimal("104321.56"),
                Decimal("0.01"), 123456789012, 3, 3, 123.4, 0.1, None),
        BookRow("futures", "ethfi_usdt", "resyncing", Decimal("0.000012345"),
                Decimal("0.000012346"), Decimal("1E-9"), 98765, 1, 1, 12.4, 2.1,
                "sequence gap after id 98765"),
        BookRow("futures", "sol_usdt", "disconnected", None, None, None, None, 0, 0, 0.0, None,
                long_reason),
    ]  # fmt: skip
    for width in (80, 100, 250):
        console = Console(record=True, width=width)
        console.print(render(rows, "wexbook watch", width=width))
        text = console.export_text()
        assert max(len(line) for line in text.splitlines()) <= width, text
        for price in ("104321.55", "104321.56", "0.000012345", "0.000012346"):
            assert price in text, (width, text)
        assert "sequence gap after id 98765" in text
        assert ("ConnectionRefusedError" in text) and ("disconnected" in text)
    console = Console(record=True, width=250)
    console.print(render(rows, width=250))
    assert long_reason.strip() in console.export_text(), "wide enough: the reason in full"
