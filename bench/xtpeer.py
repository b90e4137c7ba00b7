"""The peer of :mod:`bench.fullstack`: ccxt.pro's ``xt`` client keeping the same books.

ccxt.pro (``pip install ccxt``) speaks XT.com's protocol, which WEX mirrors; the
simulator serves it with ``--xt-compat`` (``tests/test_xt_clients.py`` shows the
pointing). The client loads the markets over REST, then one task per book loops on
``watch_order_book`` as a ccxt user does (ccxt buffers the first pushes, fetches a
snapshot and keeps the book by sequence; its REST rate limiter is off: on loopback it
only delays the calls before and after the window). Frames are the ``depth_update`` pushes its
``handle_order_book`` handled (a subclass counts them). Symbols: ``s0_usdt`` is
``S0/USDT`` on spot and ``S0/USDT:USDT`` on the perpetual.

Exactness after the window: each book's loop records ``nonce -> top 5 levels`` from
what ``watch_order_book`` returned; :func:`check` fetches ``fetch_order_book`` (REST,
the same client) and compares the recorded book at the snapshot's nonce, trying a
few snapshots when the loop never saw that nonce (ccxt coalesces pushes that arrive
together).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from feeds.sim import DEMO_API_KEY, DEMO_SECRET

from .window import measure

READY_TIMEOUT = 30.0
#: Snapshots tried per book before the check says it could not compare it.
TRIES = 10
TOP = 5


def unavailable() -> str | None:
    """``None`` if ccxt.pro imports here, else why not (one line)."""
    try:
        import ccxt.pro  # noqa: F401
    except ImportError as exc:
        return f"ccxt.pro does not import ({exc}); pip install ccxt"
    return None


def unified(name: str, futures: bool) -> str:
    """ccxt's symbol for the simulator's ``name`` (``s0_usdt`` -> ``S0/USDT[:USDT]``)."""
    base, _, quote = name.upper().partition("_")
    return f"{base}/{quote}:{quote}" if futures else f"{base}/{quote}"


async def ccxtpro_peer(
    urls: dict[str, str], names: list[str], seconds: float, warmup: float
) -> dict[str, Any]:
    """Keep every book with ccxt.pro, measure the window, then check the books."""
    import ccxt.pro as pro

    class Counted(pro.xt):  # type: ignore[misc,name-defined]
        frames = 0

        def handle_order_book(self, client: Any, message: Any) -> Any:
            Counted.frames += 1
            return super().handle_order_book(client, message)

    client = Counted({"apiKey": DEMO_API_KEY, "secret": DEMO_SECRET, "enableRateLimit": False})
    client.urls["api"] = dict.fromkeys(("spot", "linear", "inverse", "user"), urls["spot REST"])
    ws = urls["spot websocket"].removesuffix("/public")
    client.urls["api"]["ws"] = {"spot": ws, "contract": ws + "/ws"}
    symbols = [unified(n, False) for n in names] + [unified(n, True) for n in names]
    seen: dict[str, dict[int, tuple[Any, Any]]] = {s: {} for s in symbols}
    recording = False
    first: dict[str, asyncio.Future[None]] = {}

    async def keep(symbol: str) -> None:
        while True:
            book = await client.watch_order_book(symbol)
            if not first[symbol].done():
                first[symbol].set_result(None)
            if recording:
                record = seen[symbol]
                record[book["nonce"]] = (
                    [list(x) for x in book["bids"][:TOP]],
                    [list(x) for x in book["asks"][:TOP]],
                )

    tasks: list[asyncio.Task[None]] = []
    try:
        start = time.perf_counter()
        await client.load_markets()
        loop = asyncio.get_running_loop()
        for symbol in symbols:
            first[symbol] = loop.create_future()
            tasks.append(asyncio.create_task(keep(symbol)))
        async with asyncio.timeout(READY_TIMEOUT):
            await asyncio.gather(*first.values())
        ready = time.perf_counter() - start
        await asyncio.sleep(warmup)
        window = await measure(lambda: Counted.frames, seconds)
        dead = [t for t in tasks if t.done()]
        if dead:
            raise RuntimeError(f"a watch_order_book loop ended: {dead[0].exception()!r}")
        recording = True
        checked, exact, unmatched = await check(client, symbols, seen)
        return {
            **window.as_dict(),
            "ready_s": ready,
            "books": len(symbols),
            "checked": checked,
            "exact": exact,
            "unmatched": unmatched,
        }
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await client.close()


async def reached(record: dict[int, Any], target: int, timeout: float = 2.0) -> None:
    """Return once ``record`` holds an id at or beyond ``target``, or after ``timeout`` s."""
    deadline = time.perf_counter() + timeout
    while max(record, default=-1) < target and time.perf_counter() < deadline:
        await asyncio.sleep(0.005)


async def check(
    client: Any, symbols: list[str], seen: dict[str, dict[int, tuple[Any, Any]]]
) -> tuple[int, int, list[str]]:
    """Compare each book with a REST snapshot at the same nonce: (checked, exact, unmatched)."""
    checked = exact = 0
    unmatched: list[str] = []
    for symbol in symbols:
        past = -1  # a snapshot is asked for once the loop saw a nonce beyond this one
        for _ in range(TRIES):
            await reached(seen[symbol], past + 1)
            snapshot = await client.fetch_order_book(symbol, 20)
            nonce = past = snapshot["nonce"]
            await reached(seen[symbol], nonce)  # the stream may be behind the snapshot
            if nonce in seen[symbol]:
                bids, asks = seen[symbol][nonce]
                checked += 1
                exact += bids == snapshot["bids"][:TOP] and asks == snapshot["asks"][:TOP]
                break
        else:
            unmatched.append(symbol)
    return checked, exact, unmatched
