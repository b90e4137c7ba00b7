"""``wexbook watch`` end to end against a loopback exchange (websocket + real HTTP)."""

from __future__ import annotations

import asyncio

from mini_exchange import MiniExchange
from rich.console import Console

from feeds.apps.cli import main
from feeds.apps.dashboard import RateMeter, book_rows, render
from feeds.manager import BookManager


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
    assert '"state": "live"' in out and "btc_usdt" in out and "eth_usdt" in out
    assert ex.snapshot_requests >= 2


async def test_dashboard_rows_and_table() -> None:
    async with MiniExchange("spot", ["btc_usdt"]) as ex:
        http = await ex.serve_http()
        async with BookManager(spot_ws_url=ex.url, spot_rest_url=http) as manager:
            await manager.add("spot", "btc_usdt")
            meter = RateMeter()
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
            assert row.state == "live" and row.best_bid < row.best_ask
            assert row.spread == row.best_ask - row.best_bid
            assert row.msgs_per_s > 0
            console = Console(record=True, width=160)
            console.print(render(rows))
            text = console.export_text()
            assert "btc_usdt" in text and "live" in text
