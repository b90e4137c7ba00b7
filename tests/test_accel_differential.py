"""Differential test: the compiled accelerator against the pure-Python reference.

Hypothesis draws a session: raw frames (well-formed, chained or not, duplicated, with
good and bad spellings, wrong symbols, wrong shapes, broken or odd JSON: spaced, reordered,
text or bytes, extra keys, escapes, duplicate keys, trailing garbage) and snapshots (good or
bad), for spot and for futures under each chain rule, fed through ``on_frame`` (the raw
bytes path) or ``parse_depth_update`` + ``on_update``. The session is played once on each
path, from fresh objects; every step's outcome (the decision, or the exception's type and
message), the counters, the sequencer's violation counts, the state, the reason and the
whole book must be identical.
"""

from __future__ import annotations

import json
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

BID_PRICES = ["99", "99.0", "99.00", "98.5", "98.50", "97", "9.9e1", "9.85E1", "96.25",
              "99.00000000000000000001", "98.99999999999999999"]  # fmt: skip
ASK_PRICES = ["101", "101.0", "101.00", "102.25", "1.01e2", "103", "104.5",
              "101.0000000000000000001", "100.99999999999999999"]  # fmt: skip
BAD_PRICES = ["100", "5_5", " 99", "\u0669\u0669", "1e400", "0", "-1", "", "1e-18", 100, None,
              True]  # fmt: skip
QTYS = ["1", "0", "0.000", "2.5", ".5", "5.", "0E-8", "1e-3", "1" * 31, "0" * 31, "1.2.3",
        "", ".", "-1", "+1", " 1", "5_5", "1e400", 1, None, "00", "0.10", "\u0665"]  # fmt: skip
GOOD_QTYS = ["1", "0", "0.000", "2.5", ".5", "5.", "0.10", "00", "0E-8", "1e-3"]


def levels(good: bool, side: str = "b") -> st.SearchStrategy[list[Any]]:
    prices = BID_PRICES if side == "b" else ASK_PRICES
    plain = st.sampled_from([p for p in prices if len(p) <= 6 and "e" not in p.lower()])
    price = st.one_of(plain, plain, plain, plain, plain, plain, st.sampled_from(prices),
                      *(() if good else (st.sampled_from(BAD_PRICES),)))  # fmt: skip
    qty = st.sampled_from(GOOD_QTYS[:8]) if good else st.sampled_from(QTYS + GOOD_QTYS)
    item = st.one_of(
        st.tuples(price, qty).map(list),
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
    for _ in range(draw(st.integers(1, 50))):
        kind = draw(st.sampled_from(["event"] * 12 + ["snapshot"] * 2 + ["garbage"]))
        good = draw(st.integers(0, 9)) > 0
        if kind == "snapshot":
            snap_id = draw(st.integers(last - 3, last + 2))
            payload = {"bids": draw(levels(good, "b")), "asks": draw(levels(good, "a"))}
            steps.append(("snapshot", (snap_id, payload)))
            continue
        if kind == "garbage":
            steps.append(("frame", draw(st.sampled_from(
                [b"{", b"[]", b'{"topic":"depth_update"}', b'{"topic":"x","data":{}}',
                 b'{"topic":"depth_update","data":{"s":["x"],"fi":1,"i":2,"a":[],"b":[]}}',
                 b'{"topic":"depth_update","data":{"s":"btc_usdt","fi":"1","i":2,"a":[],"b":[]}}',
                 b'{"topic":"depth_update","data":{"s":"btc_usdt","fi":3,"i":2,"a":[],"b":[]}}',
                 b'{"topic":"depth_update","data":{"s":"btc_usdt","pu":2,"fu":1,"u":2,"a":[],"b":[]}}',
                 b'{"topic":"depth_update","event":nonsense,"data":{"s":"btc_usdt","fi":101,"i":101,"a":[],"b":[]}}',
                 b'{"topic":"depth_update","data":{"s":"btc_usdt","fi":101,"i":101,"a":[],"b":[]},}',
                 b'{"topic":"depth_update","data":{"s":"btc_usdt","fi":101,"i":101,"a":[],"b":[],"a":[["1","1"]]}}',
                 b'{"topic":"depth_update","data":{"s":"btc_usdt","fi":0101,"i":101,"a":[],"b":[]}}',
                 b'{"topic":"depth_update","data":{"s":"btc\\u005fusdt","fi":101,"i":101,"a":[],"b":[]}}',
                 b'{"topic":"depth_update","data":{"s":"btc_usdt","fi":101,"i":101,"a":[],"b":[["100","1"]]}} x']  # noqa: E501
            ))))  # fmt: skip
            continue
        step = draw(st.sampled_from([1] * 12 + [0, -1, 2, 3]))
        first = last + max(step, 1) if step > 0 else last + step
        width = draw(st.integers(0, 2))
        end = first + width
        pu = draw(st.sampled_from([last] * 8 + [prev, last + 1]))
        symbol = draw(st.sampled_from(["btc_usdt"] * 19 + ["eth_usdt"]))
        data: dict[str, Any] = {"s": symbol, "a": draw(levels(good, "a")),
                                "b": draw(levels(good, "b"))}  # fmt: skip
        if venue == "spot":
            data.update(fi=first, i=end)
        else:
            skip = draw(st.sampled_from([0, 0, 0, 1]))
            data.update(pu=pu, fu=first + skip, u=end + skip, t=1)
            end += skip
        push: dict[str, Any] = {"topic": "depth_update", "event": "depth_update@x", "data": data}
        style = draw(st.sampled_from(["compact"] * 5 + ["spaced", "reordered", "text", "extra"]))
        if style == "reordered":  # asks before bids, ids last, topic after data
            data = dict(reversed(list(data.items())))
            push = {"data": data, "topic": "depth_update"}
        if style == "extra":
            data["x"] = draw(st.sampled_from([None, True, -1.5e3, [1, {"a": []}], "\u00e9"]))
        frame: Any = orjson.dumps(push)
        if style == "spaced":
            frame = json.dumps(push, indent=draw(st.sampled_from([None, 1]))).encode()
        elif style == "text":
            frame = frame.decode()
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


def play(venue: str, rule: str, steps: list[tuple[str, Any]], via_frame: bool) -> list[Any]:
    seq = SpotSequencer() if venue == "spot" else FuturesSequencer(rule)
    sync = BookSync("btc_usdt", seq, max_buffer=8, max_unapplied=4)
    trace: list[Any] = []
    for kind, payload in steps:
        if kind == "frame":
            if via_frame:
                trace.append(outcome(sync.on_frame, payload))
            else:
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
@given(sessions(), st.booleans())
def test_sessions_are_identical_on_both_paths(session: tuple[str, str, list], via: bool) -> None:
    reference, compiled = on_both(play, *session, via)
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
@given(levels(False), st.lists(st.tuples(levels(False), levels(False, "a")), max_size=8))
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


def test_plain_chained_frames_take_the_raw_bytes_path_with_the_same_result() -> None:
    # A deterministic session of the hot case: LIVE, chained, plain frames, spot and futures
    # (fu running ahead under the pu rule on every other frame). The compiled run must take
    # on_frame's fast path for them, and still match the reference step for step.
    from orderbook import _speedups  # type: ignore[attr-defined]

    snapshot = ("snapshot", (100, {"bids": [["99", "1"]], "asks": [["101", "1"]]}))
    for venue in ("spot", "futures"):
        steps: list[tuple[str, Any]] = [snapshot]
        last = 100
        for n in range(60):
            data: dict[str, Any] = {
                "s": "btc_usdt",
                "b": [[f"{98 + n % 2}.{n % 7}", "0" if n % 5 == 0 else "2.5"]],
                "a": [[f"{101 + n % 3}", str(n % 4)]],
            }
            if venue == "spot":
                data.update(fi=last + 1, i=last + 1)
                last += 1
            else:
                skip = n % 2  # fu runs ahead of u + 1 while pu chains
                data.update(pu=last, fu=last + 1 + skip, u=last + 1 + skip, t=n)
                last += 1 + skip
            frame = {"topic": "depth_update", "event": "depth_update@btc_usdt", "data": data}
            steps.append(("frame", orjson.dumps(frame)))
        before = _speedups.frame_stats()[0]
        reference, compiled = on_both(play, venue, "pu", steps, True)
        assert compiled == reference
        assert _speedups.frame_stats()[0] - before >= 55, venue


def test_frame_symbol_reads_plain_pushes_only() -> None:
    from orderbook import parse

    with accel.path(True):
        symbol_of = parse._compiled_frame_symbol
        assert symbol_of is not None
        plain = {"topic": "depth_update", "data": {"s": "eth_usdt", "fi": 1, "i": 2, "a": [],
                                                   "b": [["1", "2"]]}}  # fmt: skip
        assert symbol_of(orjson.dumps(plain), True) == "eth_usdt"
        assert symbol_of(json.dumps(plain, indent=1), True) == "eth_usdt"
        assert symbol_of(orjson.dumps(plain), False) is None  # no pu/fu/u: not a futures push
        assert symbol_of(b'{"topic":"depth_update"}', True) is None
        assert symbol_of(orjson.dumps(plain)[:-1], True) is None
    with accel.path(False):
        assert parse._compiled_frame_symbol is None
