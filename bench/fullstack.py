"""Full stack on loopback: wexbook, the bare websocket floors and ccxt.pro, side by side.

    python -m bench.fullstack                 # 800 and 3,200 frames/s, 3 alternated repetitions
    python -m bench.fullstack --quick         # one repetition of short windows (under a minute)
    python -m bench.fullstack --rates 3200 --reps 6 --seconds 8 --variants wexbook-picows-uvloop \\
        picows-uvloop ccxtpro

The measure is issue 22's: CPU seconds per second of the client process per 1,000
``depth_update`` frames/s received (lower is better), books exact. The simulator
(``wexbook sim``, :mod:`bench.simproc`) runs in its own process, serving ``--symbols``
spot and as many futures symbols; its frame rate is ``2 * symbols * 10 * speed``, so a
rate asks for ``speed = rate / (20 * symbols)``. Its CPU is not counted.

Each client variant (:data:`VARIANTS`) runs in its own process: a fresh interpreter and
event loop, started by this one with ``--child``. It subscribes every book, waits until
they are all up (wexbook: every book LIVE; floors: every topic acknowledged and pushed;
ccxt.pro: every ``watch_order_book`` answered), waits ``--warmup`` seconds, then
measures ``--seconds`` of its own CPU (:func:`bench.window.measure`) and prints one
``RESULT {json}`` line. The variants run alternated (A B C A B C ...) ``--reps`` times
per rate, against one simulator per rate; the table shows medians.

Variants:

- ``wexbook-picows``, ``wexbook-picows-uvloop``, ``wexbook-websockets``: a
  :class:`feeds.manager.BookManager` keeping every book, on the picows layer (asyncio,
  uvloop) or the websockets layer (asyncio; no permessage-deflate, its default);
  ``wexbook-websockets-deflate`` (not in the default set): the websockets layer
  negotiating permessage-deflate, as wexbook ran before issue 22.
- floors (:mod:`bench.floors`): ``websockets-deflate`` and ``websockets`` (the
  ``websockets`` library with and without permessage-deflate) and ``picows``,
  ``picows-uvloop`` (picows' own callback API): receive every frame, do nothing.
- ``ccxtpro`` (:mod:`bench.xtpeer`): ccxt.pro's ``xt`` ``watch_order_book`` on the
  same symbols (the simulator runs with ``--xt-compat`` when it is chosen); skipped,
  with the reason, when ``ccxt.pro`` does not import.

Books exact: after the window a wexbook child counts the books LIVE and the resyncs
(snapshots taken beyond the first), then compares each book's top 5 levels with the
simulator's REST snapshot at the same update id (it records the book at every applied
update until a snapshot's id is among them); ccxt.pro's books get the same comparison
through its own ``fetch_order_book``. A book that could not be compared is reported and
is a failure (exit 1), as is a book not LIVE, a mismatch, or a client that failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bench.simproc import start_simulator
from bench.window import loop_available, measure, run_on

#: The issue's goals: wexbook's CPU per frame at most this share of ccxt.pro's ...
GOAL_VS_CCXT = 0.25
#: ... and at most this many times the bare floor's on the same loop.
GOAL_VS_FLOOR = 2.0
#: Levels per side compared with the REST snapshot.
TOP = 5
#: Snapshots tried per book before the check says it could not compare it.
TRIES = 10


@dataclass(frozen=True)
class Variant:
    """One client of the comparison."""

    kind: str  #: "wexbook", "websockets", "picows" or "ccxtpro"
    loop: str  #: "asyncio" or "uvloop"
    what: str  #: one line for the table's legend
    options: dict[str, Any] = field(default_factory=dict)
    floor: str | None = None  #: the floor on the same layer and loop (wexbook variants)
    default: bool = True


VARIANTS: dict[str, Variant] = {
    "wexbook-picows": Variant(
        "wexbook", "asyncio", "BookManager, picows layer, asyncio", {"layer": "picows"}, "picows"
    ),
    "wexbook-picows-uvloop": Variant(
        "wexbook",
        "uvloop",
        "BookManager, picows layer, uvloop",
        {"layer": "picows"},
        "picows-uvloop",
    ),
    "wexbook-websockets": Variant(
        "wexbook",
        "asyncio",
        "BookManager, websockets layer (no deflate), asyncio",
        {"layer": "websockets"},
        "websockets",
    ),
    "wexbook-websockets-deflate": Variant(
        "wexbook",
        "asyncio",
        "BookManager, websockets layer + permessage-deflate, asyncio",
        {"layer": "websockets", "compression": "deflate"},
        "websockets-deflate",
        default=False,
    ),
    "websockets-deflate": Variant(
        "websockets",
        "asyncio",
        "floor: websockets + permessage-deflate, count frames",
        {"compression": "deflate"},
    ),
    "websockets": Variant(
        "websockets",
        "asyncio",
        "floor: websockets, no deflate, count frames",
        {"compression": None},
    ),
    "picows": Variant("picows", "asyncio", "floor: picows WSListener, count frames, asyncio"),
    "picows-uvloop": Variant("picows", "uvloop", "floor: picows WSListener, count frames, uvloop"),
    "ccxtpro": Variant("ccxtpro", "asyncio", "peer: ccxt.pro xt watch_order_book, asyncio"),
}


def speed_for(rate: float, symbols: int) -> float:
    """The simulator ``--speed`` giving ``rate`` frames/s over ``symbols`` per venue."""
    return rate / (2 * symbols * 10)


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) process ``pid`` has used, from ``/proc`` (None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def unavailable(name: str) -> str | None:
    """``None`` if variant ``name`` can run here, else why not."""
    variant = VARIANTS[name]
    why = loop_available(variant.loop)
    if why is not None:
        return why
    if variant.kind == "picows" or variant.options.get("layer") == "picows":
        try:
            import picows  # noqa: F401
        except ImportError:
            return "picows is not installed (pip install 'wexbook[fast]')"
    if variant.kind == "ccxtpro":
        from bench.xtpeer import unavailable as ccxt_unavailable

        return ccxt_unavailable()
    return None


# -- the client processes -----------------------------------------------------------


async def wexbook_client(
    urls: dict[str, str], names: list[str], seconds: float, warmup: float, options: dict[str, Any]
) -> dict[str, Any]:
    """A BookManager keeping every book; the window, then the books' checks."""
    from feeds.manager import BookManager
    from feeds.rest import MarketClient

    market = MarketClient(urls["spot REST"], urls["futures REST"])
    manager = BookManager(
        spot_ws_url=urls["spot websocket"],
        futures_ws_url=urls["futures websocket"],
        market=market,
        max_concurrent_snapshots=8,
        connection_options=options,
    )
    async with market, manager:
        start = time.perf_counter()
        await manager.add_many("spot", names)
        await manager.add_many("futures", names)
        books = list(manager.books.values())
        while not all(b.sync.is_live for b in books):
            await asyncio.sleep(0.01)
            if time.perf_counter() - start > 30:
                late = [f"{b.venue.value}:{b.symbol}" for b in books if not b.sync.is_live]
                raise RuntimeError(f"books not LIVE after 30 s: {', '.join(late)}")
        ready = time.perf_counter() - start
        to_live = [b.first_live - b.added for b in books if b.first_live is not None]
        await asyncio.sleep(warmup)
        window = await measure(lambda: sum(b.depth_events for b in books), seconds)
        live = sum(b.sync.is_live for b in books)
        resyncs = sum(b.sync.generation - 1 for b in books)
        layers = sorted({conn.layer for conn in manager.connections.values()})
        checked, exact, unmatched = await check_wexbook(manager)
        return {
            **window.as_dict(),
            "ready_s": ready,
            "to_live_max_s": max(to_live),
            "books": len(books),
            "live": live,
            "resyncs": resyncs,
            "checked": checked,
            "exact": exact,
            "unmatched": unmatched,
            "layers": layers,
            "counts": dict(manager.counts),
        }


async def check_wexbook(manager: Any) -> tuple[int, int, list[str]]:
    """Compare each book's top levels with a REST snapshot at the same update id.

    Returns (books compared, books equal, books no snapshot could be matched to)."""
    from feeds.manager import BookEvent
    from orderbook import Decision

    seen: dict[Any, dict[int, tuple[Any, Any]]] = {key: {} for key in manager.books}

    def record(item: object) -> None:
        if isinstance(item, BookEvent) and item.decision is Decision.APPLIED:
            view = manager.view(item.venue, item.symbol, TOP, allow_stale=True)
            seen[item.venue, item.symbol][item.update_id] = (view.bids, view.asks)

    manager.on_event(record)
    checked = exact = 0
    unmatched: list[str] = []
    for key in manager.books:
        past = -1  # a snapshot is asked for once the book applied an update beyond this id
        for _ in range(TRIES):
            await reached(seen[key], past + 1)
            snapshot = await manager.market.depth_snapshot(*key)
            await reached(seen[key], snapshot.last_id)  # the stream may be behind the snapshot
            past = snapshot.last_id
            levels = seen[key].get(snapshot.last_id)
            if levels is not None:
                checked += 1
                mine = [[(lv.price, lv.qty) for lv in side] for side in levels]
                theirs = [
                    [(Decimal(p), Decimal(q)) for p, q in side[:TOP]]
                    for side in (snapshot.bids, snapshot.asks)
                ]
                exact += mine == theirs
                break
        else:
            unmatched.append(f"{key[0].value}:{key[1]}")
    return checked, exact, unmatched


async def reached(record: dict[int, Any], target: int, timeout: float = 2.0) -> None:
    """Return once ``record`` holds an id at or beyond ``target``, or after ``timeout`` s."""
    deadline = time.perf_counter() + timeout
    while max(record, default=-1) < target and time.perf_counter() < deadline:
        await asyncio.sleep(0.005)


async def client(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Run variant ``name`` with ``config`` (urls, names, seconds, warmup) in this process."""
    variant = VARIANTS[name]
    args = (config["urls"], config["names"], config["seconds"], config["warmup"])
    if variant.kind == "wexbook":
        return await wexbook_client(*args, variant.options)
    if variant.kind == "websockets":
        from bench.floors import websockets_floor

        return await websockets_floor(*args, variant.options["compression"])
    if variant.kind == "picows":
        from bench.floors import picows_floor

        return await picows_floor(*args)
    from bench.xtpeer import ccxtpro_peer

    return await ccxtpro_peer(*args)


def child_main(name: str, config_text: str) -> int:
    """The client process: run one variant, print ``RESULT {json}``."""
    config = json.loads(config_text)
    try:
        result = run_on(VARIANTS[name].loop, client(name, config))
    except Exception as exc:  # reported by the parent as this run's failure
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        return 1
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def run_child(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Run variant ``name`` in its own process; its result, or ``{"error": ...}``."""
    timeout = config["seconds"] + config["warmup"] + 90
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.fullstack", "--child", name, json.dumps(config)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"no result within {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT "))
        if line.startswith("ERROR "):
            return {"error": line.removeprefix("ERROR ")}
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"exit {done.returncode}: {tail}"}


# -- the comparison -----------------------------------------------------------------


def derive(result: dict[str, Any]) -> dict[str, Any]:
    """Frames/s, CPU fraction and CPU s per 1k frames/s of one run's window."""
    fps = result["frames"] / result["wall"]
    cpu = result["cpu"] / result["wall"]
    return {
        **result,
        "fps": fps,
        "cpu_fraction": cpu,
        "per_1k": cpu / (fps / 1000) if fps else None,
    }


@dataclass
class Row:
    """The medians of one variant at one rate, and its books' checks over every run."""

    name: str
    runs: int
    failures: list[str]
    fps: float | None = None
    cpu_fraction: float | None = None
    per_1k: float | None = None
    books: str = "-"
    exact: bool | None = None  #: every book LIVE and equal in every run (None: not checked)
    vs_ccxt: float | None = None
    vs_floor: float | None = None
    sim_cpu: float | None = None  #: the simulator's CPU over the runs (fraction of a core)


def summarize(name: str, results: list[dict[str, Any]]) -> Row:
    """One variant's row from its runs at one rate."""
    good = [derive(r) for r in results if "error" not in r and r["frames"] > 0]
    failures = [
        r.get("error", "no frames in the window")
        for r in results
        if "error" in r or not r["frames"]
    ]
    row = Row(name, len(results), failures)
    if not good:
        return row
    row.fps = statistics.median(r["fps"] for r in good)
    row.cpu_fraction = statistics.median(r["cpu_fraction"] for r in good)
    per_1k = [r["per_1k"] for r in good if r["per_1k"] is not None]
    row.per_1k = statistics.median(per_1k) if per_1k else None
    sim = [r["sim_cpu"] for r in results if "sim_cpu" in r]
    row.sim_cpu = statistics.median(sim) if sim else None
    if "checked" in good[0]:
        books = sum(r["books"] for r in good)
        checked = sum(r["checked"] for r in good)
        exact = sum(r["exact"] for r in good)
        parts = []
        if "live" in good[0]:
            live = sum(r["live"] for r in good)
            resyncs = sum(r["resyncs"] for r in good)
            parts += [f"{live}/{books} LIVE", f"{resyncs} resyncs"]
            all_live = live == books
        else:
            all_live = True
        parts.append(f"{exact}/{books} exact")
        row.books = ", ".join(parts)
        row.exact = all_live and exact == checked == books and not failures
    return row


def compare(rows: dict[str, Row]) -> None:
    """Fill in each row's ratios to ccxt.pro and to its floor on the same loop."""
    ccxt = rows.get("ccxtpro")
    for name, row in rows.items():
        if row.per_1k is None:
            continue
        if ccxt is not None and ccxt.per_1k:
            row.vs_ccxt = row.per_1k / ccxt.per_1k
        floor = rows.get(VARIANTS[name].floor or "")
        if floor is not None and floor.per_1k:
            row.vs_floor = row.per_1k / floor.per_1k


def goal_lines(rate: float, rows: dict[str, Row]) -> list[str]:
    """Whether each wexbook variant meets the issue's goals at ``rate``."""
    lines = []
    for name, row in rows.items():
        variant = VARIANTS[name]
        if variant.kind != "wexbook" or row.per_1k is None:
            continue
        parts = []
        if row.vs_ccxt is None:
            parts.append("vs ccxt.pro: not measured")
        else:
            met = "met" if row.vs_ccxt <= GOAL_VS_CCXT else "NOT met"
            parts.append(f"{row.vs_ccxt:.2f} of ccxt.pro ({met})")
        if row.vs_floor is None:
            parts.append(f"vs floor {variant.floor}: not measured")
        else:
            met = "met" if row.vs_floor <= GOAL_VS_FLOOR else "NOT met"
            parts.append(f"{row.vs_floor:.2f}x {variant.floor} ({met})")
        parts.append("books exact" if row.exact else "books NOT exact")
        lines.append(f"  {rate:,.0f} fps {name}: " + ", ".join(parts))
    return lines


def fmt(value: float | None, spec: str) -> str:
    """``value`` in ``spec``, or a dash as wide."""
    if value is not None:
        return format(value, spec)
    width = spec[: len(spec) - len(spec.lstrip("0123456789"))]
    return "-".rjust(int(width or 0))


def print_table(rate: float, speed: float, symbols: int, reps: int, rows: dict[str, Row]) -> None:
    """The table of one rate."""
    print(
        f"\n{rate:,.0f} frames/s (sim --speed {speed:g}, {symbols} spot + {symbols} futures "
        f"symbols), medians of {reps}:"
    )
    head = (
        f"{'variant':<27} {'frames/s':>8} {'CPU':>6} {'CPU s/1k fps':>12} "
        f"{'vs ccxt.pro':>11} {'vs floor':>8} {'sim CPU':>7}  books"
    )
    print(head)
    print("-" * len(head))
    for name, row in rows.items():
        books = row.books if not row.failures else f"{row.books}; {len(row.failures)} failed"
        print(
            f"{name:<27} {fmt(row.fps, '8,.0f')} {fmt(row.cpu_fraction, '6.1%')} "
            f"{fmt(row.per_1k, '12.4f')} {fmt(row.vs_ccxt, '11.2f')} "
            f"{fmt(row.vs_floor, '8.2f')} {fmt(row.sim_cpu, '7.0%')}  {books}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates", type=float, nargs="+", metavar="FPS", help="total frames/s (default 800 3200)"
    )
    parser.add_argument("--speeds", type=float, nargs="+", help="sim speeds instead of --rates")
    parser.add_argument("--seconds", type=float, default=None, help="window (default 5; quick 1)")
    parser.add_argument("--warmup", type=float, default=None, help="default 1; quick 0.3")
    parser.add_argument("--reps", type=int, default=None, help="default 3; quick 1")
    parser.add_argument("--symbols", type=int, default=4, help="per venue (default 4)")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        metavar="NAME",
        help=f"some of: {', '.join(VARIANTS)} (default: all but wexbook-websockets-deflate)",
    )
    parser.add_argument("--quick", action="store_true", help="one short repetition")
    parser.add_argument("--json", metavar="PATH", help="also write every run's figures here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("config", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if args.child not in VARIANTS or args.config is None:
            parser.error("--child needs a variant and its config")
        return child_main(args.child, args.config)
    if args.config is not None:
        parser.error(f"unrecognized argument: {args.config}")
    quick = args.quick
    seconds = args.seconds if args.seconds is not None else (1.0 if quick else 5.0)
    warmup = args.warmup if args.warmup is not None else (0.3 if quick else 1.0)
    reps = args.reps if args.reps is not None else (1 if quick else 3)
    if seconds <= 0 or warmup < 0 or reps < 1 or args.symbols < 1:
        parser.error("--seconds must be > 0, --warmup >= 0, --reps and --symbols >= 1")
    if args.speeds:
        rates = [s * 2 * args.symbols * 10 for s in args.speeds]
    else:
        rates = args.rates or [800.0, 3200.0]
    chosen = args.variants or [n for n, v in VARIANTS.items() if v.default]
    names = []
    for name in chosen:
        why = unavailable(name)
        if why is None:
            names.append(name)
        else:
            print(f"skipped {name}: {why}")
    if not names:
        print("no variant can run here")
        return 1
    symbols = [f"s{n}_usdt" for n in range(args.symbols)]
    per_run = seconds + warmup + 15
    everything: dict[str, dict[str, list[dict[str, Any]]]] = {}
    tables = []
    for rate in rates:
        speed = speed_for(rate, args.symbols)
        life = reps * len(names) * per_run + 60
        proc, urls = start_simulator(speed, symbols, life, xt_compat="ccxtpro" in names)
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        time.sleep(1.0)  # the simulator's first second is not the steady rate
        try:
            config = {"urls": urls, "names": symbols, "seconds": seconds, "warmup": warmup}
            for rep in range(reps):
                for name in names:
                    sim0, wall0 = process_cpu(proc.pid), time.perf_counter()
                    result = run_child(name, config)
                    sim1, wall1 = process_cpu(proc.pid), time.perf_counter()
                    if sim0 is not None and sim1 is not None:
                        result["sim_cpu"] = (sim1 - sim0) / (wall1 - wall0)
                    runs[name].append(result)
                    if "error" in result:
                        note = f"FAILED: {result['error']}"
                    else:
                        r = derive(result)
                        note = f"{r['fps']:,.0f} fps, {fmt(r['per_1k'], '.4f')} CPU s/1k fps"
                    if "sim_cpu" in result:
                        note += f" (simulator {result['sim_cpu']:.0%} of a core)"
                    print(f"[{rate:,.0f} fps, rep {rep + 1}/{reps}] {name}: {note}", flush=True)
                if proc.poll() is not None:
                    raise RuntimeError(f"the simulator exited ({proc.returncode}) during the runs")
        finally:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        rows = {name: summarize(name, runs[name]) for name in names}
        compare(rows)
        everything[f"{rate:g}"] = runs
        tables.append((rate, speed, rows))
    for rate, speed, rows in tables:
        print_table(rate, speed, args.symbols, reps, rows)
    print("\nlegend:")
    for name in names:
        print(f"  {name:<27} {VARIANTS[name].what}")
    print(
        "  CPU s/1k fps: client process CPU seconds per second per 1,000 frames/s "
        "(lower is better); vs floor: the same layer's do-nothing client on the same loop"
    )
    print(
        f"\ngoals (issue 22): wexbook <= {GOAL_VS_CCXT} of ccxt.pro's CPU per frame and "
        f"<= {GOAL_VS_FLOOR:g}x the bare websocket floor on the same loop, books exact:"
    )
    problems: list[str] = []
    notes: list[str] = []
    for rate, _speed, rows in tables:
        for line in goal_lines(rate, rows):
            print(line)
        for name, row in rows.items():
            problems += [f"{rate:,.0f} fps {name}: {f}" for f in row.failures]
            if row.exact is False:
                problems.append(f"{rate:,.0f} fps {name}: books not all LIVE and exact")
            if row.fps is not None and not 0.95 * rate <= row.fps <= 1.05 * rate:
                sim = f"; simulator {row.sim_cpu:.0%} of a core" if row.sim_cpu else ""
                notes.append(
                    f"{rate:,.0f} fps {name}: received {row.fps:,.0f} frames/s, not the "
                    f"{rate:,.0f} asked for{sim}"
                )
    for rate, runs in everything.items():
        for name, results in runs.items():
            unmatched = sorted({u for r in results for u in r.get("unmatched", [])})
            if unmatched:
                problems.append(f"{float(rate):,.0f} fps {name}: not compared: {unmatched}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(everything, out, indent=1)
    if notes:
        print("\nnotes (the simulator did not hold the rate: a loaded machine, or the client):")
        for note in notes:
            print(f"  {note}")
    if problems:
        print("\nproblems:")
        for problem in problems:
            print(f"  {problem}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
