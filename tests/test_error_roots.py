"""Every error wexbook raises to its users derives from :class:`orderbook.WexbookError`
(issue 22, section 4): a caller catches the whole family at once."""

from __future__ import annotations

import errno
import importlib
import inspect
import pkgutil
import socket

import pytest

import feeds
from feeds.manager import BookManager
from feeds.metrics.server import MetricsPortInUse, serve
from orderbook import WexbookError

#: Packages (and modules) whose public exceptions are checked.
CHECKED = ("feeds.rest", "feeds.metrics", "feeds.sim", "feeds.argtypes", "feeds.capture")
#: The simulator's own exceptions, each caught inside it and answered over HTTP (a status
#: and the venue's error envelope): none reaches a user of the simulator.
SIMULATOR_INTERNAL = {
    "feeds.sim.auth.AuthFailure",
    "feeds.sim.httpside.ParamError",
    "feeds.sim.httpside.SnapshotFault",
    "feeds.sim.trading.DeskError",
}


def _public_exceptions() -> list[str]:
    found = []
    for info in pkgutil.walk_packages(feeds.__path__, "feeds."):
        if not info.name.startswith(CHECKED):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found.append(f"{module.__name__}.{name}")
    return found


def test_every_public_error_is_a_wexbook_error() -> None:
    names = _public_exceptions()
    assert "feeds.rest.errors.ApiError" in names and "feeds.argtypes.UsageError" in names
    outside = []
    for dotted in names:
        module, _, name = dotted.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        if not issubclass(cls, WexbookError) and dotted not in SIMULATOR_INTERNAL:
            outside.append(dotted)
    assert not outside, outside


def test_a_metrics_port_in_use_is_a_wexbook_error_and_still_an_os_error() -> None:
    manager = BookManager(spot_ws_url="ws://127.0.0.1:9/public")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(WexbookError) as info:
            serve(manager, port=port)
    error = info.value
    assert isinstance(error, MetricsPortInUse) and isinstance(error, OSError)
    assert error.errno == errno.EADDRINUSE and error.strerror.endswith(f"{port}: in use")
