"""A prometheus-client collector over a running :class:`~feeds.manager.BookManager`.

:class:`WexbookCollector` reads every row of :data:`feeds.metrics.spec.METRICS` at
scrape time, from the objects that already hold the values (see :mod:`feeds.metrics.spec`),
so a scrape costs the scraper, not the event path. It is safe to scrape from another
thread (the HTTP server's): every collection of the engine is copied before it is read. A
capture :class:`~feeds.capture.recorder.Recorder` observing the manager is read
once per scrape (``Recorder.counters()``) for the ``wexbook_capture_*`` rows.

    registry = CollectorRegistry()
    collector = WexbookCollector(manager, registry=registry)  # or register(manager)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from .spec import METRICS, MetricSpec, Scrape
from .watch import BookWatch

_FAMILIES = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily}


class WexbookCollector:
    """Exports the metrics of ``manager`` (and of ``clients``: ``[(name, WexClient)]``).

    It attaches a :class:`~feeds.metrics.watch.BookWatch` to the manager (or uses the one
    there) for the values that need a recorded moment. ``registry``: register into it
    (``None``: do not register; call :meth:`collect` yourself or register it later).
    """

    def __init__(
        self,
        manager: Any,
        *,
        registry: CollectorRegistry | None = None,
        watch: BookWatch | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.manager = manager
        self.watch = watch or BookWatch.attach(manager)
        self.clock = clock
        self.scrapes = 0
        #: The registry it was registered into (None: not registered).
        self.registry = registry
        if registry is not None:
            registry.register(self)

    def describe(self) -> Iterator[Metric]:
        """The families, without samples (lets a registry check for duplicate names)."""
        for spec in METRICS:
            yield _family(spec)

    def collect(self) -> Iterator[Metric]:
        """Every family with the current values."""
        self.scrapes += 1
        watch = self.watch
        watch.reconcile()
        manager = self.manager
        scrape = Scrape(
            manager, watch, self.clock(), tuple(watch.clients), capture=_capture(manager)
        )
        books = list(manager.books.values())
        connections = list(manager.connections.values())
        schedulers = list(manager.schedulers.items())
        for spec in METRICS:
            family = _family(spec)
            if spec.kind == "histogram":
                for labels, durations in spec.read(scrape).items():
                    buckets, total = durations.cumulative()
                    family.add_metric(list(labels), buckets, total)
            elif spec.scope == "book":
                for book in books:
                    _add(family, (book.venue.value, book.symbol), spec.read(scrape, book))
            elif spec.scope == "connection":
                for conn in connections:
                    _add(family, (conn.venue.value,), spec.read(scrape, conn))
            elif spec.scope == "scheduler":
                for venue, sched in schedulers:
                    _add(family, (venue.value,), spec.read(scrape, sched))
            else:
                _add(family, (), spec.read(scrape))
            yield family


def _capture(manager: Any) -> dict[str, float] | None:
    """The counters of the capture recorder observing ``manager`` (the first observer that
    has ``counters()``), or None."""
    for observer in getattr(getattr(manager, "observers", None), "members", ()):
        counters = getattr(observer, "counters", None)
        if callable(counters):
            return counters()
    return None


def _family(spec: MetricSpec) -> Any:
    if spec.kind == "histogram":
        return HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
    return _FAMILIES[spec.kind](spec.name, spec.help, labels=spec.labels)


def _add(family: Any, base: tuple[str, ...], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        for extra, v in value.items():
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                family.add_metric([*base, *extra], v)
        return
    family.add_metric(list(base), value)


def register(
    manager: Any, registry: CollectorRegistry | None = None, **options: Any
) -> WexbookCollector:
    """Register a collector of ``manager`` into ``registry`` (default: a new one)."""
    return WexbookCollector(manager, registry=registry or CollectorRegistry(), **options)
