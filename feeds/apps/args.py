"""Argument checking shared by every ``wexbook`` subcommand: one place per kind of value.

Every option is checked by its ``type=`` function as argparse parses it, so a bad
value is refused before anything runs, with one line naming the option, what it
must be, and what was given (exit code 2)::

    wexbook demo: argument --speed: must be a number > 0, not '0' (see wexbook demo --help)

The options that mean the same thing in several commands are declared here once (one
vocabulary): the books (:func:`add_books`: ``--spot SYMBOL ...`` and ``--futures SYMBOL
...``, spaces or commas), where to connect (:func:`add_endpoints`: ``--spot-ws``,
``--futures-ws``, ``--spot-rest``, ``--futures-rest``), how long (``--seconds``,
:func:`add_seconds`), and the engine (:func:`add_engine`: ``--loop`` and ``--ws-layer``);
older spellings stay as hidden aliases (:data:`ALIASES`).

Checks that involve several options (``--frames`` without ``--offline``, a fault on a
symbol the simulator does not serve) raise :class:`UsageError` from the command's
``run``, which ends the same way. A run that starts but finds a problem (a mismatch,
a book that never went live, an unreachable server) raises :class:`Problem`, or
returns 1 after saying why.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import math
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn
from urllib.parse import urlsplit

from feeds.argtypes import UsageError, port  # noqa: F401 (re-exported: the apps import them here)


class Problem(Exception):
    """The run found a problem (unreachable server, refused request...): one line, exit code 1."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage dump), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions as written and appends each option's default to its help.

    Defaults are spelled for people: lists as space-separated words (``btc_usdt eth_usdt``),
    and nothing for flags or options that default to "not given".
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or isinstance(action, argparse._HelpAction)
        ):
            return text
        if isinstance(default, list | tuple):
            shown = " ".join(str(v) for v in default) or "none"
        else:
            shown = str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


def _number(text: str, kind: Callable[[str], Any], what: str) -> Any:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, a speed factor)."""
    value = _number(text, float, "a number > 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, not {text!r}")
    return float(value)


def int_at_least(minimum: int) -> Callable[[str], int]:
    """A whole number >= ``minimum``."""

    def check(text: str) -> int:
        value = _number(text, int, f"a whole number >= {minimum}")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, not {text!r}")
        return int(value)

    check.__name__ = f"int_at_least_{minimum}"
    return check


positive_int = int_at_least(1)


def int_between(minimum: int, maximum: int) -> Callable[[str], int]:
    """A whole number from ``minimum`` to ``maximum`` (said in one line, not listed)."""
    what = f"a whole number from {minimum} to {maximum}"

    def check(text: str) -> int:
        value = _number(text, int, what)
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
        return int(value)

    check.__name__ = f"int_between_{minimum}_{maximum}"
    return check


def probability(text: str) -> float:
    """A probability: a number from 0 to 1."""
    value = _number(text, float, "a probability from 0 to 1")
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability from 0 to 1, not {text!r}")
    return float(value)


_SYMBOL = re.compile(r"[a-z0-9]+(_[a-z0-9]+)+")


def wex_symbol(text: str) -> str:
    """A WEX symbol such as ``btc_usdt`` (lower case; ``BTC_USDT`` is accepted as that)."""
    value = text.strip().lower()
    if not _SYMBOL.fullmatch(value):
        raise argparse.ArgumentTypeError(f"expected a symbol such as btc_usdt, not {text!r}")
    return value


def url(*schemes: str, example: str) -> Callable[[str], str]:
    """A URL with one of ``schemes`` and a host, e.g. ``url("http", "https", example=...)``."""

    article = "an" if schemes[0][0] in "aeiouh" else "a"

    def check(text: str) -> str:
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{exc}: {text!r}") from None
        if parts.scheme not in schemes or not parts.hostname:
            spelled = " or ".join(s + "://" for s in schemes)
            raise argparse.ArgumentTypeError(
                f"expected {article} {spelled} URL such as {example}, not {text!r}"
            )
        return text

    check.__name__ = f"{schemes[0]}_url"
    return check


http_url = url("http", "https", example="http://127.0.0.1:8080")
ws_url = url("ws", "wss", example="ws://127.0.0.1:8765/public")


def say(prog: str, message: str) -> None:
    """One line on stderr, ``prog: message``."""
    print(f"{prog}: {message}", file=sys.stderr, flush=True)


# -- the shared vocabulary ------------------------------------------------------------

#: Older option spellings still accepted (hidden from --help), by command: alias -> option.
ALIASES: dict[str, dict[str, str]] = {
    "record": {"--spot-url": "--spot-ws", "--futures-url": "--futures-ws"},
}


class Symbols(argparse.Action):
    """``--spot btc_usdt eth_usdt`` or ``--spot btc_usdt,eth_usdt``: one list, each checked."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        items = [values] if isinstance(values, str) else list(values or ())
        symbols: list[str] = []
        for item in items:
            for part in str(item).split(","):
                if part.strip():
                    try:
                        symbol = wex_symbol(part)
                    except argparse.ArgumentTypeError as exc:
                        raise argparse.ArgumentError(self, str(exc)) from None
                    if symbol not in symbols:
                        symbols.append(symbol)
        setattr(namespace, self.dest, symbols)


def add_books(
    p: argparse.ArgumentParser,
    *,
    spot: Sequence[str] = (),
    futures: Sequence[str] = (),
    what: str = "books to keep",
) -> None:
    """``--spot SYMBOL ...`` and ``--futures SYMBOL ...`` (``--spot`` alone: none)."""
    for venue, default in (("spot", spot), ("futures", futures)):
        p.add_argument(
            f"--{venue}",
            nargs="*",
            action=Symbols,
            default=list(default),
            metavar="SYMBOL",
            help=f"{venue} {what}, by spaces or commas (--{venue} alone: none)",
        )


def add_seconds(p: argparse.ArgumentParser, what: str = "stop after this many seconds") -> None:
    """``--seconds S`` (default: until Ctrl-C)."""
    p.add_argument(
        "--seconds", type=positive_float, metavar="S", help=f"{what} (default: at Ctrl-C)"
    )


def add_endpoints(p: argparse.ArgumentParser, command: str, title: str) -> None:
    """``--spot-ws``, ``--futures-ws``, ``--spot-rest``, ``--futures-rest`` (+ old aliases)."""
    group = p.add_argument_group(title)
    for venue in ("spot", "futures"):
        group.add_argument(
            f"--{venue}-ws", type=ws_url, metavar="URL", help=f"{venue} public websocket URL"
        )
    for venue in ("spot", "futures"):
        group.add_argument(
            f"--{venue}-rest", type=http_url, metavar="URL", help=f"{venue} REST base URL"
        )
    for alias, option in ALIASES.get(command, {}).items():
        group.add_argument(
            alias, type=ws_url, dest=option.removeprefix("--").replace("-", "_"),
            help=argparse.SUPPRESS,
        )  # fmt: skip


#: Event loops ``--loop`` may pick.
LOOPS = ("auto", "asyncio", "uvloop")


#: The capture options of every command that records: ``(dest, default, type, help,
#: more add_argument keywords)``, one row each (:func:`add_capture`).
CAPTURE_OPTIONS: tuple[tuple[str, Any, Callable[[str], Any], str, dict[str, Any]], ...] = (
    ("flush_interval", 1.0, positive_float,
     "seconds between flushes: the most a kill -9 loses (default: 1)", {}),
    ("checkpoint_interval", 1.0, positive_float,
     "seconds between book checkpoints (default: 1)", {}),
    ("segment_mb", 256.0, positive_float,
     "rotate after this many compressed MiB (default: 256)", {}),
    ("segment_seconds", 3600.0, positive_float,
     "rotate after this many seconds (default: 3600; always at UTC midnight)", {}),
    ("level", 1, int,
     "zstandard level (default: 1; as small as 3 on book frames, and cheaper)",
     {"choices": range(1, 20), "metavar": "1-19"}),
)  # fmt: skip

#: What :func:`add_capture`'s options are when not given.
CAPTURE_DEFAULTS = {dest: default for dest, default, *_ in CAPTURE_OPTIONS}


def add_capture(group: Any) -> None:
    """The capture options of every command that records (``wexbook record``, ``wexbook
    subscribe --record``): flushes, checkpoints, segment rotation, compression level
    (:data:`CAPTURE_OPTIONS`); :func:`capture_options` turns them into a recorder's
    keyword arguments."""
    for dest, default, kind, text, more in CAPTURE_OPTIONS:
        group.add_argument(
            "--" + dest.replace("_", "-"), type=kind, default=default, help=text, **more
        )


def capture_given(args: argparse.Namespace) -> list[str]:
    """The capture options given other values than their defaults (as ``--flags``)."""
    return [
        "--" + name.replace("_", "-")
        for name, default in CAPTURE_DEFAULTS.items()
        if getattr(args, name) != default
    ]


def capture_options(args: argparse.Namespace) -> dict[str, Any]:
    """The recorder keyword arguments :func:`add_capture`'s options give."""
    return {
        "flush_interval": args.flush_interval,
        "checkpoint_interval": args.checkpoint_interval,
        "max_segment_bytes": int(args.segment_mb * 2**20),
        "max_segment_seconds": args.segment_seconds,
        "level": args.level,
    }


#: Websocket layers ``--ws-layer`` may pick (see :mod:`feeds.wslayer`).
WS_LAYERS = ("auto", "picows", "websockets")


def add_engine(p: argparse.ArgumentParser) -> None:
    """``--loop`` and ``--ws-layer``: what the live path runs on."""
    group = p.add_argument_group("engine")
    group.add_argument(
        "--loop",
        choices=LOOPS,
        default="auto",
        help="event loop: auto is uvloop where installed (pip install 'wexbook[fast]')",
    )
    group.add_argument(
        "--ws-layer",
        choices=WS_LAYERS,
        default="auto",
        help="websocket layer: auto is picows where installed, else websockets",
    )


def loop_name(choice: str) -> str:
    """The event loop ``choice`` (``--loop``) means here; :class:`UsageError` if missing."""
    if choice == "auto":
        return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    if choice == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise UsageError("--loop uvloop: uvloop is not installed (pip install 'wexbook[fast]')")
    return choice


def connection_options(args: argparse.Namespace, **options: Any) -> dict[str, Any]:
    """``options`` plus the websocket layer ``--ws-layer`` chose (for ``connection_options``)."""
    layer = getattr(args, "ws_layer", "auto")
    if layer != "auto":
        from feeds import wslayer

        try:
            wslayer.choose(layer)
        except ValueError as exc:
            raise UsageError(f"--ws-layer {layer}: {exc}") from None
        options["layer"] = layer
    return options


def run_async(main: Coroutine[Any, Any, Any], args: argparse.Namespace) -> Any:
    """Run ``main`` on the event loop ``--loop`` chose (``asyncio.run`` semantics)."""
    try:
        name = loop_name(getattr(args, "loop", "asyncio"))
    except UsageError:
        main.close()
        raise
    if name == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)
