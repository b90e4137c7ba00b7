"""``wexbook demo``: the simulator with faults, live books, 0 mismatches; and what it promises
around that: Ctrl-C prints the summary, --no-faults means none, 80 columns are enough, a run
that checked nothing fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from rich.console import Console

from feeds.apps.demo import run_demo


def wexbook(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feeds.apps.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


async def test_demo_heals_faults_with_zero_mismatches() -> None:
    console = Console(file=open("/dev/null", "w"))  # noqa: SIM115
    summary = await run_demo(
        4.0, ["btc_usdt", "eth_usdt"], ["btc_usdt"], seed=3, speed=2.0, console=console
    )
    assert summary["mismatches"] == 0
    assert summary["comparisons"] > 20
    assert summary["faults_injected"], "the demo injects faults"
    assert len(summary["subscribe_to_live_s"]) == 3  # every book went LIVE
    for name, book in summary["books"].items():
        assert book["comparisons"] > 0, name
        assert book["events"] > 0, name
        assert book["went_live"], name


async def test_no_faults_means_none_not_even_the_timed_ones() -> None:
    console = Console(file=open("/dev/null", "w"))  # noqa: SIM115
    summary = await run_demo(
        4.0, ["btc_usdt"], ["btc_usdt"], seed=3, speed=2.0, faults=False, console=console
    )
    assert summary["faults_injected"] == {}
    for name, book in summary["books"].items():
        assert book["gaps"] == 0 and book["resyncs"] == 0 and book["stalls"] == 0, name
    assert not any("disconnected" in key for key in summary["manager"]), summary["manager"]
    assert summary["mismatches"] == 0 and summary["comparisons"] > 0


def test_demo_command_at_80_columns_exits_0_and_prints_for_people() -> None:
    proc = wexbook(
        "demo", "--seconds", "3", "--spot", "btc_usdt", "--futures", "btc_usdt",
        env={"COLUMNS": "80"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "ground-truth comparisons:" in out and "mismatches: 0" in out
    assert max(len(line) for line in out.splitlines()) <= 80, out
    assert "…" not in out.split("book ")[0], "no cell of the table is cut"
    # Summaries for people: no Python dicts, no internal counter names.
    assert "{" not in out and "stalled_step" not in out and "'n'" not in out
    assert "time from subscribe to LIVE:  median" in out
    assert " s (2 books)" in out


def test_a_run_that_checked_nothing_fails() -> None:
    proc = wexbook("demo", "--seconds", "0.01", "--spot", "btc_usdt", "--futures")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "never went live" in proc.stderr or "nothing was checked" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_ctrl_c_or_sigterm_prints_the_summary(sig: signal.Signals, code: int) -> None:
    """Ctrl-C: the summary, exit 130; SIGTERM (a supervisor's stop): the summary, and the
    exit code the run earned, as at the end of ``--seconds``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "feeds.apps.cli", "demo", "--seconds", "60",
         "--spot", "btc_usdt", "--futures", "btc_usdt"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a test runner started in the background ignores SIGINT; the demo must not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once Ctrl-C is handled
        assert "Ctrl-C stops it and prints the summary" in first, first
        time.sleep(3)  # let the books go live and be compared
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "ground-truth comparisons:" in out, out[-2000:] + err[-2000:]
    if "comparisons: 0," in out:  # a very slow machine: nothing was compared yet
        assert proc.returncode == 1 and "nothing was checked" in err
    else:
        assert proc.returncode == code, out[-2000:] + err[-2000:]
        assert "mismatches: 0" in out
    assert "Traceback" not in err
