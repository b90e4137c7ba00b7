"""The ``wexbook`` command line.

Subcommands register themselves on the parser with a ``register(subparsers)``
function: ``feeds.demo`` (``demo``), ``feeds.watch`` (``watch``) and
``feeds.sim.command`` (``sim``, ``sim-fault``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The full ``wexbook`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="wexbook",
        description="Exact local order books for the WEX exchange, and its embedded simulator.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    from . import demo, watch
    from .sim import command as sim_command

    demo.register(sub)
    watch.register(sub)
    sim_command.register(sub)
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
