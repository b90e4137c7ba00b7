"""pytest-benchmark suite: ``python -m pytest bench`` (not part of the CI test run).

Every variant of :mod:`bench.runners` replays the same frames; compare them
with ``--benchmark-group-by=group`` (the default here) or, for ratios in one
interleaved run, ``python -m bench.compare``. ``WEXBOOK_BENCH_FRAMES``
shortens the stream for a quick look.
"""

from __future__ import annotations

import pytest

from bench.memory import memory_ratio
from bench.runners import VARIANTS, book_levels
from bench.streams import bench_stream


@pytest.fixture(scope="module")
def stream():
    return bench_stream()


@pytest.mark.parametrize("name", list(VARIANTS))
def test_replay(benchmark, stream, name: str) -> None:
    setup, loop = VARIANTS[name]
    benchmark.group = "replay " + name.split("_", 1)[-1] if "_" in name else "replay apply"
    result = benchmark.pedantic(
        loop,
        setup=lambda: ((setup(stream.snapshot), stream.frames), {}),
        rounds=3,
        iterations=1,
    )
    benchmark.extra_info["frames"] = len(stream.frames)
    reference = VARIANTS["baseline"][1](VARIANTS["baseline"][0](stream.snapshot), stream.frames)
    assert book_levels(result) == book_levels(reference)


def test_memory_of_1000_books(benchmark) -> None:
    ratios = benchmark.pedantic(memory_ratio, args=(1000,), rounds=1, iterations=1)
    benchmark.extra_info.update(ratios)
    assert ratios["engine_bytes_per_level"] > 0
