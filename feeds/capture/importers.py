"""Importers: other recorders' files to wexbook captures.

- :func:`import_hftbacktest`: hftbacktest's collector (gzip lines
  ``<local receive ns> <raw frame>``, one file per symbol per UTC day; the REST
  snapshot is a bare ``{"lastUpdateId", "bids", "asks"}`` line in the stream).
- :func:`import_cryptofeed`: cryptofeed's raw recorder (``<url> <-> <recv_s>`` then
  ``<recv_s>: <frame>`` lines per websocket connection; REST bodies in a separate
  ``<url> -> <recv_s>: <body>`` file), merged by receive time; at equal times the
  websocket line comes first.

Frames are kept byte for byte. They are Binance's (``{"stream", "data"}``), so the
capture's connections carry ``"dialect": "binance"`` and replay parses their
``depthUpdate`` events with :func:`binance_depth_update` (spot ``U``/``u`` are WEX's
``fi``/``i``, futures ``U``/``u``/``pu`` are ``fu``/``u``/``pu``, the diff-depth
algorithm WEX documents) into the same :class:`~orderbook.BookSync` path. Symbols
become lowercase (``BTCUSDT`` -> ``btcusdt``). Neither recorder has a monotonic clock:
the capture's monotonic times are the receive times.

While importing, the engine runs over the data (exactly as a replay will), so every
segment starts with every book's exact state (one segment per input day file for
hftbacktest) and carries checkpoints (every ``checkpoint_interval`` s of receive time)
and the engine's decisions: a later replay with ``verify`` proves it rebuilt the same
books, and a change of the engine that alters a book is caught.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from orderbook import (
    BookSync,
    Decision,
    DepthSnapshot,
    DepthUpdate,
    MalformedEvent,
    Venue,
    sequencer_for,
)

from .format import PER_EVENT, SUFFIX, book_hash, book_state, counts_of, public_url
from .replay import DIALECTS
from .writer import SegmentWriter

_loads = orjson.loads


def binance_depth_update(raw: bytes | str, venue: Venue) -> DepthUpdate:
    """A Binance ``depthUpdate`` frame (combined-stream wrapper or bare) to a DepthUpdate."""
    if b'"depthUpdate"' not in (raw if isinstance(raw, bytes) else raw.encode()):
        raise MalformedEvent("not a depthUpdate", raw)
    try:
        msg = _loads(raw)
        data = msg.get("data", msg)
        symbol = data["s"].lower()
        first, last = data["U"], data["u"]
        prev = data.get("pu") if venue is Venue.FUTURES else None
        bids, asks = data["b"], data["a"]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise MalformedEvent("bad depthUpdate frame", raw) from None
    if type(first) is not int or type(last) is not int:
        raise MalformedEvent("depthUpdate ids must be integers", raw)
    if venue is Venue.FUTURES and type(prev) is not int:
        raise MalformedEvent("futures depthUpdate needs pu", raw)
    return DepthUpdate(symbol, first, last, prev, bids, asks, data.get("E"))


DIALECTS["binance"] = binance_depth_update


def binance_book_ticker(raw: bytes) -> tuple[str, int, str, str, str, str] | None:
    """``(symbol, u, bid, bid qty, ask, ask qty)`` of a Binance ``bookTicker`` frame, or None."""
    if b"bookTicker" not in raw:
        return None
    msg = _loads(raw)
    data = msg.get("data", msg)
    if "u" not in data or "b" not in data or "A" not in data:
        return None
    return data["s"].lower(), data["u"], data["b"], data["B"], data["a"], data["A"]


def _snapshot(symbol: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "last_id": body["lastUpdateId"],
        "bids": body["bids"],
        "asks": body["asks"],
        "timestamp": body.get("E"),
        "depth": max(len(body["bids"]), len(body["asks"])),
    }


class _Importer:
    """Writes segments while running the engine over what it writes."""

    def __init__(
        self, out: Path, run: str, venue: Venue, source: str, checkpoint_interval: float
    ) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.run = run
        self.venue = venue
        self.source = source
        self.step = int(checkpoint_interval * 1e9)
        self.books: dict[str, BookSync] = {}
        self.conns: list[dict[str, Any]] = []
        self.segment = -1
        self.writer: SegmentWriter | None = None
        self.paths: list[Path] = []
        self.now = (0, 0)
        self.next_cp = 0

    def _observe(self, decision: Decision, sync: BookSync, payload: object) -> None:
        if decision in PER_EVENT or self.writer is None:
            return
        live = sync.state.value == "live"
        record = {
            "k": "d",
            "v": sync.venue.value,
            "s": sync.symbol,
            "d": decision.value,
            "state": sync.state.value,
            "update_id": sync.update_id,
            "generation": sync.generation,
            "reason": payload if isinstance(payload, str) else sync.reason,
            "hash": book_hash(sync) if live else None,
        }
        self.writer.record(record, *self.now)

    def book(self, symbol: str) -> BookSync:
        sync = self.books.get(symbol)
        if sync is None:
            rule = "pu" if self.venue is Venue.FUTURES else None
            sync = BookSync(symbol, sequencer_for(self.venue, rule or "pu"), observer=self._observe)
            self.books[symbol] = sync
            assert self.writer is not None
            self.writer.record(self._book_record(sync, start=False), *self.now)
        return sync

    def _book_record(self, sync: BookSync, *, start: bool) -> dict[str, Any]:
        record = {"k": "book", "start": start, **book_state(sync)}
        record["config"] = {
            "chain_rule": "pu" if self.venue is Venue.FUTURES else None,
            "max_buffer": sync.max_buffer,
            "max_unapplied": sync.max_unapplied,
        }
        return record

    def new_segment(self, wall: int, extra: dict[str, Any] | None = None) -> None:
        if self.writer is not None:
            self.writer.close()
        self.segment += 1
        path = self.out / f"{self.run}-{self.segment:05d}{SUFFIX}"
        header = {
            "run": self.run,
            "segment": self.segment,
            "previous": self.paths[-1].name if self.paths else None,
            "imported_from": self.source,
            "conns": self.conns,
            "symbols": [f"{self.venue.value}:{s}" for s in self.books],
            "monotonic": "none recorded: monotonic times are the receive times",
            "t": wall,
            "m": wall,
            **(extra or {}),
        }
        self.writer = SegmentWriter(path, header)
        self.paths.append(path)
        for sync in self.books.values():
            self.writer.record(self._book_record(sync, start=True), wall, wall)

    def conn(self, url: str | None, wall: int) -> int:
        info = {
            "c": len(self.conns),
            "v": self.venue.value,
            "url": public_url(url),
            "dialect": "binance",
        }
        self.conns.append(info)
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
        try:
            event = binance_depth_update(raw, self.venue)
        except MalformedEvent:
            return
        sync = self.books.get(event.symbol)
        if sync is not None:
            sync.on_update(event)

    def snapshot(self, symbol: str, body: dict[str, Any], wall: int, url: str | None) -> None:
        self._checkpoints(wall)
        self.now = (wall, wall)
        sync = self.book(symbol)
        assert self.writer is not None
        self.writer.record(
            {"k": "snapreq", "v": self.venue.value, "s": symbol, "url": public_url(url)}, wall, wall
        )
        snap = _snapshot(symbol, body)
        self.writer.record(
            {"k": "snap", "v": self.venue.value, "s": symbol, "snapshot": snap}, wall, wall
        )
        sync.on_snapshot(DepthSnapshot(**snap))

    def close(self) -> list[Path]:
        if self.writer is not None:
            last = self.now[0]
            self.next_cp = last  # a final checkpoint of every book
            self._checkpoints(last)
            self.writer.close()
            self.writer = None
        return self.paths


def _ns(seconds_text: str) -> int:
    return int(Decimal(seconds_text) * 1_000_000_000)


def import_hftbacktest(
    files: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    venue: Venue | str = "spot",
    symbol: str | None = None,
    checkpoint_interval: float = 1.0,
) -> list[Path]:
    """Import hftbacktest collector files (in session order: one per UTC day) into ``out``;
    one segment per file. Returns the segment paths."""
    paths = [Path(f) for f in files]
    if not paths:
        raise ValueError("no input files")
    venue = Venue(venue)
    symbol = symbol or paths[0].name.split("_", 1)[0].lower()
    run = f"hftbacktest-{symbol}-{paths[0].name.split('.', 1)[0].split('_')[-1]}"
    imp = _Importer(Path(out), run, venue, "hftbacktest collector", checkpoint_interval)
    conn = None
    for path in paths:
        with gzip.open(path, "rb") as f:
            first = True
            for line in f:
                stamp, _, raw = line.rstrip(b"\n").partition(b" ")
                if not raw:
                    continue
                wall = int(stamp)
                if first:
                    imp.new_segment(wall, {"source_file": path.name})
                    if conn is None:
                        conn = imp.conn(None, wall)
                        imp.book(symbol)
                    first = False
                if raw.startswith(b'{"lastUpdateId"'):
                    imp.snapshot(symbol, _loads(raw), wall, None)
                else:
                    imp.frame(conn, raw, wall)  # type: ignore[arg-type]
    return imp.close()


def _cryptofeed_ws(path: Path) -> Iterator[tuple[int, int, str | None, bytes]]:
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if b" <-> " in line[:4096] and not line[:1].isdigit():
                url, _, stamp = line.rpartition(b" <-> ")
                yield _ns(stamp.decode()), 0, url.decode(), b""
                continue
            stamp, sep, raw = line.partition(b": ")
            if sep:
                yield _ns(stamp.decode()), 0, None, raw


def _cryptofeed_http(path: Path) -> Iterator[tuple[int, int, str | None, bytes]]:
    with open(path, "rb") as f:
        for line in f:
            url, sep, rest = line.rstrip(b"\n").partition(b" -> ")
            stamp, sep2, body = rest.partition(b": ")
            if sep and sep2:
                yield _ns(stamp.decode()), 1, url.decode(), body


def import_cryptofeed(
    directory: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    exchange: str = "BINANCE_FUTURES",
    venue: Venue | str = "futures",
    checkpoint_interval: float = 1.0,
) -> list[Path]:
    """Import a cryptofeed raw recording (``{exchange}.ws.*`` and ``{exchange}.http.*``
    files of ``directory``) into ``out``, merged by receive time. Returns the segments."""
    src = Path(directory)
    ws_files = sorted(src.glob(f"{exchange}.ws.*"))
    http_files = sorted(src.glob(f"{exchange}.http.*"))
    if not ws_files:
        raise ValueError(f"no {exchange}.ws.* file in {src}")
    venue = Venue(venue)
    import heapq

    streams = [_cryptofeed_ws(p) for p in ws_files] + [_cryptofeed_http(p) for p in http_files]
    imp = _Importer(
        Path(out), f"cryptofeed-{exchange.lower()}", venue, "cryptofeed raw", checkpoint_interval
    )
    conns: dict[int, int] = {}
    started = False
    for index, stream in enumerate(streams):
        streams[index] = ((t, kind, index, url, raw) for t, kind, url, raw in stream)  # type: ignore[assignment]
    for wall, kind, index, url, raw in heapq.merge(*streams):  # type: ignore[call-overload]
        if not started:
            imp.new_segment(wall, {"source_files": [p.name for p in ws_files + http_files]})
            started = True
        if kind == 1:
            query = parse_qs(urlsplit(url).query)
            symbol = query.get("symbol", [""])[0].lower()
            if symbol:
                imp.snapshot(symbol, _loads(raw), wall, url)
            continue
        if url is not None:  # a connection line
            conns[index] = imp.conn(url.split("?", 1)[0], wall)
            for stream_name in parse_qs(urlsplit(url).query).get("streams", [""])[0].split("/"):
                if "@depth" in stream_name:
                    imp.book(stream_name.split("@", 1)[0])
            continue
        if index not in conns:
            conns[index] = imp.conn(None, wall)
        imp.frame(conns[index], raw, wall)
    return imp.close()
