"""``wexbook import``: another recorder's Binance files as a wexbook capture.

Inputs are hftbacktest collector files (``.gz``, one per symbol per UTC day) and
cryptofeed raw recordings (their directory). The venue (spot, USD-M or coin-M futures)
and the symbols are read from the frames themselves; every symbol with depth frames
becomes a book. ``--venue`` and ``--symbol`` are checks: when they disagree with the
frames the import is refused with the reason. Nothing is written until the inputs have
been read through; segments are written under temporary names and renamed at the end,
and removed on any error or Ctrl-C. It prints what it imported: per book the events,
those applied and the gaps. Then ``wexbook replay OUT --verify``.

Exit codes: 0 imported; 1 a damaged recording (truncated or corrupt gzip, a garbled
line, with the file and line), a write error, or a book none of whose events applied;
2 bad usage (no such input, not a recording, options that disagree with the frames, an
output that already holds the segments); 130 Ctrl-C (nothing left written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from feeds.apps.args import positive_float

HELP = "import hftbacktest or cryptofeed recordings (Binance) as a capture"
DESCRIPTION = __doc__.split("\n\n", 1)[1].rsplit("\n\nExit codes", 1)[0]
PROG = "wexbook import"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``wexbook import``."""
    from feeds.capture.importers import VENUE_CHOICES

    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress display (it shows only on a terminal, on stderr)",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="INPUT",
        help="hftbacktest .gz files and cryptofeed recording directories",
    )
    p.add_argument(
        "-o", "--out", type=Path, required=True, help="capture directory to write (created)"
    )
    p.add_argument(
        "--venue",
        choices=list(VENUE_CHOICES),
        help="check that the frames are of this venue (futures: USD-M or coin-M); "
        "default: read from the frames",
    )
    p.add_argument(
        "--symbol",
        action="append",
        metavar="SYMBOL",
        help="check that the frames carry exactly these symbols (repeatable); "
        "default: read from the frames",
    )
    p.add_argument(
        "--checkpoint-interval",
        type=positive_float,
        default=1.0,
        help="seconds of receive time between checkpoints of every book",
    )


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return code


def run(args: argparse.Namespace) -> int:
    """The ``wexbook import`` command."""
    from feeds.apps.progress import stage_progress, wanted
    from feeds.capture.importers import RecordingError, import_recording

    try:
        with stage_progress("import", enabled=wanted(args.quiet)) as progress:
            report = import_recording(
                args.inputs,
                args.out,
                venue=args.venue,
                symbols=args.symbol,
                checkpoint_interval=args.checkpoint_interval,
                progress=progress,
            )
    except RecordingError as exc:
        return _fail(str(exc), 2 if exc.usage else 1)
    except KeyboardInterrupt:
        return _fail("interrupted: nothing written", 130)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        return _fail(f"cannot write{where}: {exc.strerror or exc}; nothing written", 1)
    print(report.summary())
    return 0 if report.ok else 1
