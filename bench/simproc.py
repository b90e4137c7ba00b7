"""The simulator in its own process, for benchmarks that must not count its CPU.

proc, urls = start_simulator(speed=40, names=["s0_usdt", "s1_usdt"], seconds=60)
...  # urls["spot websocket"], urls["spot REST"], urls["futures websocket"], ...
proc.terminate()
"""

from __future__ import annotations

import subprocess
import sys


def start_simulator(
    speed: float, names: list[str], seconds: float, *, xt_compat: bool = False
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start ``wexbook sim`` serving ``names`` on both venues for ``seconds``
    (``xt_compat``: with ``--xt-compat``, for XT clients such as ccxt.pro).

    Returns the process and the four URLs it printed (``"spot websocket"``,
    ``"spot REST"``, ``"futures websocket"``, ``"futures REST"``). Raises
    ``RuntimeError`` if it exits before printing them.
    """
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "feeds.apps.cli",
            "sim",
            "--speed",
            str(speed),
            "--spot",
            *names,
            "--futures",
            *names,
            "--seconds",
            str(seconds),
            *(["--xt-compat"] if xt_compat else []),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    urls: dict[str, str] = {}
    assert proc.stdout is not None
    while len(urls) < 4:
        line = proc.stdout.readline()
        if not line:
            proc.wait()
            raise RuntimeError("simulator exited early")
        key, _, url = line.rpartition(" ")
        if url.strip().startswith(("ws://", "http://")):
            urls[key.strip()] = url.strip()
    return proc, urls
