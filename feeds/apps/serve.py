"""``wexbook serve --board NAME``: the engine: keep live books and publish them to other
processes on this machine.

With no URL it serves the embedded simulator with the demo's faults on (dropped,
duplicated and malformed frames, a lagging snapshot, a stalled futures stream, a forced
disconnect), so ``wexbook serve --board desk`` in one terminal and ``wexbook board
desk`` in another is the whole tour. With ``--spot-ws`` / ``--futures-ws`` (and the
REST URLs) it serves those endpoints.

Every book's top ``--levels`` per side goes to the shared-memory board ``NAME``
(``/dev/shm/wexbook-board.NAME``), with its state and update id; strategies read it with
``feeds.board.BoardReader(NAME)``. The board lives while the engine runs: a clean stop
(``--seconds``, Ctrl-C, SIGTERM) removes it; the leftover of an engine killed with
``kill -9`` is reclaimed by the next ``wexbook serve`` of the same name.

Exit codes: 0 served and stopped (``--seconds``, SIGTERM); 1 the board could not be
created (a running engine serves that name, no compiled helper); 2 bad usage; 130
stopped by Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from feeds.apps.args import (
    Problem,
    UsageError,
    add_books,
    add_endpoints,
    add_engine,
    add_seconds,
    int_between,
    positive_float,
    run_async,
)
from feeds.apps.engine import open_engine
from feeds.board import BoardError, BoardWriter
from feeds.board.layout import check_name
from feeds.capture.format import public_url

HELP = "keep live books and publish them on a shared-memory board for other processes"
DESCRIPTION = __doc__.split("\n\n", 1)[1].rsplit("\n\nExit codes", 1)[0]
DEFAULT_SPOT = ("btc_usdt", "eth_usdt")
DEFAULT_FUTURES = ("btc_usdt",)


def board_name(text: str) -> str:
    """A board name (``argparse`` type)."""
    try:
        return check_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``wexbook serve`` (the one place they are declared)."""
    p.add_argument(
        "--board", type=board_name, metavar="NAME", help="the shared-memory board to publish"
    )
    p.add_argument(
        "--levels", type=int_between(1, 1000), default=20, help="levels per side on the board"
    )
    p.add_argument(
        "--slots", type=int_between(1, 65536), default=256, help="most books the board holds"
    )
    p.add_argument(
        "--heartbeat",
        type=positive_float,
        default=0.1,
        metavar="S",
        help="seconds between the engine's heartbeats (readers' bound: 1 s by default)",
    )
    p.add_argument(
        "--publish",
        metavar="URL",
        help="also publish every book to this broker (redis://HOST:PORT/DB or "
        "nats://HOST:PORT; feeds.broker)",
    )
    add_seconds(p)
    add_books(p, spot=DEFAULT_SPOT, futures=DEFAULT_FUTURES, what="books to serve")
    sim = p.add_argument_group("the embedded simulator (when no URL is given)")
    sim.add_argument("--no-faults", action="store_true", help="a clean simulator")
    sim.add_argument("--seed", type=int, default=7, help="seed of the order flow and faults")
    sim.add_argument("--speed", type=positive_float, default=1.0, help="simulator speed factor")
    add_endpoints(p, "serve", "real endpoints (default: the embedded simulator)")
    add_engine(p)


async def serve(args: argparse.Namespace, out: Any = sys.stdout) -> dict[str, Any]:
    """Serve as ``args`` say until ``--seconds``, SIGINT or SIGTERM; returns the stats and
    how it stopped (``"interrupted"``: True after SIGINT)."""
    stop = asyncio.Event()
    stopped_by: list[int] = []
    loop = asyncio.get_running_loop()

    def on_signal(sig: int) -> None:
        stopped_by.append(sig)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal, sig)
    writer = None
    if args.board is not None:
        try:
            writer = BoardWriter(
                args.board, levels=args.levels, slots=args.slots, heartbeat=args.heartbeat
            ).open()
        except (BoardError, OSError) as exc:
            raise Problem(str(exc)) from None
    async with contextlib.AsyncExitStack() as stack:
        if writer is not None:
            stack.callback(writer.close)  # after the manager closed its books
        engine = await open_engine(args, stack)
        manager, where = engine.manager, engine.where
        if writer is not None:
            writer.attach(manager)
        publisher = None
        if args.publish:
            from feeds.broker import BookPublisher

            publisher = await BookPublisher(args.publish).start(manager)
            stack.push_async_callback(publisher.close)
        count = len(engine.spot) + len(engine.futures)
        what = f"board {args.board} ({count} books, {args.levels} levels)" if writer else ""
        if args.publish:
            broker = f"the broker {public_url(args.publish)}"
            what = f"{what} and to {broker}" if what else f"{count} books to {broker}"
        print(
            f"serving {what} from {where}; "
            f"{'Ctrl-C to stop' if args.seconds is None else f'{args.seconds:g} s'}",
            file=out,
            flush=True,
        )
        try:
            await engine.run(stop, args.seconds, faults=not args.no_faults)
        finally:
            stats = manager.stats()
    return {
        "manager": stats,
        "board": None if writer is None else writer.stats(),
        "publisher": None if publisher is None else publisher.publisher_stats(),
        "interrupted": signal.SIGINT in stopped_by,
    }


def run(args: argparse.Namespace) -> int:
    """The ``wexbook serve`` command."""
    if (args.spot_ws and not args.spot_rest) or (args.futures_ws and not args.futures_rest):
        raise UsageError("a websocket URL needs its REST URL too (--spot-rest / --futures-rest)")
    if args.board is None and not args.publish:
        raise UsageError("nothing to serve to: give --board NAME, --publish URL, or both")
    if args.publish:
        from feeds.broker.backends import BrokerUnavailable, backend_kind

        try:
            backend_kind(args.publish)
        except BrokerUnavailable as exc:
            raise UsageError(f"--publish: {exc}") from None
    try:
        result = run_async(serve(args), args)
    except KeyboardInterrupt:
        return 130
    board = result["board"]
    if board is not None:
        print(f"board {args.board}: {board['published']} publishes, {board['books']} books; "
              "removed")  # fmt: skip
    publisher = result["publisher"]
    if publisher is not None:
        counts = ", ".join(f"{key} {value}" for key, value in publisher.items())
        print(f"published to {public_url(args.publish)}: {counts}")
    for name, book in result["manager"]["books"].items():
        print(f"  {name}: {book['state']} at {book['update_id']} (generation {book['generation']})")
    return 130 if result["interrupted"] else 0
