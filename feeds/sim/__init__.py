"""The embedded WEX simulator: real websocket and HTTP servers on loopback.

- :mod:`feeds.sim.flow`: deterministic, exact order flow for one symbol.
- :mod:`feeds.sim.exchange`: a symbol's market state (trades, candles, undo history).
- :mod:`feeds.sim.faultset`: the fault knobs and their counters.
- :mod:`feeds.sim.wsside` / :mod:`feeds.sim.httpside`: the two servers' protocols.
- :mod:`feeds.sim.auth`, :mod:`feeds.sim.trading`, :mod:`feeds.sim.tradingroutes`,
  :mod:`feeds.sim.privateside`: the trading side (signature checks, accounts, orders,
  fills, positions, private streams).
- :mod:`feeds.sim.xtcompat`: the optional XT compatibility (``xt_compat``) that lets
  XT.com's own clients (ccxt, ccxt.pro, pyxt) run unchanged against the simulator.
- :mod:`feeds.sim.context`: :class:`~feeds.sim.context.SimContext`, the simulator as the
  sides above see it (they depend on it, not on the simulator);
- :mod:`feeds.sim.simulator`: :class:`Simulator`, which runs them (``async with``);
  :mod:`feeds.sim.background`: the same in a background thread, for synchronous code.

``wexbook sim`` and ``wexbook sim-fault`` are in :mod:`feeds.apps.sim`.
"""

from .exchange import BookTruth
from .faultset import FaultBoard, Faults
from .flow import FlowConfig, OrderFlow
from .simulator import DEMO_API_KEY, DEMO_SECRET, Simulator

__all__ = [
    "DEMO_API_KEY",
    "DEMO_SECRET",
    "BookTruth",
    "FaultBoard",
    "Faults",
    "FlowConfig",
    "OrderFlow",
    "Simulator",
]
