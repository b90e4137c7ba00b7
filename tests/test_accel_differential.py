"""Differential test: the compiled accelerator against the pure-Python reference.

Hypothesis draws a session: raw frames (well-formed, chained or not, duplicated, with
good and bad spellings, wrong symbols, wrong shapes, broken JSON) and snapshots (good or
bad), for spot and for futures under each chain rule. The session is played once on each
path, from fresh objects; every step's outcome (the decision, or the exception's type and
message), the counters, the sequencer's violation counts, the state, the reason and the
whole book must be identical.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderbook import (
    BookSync,
    ChainRule,
    FuturesSequencer,
    OrderBook,
    SpotSequencer,
    Venue,
    accel,
    futures_snapshot,
    parse_depth_update,
    spot_snapshot,
)

pytestmark = pytest.mark.skipif(
    not accel.AVAILABLE, reason=f"compiled accelerator {accel.UNAVAILABLE}"
)

PRICES = ["100", "100.0", "100.00", "101", "99.5", "99.50", "1e2", "1.005E2", "98", "102.25",
          "100.0000000000000000001", "99.99999999999999999", "0.1", "1e-18", "5_5", " 99",
          "\u0669\u0669", "1e400", "0", "-1", "", 100, None, True]  # fmt: skip
QTYS = ["1", "0", "0.000", "2.5", ".5", "5.", "0E-8", "1e-3", "1" * 31, "0" * 31, "1.2.3",
        "", ".", "-1", "+1", " 1", "5_5", "1e400", 1, None, "00", "0.10", "\u0665"]  # fmt: skip
GOOD_PRICES = PRICES[:12]
GOOD_QTYS = QTYS[:8]


def levels(good: bool) -> st.SearchStrategy[list[Any]]:
    level = st.lists(
        st.sampled_from(GOOD_PRICES if good else PRICES), min_size=1, max_size=1
    ).flatmap(lambda p: st.tuples(st.just(p[0]), st.sampled_from(GOOD_QTYS if good else QTYS)))
    item = st.one_of(
        level.map(list),
        *(() if good else (st.sampled_from(["95", None, ["1"], ["1", "2", "3"], {"9": 1}]),)),
    )
    return st.lists(item, max_size=6)


@st.composite
def sessions(draw: st.DrawFn) -> tuple[str, str, list[tuple[str, Any]]]:
    venue = draw(st.sampled_from(["spot", "futures"]))
    rule = draw(st.sampled_from(list(ChainRule)))
    steps: list[tuple[str, Any]] = []
    last = 100
    prev = 99
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["event"] * 6 + ["snapshot", "garbage"]))
        good = draw(st.integers(0, 4)) > 0
        if kind == "snapshot":
            snap_id = draw(st.integers(last - 3, last + 2))
            payload = {"bids": draw(levels(good)), "asks": draw(levels(good))}
            steps.append(("snapshot", (snap_id, payload)))
            continue
        if kind == "garbage":
            steps.append(("frame", draw(st.sampled_from(
                [b"{", b"[]", b'{"topic":"depth_update"}', b'{"topic":"x","data":{}}',
                 b'{"topic":"depth_update","data":{"s":["x"],"fi":1,"i":2,"a":[],"b":[]}}',
                 b'{"topic":"depth_update","data":{"s":"btc_usdt","fi":"1","i":2,"a":[],"b":[]}}',
                 b'{"topic":"depth_update","data":{"s":"btc_usdt","fi":3,"i":2,"a":[],"b":[]}}',
                 b'{"topic":"depth_update","data":{"s":"btc_usdt","pu":2,"fu":1,"u":2,"a":[],"b":[]}}']
            ))))  # fmt: skip
            continue
        step = draw(st.sampled_from([1, 1, 1, 1, 0, -1, 2, 3]))
        first = last + max(step, 1) if step > 0 else last + step
        width = draw(st.integers(0, 2))
        end = first + width
        pu = draw(st.sampled_from([last, last, prev, last + 1]))
        symbol = draw(st.sampled_from(["btc_usdt"] * 9 + ["eth_usdt"]))
        data: dict[str, Any] = {"s": symbol, "a": draw(levels(good)), "b": draw(levels(good))}
        if venue == "spot":
            data.update(fi=first, i=end)
        else:
            skip = draw(st.sampled_from([0, 0, 0, 1]))
            data.update(pu=pu, fu=first + skip, u=end + skip, t=1)
            end += skip
        frame = orjson.dumps({"topic": "depth_update", "event": "depth_update@x", "data": data})
        steps.append(("frame", frame))
        if end > last:
            prev, last = last, end
    return venue, rule.value, steps


def outcome(fn, *args) -> tuple[str, str]:
    try:
        result = fn(*args)
    except Exception as exc:
        return ("raise", f"{type(exc).__name__}: {exc}")
    return ("ok", repr(result))


def play(venue: str, rule: str, steps: list[tuple[str, Any]]) -> list[Any]:
    seq = SpotSequencer() if venue == "spot" else FuturesSequencer(rule)
    sync = BookSync("btc_usdt", seq, max_buffer=8, max_unapplied=4)
    trace: list[Any] = []
    for kind, payload in steps:
        if kind == "frame":
            try:
                event = parse_depth_update(payload, Venue(venue))
            except Exception as exc:
                trace.append(("parse", f"{type(exc).__name__}: {exc}"))
                continue
            trace.append(("event", event))
            trace.append(outcome(sync.on_update, event))
        else:
            snap_id, levels_ = payload
            try:
                if venue == "spot":
                    snap = spot_snapshot({"lastUpdateId": snap_id, **levels_}, "btc_usdt")
                else:
                    result = {"u": snap_id, "s": "btc_usdt", "b": levels_["bids"],
                              "a": levels_["asks"]}  # fmt: skip
                    snap = futures_snapshot(result)
            except Exception as exc:
                trace.append(("snapshot-parse", f"{type(exc).__name__}: {exc}"))
                continue
            trace.append(outcome(sync.on_snapshot, snap))
        book = sync.book
        trace.append((
            sync.state, sync.reason, sync.update_id, sync.generation, sync.snapshot_wanted,
            dict(sync.counts), repr(seq), len(sync.buffer),
            None if book is None else (list(book.bids.items()), list(book.asks.items())),
            None if book is None else (book.depth(5), book.best_bid(), book.best_ask(),
                                      book.best_quotes(), book.arrays(4)[0].tolist()),
        ))  # fmt: skip
        if book is not None:
            for side in (book.bids, book.asks):
                side._check()  # SortedDict invariants hold on both paths
    return trace


def on_both(fn, *args) -> tuple[Any, Any]:
    with accel.path(False):
        reference = fn(*args)
    with accel.path(True):
        compiled = fn(*args)
    return reference, compiled


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_sessions_are_identical_on_both_paths(session: tuple[str, str, list]) -> None:
    reference, compiled = on_both(play, *session)
    assert compiled == reference


def apply_trace(start: list, events: list[tuple[list, list]]) -> list:
    try:
        book = OrderBook.from_levels(start, [])
    except Exception as exc:
        return [("build", f"{type(exc).__name__}: {exc}")]
    trace: list[Any] = [("built", list(book.bids.items()))]
    for bids, asks in events:
        trace.append(outcome(book.apply, bids, asks))
        trace.append((list(book.bids.items()), list(book.asks.items()), book.depth(3),
                      book.depth(), book.best_bid(), book.best_ask(), book.best_quotes(),
                      [a.tolist() for a in book.arrays()],
                      [a.tolist() for a in book.arrays(2)]))  # fmt: skip
        book.bids._check()
        book.asks._check()
    return trace


@settings(max_examples=150, deadline=None)
@given(levels(False), st.lists(st.tuples(levels(False), levels(False)), max_size=8))
def test_apply_and_build_are_identical_on_both_paths(start: list, events: list) -> None:
    reference, compiled = on_both(apply_trace, start, events)
    assert compiled == reference


def test_a_large_side_takes_the_general_path_on_both() -> None:
    start = [[f"{1000 + n}", "1"] for n in range(2500)]  # several sublists
    events = [([[f"{1000 + n}", "0"], [f"{5000 + n}.5", "2"], ["95", "1"]], []) for n in range(5)]
    events.append(([["1e-18", "0E-8"], "95"], []))
    reference, compiled = on_both(apply_trace, start, events)
    assert compiled == reference
    assert any(step[0] == "raise" for step in reference if isinstance(step, tuple))
