"""Capture and deterministic replay of live feeds.

- :mod:`feeds.capture.format`: the segment format and its record kinds.
- :mod:`feeds.capture.recorder`: :class:`Recorder`, a :class:`~feeds.manager.BookManager`
  observer writing zstandard segments on a background thread, crash-safe.
- :mod:`feeds.capture.reader`: segments and runs, read back; truncated tails reported.
- :mod:`feeds.capture.replay`: :func:`replay` (verify checkpoints and decisions),
  :func:`iter_events`, :func:`iter_views`: the replay loop, over one module per stage:
  :mod:`~feeds.capture.reports` (the report types), :mod:`~feeds.capture.records` (what a
  record must hold), :mod:`~feeds.capture.dialects` (frames to events, by connection),
  :mod:`~feeds.capture.restore` (a book from a ``book`` record), :mod:`~feeds.capture.seek`
  (the segment a window starts from), :mod:`~feeds.capture.verify` (the comparisons, what
  could not be checked) and :mod:`~feeds.capture.audit` (the gap audit).
- :mod:`feeds.capture.research`: sampled numpy arrays, pandas/Parquet (optional extra).
- :mod:`feeds.capture.importers`: other recorders' files to captures.
- :mod:`feeds.capture.many`: :func:`replay_many` over an executor or Dask.
"""

from .reader import CaptureError, Problem, SegmentReader, open_capture, read_segment
from .recorder import Recorder
from .replay import (
    GapRow,
    Mismatch,
    Replayer,
    ReplayItem,
    ReplayReport,
    iter_events,
    iter_views,
    replay,
)

__all__ = [
    "CaptureError",
    "GapRow",
    "Mismatch",
    "Problem",
    "Recorder",
    "ReplayItem",
    "ReplayReport",
    "Replayer",
    "SegmentReader",
    "iter_events",
    "iter_views",
    "open_capture",
    "read_segment",
    "replay",
]
