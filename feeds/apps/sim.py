"""``wexbook sim``: run the embedded simulator until Ctrl-C (or ``--seconds``).

    wexbook sim --seed 1 --spot btc_usdt eth_usdt --futures btc_usdt --ws-port 8765 --http-port 8080
    wexbook sim --fault spot:btc_usdt:drop=0.01 --fault futures:btc_usdt:snapshot_lag=40

    wexbook sim --xt-compat --http-port 8080 --ws-port 8765   # for ccxt, ccxt.pro and pyxt

Each ``--fault VENUE:SYMBOL:KNOB=VALUE`` switches one knob of
:class:`feeds.sim.faultset.Faults` on at start (repeatable). At run time,
``wexbook sim-fault --url http://127.0.0.1:PORT spot:btc_usdt:stall=1`` switches
them (``--clear`` first switches everything off; no fault prints the counters),
and from Python ``sim.faults.set(...)`` does.

``--xt-headers`` accepts XT's ``xt-validate-*`` signature headers as well as the
document's ``validate-*``; ``--xt-compat`` (which implies it) also serves the XT
behaviours the document does not specify (:mod:`feeds.sim.xtcompat`). With either,
the startup text shows how to point ccxt, ccxt.pro and pyxt at the simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from typing import Any

from feeds.sim.faultset import FAULT_NAMES, Faults
from feeds.sim.simulator import DEFAULT_SYMBOLS, DEMO_API_KEY, DEMO_SECRET, Simulator


def parse_fault(text: str) -> tuple[str, str, str, Any]:
    """``spot:btc_usdt:drop=0.01`` -> ("spot", "btc_usdt", "drop", 0.01)."""
    try:
        venue, symbol, knob = text.split(":", 2)
        name, raw = knob.split("=", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected VENUE:SYMBOL:KNOB=VALUE, got {text!r}"
        ) from None
    if venue not in ("spot", "futures") or name not in FAULT_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown venue or fault in {text!r}; faults: {FAULT_NAMES}"
        )
    default = getattr(Faults(), name)
    value: Any
    if isinstance(default, bool):
        value = raw.lower() in ("1", "true", "yes", "on")
    elif isinstance(default, float):
        value = float(raw)
    else:
        value = int(raw)
    return venue, symbol, name, value


async def serve(args: argparse.Namespace) -> dict[str, Any]:
    sim = Simulator(
        spot_symbols=args.spot, futures_symbols=args.futures, seed=args.seed, host=args.host,
        ws_port=args.ws_port, http_port=args.http_port, speed=args.speed,
        xt_headers=args.xt_headers, xt_compat=args.xt_compat,
    )  # fmt: skip
    async with sim:
        for venue, symbol, name, value in args.fault or []:
            sim.faults.set(venue, symbol, **{name: value})
        print(f"spot websocket    {sim.spot_ws_url}")
        print(f"futures websocket {sim.futures_ws_url}")
        print(f"spot REST         {sim.spot_http_url}")
        print(f"futures REST      {sim.futures_http_url}")
        print(f"spot private      {sim.spot_private_url}")
        print(f"futures user      {sim.futures_user_url}")
        print(f"API key           {DEMO_API_KEY} (secret: feeds.sim.DEMO_SECRET)")
        print(xt_clients_text(sim), flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            if args.seconds is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(args.seconds)
        return sim.stats()


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
  ccxt       ex = ccxt.xt({{"apiKey": "{DEMO_API_KEY}", "secret": "{DEMO_SECRET}"}})
             ex.urls["api"] = dict.fromkeys(["spot", "linear", "inverse", "user"], "{http}")
  ccxt.pro   ex = ccxt.pro.xt({{...the same keys...}}); ex.urls["api"] = {{the same REST URLs,
             "ws": {{"spot": "{ws}", "contract": "{ws}/ws"}}}}
  pyxt       Spot(host="{http}", access_key=KEY, secret_key=SECRET)
             Perp(host="{http}", access_key=KEY, secret_key=SECRET)
"""


def run(args: argparse.Namespace) -> int:
    """The ``wexbook sim`` command."""
    try:
        stats = asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 130
    print(json.dumps(stats, indent=2))
    return 0


def run_fault(args: argparse.Namespace) -> int:
    """The ``wexbook sim-fault`` command: switch faults of a running simulator."""
    import httpx

    from feeds.sim.httpside import CONTROL_PATH

    url = args.url.rstrip("/") + CONTROL_PATH
    with httpx.Client(timeout=10) as client:
        if args.clear:
            r = client.post(url, json={"clear": True})
        for venue, symbol, name, value in args.fault or []:
            r = client.post(url, json={"venue": venue, "symbol": symbol, name: value})
            if r.status_code != 200:
                break
        if not args.clear and not args.fault:
            r = client.get(url)
    print(r.text)
    return 0 if r.status_code == 200 else 1


HELP = "run the embedded WEX simulator (websocket + HTTP on loopback)"
FAULT_HELP = "switch faults of a running `wexbook sim` at run time"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``wexbook sim``."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--spot", nargs="*", default=list(DEFAULT_SYMBOLS), metavar="SYMBOL")
    p.add_argument("--futures", nargs="*", default=list(DEFAULT_SYMBOLS), metavar="SYMBOL")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--ws-port", type=int, default=0, help="0: any free port")
    p.add_argument("--http-port", type=int, default=0, help="0: any free port")
    p.add_argument("--speed", type=float, default=1.0, help="market steps per 100 ms of real time")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument("--fault", action="append", type=parse_fault, metavar="VENUE:SYMBOL:KNOB=VALUE")
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
    f.add_argument("--url", required=True, help="the simulator's REST URL (printed at start)")
    f.add_argument("fault", nargs="*", type=parse_fault, metavar="VENUE:SYMBOL:KNOB=VALUE")
    f.add_argument("--clear", action="store_true", help="switch every fault off first")
