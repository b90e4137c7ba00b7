"""What the simulator's sides read from the simulator that runs them.

The websocket side, the HTTP side, the private streams, the trading routes and the XT
compatibility each hold the :class:`~feeds.sim.simulator.Simulator` they serve, but they
type it as :class:`SimContext`: the few attributes and methods they use, and nothing
else. The simulator satisfies it (structurally, without naming it), so the sides depend
on this module and the simulator depends on the sides, never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from orderbook import Venue

from .auth import ApiKey
from .exchange import SymbolMarket
from .faultset import FaultBoard
from .trading import Desk


class SimContext(Protocol):
    """The simulator as its sides see it (see the module docstring)."""

    #: ``(venue, symbol)`` -> the market of that symbol.
    markets: dict[tuple[Venue, str], SymbolMarket]
    #: The fault knobs and their counters.
    faults: FaultBoard
    #: Accounts and order handling.
    desk: Desk
    #: API key -> its key pair and account.
    api_keys: dict[str, ApiKey]
    #: Seconds without a client ping before a connection is closed, per venue.
    ping_timeouts: dict[Venue, float]
    #: Path -> requests per second per client address, overriding the documented limit.
    rate_limits: dict[str, int]
    #: Factor applied to every rate limit.
    rate_limit_scale: float
    #: Serve the XT behaviours the document does not specify.
    xt_compat: bool

    @property
    def header_prefixes(self) -> tuple[str, ...]:
        """The signature header spellings accepted."""
        ...

    def now(self) -> float:
        """Monotonic seconds (heartbeat bookkeeping)."""
        ...

    def clock_ms(self) -> int:
        """Epoch milliseconds stamped into payloads (simulated time)."""
        ...

    def server_time_ms(self) -> int:
        """The exchange's wall clock in ms."""
        ...

    def snapshot(
        self, market: SymbolMarket, depth: int
    ) -> tuple[int, list[list[str]], list[list[str]]]:
        """A REST depth snapshot of ``market`` (with its lag fault, if armed)."""
        ...

    def snapshot_fault(self, venue: Venue, symbol: str) -> None:
        """Raise the armed snapshot fault of ``symbol``, if any."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters: connections, requests, injected faults."""
        ...


#: A public HTTP endpoint's result builder: ``handler(sim, query) -> result``.
Handler = Callable[[SimContext, dict[str, str]], Any]
