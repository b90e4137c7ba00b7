"""Shared fixtures: the core's two hot paths, and a simulator with a book manager on it.

Core test modules declare ``pytestmark = pytest.mark.usefixtures("hot_path")``:
each of their tests then runs twice, on the pure-Python reference and on the
compiled accelerator (skipped, with the reason, where it was not built).

``sim_books`` starts the embedded simulator (with the demo's faults) and a book manager
on it, for the tests that record or watch a real run (see :func:`sim_books`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from orderbook import accel

if TYPE_CHECKING:
    from feeds.manager import BookManager
    from feeds.rest import MarketClient
    from feeds.sim import Simulator


@pytest.fixture(params=["python", "compiled"])
def hot_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test on one hot path (see :mod:`orderbook.accel`), then restore the default."""
    compiled = request.param == "compiled"
    if compiled and not accel.AVAILABLE:
        pytest.skip(f"compiled accelerator {accel.UNAVAILABLE}")
    with accel.path(compiled):
        yield request.param


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict:
    """The event loop of the async tests: ``WEXBOOK_LOOP=uvloop`` runs them on uvloop."""
    if os.environ.get("WEXBOOK_LOOP", "asyncio") == "uvloop":
        import uvloop

        return {"uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}


@dataclass
class SimBooks:
    """A running simulator and a started book manager on it, no book added yet
    (see :func:`sim_books`)."""

    sim: Simulator
    market: MarketClient
    manager: BookManager
    spot: list[str]
    futures: list[str]

    async def add_all(self, timeout: float = 10.0) -> None:
        """Add every book of the run and wait until all are LIVE."""
        from helpers import wait_for

        manager = self.manager
        await manager.add_many("spot", self.spot)
        await manager.add_many("futures", self.futures)
        await wait_for(lambda: all(b.sync.is_live for b in manager.books.values()), timeout)


@asynccontextmanager
async def _sim_books(
    spot: list[str],
    futures: list[str],
    *,
    seed: int,
    speed: float = 4.0,
    faults: bool = True,
    **manager_options: Any,
) -> AsyncIterator[SimBooks]:
    from feeds.apps.demo import arm_faults
    from feeds.manager import BookManager
    from feeds.rest import MarketClient
    from feeds.sim import Simulator

    async with Simulator(spot_symbols=spot, futures_symbols=futures, seed=seed, speed=speed) as sim:
        if faults:
            arm_faults(sim, spot, futures)  # the demo's: drops, 429, lag, stall...
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        options = {"stale_intervals": 20, "connection_options": {"backoff_base": 0.05}}
        manager = BookManager(
            spot_ws_url=sim.spot_ws_url,
            futures_ws_url=sim.futures_ws_url,
            market=market,
            **{**options, **manager_options},
        )
        async with market, manager:
            yield SimBooks(sim, market, manager, list(spot), list(futures))


@pytest.fixture(scope="session")
def sim_books() -> Callable[..., AbstractAsyncContextManager[SimBooks]]:
    """The simulator-plus-manager setup of the capture tests, as a factory::

        async with sim_books(["btc_usdt"], ["eth_usdt"], seed=3) as run:
            Recorder(out).attach(run.manager)  # recorders, collectors: before the books
            await run.add_all()  # every book added, and LIVE
            run.sim.faults.set("spot", "btc_usdt", drop_next=1)

    A simulator in auto mode (``speed`` 4) with the demo's faults armed (``faults=False``:
    none) and a started :class:`~feeds.manager.BookManager` on both venues
    (``stale_intervals=20``, reconnects from 50 ms; keyword arguments override them).
    A factory rather than a running simulator: the captures are recorded inside
    ``asyncio.run`` of module-scoped fixtures, each with its own symbols, seed and timing.
    """
    return _sim_books
