"""``wexbook subscribe URL``: books published to a broker, rebuilt here, in the live table.

    wexbook subscribe redis://127.0.0.1:6379/0 --spot btc_usdt --futures eth_usdt --seconds 30
    wexbook subscribe nats://127.0.0.1:4222 --spot btc_usdt
    wexbook subscribe redis://127.0.0.1:6379/0 --spot btc_usdt --record cap/   # then:
    wexbook replay cap/ --verify

A :class:`~feeds.broker.BookSubscriber` rebuilds each book from the broker's streams (a
publisher: :class:`~feeds.broker.BookPublisher`); the table is ``wexbook watch``'s (state,
best bid/ask, spread, update id, gaps and resyncs as this subscriber counted them,
messages/s, seconds since the last message, why a book is not LIVE). On exit the
subscriber's counters are printed as JSON.

With ``--record DIR`` the subscriber's stream is also recorded there in the capture format
(:class:`~feeds.broker.record.SubscriberRecorder`: its deltas as ``depth_update`` frames,
its fresh snapshots as REST snapshot records, its breaks as the owner's actions, and
checkpoints of the books it holds), which ``wexbook replay DIR --verify`` replays and
verifies like a websocket capture; the capture options are ``wexbook record``'s, and the
recorder's counters join the JSON (``"recorder"``, ``"segments"``).

Exit codes: 0 every book went LIVE and was LIVE at the end; 1 a book never went LIVE or
ended not LIVE, or the capture could not be written; 2 bad usage (a record directory
that cannot be made too) (a URL that is not ``redis://`` or ``nats://``..., a prefix
the broker cannot name, the broker extra not installed); 130 after Ctrl-C when all went
LIVE.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from feeds.apps.args import (
    UsageError,
    add_books,
    add_capture,
    add_seconds,
    capture_given,
    capture_options,
    run_async,
)
from feeds.apps.console import StopOnCtrlC, after_live, log_to_stderr
from feeds.apps.dashboard import BookRow, render
from feeds.broker.backends import BrokerUnavailable, read_backend
from feeds.broker.schema import DEFAULT_PREFIX

HELP = "books from a broker (Redis Streams, NATS JetStream), rebuilt here, in the live table"
DESCRIPTION = """\
Subscribe to books a `BookPublisher` writes to a broker (redis://HOST:PORT/DB or
nats://HOST:PORT), rebuild
them exactly here, and show them in a table until --seconds pass or Ctrl-C, then print
the subscriber's counters as JSON. --record DIR also records the stream as a capture
(`wexbook replay DIR --verify` replays and verifies it).
exit codes: 0 every book went live and was live at the end; 1 a book never went live or
ended not live, or the capture could not be written; 2 bad usage; 130 Ctrl-C (after the
counters)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``wexbook subscribe``."""
    p.add_argument(
        "url",
        metavar="URL",
        help="the broker, e.g. redis://127.0.0.1:6379/0 or nats://127.0.0.1:4222",
    )
    add_books(p, what="books to subscribe to, e.g. btc_usdt")
    add_seconds(p)
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help="the publisher's stream prefix")
    p.add_argument(
        "--max-silence",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds without a message from the publisher after which a book is not live",
    )
    cap = p.add_argument_group("capture (with --record; the options of wexbook record)")
    cap.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="also record the subscribed stream to this capture directory",
    )
    add_capture(cap)


def rows_of(sub: Any, meter: dict[tuple[str, str], tuple[float, int]]) -> list[BookRow]:
    """The table's rows for every book of ``sub`` (``meter``: message counts per book)."""
    now = time.monotonic()
    rows = []
    for (venue, symbol), held in sub.books.items():
        status = sub.status(venue, symbol)
        view = sub.view(venue, symbol, 1, allow_stale=True)
        bid, ask = view.best_bid(), view.best_ask()
        counts = held.counts
        messages = counts["deltas"] + counts["snapshots"] + counts["status"] + counts["heartbeats"]
        then, before = meter.get((venue, symbol), (now, messages))
        rate = (messages - before) / (now - then) if now > then else 0.0
        meter[venue, symbol] = (now, messages)
        heard = held.last_heard
        rows.append(
            BookRow(
                venue=venue,
                symbol=symbol,
                state=status.state.value,
                best_bid=bid.price if bid else None,
                best_ask=ask.price if ask else None,
                spread=view.spread(),
                update_id=view.update_id,
                gaps=counts["gap"] + counts["chain"],
                resyncs=counts["resyncs"],
                msgs_per_s=rate,
                quiet_s=None if heard is None else now - heard,
                reason=status.reason,
            )
        )
    return rows


async def _main(args: argparse.Namespace, console: Console) -> tuple[dict[str, Any], list[str]]:
    from feeds.broker import BookSubscriber

    books = [f"spot:{s}" for s in args.spot or []] + [f"futures:{s}" for s in args.futures or []]
    sub = BookSubscriber(args.url, books, prefix=args.prefix, max_silence=args.max_silence)
    went_live: set[tuple[str, str]] = set()
    meter: dict[tuple[str, str], tuple[float, int]] = {}
    loop = asyncio.get_running_loop()
    end = None if args.seconds is None else loop.time() + args.seconds
    with StopOnCtrlC() as stop, log_to_stderr():
        async with sub:
            recorder = None
            if args.record is not None:
                from feeds.broker.record import SubscriberRecorder

                recorder = SubscriberRecorder(
                    args.record,
                    **capture_options(args),
                ).attach(sub)
            try:
                with Live(console=console, auto_refresh=False, transient=False) as live:
                    while end is None or loop.time() < end:
                        rows = rows_of(sub, meter)
                        went_live |= {(r.venue, r.symbol) for r in rows if r.state == "live"}
                        table = render(rows, "wexbook subscribe", console.width)
                        live.update(table, refresh=True)
                        wait = 0.5 if end is None else min(0.5, max(0.0, end - loop.time()))
                        if await stop.wait(wait):
                            break
            finally:
                if recorder is not None:
                    # Closed before the subscriber: its last checkpoints are of the books held.
                    await recorder.aclose()
            found = []
            for venue, symbol in sub.books:
                status = sub.status(venue, symbol)
                if (venue, symbol) not in went_live:
                    found.append(f"{venue} {symbol} never went live: {status.reason}")
                elif not status.is_live:
                    found.append(
                        f"{venue} {symbol} ended not live ({status.state.value}): {status.reason}"
                    )
            result = sub.stats()
            if recorder is not None:
                result["recorder"] = dict(recorder.stats)
                result["segments"] = [str(path) for path in recorder.segments]
                if recorder.stats["write_errors"]:
                    found.append(
                        f"the capture could not be written to {args.record} "
                        f"({recorder.stats['write_errors']} write error(s))"
                    )
    args.interrupted = stop.interrupted
    return result, found


def run(args: argparse.Namespace) -> int:
    """The ``wexbook subscribe`` command."""
    if not args.spot and not args.futures:
        raise UsageError("no symbols: give --spot and/or --futures symbols, e.g. --spot btc_usdt")
    if args.record is None and (given := capture_given(args)):
        raise UsageError(f"{', '.join(given)} without --record: give --record DIR too")
    try:
        read_backend(args.url, args.prefix)  # the URL's scheme, its client, the prefix
    except (BrokerUnavailable, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if args.record is not None:
        try:
            args.record.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create {args.record}: {exc.strerror}") from None
    console = Console()
    result, found = run_async(_main(args, console), args)
    after_live(console)
    if not console.is_terminal:
        print()
    print(json.dumps(result, indent=2), flush=True)
    for sentence in found:
        print(f"wexbook subscribe: {sentence}", file=sys.stderr)
    if found:
        return 1
    return 130 if args.interrupted else 0
