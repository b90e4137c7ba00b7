"""The ``wexbook`` command line: one table of subcommands.

Every subcommand is one row of :data:`COMMANDS`: its name, a one-line help, and two
functions of its module:

- ``add_arguments(parser)`` declares its options on its own ``argparse`` parser, with
  every check of a value done there (``type=`` functions, ``choices``), so that bad
  usage is refused by argparse with exit code 2 before anything runs;
- ``run(args) -> int`` does the work and returns the exit code: 0 success, 1 the run
  found a problem (a mismatch, a book that never went live, a refused request...).

To add a subcommand ``wexbook record``: write ``feeds/apps/record.py`` with
``add_arguments`` and ``run`` (see :mod:`feeds.apps.demo`), and add one row::

    Command("record", "record a capture of live books", record.add_arguments, record.run),

Today's rows: ``demo`` (:mod:`feeds.apps.demo`, and ``demo --offline``:
:mod:`feeds.apps.offline`), ``watch`` (:mod:`feeds.apps.watch`), ``sim`` and
``sim-fault`` (:mod:`feeds.apps.sim`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from feeds.apps import demo, sim, watch


@dataclass(frozen=True, slots=True)
class Command:
    """One ``wexbook`` subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None  #: the text under ``wexbook NAME --help`` (default: help)


COMMANDS: tuple[Command, ...] = (
    Command("demo", demo.HELP, demo.add_arguments, demo.run),
    Command("watch", watch.HELP, watch.add_arguments, watch.run),
    Command("sim", sim.HELP, sim.add_arguments, sim.run),
    Command("sim-fault", sim.FAULT_HELP, sim.add_fault_arguments, sim.run_fault),
)


def build_parser() -> argparse.ArgumentParser:
    """The full ``wexbook`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="wexbook",
        description="Exact local order books for the WEX exchange, and its embedded simulator.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        p = sub.add_parser(
            command.name, help=command.help, description=command.description or command.help
        )
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wexbook`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
