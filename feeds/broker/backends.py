"""Which backend a broker URL names: ``redis://`` / ``rediss://`` / ``unix://`` (Redis
Streams, the default). ``nats://`` (NATS JetStream) is reserved for the second backend,
a module ``jetstream.py`` beside ``redisstreams.py`` with the same two classes; it is not
written yet, and such a URL is refused in one line.

The client needs the ``broker`` extra (``pip install 'wexbook[broker]'``); without it,
opening a backend raises :class:`BrokerUnavailable` with that one line.
"""

from __future__ import annotations

import importlib.util
from typing import Any
from urllib.parse import urlsplit

from orderbook import WexbookError

REDIS_SCHEMES = ("redis", "rediss", "unix")
NATS_SCHEMES = ("nats", "tls")


class BrokerUnavailable(WexbookError):
    """A broker URL that cannot be used here (unknown scheme, client not installed)."""


def backend_kind(url: str) -> str:
    """``"redis"`` or ``"nats"`` for ``url``; :class:`BrokerUnavailable` for anything else."""
    scheme = urlsplit(url).scheme
    if scheme in REDIS_SCHEMES:
        kind, module = "redis", "redis"
    elif scheme in NATS_SCHEMES:
        raise BrokerUnavailable(
            f"broker URL {url!r}: the NATS JetStream backend is not available yet; use redis://"
        )
    else:
        raise BrokerUnavailable(
            f"broker URL {url!r}: the scheme must be redis://, rediss://, unix:// or nats://"
        )
    if importlib.util.find_spec(module) is None:
        raise BrokerUnavailable(
            f"the {module} client is not installed: pip install 'wexbook[broker]'"
        )
    return kind


def publish_backend(url: str, prefix: str, maxlen: int) -> Any:
    """The publishing side of the backend ``url`` names (not connected yet)."""
    backend_kind(url)
    from .redisstreams import RedisPublishBackend

    return RedisPublishBackend(url, prefix, maxlen)


def read_backend(url: str, prefix: str) -> Any:
    """The reading side of the backend ``url`` names (not connected yet)."""
    backend_kind(url)
    from .redisstreams import RedisReadBackend

    return RedisReadBackend(url, prefix)


def errors_of(backend: Any) -> tuple[type[BaseException], ...]:
    """The exceptions that mean ``backend``'s connection failed."""
    from .redisstreams import ERRORS

    return ERRORS if backend.name == "redis" else (OSError,)
