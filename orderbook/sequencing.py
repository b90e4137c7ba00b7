"""Sequencing rules: which event may follow a snapshot, and which may follow an event.

Sans-I/O and stateless apart from violation counters: a :class:`Sequencer`
answers two questions for :class:`orderbook.sync.BookSync`, which owns the
state. Each venue has one class, following the API document:

Spot ("Orderbook manage"), snapshot ``lastUpdateId`` = L:
  4. drop events with ``i <= L``;
  5. the first processed event has ``fi <= L+1 <= i``;
  6. afterwards each event's ``fi`` equals the previous event's ``i + 1``.

Futures ("Orderbook Management"), snapshot ``u`` = L:
  4. drop events with ``u <= L``;
  5. the first processed event has ``fu <= L+1 <= u``;
  6. the document says each event's ``fu`` equals the previous ``u + 1``.

Every futures event also carries ``pu``, the ``u`` of the previous event of
the stream, whose only purpose is chaining. Throttled streams
(``depth_update@sym,250ms``) merge updates: ids are consumed inside a merged
event, so ``fu`` may run ahead of ``previous u + 1`` while ``pu`` still
chains. :class:`FuturesSequencer` therefore enforces ``pu == previous u`` by
default; :class:`ChainRule` selects the ``fu`` rule, either, or both. Both
rules are evaluated on every event and their violations counted separately.
For the first event after a snapshot the same choice applies: ``fu <= L+1``
(rule 5) or ``pu <= L`` (the event chains from at or before the snapshot).
"""

from __future__ import annotations

from enum import StrEnum

from .events import DepthUpdate, Venue


class ChainRule(StrEnum):
    """Which futures continuity rule(s) must hold between consecutive events."""

    PU = "pu"  #: ``pu == previous u`` (default)
    FU = "fu"  #: ``fu == previous u + 1`` (the document's step 6)
    EITHER = "either"  #: at least one of the two
    BOTH = "both"  #: both of them


class Sequencer:
    """Shared machinery: the venue's rules as two predicates over update ids.

    ``last_id`` of an event is its ``i`` (spot) or ``u`` (futures); an event
    with ``last_id <= L`` is older than a snapshot at L and is dropped, and
    one with ``last_id <=`` the last applied id is a duplicate. Both checks are
    the same on every venue and live in ``BookSync``.
    """

    venue: Venue

    def follows_snapshot(self, event: DepthUpdate, snapshot_id: int) -> bool:
        """Rule 5: may ``event`` be the first applied on a snapshot at ``snapshot_id``?

        Called only for events with ``last_id > snapshot_id``.
        """
        raise NotImplementedError

    def follows_event(self, event: DepthUpdate, last_id: int) -> bool:
        """Rule 6: may ``event`` be applied right after the event that ended at ``last_id``?

        Called only for events with ``last_id`` greater than the previous one.
        """
        raise NotImplementedError

    def describe(self) -> str:
        """Short human description of the rules in force."""
        raise NotImplementedError


class SpotSequencer(Sequencer):
    """Spot rules: ``fi <= L+1 <= i`` after a snapshot, then ``fi == previous i + 1``."""

    venue = Venue.SPOT

    def __init__(self) -> None:
        self.fi_violations = 0

    def follows_snapshot(self, event: DepthUpdate, snapshot_id: int) -> bool:
        return event.first_id <= snapshot_id + 1

    def follows_event(self, event: DepthUpdate, last_id: int) -> bool:
        if event.first_id == last_id + 1:
            return True
        self.fi_violations += 1
        return False

    def describe(self) -> str:
        return "spot: fi == previous i + 1"

    def __repr__(self) -> str:
        return f"SpotSequencer(fi_violations={self.fi_violations})"


class FuturesSequencer(Sequencer):
    """Futures rules, with the continuity rule selectable (see :class:`ChainRule`).

    ``pu_violations`` and ``fu_violations`` count, separately, every event on
    which each rule failed, whichever rule is enforced.
    """

    venue = Venue.FUTURES

    def __init__(self, rule: ChainRule | str = ChainRule.PU) -> None:
        self.rule = ChainRule(rule)
        self.pu_violations = 0
        self.fu_violations = 0

    def _combine(self, pu_ok: bool, fu_ok: bool) -> bool:
        rule = self.rule
        if rule is ChainRule.PU:
            return pu_ok
        if rule is ChainRule.FU:
            return fu_ok
        if rule is ChainRule.EITHER:
            return pu_ok or fu_ok
        return pu_ok and fu_ok

    def follows_snapshot(self, event: DepthUpdate, snapshot_id: int) -> bool:
        prev = event.prev_id
        pu_ok = prev is not None and prev <= snapshot_id
        return self._combine(pu_ok, event.first_id <= snapshot_id + 1)

    def follows_event(self, event: DepthUpdate, last_id: int) -> bool:
        pu_ok = event.prev_id == last_id
        fu_ok = event.first_id == last_id + 1
        if pu_ok and fu_ok:
            return True
        if not pu_ok:
            self.pu_violations += 1
        if not fu_ok:
            self.fu_violations += 1
        return self._combine(pu_ok, fu_ok)

    def describe(self) -> str:
        return {
            ChainRule.PU: "futures: pu == previous u",
            ChainRule.FU: "futures: fu == previous u + 1",
            ChainRule.EITHER: "futures: pu == previous u, or fu == previous u + 1",
            ChainRule.BOTH: "futures: pu == previous u and fu == previous u + 1",
        }[self.rule]

    def __repr__(self) -> str:
        return (
            f"FuturesSequencer(rule={self.rule.value!r}, pu_violations={self.pu_violations}, "
            f"fu_violations={self.fu_violations})"
        )


def sequencer_for(venue: Venue | str, rule: ChainRule | str = ChainRule.PU) -> Sequencer:
    """A fresh sequencer for ``venue`` (``rule`` applies to futures only)."""
    venue = Venue(venue)
    return SpotSequencer() if venue is Venue.SPOT else FuturesSequencer(rule)
