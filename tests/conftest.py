"""Shared fixtures: the core's two hot paths.

Core test modules declare ``pytestmark = pytest.mark.usefixtures("hot_path")``:
each of their tests then runs twice, on the pure-Python reference and on the
compiled accelerator (skipped, with the reason, where it was not built).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderbook import accel


@pytest.fixture(params=["python", "compiled"])
def hot_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test on one hot path (see :mod:`orderbook.accel`), then restore the default."""
    compiled = request.param == "compiled"
    if compiled and not accel.AVAILABLE:
        pytest.skip(f"compiled accelerator {accel.UNAVAILABLE}")
    with accel.path(compiled):
        yield request.param
