"""Real brokers for the broker tests: ``redis-server`` and ``nats-server`` on free loopback
ports, each in its own temporary directory, stopped (and their files removed) at the end.

A broker that cannot be started (binary missing, it does not answer) skips the test with
the reason, unless ``WEXBOOK_REQUIRE_BROKERS=1`` (set by ``.ci/run``): then it fails.
``RedisServer.restart()`` stops the server and starts a new one on the same port (an
outage and a restart, with the data gone: the server runs without persistence).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

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
