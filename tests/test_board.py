"""The shared-memory book board (issue 23): an engine process publishes, readers in other
processes read exact books or are told the book is not live.

The processes are those of ``tests/board_procs.py`` (engine, readers, a hammering writer
and its checkers); the test process itself is a reader in the kill -9 and lifecycle
tests. Under ``WEXBOOK_PURE=1`` the board refuses to run (no pure-Python seqlock can
order its reads across processes): those tests are skipped, and
``test_board_refuses_without_its_compiled_helper`` checks the refusal itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from feeds.board import atomics, layout

HERE = Path(__file__).resolve().parent
PROCS = str(HERE / "board_procs.py")
REPO = HERE.parent

needs_board = pytest.mark.skipif(
    not atomics.AVAILABLE,
    reason=f"the board refuses to run here ({atomics.UNAVAILABLE}); "
    "test_board_refuses_without_its_compiled_helper checks that",
)


def _name(tag: str) -> str:
    return f"test{os.getpid()}-{tag}"


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, PROCS, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_ready(proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    """The engine's ``ready`` line (fails if it exits first)."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("ready"):
            return line.strip()
        if not line and proc.poll() is not None:
            raise AssertionError(f"process exited: {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
    raise AssertionError("process never got ready")


@pytest.fixture
def cleanup() -> Iterator[list]:
    """Processes and board names to kill/remove after the test, whatever happens."""
    things: list = []
    yield things
    for thing in things:
        if isinstance(thing, subprocess.Popen):
            if thing.poll() is None:
                thing.kill()
            thing.wait(10)
        else:
            Path(layout.board_path(thing)).unlink(missing_ok=True)


def _levels(rows: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in rows]


@needs_board
@pytest.mark.slow
def test_every_view_equals_the_truth_and_every_not_live_episode_is_seen(
    tmp_path: Path, cleanup: list
) -> None:
    """Engine on the simulator with faults (drops, duplicates, reorders, malformed
    frames, a gap, a dropped connection, a stall); two reader processes, one thread per
    book waiting for every change. Every view a reader accepted equals the simulator's
    truth at its update id (top 20) and has the in-process view's exact spellings; every
    not-live episode of the engine (a generation's stretch out of LIVE) after the readers
    started was seen by the readers as a BookNotLive of the book's state."""
    name = _name("truth")
    cleanup.append(name)
    engine = _start("engine", name, str(tmp_path / "engine.json"), "3")
    cleanup.append(engine)
    _wait_ready(engine)
    started = time.monotonic()
    readers = [_start("reader", name, str(tmp_path / f"reader{i}.json")) for i in range(2)]
    cleanup.extend(readers)
    assert engine.wait(30) == 0, engine.stderr.read()[-2000:]  # type: ignore[union-attr]
    for reader in readers:
        assert reader.wait(30) == 0, reader.stderr.read()[-2000:]  # type: ignore[union-attr]
    truth = json.loads((tmp_path / "engine.json").read_text())
    assert truth["unmatched"] == 0
    episodes = {}
    for key, generation, state, at in truth["not_live"]:
        episodes.setdefault((key, generation), (at, state))
    expected = {ep for ep, (at, _) in episodes.items() if started + 0.5 < at < truth["end"] - 0.5}
    assert {key for key, _ in expected} >= {"spot:btc_usdt", "spot:eth_usdt"}  # faults bit
    for i in range(2):
        got = json.loads((tmp_path / f"reader{i}.json").read_text())
        assert got["errors"] == []
        assert len(got["accepted"]) > 100
        for key, update_id, generation, bids, asks in got["accepted"]:
            at = truth["truth"][key][str(update_id)]  # published LIVE at that id
            assert at["generation"] == generation
            assert (_levels(bids), _levels(asks)) == tuple(_levels(s) for s in at["truth"])
            assert [bids, asks] == at["view"]  # the in-process Decimals, spelled the same
        seen = {(key, generation) for key, _, generation, _ in got["refused"]}
        assert expected <= seen, f"not-live episodes never seen: {expected - seen}"
        names = {
            "resyncing": "BookResyncing",
            "disconnected": "BookDisconnected",
            "syncing": "BookSyncing",
            "stale": "BookStale",
            "closed": "BookClosed",
        }
        for _, error, _, state in got["refused"]:
            assert error == names[state]
    assert not Path(layout.board_path(name)).exists()  # the engine's clean stop removed it


@needs_board
def test_a_torn_copy_is_never_accepted(tmp_path: Path, cleanup: list) -> None:
    """A writer hammers random slots with random payloads carrying their own checksum; two
    reader processes copy slots through the seqlock and never get a bad checksum. A third
    reads the same slots without the seqlock and does (so the check can fail)."""
    name = _name("torn")
    cleanup.append(name)
    writer = _start("hammer", name, "2.5")
    cleanup.append(writer)
    _wait_ready(writer)
    outs = [tmp_path / f"check{i}.json" for i in range(3)]
    checkers = [_start("check", name, "1.5", str(out)) for out in outs[:2]]
    checkers.append(_start("check", name, "1.5", str(outs[2]), "unchecked"))
    cleanup.extend(checkers)
    for proc in [*checkers, writer]:
        assert proc.wait(20) == 0, proc.stderr.read()[-2000:]  # type: ignore[union-attr]
    for out in outs[:2]:
        counts = json.loads(out.read_text())
        assert counts["good"] > 1000 and counts["torn"] == 0, counts
    assert json.loads(outs[2].read_text())["torn"] > 0


@needs_board
def test_kill_9_fails_readers_closed_within_the_bound_and_a_restart_is_reattached(
    cleanup: list,
) -> None:
    """kill -9 the engine: views keep working until the heartbeat is older than the bound,
    then raise EngineDown (a blocked wait too); the leftover file is there. A new engine
    reclaims it; the same reader reads the new epoch by itself."""
    from feeds.board import BoardReader, EngineDown
    from orderbook import BookDisconnected

    name = _name("kill")
    cleanup.append(name)
    engine = _start("serve", name)
    cleanup.append(engine)
    first_epoch = int(_wait_ready(engine).split()[1])
    bound = 0.5
    reader = BoardReader(name, stale_after=bound)
    assert reader.epoch == first_epoch
    assert reader.view("spot", "btc_usdt", 5).is_live
    os.kill(engine.pid, signal.SIGKILL)
    engine.wait(10)
    killed = time.monotonic()
    with pytest.raises(EngineDown) as caught:
        reader.wait("spot", "btc_usdt", timeout=5)  # blocked in a futex wait when it died
    assert time.monotonic() - killed < bound + 0.5
    assert isinstance(caught.value, BookDisconnected)  # the in-process family
    with pytest.raises(EngineDown, match="heartbeat"):
        reader.view("spot", "btc_usdt", 5)
    assert Path(layout.board_path(name)).exists()  # a crash leaves it: the next start reclaims
    restarted = _start("serve", name)
    cleanup.append(restarted)
    second_epoch = int(_wait_ready(restarted).split()[1])
    assert second_epoch != first_epoch
    view = reader.view("spot", "btc_usdt", 5)  # the same reader, reattached
    assert view.is_live and reader.epoch == second_epoch and reader.attachments == 2
    reader.close()


@needs_board
def test_a_readers_exit_never_removes_the_board_and_a_clean_stop_does(cleanup: list) -> None:
    """Reader processes come and go (one of them even imports multiprocessing's
    resource tracker): the board stays. ``wexbook serve`` stopped by SIGTERM exits 0 and
    leaves nothing in /dev/shm; by SIGINT, 130."""
    name = _name("life")
    cleanup.append(name)
    path = Path(layout.board_path(name))
    for sig, code in ((signal.SIGTERM, 0), (signal.SIGINT, 130)):
        serve = subprocess.Popen(
            [sys.executable, "-m", "feeds.apps.cli", "serve", "--board", name, "--no-faults",
             "--spot", "btc_usdt", "--futures", "--speed", "4"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        cleanup.append(serve)
        assert "serving board" in serve.stdout.readline()  # type: ignore[union-attr]
        script = (
            "import multiprocessing.resource_tracker, sys, time\n"
            "from feeds.board import BoardReader\n"
            f"r = BoardReader({name!r})\n"
            "deadline = time.monotonic() + 10\n"
            "while time.monotonic() < deadline:\n"
            "    try:\n"
            "        v = r.view('spot', 'btc_usdt', 3); break\n"
            "    except Exception:\n"
            "        time.sleep(0.05)\n"
            "print(v.update_id)\n"
        )
        for _ in range(2):
            done = subprocess.run(
                [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=30
            )
            assert done.returncode == 0, done.stderr[-2000:]
            assert path.exists()
        serve.send_signal(sig)
        assert serve.wait(20) == code, serve.stderr.read()[-2000:]  # type: ignore[union-attr]
        assert not path.exists()
        assert not list(Path(layout.SHM_DIR).glob(f"{layout.PREFIX}{name}*"))


def test_board_refuses_without_its_compiled_helper() -> None:
    """Under WEXBOOK_PURE=1 the board refuses, saying why: a reader, a writer, and
    ``wexbook serve`` (one line, exit 1)."""
    env = {**os.environ, "WEXBOOK_PURE": "1"}
    script = (
        "from feeds.board import BoardReader, BoardWriter, BoardUnavailable\n"
        "for make in (BoardWriter, BoardReader):\n"
        "    try:\n"
        "        make('x')\n"
        "    except BoardUnavailable as exc:\n"
        "        print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True
    )
    lines = done.stdout.splitlines()
    # Where the helper is built, WEXBOOK_PURE is the reason; where it is not, that is.
    built = importlib.util.find_spec("feeds.board._seqlock") is not None
    reason = "WEXBOOK_PURE" if built else "not built"
    assert len(lines) == 2 and all(reason in line for line in lines), done
    serve = subprocess.run(
        [sys.executable, "-m", "feeds.apps.cli", "serve", "--board", "x", "--seconds", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert serve.returncode == 1
    assert serve.stderr.count("\n") == 1 and reason in serve.stderr
