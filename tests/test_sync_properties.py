"""Property tests: random streams with random faults against a Decimal reference model.

The machine plays the exchange: it keeps the true book (a dict of Decimal per
side) after every event id, sends events through a "wire" it can damage
(drop, duplicate, reorder), and serves snapshots, fresh or lagging. The sync
under test sees only raw frames and snapshots, through the real parse path.

Invariants, after every step:
- whenever the book says LIVE, it equals the truth at its ``update_id``;
- it never says LIVE across a gap: every event between the accepted snapshot
  and ``update_id`` reached it;
- it is never crossed while LIVE (the input never is);
- it never steps back in time: the ids it serves as LIVE only go forward, across
  feed losses, resyncs and lagging snapshots;
- the buffer stays within its bound, and the sorted keys stay consistent.
"""

from __future__ import annotations

from decimal import Decimal

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from orderbook import (
    BookSync,
    ChainRule,
    Decision,
    FuturesSequencer,
    SpotSequencer,
    SyncState,
    accel,
    futures_snapshot,
    parse_depth_update,
    spot_snapshot,
    to_decimal,
)

BASES = [Decimal("0.1"), Decimal("1e-10"), Decimal("100000000"), Decimal("0.01")]
ZERO_SPELLINGS = ["0", "0.0", "0.000", "00.00"]


def spellings(value: Decimal) -> list[str]:
    """Several spellings of one non-negative decimal value."""
    plain = format(value, "f")
    out = [plain]
    out.append(plain + "0" if "." in plain else plain + ".0")
    out.append(plain + "000" if "." in plain else plain + ".000")
    return out


class Event:
    def __init__(self, first: int, last: int, prev: int, bids, asks) -> None:
        self.first, self.last, self.prev = first, last, prev
        self.bids, self.asks = bids, asks
        self.delivered = False


class SyncMachine(RuleBasedStateMachine):
    venue = "spot"
    rule_kind = ChainRule.PU
    skips_allowed = False

    def __init__(self) -> None:
        super().__init__()
        self.truth: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
        self.last_id = 100
        self.history: dict[int, tuple[dict, dict]] = {100: ({}, {})}
        self.events: list[Event] = []
        self.wire: list[Event] = []
        self.accepted_snapshot: int | None = None
        self.max_served = 0
        sequencer = SpotSequencer() if self.venue == "spot" else FuturesSequencer(self.rule_kind)
        self.sync = BookSync("sym", sequencer, max_buffer=8)

    @initialize(base=st.sampled_from(BASES))
    def pick_base(self, base: Decimal) -> None:
        self.base = base

    # -- the exchange ------------------------------------------------------

    @rule(data=st.data(), ids=st.integers(1, 3), skip=st.integers(0, 2))
    def emit(self, data: st.DataObject, ids: int, skip: int) -> None:
        """The exchange produces an event of random changes (never crossing)."""
        changes: dict[str, list[list[str]]] = {"b": [], "a": []}
        for side, ticks in (("b", range(1, 11)), ("a", range(11, 21))):
            n = data.draw(st.integers(0, 4))
            chosen = data.draw(
                st.lists(st.sampled_from(list(ticks)), min_size=n, max_size=n, unique=True)
            )
            for tick in chosen:
                price = self.base * tick
                p_text = data.draw(st.sampled_from(spellings(price)))
                if data.draw(st.integers(0, 3)) == 0:  # delete, present or not
                    q_text = data.draw(st.sampled_from(ZERO_SPELLINGS))
                    self.truth[side].pop(price, None)
                else:
                    qty = Decimal(data.draw(st.integers(1, 999))) / 100
                    q_text = data.draw(st.sampled_from(spellings(qty)))
                    self.truth[side][price] = qty
                changes[side].append([p_text, q_text])
        prev = self.last_id
        first = prev + 1 + (skip if self.skips_allowed else 0)
        last = max(first, prev + ids)
        self.last_id = last
        self.history[last] = (dict(self.truth["b"]), dict(self.truth["a"]))
        event = Event(first, last, prev, changes["b"], changes["a"])
        self.events.append(event)
        self.wire.append(event)

    def frame(self, e: Event) -> bytes:
        if self.venue == "spot":
            data = {"s": "sym", "fi": e.first, "i": e.last, "a": e.asks, "b": e.bids}
        else:
            data = {
                "s": "sym",
                "pu": e.prev,
                "fu": e.first,
                "u": e.last,
                "a": e.asks,
                "b": e.bids,
                "t": 1,
            }
        return orjson.dumps({"topic": "depth_update", "event": "depth_update@sym", "data": data})

    def send(self, e: Event) -> None:
        e.delivered = True
        self.sync.on_update(parse_depth_update(self.frame(e), self.venue))

    # -- the wire, with faults ------------------------------------------------

    @precondition(lambda self: self.wire)
    @rule()
    def deliver(self) -> None:
        self.send(self.wire.pop(0))

    @precondition(lambda self: self.wire)
    @rule()
    def drop(self) -> None:
        self.wire.pop(0)

    @precondition(lambda self: self.wire)
    @rule()
    def duplicate(self) -> None:
        event = self.wire.pop(0)
        self.send(event)
        self.send(event)

    @precondition(lambda self: len(self.wire) >= 2)
    @rule()
    def reorder(self) -> None:
        self.wire[0], self.wire[1] = self.wire[1], self.wire[0]

    @precondition(lambda self: any(e.delivered for e in self.events))
    @rule()
    def redeliver_old(self) -> None:
        self.send(next(e for e in reversed(self.events) if e.delivered))

    # -- snapshots and owner actions ---------------------------------------------

    def snapshot_at(self, snap_id: int):
        bids, asks = self.history[snap_id]
        b = [[format(p, "f"), format(q, "f")] for p, q in sorted(bids.items(), reverse=True)]
        a = [[format(p, "f"), format(q, "f")] for p, q in sorted(asks.items())]
        if self.venue == "spot":
            return spot_snapshot({"lastUpdateId": snap_id, "bids": b, "asks": a}, "sym")
        return futures_snapshot({"u": snap_id, "b": b, "a": a, "s": "sym", "t": 0})

    @rule(lag=st.integers(0, 8))
    def snapshot(self, lag: int) -> None:
        """Serve a snapshot, fresh (lag 0) or lagging behind the exchange by a few events."""
        ids = sorted(self.history)
        snap_id = ids[max(0, len(ids) - 1 - lag)]
        if self.sync.on_snapshot(self.snapshot_at(snap_id)) is Decision.SNAPSHOT_ACCEPTED:
            self.accepted_snapshot = snap_id

    @rule()
    def mark_stale(self) -> None:
        self.sync.mark_stale()

    @rule()
    def request_resync(self) -> None:
        self.sync.request_resync("test")

    @rule()
    def feed_down(self) -> None:
        """The websocket is lost: what was on the wire is gone."""
        self.sync.feed_down("test: connection lost")
        self.wire.clear()

    @precondition(lambda self: self.sync.state is SyncState.DISCONNECTED)
    @rule()
    def reconnect(self) -> None:
        self.sync.request_resync("reconnected")

    @rule()
    def heal(self) -> None:
        """Deliver everything in order, then a fresh snapshot: the book must end LIVE and exact."""
        if self.sync.state is SyncState.DISCONNECTED:
            self.sync.request_resync("reconnected")
        while self.wire:
            self.send(self.wire.pop(0))
        if not self.sync.is_live:
            decision = self.sync.on_snapshot(self.snapshot_at(self.last_id))
            assert decision is Decision.SNAPSHOT_ACCEPTED, (decision, self.sync.reason)
            self.accepted_snapshot = self.last_id
        assert self.sync.is_live

    # -- invariants ----------------------------------------------------------------

    @invariant()
    def live_book_equals_truth(self) -> None:
        sync = self.sync
        if sync.state is not SyncState.LIVE:
            return
        book = sync.book
        bids = {to_decimal(k): to_decimal(v) for k, v in book.bids.items()}
        asks = {to_decimal(k): to_decimal(v) for k, v in book.asks.items()}
        true_bids, true_asks = self.history[sync.update_id]
        assert bids == true_bids
        assert asks == true_asks

    @invariant()
    def never_live_across_a_gap(self) -> None:
        sync = self.sync
        if sync.state is not SyncState.LIVE:
            return
        low, high = self.accepted_snapshot, sync.update_id
        missing = [e.last for e in self.events if low < e.last <= high and not e.delivered]
        assert not missing, f"LIVE at {high} after snapshot {low} without events {missing}"

    @invariant()
    def never_steps_back_in_time(self) -> None:
        sync = self.sync
        if sync.state is not SyncState.LIVE:
            return
        assert sync.update_id >= self.max_served, (
            f"served {self.max_served}, then LIVE at {sync.update_id}"
        )
        self.max_served = sync.update_id

    @invariant()
    def never_crossed_while_live(self) -> None:
        if self.sync.state is SyncState.LIVE:
            assert not self.sync.book.is_crossed()

    @invariant()
    def structures_consistent(self) -> None:
        assert len(self.sync.buffer) <= self.sync.max_buffer
        if self.sync.book is not None:
            self.sync.book.bids._list._check()
            self.sync.book.asks._list._check()


class FuturesPuMachine(SyncMachine):
    """Futures with the default ``pu`` rule, and ``fu`` skipping ids as throttled streams do."""

    venue = "futures"
    rule_kind = ChainRule.PU
    skips_allowed = True


class FuturesBothMachine(SyncMachine):
    """Futures with both rules enforced (no id skips: every event chains both ways)."""

    venue = "futures"
    rule_kind = ChainRule.BOTH
    skips_allowed = False


class FuturesFuStrictWithSkipsMachine(SyncMachine):
    """The document's ``fu`` rule on a stream that skips ids: it must stay safe (never wrong)."""

    venue = "futures"
    rule_kind = ChainRule.FU
    skips_allowed = True

    @rule()
    def heal(self) -> None:  # the fu rule cannot chain across skips; only safety is claimed
        pass


_settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

def _on_path(machine: type[RuleBasedStateMachine], compiled: bool) -> type:
    """``machine``'s test case, run on one hot path (see :mod:`orderbook.accel`)."""

    class Case(machine.TestCase):  # type: ignore[name-defined,misc]
        settings = _settings

        def setUp(self) -> None:
            if compiled and not accel.AVAILABLE:
                self.skipTest(f"compiled accelerator {accel.UNAVAILABLE}")
            self._before = accel.active() == "compiled"
            accel.use(compiled)

        def tearDown(self) -> None:
            accel.use(self._before)

    Case.__name__ = Case.__qualname__ = f"{machine.__name__}{'Compiled' if compiled else 'Python'}"
    return Case


TestSpotSync = _on_path(SyncMachine, False)
TestSpotSyncCompiled = _on_path(SyncMachine, True)
TestFuturesPuSync = _on_path(FuturesPuMachine, False)
TestFuturesPuSyncCompiled = _on_path(FuturesPuMachine, True)
TestFuturesBothSync = _on_path(FuturesBothMachine, False)
TestFuturesBothSyncCompiled = _on_path(FuturesBothMachine, True)
TestFuturesFuSync = _on_path(FuturesFuStrictWithSkipsMachine, False)
TestFuturesFuSyncCompiled = _on_path(FuturesFuStrictWithSkipsMachine, True)
