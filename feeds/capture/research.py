"""Research outputs of a replay: sampled numpy arrays, pandas/Parquet, the gap table, a plot.

:func:`sample_books` replays a capture and samples every book every ``every_ms`` of
receive time into a :class:`BookSamples` (numpy: times, live flags, update ids, top-N
bids and asks as ``(T, N, 2)`` float64 price/qty arrays, NaN where a level is absent
or the book has none). A sample at time t is the book as of the last record received at
or before t, in its state then: never a later record's (no look-ahead; see
:func:`~feeds.capture.replay.iter_views`). :func:`to_dataframe` (pandas) and
:func:`to_parquet` (pyarrow) are the optional extra ``wexbook[research]``;
:func:`plot_book` (matplotlib) is ``wexbook[plot]``. Without them these raise
:class:`MissingExtra`, naming the extra.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orderbook import SyncState, WexbookError

from .replay import Replayer, runs_of
from .reports import GapRow, Key, ReplayReport, iso_time


class MissingExtra(WexbookError, ImportError):
    """An optional dependency is not installed; the message names the extra to install
    (a :class:`~orderbook.WexbookError`, and an ``ImportError`` as before)."""


def require_extra(module: str, extra: str) -> Any:
    """Import ``module`` or raise :class:`MissingExtra` naming ``wexbook[extra]``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(
            f"this needs {module.split('.')[0]}: pip install 'wexbook[{extra}]'"
        ) from None


#: The optional modules each output needs, and the extra that installs them.
OUTPUT_NEEDS: dict[str, tuple[tuple[str, str], ...]] = {
    "dataframe": (("pandas", "research"),),
    "parquet": (("pandas", "research"), ("pyarrow", "research")),
    "plot": (("matplotlib", "plot"),),
}


def require_output(output: str) -> None:
    """Raise :class:`MissingExtra` unless everything ``output`` needs is installed
    (``"dataframe"``, ``"parquet"`` or ``"plot"``: see :data:`OUTPUT_NEEDS`)."""
    for module, extra in OUTPUT_NEEDS[output]:
        require_extra(module, extra)


@dataclass(slots=True)
class BookSamples:
    """One book sampled on a regular grid of receive times."""

    venue: str
    symbol: str
    levels: int
    time_ns: np.ndarray  #: int64 (T,)
    live: np.ndarray  #: bool (T,)
    update_id: np.ndarray  #: int64 (T,), -1 before the first snapshot
    bids: np.ndarray  #: float64 (T, levels, 2): price, qty; best first
    asks: np.ndarray  #: float64 (T, levels, 2)

    @property
    def mid(self) -> np.ndarray:
        return (self.bids[:, 0, 0] + self.asks[:, 0, 0]) / 2

    @property
    def spread(self) -> np.ndarray:
        return self.asks[:, 0, 0] - self.bids[:, 0, 0]


@dataclass(slots=True)
class _Builder:
    levels: int
    times: list[int] = field(default_factory=list)
    live: list[bool] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    bids: list[np.ndarray] = field(default_factory=list)
    asks: list[np.ndarray] = field(default_factory=list)
    last_key: tuple[Any, ...] | None = None


def _pad(side: np.ndarray, n: int) -> np.ndarray:
    if len(side) == n:
        return side
    out = np.full((n, 2), np.nan)
    out[: len(side)] = side[:n]
    return out


def sample_books(
    capture: Any, *, every_ms: float = 100.0, levels: int = 10, **options: Any
) -> tuple[dict[Key, BookSamples], ReplayReport]:
    """Replay ``capture`` and sample every book; returns the samples and the replay report.

    Options are :class:`~feeds.capture.replay.Replayer`'s (``verify`` defaults to off).
    """
    step = int(every_ms * 1e6)
    if step <= 0:
        raise ValueError("every_ms must be > 0")
    options.setdefault("verify", False)
    replayer = Replayer(**options)
    replayer.sample_ns = step
    replayer.sample_views = False
    builders: dict[Key, _Builder] = {}
    empty = np.full((levels, 2), np.nan)
    for item in replayer.items(runs_of(capture)):
        key = (item.venue, item.symbol)
        b = builders.get(key)  # type: ignore[arg-type]
        if b is None:
            b = builders[key] = _Builder(levels)  # type: ignore[index]
        sync = item.sync
        assert sync is not None
        state_key = (sync.update_id, sync.generation, sync.state)
        if state_key == b.last_key:  # nothing changed since the previous sample
            bids, asks = b.bids[-1], b.asks[-1]
        elif sync.book is not None and sync.state is not SyncState.SYNCING:
            raw_b, raw_a = sync.book.arrays(levels)
            bids, asks = _pad(raw_b, levels), _pad(raw_a, levels)
        else:
            bids, asks = empty, empty
        b.last_key = state_key
        b.times.append(item.time_ns)
        b.live.append(sync.state is SyncState.LIVE)
        b.ids.append(-1 if sync.update_id is None else sync.update_id)
        b.bids.append(bids)
        b.asks.append(asks)
    out: dict[Key, BookSamples] = {}
    for key, b in builders.items():
        out[key] = BookSamples(
            key[0],
            key[1],
            levels,
            np.array(b.times, dtype=np.int64),
            np.array(b.live, dtype=bool),
            np.array(b.ids, dtype=np.int64),
            np.array(b.bids).reshape(-1, levels, 2),
            np.array(b.asks).reshape(-1, levels, 2),
        )
    return out, replayer.report


def sample_arrays(capture: Any, venue: str, symbol: str, **options: Any) -> BookSamples:
    """The samples of one book (see :func:`sample_books`; ``KeyError`` if absent)."""
    options.setdefault("symbols", [f"{venue}:{symbol}"])
    samples, _ = sample_books(capture, **options)
    return samples[venue, symbol]


def to_dataframe(samples: BookSamples | dict[Key, BookSamples]) -> Any:
    """A pandas DataFrame: one row per sample (and book), columns ``time``, ``venue``,
    ``symbol``, ``live``, ``update_id``, ``mid``, ``spread``, ``bid_px_0``, ``bid_qty_0``...
    (needs ``wexbook[research]``)."""
    pd = require_extra("pandas", "research")
    items = [samples] if isinstance(samples, BookSamples) else list(samples.values())
    frames = []
    for s in items:
        columns: dict[str, Any] = {
            "time": pd.to_datetime(s.time_ns, unit="ns", utc=True),
            "venue": s.venue,
            "symbol": s.symbol,
            "live": s.live,
            "update_id": s.update_id,
            "mid": s.mid,
            "spread": s.spread,
        }
        for side, arr in (("bid", s.bids), ("ask", s.asks)):
            for i in range(s.levels):
                columns[f"{side}_px_{i}"] = arr[:, i, 0]
                columns[f"{side}_qty_{i}"] = arr[:, i, 1]
        frames.append(pd.DataFrame(columns))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def to_parquet(samples: BookSamples | dict[Key, BookSamples], path: str | os.PathLike[str]) -> None:
    """Write :func:`to_dataframe` as Parquet (needs ``wexbook[research]``: pandas, pyarrow)."""
    require_output("parquet")
    to_dataframe(samples).to_parquet(path, index=False)


def gap_table(gaps: list[GapRow]) -> list[dict[str, Any]]:
    """The gap audit as rows of plain values (``pandas.DataFrame(gap_table(...))`` works)."""
    return [
        {
            "start": iso_time(g.start_ns),
            "end": iso_time(g.end_ns) if g.end_ns is not None else None,
            "seconds": g.seconds,
            "venue": g.venue,
            "symbol": g.symbol,
            "kind": g.kind,
            "reason": g.reason,
        }
        for g in gaps
    ]


def gap_table_text(gaps: list[GapRow]) -> str:
    """The gap audit as an aligned text table."""
    if not gaps:
        return "gap audit: no gap, stall or disconnect"
    lines = [
        f"gap audit: {len(gaps)} rows",
        f"  {'start (UTC)':<27} {'seconds':>8}  {'book':<20} {'kind':<18} reason",
    ]
    for row in gap_table(gaps):
        secs = "open" if row["seconds"] is None else f"{row['seconds']:.3f}"
        book = f"{row['venue']}:{row['symbol'] or '(connection)'}"
        lines.append(
            f"  {row['start']:<27} {secs:>8}  {book:<20} {row['kind']:<18} {row['reason'] or ''}"
        )
    return "\n".join(lines)


#: The colour of each kind of not-live span of the gap audit (others: grey).
#: One colour per kind of not-LIVE span (what took the book out of LIVE), each distinct.
_SPAN_COLORS = {
    "gap": "#d62728",
    "feed-down": "#9467bd",
    "disconnected": "#ff7f0e",
    "silence": "#7f7f7f",
    "marked-stale": "#8c564b",
    "crossed": "#e377c2",
    "overflow": "#bcbd22",
    "malformed": "#17becf",
    "no-progress": "#1f77b4",
    "resync-requested": "#2ca02c",
    "id-reset": "#393b79",
    "closed": "#000000",
    "not-live-at-start": "#c49c94",
}
_OTHER_SPAN = "#aec7e8"


def plot_book(
    samples: BookSamples,
    gaps: list[GapRow],
    path: str | os.PathLike[str],
    *,
    depth_bps: float | None = None,
    bins: int = 40,
) -> None:
    """Draw one book: mid and spread, depth around the mid as a heatmap, not-live spans.

    Needs ``wexbook[plot]`` (matplotlib). The heatmap shows the resting quantity per
    price bin within ``depth_bps`` basis points of the mid (default: the span of the
    sampled levels).
    """
    matplotlib = require_extra("matplotlib", "plot")
    matplotlib.use("Agg")
    plt = require_extra("matplotlib.pyplot", "plot")
    dates = require_extra("matplotlib.dates", "plot")
    # Absolute UTC time on the x axis (matplotlib's date numbers: days).
    t = samples.time_ns / 86_400e9 if len(samples.time_ns) else np.array([])
    quote = samples.symbol.rsplit("_", 1)[-1].upper() if "_" in samples.symbol else ""
    unit = f" ({quote})" if quote else ""
    fig, (ax_mid, ax_depth, ax_spread) = plt.subplots(
        3, 1, figsize=(11, 8), sharex=True, gridspec_kw={"height_ratios": [2, 2, 1]}
    )
    # A book that is not LIVE is not drawn: its last state is not the market's.
    live = samples.live.astype(bool)
    mid = np.where(live, samples.mid, np.nan)
    ax_mid.plot(t, mid, lw=0.8, color="black", label="mid")
    ax_mid.set_ylabel(f"mid{unit}")
    share = f", LIVE in {live.mean():.0%} of them" if len(t) else ""
    ax_mid.set_title(f"{samples.venue}:{samples.symbol}: {len(t)} samples{share}")
    ax_mid.ticklabel_format(axis="y", useOffset=False, style="plain")
    # Depth heatmap: quantity per relative price bin.
    if depth_bps is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            rel_all = np.concatenate(
                [
                    np.abs(side[:, :, 0] - mid[:, None]) / mid[:, None] * 1e4
                    for side in (samples.bids, samples.asks)
                ],
                axis=1,
            )
        finite = rel_all[np.isfinite(rel_all)]
        depth_bps = float(np.percentile(finite, 99)) * 1.05 if finite.size else 20.0
        depth_bps = depth_bps or 1.0
    edges = np.linspace(-depth_bps, depth_bps, bins + 1)
    heat = np.zeros((bins, len(t)))
    with np.errstate(invalid="ignore", divide="ignore"):
        for side in (samples.bids, samples.asks):
            rel = (side[:, :, 0] - mid[:, None]) / mid[:, None] * 1e4
            qty = side[:, :, 1]
            idx = np.digitize(rel, edges) - 1
            ok = (idx >= 0) & (idx < bins) & np.isfinite(qty) & live[:, None]
            cols = np.broadcast_to(np.arange(len(t))[:, None], idx.shape)
            np.add.at(heat, (idx[ok], cols[ok]), qty[ok])
    if len(t) > 1:
        heat[:, ~live] = np.nan  # blank, not "no quantity"
        image = ax_depth.imshow(
            np.log1p(heat),
            aspect="auto",
            origin="lower",
            cmap="viridis",
            interpolation="nearest",
            extent=(t[0], t[-1], -depth_bps, depth_bps),
        )
        # The bar sits outside the panel, so the three panels keep one width.
        bar = fig.colorbar(image, cax=ax_depth.inset_axes((1.01, 0.0, 0.015, 1.0)))
        bar.set_label("log(1 + quantity)", fontsize=8)
    ax_depth.set_ylabel("bps from mid (bids below)")
    ax_spread.plot(t, np.where(live, samples.spread, np.nan), lw=0.8, color="tab:blue")
    ax_spread.set_ylabel(f"spread{unit}")
    ax_spread.set_xlabel("time (UTC)")
    locator = dates.AutoDateLocator(tz=dt.UTC)
    ax_spread.xaxis.set_major_locator(locator)
    ax_spread.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=dt.UTC))
    end = samples.time_ns[-1] / 86_400e9 if len(samples.time_ns) else 0
    marked = set()
    for g in gaps:
        if g.venue != samples.venue or g.symbol not in (samples.symbol, None):
            continue
        a = g.start_ns / 86_400e9
        b = g.end_ns / 86_400e9 if g.end_ns is not None else end
        color = _SPAN_COLORS.get(g.kind, _OTHER_SPAN)
        label = g.kind if g.kind not in marked else None
        marked.add(g.kind)
        for ax in (ax_mid, ax_depth, ax_spread):
            ax.axvspan(
                a,
                max(b, a + 0.02 / 86_400),
                color=color,
                alpha=0.12 if ax is ax_depth else 0.25,
                label=label if ax is ax_mid else None,
            )
    if marked:  # beside the panel, above the colour bar: it hides no data
        ax_mid.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
