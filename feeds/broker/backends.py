"""Which backend a broker URL names, in one table: :data:`BACKENDS`.

=========  ==================================  ==============  ====================
backend    URL schemes                         client (PyPI)   module
=========  ==================================  ==============  ====================
``redis``  ``redis://``, ``rediss://``,         ``redis``       :mod:`.redisstreams`
           ``unix://`` (the default)
``nats``   ``nats://``, ``tls://``              ``nats-py``     :mod:`.jetstream`
=========  ==================================  ==============  ====================

Each backend module has the same parts: a publishing class (``open``, ``write``,
``close``), a reading class (``open``, ``head``, ``read``, ``close``, ``START``), both with
the backend's ``name``, and ``ERRORS``, what a failed connection raises.

The clients need the ``broker`` extra (``pip install 'wexbook[broker]'``); without the
one a URL needs, :func:`backend_kind` raises :class:`BrokerUnavailable` with that one
line, as it does for a scheme no backend takes. URLs in its messages are shown without
user info or query (where credentials would be).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from orderbook import WexbookError

from ..capture.format import public_url


@dataclass(frozen=True)
class Backend:
    """One row of :data:`BACKENDS`."""

    name: str  #: the backend's name (the ``backend`` label of the publisher's metrics)
    schemes: tuple[str, ...]  #: the URL schemes it takes
    client: str  #: the module its client is imported as
    package: str  #: the client's PyPI name
    module: str  #: the wexbook module, in this package
    publisher: str  #: the publishing class of the module
    reader: str  #: the reading class of the module


BACKENDS = (
    Backend("redis", ("redis", "rediss", "unix"), "redis", "redis", "redisstreams",
            "RedisPublishBackend", "RedisReadBackend"),
    Backend("nats", ("nats", "tls"), "nats", "nats-py", "jetstream",
            "JetStreamPublishBackend", "JetStreamReadBackend"),
)  # fmt: skip

_BY_SCHEME = {scheme: backend for backend in BACKENDS for scheme in backend.schemes}
_BY_NAME = {backend.name: backend for backend in BACKENDS}


class BrokerUnavailable(WexbookError):
    """A broker URL that cannot be used here (unknown scheme, client not installed)."""


def backend_of(url: str) -> Backend:
    """The :data:`BACKENDS` row ``url`` names; :class:`BrokerUnavailable` for a scheme none
    takes, or a client that is not installed."""
    backend = _BY_SCHEME.get(urlsplit(url).scheme)
    if backend is None:
        schemes = ", ".join(f"{s}://" for b in BACKENDS for s in b.schemes)
        raise BrokerUnavailable(f"broker URL {public_url(url)!r}: the scheme must be {schemes}")
    if importlib.util.find_spec(backend.client) is None:
        raise BrokerUnavailable(
            f"the {backend.package} client is not installed: pip install 'wexbook[broker]'"
        )
    return backend


def backend_kind(url: str) -> str:
    """``"redis"`` or ``"nats"`` for ``url``; :class:`BrokerUnavailable` for anything else."""
    return backend_of(url).name


def _module(backend: Backend) -> Any:
    return importlib.import_module(f".{backend.module}", __package__)


def publish_backend(url: str, prefix: str, maxlen: int) -> Any:
    """The publishing side of the backend ``url`` names (not connected yet)."""
    backend = backend_of(url)
    return getattr(_module(backend), backend.publisher)(url, prefix, maxlen)


def read_backend(url: str, prefix: str) -> Any:
    """The reading side of the backend ``url`` names (not connected yet)."""
    backend = backend_of(url)
    return getattr(_module(backend), backend.reader)(url, prefix)


def errors_of(backend: Any) -> tuple[type[BaseException], ...]:
    """The exceptions that mean ``backend``'s connection failed (by its ``name``)."""
    row = _BY_NAME.get(backend.name)
    return _module(row).ERRORS if row is not None else (OSError,)
