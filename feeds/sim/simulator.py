"""The embedded WEX simulator: a real websocket server and a real HTTP server on loopback.

    async with Simulator(seed=1) as sim:
        sim.spot_ws_url, sim.futures_ws_url       # ws://127.0.0.1:PORT/public, .../ws/market
        sim.spot_http_url, sim.futures_http_url   # http://127.0.0.1:PORT
        await sim.advance(10)                     # manual mode: 10 steps of 100 ms
        truth = sim.book("spot", "btc_usdt")      # exact book and its last update id
        sim.faults.set("spot", "btc_usdt", drop_next=1)

Trading side: signed REST requests are verified (``auth.py``; the default key pair
is the document's demo pair, :data:`DEMO_API_KEY` / :data:`DEMO_SECRET`), accounts,
orders, fills and positions live in :class:`~feeds.sim.trading.Desk`, and account
events go to the private websockets (``/private``, ``/ws/user``; ``privateside.py``).
``clock_skew_ms`` sets how far the exchange's clock (``/v4/public/time``, the
signed-request window) runs from this machine's.

Real XT.com clients (ccxt's ``xt``, ccxt.pro, XT's own pyxt) run against it with two
switches, both off by default so that the simulator serves the document:
``xt_headers=True`` accepts XT's ``xt-validate-*`` signature header spelling as well as
the document's ``validate-*`` (every XT client signs with it); ``xt_compat=True`` (which
implies it) also serves what those clients rely on and the document does not specify:
the v1 futures symbol list, the leverage bracket list, ``result.currencies``, pyxt's bare
array batch body and list-text batch cancel (:mod:`feeds.sim.xtcompat` lists each one,
and the places where a client, not the simulator, departs from the document).

Time is simulated in steps of 100 ms: every step each market changes once
(consuming at least one update id) and the streams whose interval boundary
falls in that step push. In ``auto`` mode a background task steps every
``0.1 / speed`` seconds of wall-clock time; with ``auto=False`` only
:meth:`Simulator.advance` moves the market, so tests are exact and fast. The
same seed and the same client actions give the same frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web
from websockets.asyncio.server import serve

from orderbook import Venue

from .auth import ApiKey
from .exchange import BookTruth, SymbolMarket
from .faultset import FaultBoard
from .httpside import HttpSide, SnapshotFault
from .trading import Desk
from .wsside import WebsocketSide

DEFAULT_SYMBOLS = ("btc_usdt", "eth_usdt")
#: The demo key pair the API document prints ("Signature generation"): the simulator's default.
DEMO_API_KEY = "3976eb88-76d0-4f6e-a6b2-a57980770085"
DEMO_SECRET = "bc6630d0231fda5cd98794f52c4998659beda290"
#: The signature header spelling of XT.com's clients (ccxt, pyxt); the document: ``validate-``.
XT_HEADER_PREFIX = "xt-validate-"


class Simulator:
    """The simulated exchange (see the module docstring)."""

    def __init__(
        self,
        *,
        spot_symbols: tuple[str, ...] | list[str] = DEFAULT_SYMBOLS,
        futures_symbols: tuple[str, ...] | list[str] = DEFAULT_SYMBOLS,
        seed: int = 0,
        host: str = "127.0.0.1",
        ws_port: int = 0,
        http_port: int = 0,
        auto: bool = True,
        speed: float = 1.0,
        spot_ping_timeout: float = 60.0,
        futures_ping_timeout: float = 30.0,
        rate_limits: dict[str, int] | None = None,
        rate_limit_scale: float = 1.0,
        start_ms: int | None = None,
        api_keys: dict[str, str] | None = None,
        clock_skew_ms: int = 0,
        header_prefix: str = "validate-",
        xt_headers: bool = False,
        xt_compat: bool = False,
    ) -> None:
        self.seed = seed
        self.host = host
        self.ws_port = ws_port
        self.http_port = http_port
        self.auto = auto
        self.speed = speed
        self.ping_timeouts = {Venue.SPOT: spot_ping_timeout, Venue.FUTURES: futures_ping_timeout}
        self.rate_limits = rate_limits or {}
        self.rate_limit_scale = rate_limit_scale
        self.faults = FaultBoard(seed)
        self.markets: dict[tuple[Venue, str], SymbolMarket] = {}
        n = 0
        for venue, symbols in ((Venue.SPOT, spot_symbols), (Venue.FUTURES, futures_symbols)):
            for index, symbol in enumerate(symbols):
                market = SymbolMarket.create(venue, symbol, seed * 1000 + n, index)
                self.markets[venue, symbol] = market
                n += 1
        #: API key -> its secret; each key trades for an account of its own.
        keys = api_keys if api_keys is not None else {DEMO_API_KEY: DEMO_SECRET}
        self.api_keys = {k: ApiKey(k, v, f"account-{n}") for n, (k, v) in enumerate(keys.items())}
        #: How far the exchange's clock runs ahead of this machine's (for AUTH_105 tests).
        self.clock_skew_ms = clock_skew_ms
        self.header_prefix = header_prefix
        #: Also accept XT's ``xt-validate-*`` header spelling (``xt_compat`` implies it).
        self.xt_headers = xt_headers or xt_compat
        #: Serve the XT behaviours the document does not specify (see the module docstring).
        self.xt_compat = xt_compat
        self.t_ms = 0  #: simulated time, in ms since start
        self.steps = 0
        self.desk = Desk(self.markets, self.server_time_ms, self.api_keys)
        self.ws = WebsocketSide(self)
        self.http = HttpSide(self)
        self._ws_server: Any = None
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        #: Epoch ms of simulated time 0 (fixed in tests for byte-identical frames).
        self._start_ms = int(time.time() * 1000) if start_ms is None else start_ms
        self.spot_ws_url = self.futures_ws_url = ""
        self.spot_private_url = self.futures_user_url = ""
        self.spot_http_url = self.futures_http_url = ""

    @property
    def header_prefixes(self) -> tuple[str, ...]:
        """The signature header spellings accepted: the document's first, then XT's."""
        if self.xt_headers and self.header_prefix != XT_HEADER_PREFIX:
            return (self.header_prefix, XT_HEADER_PREFIX)
        return (self.header_prefix,)

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start both servers (and the ticker in auto mode)."""
        self._ws_server = await serve(
            self.ws.handler, self.host, self.ws_port, compression="deflate", ping_interval=None
        )
        port = self._ws_server.sockets[0].getsockname()[1]
        self.spot_ws_url = f"ws://{self.host}:{port}/public"
        self.futures_ws_url = f"ws://{self.host}:{port}/ws/market"
        self.spot_private_url = f"ws://{self.host}:{port}/private"
        self.futures_user_url = f"ws://{self.host}:{port}/ws/user"
        self._runner = web.AppRunner(self.http.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.http_port)
        await site.start()
        http_port = self._runner.addresses[0][1]
        self.spot_http_url = self.futures_http_url = f"http://{self.host}:{http_port}"
        if self.auto:
            self._ticker = asyncio.create_task(self._tick_forever(), name="wexbook sim ticker")

    async def close(self) -> None:
        """Stop everything."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._ws_server is not None:
            self.ws.abort_silent()  # half-open connections would hold the closing handshakes
            self._ws_server.close()
            await self._ws_server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _tick_forever(self) -> None:
        period = 0.1 / self.speed
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += period
            await self.advance(1)
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    # -- time ------------------------------------------------------------------------

    def now(self) -> float:
        """Monotonic seconds (heartbeat bookkeeping)."""
        return time.monotonic()

    def server_time_ms(self) -> int:
        """The exchange's wall clock in ms (``/v4/public/time``, signed-request windows):
        this machine's clock plus ``clock_skew_ms``."""
        return time.time_ns() // 1_000_000 + self.clock_skew_ms

    def clock_ms(self) -> int:
        """Epoch milliseconds stamped into payloads: start time plus simulated time."""
        return self._start_ms + self.t_ms

    # -- the market --------------------------------------------------------------------

    async def advance(
        self, n: int = 1, venue: Venue | str | None = None, symbol: str | None = None
    ) -> None:
        """Advance ``n`` steps of 100 ms (all markets, or one venue's, or one symbol's)."""
        v = Venue(venue) if venue is not None else None
        async with self._lock:
            for _ in range(n):
                self.t_ms += 100
                self.steps += 1
                for (mv, ms), market in self.markets.items():
                    if (v is not None and mv is not v) or (symbol is not None and ms != symbol):
                        continue
                    self._step_market(market)
                self.ws.push_tickers(list(self.markets.values()), self.t_ms)
                await asyncio.sleep(0)

    def _step_market(self, market: SymbolMarket) -> None:
        faults = self.faults.of(market.venue, market.symbol)
        now = self.clock_ms()
        skip = faults.skip_ids_next > 0
        step = market.step(now)
        if skip:
            faults.skip_ids_next -= 1
            self.faults.count(market.venue, market.symbol, "skip_ids")
        self.ws.on_step(market, step, self.t_ms, skipped=skip)
        self.ws.flush_depth(market, self.t_ms)
        self.ws.push_periodic(market, self.t_ms)
        if faults.stall:
            self.faults.count(market.venue, market.symbol, "stalled_step")

    def book(self, venue: Venue | str, symbol: str) -> BookTruth:
        """The exact book of ``symbol`` on ``venue`` and its last update id (ground truth)."""
        return self.markets[Venue(venue), symbol].truth()

    def snapshot(
        self, market: SymbolMarket, depth: int
    ) -> tuple[int, list[list[str]], list[list[str]]]:
        """A REST depth snapshot, lagging by the symbol's ``snapshot_lag`` fault if set."""
        faults = self.faults.of(market.venue, market.symbol)
        if faults.snapshot_lag:
            self.faults.count(market.venue, market.symbol, "snapshot_lag")
        return market.snapshot_levels(depth, faults.snapshot_lag)

    def snapshot_fault(self, venue: Venue, symbol: str) -> None:
        """Raise :class:`SnapshotFault` when a snapshot 429/5xx fault is armed."""
        if (venue, symbol) not in self.markets:
            return
        faults = self.faults.of(venue, symbol)
        if faults.snapshot_429:
            faults.snapshot_429 -= 1
            self.faults.count(venue, symbol, "snapshot_429")
            raise SnapshotFault(429, faults.retry_after)
        if faults.snapshot_5xx:
            faults.snapshot_5xx -= 1
            self.faults.count(venue, symbol, "snapshot_5xx")
            raise SnapshotFault(503)

    def stats(self) -> dict[str, Any]:
        """Counters: connections, requests, injected faults."""
        return {
            "steps": self.steps,
            "websocket": dict(self.ws.counts),
            "http": dict(self.http.counts),
            "private": dict(self.ws.private.counts),
            "faults": {"/".join(k): v for k, v in sorted(self.faults.counts.items())},
        }
