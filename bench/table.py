"""The README's performance table: wexbook (compiled and pure) beside the baseline and peers.

``python -m bench.compare --peers`` calls :func:`print_table`. Every figure comes from
this one run, interleaved: each round times every contender once, in turn, on the same
frames, and the table gives medians and their ratios to the baseline (two ``SortedDict``s
of floats, orjson; see :mod:`bench.runners`).

Rows:

- end to end: raw frame -> applied book (wexbook: ``BookSync.on_frame``, which is
  ``parse_depth_update`` -> ``on_update``, sequence checks and validation included;
  compiled, it reads a plain frame's bytes directly);
- apply only: the same on frames already parsed;
- best bid + ask after every frame: the read's own cost, (apply + read) - (apply);
  for wexbook exact ``Level``s of ``Decimal`` (``best_bid``/``best_ask``), or exact
  strings (``best_quotes``); for the others their float best prices;
- top 20 per side as lists, every 10th frame (exact for wexbook), and as numpy arrays;
- build a 500+500 book from a snapshot's raw JSON;
- memory of 200 books of 500+500 levels (tracemalloc; the C peer's own allocations
  may be invisible to it, so its figure is a lower bound).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import orjson

from orderbook import Venue, accel, parse_depth_update

from .memory import distinct_snapshots, traced_bytes
from .peers import PEERS, available
from .runners import NaiveBook, setup_engine

READ_EVERY = 10
TOP = 20


class Contender:
    """One order book under test: how to build it, feed it and read it."""

    def __init__(self, name: str, compiled: bool | None = None) -> None:
        self.name = name
        self.compiled = compiled

    def path(self) -> Any:
        return nullcontext() if self.compiled is None else accel.path(self.compiled)

    def setup(self, snapshot: bytes) -> Any:
        if self.compiled is not None:
            return setup_engine(snapshot)
        if self.name == "baseline":
            return NaiveBook(snapshot)
        return PEERS[self.name](snapshot)

    def prepare(self, frames: list[bytes]) -> list[Any]:
        """The frames as this contender's apply-only loop takes them (parsed)."""
        if self.compiled is not None:
            with self.path():
                return [parse_depth_update(raw, Venue.SPOT) for raw in frames]
        return [orjson.loads(raw)["data"] for raw in frames]

    def end_to_end(self, state: Any, frames: list[bytes]) -> None:
        if self.compiled is not None:
            on_frame = state.on_frame
            for raw in frames:
                on_frame(raw)
        else:
            apply = state.apply_frame
            for raw in frames:
                apply(raw)

    def apply_only(self, state: Any, parsed: list[Any]) -> None:
        if self.compiled is not None:
            on_update = state.on_update
            for event in parsed:
                on_update(event)
        else:
            apply = _data_applier(state)
            for data in parsed:
                apply(data)

    def reader(self, state: Any, what: str) -> Callable[[], Any]:
        if self.compiled is not None:
            book = state.book
            if what == "best":
                return lambda: (book.best_bid(), book.best_ask())
            if what == "quotes":
                return book.best_quotes
            if what == "lists":
                return lambda: book.depth(TOP)
            return lambda: book.arrays(TOP)
        if what in ("best", "quotes"):
            return state.best
        if what == "lists":
            return (lambda: _naive_lists(state)) if self.name == "baseline" else (
                lambda: state.top_lists(TOP)
            )
        return lambda: state.top_arrays(TOP)


def _naive_lists(book: NaiveBook) -> tuple[list, list]:
    bids, asks = book.bids, book.asks
    return ([(p, bids[p]) for p in bids.islice(-TOP, reverse=True)],
            [(p, asks[p]) for p in asks.islice(0, TOP)])  # fmt: skip


def _data_applier(state: Any) -> Callable[[dict], None]:
    """Apply a parsed ``data`` object to a float book (baseline or peer), as its frame path."""
    if isinstance(state, NaiveBook):
        def apply(data: dict) -> None:
            for side, levels in ((state.bids, data["b"]), (state.asks, data["a"])):
                for p, q in levels:
                    price, qty = float(p), float(q)
                    if qty == 0.0:
                        side.pop(price, None)
                    else:
                        side[price] = qty
        return apply
    sides = (state.book.bids, state.book.asks) if hasattr(state, "book") else None
    if sides is not None:
        def apply_c(data: dict) -> None:
            for side, levels in ((sides[0], data["b"]), (sides[1], data["a"])):
                for p, q in levels:
                    price, qty = float(p), float(q)
                    if qty == 0.0:
                        if price in side:
                            del side[price]
                    else:
                        side[price] = qty
        return apply_c

    def apply_s(data: dict) -> None:
        for side, levels in ((state.bids, data["b"]), (state.asks, data["a"])):
            store = side.store
            for p, q in levels:
                store(float(p), float(q))
    return apply_s


def _timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def contenders() -> list[Contender]:
    out = [Contender("baseline")]
    if accel.AVAILABLE:
        out.append(Contender("wexbook", compiled=True))
    out.append(Contender("wexbook-pure", compiled=False))
    for name, why in available().items():
        if why is None:
            out.append(Contender(name))
        else:
            print(f"(peer {name} skipped: {why})")
    return out


def measure(frames: list[bytes], snapshot: bytes, rounds: int, books: int) -> dict[str, dict]:
    """name -> figure -> list of per-round values (seconds per unit, or bytes per level)."""
    people = contenders()
    figures: dict[str, dict[str, list[float]]] = {c.name: {} for c in people}
    parsed = {c.name: c.prepare(frames) for c in people}
    reads = frames[::READ_EVERY]
    for _ in range(rounds):
        for c in people:
            fig = figures[c.name]
            with c.path():
                state = c.setup(snapshot)
                fig.setdefault("end_to_end", []).append(
                    _timed(lambda: c.end_to_end(state, frames)) / len(frames)  # noqa: B023
                )
                state = c.setup(snapshot)
                fig.setdefault("apply_only", []).append(
                    _timed(lambda: c.apply_only(state, parsed[c.name])) / len(frames)  # noqa: B023
                )
                fig.setdefault("best_read", []).append(_read_cost(c, snapshot, frames, "best"))
                fig.setdefault("quotes_read", []).append(
                    _read_cost(c, snapshot, frames, "quotes")
                )
                for what in ("lists", "arrays"):
                    fig.setdefault(f"top_{what}", []).append(
                        _read_cost(c, snapshot, reads, what)
                    )
                fig.setdefault("build", []).append(
                    _timed(lambda: [c.setup(snapshot) for _ in range(20)]) / 20  # noqa: B023
                )
    snapshots = distinct_snapshots(10)
    for c in people:
        with c.path():
            figures[c.name]["memory"] = [traced_bytes(c.setup, snapshots, books) / (books * 1000)]
    return figures


def _read_cost(c: Contender, snapshot: bytes, frames: list[bytes], what: str) -> float:
    """Seconds per read: (apply + read after each frame) - (apply alone), same frames."""
    parsed = c.prepare(frames)
    state = c.setup(snapshot)
    plain = _timed(lambda: c.apply_only(state, parsed))
    state = c.setup(snapshot)
    read = c.reader(state, what)
    if c.compiled is not None:
        on_update = state.on_update

        def both() -> None:
            for event in parsed:
                on_update(event)
                read()
    else:
        apply = _data_applier(state)

        def both() -> None:
            for data in parsed:
                apply(data)
                read()
    return max(_timed(both) - plain, 0.0) / len(frames)


ROWS = [
    ("end_to_end", "end to end, raw frame -> applied book", 1e6, "us/frame"),
    ("apply_only", "apply only, parsed frames", 1e6, "us/frame"),
    ("best_read", "best bid + ask after every frame (Decimal Levels)", 1e6, "us/read"),
    ("quotes_read", "best bid + ask after every frame (exact strings)", 1e6, "us/read"),
    ("top_lists", f"top {TOP} per side as lists", 1e6, "us/read"),
    ("top_arrays", f"top {TOP} per side as numpy", 1e6, "us/read"),
    ("build", "build a 500+500 book from a snapshot", 1e3, "ms/book"),
    ("memory", "memory, books of 500+500 levels", 1.0, "B/level"),
]


def print_table(frames: list[bytes], snapshot: bytes, rounds: int, books: int = 200) -> None:
    figures = measure(frames, snapshot, rounds, books)
    names = list(figures)
    med = {n: {k: statistics.median(v) for k, v in figures[n].items()} for n in names}
    base = med["baseline"]
    print(f"\nperformance table ({len(frames)} frames, {rounds} interleaved rounds; "
          "value and ratio to the baseline):")  # fmt: skip
    print("| figure | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    for key, label, scale, unit in ROWS:
        cells = []
        for n in names:
            value = med[n][key]
            ratio = value / base[key] if base[key] else float("nan")
            cells.append(f"{value * scale:.2f} {unit} ({ratio:.2f})")
        print(f"| {label} | " + " | ".join(cells) + " |")
