"""``wexbook import``: venue and symbol from the frames, every symbol, nothing partial left.

The real recordings of ``../shared/realdata`` import with no options beyond the input and the
output (skipped when the data is absent); a synthetic coin-M recording (``BTCUSD_PERP``, in
both hftbacktest's and cryptofeed's formats), and a USD-M hftbacktest file made from the real
cryptofeed frames, import under the right venue and symbol; bad inputs are one line each,
with the exit codes of every command, and leave no output behind.
"""

from __future__ import annotations

import gzip
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from feeds.apps.cli import main
from feeds.capture import open_capture, replay
from feeds.capture.format import SUFFIX
from feeds.capture.importers import import_recording
from feeds.capture.tickers import check_tickers

REALDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata"
SPOT = REALDATA / "hftbacktest-binance-spot-btcusdt"
USDM = REALDATA / "cryptofeed-binance-usdm-4sym"


def _need(path: Path) -> None:
    if not path.is_dir():
        pytest.skip(f"real data not present: {path}")


def _import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["import", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- the real recordings, no options -------------------------------------------------------


@pytest.mark.slow  # about 6 s; tests/test_capture_realdata.py imports it the same way
def test_real_spot_recording_imports_with_no_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _need(SPOT)
    out = tmp_path / "cap"
    code, text, err = _import(capsys, *map(str, sorted(SPOT.glob("*.gz"))), "-o", str(out))
    assert code == 0, text + err
    assert "spot:btcusdt (Binance spot): 6495 events, 6493 applied, gaps 0" in text, text
    report = replay(out)
    assert report.ok and report.segments == 2, report.summary()
    book = report.books["spot", "btcusdt"]
    assert book.events == 6495 and book.counts["applied"] == 6493 and book.gaps == 0
    tickers = check_tickers(out)
    # PROVENANCE.md: 6,490 of 6,492 agree (two bookTicker frames were never delivered).
    assert (tickers.compared, tickers.agreed) == (6492, 6490), tickers.summary()
    assert tickers.ok and len(tickers.disagreements) == 2
    assert tickers.disagreements[0].update_id == 50093478174


def test_real_usdm_recording_imports_every_symbol_with_no_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _need(USDM)
    out = tmp_path / "cap"
    code, text, err = _import(capsys, str(USDM), "-o", str(out))
    assert code == 0, text + err
    report = replay(out)
    assert report.ok, report.summary()
    expected = {"sushiusdt": 255, "akrousdt": 189, "keepusdt": 135, "ctkusdt": 185}
    assert set(report.books) == {("futures", s) for s in expected}
    for symbol, events in expected.items():
        book = report.books["futures", symbol]
        assert book.events == events and book.gaps == 0 and book.state == "live"
        assert f"futures:{symbol} (Binance USD-M futures): {events} events" in text
    tickers = check_tickers(out)
    assert tickers.ok and tickers.compared == tickers.agreed == 252 + 182 + 130 + 180


def test_a_usdm_hftbacktest_file_imports_as_futures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real USD-M frames of one symbol, written as hftbacktest's collector writes them."""
    _need(USDM)
    lines = []
    for line in (USDM / "BINANCE_FUTURES.ws.1.0").read_bytes().splitlines()[1:]:
        stamp, _, frame = line.partition(b": ")
        if b'"sushiusdt@' in frame:
            lines.append((int(Decimal(stamp.decode()) * 10**9), frame))
    for line in (USDM / "BINANCE_FUTURES.http.0.0").read_bytes().splitlines():
        if b"symbol=SUSHIUSDT" in line:
            stamp, _, body = line.partition(b" -> ")[2].partition(b": ")
            lines.append((int(Decimal(stamp.decode()) * 10**9), body))
    lines.sort()
    src = tmp_path / "sushiusdt_20210722.gz"
    src.write_bytes(gzip.compress(b"".join(b"%d %s\n" % (t, f) for t, f in lines)))
    out = tmp_path / "cap"
    code, text, err = _import(capsys, str(src), "-o", str(out))
    assert code == 0, text + err
    report = replay(out)
    book = report.books["futures", "sushiusdt"]
    assert report.ok and book.events == 255 and book.gaps == 0 and book.state == "live"
    assert check_tickers(out).ok


# -- coin-M (synthetic) --------------------------------------------------------------------


def coinm_frames(events: int = 300, seed: int = 5) -> tuple[dict, list[tuple[int, bytes]]]:
    """A coin-M ``BTCUSD_PERP`` session: a REST snapshot body, then ``(receive ns, frame)``
    of chained depth updates (``U``/``u``/``pu``) each followed by the bookTicker of the
    book it leaves."""
    rng = random.Random(seed)
    bids = {Decimal("30000.0") - Decimal(i) / 10: rng.randint(1, 50) for i in range(50)}
    asks = {Decimal("30000.5") + Decimal(i) / 10: rng.randint(1, 50) for i in range(50)}
    last = 1000
    t0 = 1_700_000_000_000_000_000
    snapshot = {
        "lastUpdateId": last,
        "E": t0 // 10**6,
        "T": t0 // 10**6,
        "symbol": "BTCUSD_PERP",
        "pair": "BTCUSD",
        "bids": [[str(p), str(q)] for p, q in sorted(bids.items(), reverse=True)],
        "asks": [[str(p), str(q)] for p, q in sorted(asks.items())],
    }
    frames = []
    prev = 990
    first = 998
    for n in range(events):
        u = last + rng.randint(1, 20)
        changes: dict[str, list[list[str]]] = {"b": [], "a": []}
        for side, book, base, sign in (("b", bids, "30000.0", -1), ("a", asks, "30000.5", 1)):
            for _ in range(rng.randint(1, 4)):
                price = Decimal(base) + sign * Decimal(rng.randint(0, 60)) / 10
                qty = 0 if (rng.random() < 0.3 and len(book) > 5) else rng.randint(1, 80)
                if qty:
                    book[price] = qty
                else:
                    book.pop(price, None)
                changes[side].append([str(price), str(qty)])
        t = t0 + (n + 1) * 100_000_000
        data = {
            "e": "depthUpdate", "E": t // 10**6, "T": t // 10**6, "s": "BTCUSD_PERP",
            "ps": "BTCUSD", "U": first, "u": u, "pu": prev, **changes,
        }  # fmt: skip
        frames.append((t, orjson.dumps({"stream": "btcusd_perp@depth@100ms", "data": data})))
        bid, ask = max(bids), min(asks)
        ticker = {
            "e": "bookTicker", "u": u, "s": "BTCUSD_PERP", "ps": "BTCUSD", "b": str(bid),
            "B": str(bids[bid]), "a": str(ask), "A": str(asks[ask]), "T": t // 10**6,
            "E": t // 10**6,
        }  # fmt: skip
        wrapped = {"stream": "btcusd_perp@bookTicker", "data": ticker}
        frames.append((t + 1000, orjson.dumps(wrapped)))
        prev, last, first = u, u, u + 1
    return snapshot, frames


def write_hftbacktest(path: Path, snapshot: dict, frames: list[tuple[int, bytes]]) -> Path:
    t0 = frames[0][0] - 50_000_000
    body = [b"%d %s\n" % (t0, orjson.dumps(snapshot))]
    body += [b"%d %s\n" % (t, f) for t, f in frames]
    path.write_bytes(gzip.compress(b"".join(body)))
    return path


def write_cryptofeed(folder: Path, snapshot: dict, frames: list[tuple[int, bytes]]) -> Path:
    folder.mkdir()
    t0 = frames[0][0] - 50_000_000
    url = "wss://dstream.binance.com/stream?streams=btcusd_perp@depth@100ms/btcusd_perp@bookTicker"
    ws = [f"{url} <-> {(t0 - 10**8) / 1e9:.6f}\n".encode()]
    ws += [b"%s: %s\n" % (f"{t / 1e9:.6f}".encode(), f) for t, f in frames]
    (folder / "BINANCE_DELIVERY.ws.1.0").write_bytes(b"".join(ws))
    rest = "https://dapi.binance.com/dapi/v1/depth?symbol=BTCUSD_PERP&limit=1000"
    body = orjson.dumps(snapshot).decode()
    (folder / "BINANCE_DELIVERY.http.0.0").write_text(f"{rest} -> {t0 / 1e9:.6f}: {body}\n")
    return folder


@pytest.mark.parametrize("fmt", ["hftbacktest", "cryptofeed"])
def test_coinm_recording_imports_under_its_venue_and_symbol(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot, frames = coinm_frames()
    if fmt == "hftbacktest":  # named as the old importer would have misread it: "btcusd"
        src = write_hftbacktest(tmp_path / "btcusd_20231114.gz", snapshot, frames)
    else:
        src = write_cryptofeed(tmp_path / "cf", snapshot, frames)
    out = tmp_path / "cap"
    code, text, err = _import(capsys, str(src), "-o", str(out))
    assert code == 0, text + err
    assert "futures:btcusd_perp (Binance coin-M futures): 300 events, 300 applied, gaps 0" in text
    report = replay(out)
    assert report.ok and set(report.books) == {("futures", "btcusd_perp")}, report.summary()
    book = report.books["futures", "btcusd_perp"]
    assert book.events == book.counts["applied"] == 300 and book.state == "live"
    tickers = check_tickers(out)
    assert tickers.ok and tickers.compared == tickers.agreed == 300, tickers.summary()


def test_options_that_disagree_with_the_frames_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot, frames = coinm_frames(events=20)
    src = write_hftbacktest(tmp_path / "btcusd_20231114.gz", snapshot, frames)
    out = tmp_path / "cap"
    for options, words in (
        (["--venue", "spot"], "coin-M futures"),
        (["--venue", "usdm"], "coin-M futures"),
        (["--symbol", "btcusd"], "btcusd_perp"),
    ):
        code, _, err = _import(capsys, str(src), "-o", str(out), *options)
        line = _one_line(err)
        assert code == 2 and options[0] in line and words in line, line
        assert not out.exists()
    code, text, err = _import(
        capsys, str(src), "-o", str(out), "--venue", "coinm", "--symbol", "BTCUSD_PERP"
    )
    assert code == 0, text + err
    code, text, err = _import(capsys, str(src), "-o", str(out))
    assert code == 2 and "exists" in _one_line(err)  # never overwritten


def test_a_ticker_that_disagrees_is_reported_with_its_position(tmp_path: Path) -> None:
    snapshot, frames = coinm_frames(events=50)
    wrong = orjson.loads(frames[41][1])
    assert wrong["data"]["e"] == "bookTicker"
    wrong["data"]["B"] = "999"
    frames[41] = (frames[41][0], orjson.dumps(wrong))
    out = tmp_path / "cap"
    import_recording([write_hftbacktest(tmp_path / "x.gz", snapshot, frames)], out)
    report = check_tickers(out, min_agreement=1.0)
    assert (report.compared, report.agreed) == (50, 49) and not report.ok
    first = report.disagreements[0]
    assert first.update_id == wrong["data"]["u"] and first.ticker[1] == "999"
    assert "futures:btcusd_perp" in str(first) and "999" in str(first)


def test_a_capture_without_tickers_is_not_checked_and_says_so(tmp_path: Path) -> None:
    snapshot, frames = coinm_frames(events=20)
    frames = [(t, f) for t, f in frames if b"bookTicker" not in f]
    out = tmp_path / "cap"
    import_recording([write_hftbacktest(tmp_path / "x.gz", snapshot, frames)], out)
    report = check_tickers(out)
    assert report.compared == 0 and not report.ok
    assert "futures:btcusd_perp" in report.summary() and "no bookTicker" in report.summary()


# -- bad inputs: one line, exit 1 or 2, nothing left behind ----------------------------------


def test_a_non_gzip_file_is_one_line_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "btcusdt_20240808.gz"
    src.write_text('1 {"stream":"btcusdt@depth@100ms"}\n')
    out = tmp_path / "cap"
    code, _, err = _import(capsys, str(src), "-o", str(out))
    assert code == 2 and "not a gzip file" in _one_line(err)
    assert not out.exists()


def test_a_directory_that_is_not_a_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "somewhere"
    src.mkdir()
    (src / "notes.txt").write_text("hello\n")
    out = tmp_path / "cap"
    out.mkdir()  # an existing, empty output folder stays as it was
    code, _, err = _import(capsys, str(src), "-o", str(out))
    assert code == 2 and "not a recording" in _one_line(err)
    assert list(out.iterdir()) == []


def test_a_truncated_gz_is_one_line_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot, frames = coinm_frames(events=3000)
    whole = write_hftbacktest(tmp_path / "whole.gz", snapshot, frames).read_bytes()
    src = tmp_path / "btcusd_20231114.gz"
    src.write_bytes(whole[: len(whole) * 2 // 3])
    out = tmp_path / "cap"
    code, _, err = _import(capsys, str(src), "-o", str(out))
    line = _one_line(err)
    assert code == 1 and "truncated" in line and str(src) in line, line
    assert not out.exists()


def test_a_missing_input_and_a_garbled_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cap"
    code, _, err = _import(capsys, str(tmp_path / "nothing.gz"), "-o", str(out))
    assert code == 2 and "no such file" in _one_line(err)
    snapshot, frames = coinm_frames(events=10)
    src = tmp_path / "garbled.gz"
    body = gzip.decompress(write_hftbacktest(src, snapshot, frames).read_bytes())
    src.write_bytes(gzip.compress(body.replace(b"\n", b"\nnot-a-time {}\n", 1)))
    code, _, err = _import(capsys, str(src), "-o", str(out))
    line = _one_line(err)
    assert code == 1 and "line 2" in line, line
    assert not out.exists()


def test_a_damaged_file_among_good_ones_imports_nothing(tmp_path: Path) -> None:
    """Three day files of one session, the last one cut short: no segment of any is kept."""
    snapshot, frames = coinm_frames(events=30)
    a = write_hftbacktest(tmp_path / "a.gz", snapshot, frames[:30])
    b = tmp_path / "b.gz"  # a second file of the same session, then an unreadable third
    b.write_bytes(gzip.compress(b"".join(b"%d %s\n" % (t, f) for t, f in frames[30:])))
    c = tmp_path / "c.gz"
    c.write_bytes(gzip.compress(b"".join(b"%d %s\n" % (t, f) for t, f in frames[30:]))[:-20])
    out = tmp_path / "cap"
    from feeds.capture.importers import RecordingError

    with pytest.raises(RecordingError):
        import_recording([a, b, c], out)
    assert not out.exists()
    paths = import_recording([a, b], out).segments
    assert len(paths) == 2 and sorted(out.iterdir()) == sorted(paths)
    assert all(p.name.endswith(SUFFIX) for p in paths)
    assert len(open_capture(out)) == 1


def test_a_write_error_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """``wexbook import`` under ``RLIMIT_FSIZE``: the kernel refuses the segment's growth
    (EFBIG, a real write error) half way; exit 1, one line, no file left."""
    snapshot, frames = coinm_frames(events=3000)
    src = write_hftbacktest(tmp_path / "btcusd_20231114.gz", snapshot, frames)
    out = tmp_path / "cap"
    child = (
        "import resource, signal, sys\n"
        "from feeds.apps.cli import main\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child, "import", str(src), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = _one_line(done.stderr)
    assert done.returncode == 1 and "cannot write" in line and "nothing written" in line, line
    assert not out.exists()


def test_replay_check_ticker_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot, frames = coinm_frames(events=40)
    good = tmp_path / "good"
    import_recording([write_hftbacktest(tmp_path / "a.gz", snapshot, frames)], good)
    assert main(["replay", str(good), "--verify", "--check-ticker"]) == 0
    assert "best bid/ask = bookTicker: 40 of 40 comparisons agree" in capsys.readouterr().out
    bare = tmp_path / "bare"  # no bookTicker frames: nothing could be compared
    plain = [(t, f) for t, f in frames if b"bookTicker" not in f]
    import_recording([write_hftbacktest(tmp_path / "b.gz", snapshot, plain)], bare)
    assert main(["replay", str(bare), "--verify"]) == 0
    capsys.readouterr()
    assert main(["replay", str(bare), "--verify", "--check-ticker"]) == 1
    out, err = capsys.readouterr()
    assert "not checked: no bookTicker" in out and "could not be compared" in _one_line(err)
