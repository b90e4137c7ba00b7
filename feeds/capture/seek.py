"""Seek: the segment of a run a windowed replay starts from.

Each segment replays on its own (it starts with every book's exact state), so a replay
whose window starts late need not read the run from its start: :func:`segments_from`
gives the run's segments from the last one that starts at or before the window's start,
by receive time (:func:`first_wall`) or by the exchange time of its first depth event
(:func:`first_exchange_ms`, less a margin: connections' exchange times interleave only
roughly).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orderbook import MalformedEvent

from .dialects import Connection, connection_of
from .reader import CaptureError, Run, SegmentReader


def segments_from(
    run: Run,
    *,
    start_ns: int | None = None,
    start_exchange_ms: int | None = None,
    seek_margin: float = 5.0,
) -> list[Path]:
    """The run's segments from the last one that starts before the window (seek):
    ``start_ns`` (receive time) first, else ``start_exchange_ms`` less ``seek_margin``
    seconds; all of them without a start."""
    segments = run.segments
    if len(segments) < 2:
        return segments
    if start_ns is not None:
        start, first_time = start_ns, first_wall
    elif start_exchange_ms is not None:
        start = start_exchange_ms - int(seek_margin * 1000)
        first_time = first_exchange_ms
    else:
        return segments
    # Each segment replays on its own: the last one that starts at or before the
    # window's start is where the books are built from.
    chosen = 0
    for i, seg in enumerate(segments):
        first = first_time(seg)
        if first is not None and first <= start:
            chosen = i
    return segments[chosen:]


def first_wall(segment: Path) -> int | None:
    """The receive time of the segment's first record (its header), or None."""
    first = next(iter(SegmentReader(segment)), None)
    return None if first is None or type(first[1]) is not int else first[1]


def first_exchange_ms(segment: Path) -> int | None:
    """The exchange time of the segment's first depth event that carries one."""
    conns: dict[int, Connection] = {}
    for kind, _, _, conn, payload in SegmentReader(segment):
        if kind == "header" or (kind == "conn" and payload.get("state") == "new"):
            infos: Any = (payload.get("conns") or ()) if kind == "header" else (payload,)
            if not isinstance(infos, list | tuple):
                continue
            for info in infos:
                try:
                    conns[info["c"]] = connection_of(info)
                except (CaptureError, KeyError, TypeError, ValueError):
                    continue  # the replay reports it
        elif (kind == "F" or kind == "B") and conn in conns:
            venue, parse, _, _ = conns[conn]  # type: ignore[index]
            try:
                event = parse(payload, venue)
            except MalformedEvent:
                continue
            if event.event_time is not None:
                return event.event_time
    return None
