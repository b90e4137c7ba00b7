"""``wexbook serve --publish URL`` and ``wexbook subscribe URL`` as processes, on a real
``redis-server``: the README's example."""

from __future__ import annotations

import subprocess
import sys

import brokers
import pytest

redis_server = brokers.redis_server  # the fixture


def wexbook(*args: str) -> list[str]:
    return [sys.executable, "-m", "feeds.apps.cli", *args]


def test_serve_publishes_and_subscribe_shows_the_books_live(redis_server) -> None:
    # Publishing alone (no --board): it runs on the pure-Python path too.
    serve_and_subscribe(redis_server.url, "redis://")


def serve_and_subscribe(url: str, scheme: str) -> None:
    """``wexbook serve --publish URL`` and ``wexbook subscribe URL`` as processes: the
    subscriber sees the books live, both exit 0, the engine says where it published."""
    books = ["--spot", "btc_usdt", "--futures", "eth_usdt"]
    engine = subprocess.Popen(
        wexbook("serve", "--publish", url, "--no-faults", "--speed", "5", "--seconds", "12",
                *books),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        sub = subprocess.run(
            wexbook("subscribe", url, *books, "--seconds", "5"),
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    finally:
        engine.terminate()
        out, err = engine.communicate(timeout=20)
    assert sub.returncode == 0, sub.stderr
    assert '"spot:btc_usdt"' in sub.stdout and '"state": "live"' in sub.stdout
    assert engine.returncode == 0, err
    assert f"published to {scheme}" in out


def test_serve_without_a_target_is_bad_usage() -> None:
    done = subprocess.run(wexbook("serve", "--seconds", "1"), capture_output=True, text=True)
    assert done.returncode == 2 and "nothing to serve to" in done.stderr


def test_subscribe_refuses_a_url_it_cannot_use() -> None:
    result = subprocess.run(
        wexbook("subscribe", "http://127.0.0.1:1", "--spot", "btc_usdt"),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "redis://" in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("nats://127.0.0.1:1", "--spot", "btc_usdt", "--prefix", "a.b"), "prefix"),
        (("redis://127.0.0.1:1/0", "--spot", "btc_usdt", "--level", "5"), "--record"),
        (
            ("redis://u:hunter2@127.0.0.1:1/0", "--spot", "btc_usdt", "--segment-mb", "8"),
            "--record",
        ),
    ],
)
def test_subscribe_bad_usage_is_one_line(args: tuple[str, ...], said: str) -> None:
    """A prefix the broker cannot name, capture options without --record: one line, exit 2,
    before connecting, and never the URL's password."""
    result = subprocess.run(wexbook("subscribe", *args), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and said in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
