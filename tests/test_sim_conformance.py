"""Every simulator HTTP response has the fields of the API document's own example.

The examples are read from ``../shared/docs/wex-api.txt`` (the English part): the first
JSON object after the endpoint's path line, with ``//`` comments removed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from feeds.sim import Simulator
from feeds.sim.httpside import ROUTES

DOC = Path(__file__).resolve().parents[2] / "shared" / "docs" / "wex-api.txt"
ENGLISH_LINES = 8700  # the Chinese translation starts after this line

#: Paths whose document example cannot be checked, and why.
UNCHECKABLE = {
    "/v4/public/wallet/support/currency": "the example is not valid JSON (a missing comma)",
    "/future/market/v1/public/symbol/coins": "the example result is an empty list",
    "/future/market/v1/public/depth": "named in Orderbook Management only, no example",
}


def doc_example(lines: list[str], path: str) -> object:
    for i, line in enumerate(lines[:ENGLISH_LINES]):
        if line.strip() != path:
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("{"):
            j += 1
        depth, buf = 0, []
        for k in range(j, min(j + 400, len(lines))):
            text = re.sub(r"//.*$", "", lines[k])
            buf.append(text)
            depth += text.count("{") + text.count("[") - text.count("}") - text.count("]")
            if depth == 0:
                break
        return json.loads(re.sub(r",\s*([}\]])", r"\1", "\n".join(buf)))
    raise LookupError(path)


def shape(result: object) -> object:
    if isinstance(result, list):
        result = result[0] if result else {}
    if isinstance(result, dict):
        return set(result)
    return type(result).__name__


CHECKED = [r for r in ROUTES if r.path not in UNCHECKABLE]


@pytest.mark.skipif(not DOC.exists(), reason="the API document is not beside the project")
async def test_responses_have_the_documented_fields() -> None:
    lines = DOC.read_text().splitlines()
    params = {"symbol": "btc_usdt", "interval": "1m", "level": "5", "direction": "NEXT"}
    async with Simulator(auto=False, rate_limit_scale=100) as sim:
        await sim.advance(20)
        async with httpx.AsyncClient(base_url=sim.spot_http_url) as http:
            for route in CHECKED:
                body = (await http.get(route.path, params=params)).json()
                expected = shape(doc_example(lines, route.path).get("result"))  # type: ignore[union-attr]
                assert shape(body["result"]) == expected, route.path
    assert len(CHECKED) >= 30
