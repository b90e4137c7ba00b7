"""The board's compiled publish: every copy a reader takes equals the book's truth.

A real :class:`~orderbook.BookSync` takes random updates that insert, change and delete
levels at the top of both sides (the cases where the writer's per-level memo of texts
shifts), float quantities from the snapshot and text ones from events, and leaves LIVE
and comes back; after every publish a :class:`~feeds.board.BoardReader` reads the slot
and its levels, update id and state must be the in-process ones.
"""

from __future__ import annotations

import random
import uuid
from decimal import Decimal

import pytest
from helpers import snapshot, spot_event

from feeds.board import AVAILABLE, BoardReader, BoardWriter
from feeds.manager import ManagedBook
from orderbook import BookNotLive, BookSync, SpotSequencer, SyncState, Venue

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="the board's compiled helper is unavailable")


def truth(sync: BookSync, levels: int) -> tuple[list, list]:
    book = sync.book
    assert book is not None
    bids = [(lv.price, lv.qty) for lv in book.top_bids(levels)]
    asks = [(lv.price, lv.qty) for lv in book.top_asks(levels)]
    return bids, asks


def seen(reader: BoardReader, levels: int) -> tuple[list, list, int | None]:
    view = reader.view("spot", "btc_usdt", levels)
    bids = [(Decimal(lv.price), Decimal(lv.qty)) for lv in view.bids]
    asks = [(Decimal(lv.price), Decimal(lv.qty)) for lv in view.asks]
    return bids, asks, view.update_id


def test_every_publish_reads_back_as_the_books_truth() -> None:
    rng = random.Random(23)
    levels = 5
    sync = BookSync("btc_usdt", SpotSequencer())
    bids = [(f"{100 - i * 0.5:.2f}", f"{rng.randint(1, 9)}.{rng.randint(0, 99):02d}")
            for i in range(12)]  # fmt: skip
    asks = [(f"{101 + i * 0.5:.2f}", f"{rng.randint(1, 9)}.5") for i in range(12)]
    sync.on_snapshot(snapshot(1000, bids=bids, asks=asks))
    assert sync.state is SyncState.LIVE
    book = ManagedBook(Venue.SPOT, "btc_usdt", sync, "depth_update@btc_usdt")
    writer = BoardWriter(f"test-publish-{uuid.uuid4().hex[:8]}", levels=levels, slots=4).open()
    try:
        writer.on_book(book)
        reader = BoardReader(writer.name)
        assert seen(reader, levels) == (*truth(sync, levels), 1000)
        last = 1000
        for step in range(400):
            if step % 97 == 96:  # out of LIVE and back: no levels served meanwhile
                sync.request_resync("test resync")
                writer.publish(book)
                with pytest.raises(BookNotLive):
                    reader.view("spot", "btc_usdt", levels)
                sync.on_snapshot(snapshot(last, bids=bids, asks=asks))
                writer.publish(book)
                assert sync.state is SyncState.LIVE
            changes: dict[str, list] = {"bids": [], "asks": []}
            for side, centre, sign in (("bids", 100.0, -1), ("asks", 101.0, 1)):
                for _ in range(rng.randint(0, 4)):
                    price = f"{centre + sign * rng.randint(-2, 12) * 0.25:.2f}"
                    qty = rng.choice(["0", "0.000", f"{rng.randint(1, 40)}.{rng.randint(0, 9)}"])
                    changes[side].append((price, qty))
            # never cross the book: keep bids below and asks above 100.5
            changes["bids"] = [c for c in changes["bids"] if float(c[0]) < 100.5]
            changes["asks"] = [c for c in changes["asks"] if float(c[0]) > 100.5]
            decision = sync.on_update(
                spot_event(last + 1, last + 1, changes["bids"], changes["asks"])
            )
            last += 1
            writer.on_depth(book, decision, None)
            assert seen(reader, levels) == (*truth(sync, levels), last), f"step {step}"
        assert writer.published >= 400
    finally:
        writer.close()


def test_a_spinning_wait_sees_a_publish_and_times_out_without_one() -> None:
    """``wait(spin=...)`` polls first, then sleeps: it sees a publish made during the spin
    or after it, returns False at its timeout, and refuses a spin beyond its step."""
    import threading

    sync = BookSync("btc_usdt", SpotSequencer())
    sync.on_snapshot(snapshot(1000, bids=[("100", "1")], asks=[("101", "1")]))
    book = ManagedBook(Venue.SPOT, "btc_usdt", sync, "depth_update@btc_usdt")
    writer = BoardWriter(f"test-spin-{uuid.uuid4().hex[:8]}", levels=2, slots=2).open()
    try:
        writer.on_book(book)
        reader = BoardReader(writer.name)
        reader.read("spot", "btc_usdt")
        assert reader.wait("spot", "btc_usdt", 0.05, spin=0.02) is False
        for delay in (0.005, 0.06):  # during the spin, then after it (in the futex wait)
            timer = threading.Timer(delay, writer.publish, (book,))
            timer.start()
            assert reader.wait("spot", "btc_usdt", 5.0, spin=0.03) is True
            timer.join()
            reader.read("spot", "btc_usdt")
        with pytest.raises(ValueError, match="spin"):
            reader.wait("spot", "btc_usdt", 0.01, spin=10.0)
    finally:
        writer.close()


def test_a_readers_view_cache_rebuilds_exactly_what_changed() -> None:
    """The reader's per-book view cache: levels spelled as before (at the same place or
    one off) are the very same ``Level``s, every other one is built from its spelling; a
    text shorter than its head says is refused."""
    from feeds.board import atomics
    from orderbook import Level

    cache = atomics.require().ViewCache(4)
    decimals: dict[str, Decimal] = {}

    def build(text: str, nb: int, na: int, wb: int, wa: int) -> tuple:
        return cache.build(text.encode(), nb, na, wb, wa, decimals, Level, Decimal)

    bids, asks = build("100 1 99.5 2 101 3 101.5 4", 2, 2, 2, 2)
    assert bids == (Level(Decimal("100"), Decimal("1")), Level(Decimal("99.5"), Decimal("2")))
    assert asks == (Level(Decimal("101"), Decimal("3")), Level(Decimal("101.5"), Decimal("4")))
    # a bid inserted on top shifts the others down; an ask's quantity changes
    bids2, asks2 = build("100.5 7 100 1 99.5 2 101 3 101.5 4.5", 3, 2, 3, 2)
    assert [str(lv.price) for lv in bids2] == ["100.5", "100", "99.5"]
    assert bids2[1] is bids[0] and bids2[2] is bids[1]  # shifted, reused
    assert asks2[0] is asks[0] and asks2[1] is not asks[1]
    assert asks2[1] == Level(Decimal("101.5"), Decimal("4.5"))
    # fewer levels asked than held, then a spelling that differs only in form
    bids3, asks3 = build("100.5 7 100 1.0 99.5 2 101 3 101.5 4.5", 3, 2, 2, 1)
    assert len(bids3) == 2 and len(asks3) == 1
    assert bids3[0] is bids2[0] and bids3[1] is not bids2[1]
    assert str(bids3[1].qty) == "1.0"
    with pytest.raises(ValueError):
        build("100 1 99.5", 2, 0, 2, 0)
    with pytest.raises(ValueError):
        build("100 1", 5, 0, 5, 0)  # more levels than the cache holds


def _raw(venue: str, last: int, bids: list, asks: list) -> bytes:
    import orjson

    data: dict = {"s": "btc_usdt", "a": asks, "b": bids}
    if venue == "spot":
        data.update(fi=last + 1, i=last + 1)
    else:
        data.update(pu=last, fu=last + 1, u=last + 1)
    return orjson.dumps({"topic": "depth_update", "event": "depth_update@btc_usdt", "data": data})


@pytest.mark.parametrize("venue", ["spot", "futures"])
def test_patched_publishes_spell_the_books_truth(venue: str) -> None:
    """Applied raw frames are patched onto the slot's last publish (no walk of the book):
    inserts, changes and deletes at the top, levels entering and leaving it, a side
    emptied and refilled, deletes of levels not kept, frames the patch must refuse (a
    publish missed, a spelling that is not plain), out of LIVE and back. After every
    frame the reader's view spells exactly what the in-process view spells."""
    from orderbook import FuturesSequencer

    rng = random.Random(7 if venue == "spot" else 8)
    levels = 5
    sequencer = SpotSequencer() if venue == "spot" else FuturesSequencer()
    sync = BookSync("btc_usdt", sequencer)
    bids = [(f"{100 - i * 0.25:.2f}", f"{rng.randint(1, 9)}.5") for i in range(8)]
    asks = [(f"{100.5 + i * 0.25:.2f}", f"{rng.randint(1, 9)}.5") for i in range(8)]
    sync.on_snapshot(snapshot(1000, bids=bids, asks=asks))
    book = ManagedBook(Venue(venue), "btc_usdt", sync, "depth_update@btc_usdt")
    writer = BoardWriter(f"test-patch-{uuid.uuid4().hex[:8]}", levels=levels, slots=2).open()

    def spelled(view) -> list:  # type: ignore[no-untyped-def]
        return [[(str(lv.price), str(lv.qty)) for lv in side] for side in (view.bids, view.asks)]

    try:
        writer.on_book(book)
        reader = BoardReader(writer.name)
        last = 1000
        for step in range(700):
            if step % 151 == 150:  # out of LIVE and back (a new generation)
                sync.request_resync("test resync")
                writer.publish(book)
                sync.on_snapshot(snapshot(last, bids=bids, asks=asks))
                writer.publish(book)
            changes: dict[str, list] = {"bids": [], "asks": []}
            for side, centre, sign in (("bids", 100.25, -1), ("asks", 100.5, 1)):
                wipe = step % 97 in (40, 41)  # empty the side's top, then rebuild it
                for _ in range(12 if wipe else rng.randint(0, 4)):
                    rank = rng.randint(0, 4) if wipe else rng.randint(-1, 9)
                    price = f"{centre + sign * rank * 0.25:.2f}"
                    qty = "0" if wipe else rng.choice(["0", "0.00", f"{rng.randint(1, 40)}.25"])
                    changes[side].append([price, qty])
            changes["bids"] = [c for c in changes["bids"] if float(c[0]) < 100.5]
            changes["asks"] = [c for c in changes["asks"] if float(c[0]) > 100.25]
            if step % 83 == 82 and changes["asks"]:
                changes["asks"][0][1] = "1e-3"  # not plain: the patch must refuse it
            raw = _raw(venue, last, changes["bids"], changes["asks"])
            decision = sync.on_frame(raw)
            last += 1
            if step % 59 == 58:
                continue  # a publish missed: the next frame does not follow the last publish
            writer.on_depth(book, decision, raw)
            if sync.state is SyncState.LIVE:
                assert spelled(reader.view(venue, "btc_usdt", levels)) == spelled(
                    sync.view(levels)
                ), f"step {step}"
        stats = writer.stats()
        assert stats["patched"] > 400 and stats["patch_misses"] == 0, stats
    finally:
        writer.close()
