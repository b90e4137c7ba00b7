"""The metrics endpoint: an HTTP server (prometheus-client's) on its own thread.

    server = serve(manager, port=9108)   # http://127.0.0.1:9108/metrics
    ...
    server.close()

``host`` defaults to loopback: the metrics name the symbols you keep, so exposing them
beyond the machine is a choice to make (``--metrics-host 0.0.0.0``). ``port=0`` takes
any free port (:attr:`MetricsServer.port` says which). A port in use raises
:class:`MetricsPortInUse` with one readable line. To serve from an application's own
registry instead, :func:`feeds.metrics.register` the collector into it.
"""

from __future__ import annotations

import errno
import threading
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from .collector import WexbookCollector

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9108


class MetricsPortInUse(OSError):
    """The metrics port could not be bound (in use, or not allowed).

    Any other failure to serve (a host that does not resolve or is not this machine's)
    is a plain :class:`OSError` with a readable ``strerror``.
    """


class MetricsServer:
    """A running endpoint: ``host``, ``port``, ``url``, the ``collector``; :meth:`close`."""

    def __init__(
        self, collector: WexbookCollector, registry: CollectorRegistry, host: str, port: int
    ) -> None:
        self.collector = collector
        self.registry = registry
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            why = exc.strerror or str(exc)
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                why = "in use" if exc.errno == errno.EADDRINUSE else why
                raise MetricsPortInUse(
                    exc.errno, f"cannot serve metrics on {host}:{port}: {why}"
                ) from None
            # the host: a name that does not resolve, an address not of this machine...
            raise OSError(exc.errno, f"cannot serve metrics on {host}:{port}: {why}") from None
        self.host = host
        self.port: int = self._server.server_port
        self._closed = False
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The scrape URL, ``http://host:port/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(
    manager: Any,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    registry: CollectorRegistry | None = None,
    **options: Any,
) -> MetricsServer:
    """Serve ``manager``'s metrics over HTTP on ``host:port`` (see the module docstring)."""
    registry = registry or CollectorRegistry()
    collector = WexbookCollector(manager, registry=registry, **options)
    try:
        return MetricsServer(collector, registry, host, port)
    except MetricsPortInUse:
        registry.unregister(collector)
        raise
