"""Processes of the board tests (run as ``python tests/board_procs.py MODE ...``).

- ``engine NAME OUT SECONDS``: the simulator (faults on), a manager, a
  :class:`~feeds.board.BoardWriter` and a referee observer that records, at every
  update id a book was published at as LIVE, the simulator's truth (top 20 per side, from
  its undo history at exactly that id) and the in-process view's exact spellings; and
  every not-live publish (book, generation, state). Prints ``ready`` once every book was
  LIVE, then scripts faults (a gap, a dropped connection, a stall), and writes OUT.
- ``reader NAME OUT``: one thread per book (each its own :class:`~feeds.board.BoardReader`)
  waits for every change and takes a view; records every accepted view (update id,
  generation, exact spellings) and every not-live error (with the generation of the
  slot), until the board stops; writes OUT.
- ``hammer NAME SECONDS``: a writer that hammers random slots with payloads whose last
  16 bytes are a checksum of the rest (no manager), for the torn-read property test.
- ``check NAME SECONDS OUT``: a reader of the hammered slots counting copies and bad
  checksums.
- ``serve NAME``: an engine that runs until killed (for the kill -9 test).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SPOT = ["btc_usdt", "eth_usdt"]
FUTURES = ["btc_usdt"]
LEVELS = 20


def _texts(levels) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [[str(p), str(q)] for p, q in levels]


class Referee:
    """The engine-side record of truth and of not-live publishes."""

    def __init__(self, sim, manager) -> None:  # type: ignore[no-untyped-def]
        self.sim = sim
        self.manager = manager
        self.truth: dict[str, dict[str, object]] = {}
        self.not_live: list[list[object]] = []
        self.unmatched = 0

    def record(self, book) -> None:  # type: ignore[no-untyped-def]
        from orderbook import SyncState

        sync = book.sync
        key = f"{book.venue.value}:{book.symbol}"
        if sync.state is not SyncState.LIVE:
            self.not_live.append([key, sync.generation, sync.state.value, time.monotonic()])
            return
        update_id = sync.update_id
        market = self.sim.markets[book.venue, book.symbol]
        last, bids, asks = market.snapshot_levels(LEVELS, market.last_id - update_id)
        if last != update_id:
            self.unmatched += 1  # beyond the simulator's undo history: no truth at this id
            return
        view = sync.view(LEVELS)
        self.truth.setdefault(key, {})[str(update_id)] = {
            "truth": [bids, asks],
            "view": [_texts(view.bids), _texts(view.asks)],
            "generation": sync.generation,
        }

    def on_depth(self, book, decision, frame) -> None:  # type: ignore[no-untyped-def]
        from orderbook import Decision

        if decision is Decision.APPLIED:
            self.record(book)

    def on_decision(self, decision, sync, payload) -> None:  # type: ignore[no-untyped-def]
        book = self.manager.books.get((sync.venue, sync.symbol))
        if book is not None:
            self.record(book)


async def engine(name: str, out: str, seconds: float) -> None:
    from conftest import _sim_books

    from feeds.board import BoardWriter

    async with _sim_books(SPOT, FUTURES, seed=11, speed=4.0, stale_after=0.6) as run:
        writer = BoardWriter(name, levels=LEVELS).attach(run.manager)
        referee = Referee(run.sim, run.manager)
        run.manager.observe(referee)
        await run.add_all(timeout=15)
        print("ready", flush=True)
        faults = run.sim.faults
        await asyncio.sleep(seconds * 0.15)
        faults.set("spot", "btc_usdt", skip_ids_next=1)  # a gap
        await asyncio.sleep(seconds * 0.15)
        faults.set("spot", "eth_usdt", disconnect_after=1)  # feed down, then resync
        await asyncio.sleep(0.3)
        faults.set("spot", "eth_usdt", disconnect_after=None)
        await asyncio.sleep(seconds * 0.1)
        faults.set("futures", "btc_usdt", stall=True)  # stale, then resync
        await asyncio.sleep(1.0)
        faults.set("futures", "btc_usdt", stall=False)
        await asyncio.sleep(seconds * 0.3)
        end = time.monotonic()
        Path(out).write_text(
            json.dumps(
                {
                    "truth": referee.truth,
                    "not_live": referee.not_live,
                    "unmatched": referee.unmatched,
                    "end": end,
                    "published": writer.published,
                }
            )
        )
        writer.close()


def reader(name: str, out: str) -> None:
    from feeds.board import BoardReader, BoardStopped
    from orderbook import BookNotLive

    books = BoardReader(name).books()
    accepted: list[list[object]] = []
    refused: list[list[object]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def follow(venue: str, symbol: str) -> None:
        board = BoardReader(name)
        key = f"{venue}:{symbol}"
        while True:
            try:
                board.wait(venue, symbol, 0.5)
                view = board.view(venue, symbol, LEVELS)
                row = [key, view.update_id, view.generation, _texts(view.bids), _texts(view.asks)]
                with lock:
                    accepted.append(row)
            except BoardStopped:
                return
            except BookNotLive as exc:
                try:
                    copy = board.read(venue, symbol)
                except BoardStopped:
                    return
                except BookNotLive:
                    continue
                with lock:
                    # The state the exception was raised for (the second read may be later).
                    state = getattr(exc.state, "value", exc.state)
                    refused.append([key, type(exc).__name__, copy.generation, state])
            except Exception as exc:
                with lock:
                    errors.append(repr(exc))
                return

    threads = [threading.Thread(target=follow, args=book) for book in books]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    Path(out).write_text(json.dumps({"accepted": accepted, "refused": refused, "errors": errors}))


# -- the torn-read property test --------------------------------------------------------

HAMMER_SLOTS = 8


def hammer_payload(rng: random.Random, size: int, text: int) -> bytes:
    """Random bytes (the text length field says ``text``) whose last 16 are the blake2b of
    the rest."""
    from feeds.board import layout

    body = bytearray(rng.randbytes(size - 16))
    body[layout.TEXT_LEN_AT : layout.TEXT_LEN_AT + 4] = text.to_bytes(4, "little")
    return bytes(body) + hashlib.blake2b(body, digest_size=16).digest()


def hammer(name: str, seconds: float) -> None:
    """Write random payloads into random slots as fast as possible, under the seqlock."""
    from feeds.board import layout
    from feeds.board.atomics import require

    helper = require()
    geometry = layout.Geometry(HAMMER_SLOTS, LEVELS)
    path = layout.board_path(name)
    fd = os.open(path + ".tmp", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.ftruncate(fd, geometry.size)
    region = helper.Region(fd, geometry.size)
    os.close(fd)
    os.rename(path + ".tmp", path)
    rng = random.Random(5)
    cap = layout.HEAD_SIZE + geometry.text_capacity
    payloads = [hammer_payload(rng, cap, geometry.text_capacity) for _ in range(64)]
    writes = 0
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(256):
            slot = geometry.slot_at(rng.randrange(HAMMER_SLOTS)) + layout.SEQ_AT
            region.write(slot, payloads[rng.randrange(64)])
            writes += 1
    print(writes, flush=True)


def check(name: str, seconds: float, out: str, unchecked: bool = False) -> None:
    """Read the hammered slots (as a reader would: the seqlock read); count bad checksums.

    ``unchecked``: plain copies, no seqlock (what the checksum must catch)."""
    from feeds.board import layout
    from feeds.board.atomics import require

    helper = require()
    geometry = layout.Geometry(HAMMER_SLOTS, LEVELS)
    fd = os.open(layout.board_path(name), os.O_RDWR)
    region = helper.Region(fd, geometry.size)
    os.close(fd)
    text = geometry.text_capacity
    cap = layout.HEAD_SIZE + text
    good = torn = failed = 0
    rng = random.Random(os.getpid())
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        slot = geometry.slot_at(rng.randrange(HAMMER_SLOTS)) + layout.SEQ_AT
        if unchecked:
            got = (1, region.get(slot + 16, cap))
        else:
            got = region.read(
                slot, layout.HEAD_SIZE, layout.TEXT_LEN_AT, geometry.text_capacity, 100
            )
        if got is None:
            failed += 1
            continue
        sequence, data = got
        body = data[: cap - 16]
        if sequence == 0:
            continue  # never written
        if (
            len(data) != cap
            or hashlib.blake2b(body, digest_size=16).digest() != data[cap - 16 : cap]
        ):
            torn += 1
        else:
            good += 1
    Path(out).write_text(json.dumps({"good": good, "torn": torn, "failed": failed}))


async def serve_forever(name: str) -> None:
    from conftest import _sim_books

    from feeds.board import BoardWriter

    async with _sim_books(["btc_usdt"], [], seed=2, speed=4.0, faults=False) as run:
        writer = BoardWriter(name).attach(run.manager)
        await run.add_all(timeout=15)
        print(f"ready {writer.epoch}", flush=True)
        await asyncio.sleep(3600)


def main() -> None:
    mode, name, *rest = sys.argv[1:]
    if mode == "engine":
        asyncio.run(engine(name, rest[0], float(rest[1])))
    elif mode == "reader":
        reader(name, rest[0])
    elif mode == "hammer":
        hammer(name, float(rest[0]))
    elif mode == "check":
        check(name, float(rest[0]), rest[1], unchecked=rest[2:] == ["unchecked"])
    elif mode == "serve":
        asyncio.run(serve_forever(name))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
