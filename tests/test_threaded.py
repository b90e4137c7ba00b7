"""The thread-backed synchronous handle, read from a plain (non-async) test thread."""

from __future__ import annotations

import asyncio
import threading
import time

from mini_exchange import MiniExchange

from feeds.rest import MarketClient
from feeds.threaded import ThreadedBookManager


class ExchangeThread:
    """A MiniExchange on its own event loop thread, stepped from the test."""

    def __init__(self, venue: str, symbols: list[str]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ex = MiniExchange(venue, symbols)
        self.run(self.ex.__aenter__())

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def close(self) -> None:
        self.run(self.ex.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def wait(predicate, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.005)


def test_sync_handle_reads_consistent_views_while_updates_apply() -> None:
    xt = ExchangeThread("spot", ["btc_usdt"])
    ex = xt.ex
    try:
        market = MarketClient("http://spot", "http://fut", transport=ex.transport())
        with ThreadedBookManager(
            spot_ws_url=ex.url, futures_ws_url=ex.url, market=market, snapshot_rate=1000
        ) as manager:
            book = manager.add("spot", "btc_usdt")
            wait(lambda: sum(len(t) for t in ex.clients.values()) == 1)
            xt.run(ex.step(3))
            assert book.wait_live(timeout=10)
            # Read views from this thread while the exchange pushes and the manager applies.
            stepping = threading.Thread(target=lambda: xt.run(ex.step(300)))
            stepping.start()
            seen = 0
            while stepping.is_alive():
                view = book.view(50, allow_stale=True)
                bids = [level.price for level in view.bids]
                asks = [level.price for level in view.asks]
                assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
                assert not bids or not asks or bids[0] < asks[0]
                seen += 1
            stepping.join()
            assert seen > 0
            flow = ex.flows["btc_usdt"]
            wait(lambda: book.view(allow_stale=True).update_id == flow.last_id)
            view = book.view(100)
            bids, asks = ex.truth("btc_usdt")
            assert list(view.bids) == bids and list(view.asks) == asks
            stats = manager.stats()
            assert stats["books"]["spot:btc_usdt"]["state"] == "live"
            assert repr(book).startswith("BookHandle(spot btc_usdt")
    finally:
        xt.close()


def test_record_from_plain_code_and_close_while_frames_flow(tmp_path) -> None:
    """A recorder attached and closed from a thread that is not the manager's loop: its
    last checkpoints are taken on the loop, in order with the frames, so they verify."""
    from feeds.capture import replay

    xt = ExchangeThread("spot", ["btc_usdt", "eth_usdt"])
    ex = xt.ex
    try:
        market = MarketClient("http://spot", "http://fut", transport=ex.transport())
        with ThreadedBookManager(
            spot_ws_url=ex.url, futures_ws_url=ex.url, market=market, snapshot_rate=1000
        ) as manager:
            books = [manager.add("spot", s) for s in ("btc_usdt", "eth_usdt")]
            recorder = manager.record(tmp_path / "cap", checkpoint_interval=0.05)
            wait(lambda: sum(len(t) for t in ex.clients.values()) == 2)
            xt.run(ex.step(3))
            assert all(b.wait_live(timeout=10) for b in books)
            def step_for_a_while() -> None:
                for _ in range(400):  # about a second: checkpoints every 0.05 s meanwhile
                    xt.run(ex.step(1))
                    time.sleep(0.002)

            stepping = threading.Thread(target=step_for_a_while)
            stepping.start()
            wait(lambda: recorder.stats["checkpoints"] >= 4 or not stepping.is_alive())
            recorder.close()  # from this thread, while the exchange still pushes
            stepping.join()
            assert recorder.stats["write_errors"] == 0 and recorder.stats["frames"] > 0
            second = manager.record(tmp_path / "cap2")  # closed by the manager's close
        report = replay(tmp_path / "cap")
        assert report.ok, report.summary()
        assert report.checkpoints_matched == report.checkpoints >= 6
        # The second recorder was closed by the manager's close; it recorded no event, so
        # its capture reads whole but verifies nothing: that is not a success.
        empty = replay(tmp_path / "cap2")
        assert second.closed and empty.segments == 1 and not empty.ok
        assert "never applied an event" in empty.summary()
    finally:
        xt.close()
