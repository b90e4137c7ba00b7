"""``wexbook serve --board`` and ``wexbook board`` (issue 23), and the board read in the
engine's own process against ``manager.view``.

The tests that run a board are skipped under ``WEXBOOK_PURE=1``, where it refuses to run
(``tests/test_board.py::test_board_refuses_without_its_compiled_helper``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from feeds.apps.cli import main
from feeds.board import (
    BoardReader,
    BoardWriter,
    BookNotOnBoard,
    EngineDown,
    atomics,
    layout,
)
from orderbook import BookNotLive

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

needs_board = pytest.mark.skipif(
    not atomics.AVAILABLE, reason=f"the board refuses to run here ({atomics.UNAVAILABLE})"
)


def _name(tag: str) -> str:
    return f"test{os.getpid()}-{tag}"


def wexbook(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feeds.apps.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["board", "no/such"], "NAME"),
        (["board", "x", "--interval", "0"], "--interval"),
        (["serve"], "--board"),
        (["serve", "--board", "-x"], "--board"),
        (["serve", "--board", "x", "--levels", "0"], "--levels"),
        (["serve", "--board", "x", "--slots", "70000"], "--slots"),
        (["serve", "--board", "x", "--spot-ws", "ws://127.0.0.1:1/x"], "REST"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    argv: list[str], names: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert err.count("\n") == 1 and names in err, err


@needs_board
def test_board_of_a_name_nobody_serves_is_one_line_and_exit_1() -> None:
    done = wexbook("board", _name("nobody"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "no board named" in done.stderr and "wexbook serve --board" in done.stderr


@needs_board
@pytest.mark.slow
def test_serve_of_a_name_in_use_then_board_shows_it_then_fails_closed() -> None:
    """A second engine on a served name: one line, exit 1. ``wexbook board --once`` shows
    the books live (exit 0); after kill -9, disconnected (exit 1)."""
    name = _name("cli")
    engine = subprocess.Popen(
        [sys.executable, str(HERE / "board_procs.py"), "serve", name],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert engine.stdout is not None and engine.stdout.readline().startswith("ready")
        second = wexbook("serve", "--board", name, "--seconds", "1", "--no-faults")
        assert second.returncode == 1
        assert second.stderr.count("\n") == 1
        assert f"served by a running engine (pid {engine.pid})" in second.stderr
        shown = wexbook("board", name, "--once")
        assert shown.returncode == 0, shown.stderr
        assert "btc_usdt" in shown.stdout and "live" in shown.stdout
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait(10)
        time.sleep(0.4)
        down = wexbook("board", name, "--once", "--stale-after", "0.3")
        assert down.returncode == 1
        assert "disconnected" in down.stdout
    finally:
        if engine.poll() is None:
            engine.kill()
        engine.wait(10)
        Path(layout.board_path(name)).unlink(missing_ok=True)


@needs_board
async def test_reader_views_equal_the_managers_views(sim_books) -> None:  # type: ignore[no-untyped-def]
    """In the engine's process, with no await between them, the board's view of every book
    equals ``manager.view`` (levels, ids, generation, event time); more levels than the
    board holds is a ValueError, an unknown book a KeyError; a quiet book's wait blocks
    without spinning a core and times out."""
    name = _name("same")
    async with sim_books(["btc_usdt", "eth_usdt"], ["btc_usdt"], seed=5, faults=False) as run:
        writer = BoardWriter(name, levels=10).attach(run.manager)
        try:
            await run.add_all()
            reader = BoardReader(name)
            for _ in range(20):
                await asyncio.sleep(0.02)
                for venue, symbol in reader.books():
                    for levels in (1, 5, 10, None):
                        got = reader.view(venue, symbol, levels)
                        want = run.manager.view(venue, symbol, 10 if levels is None else levels)
                        assert got.bids == want.bids and got.asks == want.asks
                        assert (got.update_id, got.generation, got.last_event_time) == (
                            want.update_id,
                            want.generation,
                            want.last_event_time,
                        )
            assert len(reader.books()) == 3
            with pytest.raises(ValueError, match="10 levels"):
                reader.view("spot", "btc_usdt", 11)
            with pytest.raises(KeyError):
                reader.view("spot", "doge_usdt")
            with pytest.raises(BookNotOnBoard):
                reader.view("futures", "eth_usdt")
            run.sim.faults.set("spot", "eth_usdt", stall=True)
            await asyncio.sleep(0.3)
            reader.view("spot", "eth_usdt")  # seen as of now

            def quiet_wait() -> tuple[bool, float]:
                cpu = time.thread_time()
                changed = reader.wait("spot", "eth_usdt", timeout=0.6)
                return changed, time.thread_time() - cpu

            changed, cpu = await asyncio.to_thread(quiet_wait)
            assert changed is False
            assert cpu < 0.1  # a futex wait, not a spin (0.6 s of a core otherwise)
            run.sim.faults.set("spot", "eth_usdt", stall=False)
            assert await asyncio.to_thread(reader.wait, "spot", "eth_usdt", 5.0)
        finally:
            writer.close()
        with pytest.raises(BookNotLive):
            reader.view("spot", "btc_usdt")
        reader.close()


@needs_board
async def test_a_hung_engine_fails_closed(sim_books) -> None:  # type: ignore[no-untyped-def]
    """The heartbeat beats on the manager's loop: a loop that blocks stops it, and a
    reader in another thread raises EngineDown within its bound."""
    name = _name("hung")
    async with sim_books(["btc_usdt"], [], seed=6, faults=False) as run:
        writer = BoardWriter(name).attach(run.manager)
        try:
            await run.add_all()
            reader = BoardReader(name, stale_after=0.3)
            assert reader.view("spot", "btc_usdt").is_live
            time.sleep(0.5)  # the loop hangs
            with pytest.raises(EngineDown):
                reader.view("spot", "btc_usdt")
            await asyncio.sleep(0.25)  # it beats again
            assert reader.view("spot", "btc_usdt").is_live
        finally:
            writer.close()
