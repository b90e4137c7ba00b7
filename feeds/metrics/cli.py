"""The monitoring options of ``wexbook demo``, ``watch`` and ``record``, in one place.

A command calls :func:`add_arguments` on its parser and wraps its run in
:func:`monitoring` once its :class:`~feeds.manager.BookManager` exists::

    async with market, manager, monitoring(args, manager, "wexbook watch"):
        ...

``--metrics-port`` serves the metrics (``http://HOST:PORT/metrics``; ``0``: any free
port, printed on stderr), ``--metrics-host`` chooses the address (loopback by default),
``--log-format`` prints the state-change lines as text (default) or JSON. A port that
cannot be bound is a usage error: one line, exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from typing import Any

from feeds.argtypes import UsageError, port

from .logs import FORMATS, JsonFormatter, book_logs
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


class monitoring:  # used like a function: ``with monitoring(...)``
    """The watch, the log lines and (with ``--metrics-port``) the endpoint, for the run.

    A context manager, plain or async (``async with market, manager, monitoring(...)``).
    On entry: a :class:`BookWatch` on ``manager``, the state-change lines on stderr in
    ``--log-format``, and the endpoint (a port that cannot be bound raises
    :class:`~feeds.argtypes.UsageError`). ``watch`` and ``server`` say what it set up.
    """

    def __init__(self, args: argparse.Namespace, manager: Any, prog: str) -> None:
        self.args = args
        self.manager = manager
        self.prog = prog
        self.watch: BookWatch | None = None
        self.server: MetricsServer | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> monitoring:
        args = self.args
        self.watch = BookWatch.attach(self.manager)
        self._stack.enter_context(book_logs(getattr(args, "log_format", "text")))
        if getattr(args, "metrics_port", None) is not None:
            host = getattr(args, "metrics_host", DEFAULT_HOST)
            try:
                self.server = serve(self.manager, host=host, port=args.metrics_port)
            except MetricsPortInUse as exc:
                self._stack.close()
                raise UsageError(f"argument --metrics-port: {exc.strerror}") from None
            except OSError as exc:  # a host name that does not resolve...
                self._stack.close()
                raise UsageError(f"argument --metrics-host: {exc.strerror or exc}") from None
            self._stack.callback(self.server.close)
            print(f"{self.prog}: metrics on {self.server.url}", file=sys.stderr, flush=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    async def __aenter__(self) -> monitoring:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


def log_formatter(args: argparse.Namespace) -> logging.Formatter | None:
    """The formatter of the commands' other log lines: JSON with ``--log-format json``."""
    return JsonFormatter() if getattr(args, "log_format", "text") == "json" else None
