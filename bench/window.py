"""What every full-stack client process shares: its event loop, its topics, its window.

Each client of :mod:`bench.fullstack` runs in its own process (a fresh interpreter and
event loop) and measures itself: once its books (or streams) are up it waits
``warmup`` seconds, then reads the process's CPU time (:func:`time.process_time`,
every thread of the process) and its frame counter, sleeps ``seconds`` on the loop,
and reads both again (:func:`measure`). Nothing of the simulator's process is counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from feeds.topics import topic_spec
from orderbook import Venue

#: Seconds between two text pings on a floor client's connection (as wexbook's default).
PING_EVERY = 1.0
#: The futures ``depth_update`` interval every client subscribes (the manager's default).
FUTURES_INTERVAL = "100ms"
#: Event loops a client can run on.
LOOPS = ("asyncio", "uvloop")


@dataclass(frozen=True, slots=True)
class Window:
    """Frames counted, process CPU seconds and wall seconds over one measurement window."""

    frames: int
    cpu: float
    wall: float

    def as_dict(self) -> dict[str, float]:
        """The window as the fields of a client's result."""
        return {"frames": self.frames, "cpu": self.cpu, "wall": self.wall}


async def measure(count: Callable[[], int], seconds: float) -> Window:
    """Sleep ``seconds`` on the running loop; the frames ``count()`` grew by and the CPU used."""
    frames0, cpu0, wall0 = count(), time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu1, wall1, frames1 = time.process_time(), time.perf_counter(), count()
    return Window(frames1 - frames0, cpu1 - cpu0, wall1 - wall0)


def depth_topics(venue: Venue, names: list[str]) -> list[str]:
    """The ``depth_update`` subscriptions of ``names`` on ``venue``, spelled as wexbook does."""
    spec = topic_spec(venue, "depth_update")
    args = (FUTURES_INTERVAL,) if venue is Venue.FUTURES else ()
    return [spec.subscription(name, *args) for name in names]


def loop_available(loop: str) -> str | None:
    """``None`` if ``loop`` can run here, else why not (one line)."""
    if loop == "asyncio":
        return None
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "uvloop is not installed (pip install uvloop)"
    return None


def run_on(loop: str, coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to its end on a new ``loop`` (``"asyncio"`` or ``"uvloop"``)."""
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    if loop != "asyncio":
        raise ValueError(f"unknown event loop {loop!r}: {', '.join(LOOPS)}")
    return asyncio.run(coro)
