"""The accelerator switch: which hot path runs, how to turn it off, and what says so."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from orderbook import OrderBook, accel


def run(code: str, **env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_wexbook_pure_disables_the_accelerator_in_a_new_process() -> None:
    code = "import orderbook, orderbook.accel as a; print(orderbook.ACCELERATED, a.active())"
    assert run(code, WEXBOOK_PURE="1") == "False python"
    if accel.AVAILABLE:
        assert run(code, WEXBOOK_PURE="") == "True compiled"
        assert run(code, WEXBOOK_PURE="0") == "True compiled"


def test_version_says_which_path_runs() -> None:
    cmd = [sys.executable, "-m", "feeds.apps.cli", "--version"]
    pure = subprocess.run(cmd, env={**os.environ, "WEXBOOK_PURE": "1"}, capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    assert pure.startswith("wexbook ") and "(orderbook: pure Python (accelerator" in pure
    if accel.AVAILABLE:
        default = subprocess.run(cmd, env={**os.environ, "WEXBOOK_PURE": ""},
                                 capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert "compiled accelerator (Cython)" in default


@pytest.mark.skipif(not accel.AVAILABLE, reason=f"compiled accelerator {accel.UNAVAILABLE}")
def test_path_switches_every_hot_method_and_restores() -> None:
    before = accel.active()
    with accel.path(False):
        assert accel.active() == "python"
        assert OrderBook.apply is accel.REFERENCE_APPLY
        assert OrderBook.best_bid is accel.REFERENCE_READS["best_bid"]
    with accel.path(True):
        assert accel.active() == "compiled"
        assert OrderBook.apply is not accel.REFERENCE_APPLY
        assert all(getattr(OrderBook, n) is not f for n, f in accel.REFERENCE_READS.items())
    assert accel.active() == before


def test_asking_for_a_missing_accelerator_is_a_clear_error() -> None:
    if accel.AVAILABLE:
        code = ("import orderbook.accel as a; a._speedups = None; a.UNAVAILABLE = 'not built (x)'\n"
                "try:\n    a.use(True)\nexcept RuntimeError as e:\n    print(e)")  # fmt: skip
        assert run(code) == "the compiled accelerator is not built (x)"
    else:
        with pytest.raises(RuntimeError, match="compiled accelerator is"):
            accel.use(True)
