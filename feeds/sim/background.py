"""A simulator serving from a background thread, for synchronous code (and its tests).

::

    with simulator_thread(auto=True, speed=5) as sim:
        client = WexClient(DEMO_API_KEY, DEMO_SECRET, spot_url=sim.spot_http_url, ...)

The simulator's event loop runs in its own daemon thread; ``sim`` is only to be
read (URLs, ``book()``, ``stats()``) from the calling thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .simulator import Simulator


@contextmanager
def simulator_thread(**options: Any) -> Iterator[Simulator]:
    """A :class:`Simulator` serving from a background thread (for synchronous clients)."""
    box: dict[str, Any] = {}
    ready, stop = threading.Event(), threading.Event()

    async def serve() -> None:
        async with Simulator(**options) as sim:
            box["sim"] = sim
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.02)

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # surfaced below instead of hanging the test
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, name="simulator", daemon=True)
    thread.start()
    ready.wait(30)
    if "error" in box:
        raise box["error"]
    try:
        yield box["sim"]
    finally:
        stop.set()
        thread.join(10)
