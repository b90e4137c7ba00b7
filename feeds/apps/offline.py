"""``wexbook demo --offline``: replay generated spot and futures streams, with faults, through
the engine, without sockets.

For each (venue, symbol) a seeded
:class:`~feeds.sim.flow.OrderFlow` plays the exchange. Its frames pass
through a damaging "wire" (drops, duplicates, swapped neighbours, malformed
frames) into the real parse path and a :class:`~orderbook.BookSync`.
Whenever the sync wants a snapshot, one is "fetched": taken from the flow at
request time and delivered a few frames later (so the stream runs ahead of
it), and now and then a snapshot from before the buffered events is served
instead (it must be refused as too old).

Whenever a book is LIVE and has applied every id the flow produced, it is
compared, level by level and exactly, with the flow's ground truth. The
report counts comparisons and mismatches (which must be 0); the exit code is
1 if any mismatch was seen.
"""

from __future__ import annotations

import argparse
import random
import sys
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from feeds.apps.console import aligned
from feeds.sim.flow import FlowConfig, OrderFlow
from orderbook import (
    BookSync,
    Decision,
    DepthSnapshot,
    MalformedEvent,
    OrderBook,
    Venue,
    futures_snapshot,
    parse_depth_update,
    sequencer_for,
    spot_snapshot,
)

SNAPSHOT_DEPTH = 500
DEFAULT_FRAMES = 5000  #: frames per stream (``--frames``)
DEFAULT_COMPARE_EVERY = 5  #: compare with the truth every N frames (``--compare-every``)


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Per-frame probabilities of each wire fault in the offline demo."""

    drop: float = 0.002  #: the frame never arrives (a gap)
    duplicate: float = 0.004  #: the frame arrives twice
    swap: float = 0.003  #: the frame and the next arrive in the wrong order
    malformed: float = 0.001  #: garbage arrives instead of the frame (a gap too)
    old_snapshot: float = 0.25  #: a requested snapshot is served from before the stream


@dataclass(slots=True)
class Stream:
    """One (venue, symbol) of the replay: the exchange side and the client side."""

    venue: Venue
    symbol: str
    flow: OrderFlow
    sync: BookSync
    old_snapshot: dict[str, Any]
    pending: list[bytes] = field(default_factory=list)
    snapshot_due: int | None = None
    snapshot_result: dict[str, Any] | None = None
    prev_u: int = 0
    frames: int = 0
    comparisons: int = 0
    mismatches: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    malformed_seen: int = 0

    def next_frame(self) -> bytes:
        """The exchange's next ``depth_update`` push for this stream."""
        first, last, bids, asks = self.flow.step()
        if self.venue is Venue.SPOT:
            frame = self.flow.spot_frame(first, last, bids, asks)
        else:
            frame = self.flow.futures_frame(self.prev_u, first, last, bids, asks)
        self.prev_u = last
        return frame

    def snapshot(self, result: dict[str, Any]) -> DepthSnapshot:
        """Parse a REST ``result`` as the client would."""
        if self.venue is Venue.SPOT:
            return spot_snapshot(result, self.symbol, SNAPSHOT_DEPTH)
        return futures_snapshot(result, self.symbol, SNAPSHOT_DEPTH)


COMPARE_DEPTH = 100


def book_equals_truth(book: OrderBook, flow: OrderFlow, depth: int = COMPARE_DEPTH) -> bool:
    """True when the top ``depth`` levels of ``book`` equal the flow's, exactly.

    Only the top is compared: a snapshot carries ``SNAPSHOT_DEPTH`` levels per
    side, and levels deeper than that are unknown to any client until they
    change, on WEX as here.
    """
    bids, asks = flow.exact_levels(depth)
    got_bids, got_asks = book.depth(depth)
    return got_bids == bids and got_asks == asks


def _snapshot_result(stream: Stream) -> dict[str, Any]:
    flow = stream.flow
    if stream.venue is Venue.SPOT:
        return flow.spot_snapshot_result(SNAPSHOT_DEPTH)
    return flow.futures_snapshot_result(SNAPSHOT_DEPTH)


def build_streams(
    spot: list[str], futures: list[str], seed: int, max_buffer: int = 10_000
) -> list[Stream]:
    """One stream per spot symbol and per futures symbol, each with its own seed."""
    streams = []
    n = 0
    for venue, symbols in ((Venue.SPOT, spot), (Venue.FUTURES, futures)):
        for i, symbol in enumerate(symbols):
            config = FlowConfig(
                symbol=symbol, mid_ticks=3_000_000 // (i + 1), levels=SNAPSHOT_DEPTH
            )
            flow = OrderFlow(seed=seed * 1000 + n, config=config)
            n += 1
            sync = BookSync(symbol, sequencer_for(venue), max_buffer=max_buffer)
            stream = Stream(venue, symbol, flow, sync, old_snapshot={})
            stream.prev_u = flow.last_id
            stream.old_snapshot = _snapshot_result(stream)
            streams.append(stream)
    return streams


def _deliver(stream: Stream, raw: bytes) -> None:
    try:
        event = parse_depth_update(raw, stream.venue)
    except MalformedEvent:
        stream.malformed_seen += 1
        return
    stream.sync.on_update(event)


def _maybe_snapshot(stream: Stream, rng: random.Random, rates: FaultRates) -> None:
    sync = stream.sync
    if stream.snapshot_due is None and sync.snapshot_wanted:
        if rng.random() < rates.old_snapshot and stream.frames > 0:
            stream.snapshot_result = stream.old_snapshot
            stream.faults["old_snapshot"] += 1
        else:
            stream.snapshot_result = _snapshot_result(stream)
        stream.snapshot_due = stream.frames + rng.randint(1, 8)
    if stream.snapshot_due is not None and stream.frames >= stream.snapshot_due:
        result = stream.snapshot_result
        stream.snapshot_due = stream.snapshot_result = None
        sync.on_snapshot(stream.snapshot(result))  # type: ignore[arg-type]


def run_stream_step(
    stream: Stream, rng: random.Random, rates: FaultRates, compare: bool = True
) -> None:
    """Produce one exchange frame, push it through the damaged wire, compare if possible."""
    raw = stream.next_frame()
    stream.frames += 1
    roll = rng.random()
    if roll < rates.drop:
        stream.faults["drop"] += 1
    elif roll < rates.drop + rates.malformed:
        stream.faults["malformed"] += 1
        _deliver(stream, raw[: len(raw) // 2])
    elif roll < rates.drop + rates.malformed + rates.duplicate:
        stream.faults["duplicate"] += 1
        _deliver(stream, raw)
        _deliver(stream, raw)
    elif roll < rates.drop + rates.malformed + rates.duplicate + rates.swap:
        stream.faults["swap"] += 1
        stream.pending.append(raw)  # held back; goes out after the next frame
        _maybe_snapshot(stream, rng, rates)
        return
    else:
        _deliver(stream, raw)
    while stream.pending:
        _deliver(stream, stream.pending.pop())
    _maybe_snapshot(stream, rng, rates)
    sync = stream.sync
    if compare and sync.is_live and sync.update_id == stream.flow.last_id:
        stream.comparisons += 1
        if not book_equals_truth(sync.live_book(), stream.flow):
            stream.mismatches += 1


@dataclass(slots=True)
class OfflineRun:
    """What :func:`run_demo` did."""

    streams: list[Stream]
    elapsed: float  #: seconds
    interrupted: bool = False  #: Ctrl-C ended it early

    @property
    def comparisons(self) -> int:
        return sum(s.comparisons for s in self.streams)

    @property
    def mismatches(self) -> int:
        return sum(s.mismatches for s in self.streams)


def run_demo(
    frames: int,
    spot: list[str],
    futures: list[str],
    seed: int,
    rates: FaultRates,
    compare_every: int = 1,
) -> OfflineRun:
    """Replay ``frames`` frames per stream (Ctrl-C stops early, the run so far is kept).

    With ``compare_every`` > 1 only every n-th frame is a comparison
    opportunity (a full comparison costs far more than applying a frame).
    """
    if frames < 1 or compare_every < 1:
        raise ValueError("frames and compare_every must be >= 1")
    rng = random.Random(seed)
    streams = build_streams(spot, futures, seed)
    start = time.perf_counter()
    interrupted = False
    try:
        for n in range(frames):
            compare = n % compare_every == 0
            for stream in streams:
                run_stream_step(stream, rng, rates, compare)
    except KeyboardInterrupt:
        interrupted = True
    return OfflineRun(streams, time.perf_counter() - start, interrupted)


_FAULT_WORDS = {
    "drop": "frames dropped",
    "duplicate": "frames duplicated",
    "swap": "neighbours swapped",
    "malformed": "frames malformed",
    "old_snapshot": "snapshots served from before the stream",
}


def format_report(run: OfflineRun) -> str:
    """The report for people: one aligned line per book, then the totals."""
    header = ["book", "state", "frames", "gaps", "resyncs", "compared", "mismatches"]
    rows = []
    faults: Counter[str] = Counter()
    discarded = too_old = malformed = 0
    for s in run.streams:
        c = s.sync.counts
        rows.append([
            f"{s.venue.value} {s.symbol}", s.sync.state.value, s.frames,
            c[Decision.GAP] + c[Decision.OVERFLOW], max(0, s.sync.generation - 1),
            s.comparisons, s.mismatches,
        ])  # fmt: skip
        faults.update(s.faults)
        discarded += c[Decision.DUPLICATE] + c[Decision.DROPPED_OLD]
        too_old += c[Decision.SNAPSHOT_TOO_OLD]
        malformed += s.malformed_seen
    lines = aligned(header, rows, right=range(2, 7))
    injected = ", ".join(
        f"{_FAULT_WORDS.get(k, k.replace('_', ' '))}: {v}" for k, v in sorted(faults.items())
    )
    total = sum(s.frames for s in run.streams)
    rate = f"{total / run.elapsed:,.0f} frames/s" if run.elapsed > 0 else "-"
    lines += [
        "",
        *textwrap.wrap(f"faults injected: {injected or 'none'}", 80, subsequent_indent="  "),
        *textwrap.wrap(
            f"discarded by the engine: duplicate or old events: {discarded}, malformed frames: "
            f"{malformed}, snapshots older than the stream: {too_old}",
            80,
            subsequent_indent="  ",
        ),
        f"frames: {total} in {run.elapsed:.2f} s ({rate}, with faults and comparisons)",
        f"ground-truth comparisons: {run.comparisons}, mismatches: {run.mismatches}",
    ]
    return "\n".join(lines)


def run_offline(args: argparse.Namespace) -> int:
    """``wexbook demo --offline``: exit 1 on a mismatch or when nothing was compared."""
    rates = FaultRates() if not args.no_faults else FaultRates(0, 0, 0, 0, 0)
    frames = args.frames or DEFAULT_FRAMES
    print(
        f"wexbook demo --offline: {len(args.spot) + len(args.futures)} books, {frames} frames "
        f"each, seed {args.seed}, faults {'off' if args.no_faults else 'on'}",
        flush=True,
    )
    run = run_demo(
        frames, args.spot, args.futures, args.seed, rates,
        args.compare_every or DEFAULT_COMPARE_EVERY,
    )  # fmt: skip
    print(format_report(run), flush=True)
    if run.mismatches:
        return 1
    if run.interrupted:
        return 130
    if not run.comparisons:
        print(
            "wexbook demo: no book was compared with the ground truth, so nothing was checked "
            "(more --frames, or a smaller --compare-every)",
            file=sys.stderr,
        )
        return 1
    return 0
