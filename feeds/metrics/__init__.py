"""Gap and resync monitoring as a service: Prometheus metrics, structured logs, alerts.

- :mod:`feeds.metrics.spec`: every metric as one row (name, type, unit, labels, help,
  source); ``docs/metrics.md`` is generated from it (``python -m feeds.metrics.docs``).
- :mod:`feeds.metrics.collector`: :class:`WexbookCollector`, a prometheus-client
  collector that reads the manager's counters at scrape time; :func:`register` puts it
  into your own ``CollectorRegistry``.
- :mod:`feeds.metrics.server`: :func:`serve` starts an HTTP endpoint (loopback by default).
- :mod:`feeds.metrics.watch`: :class:`BookWatch`, the few moments recorded off the
  event path (state changes, heal times, ping round trips, REST durations).
- :mod:`feeds.metrics.logs`: one log line per state change and resync, text or JSON.
- :mod:`feeds.metrics.cli`: the commands' ``--metrics-port/--metrics-host/--log-format``.
- ``alerts.yml`` (Prometheus alerting rules) and ``dashboard.json`` (Grafana) beside this
  module, over the same metrics: :func:`resource_path` finds them.
"""

from __future__ import annotations

from pathlib import Path

from .collector import WexbookCollector, register
from .server import DEFAULT_HOST, DEFAULT_PORT, MetricsPortInUse, MetricsServer, serve
from .spec import METRICS, MetricSpec
from .watch import BookWatch

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "METRICS",
    "BookWatch",
    "MetricSpec",
    "MetricsPortInUse",
    "MetricsServer",
    "WexbookCollector",
    "register",
    "resource_path",
    "serve",
]


def resource_path(name: str) -> Path:
    """The path of a file shipped with this package: ``alerts.yml`` or ``dashboard.json``."""
    path = Path(__file__).resolve().parent / name
    if not path.is_file():
        raise FileNotFoundError(f"feeds.metrics ships no {name!r}")
    return path
