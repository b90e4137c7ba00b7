"""(e) Memory of 1,000 books of 500+500 levels, measured with ``tracemalloc``."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

from feeds.sim.stream_file import generate_stream

from .runners import setup_baseline, setup_engine


def distinct_snapshots(count: int = 20) -> list[bytes]:
    """``count`` different 500+500-level snapshots (raw JSON), one per seed."""
    return [generate_stream(0, seed=seed).snapshot for seed in range(count)]


def traced_bytes(build: Callable[[bytes], Any], snapshots: list[bytes], books: int) -> int:
    """Bytes still allocated after building ``books`` books (kept alive) with ``build``."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [build(snapshots[n % len(snapshots)]) for n in range(books)]
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return after - before


def memory_ratio(books: int = 1000, snapshots: list[bytes] | None = None) -> dict[str, float]:
    """Bytes per level of ``books`` baseline and engine books, and engine/baseline."""
    snapshots = snapshots or distinct_snapshots()
    levels = books * 1000
    baseline = traced_bytes(setup_baseline, snapshots, books) / levels
    engine = traced_bytes(setup_engine, snapshots, books) / levels
    return {
        "baseline_bytes_per_level": baseline,
        "engine_bytes_per_level": engine,
        "ratio": engine / baseline,
    }
