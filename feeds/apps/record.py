"""``wexbook record``: record live books to a capture directory.

With no URL it records the embedded simulator with the demo's faults on (dropped,
duplicated, reordered and malformed frames, a lagging snapshot, a 429, a stalled
futures stream, a forced disconnect), so ``wexbook record --seconds 20 --out cap/``
then ``wexbook replay cap/ --verify`` is the whole tour. With ``--spot-ws`` /
``--futures-ws`` (and the REST URLs) it records those endpoints.

It stops after ``--seconds``, on Ctrl-C or on SIGTERM (a clean stop: the last flush and
an ``end`` record), and prints what the live books saw (gaps, resyncs), which a replay
of the capture must show again. Killed with ``kill -9``, it loses at most the last
``--flush-interval``; every segment still reads back.

Exit codes: 0 recorded (Ctrl-C and SIGTERM are how a recording is meant to end: exit 0
once everything is written); 1 nothing was recorded (no frame) or the capture could not
be written; 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

from feeds.apps.args import (
    add_books,
    add_capture,
    add_endpoints,
    add_engine,
    add_seconds,
    capture_options,
    positive_float,
    run_async,
)
from feeds.apps.engine import open_engine
from feeds.capture import Recorder
from feeds.metrics import cli as metrics_cli

HELP = "record live books (the simulator with faults, by default) to a capture"
DESCRIPTION = __doc__.split("\n\n", 1)[1].rsplit("\n\nExit codes", 1)[0]
DEFAULT_SPOT = ("btc_usdt", "eth_usdt")
DEFAULT_FUTURES = ("btc_usdt",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``wexbook record``."""
    p.add_argument("--out", type=Path, default=Path("capture"), help="capture directory")
    add_seconds(p)
    add_books(p, spot=DEFAULT_SPOT, futures=DEFAULT_FUTURES, what="books to record")
    sim = p.add_argument_group("the embedded simulator (when no URL is given)")
    sim.add_argument("--no-faults", action="store_true", help="a clean simulator")
    sim.add_argument("--seed", type=int, default=7, help="seed of the order flow and faults")
    sim.add_argument("--speed", type=positive_float, default=1.0, help="simulator speed factor")
    add_endpoints(p, "record", "real endpoints (default: the embedded simulator)")
    add_engine(p)
    metrics_cli.add_arguments(p)
    cap = p.add_argument_group("capture")
    add_capture(cap)


async def record(args: argparse.Namespace, out: Any = sys.stdout) -> dict[str, Any]:
    """Record as ``args`` say; returns the manager's and recorder's stats."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        engine = await open_engine(args, stack)
        manager, where = engine.manager, engine.where
        await stack.enter_async_context(metrics_cli.monitoring(args, manager, "wexbook record"))
        recorder = Recorder(
            args.out,
            **capture_options(args),
        )
        recorder.attach(manager)
        try:
            print(
                f"recording {where} to {args.out}/ (run {recorder.run}); "
                f"{'Ctrl-C to stop' if args.seconds is None else f'{args.seconds:g} s'}",
                file=out,
                flush=True,
            )
            await engine.run(stop, args.seconds, faults=not args.no_faults)
        finally:
            # Closed on the loop, and the books read at once: the summary is the books as
            # of the capture's last checkpoint, which a replay of it must show again.
            recorder.close()
            live = manager.stats()
        return {
            "manager": live,
            "recorder": dict(recorder.stats),
            "segments": [str(p) for p in recorder.segments],
        }


def run(args: argparse.Namespace) -> int:
    """The ``wexbook record`` command."""
    if (args.spot_ws and not args.spot_rest) or (args.futures_ws and not args.futures_rest):
        print(
            "wexbook record: error: a websocket URL needs its REST URL too "
            "(--spot-rest / --futures-rest)",
            file=sys.stderr,
        )
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"wexbook record: error: cannot create {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        stats = run_async(record(args), args)
    except KeyboardInterrupt:
        return 130
    rec = stats["recorder"]
    print(
        f"recorded {rec['frames']} frames, {rec['checkpoints']} checkpoints, "
        f"{rec['bytes_out'] / 1e6:.2f} MB in {rec['segments']} segment(s) "
        f"({rec['bytes_out'] / max(rec['bytes_in'], 1):.1%} of the frames' bytes)"
    )
    for name, book in stats["manager"]["books"].items():
        print(
            f"  {name}: {book['state']} at {book['update_id']} (generation "
            f"{book['generation']}), gaps {book.get('gap', 0)}, resyncs "
            f"{max(0, book.get('snapshot-accepted', 0) - 1)}, applied {book.get('applied', 0)}"
        )
    if rec["write_errors"]:
        print(f"capture write errors: {rec['write_errors']}", file=sys.stderr)
        return 1
    return 0 if rec["frames"] else 1
