"""Every simulator HTTP response has the fields of the API document's own example.

The examples are those ``tools/extract_endpoints.py`` reads from the document (the first
JSON value after each endpoint's path line, ``//`` comments removed) into
``feeds/sim/doc_examples.json``; the test that the table and the examples are what the
document gives is in ``test_endpoints_table.py``.
"""

from __future__ import annotations

import httpx

from feeds.rest.client import find_operation
from feeds.sim import Simulator
from feeds.sim.httpside import ROUTES
from feeds.sim.tradingroutes import EXAMPLES

#: Paths whose document example cannot be checked, and why.
UNCHECKABLE = {
    "/future/market/v1/public/symbol/coins": "the example result is an empty list",
    "/future/market/v1/public/depth": "named in Orderbook Management only, no example",
}


def doc_example(venue: str, path: str) -> object:
    op = find_operation(venue, "GET", path)
    assert op is not None, path
    return EXAMPLES[op.key]


def shape(result: object) -> object:
    if isinstance(result, list):
        result = result[0] if result else {}
    if isinstance(result, dict):
        return set(result)
    return type(result).__name__


CHECKED = [r for r in ROUTES if r.path not in UNCHECKABLE]


async def test_responses_have_the_documented_fields() -> None:
    params = {"symbol": "btc_usdt", "interval": "1m", "level": "5", "direction": "NEXT"}
    async with Simulator(auto=False, rate_limit_scale=100) as sim:
        await sim.advance(20)
        async with httpx.AsyncClient(base_url=sim.spot_http_url) as http:
            for route in CHECKED:
                body = (await http.get(route.path, params=params)).json()
                expected = shape(doc_example(route.venue.value, route.path))
                assert shape(body["result"]) == expected, route.path
    assert len(CHECKED) >= 30
