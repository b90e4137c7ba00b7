"""The embedded WEX simulator's building blocks.

:mod:`feeds.sim.flow` generates deterministic, consistent order flow for one
symbol: exact books (integer ticks), update ids, and ``depth_update`` frames
in the spot or futures wire format.
"""

from .flow import FlowConfig, OrderFlow

__all__ = ["FlowConfig", "OrderFlow"]
