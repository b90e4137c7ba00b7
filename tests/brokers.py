"""Real brokers for the broker tests: ``redis-server`` and ``nats-server`` on free loopback
ports, each in its own temporary directory, stopped (and their files removed) at the end.

A broker that cannot be started (binary missing, it does not answer) skips the test with
the reason, unless ``WEXBOOK_REQUIRE_BROKERS=1`` (set by ``.ci/run``): then it fails.
``RedisServer.restart()`` stops the server and starts a new one on the same port (an
outage and a restart, with the data gone: the server runs without persistence).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

REQUIRED = os.environ.get("WEXBOOK_REQUIRE_BROKERS") == "1"


def unavailable(reason: str) -> None:
    """Fail (in CI) or skip (locally) a test whose broker could not be started."""
    if REQUIRED:
        pytest.fail(f"broker needed but not available: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.01)
    return False


class BrokerProcess:
    """One broker server process (see the module docstring)."""

    binary = ""

    def __init__(self) -> None:
        path = shutil.which(self.binary) or (
            f"/usr/sbin/{self.binary}" if os.path.exists(f"/usr/sbin/{self.binary}") else None
        )
        if path is None:
            unavailable(f"{self.binary} is not installed (apt-get install {self.package})")
        self.path = path
        self.dir = tempfile.mkdtemp(prefix=f"wexbook-{self.binary}-")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    package = ""

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        """Start the server on :attr:`port` and wait until it accepts connections."""
        log = open(os.path.join(self.dir, "server.log"), "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.dir
        )
        log.close()
        if not _answers(self.port, 5.0):
            self.stop()
            unavailable(f"{self.binary} did not start on port {self.port}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def restart(self, down: float = 0.0) -> None:
        """Stop, stay down ``down`` seconds, start again on the same port."""
        self.stop()
        time.sleep(down)
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer(BrokerProcess):
    """``redis-server`` without persistence."""

    binary = "redis-server"
    package = "redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.path,
            "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", self.dir,
        ]  # fmt: skip


class NatsServer(BrokerProcess):
    """``nats-server`` with JetStream, its store in the temporary directory."""

    binary = "nats-server"
    package = "nats-server"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [self.path, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", self.dir]


class PlainNatsServer(NatsServer):
    """``nats-server`` without JetStream (a server the NATS backend cannot use)."""

    def command(self) -> list[str]:
        return [self.path, "-a", "127.0.0.1", "-p", str(self.port)]


def _client_installed(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        unavailable(f"the {module} client is not installed: pip install 'wexbook[broker]'")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh ``redis-server`` for one test."""
    _client_installed("redis")
    server = RedisServer()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A fresh ``nats-server -js`` for one test."""
    _client_installed("nats")
    server = NatsServer()
    try:
        yield server
    finally:
        server.cleanup()


# -- child processes (python tests/brokers.py subscribe|engine ...) ---------------------------


def _levels(levels: Any) -> list[list[str]]:
    return [[str(p), str(q)] for p, q in levels]


async def _subscribe_main(
    url: str, out: str, seconds: float, books: list[str], prefix: str
) -> None:
    """Subscribe to ``books``; record every accepted view (top 10) and every state seen;
    stop when every book says "publisher stopped", or after ``seconds``."""
    from feeds.broker import BookSubscriber
    from orderbook import BookNotLive

    views: list[Any] = []
    states: dict[str, list[list[str | None]]] = {book: [] for book in books}

    def note(venue: str, symbol: str) -> None:
        status = sub.status(venue, symbol)
        seen = states[f"{venue}:{symbol}"]
        entry = [status.state.value, status.cause.value if status.cause else None, status.reason]
        if not seen or seen[-1] != entry:
            seen.append(entry)

    def on_entry(venue: str, symbol: str) -> None:
        note(venue, symbol)
        try:
            view = sub.view(venue, symbol, 10)
        except BookNotLive:
            return
        views.append([venue, symbol, view.update_id, view.generation, _levels(view.bids),
                      _levels(view.asks)])  # fmt: skip

    silence = float(os.environ.get("BROKER_CHILD_MAX_SILENCE", "1.0"))
    backend = None
    if os.environ.get("BROKER_CHILD_BATCH"):  # NATS: messages per pull request
        from feeds.broker.jetstream import JetStreamReadBackend

        backend = JetStreamReadBackend(url, prefix, batch=int(os.environ["BROKER_CHILD_BATCH"]))
    sub = BookSubscriber(
        url, books, prefix=prefix, max_silence=silence, on_entry=on_entry, backend=backend
    )
    await sub.start()
    deadline = time.monotonic() + seconds
    ready = False
    while time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        for book in books:
            venue, _, symbol = book.partition(":")
            note(venue, symbol)
        if not ready and all(sub.is_live(*book.split(":")) for book in books):
            ready = True
            open(out + ".ready", "wb").close()  # every book LIVE once
        if all(s and s[-1][2] == "publisher stopped" for s in states.values()):
            break
    stats = sub.stats()
    await sub.close()
    with open(out, "wb") as f:
        f.write(orjson.dumps({"views": views, "states": states, "stats": stats}))


async def _engine_main(url: str, out: str, seconds: float, books: list[str], prefix: str) -> None:
    """The simulator (stepped here, the demo's faults on), a manager and a publisher; the
    truth (top 10 per update id) appended to ``out`` as JSON lines after every step."""
    from feeds.apps.demo import arm_faults
    from feeds.broker import BookPublisher
    from feeds.manager import BookManager
    from feeds.rest import MarketClient
    from feeds.sim import Simulator

    spot = [b.partition(":")[2] for b in books if b.startswith("spot:")]
    futures = [b.partition(":")[2] for b in books if b.startswith("futures:")]
    seed = int.from_bytes(os.urandom(2), "big")
    async with Simulator(spot_symbols=spot, futures_symbols=futures, seed=seed, auto=False) as sim:
        arm_faults(sim, spot, futures)
        market = MarketClient(sim.spot_http_url, sim.futures_http_url)
        manager = BookManager(spot_ws_url=sim.spot_ws_url, futures_ws_url=sim.futures_ws_url,
                              market=market, connection_options={"backoff_base": 0.05})  # fmt: skip
        async with market, manager:
            publisher = await BookPublisher(url, prefix=prefix, heartbeat=0.2).start(manager)
            await manager.add_many("spot", spot)
            await manager.add_many("futures", futures)
            with open(out, "ab", buffering=0) as f:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    await sim.advance(1)
                    f.write(truth_lines(sim))
                    await asyncio.sleep(0.003)
            await publisher.close()


def truth_lines(sim: Any, depth: int = 10) -> bytes:
    """One JSON line per book of ``sim``: ``[venue, symbol, update id, bids, asks]``."""
    lines = []
    for venue, symbol in sim.markets:
        truth = sim.book(venue, symbol)
        bids, asks = truth.top(depth)
        lines.append(orjson.dumps([venue.value, symbol, truth.last_id, _levels(bids),
                                   _levels(asks)]))  # fmt: skip
    return b"\n".join(lines) + b"\n"


async def wait_ready(paths: list[str], timeout: float = 20.0) -> None:
    """Wait until every subscriber process writing to ``paths`` had all its books LIVE."""
    deadline = time.monotonic() + timeout
    while not all(os.path.exists(path + ".ready") for path in paths):
        if time.monotonic() > deadline:
            pytest.fail("subscriber processes did not go live")
        await asyncio.sleep(0.02)


def child(
    kind: str,
    url: str,
    out: str,
    seconds: float,
    books: list[str],
    prefix: str,
    max_silence: float = 1.0,
    batch: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``python tests/brokers.py KIND ...`` (a subscriber or an engine) as a process
    (``batch``: a NATS subscriber's messages per pull request)."""
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    command = [sys.executable, os.path.join(here, "brokers.py"), kind, url, out, str(seconds),
               prefix, *books]  # fmt: skip
    env = {**os.environ, "BROKER_CHILD_MAX_SILENCE": str(max_silence)}
    if batch is not None:
        env["BROKER_CHILD_BATCH"] = str(batch)
    return subprocess.Popen(command, cwd=os.path.dirname(here), env=env)


if __name__ == "__main__":
    import sys

    kind, url, out, seconds, prefix, *names = sys.argv[1:]
    main = _subscribe_main if kind == "subscribe" else _engine_main
    asyncio.run(main(url, out, float(seconds), names, prefix))
