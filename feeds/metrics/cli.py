"""The monitoring options of ``wexbook demo``, ``watch`` and ``record``, in one place.

A command calls :func:`add_arguments` on its parser and wraps its run in
:func:`monitoring` once its :class:`~feeds.manager.BookManager` exists::

    with monitoring(args, manager, "wexbook watch"):
        ...

``--metrics-port`` serves the metrics (``http://HOST:PORT/metrics``; ``0``: any free
port, printed on stderr), ``--metrics-host`` chooses the address (loopback by default),
``--log-format`` prints the state-change lines as text (default) or JSON. A port that
cannot be bound is a usage error: one line, exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from feeds.apps.args import UsageError, port

from .logs import FORMATS, book_logs
from .server import DEFAULT_HOST, MetricsPortInUse, MetricsServer, serve
from .watch import BookWatch


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--metrics-port``, ``--metrics-host`` and ``--log-format`` to ``p``."""
    group = p.add_argument_group("monitoring")
    group.add_argument(
        "--metrics-port",
        type=port,
        metavar="PORT",
        help="serve Prometheus metrics on this port (0: any free port; default: off)",
    )
    group.add_argument(
        "--metrics-host",
        default=DEFAULT_HOST,
        metavar="HOST",
        help="address of the metrics endpoint (0.0.0.0: every interface)",
    )
    group.add_argument(
        "--log-format",
        default="text",
        choices=FORMATS,
        help="state-change and resync log lines on stderr: text for people, json for machines",
    )


@dataclass(slots=True)
class Monitoring:
    """What :func:`monitoring` set up: the watch, and the server if one was asked for."""

    watch: BookWatch
    server: MetricsServer | None


@contextlib.contextmanager
def monitoring(args: argparse.Namespace, manager: Any, prog: str) -> Iterator[Monitoring]:
    """The watch, the log lines and (with ``--metrics-port``) the endpoint, for the run."""
    watch = BookWatch.attach(manager)
    server = None
    with book_logs(getattr(args, "log_format", "text")):
        if getattr(args, "metrics_port", None) is not None:
            host = getattr(args, "metrics_host", DEFAULT_HOST)
            try:
                server = serve(manager, host=host, port=args.metrics_port)
            except MetricsPortInUse as exc:
                raise UsageError(f"argument --metrics-port: {exc.strerror}") from None
            except OSError as exc:  # a host name that does not resolve...
                raise UsageError(f"argument --metrics-host: {host!r}: {exc}") from None
            print(f"{prog}: metrics on {server.url}", file=sys.stderr, flush=True)
        try:
            yield Monitoring(watch, server)
        finally:
            if server is not None:
                server.close()
