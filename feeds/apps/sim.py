"""``wexbook sim``: run the embedded simulator until Ctrl-C (or ``--seconds``).

    wexbook sim --seed 1 --spot btc_usdt eth_usdt --futures btc_usdt --ws-port 8765 --http-port 8080
    wexbook sim --fault spot:btc_usdt:drop=0.01 --fault futures:btc_usdt:snapshot_lag=40

    wexbook sim --xt-compat --http-port 8080 --ws-port 8765   # for ccxt, ccxt.pro and pyxt

Each ``--fault VENUE:SYMBOL:KNOB=VALUE`` switches one knob of
:class:`feeds.sim.faultset.Faults` on at start (repeatable). At run time,
``wexbook sim-fault --url http://127.0.0.1:PORT spot:btc_usdt:stall=1`` switches
them (``--clear`` first switches everything off; no fault prints the counters),
and from Python ``sim.faults.set(...)`` does. Both commands check a fault with the
same parser (:func:`parse_fault`); ``wexbook sim --help`` lists every knob.

``wexbook watch --sim WS_URL REST_URL`` watches the simulator; the startup text
prints that line ready to paste.

A port in use, a port this user may not open, or a host that does not resolve or
is not this machine's is one line naming the option to change (exit code 2).

``--xt-headers`` accepts XT's ``xt-validate-*`` signature headers as well as the
document's ``validate-*``; ``--xt-compat`` (which implies it) also serves the XT
behaviours the document does not specify (:mod:`feeds.sim.xtcompat`). With either,
the startup text shows how to point ccxt, ccxt.pro and pyxt at the simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import socket
import textwrap
from collections.abc import Callable
from typing import Any

from feeds.apps.args import (
    Problem,
    UsageError,
    add_books,
    http_url,
    int_at_least,
    port,
    positive_float,
    probability,
    wex_symbol,
)
from feeds.apps.console import StopOnCtrlC
from feeds.sim.faultset import FAULT_NAMES, Faults
from feeds.sim.simulator import DEFAULT_SYMBOLS, DEMO_API_KEY, Simulator


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"must be on or off (1/0, true/false), not {text!r}")


def _count_or_none(text: str) -> int | None:
    if text.strip().lower() in ("none", "off", "0"):
        return None
    return int_at_least(1)(text)


_COUNT = int_at_least(0)

#: Every fault knob: (how its value is read, what it does). ``wexbook sim --help`` prints it.
KNOBS: dict[str, tuple[Callable[[str], Any], str]] = {
    "drop": (probability, "probability (0-1) that a depth_update push is dropped"),
    "duplicate": (probability, "probability (0-1) that a push is sent twice"),
    "reorder": (probability, "probability (0-1) that a push is swapped with the next"),
    "malformed": (probability, "probability (0-1) that half a frame is sent instead"),
    "unknown_topic": (probability, "probability (0-1) of an extra push with a made-up topic"),
    "drop_next": (_COUNT, "drop the next N pushes"),
    "duplicate_next": (_COUNT, "duplicate the next N pushes"),
    "reorder_next": (_COUNT, "swap the next N pushes with their successors"),
    "malformed_next": (_COUNT, "send the next N pushes malformed"),
    "unknown_topic_next": (_COUNT, "send N pushes with a made-up topic"),
    "skip_ids_next": (_COUNT, "consume N update ids without pushing them (a gap)"),
    "stall": (_flag, "on: no depth_update pushes (pings still answered)"),
    "silent": (_flag, "on: subscribed links go half-open (nothing sent or read)"),
    "delay_ms": (_COUNT, "hold each push this many milliseconds"),
    "disconnect_after": (_count_or_none, "close connections after N more frames (none: never)"),
    "snapshot_lag": (_COUNT, "serve REST snapshots N update ids behind the stream"),
    "snapshot_429": (_COUNT, "answer the next N snapshot requests with HTTP 429"),
    "snapshot_5xx": (_COUNT, "answer the next N snapshot requests with HTTP 503"),
    "retry_after": (_COUNT, "the Retry-After seconds of those 429 answers"),
}  # fmt: skip
for _name in FAULT_NAMES:  # a knob added to the simulator but not described here yet
    _default = getattr(Faults(), _name)
    _read = {bool: _flag, float: probability, int: _COUNT}.get(type(_default), _count_or_none)
    KNOBS.setdefault(_name, (_read, "(not described yet)"))

FAULT_FORMAT = "VENUE:SYMBOL:KNOB=VALUE"


def knobs_help() -> str:
    """The knob list, as ``--help`` shows it."""
    width = max(len(name) for name in KNOBS)
    lines = [f"fault knobs ({FAULT_FORMAT}, e.g. spot:btc_usdt:drop=0.01):"]
    for name, (_, text) in KNOBS.items():
        lines.append(f"  {name:{width}}  {text}")
    return "\n".join(lines)


def parse_fault(text: str) -> tuple[str, str, str, Any]:
    """``spot:btc_usdt:drop=0.01`` -> ("spot", "btc_usdt", "drop", 0.01); refused with a reason.

    The one parser of a fault for ``wexbook sim --fault`` and ``wexbook sim-fault``.
    """
    try:
        venue, symbol, knob = text.split(":", 2)
        name, raw = knob.split("=", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {FAULT_FORMAT}, not {text!r}") from None
    if venue not in ("spot", "futures"):
        raise argparse.ArgumentTypeError(f"venue must be spot or futures, not {venue!r}")
    symbol = wex_symbol(symbol)
    if name not in KNOBS:
        raise argparse.ArgumentTypeError(
            f"unknown fault knob {name!r} in {text!r}; the knobs are listed under --help"
        )
    read, _ = KNOBS[name]
    try:
        value = read(raw)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{name} {exc} (in {text!r})") from None
    return venue, symbol, name, value


#: What each injected-fault counter of the simulator means.
FAULT_WORDS = {
    "drop": "frames dropped",
    "duplicate": "frames duplicated",
    "reorder": "frames reordered",
    "malformed": "frames malformed",
    "unknown_topic": "unknown-topic pushes",
    "skip_ids": "update ids skipped",
    "stalled_step": "market steps not pushed (stalled stream)",
    "disconnect": "forced disconnects",
    "silent": "connections gone half-open (silent)",
    "snapshot_lag": "snapshots lagging the stream",
    "snapshot_429": "snapshots answered 429",
    "snapshot_5xx": "snapshots answered 503",
}


def fault_lines(counts: dict[str, int], indent: str = "", width: int = 80) -> list[str]:
    """Injected-fault counters (``{"spot/btc_usdt/drop": 3}``) as lines, one book per line."""
    books: dict[str, list[str]] = {}
    for key, n in counts.items():
        venue, symbol, fault = key.split("/", 2)
        books.setdefault(f"{venue} {symbol}", []).append(
            f"{FAULT_WORDS.get(fault, fault.replace('_', ' '))}: {n}"
        )
    pad = max((len(name) for name in books), default=0)
    lines = []
    for name, parts in books.items():
        lines += textwrap.wrap(
            ", ".join(parts),
            width,
            initial_indent=f"{indent}{name:{pad}}  ",
            subsequent_indent=" " * (len(indent) + pad + 2),
        )
    return lines


def summary_lines(stats: dict[str, Any]) -> list[str]:
    """The simulator's counters (``Simulator.stats()``) for people."""

    def counters(d: dict[str, int]) -> str:
        return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in d.items()) or "none"

    lines = [
        f"market steps       {stats['steps']}",
        f"websocket          {counters(stats['websocket'])}",
        f"REST               {counters(stats['http'])}",
        f"private streams    {counters(stats['private'])}",
        "faults injected" + ("" if stats["faults"] else "    none"),
    ]
    return lines + fault_lines(stats["faults"], indent="  ")


def check(args: argparse.Namespace) -> None:
    """What only the options together can tell: refused with a usage error."""
    if not args.spot and not args.futures:
        raise UsageError("no symbols: give --spot and/or --futures symbols (or leave both out)")
    if args.ws_port and args.ws_port == args.http_port:
        raise UsageError(f"--ws-port and --http-port are both {args.ws_port}: give two ports")
    served = {"spot": args.spot, "futures": args.futures}
    for venue, symbol, name, _ in args.fault or []:
        if symbol not in served[venue]:
            raise UsageError(
                f"--fault {venue}:{symbol}:{name}: the simulator serves no {venue} symbol "
                f"{symbol} (its {venue} symbols: {' '.join(served[venue]) or 'none'})"
            )


def _probe(host: str, flag: str, number: int) -> OSError | None:
    """Whether ``host:number`` can be bound now (the error if not)."""
    try:
        infos = socket.getaddrinfo(host, number, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in infos:
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(address)
    except OSError as exc:
        return exc
    return None


def listen_error(args: argparse.Namespace, exc: OSError) -> str:
    """One line: why the simulator could not listen, and which option to change."""
    host = args.host
    if isinstance(exc, socket.gaierror):
        return (
            f"cannot resolve --host {host!r} ({exc.strerror}): give a name or address of this "
            "machine, such as 127.0.0.1"
        )
    for flag, number in (("--ws-port", args.ws_port), ("--http-port", args.http_port)):
        if number and (failed := _probe(host, flag, number)) is not None:
            exc = failed
            if failed.errno == errno.EADDRINUSE:
                return (
                    f"cannot listen on {host}:{number}: the port is in use; choose another "
                    f"{flag}, or 0 for any free port"
                )
            if failed.errno == errno.EACCES:
                return (
                    f"cannot listen on {host}:{number}: permission denied; choose a {flag} of "
                    "1024 or more, or 0 for any free port"
                )
            break
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on --host {host}: not an address of this machine; use 127.0.0.1 "
            "(or 0.0.0.0 for every interface)"
        )
    reason = exc.strerror or str(exc)
    return (
        f"cannot listen on {host} (--ws-port {args.ws_port}, --http-port {args.http_port}): "
        f"{reason}; change --host or the ports"
    )


async def serve(args: argparse.Namespace) -> dict[str, Any]:
    """Run the simulator until ``--seconds`` pass or Ctrl-C; returns its counters."""
    sim = Simulator(
        spot_symbols=args.spot, futures_symbols=args.futures, seed=args.seed, host=args.host,
        ws_port=args.ws_port, http_port=args.http_port, speed=args.speed,
        xt_headers=args.xt_headers, xt_compat=args.xt_compat,
    )  # fmt: skip
    with StopOnCtrlC() as stop:
        try:
            await sim.start()
        except OSError as exc:
            await _close_quietly(sim)
            raise UsageError(listen_error(args, exc)) from None
        try:
            for venue, symbol, name, value in args.fault or []:
                sim.faults.set(venue, symbol, **{name: value})
            ws_base = sim.spot_ws_url.removesuffix("/public")
            print(f"spot websocket    {sim.spot_ws_url}")
            print(f"futures websocket {sim.futures_ws_url}")
            print(f"spot REST         {sim.spot_http_url}")
            print(f"futures REST      {sim.futures_http_url}")
            print(f"spot private      {sim.spot_private_url}")
            print(f"futures user      {sim.futures_user_url}")
            print(f"API key           {DEMO_API_KEY} (secret: feeds.sim.DEMO_SECRET)")
            books = (["--spot", *args.spot] if args.spot else []) + (
                ["--futures", *args.futures] if args.futures else []
            )
            print(f"watch it          wexbook watch --sim {ws_base} {sim.spot_http_url} "
                  f"{' '.join(books)}")  # fmt: skip
            print(f"switch faults     wexbook sim-fault --url {sim.spot_http_url} "
                  "spot:SYMBOL:drop=0.01")  # fmt: skip
            print(xt_clients_text(sim), flush=True)
            await stop.wait(args.seconds)
            stats = sim.stats()
        finally:
            await sim.close()
    stats["interrupted"] = stop.interrupted
    return stats


async def _close_quietly(sim: Simulator) -> None:
    try:
        await sim.close()
    except Exception:  # half started: whatever did start is going away with the process
        pass


def xt_clients_text(sim: Simulator) -> str:
    """How to point XT.com's clients at ``sim`` (printed at start)."""
    http, ws = sim.spot_http_url, sim.spot_ws_url.removesuffix("/public")
    if not sim.xt_headers:
        return (
            "XT clients        ccxt and pyxt sign with xt-validate-* headers: start with "
            "--xt-compat (or at least --xt-headers)\n"
        )
    ready = "" if sim.xt_compat else "  (ccxt's load_markets also needs --xt-compat)"
    return f"""XT clients        xt-validate-* headers accepted{ready}
  ccxt       from feeds.sim import DEMO_SECRET  # the secret is never printed
             ex = ccxt.xt({{"apiKey": "{DEMO_API_KEY}", "secret": DEMO_SECRET}})
             ex.urls["api"] = dict.fromkeys(["spot", "linear", "inverse", "user"], "{http}")
  ccxt.pro   ex = ccxt.pro.xt({{...the same keys...}}); ex.urls["api"] = {{the same REST URLs,
             "ws": {{"spot": "{ws}", "contract": "{ws}/ws"}}}}
  pyxt       Spot(host="{http}", access_key=KEY, secret_key=SECRET)
             Perp(host="{http}", access_key=KEY, secret_key=SECRET)
"""


def run(args: argparse.Namespace) -> int:
    """The ``wexbook sim`` command: 0 after --seconds, 130 after Ctrl-C."""
    check(args)
    stats = asyncio.run(serve(args))
    print()
    for line in summary_lines(stats):
        print(line)
    return 130 if stats["interrupted"] else 0


def run_fault(args: argparse.Namespace) -> int:
    """The ``wexbook sim-fault`` command: switch faults of a running simulator."""
    import httpx

    from feeds.sim.httpside import CONTROL_PATH

    base = args.url.rstrip("/")
    url = base + CONTROL_PATH
    hint = "is `wexbook sim` running? --url is the 'spot REST' URL it prints"
    try:
        with httpx.Client(timeout=10) as client:
            if args.clear:
                _answer(client.post(url, json={"clear": True}), base, "--clear")
                print("every fault switched off")
            for venue, symbol, name, value in args.fault or []:
                spec = f"{venue}:{symbol}:{name}"
                _answer(client.post(url, json={"venue": venue, "symbol": symbol, name: value}),
                        base, spec)  # fmt: skip
                print(f"{venue} {symbol}: {name} = {'none' if value is None else value}")
            stats = _answer(client.get(url), base, "the counters")
    except httpx.ConnectError as exc:
        raise Problem(f"cannot connect to {base} ({_cause(exc)}): {hint}") from None
    except httpx.TimeoutException:
        raise Problem(f"{base} did not answer within 10 s: {hint}") from None
    except httpx.RemoteProtocolError:
        raise Problem(
            f"{base} does not answer HTTP (a websocket port?): --url is the 'spot REST' URL "
            "`wexbook sim` prints"
        ) from None
    except httpx.HTTPError as exc:
        raise Problem(f"request to {base} failed ({exc}): {hint}") from None
    for line in summary_lines(stats):
        print(line)
    return 0


def _cause(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _answer(response: Any, base: str, what: str) -> dict[str, Any]:
    """The simulator's counters from a control answer, or the one-line problem."""
    if response.status_code == 400:
        raise Problem(f"the simulator refused {what}: {response.text}")
    if response.status_code == 403:
        raise Problem(response.text)
    if response.status_code == 426:
        raise Problem(
            f"{base} is a websocket port (HTTP 426 Upgrade Required): --url is the 'spot REST' "
            "URL `wexbook sim` prints"
        )
    try:
        stats = response.json()
        stats["steps"]
    except (ValueError, TypeError, KeyError):
        raise Problem(
            f"{base} is not a `wexbook sim` REST URL (HTTP {response.status_code} from its "
            "fault control): --url is the 'spot REST' URL `wexbook sim` prints"
        ) from None
    return stats  # type: ignore[no-any-return]


HELP = "run the embedded WEX simulator (websocket + HTTP on loopback)"
DESCRIPTION = """\
Run the embedded WEX simulator until Ctrl-C (or --seconds): spot and futures
websockets and REST on loopback, with the documented protocol, and faults
switched on with --fault (repeatable) or, while it runs, `wexbook sim-fault`.
It prints its URLs and a `wexbook watch --sim ...` line to paste.

exit codes: 0 after --seconds; 130 after Ctrl-C (after the counters); 2 bad
usage, or a host or port it cannot listen on."""
FAULT_HELP = "switch faults of a running `wexbook sim` at run time"
FAULT_DESCRIPTION = """\
Switch faults of a running `wexbook sim`, then print its injected-fault counters
(with no fault and no --clear, only the counters).

exit codes: 0 done; 1 the simulator could not be reached or refused a fault;
2 bad usage."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``wexbook sim``."""
    p.epilog = knobs_help()
    p.add_argument("--seed", type=int, default=0, help="seed of the order flow and faults")
    add_books(p, spot=DEFAULT_SYMBOLS, futures=DEFAULT_SYMBOLS, what="symbols to serve")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument(
        "--ws-port",
        type=port,
        default=0,
        metavar="PORT",
        help="websocket port, 1-65535; 0: any free port",
    )
    p.add_argument(
        "--http-port",
        type=port,
        default=0,
        metavar="PORT",
        help="REST port, 1-65535; 0: any free port",
    )
    p.add_argument(
        "--speed",
        type=positive_float,
        default=1.0,
        metavar="X",
        help="market steps per 100 ms of real time, > 0",
    )
    p.add_argument(
        "--seconds",
        type=positive_float,
        default=None,
        metavar="S",
        help="stop after this many seconds (default: at Ctrl-C)",
    )
    p.add_argument(
        "--fault",
        action="append",
        type=parse_fault,
        metavar=FAULT_FORMAT,
        help="switch a fault knob on at start (repeatable; knobs below)",
    )
    p.add_argument(
        "--xt-headers",
        action="store_true",
        help="also accept XT's xt-validate-* signature headers (the document: validate-*)",
    )
    p.add_argument(
        "--xt-compat",
        action="store_true",
        help="serve XT behaviours the document lacks, for ccxt and pyxt (implies --xt-headers)",
    )


def add_fault_arguments(f: argparse.ArgumentParser) -> None:
    """The options of ``wexbook sim-fault``."""
    f.epilog = knobs_help()
    f.add_argument(
        "--url",
        required=True,
        type=http_url,
        help="the simulator's REST URL ('spot REST', printed at start)",
    )
    f.add_argument(
        "fault",
        nargs="*",
        type=parse_fault,
        metavar=FAULT_FORMAT,
        help="fault knobs to switch (knobs below)",
    )
    f.add_argument("--clear", action="store_true", help="switch every fault off first")
