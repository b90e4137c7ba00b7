"""The live books a long-running command keeps (``record``, ``serve``): one place.

With no URL given, the embedded simulator on loopback with the demo's faults (unless
``--no-faults``); with ``--spot-ws`` / ``--futures-ws`` (and their REST URLs), those
endpoints, for the venues given. The options are the shared vocabulary of
:mod:`feeds.apps.args` (``add_books``, ``add_endpoints``, ``add_engine``) plus
``--seed``, ``--speed`` and ``--no-faults``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from feeds.apps.args import connection_options
from feeds.manager import BookManager
from feeds.rest import MarketClient


@dataclass(slots=True)
class Engine:
    """What :func:`open_engine` started."""

    manager: BookManager
    spot: list[str]  #: the spot books to add
    futures: list[str]  #: the futures books to add
    where: str  #: for people: "real endpoints" or "the simulator on loopback, faults on"
    sim: Any = None  #: the embedded simulator, when it is the source

    async def run(self, stop: asyncio.Event, seconds: float | None, faults: bool) -> None:
        """Add the books, play the demo's fault script on the simulator (``faults``), and
        wait for ``stop`` or ``seconds``; the script is stopped on the way out."""
        from feeds.apps.demo import fault_script

        manager = self.manager
        if self.spot:
            await manager.add_many("spot", self.spot)
        if self.futures:
            await manager.add_many("futures", self.futures)
        script = None
        if self.sim is not None and faults:
            script = asyncio.create_task(
                fault_script(self.sim, manager, self.spot, self.futures, seconds or 60.0)
            )
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)
        finally:
            if script is not None:
                script.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await script


async def open_engine(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> Engine:
    """Start the source and a :class:`BookManager` on ``stack`` (closed with it); the books
    are not added yet (:attr:`Engine.spot`, :attr:`Engine.futures`)."""
    real = bool(args.spot_ws or args.futures_ws)
    spot = list(args.spot) if (not real or args.spot_ws) else []
    futures = list(args.futures) if (not real or args.futures_ws) else []
    sim = None
    if real:
        market = MarketClient(
            args.spot_rest if args.spot_ws else None,
            args.futures_rest if args.futures_ws else None,
        )
        urls = {"spot_ws_url": args.spot_ws or "", "futures_ws_url": args.futures_ws or ""}
        where = "real endpoints"
    else:
        from feeds.apps.demo import arm_faults
        from feeds.sim import Simulator

        sim = Simulator(
            spot_symbols=spot, futures_symbols=futures, seed=args.seed, speed=args.speed
        )
        await stack.enter_async_context(sim)
        if not args.no_faults:
            arm_faults(sim, spot, futures)
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        urls = {"spot_ws_url": sim.spot_ws_url, "futures_ws_url": sim.futures_ws_url}
        where = f"the simulator on loopback, faults {'off' if args.no_faults else 'on'}"
    await stack.enter_async_context(market)
    manager = BookManager(
        market=market,
        stale_intervals=20,
        connection_options=connection_options(args, backoff_base=0.2),
        **urls,
    )
    await stack.enter_async_context(manager)
    return Engine(manager, spot, futures, where, sim)
