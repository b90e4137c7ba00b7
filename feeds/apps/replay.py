"""``wexbook replay``: replay a capture through the engine, verify it, audit it, draw it.

Every frame goes through the same parse -> sequence -> book path as live. With
``--verify`` every recorded checkpoint (update id, generation, counters, hash of the
top levels) and every recorded decision is compared with the replayed books, and the
first mismatch is printed with its position. It prints what it replayed: books,
frames, checkpoints matched, gaps and resyncs seen, and any unreadable tail (a capture
cut by ``kill -9``: reported, never fatal). ``--audit`` lists every gap, stall and
disconnect with its times; ``--plot out.png`` draws one book (matplotlib);
``--parquet out.parquet`` writes sampled top levels (pyarrow).

Times (``--start``/``--stop``) are ISO 8601 UTC (``2026-12-02T14:00:00Z``) or seconds
from the capture's start (``+30``); with ``--exchange-time`` they are compared with the
events' exchange time instead of the local receive time.

A replay fails (exit 1) on what it could not check, and says it on ``unchecked:``
lines: no book or no checkpoint, depth events of no book, a book that never applied an
event, a missing segment, a record it cannot use (``bad record:``, with its segment and
number), unreadable data (a truncated tail of a run's last segment, what ``kill -9``
leaves, is only a warning), a window that holds nothing of the capture. The summary
says the window applied. An empty or inverted window is bad usage.

Exit codes: 0 replayed (and verified, with ``--verify``); 1 a mismatch, something that
could not be checked, or nothing to replay; 2 bad usage (no such path, not a capture,
a bad option, an empty window).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from pathlib import Path
from typing import Any

from feeds.apps.args import int_between, positive_float

HELP = "replay a capture through the engine (--verify: prove it rebuilt the same books)"
DESCRIPTION = __doc__.split("\n\n", 1)[1].rsplit("\n\nExit codes", 1)[0]


def _time(value: str) -> tuple[str, float]:
    """``("rel", seconds)`` for ``+S``, ``("abs", epoch seconds)`` for ISO 8601."""
    if value.startswith("+"):
        try:
            seconds = float(value[1:])
        except ValueError:
            raise argparse.ArgumentTypeError(f"not +SECONDS: {value!r}") from None
        if not math.isfinite(seconds) or seconds < 0:
            raise argparse.ArgumentTypeError(
                f"+SECONDS must be a finite number >= 0 from the capture's start, not {value!r}"
            )
        return "rel", seconds
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time (2026-12-02T14:00:00Z) or +SECONDS: {value!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return "abs", when.timestamp()


def _book(value: str) -> str:
    venue, sep, symbol = value.partition(":")
    if not sep or venue not in ("spot", "futures") or not symbol:
        raise argparse.ArgumentTypeError(f"a book is spot:SYMBOL or futures:SYMBOL, not {value!r}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``wexbook replay``."""
    p.add_argument("capture", nargs="+", help="capture directories, segment files or globs")
    p.add_argument(
        "--verify",
        action="store_true",
        help="compare every checkpoint and decision; exit 1 on any mismatch",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress display (it shows only on a terminal, on stderr)",
    )
    p.add_argument(
        "--book",
        type=_book,
        action="append",
        metavar="VENUE:SYMBOL",
        help="replay only this book (repeatable; default: all)",
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=positive_float, help="pace by receive times, N times faster")
    pace.add_argument("--realtime", action="store_true", help="pace by receive times (x1)")
    p.add_argument("--start", type=_time, help="first time of interest (ISO 8601 or +SECONDS)")
    p.add_argument("--stop", type=_time, help="last time of interest (ISO 8601 or +SECONDS)")
    p.add_argument(
        "--exchange-time",
        action="store_true",
        help="--start/--stop are exchange times of the events (not receive times)",
    )
    p.add_argument("--audit", action="store_true", help="print every gap, stall and disconnect")
    p.add_argument(
        "--plot",
        type=Path,
        metavar="OUT.png",
        help="draw one book (the first, or --book): mid, spread, depth, not-live",
    )
    p.add_argument(
        "--parquet",
        type=Path,
        metavar="OUT.parquet",
        help="write the sampled top levels of every book (needs pyarrow)",
    )
    p.add_argument(
        "--every-ms",
        type=positive_float,
        default=100.0,
        help="sampling period of --plot and --parquet (default: 100 ms)",
    )
    p.add_argument(
        "--levels",
        type=int_between(1, 500),
        default=10,
        metavar="N",
        help="levels per side sampled by --plot and --parquet (default: 10)",
    )
    p.add_argument(
        "--check-ticker",
        action="store_true",
        help="compare every LIVE book's best bid/ask with the exchange's bookTicker frames "
        "(Binance captures); exit 1 if they disagree or could not be compared",
    )


def _fail(message: str, code: int) -> int:
    print(f"wexbook replay: error: {message}", file=sys.stderr)
    return code


def _resolve(spec: tuple[str, float] | None, base_ns: int | None, exchange: bool) -> int | None:
    if spec is None:
        return None
    kind, value = spec
    if kind == "abs":
        return int(value * 1000) if exchange else int(value * 1e9)
    if exchange:
        raise ValueError("with --exchange-time, give --start/--stop as ISO 8601 times")
    if base_ns is None:
        raise ValueError(
            "+SECONDS counts from the capture's start, and no first record could be read: "
            "give ISO 8601 times"
        )
    return base_ns + int(value * 1e9)


def _start_of(runs: Any) -> int | None:
    """The receive time of the capture's first record (the earliest run's)."""
    from feeds.capture import SegmentReader

    times = []
    for run in runs:
        first = next(iter(SegmentReader(run.segments[0])), None)
        if first is not None:
            times.append(first[1])
    return min(times) if times else None


def _options(args: argparse.Namespace, runs: Any) -> dict[str, Any]:
    """The replay's options from the command line (ValueError: bad usage)."""
    from feeds.capture.replay import Replayer

    options: dict[str, Any] = {"verify": args.verify, "symbols": args.book}
    if args.realtime or args.speed:
        options["speed"] = 1.0 if args.realtime else args.speed
    relative = any(t is not None and t[0] == "rel" for t in (args.start, args.stop))
    base = _start_of(runs) if relative else None
    start = _resolve(args.start, base, args.exchange_time)
    stop = _resolve(args.stop, base, args.exchange_time)
    if args.exchange_time:
        if start is None and stop is None:
            raise ValueError("--exchange-time applies to --start/--stop: give one of them")
        options["start_exchange_ms"], options["stop_exchange_ms"] = start, stop
    else:
        options["start_ns"], options["stop_ns"] = start, stop
    Replayer(**options)  # refuses an empty or inverted window before anything is read
    return options


def run(args: argparse.Namespace) -> int:
    """The ``wexbook replay`` command."""
    from feeds.apps.progress import replay_progress, wanted
    from feeds.capture import CaptureError, open_capture
    from feeds.capture.replay import Replayer, note_unlisted

    unlisted: list[Any] = []  # folders that cannot be listed: said, and a failure
    try:
        runs = open_capture(args.capture, problems=unlisted)
        options = _options(args, runs)
    except (CaptureError, ValueError) as exc:
        return _fail(str(exc), 2)
    if args.plot or args.parquet:
        if args.check_ticker:
            return _fail("--check-ticker goes without --plot/--parquet", 2)
        return _research(args, runs, options, unlisted)
    replayer = Replayer(**options)
    segments = [path for run in runs for path in run.segments]
    try:
        with replay_progress(replayer, segments, enabled=wanted(args.quiet)):
            report = replayer.run(runs)
    except KeyboardInterrupt:  # Ctrl-C: what was replayed so far, then exit 130
        print(replayer.report.summary())
        print("wexbook replay: interrupted", file=sys.stderr)
        return 130
    except CaptureError as exc:  # the capture cannot be read on (a format it does not know)
        print(replayer.report.summary())
        return _fail(str(exc), 1)
    note_unlisted(report, unlisted)
    print(report.summary())
    if args.audit:
        print(_audit_text(report))
    tickers_ok = _check_ticker(runs, options) if args.check_ticker else True
    missing = _missing(args.book, report.books)
    if missing:
        return _fail(f"no book {missing} in the capture", 2)
    if not report.ok:
        what = "mismatch" if report.mismatch_count else "could not check everything"
        return _fail(f"{what}: see above", 1)
    if not tickers_ok:
        return _fail("best bid/ask and bookTicker disagree, or could not be compared: see above", 1)
    return 0


def _check_ticker(runs: Any, options: dict[str, Any]) -> bool:
    """``--check-ticker``: a second pass, :func:`feeds.capture.tickers.check_tickers`."""
    from feeds.capture.tickers import check_tickers

    window = {k: v for k, v in options.items() if k not in ("verify", "speed")}
    report = check_tickers(runs, **window)
    print(report.summary())
    return report.ok


def _missing(wanted: list[str] | None, found: Any) -> str | None:
    have = {f"{v}:{s}" for v, s in found}
    return next((b for b in wanted or () if b not in have), None)


def _audit_text(report: Any) -> str:
    from feeds.capture.research import gap_table_text

    return gap_table_text(report.gaps)


def _research(
    args: argparse.Namespace, runs: Any, options: dict[str, Any], unlisted: list[Any]
) -> int:
    from feeds.capture.replay import note_unlisted
    from feeds.capture.research import MissingExtra, require_output, sample_books

    # What would fail after the replay fails before it: a missing extra, a missing folder.
    try:
        if args.parquet:
            require_output("parquet")
        if args.plot:
            require_output("plot")
    except MissingExtra as exc:
        return _fail(str(exc), 2)
    for out in (args.parquet, args.plot):
        if out and not Path(out).resolve().parent.is_dir():
            return _fail(f"cannot write {out}: no such directory {Path(out).parent}", 2)
    from feeds.capture import CaptureError

    try:
        samples, report = sample_books(runs, every_ms=args.every_ms, levels=args.levels, **options)
    except MissingExtra as exc:
        return _fail(str(exc), 2)
    except CaptureError as exc:
        return _fail(str(exc), 1)
    note_unlisted(report, unlisted)
    print(report.summary())
    if args.audit:
        print(_audit_text(report))
    missing = _missing(args.book, samples)
    if missing:
        return _fail(f"no book {missing} in the capture", 2)
    if not samples:
        return _fail("no book in the capture to sample", 1)
    try:
        if args.parquet:
            from feeds.capture.research import to_parquet

            to_parquet(samples, args.parquet)
            print(f"wrote {args.parquet} ({sum(len(s.time_ns) for s in samples.values())} rows)")
        if args.plot:
            from feeds.capture.research import plot_book

            key = next(iter(samples)) if not args.book else tuple(args.book[0].split(":", 1))
            if key not in samples:
                return _fail(f"no book {key[0]}:{key[1]} in the capture", 2)
            plot_book(samples[key], report.gaps, args.plot)  # type: ignore[index]
            print(f"wrote {args.plot}")
    except MissingExtra as exc:
        return _fail(str(exc), 2)
    except OSError as exc:
        return _fail(f"cannot write: {exc}", 2)
    return 0 if report.ok else 1
