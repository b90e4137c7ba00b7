"""Listen keys and tokens stay out of every log record, our dependencies' included
(issue 13, class 7): private streams against the simulator with every logger at DEBUG
(websockets logs each frame it sends, and the futures key is part of the topic)."""

from __future__ import annotations

import logging

import pytest

from feeds.private import PrivateStream
from feeds.redaction import LOGGERS, MIN_RUN, REDACTED, SecretFilter, secret_filter
from feeds.rest.client import AsyncWexClient
from feeds.sim import DEMO_API_KEY, DEMO_SECRET, Simulator
from tests.helpers import wait_for


def _leaks(key: str, records: list[logging.LogRecord], text: str) -> list[str]:
    """Every 8-character piece of ``key`` found in the records or the captured text."""
    formatter = logging.Formatter()
    haystacks = [text]
    for record in records:
        haystacks.append(formatter.format(record))
        haystacks.append(record.getMessage())
    pieces = {key[i : i + 8] for i in range(len(key) - 7)}
    return sorted({p for p in pieces for h in haystacks if p in h})


@pytest.mark.parametrize("venue", ["futures", "spot"])
async def test_private_stream_keys_never_reach_a_log_record(
    venue: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # root: websockets, httpx, httpcore, wexbook...
    for name in ("websockets", "websockets.client", "websockets.server"):
        caplog.set_level(logging.DEBUG, logger=name)  # restored after the test
    keys: list[str] = []
    async with Simulator(auto=False) as sim:
        async with AsyncWexClient(
            DEMO_API_KEY, DEMO_SECRET, spot_url=sim.spot_http_url, futures_url=sim.futures_http_url
        ) as client:
            url = sim.spot_private_url if venue == "spot" else sim.futures_user_url
            async with PrivateStream(client, venue, url=url) as stream:

                def subscribed() -> bool:
                    clients = sim.ws.private.clients
                    return bool(clients) and all(
                        len(c.subscriptions) == len(stream.topics) for c in clients
                    )

                await wait_for(subscribed)
                keys.append(stream._key or "")
                await stream.renew()  # a second key, subscribed the same way
                keys.append(stream._key or "")
                await wait_for(subscribed)
    assert all(len(k) >= 32 for k in keys) and keys[0] != keys[1]
    frames = [
        r for r in caplog.records if r.name.startswith("websockets") and "TEXT" in r.getMessage()
    ]
    assert frames  # websockets did log the subscribe frames, at DEBUG
    for key in keys:
        assert _leaks(key, caplog.records, caplog.text) == []
    assert any(REDACTED in r.getMessage() for r in frames)


def test_filter_redacts_whole_and_truncated_secrets() -> None:
    secret = "0123456789abcdef0123456789abcdef"
    redactor = SecretFilter()
    redactor.add(secret)
    assert redactor.redact(f"key={secret}!") == f"key={REDACTED}!"
    # websockets shortens long frames: only a head or a tail of the key may remain
    head, tail = secret[:17], secret[-9:]
    elided = f"""TEXT '{{"params":["order@{head}...{tail}"]}}' [300 bytes]"""
    assert head not in redactor.redact(elided) and tail not in redactor.redact(elided)
    assert redactor.redact("no secret here: 01234") == "no secret here: 01234"
    short = secret[: MIN_RUN - 1]
    assert redactor.redact(short) == short  # too short to tell apart from chance

    record = logging.LogRecord("websockets.client", logging.DEBUG, __file__, 1,
                               "> %s", (f"order@{secret}",), None)  # fmt: skip
    assert redactor.filter(record) and secret[:8] not in record.getMessage()
    try:
        raise RuntimeError(f"closed: {secret}")
    except RuntimeError:
        import sys

        failed = logging.LogRecord("wexbook.connection", logging.ERROR, __file__, 1,
                                   "failed", None, sys.exc_info())  # fmt: skip
    assert redactor.filter(failed)
    assert failed.exc_info is None and secret[:8] not in logging.Formatter().format(failed)


def test_filter_is_on_the_dependencies_loggers_once_a_key_is_known() -> None:
    from feeds.redaction import register_secret

    register_secret("fedcba9876543210fedcba9876543210")
    for name in LOGGERS:
        assert logging.getLogger(name).filters.count(secret_filter()) == 1
