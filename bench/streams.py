"""The benchmark stream, generated once and cached under ``.bench-cache/``."""

from __future__ import annotations

import os
from pathlib import Path

from feeds.sim.stream_file import GeneratedStream, generate_stream, load_stream, save_stream

#: Frames in the benchmark stream (``WEXBOOK_BENCH_FRAMES`` overrides, e.g. for a quick look).
DEFAULT_FRAMES = int(os.environ.get("WEXBOOK_BENCH_FRAMES", "200000"))
CACHE_DIR = Path(__file__).resolve().parent.parent / ".bench-cache"


def bench_stream(frames: int = DEFAULT_FRAMES, seed: int = 0) -> GeneratedStream:
    """The spot benchmark stream of ``frames`` frames, from the cache if present."""
    path = CACHE_DIR / f"spot-{seed}-{frames}.jsonl"
    if path.exists():
        try:
            return load_stream(path)
        except (ValueError, KeyError):
            path.unlink()
    stream = generate_stream(frames, seed)
    save_stream(stream, path)
    return stream
