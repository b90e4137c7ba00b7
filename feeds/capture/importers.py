"""Importers: other recorders' Binance files to wexbook captures (``wexbook import``).

- hftbacktest's collector: gzip lines ``<local receive ns> <raw frame>``, one file per
  symbol per UTC day; the REST snapshot is a bare ``{"lastUpdateId", "bids", "asks"}``
  line in the stream. Given as the ``.gz`` files.
- cryptofeed's raw recorder: ``<url> <-> <recv_s>`` then ``<recv_s>: <frame>`` lines per
  websocket connection (``{EXCHANGE}.ws.*``); REST bodies in ``{EXCHANGE}.http.*`` files
  (``<url> -> <recv_s>: <body>``), merged by receive time (at equal times the websocket
  line comes first). Given as the recording's directory.

:func:`import_recording` reads the venue and the symbols from the frames themselves,
never from file names or options: a ``depthUpdate`` with ``pu`` is futures, without it
spot; ``ps`` (the pair), a ``_PERP`` symbol or a ``dstream``/``dapi`` URL is coin-M, a
``fstream``/``fapi`` URL USD-M. The stream name must name the symbol the frame carries.
Every symbol with depth frames becomes a book. Explicit ``venue`` / ``symbols`` are
checks: when they disagree with the frames the import is refused with the reason
(:class:`OptionsDisagree`).

Everything is read once before anything is written (:func:`scan`), so a file that is
not a recording (:class:`NotARecording`), or a damaged one (a truncated or corrupt
gzip, a line that is not ``<time> <frame>``: :class:`DamagedRecording`, with the file
and line) writes nothing. Segments are written under temporary names (``.partial``,
which no reader picks up) and renamed when every one is complete; on any error,
Ctrl-C included, what was written is removed. A file is never overwritten.

Frames are kept byte for byte. They are Binance's (``{"stream", "data"}``), so the
capture's connections carry ``"dialect": "binance"`` (and their ``"market"``: ``spot``,
``usdm`` or ``coinm``) and replay parses their ``depthUpdate`` events with
:func:`binance_depth_update` (spot ``U``/``u`` are WEX's ``fi``/``i``, futures
``U``/``u``/``pu`` are ``fu``/``u``/``pu``, the diff-depth algorithm WEX documents) into
the same :class:`~orderbook.BookSync` path. Symbols become lowercase (``BTCUSD_PERP`` ->
``btcusd_perp``). Neither recorder has a monotonic clock: the capture's monotonic times
are the receive times.

While importing, the engine runs over the data (exactly as a replay will), so every
segment starts with every book's exact state (one segment per input day file for
hftbacktest) and carries checkpoints (every ``checkpoint_interval`` s of receive time)
and the engine's decisions: a later replay with ``verify`` proves it rebuilt the same
books. The :class:`ImportReport` counts, per book, the events, those applied and the
gaps; a book with depth events of which none applied is a problem (``ok`` false).
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import heapq
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from orderbook import (
    BookSync,
    Decision,
    DepthSnapshot,
    MalformedEvent,
    Venue,
    WexbookError,
    sequencer_for,
)

from .dialects import binance_depth_update
from .format import (
    PER_EVENT,
    SUFFIX,
    book_hash,
    book_state,
    counts_of,
    decision_record,
    public_url,
)
from .writer import SegmentWriter

_loads = orjson.loads

#: Longest input line read (a frame or a REST body); a longer one is a damaged recording.
MAX_LINE = 64 * 2**20
#: Binance markets: the wexbook venue of each, and its name for people.
MARKETS: dict[str, Venue] = {"spot": Venue.SPOT, "usdm": Venue.FUTURES, "coinm": Venue.FUTURES}
MARKET_NAMES = {"spot": "spot", "usdm": "USD-M futures", "coinm": "coin-M futures"}
#: ``--venue`` values and the markets each accepts.
VENUE_CHOICES: dict[str, frozenset[str]] = {
    "spot": frozenset({"spot"}),
    "futures": frozenset({"usdm", "coinm"}),
    "usdm": frozenset({"usdm"}),
    "coinm": frozenset({"coinm"}),
}
#: Hosts of Binance's endpoints, by market (websocket and REST).
_HOSTS = {
    "stream.binance.com": "spot",
    "data-stream.binance.vision": "spot",
    "api.binance.com": "spot",
    "fstream.binance.com": "usdm",
    "fapi.binance.com": "usdm",
    "dstream.binance.com": "coinm",
    "dapi.binance.com": "coinm",
}
#: cryptofeed's exchange names, by market.
_EXCHANGES = {"BINANCE": "spot", "BINANCE_FUTURES": "usdm", "BINANCE_DELIVERY": "coinm"}
_CRYPTOFEED_FILE = re.compile(r"(?P<exchange>[A-Z0-9_]+)\.(?P<kind>ws|http)\.\d+\.\d+")

Key = tuple[str, str]  # (venue, symbol)


# -- errors ------------------------------------------------------------------------------


class RecordingError(WexbookError):
    """The import cannot be done; the message is one line for people.

    ``usage`` is true when the input is not a recording at all or the options disagree
    with it (``wexbook import`` exits 2), false when the recording is damaged (exit 1).
    """

    usage = False


class NotARecording(RecordingError):
    """The input is not an hftbacktest file nor a cryptofeed directory (or is unreadable)."""

    usage = True


class OptionsDisagree(RecordingError):
    """An explicit venue or symbol disagrees with what the frames say."""

    usage = True


class DamagedRecording(RecordingError):
    """The recording is of a known kind but cannot be read to its end, or contradicts itself."""


# -- Binance frames --------------------------------------------------------------------


def binance_book_ticker(raw: bytes | str) -> tuple[str, int, str, str, str, str] | None:
    """``(symbol, u, bid, bid qty, ask, ask qty)`` of a Binance ``bookTicker`` frame, or None
    (not a bookTicker, or not a well-formed one)."""
    if (b"bookTicker" if isinstance(raw, bytes) else "bookTicker") not in raw:
        return None
    try:
        msg = _loads(raw)
        data = msg.get("data", msg)
        row = (data["s"].lower(), data["u"], data["b"], data["B"], data["a"], data["A"])
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None
    if type(row[1]) is not int or not all(type(v) is str for v in row[2:]):
        return None
    return row


def _market_of_url(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return None
    return _HOSTS.get(host)


def _depth_facts(raw: bytes) -> tuple[str, bool, bool, str | None] | None:
    """``(SYMBOL, futures, coin-M, stream symbol)`` of a depthUpdate frame, None otherwise
    (other topics, and depthUpdates too broken to say: the engine will count those)."""
    if b'"depthUpdate"' not in raw:
        return None
    try:
        msg = _loads(raw)
        data = msg.get("data", msg)
        symbol = data["s"]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None
    if type(symbol) is not str or not symbol:
        return None
    stream = msg.get("stream") if "data" in msg else None
    named = stream.split("@", 1)[0] if type(stream) is str else None
    futures = "pu" in data
    coinm = futures and ("ps" in data or symbol.upper().endswith("_PERP"))
    return symbol, futures, coinm, named


# -- what a recording holds -----------------------------------------------------------------


@dataclass(slots=True)
class Source:
    """One connection's worth of input: an hftbacktest session or a cryptofeed ws file."""

    kind: str  #: ``hftbacktest`` or ``cryptofeed``
    files: list[Path]  #: hftbacktest: the day files, in time order; cryptofeed: one ws file
    url: str | None = None  #: the websocket URL (cryptofeed)
    market: str | None = None  #: ``spot``, ``usdm`` or ``coinm`` (None: no depth frame)
    evidence: str = ""  #: why that market, for people
    symbols: list[str] = field(default_factory=list)  #: lowercase, in order of appearance
    first_ns: int = 0
    depth_frames: int = 0

    @property
    def venue(self) -> Venue:
        return MARKETS[self.market or "spot"]

    @property
    def name(self) -> str:
        return ", ".join(str(f) for f in self.files)


@dataclass(slots=True)
class Recording:
    """What :func:`scan` found: the sources, and the cryptofeed REST files by folder."""

    sources: list[Source] = field(default_factory=list)
    #: cryptofeed directory -> its REST files (``{EXCHANGE}.http.*``)
    rest: dict[Path, list[Path]] = field(default_factory=dict)
    #: cryptofeed directory -> its ws sources (indices into ``sources``)
    folders: dict[Path, list[int]] = field(default_factory=dict)

    @property
    def symbols(self) -> list[str]:
        seen: dict[str, None] = {}
        for source in self.sources:
            seen.update(dict.fromkeys(source.symbols))
        return list(seen)


def _readlines(f: Any, path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, line without its newline)`` of an open binary file, bounded."""
    number = 0
    while True:
        line = f.readline(MAX_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            raise DamagedRecording(f"{path} line {number}: longer than {MAX_LINE} bytes")
        yield number, line.rstrip(b"\r\n")


@contextlib.contextmanager
def _reading(path: Path, lineno: list[int]) -> Iterator[None]:
    """Turns the ways reading ``path`` fails into one-line errors with the position."""
    try:
        yield
    except EOFError:
        raise DamagedRecording(
            f"{path}: truncated gzip: the file ends inside its compressed stream "
            f"(after line {lineno[0]})"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DamagedRecording(f"{path}: corrupt gzip after line {lineno[0]}: {exc}") from None
    except IsADirectoryError:
        raise NotARecording(f"{path}: is a directory") from None
    except OSError as exc:
        raise DamagedRecording(f"cannot read {path}: {exc.strerror or exc}") from None


def _hftbacktest_lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """``(line number, receive ns, frame or REST body)`` of a collector file."""
    where = [0]
    with _reading(path, where), gzip.open(path, "rb") as f:
        for number, line in _readlines(f, path):
            where[0] = number
            if not line:
                continue
            stamp, _, raw = line.partition(b" ")
            if not stamp.isdigit() or not raw:
                raise DamagedRecording(
                    f"{path} line {number}: not '<receive ns> <frame>' "
                    f"(starts {line[:40].decode(errors='replace')!r})"
                )
            yield number, int(stamp), raw


def _seconds_ns(text: bytes, path: Path, number: int) -> int:
    try:
        return int(Decimal(text.decode().strip()) * 1_000_000_000)
    except (InvalidOperation, UnicodeDecodeError, ValueError):
        raise DamagedRecording(
            f"{path} line {number}: not a time in seconds: {text[:40].decode(errors='replace')!r}"
        ) from None


def _cryptofeed_ws_lines(path: Path) -> Iterator[tuple[int, int, str | None, bytes]]:
    """``(line number, receive ns, connection URL or None, frame)`` of a ws file."""
    where = [0]
    with _reading(path, where), open(path, "rb") as f:
        for number, line in _readlines(f, path):
            where[0] = number
            if not line:
                continue
            if b" <-> " in line[:8192] and not line[:1].isdigit():
                url, _, stamp = line.rpartition(b" <-> ")
                yield number, _seconds_ns(stamp, path, number), url.decode(errors="replace"), b""
                continue
            stamp, sep, raw = line.partition(b": ")
            if not sep:
                raise DamagedRecording(f"{path} line {number}: not '<seconds>: <frame>'")
            yield number, _seconds_ns(stamp, path, number), None, raw


def _cryptofeed_http_lines(path: Path) -> Iterator[tuple[int, int, str, bytes]]:
    """``(line number, receive ns, request URL, body)`` of a REST file."""
    where = [0]
    with _reading(path, where), open(path, "rb") as f:
        for number, line in _readlines(f, path):
            where[0] = number
            if not line:
                continue
            url, sep, rest = line.partition(b" -> ")
            stamp, sep2, body = rest.partition(b": ")
            if not (sep and sep2):
                raise DamagedRecording(f"{path} line {number}: not '<url> -> <seconds>: <body>'")
            yield number, _seconds_ns(stamp, path, number), url.decode(errors="replace"), body


class _Facts:
    """Accumulates what one source's depth frames say (market, symbols)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.symbols: dict[str, None] = {}
        self.futures: bool | None = None
        self.coinm = False
        self.coinm_why = ""

    def frame(self, raw: bytes, where: str) -> None:
        facts = _depth_facts(raw)
        if facts is None:
            return
        symbol, futures, coinm, named = facts
        self.source.depth_frames += 1
        lower = symbol.lower()
        if named is not None and named.lower() != lower:
            raise DamagedRecording(
                f"{where}: stream {named}@... carries the frames of another symbol, {symbol}"
            )
        if self.futures is None:
            self.futures = futures
        elif self.futures != futures:
            raise DamagedRecording(
                f"{where}: a depthUpdate {'with' if futures else 'without'} pu among "
                f"depthUpdates {'with' if self.futures else 'without'} (spot and futures "
                "frames in one stream)"
            )
        if coinm and not self.coinm:
            self.coinm = True
            self.coinm_why = f"symbol {symbol}" + (", pair ps" if b'"ps"' in raw else "")
        self.symbols.setdefault(lower, None)

    def finish(self) -> None:
        source = self.source
        source.symbols = list(self.symbols)
        if self.futures is None:
            return
        by_url = _market_of_url(source.url)
        if not self.futures:
            market, why = "spot", "depthUpdate frames without pu"
        elif by_url in ("usdm", "coinm"):
            market, why = by_url, f"depthUpdate frames with pu, URL {urlsplit(source.url).hostname}"
        elif self.coinm:
            market, why = "coinm", f"depthUpdate frames with pu, {self.coinm_why}"
        else:
            market, why = "usdm", "depthUpdate frames with pu, no coin-M pair"
        if by_url is not None and MARKETS[by_url] is not MARKETS[market]:
            raise DamagedRecording(
                f"{source.name}: the URL is Binance {MARKET_NAMES[by_url]} but the frames are "
                f"{MARKET_NAMES[market]} ({why})"
            )
        source.market, source.evidence = market, why


def _sniff(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(2)
    except IsADirectoryError:
        raise NotARecording(f"{path}: is a directory") from None
    except OSError as exc:
        raise NotARecording(f"cannot read {path}: {exc.strerror or exc}") from None


def scan(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> Recording:
    """Read every input once: its kind, each connection's market and symbols.

    ``inputs``: hftbacktest ``.gz`` files and cryptofeed directories. Raises
    :class:`NotARecording` or :class:`DamagedRecording` (one line, with the position).
    ``progress("reading", done, total)`` is called before each input and at the end.
    """
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.resolve() not in {p.resolve() for p in paths}:
            paths.append(path)
    if not paths:
        raise NotARecording("no input given")
    recording = Recording()
    hft: list[Source] = []
    for done, path in enumerate(paths):
        if progress is not None:
            progress("reading", done, len(paths))
        if not path.exists():
            raise NotARecording(f"no such file or directory: {path}")
        if path.is_dir():
            _scan_cryptofeed(path, recording)
            continue
        if _CRYPTOFEED_FILE.fullmatch(path.name):
            raise NotARecording(
                f"{path}: a cryptofeed file: give the recording's directory ({path.parent})"
            )
        if _sniff(path) != b"\x1f\x8b":
            raise NotARecording(
                f"{path}: not a gzip file (hftbacktest collector files are gzip; a cryptofeed "
                "recording is given as its directory)"
            )
        hft.append(_scan_hftbacktest(path))
    if progress is not None:
        progress("reading", len(paths), len(paths))
    # hftbacktest: one file per symbol per UTC day; a symbol's files are one session.
    sessions: dict[tuple[str, ...], list[Source]] = {}
    for source in hft:
        sessions.setdefault(tuple(sorted(source.symbols)), []).append(source)
    for files in sessions.values():
        files.sort(key=lambda s: s.first_ns)
        markets = {s.market for s in files}
        if len(markets) > 1:
            raise DamagedRecording(
                f"the files of {', '.join(files[0].symbols)} disagree: "
                + "; ".join(f"{s.name}: {MARKET_NAMES[s.market or 'spot']}" for s in files)
            )
        first = files[0]
        recording.sources.append(
            Source(
                "hftbacktest",
                [f for s in files for f in s.files],
                None,
                first.market,
                first.evidence,
                first.symbols,
                first.first_ns,
                sum(s.depth_frames for s in files),
            )
        )
    return recording


def _scan_hftbacktest(path: Path) -> Source:
    source = Source("hftbacktest", [path])
    facts = _Facts(source)
    snapshots: list[tuple[int, bytes]] = []
    for number, wall, raw in _hftbacktest_lines(path):
        if not source.first_ns:
            source.first_ns = wall
        if raw.startswith(b'{"lastUpdateId"'):
            snapshots.append((number, raw))
        else:
            facts.frame(raw, f"{path} line {number}")
    facts.finish()
    if not source.symbols:
        raise DamagedRecording(f"{path}: no Binance depthUpdate frame: nothing to import")
    if len(source.symbols) > 1:
        for number, raw in snapshots:
            if _snapshot_symbol(raw) is None:
                raise DamagedRecording(
                    f"{path} line {number}: a REST snapshot without its symbol in a file of "
                    f"several symbols ({', '.join(source.symbols)})"
                )
    return source


def _snapshot_symbol(raw: bytes) -> str | None:
    try:
        symbol = _loads(raw).get("symbol")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return symbol.lower() if type(symbol) is str else None


def _exchange_of(path: Path) -> str:
    """The cryptofeed exchange name of a ``{EXCHANGE}.ws.*`` / ``.http.*`` file."""
    match = _CRYPTOFEED_FILE.fullmatch(path.name)
    assert match is not None
    return match["exchange"]


def _scan_cryptofeed(folder: Path, recording: Recording) -> None:
    try:
        names = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError as exc:
        raise NotARecording(f"cannot read {folder}: {exc.strerror or exc}") from None
    ws, http = [], []
    for path in names:
        match = _CRYPTOFEED_FILE.fullmatch(path.name)
        if match is None:
            continue
        exchange = match["exchange"]
        if exchange not in _EXCHANGES:
            raise NotARecording(
                f"{path}: a {exchange} recording: only Binance's are imported "
                f"({', '.join(_EXCHANGES)})"
            )
        (ws if match["kind"] == "ws" else http).append(path)
    if not ws:
        raise NotARecording(
            f"{folder}: not a recording: no cryptofeed {{EXCHANGE}}.ws.* file in it "
            "(hftbacktest inputs are the .gz files themselves)"
        )
    indices = []
    for path in ws:
        source = Source("cryptofeed", [path])
        facts = _Facts(source)
        for number, wall, url, raw in _cryptofeed_ws_lines(path):
            if not source.first_ns:
                source.first_ns = wall
            if url is not None:
                source.url = source.url or url
            else:
                facts.frame(raw, f"{path} line {number}")
        exchange = _exchange_of(path)
        exchange_market = _EXCHANGES[exchange]
        facts.finish()
        if source.market is not None and MARKETS[source.market] is not MARKETS[exchange_market]:
            raise DamagedRecording(
                f"{path}: a {exchange} file ({MARKET_NAMES[exchange_market]}) whose frames are "
                f"{MARKET_NAMES[source.market]} ({source.evidence})"
            )
        if source.symbols:
            indices.append(len(recording.sources))
            recording.sources.append(source)
    if not indices:
        raise DamagedRecording(f"{folder}: no Binance depthUpdate frame: nothing to import")
    for path in http:  # read through once: a damaged REST file is said now
        for _ in _cryptofeed_http_lines(path):
            pass
    recording.rest[folder] = http
    recording.folders[folder] = indices


def check_options(
    recording: Recording, venue: str | None = None, symbols: Iterable[str] | None = None
) -> None:
    """Raise :class:`OptionsDisagree` when ``venue`` (a key of :data:`VENUE_CHOICES`) or
    ``symbols`` (the whole set of the recording's symbols) disagree with the frames."""
    if venue is not None:
        if venue not in VENUE_CHOICES:
            raise OptionsDisagree(f"--venue {venue}: one of {', '.join(VENUE_CHOICES)}")
        for source in recording.sources:
            if source.market not in VENUE_CHOICES[venue]:
                raise OptionsDisagree(
                    f"--venue {venue}: the frames of {source.name} are Binance "
                    f"{MARKET_NAMES[source.market or 'spot']} ({source.evidence})"
                )
    if symbols is not None:
        wanted = sorted({s.strip().lower() for s in symbols})
        found = sorted(recording.symbols)
        if wanted != found:
            raise OptionsDisagree(
                f"--symbol {' '.join(wanted)}: the frames carry {' '.join(found)}"
            )


# -- writing ---------------------------------------------------------------------------------


def _snapshot(symbol: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "last_id": body["lastUpdateId"],
        "bids": body["bids"],
        "asks": body["asks"],
        "timestamp": body.get("E"),
        "depth": max(len(body["bids"]), len(body["asks"])),
    }


@dataclass(slots=True)
class ImportedBook:
    """What the import did with one book."""

    venue: str
    symbol: str
    market: str
    events: int = 0
    applied: int = 0
    gaps: int = 0
    resyncs: int = 0
    state: str = ""
    update_id: int | None = None


@dataclass(slots=True)
class ImportReport:
    """The outcome of :func:`import_recording`."""

    out: Path
    inputs: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    segments: list[Path] = field(default_factory=list)
    frames: int = 0
    snapshots: int = 0
    #: REST snapshots of symbols without a depth stream (not handed to any book).
    snapshots_unused: int = 0
    books: dict[Key, ImportedBook] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        """Books whose every depth event went unapplied (no snapshot bridged the stream)."""
        return [
            f"{v}:{s}: none of its {b.events} depth events applied "
            "(no REST snapshot bridged the stream)"
            for (v, s), b in sorted(self.books.items())
            if b.applied == 0
        ]

    @property
    def ok(self) -> bool:
        return bool(self.books) and not self.problems

    def summary(self) -> str:
        """A few lines for people: what was written, then events, applied and gaps per book."""
        lines = [
            f"imported {len(self.inputs)} input(s) into {self.out}: {len(self.runs)} run(s), "
            f"{len(self.segments)} segment(s), {self.frames} frames, "
            f"{self.snapshots} REST snapshot(s)"
            + (f" ({self.snapshots_unused} of symbols without depth frames, unused)"
               if self.snapshots_unused else "")
        ]  # fmt: skip
        for (venue, symbol), b in sorted(self.books.items()):
            lines.append(
                f"  {venue}:{symbol} (Binance {MARKET_NAMES[b.market]}): {b.events} events, "
                f"{b.applied} applied, gaps {b.gaps}, resyncs {b.resyncs}, "
                f"final {b.state} at {b.update_id}"
            )
        lines += [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)


class _Importer:
    """Writes one run's segments (under temporary names) while running the engine over them."""

    def __init__(
        self,
        out: Path,
        run: str,
        source: str,
        books: dict[Key, str],
        checkpoint_interval: float,
    ) -> None:
        self.out = out
        self.run = run
        self.source = source
        self.step = int(checkpoint_interval * 1e9)
        self.markets = books
        self.books: dict[Key, BookSync] = {}
        self.events: dict[Key, int] = dict.fromkeys(books, 0)
        self.conns: list[dict[str, Any]] = []
        self.conn_venues: list[Venue] = []
        self.segment = -1
        self.writer: SegmentWriter | None = None
        self.paths: list[Path] = []  #: final names
        self.partials: list[Path] = []  #: the names written to
        self.now = (0, 0)
        self.next_cp = 0
        self.frames = 0
        self.snapshots = 0
        for (venue, symbol), market in books.items():
            rule = "pu" if MARKETS[market] is Venue.FUTURES else None
            self.books[venue, symbol] = BookSync(
                symbol, sequencer_for(Venue(venue), rule or "pu"), observer=self._observe
            )

    def _observe(self, decision: Decision, sync: BookSync, payload: object) -> None:
        if decision in PER_EVENT or self.writer is None:
            return
        self.writer.record(decision_record(decision, sync, payload), *self.now)

    def _book_record(self, sync: BookSync, *, start: bool) -> dict[str, Any]:
        record = {"k": "book", "start": start, **book_state(sync)}
        record["config"] = {
            "chain_rule": "pu" if sync.venue is Venue.FUTURES else None,
            "max_buffer": sync.max_buffer,
            "max_unapplied": sync.max_unapplied,
        }
        return record

    def name(self, segment: int) -> str:
        return f"{self.run}-{segment:05d}{SUFFIX}"

    def _close_writer(self) -> None:
        """Close the segment being written and check that all of it reached the file."""
        writer, self.writer = self.writer, None
        if writer is None:
            return
        writer.close()
        partial = self.partials[-1]
        size = partial.stat().st_size
        if size != writer.bytes_out:  # a short write the writer did not see
            raise OSError(
                errno.ENOSPC,
                f"short write: {size} of {writer.bytes_out} bytes reached the file",
                str(partial),
            )

    def new_segment(self, wall: int, extra: dict[str, Any] | None = None) -> None:
        self._close_writer()
        self.segment += 1
        path = self.out / self.name(self.segment)
        partial = path.with_name(path.name + ".partial")
        header = {
            "run": self.run,
            "segment": self.segment,
            "previous": self.paths[-1].name if self.paths else None,
            "imported_from": self.source,
            "conns": self.conns,
            "symbols": [f"{v}:{s}" for v, s in self.books],
            "markets": {f"{v}:{s}": m for (v, s), m in self.markets.items()},
            "monotonic": "none recorded: monotonic times are the receive times",
            "t": wall,
            "m": wall,
            **(extra or {}),
        }
        self.partials.append(partial)
        self.writer = SegmentWriter(partial, header)
        self.paths.append(path)
        for sync in self.books.values():
            self.writer.record(self._book_record(sync, start=True), wall, wall)

    def conn(self, url: str | None, wall: int, market: str) -> int:
        venue = MARKETS[market]
        info = {
            "c": len(self.conns),
            "v": venue.value,
            "url": public_url(url),
            "dialect": "binance",
            "market": market,
        }
        self.conns.append(info)
        self.conn_venues.append(venue)
        assert self.writer is not None
        self.writer.record({"k": "conn", "state": "new", **info}, wall, wall)
        self.writer.record(
            {"k": "conn", "c": info["c"], "state": "connected", "connects": 1}, wall, wall
        )
        return info["c"]

    def _checkpoints(self, wall: int) -> None:
        if not self.next_cp:
            self.next_cp = wall + self.step
        if wall < self.next_cp:
            return
        assert self.writer is not None
        for sync in self.books.values():
            live = sync.state.value == "live"
            self.writer.record(
                {
                    "k": "cp",
                    "v": sync.venue.value,
                    "s": sync.symbol,
                    "state": sync.state.value,
                    "update_id": sync.update_id,
                    "generation": sync.generation,
                    "counts": counts_of(sync),
                    "hash": book_hash(sync) if live else None,
                },
                wall,
                wall,
            )
        self.next_cp = wall + self.step

    def frame(self, conn: int, raw: bytes, wall: int) -> None:
        self._checkpoints(wall)
        self.now = (wall, wall)
        assert self.writer is not None
        self.writer.frame(conn, raw, wall, wall)
        self.frames += 1
        if b'"depthUpdate"' not in raw:  # other topics (most frames): no exception to raise
            return
        venue = self.conn_venues[conn]
        try:
            event = binance_depth_update(raw, venue)
        except MalformedEvent:
            return
        key = (venue.value, event.symbol)
        sync = self.books.get(key)
        if sync is not None:
            self.events[key] += 1
            sync.on_update(event)

    def snapshot(self, key: Key, body: dict[str, Any], wall: int, url: str | None) -> bool:
        """Hand a REST snapshot to book ``key``; False when there is no such book."""
        sync = self.books.get(key)
        if sync is None:
            return False
        self._checkpoints(wall)
        self.now = (wall, wall)
        venue, symbol = key
        assert self.writer is not None
        self.writer.record(
            {"k": "snapreq", "v": venue, "s": symbol, "url": public_url(url)}, wall, wall
        )
        snap = _snapshot(symbol, body)
        self.writer.record({"k": "snap", "v": venue, "s": symbol, "snapshot": snap}, wall, wall)
        sync.on_snapshot(DepthSnapshot(**snap))
        self.snapshots += 1
        return True

    def close(self) -> None:
        if self.writer is not None:
            last = self.now[0]
            self.next_cp = last  # a final checkpoint of every book
            self._checkpoints(last)
            self._close_writer()

    def abort(self) -> None:
        """Close quietly and remove every file written."""
        writer, self.writer = self.writer, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        for partial in self.partials:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()

    def report_into(self, report: ImportReport) -> None:
        for key, sync in self.books.items():
            counts = sync.counts
            report.books[key] = ImportedBook(
                key[0],
                key[1],
                self.markets[key],
                events=self.events[key],
                applied=counts[Decision.APPLIED],
                gaps=counts[Decision.GAP],
                resyncs=max(0, counts[Decision.SNAPSHOT_ACCEPTED] - 1),
                state=sync.state.value,
                update_id=sync.update_id,
            )
        report.frames += self.frames
        report.snapshots += self.snapshots


def _body(raw: bytes, where: str) -> dict[str, Any]:
    try:
        body = _loads(raw)
    except orjson.JSONDecodeError:
        raise DamagedRecording(f"{where}: a REST snapshot that is not JSON") from None
    if type(body) is not dict or not all(k in body for k in ("lastUpdateId", "bids", "asks")):
        raise DamagedRecording(f"{where}: a REST snapshot without lastUpdateId, bids and asks")
    return body


def _import_hftbacktest(imp: _Importer, source: Source) -> None:
    conn: int | None = None
    market = source.market or "spot"
    venue = MARKETS[market].value
    only = source.symbols[0] if len(source.symbols) == 1 else None
    for path in source.files:
        first = True
        for number, wall, raw in _hftbacktest_lines(path):
            if first:
                imp.new_segment(wall, {"source_file": path.name})
                if conn is None:
                    conn = imp.conn(None, wall, market)
                first = False
            if raw.startswith(b'{"lastUpdateId"'):
                where = f"{path} line {number}"
                body = _body(raw, where)
                symbol = only or _snapshot_symbol(raw)
                if symbol is None or not imp.snapshot((venue, symbol), body, wall, None):
                    raise DamagedRecording(f"{where}: a REST snapshot of no symbol of the file")
            else:
                assert conn is not None
                imp.frame(conn, raw, wall)


def _tagged(
    lines: Iterator[tuple[int, int, Any, bytes]], kind: int, index: int
) -> Iterator[tuple[int, int, int, Any, bytes]]:
    """``(receive ns, kind, index, url, data)`` of one cryptofeed file's lines, for the merge."""
    for _, wall, url, raw in lines:
        yield wall, kind, index, url, raw


def _import_cryptofeed(
    imp: _Importer, folder: Path, sources: list[Source], rest: list[Path], report: ImportReport
) -> None:
    streams = [_tagged(_cryptofeed_ws_lines(s.files[0]), 0, i) for i, s in enumerate(sources)]
    streams += [
        _tagged(_cryptofeed_http_lines(p), 1, i) for i, p in enumerate(rest, start=len(sources))
    ]
    files = [s.files[0] for s in sources] + rest
    conns: dict[int, int] = {}
    started = False
    for wall, kind, index, url, raw in heapq.merge(*streams):
        if not started:
            imp.new_segment(wall, {"source_files": [p.name for p in files]})
            started = True
        if kind == 1:
            symbol = parse_qs(urlsplit(url).query).get("symbol", [""])[0].lower()
            market = _market_of_url(url) or _EXCHANGES[_exchange_of(files[index])]
            key = (MARKETS[market].value, symbol)
            if symbol and imp.snapshot(key, _body(raw, f"{files[index]}"), wall, url):
                continue
            report.snapshots_unused += 1
            continue
        source = sources[index]
        if url is not None:  # a connection line
            conns[index] = imp.conn(url.split("?", 1)[0], wall, source.market or "spot")
            continue
        if index not in conns:
            conns[index] = imp.conn(source.url, wall, source.market or "spot")
        imp.frame(conns[index], raw, wall)


def _run_names(recording: Recording) -> list[str]:
    names: list[str] = []
    for source in recording.sources:
        if source.kind != "hftbacktest":
            continue
        day = source.files[0].name.split(".", 1)[0].split("_")[-1]
        symbols = "+".join(source.symbols[:3]) + ("+more" if len(source.symbols) > 3 else "")
        names.append(f"hftbacktest-{symbols}-{day}")
    for indices in recording.folders.values():
        exchanges = sorted({_exchange_of(recording.sources[i].files[0]) for i in indices})
        names.append(f"cryptofeed-{'+'.join(e.lower() for e in exchanges)}")
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}.{seen[name]}")
    return unique


def import_recording(
    inputs: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    venue: str | None = None,
    symbols: Iterable[str] | None = None,
    checkpoint_interval: float = 1.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportReport:
    """Import hftbacktest ``.gz`` files and cryptofeed directories into the capture folder
    ``out`` (see the module docstring); returns the :class:`ImportReport`.

    ``progress(stage, done, total)`` is called as the import goes: ``"reading"`` (inputs
    read through, of all) and then ``"writing"`` (recordings written, of all).

    ``venue`` (``spot``, ``futures``, ``usdm``, ``coinm``) and ``symbols`` are checks,
    never overrides. Raises :class:`RecordingError` (nothing is left written), or
    ``OSError`` from writing (nothing is left written either).
    """
    if not checkpoint_interval > 0:
        raise ValueError("checkpoint_interval must be > 0")
    inputs = list(inputs)
    recording = scan(inputs, progress=progress)
    check_options(recording, venue, symbols)
    out = Path(out)
    report = ImportReport(out, [str(p) for p in inputs])
    names = _run_names(recording)
    created = not out.exists()
    if out.exists() and not out.is_dir():
        raise NotARecording(f"the output {out} is a file, not a folder")
    importers: list[_Importer] = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        hft = [s for s in recording.sources if s.kind == "hftbacktest"]
        plans: list[tuple[str, list[Source], Path | None]] = [
            (name, [source], None) for name, source in zip(names, hft, strict=False)
        ]
        for name, (folder, indices) in zip(
            names[len(hft) :], recording.folders.items(), strict=True
        ):
            plans.append((name, [recording.sources[i] for i in indices], folder))
        for done, (name, sources, folder) in enumerate(plans):
            if progress is not None:
                progress("writing", done, len(plans))
            books = {
                (MARKETS[s.market or "spot"].value, symbol): s.market or "spot"
                for s in sources
                for symbol in s.symbols
            }
            what = "hftbacktest collector" if folder is None else "cryptofeed raw"
            imp = _Importer(out, name, what, books, checkpoint_interval)
            segments = len(sources[0].files) if folder is None else 1
            for number in range(segments):
                if (out / imp.name(number)).exists():
                    raise NotARecording(
                        f"{out / imp.name(number)} exists: a file is never overwritten "
                        "(choose another output folder)"
                    )
            importers.append(imp)
            if folder is None:
                _import_hftbacktest(imp, sources[0])
            else:
                _import_cryptofeed(imp, folder, sources, recording.rest[folder], report)
            imp.close()
        if progress is not None:
            progress("writing", len(plans), len(plans))
        renamed: list[Path] = []
        try:
            for imp in importers:
                for partial, path in zip(imp.partials, imp.paths, strict=True):
                    os.link(partial, path)  # fails rather than overwrite
                    renamed.append(path)
        except BaseException:
            for path in renamed:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise
    except BaseException:
        for imp in importers:
            imp.abort()
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    for imp in importers:
        for partial in imp.partials:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        imp.report_into(report)
        report.runs.append(imp.run)
        report.segments.extend(imp.paths)
    return report


# -- the functions of earlier releases ---------------------------------------------------------


def import_hftbacktest(
    files: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    venue: Venue | str | None = None,
    symbol: str | None = None,
    checkpoint_interval: float = 1.0,
) -> list[Path]:
    """Import hftbacktest collector files into ``out``; one segment per file. Returns the
    segment paths. ``venue``/``symbol`` are checks (see :func:`import_recording`)."""
    paths = [Path(f) for f in files]
    for path in paths:
        if path.is_dir():
            raise NotARecording(f"{path}: is a directory (hftbacktest inputs are .gz files)")
    report = import_recording(
        paths,
        out,
        venue=None if venue is None else Venue(venue).value,
        symbols=None if symbol is None else [symbol],
        checkpoint_interval=checkpoint_interval,
    )
    return report.segments


def import_cryptofeed(
    directory: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    venue: Venue | str | None = None,
    checkpoint_interval: float = 1.0,
) -> list[Path]:
    """Import a cryptofeed raw recording (its directory) into ``out``; returns the
    segments. ``venue`` is a check (see :func:`import_recording`)."""
    if not Path(directory).is_dir():
        raise NotARecording(f"{directory}: not a directory (a cryptofeed recording is one)")
    report = import_recording(
        [directory],
        out,
        venue=None if venue is None else Venue(venue).value,
        checkpoint_interval=checkpoint_interval,
    )
    return report.segments
