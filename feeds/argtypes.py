"""Command-line value types and the usage error, for the options that libraries below the
apps add to a command's parser (:mod:`feeds.metrics.cli`'s ``--metrics-port``).

The apps sit on top and nothing imports them; :mod:`feeds.apps.args` re-exports these
with the rest of its argument types, so a command catches one :class:`UsageError`
whichever module raised it (one line, exit code 2).
"""

from __future__ import annotations

import argparse

from orderbook import WexbookError

_PORT = "a port number from 1 to 65535 (or 0: any free port)"


class UsageError(WexbookError):
    """The options cannot be used as given: one line, exit code 2."""


def port(text: str) -> int:
    """A TCP port, 1..65535, or 0 for any free port."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {_PORT}, not {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be {_PORT}, not {text!r}")
    return value
