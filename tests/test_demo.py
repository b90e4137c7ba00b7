"""``wexbook demo``: the simulator with faults, live books, 0 mismatches."""

from __future__ import annotations

import subprocess
import sys

from rich.console import Console

from feeds.apps.demo import run_demo


async def test_demo_heals_faults_with_zero_mismatches() -> None:
    console = Console(file=open("/dev/null", "w"))  # noqa: SIM115
    summary = await run_demo(
        4.0, ["btc_usdt", "eth_usdt"], ["btc_usdt"], seed=3, speed=2.0, console=console
    )
    assert summary["mismatches"] == 0
    assert summary["comparisons"] > 20
    assert summary["faults_injected"], "the demo injects faults"
    assert summary["subscribe_to_live_s"]["n"] == 3  # every book went LIVE
    for name, book in summary["books"].items():
        assert book["comparisons"] > 0, name
        assert book["events"] > 0, name


def test_demo_command_exits_0_with_zero_mismatches() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "feeds.apps.cli",
            "demo",
            "--seconds",
            "3",
            "--spot",
            "btc_usdt",
            "--futures",
            "btc_usdt",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "mismatches: 0" in proc.stdout
