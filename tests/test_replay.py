"""``wexbook demo --offline``: faults are injected, healed, and books match ground truth."""

from __future__ import annotations

import subprocess
import sys

from feeds.apps.cli import main
from feeds.apps.offline import FaultRates, book_equals_truth, build_streams, run_demo
from orderbook import Decision


def test_demo_heals_every_fault_and_matches_ground_truth() -> None:
    rates = FaultRates(drop=0.01, duplicate=0.01, swap=0.01, malformed=0.005, old_snapshot=0.5)
    run = run_demo(1500, ["btc_usdt"], ["btc_usdt"], seed=11, rates=rates)
    assert not run.interrupted
    for s in run.streams:
        assert s.faults["drop"] > 0 and s.faults["duplicate"] > 0, s.faults
        assert s.sync.counts[Decision.GAP] > 0
        assert s.sync.generation > 1
        assert s.comparisons > 100
        assert s.mismatches == 0


def test_comparison_detects_a_wrong_book() -> None:
    stream = build_streams(["btc_usdt"], [], seed=1)[0]
    stream.sync.on_snapshot(stream.snapshot(stream.flow.spot_snapshot_result(500)))
    book = stream.sync.live_book()
    assert book_equals_truth(book, stream.flow)
    price = next(iter(book.asks))
    book.apply([], [[str(price), "123.4"]])
    assert not book_equals_truth(book, stream.flow)


def test_cli_demo_exit_code_and_report(capsys) -> None:
    argv = ["demo", "--offline", "--frames", "300", "--spot", "btc_usdt", "--futures", "eth_usdt"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mismatches: 0" in out
    assert "spot btc_usdt" in out and "futures eth_usdt" in out
    assert "futures btc_usdt" not in out, "--spot and --futures choose the books offline too"
    assert max(len(line) for line in out.splitlines()) <= 80, out


def test_an_offline_run_that_compared_nothing_fails(capsys) -> None:
    # One frame: the snapshot is still in flight, so no book can be compared.
    assert main(["demo", "--offline", "--frames", "1", "--spot", "btc_usdt", "--futures"]) == 1
    assert "nothing was checked" in capsys.readouterr().err


def test_console_entry_point_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "feeds.apps.cli", "demo", "--offline", "--frames", "50",
         "--no-faults"],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "mismatches: 0" in proc.stdout
