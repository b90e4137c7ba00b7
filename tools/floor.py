"""The floor under the engine's apply loop, next to the baseline, on the benchmark stream.

    PYTHONPATH=. python tools/floor.py

``floor_parse``: orjson alone. ``floor_cache_set``: plus a cached price lookup and a
plain-dict write per level. ``floor_cache_zero_set``: plus the zero test. None of these
validate, sort or sequence: they bound what any pure-Python engine can reach.
"""

from __future__ import annotations

import gc
import time

import orjson

from bench.runners import NaiveBook, loop_baseline
from bench.streams import bench_stream

STREAM = bench_stream(20000)
FRAMES = STREAM.frames
CACHE: dict[str, float] = {}
for _raw in [STREAM.snapshot]:
    _snap = orjson.loads(_raw)
    for _price, _ in _snap["bids"] + _snap["asks"]:
        CACHE[_price] = float(_price)
for _raw in FRAMES:
    _data = orjson.loads(_raw)["data"]
    for _price, _ in _data["a"] + _data["b"]:
        CACHE.setdefault(_price, float(_price))


def baseline() -> None:
    loop_baseline(NaiveBook(STREAM.snapshot), FRAMES)


def floor_parse() -> None:
    loads = orjson.loads
    for raw in FRAMES:
        loads(raw)


def floor_cache_set() -> None:
    loads, cache = orjson.loads, CACHE
    bids: dict[float, str] = {}
    asks: dict[float, str] = {}
    for raw in FRAMES:
        data = loads(raw)["data"]
        for price, qty in data["b"]:
            bids[cache[price]] = qty
        for price, qty in data["a"]:
            asks[cache[price]] = qty


def floor_cache_zero_set() -> None:
    loads, cache = orjson.loads, CACHE
    bids: dict[float, str] = {}
    asks: dict[float, str] = {}
    for raw in FRAMES:
        data = loads(raw)["data"]
        for side, levels in ((bids, data["b"]), (asks, data["a"])):
            for price, qty in levels:
                key = cache[price]
                if qty.strip("0."):
                    side[key] = qty
                else:
                    side.pop(key, None)


if __name__ == "__main__":
    for _ in range(2):
        for fn in (baseline, floor_parse, floor_cache_set, floor_cache_zero_set):
            gc.collect()
            start = time.perf_counter()
            fn()
            seconds = time.perf_counter() - start
            print(f"{fn.__name__:22s} {seconds * 1e6 / len(FRAMES):6.2f} us/frame")
