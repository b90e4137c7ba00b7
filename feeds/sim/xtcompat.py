"""XT compatibility: what real XT.com clients rely on that the WEX document does not specify.

Off by default (the simulator serves the document). ``Simulator(xt_compat=True)`` or
``wexbook sim --xt-compat`` switches it on, so that clients written for XT.com run
unchanged against the simulator. It serves exactly these, each for a named client:

==============================================  ===========================================
XT behaviour                                    who needs it
==============================================  ===========================================
``xt-validate-*`` signature headers accepted    every XT client (ccxt, pyxt); also alone
as well as the document's ``validate-*``        with ``xt_headers=True`` / ``--xt-headers``
``GET /future/market/v1/public/symbol/list``    ccxt ``load_markets`` (the document has
(the v3 list, under its v1 path)                only ``/v3/``; pyxt uses v3)
``GET /future/market/v1/public/leverage/        ccxt ``fetch_leverage_tiers``, pyxt
bracket/list`` (every symbol's brackets)        ``get_leverage_bracket_list`` (not in the
                                                document, which has ``bracket/detail``)
``/v4/public/currencies`` answers               ccxt ``fetch_currencies`` (called by
``{"time", "version", "currencies": [...]}``    ``load_markets``); the document's example
                                                is the bare list
futures ``create-batch`` accepts a bare JSON    pyxt ``send_batch_order`` (the document's
array body as its ``list``                      parameter is ``list``, a JSON text)
futures ``cancel-batch`` accepts ``orderIds``   pyxt ``cancel_batch_order`` sends
as a Python list's text (``"['1', '2']"``)      ``str(list)``; the document says
                                                comma-separated
==============================================  ===========================================

What the switch does not change, because the document is clear and the clients are
wrong (written down here and in the README):

- ccxt signs ``media=CCXT`` into a spot ``GET /v4/order`` query it does not send
  (a ccxt bug; the document signs what is sent): such calls fail with ``AUTH_103``.
  ccxt's ``fetch_order`` uses ``GET /v4/order/{orderId}``, which is unaffected.
- ccxt's futures signature percent-encodes the query (the document: raw ``key=value``);
  it matters only for values with reserved characters, which ccxt's calls here lack.
- ccxt takes swap ``create_order`` amounts in contracts, as the document counts them,
  but reports swap orders and trades in base currency (contracts x ``contractSize``):
  its unified convention, not the wire's; the simulator sends contracts throughout.
- pyxt's spot client signs timestamps 30 s in the past with a 60 s window, inside the
  document's rules; the simulator accepts them.
"""

from __future__ import annotations

import re
from typing import Any

from orderbook import Venue

from ..rest.spec import Operation
from .context import Handler, SimContext

FUTURES_SYMBOL_LIST_V1 = "/future/market/v1/public/symbol/list"
LEVERAGE_BRACKET_LIST = "/future/market/v1/public/leverage/bracket/list"


def currencies_result(sim: SimContext, currencies: list[dict[str, Any]]) -> Any:
    """``/v4/public/currencies``: the bare list (document), or XT's wrapped object."""
    if not sim.xt_compat:
        return currencies
    return {"time": sim.clock_ms(), "version": "sim", "currencies": currencies}


def signed_arguments(op: Operation, body: Any, args: dict[str, Any]) -> bool:
    """Fold an XT-client body into ``args``; ``True`` when it was one (bare batch array)."""
    if op.key == "futures.create_batch_orders" and isinstance(body, list):
        args["list"] = body
        return True
    return False


_PY_LIST = re.compile(r"^\[(.*)\]$", re.S)


def fix_arguments(op: Operation, args: dict[str, Any]) -> None:
    """Rewrite XT-client spellings of documented parameters in place."""
    if op.key == "futures.cancel_batch_orders":
        ids = args.get("orderIds")
        match = _PY_LIST.match(ids.strip()) if isinstance(ids, str) else None
        if match:  # "['1', '2']" or "[1, 2]" -> "1,2"
            args["orderIds"] = ",".join(
                part.strip().strip("'\"") for part in match.group(1).split(",") if part.strip()
            )
        elif isinstance(ids, list):
            args["orderIds"] = ",".join(str(i) for i in ids)


def compat_routes(
    fut_symbol_list: Handler, fut_leverage_bracket: Handler
) -> list[tuple[Venue, str, Handler]]:
    """The public paths served only with the switch on: ``(venue, path, handler)``, made from
    the HTTP side's documented futures symbol list and leverage bracket handlers."""

    def bracket_list(sim: SimContext, q: dict[str, str]) -> Any:
        return [
            fut_leverage_bracket(sim, {"symbol": symbol})
            for (venue, symbol) in sim.markets
            if venue is Venue.FUTURES
        ]

    return [
        (Venue.FUTURES, FUTURES_SYMBOL_LIST_V1, fut_symbol_list),
        (Venue.FUTURES, LEVERAGE_BRACKET_LIST, bracket_list),
    ]
