"""Generate the REST operation table from the API document and the method reference.

Reads ``../shared/docs/wex-api.txt`` (the English sections) and
``../shared/reference/rest-methods.md`` (the HTTP method XT.com's public clients
use for each path) and writes:

- ``feeds/rest/table.py``: one ``op(...)`` row per operation (124), with its
  parameters, documented rate limit, documented error codes, the document line
  it comes from and where its HTTP method was established;
- ``feeds/rest/error_table.py``: the message the document gives for each error code
  (spot ``mc`` table, futures error tables), read by :mod:`feeds.rest.errors` (a module
  of its own, importing nothing: the errors sit below the operation table);
- ``feeds/sim/doc_examples.json``: the document's example ``result`` of each
  operation (``//`` comments removed), which the simulator answers for
  operations it does not model and the tests compare shapes with;
- ``docs/rest-operations.md``: the same rows as a readable list.

Usage: ``python tools/extract_endpoints.py [--check]`` (``--check`` exits 1 when
the committed files differ from what the document gives).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DOC = SHARED / "docs" / "wex-api.txt"
METHODS = SHARED / "reference" / "rest-methods.md"
TABLE_OUT = ROOT / "feeds" / "rest" / "table.py"
ERRORS_OUT = ROOT / "feeds" / "rest" / "error_table.py"
EXAMPLES_OUT = ROOT / "feeds" / "sim" / "doc_examples.json"
DOCS_OUT = ROOT / "docs" / "rest-operations.md"
SPOT_END, FUTURES_START, FUTURES_END = 2199, 4392, 8700

#: Operation names, by the reference table's row number (row 125 repeats row 91).
NAMES = {
    1: "get_server_time",
    2: "get_client_ip",
    3: "get_symbols",
    4: "get_depth",
    5: "get_kline",
    6: "get_recent_trades",
    7: "get_trade_history",
    8: "get_ticker",
    9: "get_ticker_price",
    10: "get_ticker_book",
    11: "get_ticker_24h",
    12: "get_order",
    13: "query_order",
    14: "submit_order",
    15: "cancel_order",
    16: "get_batch_orders",
    17: "submit_batch_order",
    18: "cancel_batch_order",
    19: "get_open_orders",
    20: "cancel_open_orders",
    21: "get_history_orders",
    22: "update_order",
    23: "get_trades",
    24: "get_currencies",
    25: "get_balance",
    26: "get_balances",
    27: "get_wallet_currencies",
    28: "get_deposit_address",
    29: "get_deposit_history",
    30: "withdraw",
    31: "get_withdraw_history",
    32: "transfer",
    33: "account_transfer",
    34: "get_ws_token",
    35: "get_client_ip",
    36: "get_symbol_coins",
    37: "get_symbol_detail",
    38: "get_symbols",
    39: "get_leverage_bracket",
    40: "get_ticker",
    41: "get_tickers",
    42: "get_deals",
    43: "get_depth",
    44: "get_index_price",
    45: "get_index_prices",
    46: "get_mark_price",
    47: "get_mark_prices",
    48: "get_kline",
    49: "get_agg_ticker",
    50: "get_agg_tickers",
    51: "get_funding_rate",
    52: "get_funding_rate_record",
    53: "get_ticker_book",
    54: "get_ticker_books",
    55: "get_risk_balance",
    56: "get_open_interest",
    57: "create_order",
    58: "update_order",
    59: "create_batch_orders",
    60: "atomic_create_batch_orders",
    61: "get_order",
    62: "get_orders",
    63: "cancel_order",
    64: "cancel_batch_orders",
    65: "cancel_all_orders",
    66: "get_open_orders",
    67: "get_order_history",
    68: "get_order_trades",
    69: "get_partial_canceled_orders",
    70: "get_order_list",
    71: "get_quant_order_history",
    72: "get_quant_trades",
    73: "create_plan",
    74: "cancel_plan",
    75: "cancel_all_plans",
    76: "get_plans",
    77: "get_plan",
    78: "get_plan_history",
    79: "create_profit",
    80: "cancel_profit",
    81: "cancel_all_profits",
    82: "get_profits",
    83: "get_profit",
    84: "update_profit",
    85: "create_track",
    86: "cancel_track",
    87: "get_track",
    88: "get_tracks",
    89: "cancel_all_tracks",
    90: "get_track_history",
    91: "get_profit_history",
    92: "get_reverse_plans",
    93: "get_reverse_plan_history",
    94: "get_filled_order_history",
    95: "get_all_trades",
    96: "get_all_orders",
    97: "get_active_positions",
    98: "get_leverage_info",
    99: "get_position_history",
    100: "get_cross_margin",
    101: "get_account_info",
    102: "get_compat_balances",
    103: "get_listen_key",
    104: "open_account",
    105: "get_balance",
    106: "get_balances",
    107: "get_balance_bills",
    108: "get_funding_fees",
    109: "get_active_position",
    110: "get_positions",
    111: "get_step_rate",
    112: "adjust_leverage",
    113: "adjust_margin",
    114: "set_auto_margin",
    115: "close_all_positions",
    116: "get_adl_info",
    117: "add_collection",
    118: "cancel_collection",
    119: "get_collections",
    120: "change_position_type",
    121: "get_break_list",
    122: "get_auto_deleverage_history",
    123: "get_compat_balance",
    124: "get_taker_over_list",
}
#: Spot DELETEs whose parameters go in a JSON body (the document says so; ccxt and pyxt agree).
SPOT_DELETE_WITH_BODY = {"/v4/batch-order", "/v4/open-order"}
#: The one disputed method (XT's own pages disagree): a read, so GET.
DISPUTED = {66: "GET"}
#: A description saying the parameter may be left out ("queries all if not passed"): it is
#: optional, whatever the "mandatory" column says (the document's column and description
#: disagree on six futures rows, e.g. ``GET /future/user/v1/balance/bills``'s ``symbol``).
OPTIONAL_BY_DESCRIPTION = re.compile(r"\bif not (passed|provided|filled)\b", re.IGNORECASE)
TYPES = {
    "string": "str",
    "enum": "str",
    "integer": "int",
    "int": "int",
    "long": "int",
    "number": "decimal",
    "bigdecimal": "decimal",
    "array": "list",
    "list": "list",
    "boolean": "bool",
    "bool": "bool",
}


def reference_rows() -> dict[int, dict[str, object]]:
    """Rows of the method reference, keyed by the document line of the path."""
    rows: dict[int, dict[str, object]] = {}
    for line in METHODS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 11 or not cells[0].isdigit():
            continue
        number, doc_line = int(cells[0]), int(cells[1])
        path = cells[2].strip("`")
        sources = {"ccxt": cells[4], "pyxt": cells[5], "xt-doc": cells[6]}
        agreed = sorted({v.rstrip("²³⁺").upper() for v in sources.values() if v != "—"})
        method = DISPUTED.get(number) or cells[9].replace("*", "").split()[0]
        basis = [name for name, v in sources.items() if v.rstrip("²³⁺").upper() == method]
        if cells[7] != "—":
            basis.append("document hint")
        inferred = number in DISPUTED or len(agreed) != 1 or basis == ["xt-doc"] or not basis
        if number in DISPUTED:
            basis = ["inferred: XT doc versions disagree (GET/POST); a read, so GET"]
        elif not basis or basis == ["document hint"]:
            basis = [f"inferred from {cells[7]}"]
        rows[doc_line] = {
            "number": number,
            "path": path,
            "method": method,
            "method_source": ", ".join(basis),
            "inferred": inferred,
        }
    return rows


def parse_param(row: str) -> dict[str, object] | None:
    parts = row.split()
    if parts[:3] == ["(JSON", "Array", "Body)"]:  # the body is the array itself
        parts = ["orders", *parts[3:]]
    if len(parts) < 3 or parts[2].lower() not in ("true", "false"):
        return None
    name, kind, required = parts[0], parts[1].lower(), parts[2].lower() == "true"
    tail = parts[3:]
    param: dict[str, object] = {"name": name, "type": TYPES.get(kind, "str"), "required": required}
    if tail and len(tail) > 1 and re.fullmatch(r"[A-Z][A-Z_]+|\d+|true|false", tail[0]):
        param["default"] = tail[0]
    text = " ".join(tail)
    if pattern := re.search(r"Pattern: (\^\S+\$)", text):
        param["pattern"] = pattern.group(1)
    last = tail[-1].strip("[]") if tail else ""
    if re.fullmatch(r"[A-Za-z0-9_]+(;[A-Za-z0-9_]+)+", last):
        param["enum"] = last.split(";")
    elif match := re.search(r"(?:^|[\s:])([A-Z][A-Z_]+(?:,\s*[A-Z][A-Z_]+)+)$", text):
        param["enum"] = [v.strip() for v in match.group(1).split(",")]
    if match := re.search(r"(\d+)~(\d+)$", text) or re.search(r"(\d+)<=\w+<=(\d+)$", text):
        param["min"], param["max"] = int(match.group(1)), int(match.group(2))
    description = text[len(str(param.get("default", ""))) :].strip()
    param["doc"] = description
    if required and OPTIONAL_BY_DESCRIPTION.search(description):
        param["required"] = False
        param["overruled"] = True  # listed in docs/rest-operations.md
    return param


def json_example(lines: list[str], start: int) -> object:
    """The first JSON value at or after ``start`` (0-based), comments removed."""
    j = start
    while j < len(lines) and not lines[j].startswith(("{", "[")):
        j += 1
    depth, buf = 0, []
    for k in range(j, min(j + 600, len(lines))):
        text = re.sub(r"\s//.*$|^//.*$", "", lines[k])
        buf.append(text)
        depth += text.count("{") + text.count("[") - text.count("}") - text.count("]")
        if depth == 0:
            break
    raw = re.sub(r",\s*([}\]])", r"\1", "\n".join(buf))
    for text in (raw, re.sub(r'("|\d|true|false|null|[}\]])\s*\n(\s*["{])', r"\1,\n\2", raw)):
        try:
            return json.loads(text)  # the second try restores commas some examples miss
        except json.JSONDecodeError as exc:
            error = exc
    print(f"line {start + 1}: example is not JSON ({error}); recorded as null", file=sys.stderr)
    return None


def sections(lines: list[str], refs: dict[int, dict[str, object]]) -> list[dict[str, object]]:
    ops = []
    for doc_line, ref in sorted(refs.items()):
        i = doc_line - 1  # 0-based index of the path line
        if lines[i].strip() != ref["path"]:
            raise SystemExit(f"line {doc_line}: expected {ref['path']}, found {lines[i]!r}")
        if ref["number"] == 125:
            continue  # the document lists profit-list-history twice
        title = lines[i - 2].removesuffix(" Edit").strip()
        end = next((k for k in range(i + 1, len(lines)) if lines[k].endswith(" Edit")), len(lines))
        body = lines[i + 1 : end]
        params, limits, errors = [], [], []
        k = 0
        while k < len(body):
            line = body[k].strip()
            if line.startswith("Parameter Type mandatory"):
                k += 1
                while k < len(body) and body[k].strip() and not body[k].startswith(("{", "[")):
                    if param := parse_param(body[k]):
                        params.append(param)
                    k += 1
                continue
            if line in ("Limit Flow Rules", "Rate Limit"):
                k += 1
                while k < len(body) and not body[k].strip():
                    k += 1
                while k < len(body) and re.search(r"\d+\s*(/s/|requests/second)|N/A", body[k]):
                    limits.append(body[k].strip())
                    k += 1
                continue
            if line == "Error Code Description":
                k += 1
                while k < len(body) and body[k].strip() and not body[k].startswith("{"):
                    code, _, message = body[k].strip().partition(" ")
                    errors.append((code, message))
                    k += 1
                continue
            k += 1
        venue = "spot" if doc_line < SPOT_END else "futures"
        path, method = str(ref["path"]), str(ref["method"])
        path_params = re.findall(r"{(\w+)}", path)
        if not params and path_params:
            params = [
                {"name": n, "type": "str", "required": True, "doc": "path parameter"}
                for n in path_params
            ]
        for p in params:
            p["location"] = _location(venue, method, path, str(p["name"]), path_params)
        example_at = i + 1
        ops.append(
            {
                "venue": venue,
                "name": NAMES[int(ref["number"])],
                "title": title,
                "method": method,
                "path": path,
                "signed": "/public/" not in path,
                "params": params,
                "limits": limits,
                "errors": errors,
                "line": doc_line,
                "method_source": ref["method_source"],
                "inferred": ref["inferred"],
                "example": _result(json_example(lines, example_at)),
            }
        )
    return ops


def _result(example: object) -> object:
    if isinstance(example, dict) and ("result" in example or "rc" in example):
        return example.get("result")
    return example  # some futures examples print the result alone


def _location(venue: str, method: str, path: str, name: str, path_params: list[str]) -> str:
    if name in path_params:
        return "path"
    if name == "orders" and method == "POST" and "atomic" in path:
        return "array"
    if method == "GET" or (method == "DELETE" and path not in SPOT_DELETE_WITH_BODY):
        return "query"
    return "json"


def spot_error_messages(lines: list[str]) -> dict[str, str]:
    start = lines.index("mc Message")
    codes = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        code, _, message = line.partition(" ")
        codes.setdefault(code, message)
    return codes


def render_errors(ops: list[dict[str, object]], spot_codes: dict[str, str]) -> str:
    """``feeds/rest/error_table.py``: the documented message of every error code."""
    futures_codes: dict[str, str] = {}
    for op in ops:
        if op["venue"] == "futures":
            for code, message in op["errors"]:  # type: ignore[attr-defined]
                futures_codes.setdefault(code, message)
    out = [
        '"""The message the API document gives for each error code, generated by',
        "``tools/extract_endpoints.py`` (with :mod:`feeds.rest.table`) from the document.",
        "",
        "Spot: the ``mc`` code table; futures: the error codes listed under each operation.",
        "Read by :func:`feeds.rest.errors.documented_message`. Do not edit by hand: change the",
        "generator and run it again.",
        '"""',
        "",
        "# ruff: noqa: E501, RUF001  (the document's texts, quoted whole)",
        "",
        "from __future__ import annotations",
        "",
        f"SPOT_ERROR_MESSAGES: dict[str, str] = {spot_codes!r}",
        "",
        f"FUTURES_ERROR_MESSAGES: dict[str, str] = {futures_codes!r}",
        "",
    ]
    return "\n".join(out)


def render(ops: list[dict[str, object]]) -> str:
    """``feeds/rest/table.py``: one ``op(...)`` row per operation."""
    out = [
        '"""Every documented REST operation of both venues, generated by',
        "``tools/extract_endpoints.py`` from the API document and the method reference.",
        "",
        "Do not edit by hand: change the generator and run it again. Each row says where its",
        "HTTP method comes from (``method_source``) and whether it had to be inferred.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from .spec import Operation, op, p",
        "",
        "OPERATIONS: tuple[Operation, ...] = (",
    ]
    for o in ops:
        params = []
        for prm in o["params"]:  # type: ignore[attr-defined]
            extra = "".join(
                f", {key}={prm[key]!r}"
                for key in ("default", "enum", "pattern", "min", "max")
                if key in prm
            )
            params.append(
                f"p({prm['name']!r}, {prm['type']!r}, {prm['required']!r}, "
                f"{prm['location']!r}{extra}, doc={prm['doc']!r})"
            )
        errors = tuple(code for code, _ in o["errors"])  # type: ignore[attr-defined]
        out.append(
            f"    op({o['venue']!r}, {o['name']!r}, {o['method']!r}, {o['path']!r}, "
            f"signed={o['signed']!r}, title={o['title']!r}, line={o['line']!r}, "
            f"limits={tuple(o['limits'])!r}, errors={errors!r}, "  # type: ignore[arg-type]
            f"method_source={o['method_source']!r}, inferred={o['inferred']!r}, "
            f"params=({''.join(x + ', ' for x in params)})),"
        )
    out += [")", ""]
    return "\n".join(out)


def render_docs(ops: list[dict[str, object]]) -> str:
    """A markdown list of every operation, from the same rows as the table."""
    out = [
        "# REST operations",
        "",
        "Generated by `tools/extract_endpoints.py` from the API document; do not edit.",
        "Call them as `client.<namespace>.<name>(...)` on `feeds.rest.client.WexClient`",
        "(`spot`, `futures`, `coin_futures`) or its async twin. *Method from*: where the HTTP",
        "method was established (ccxt's and pyxt's `xt` modules, XT's documentation pages, the",
        "document's own hints); **inferred** marks the ones with a single source or sources",
        "that disagree.",
        "",
        "| namespace | name | method | path | signed | rate limit | doc line | method from |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for o in ops:
        source = str(o["method_source"]) + (" (**inferred**)" if o["inferred"] else "")
        limits = "; ".join(o["limits"]) or "-"  # type: ignore[arg-type]
        out.append(
            f"| {o['venue']} | `{o['name']}` | {o['method']} | `{o['path']}` | "
            f"{'yes' if o['signed'] else 'no'} | {limits} | {o['line']} | {source} |"
        )
    out += [
        "",
        "## Optional although the mandatory column says true",
        "",
        'The document\'s "mandatory" column marks these parameters `true` while their own',
        'description says the call works without them ("queries all if not passed"): the',
        "table follows the description and makes them optional.",
        "",
        "| namespace | name | parameter | doc line | description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for o in ops:
        for prm in o["params"]:  # type: ignore[attr-defined]
            if prm.get("overruled"):
                out.append(
                    f"| {o['venue']} | `{o['name']}` | `{prm['name']}` | {o['line']} | "
                    f"{prm['doc']} |"
                )
    return "\n".join(out) + "\n"


def formatted(source: str, path: Path) -> str:
    """``source`` as ``ruff format`` writes ``path``."""
    # The ruff of this interpreter's environment, found whether or not it is on PATH
    # (a venv's python run directly, as IDEs do, has no bin/ on PATH).
    return subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(path), "-"],
        input=source,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    lines = DOC.read_text().splitlines()
    ops = sections(lines, reference_rows())
    table = formatted(render(ops), TABLE_OUT)
    errors = formatted(render_errors(ops, spot_error_messages(lines)), ERRORS_OUT)
    examples = json.dumps({f"{o['venue']}.{o['name']}": o["example"] for o in ops}, indent=1)
    outputs = {
        TABLE_OUT: table,
        ERRORS_OUT: errors,
        EXAMPLES_OUT: examples + "\n",
        DOCS_OUT: render_docs(ops),
    }
    if args.check:
        stale = [str(f) for f, text in outputs.items() if not f.exists() or f.read_text() != text]
        for name in stale:
            print(f"{name} is not what the document gives; run tools/extract_endpoints.py")
        return 1 if stale else 0
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    written = ", ".join(str(f.relative_to(ROOT)) for f in outputs)
    print(f"{len(ops)} operations -> {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
