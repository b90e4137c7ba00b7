"""Real recorded Binance feeds (../shared/realdata), imported and replayed through the engine.

The expected figures are those of each folder's PROVENANCE.md. Skipped when the data is absent.
Each recording is imported as a user does, ``wexbook import INPUT -o OUT`` with no other option
(the venue and the symbols come from the frames). :func:`bbo_agreement` below is a plain
two-pass reference of :func:`feeds.capture.tickers.check_tickers`, which must agree with it.
"""

from __future__ import annotations

import bisect
from decimal import Decimal
from pathlib import Path

import pytest

from feeds.apps.cli import main
from feeds.capture import iter_events, replay
from feeds.capture.importers import binance_book_ticker
from feeds.capture.tickers import check_tickers

REALDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata"
SPOT = REALDATA / "hftbacktest-binance-spot-btcusdt"
FUTURES = REALDATA / "cryptofeed-binance-usdm-4sym"


def _need(path: Path) -> None:
    if not path.is_dir():
        pytest.skip(f"real data not present: {path}")


def bbo_agreement(capture: Path) -> dict[str, tuple[int, int, int]]:
    """Per symbol: (events after which the book stands at the event's id, BBO comparisons,
    agreements with the bookTicker of the largest id not above the book's)."""
    tickers: dict[str, list[tuple]] = {}
    for item in iter_events(capture, other_frames=True):
        if isinstance(item.event, bytes):
            ticker = binance_book_ticker(item.event)
            if ticker is not None:
                tickers.setdefault(ticker[0], []).append(ticker[1:])
    for rows in tickers.values():
        rows.sort()
    out: dict[str, list[int]] = {}
    for item in iter_events(capture):
        sync = item.sync
        assert sync is not None
        if not sync.is_live or sync.update_id != item.event.last_id:
            continue
        counts = out.setdefault(item.symbol, [0, 0, 0])
        counts[0] += 1
        rows = tickers.get(item.symbol, [])
        i = bisect.bisect_right(rows, (sync.update_id, "\uffff")) - 1
        if i < 0:
            continue
        _u, bid, bid_qty, ask, ask_qty = rows[i]
        best_bid, best_ask = sync.book.best_bid(), sync.book.best_ask()
        counts[1] += 1
        counts[2] += (best_bid.price, best_bid.qty, best_ask.price, best_ask.qty) == (
            Decimal(bid),
            Decimal(bid_qty),
            Decimal(ask),
            Decimal(ask_qty),
        )
    return {k: tuple(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def spot_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need(SPOT)
    out = tmp_path_factory.mktemp("hft") / "cap"
    assert main(["import", *map(str, sorted(SPOT.glob("btcusdt_*.gz"))), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def futures_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need(FUTURES)
    out = tmp_path_factory.mktemp("cf") / "cap"
    assert main(["import", str(FUTURES), "-o", str(out)]) == 0
    return out


def test_spot_session_replays_with_no_gap_and_the_exchanges_bbo(spot_capture: Path) -> None:
    report = replay(spot_capture)
    assert report.ok and report.problems == [], report.summary()
    assert report.segments == 2  # one per UTC day file
    book = report.books["spot", "btcusdt"]
    assert book.events == 6495
    assert book.counts["dropped-old"] == 2 and book.counts["applied"] == 1 + 6492
    assert book.gaps == 0 and book.resyncs == 0 and book.state == "live"
    assert book.checkpoints == book.checkpoints_matched > 600
    # After each of the 6,492 events applied once LIVE, 6,490 agree with the latest
    # bookTicker not above the book's id.
    assert bbo_agreement(spot_capture) == {"btcusdt": (6492, 6492, 6490)}
    tickers = check_tickers(spot_capture)
    assert tickers.ok and (tickers.compared, tickers.agreed) == (6492, 6490), tickers.summary()


def test_the_second_day_replays_on_its_own(spot_capture: Path) -> None:
    day2 = sorted(spot_capture.iterdir())[1]
    report = replay(day2)
    assert report.ok, report.summary()
    book = report.books["spot", "btcusdt"]
    assert book.events == 3044 and book.gaps == 0 and book.state == "live"
    assert book.counts["applied"] == 6493  # counters carry on from the day before


# PROVENANCE.md: symbol -> (depth events, applied, BBO comparisons = agreements).
FUTURES_EXPECTED = {
    "sushiusdt": (255, 252, 252),
    "akrousdt": (189, 188, 182),
    "keepusdt": (135, 132, 130),
    "ctkusdt": (185, 180, 180),
}


def test_futures_four_symbols_replay_with_pu_chaining(futures_capture: Path) -> None:
    report = replay(futures_capture)
    assert report.ok and report.problems == [], report.summary()
    agreement = bbo_agreement(futures_capture)
    for symbol, (events, applied, bbo) in FUTURES_EXPECTED.items():
        book = report.books["futures", symbol]
        assert book.events == events and book.gaps == 0 and book.state == "live"
        # Binance applies the event ending exactly at the snapshot's id; WEX's rule 4 drops
        # it as already in the snapshot. Either way the book then stands at that event's id.
        at_id, compared, agreed = agreement[symbol]
        assert at_id == applied
        assert book.counts["applied"] in (applied, applied - 1)
        assert compared == agreed == bbo
    tickers = check_tickers(futures_capture, min_agreement=1.0)
    assert tickers.ok, tickers.summary()
    assert {s: (b.compared, b.agreed) for (_, s), b in tickers.books.items()} == {
        s: (bbo, bbo) for s, (_, _, bbo) in FUTURES_EXPECTED.items()
    }
