"""Round trips of the REST facade against the simulator on loopback (sync client).

``python -m bench.rest_latency``: 300 calls each of a public GET, a signed GET and a
signed market-order POST (which fills against the simulated book), client-side rate
limits off and the simulator's scaled up, so the figures are the client + simulator
cost per call, not the documented limits.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from feeds.rest.client import WexClient
from feeds.sim import DEMO_API_KEY, DEMO_SECRET
from feeds.sim.background import simulator_thread

CALLS = 300


def measure(call: Callable[[], object]) -> tuple[float, float]:
    times = []
    for _ in range(CALLS):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(CALLS * 0.95) - 1]


def main() -> None:
    with simulator_thread(auto=False, rate_limit_scale=1000) as sim:
        with WexClient(
            DEMO_API_KEY, DEMO_SECRET, spot_url=sim.spot_http_url,
            futures_url=sim.futures_http_url, rate_limit=False,
        ) as c:  # fmt: skip
            c.spot.get_server_time()
            cases = {
                "public GET /v4/public/time": c.spot.get_server_time,
                "signed GET /v4/balances": c.spot.get_balances,
                "signed POST /v4/order (market sell, fills)": lambda: c.spot.submit_order(
                    symbol="btc_usdt", side="SELL", type="MARKET", timeInForce="IOC",
                    bizType="SPOT", quantity="0.001",
                ),
            }  # fmt: skip
            for name, call in cases.items():
                median, p95 = measure(call)
                print(f"{name:45s} median {median:5.2f} ms   p95 {p95:5.2f} ms")


if __name__ == "__main__":
    main()
