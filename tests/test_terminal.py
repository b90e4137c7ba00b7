"""``wexbook demo`` on a real 80-column terminal (a pseudo-terminal): the live table keeps
its place, log records stay one line each and repeated ones are summarised; prices
print with the symbol's decimals."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from decimal import Decimal

import pytest

from feeds.apps.dashboard import BookRow, RateMeter, render

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")
LOG_LINE = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3} )?(INFO|WARNING|ERROR) ")


def run_on_terminal(argv: list[str], columns: int, rows: int, timeout: float) -> str:
    """Run ``argv`` with a pseudo-terminal of ``columns`` x ``rows`` as its stdio."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
    assert proc.returncode == 0, b"".join(chunks)[-2000:]
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_demo_at_80_columns_keeps_one_line_per_log_record() -> None:
    text = run_on_terminal(
        [sys.executable, "-m", "feeds.apps.cli", "demo", "--seconds", "8"], 80, 30, 60
    )
    lines = [ANSI.sub("", line) for line in re.split(r"\r\n|\n|\r", text)]
    logs = [line for line in lines if LOG_LINE.match(line)]
    assert logs, "the demo's faults log state changes"
    too_long = [line for line in logs if len(line) > 80]
    assert not too_long, too_long[:3]
    # A lagging snapshot source repeats "resync while resyncing" every 0.1 s: summarised.
    repeats = [line for line in logs if "resync while" in line]
    assert len(repeats) <= 6, repeats
    # The table was drawn, and its rows fit too.
    rows = [line for line in lines if line.strip().startswith(("spot ", "futures "))]
    assert rows and all(len(line) <= 80 for line in rows)


def test_prices_print_with_the_symbols_decimals() -> None:
    meter = RateMeter()
    key = ("futures", "btc_usdt")
    assert meter.places(key, Decimal("30000.01"), Decimal("30000.02")) == 2
    assert meter.places(key, Decimal("30000"), Decimal("30000.1")) == 2  # never fewer
    row = BookRow(
        venue="futures", symbol="btc_usdt", state="live",
        best_bid=Decimal("30000"), best_ask=Decimal("30000.1"), spread=Decimal("0.1"),
        update_id=7, gaps=0, resyncs=0, msgs_per_s=1.0, quiet_s=0.1, reason=None,
        places=meter.places(key),
    )  # fmt: skip
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(render([row], "t", 120))
    out = console.export_text()
    assert "30000.00" in out and "30000.10" in out and " 0.10" in out
