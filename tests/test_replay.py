"""``wexbook demo --offline``: faults are injected, healed, and books match ground truth."""

from __future__ import annotations

import subprocess
import sys

from feeds.apps.cli import main
from feeds.apps.offline import FaultRates, book_equals_truth, build_streams, run_demo
from orderbook import Decision


def test_demo_heals_every_fault_and_matches_ground_truth() -> None:
    rates = FaultRates(drop=0.01, duplicate=0.01, swap=0.01, malformed=0.005, old_snapshot=0.5)
    streams, _ = run_demo(1500, ["btc_usdt"], seed=11, rates=rates)
    for s in streams:
        assert s.faults["drop"] > 0 and s.faults["duplicate"] > 0, s.faults
        assert s.sync.counts[Decision.GAP] > 0
        assert s.sync.generation > 1
        assert s.comparisons > 100
        assert s.mismatches == 0


def test_comparison_detects_a_wrong_book() -> None:
    stream = build_streams(["btc_usdt"], seed=1)[0]
    stream.sync.on_snapshot(stream.snapshot(stream.flow.spot_snapshot_result(500)))
    book = stream.sync.live_book()
    assert book_equals_truth(book, stream.flow)
    price = next(iter(book.asks))
    book.apply([], [[str(price), "123.4"]])
    assert not book_equals_truth(book, stream.flow)


def test_cli_demo_exit_code_and_report(capsys) -> None:
    assert main(["demo", "--offline", "--frames", "300", "--symbols", "btc_usdt"]) == 0
    out = capsys.readouterr().out
    assert "mismatches: 0" in out
    assert "futures" in out and "spot" in out


def test_console_entry_point_runs() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "feeds.apps.cli",
            "demo",
            "--offline",
            "--frames",
            "50",
            "--no-faults",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "mismatches: 0" in proc.stdout
