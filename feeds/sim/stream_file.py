"""Generated ``depth_update`` streams as files: one REST snapshot, then raw frames.

The file format is JSON lines: the first line is the ``result`` of the depth
snapshot endpoint, every following line is one raw websocket frame exactly as
the exchange would send it. It is what the benchmarks replay and what
``tools/gen_stream.py`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from orderbook import Venue

from .flow import FlowConfig, OrderFlow


@dataclass(frozen=True, slots=True)
class GeneratedStream:
    """A snapshot ``result`` (raw JSON) and the frames that follow it (raw JSON)."""

    venue: Venue
    symbol: str
    snapshot: bytes
    frames: list[bytes]

    @property
    def level_changes(self) -> int:
        """Total ``[price, qty]`` changes carried by the frames (parses every frame)."""
        total = 0
        for raw in self.frames:
            data = orjson.loads(raw)["data"]
            total += len(data["a"]) + len(data["b"])
        return total


def generate_stream(
    frames: int,
    seed: int = 0,
    venue: Venue | str = Venue.SPOT,
    config: FlowConfig | None = None,
    snapshot_depth: int = 500,
) -> GeneratedStream:
    """A deterministic stream: a ``snapshot_depth`` snapshot, then ``frames`` frames.

    The defaults give the benchmark stream: 500+500 levels around 30000.00
    with 0.01 ticks, 1-20 changes per side per frame, mostly near the top.
    """
    venue = Venue(venue)
    flow = OrderFlow(seed=seed, config=config)
    if venue is Venue.SPOT:
        snapshot = orjson.dumps(flow.spot_snapshot_result(snapshot_depth))
        out = flow.spot_frames(frames)
    else:
        snapshot = orjson.dumps(flow.futures_snapshot_result(snapshot_depth))
        out = []
        prev = flow.last_id
        for n in range(frames):
            first, last, bids, asks = flow.step()
            out.append(flow.futures_frame(prev, first, last, bids, asks, event_time=n))
            prev = last
    return GeneratedStream(venue, flow.config.symbol, snapshot, out)


def save_stream(stream: GeneratedStream, path: str | Path) -> None:
    """Write ``stream`` as JSON lines (see the module docstring)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = orjson.dumps(
        {"venue": stream.venue.value, "symbol": stream.symbol, "frames": len(stream.frames)}
    )
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as f:
        f.write(header + b"\n" + stream.snapshot + b"\n")
        for raw in stream.frames:
            f.write(raw)
            f.write(b"\n")
    tmp.replace(path)


def load_stream(path: str | Path) -> GeneratedStream:
    """Read a stream written by :func:`save_stream`."""
    content = Path(path).read_bytes()
    lines = content.split(b"\n")
    header = orjson.loads(lines[0])
    frames = lines[2:-1]
    if lines[-1] or len(frames) != header["frames"]:
        raise ValueError(f"{path}: truncated stream ({len(frames)} of {header['frames']} frames)")
    return GeneratedStream(Venue(header["venue"]), header["symbol"], lines[1], frames)
