"""The ``wexbook`` command line: one table of subcommands.

Every subcommand is one row of :data:`COMMANDS`: its name, a one-line help, and two
functions of its module:

- ``add_arguments(parser)`` declares its options on its own ``argparse`` parser, each
  with a help text, and every check of a value done there (the ``type=`` functions of
  :mod:`feeds.apps.args`, ``choices``), so that bad usage is refused with one line and
  exit code 2 before anything runs; defaults are appended to the help texts;
- ``run(args) -> int`` does the work and returns the exit code. It may raise
  :class:`~feeds.apps.args.UsageError` (options that cannot go together, a port in use:
  one line, exit 2) or :class:`~feeds.apps.args.Problem` (the run found a problem:
  one line, exit 1).

Exit codes, the same for every subcommand: 0 success; 1 the run found a problem (a
mismatch, a book that never went live, a refused request, nothing checked); 2 bad
usage; 130 Ctrl-C (commands that print a summary print it first).

To add a subcommand ``wexbook record``: write ``feeds/apps/record.py`` with
``add_arguments`` and ``run`` (see :mod:`feeds.apps.watch`), import it here and add
one row (``description``, optional, is the text under ``wexbook record --help``)::

    Command("record", "record a capture of live books", record.add_arguments, record.run,
            description=record.DESCRIPTION),

Give every option a ``help=``; ``tests/test_cli.py`` checks that every subcommand's
options have one, and runs each command's bad-usage cases.

Today's rows: ``demo`` (:mod:`feeds.apps.demo`, and ``demo --offline``:
:mod:`feeds.apps.offline`), ``watch`` (:mod:`feeds.apps.watch`), ``record``
(:mod:`feeds.apps.record`), ``replay`` (:mod:`feeds.apps.replay`), ``import``
(:mod:`feeds.apps.importcmd`), ``sim`` and ``sim-fault`` (:mod:`feeds.apps.sim`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from feeds.apps import board, demo, importcmd, record, replay, serve, sim, subscribe, watch
from feeds.apps.args import HelpFormatter, Parser, Problem, UsageError

#: The exit codes of every subcommand (``wexbook --help`` prints this table).
EXIT_CODES = """\
exit codes (every command):
  0    success (record: also when stopped by Ctrl-C or SIGTERM, once all is written)
  1    the run found a problem (a mismatch, a book that never went live, nothing checked)
  2    bad usage (one line naming the option)
  130  interrupted by Ctrl-C (commands that print a summary print it first)
  141  the output pipe closed (e.g. `| head`)"""


@dataclass(frozen=True, slots=True)
class Command:
    """One ``wexbook`` subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None  #: the text under ``wexbook NAME --help`` (default: help)


COMMANDS: tuple[Command, ...] = (
    Command("demo", demo.HELP, demo.add_arguments, demo.run, demo.DESCRIPTION),
    Command("watch", watch.HELP, watch.add_arguments, watch.run, watch.DESCRIPTION),
    Command("sim", sim.HELP, sim.add_arguments, sim.run, sim.DESCRIPTION),
    Command("record", record.HELP, record.add_arguments, record.run, record.DESCRIPTION),
    Command("replay", replay.HELP, replay.add_arguments, replay.run, replay.DESCRIPTION),
    Command(
        "import", importcmd.HELP, importcmd.add_arguments, importcmd.run, importcmd.DESCRIPTION
    ),
    Command(
        "sim-fault", sim.FAULT_HELP, sim.add_fault_arguments, sim.run_fault, sim.FAULT_DESCRIPTION
    ),
    Command("serve", serve.HELP, serve.add_arguments, serve.run, serve.DESCRIPTION),
    Command("board", board.HELP, board.add_arguments, board.run, board.DESCRIPTION),
    Command(
        "subscribe", subscribe.HELP, subscribe.add_arguments, subscribe.run, subscribe.DESCRIPTION
    ),
)


def version_text() -> str:
    """``wexbook X.Y.Z (orderbook: ...)``: the version, and which hot path is active."""
    from importlib.metadata import PackageNotFoundError, version

    from orderbook import accel

    try:
        number = version("wexbook")
    except PackageNotFoundError:  # run from a checkout without installing
        number = "unknown"
    from feeds.capture.replay import frame_loop

    return f"wexbook {number} ({accel.describe()}; replay frame loop: {frame_loop()})"


def build_parser() -> argparse.ArgumentParser:
    """The full ``wexbook`` argument parser."""
    parser = Parser(
        prog="wexbook",
        description="Exact local order books for the WEX exchange, and its embedded simulator.",
        epilog="`wexbook COMMAND --help` tells more.\n\n" + EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=version_text(),
        help="print wexbook's version and which hot path runs (compiled or pure Python)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        p = sub.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            formatter_class=HelpFormatter,
        )
        command.add_arguments(p)
        p.set_defaults(run=command.run, parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wexbook`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except UsageError as exc:
        args.parser.error(str(exc))  # one line, exit code 2
    except Problem as exc:
        print(f"{args.parser.prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `wexbook replay cap/ --audit | head`: the reader left
        # Python flushes stdout again at exit; point it at /dev/null so that is quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by the pipe


if __name__ == "__main__":
    sys.exit(main())
