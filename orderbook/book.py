"""The order book: two ``SortedDict`` sides of exact levels.

Keys are prices as exact numbers (see :mod:`orderbook.prices`): floats for
every spelling of up to 15 significant digits, Decimals beyond. Values are
quantities: the exact spelling an event sent (the hot path does not convert
it), or a compact exact number where a snapshot set it (snapshots are not hot,
and most of their levels sit untouched, so they cost no more memory than a
float book). Reads turn both into exact Decimals. Quantities are absolute: a
zero quantity in any spelling (``"0"``, ``"0.000"``) deletes the level, and
deleting an absent level is normal and silent.

:meth:`OrderBook.apply` is the hot path. Per level it costs one cached dict
lookup for the price, two ``str.strip`` calls that validate the quantity and
tell zero apart, and, for a level that already exists (the common case), a
plain dict write that leaves the sorted keys alone; only inserts and deletes
touch the sorted keys.

The book itself knows nothing of sequencing; :class:`orderbook.sync.BookSync`
decides what is applied.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal, InvalidOperation
from itertools import islice

import numpy as np
from sortedcontainers import SortedDict

from .errors import InvalidLevel
from .events import RawLevel
from .prices import (
    Number,
    PriceCodec,
    exact_bound,
    parse_price,
    parse_quantity,
    price_value,
    quantity_is_zero,
    to_decimal,
)
from .views import FillEstimate, Level, Side, estimate_fill, mid_of, spread_of

_dict_setitem = dict.__setitem__
_dict_delitem = dict.__delitem__

#: A stored quantity: an exact spelling from an event, or a compact number from a snapshot.
Quantity = str | Number

#: The codec books use unless given one: price keys do not depend on the book.
DEFAULT_CODEC = PriceCodec(max_cache=1 << 20)


_DIGITS = "0123456789"

#: Plain decimal spellings up to this length are validated inline on the hot path
#: (every one lies in the quantity range); longer ones, and exponents, take the rule's
#: reference check (:func:`orderbook.prices.quantity_is_zero`).
_FAST_QTY = 30

#: What a level may be: a two-item list (as JSON gives) or tuple (as Python callers write).
_LEVEL_TYPES = (list, tuple)


def check_quantity(text: object) -> bool:
    """Validate a quantity spelling from an event; return True if it is zero (deletes its level).

    The rule is :mod:`orderbook.prices`' (the same as for snapshots): an
    ASCII decimal string, exponent allowed (``"1.25"``, ``"0"``, ``".5"``,
    ``"0E-8"``), zero or within the quantity range. Raises
    :class:`InvalidLevel` for anything else (signs, blanks, ``"."``,
    ``"5_5"``, non-strings).
    """
    if type(text) is str and len(text) <= _FAST_QTY:
        core = text.strip(_DIGITS)
        if (not core or core == ".") and text.strip("."):  # plain digits, one "." at most
            return not text.strip("0.")
    return quantity_is_zero(text)


def _snapshot_number(text: object, exact: Callable[[object], Number]) -> Number | None:
    """A snapshot's price or quantity spelling as its exact number; ``None`` for a zero.

    A plain spelling (digits, at most one ``.``) of at most 15 digits (15
    characters, or 16 with the point) lies far inside the ranges and has at most
    15 significant digits, so ``float(text)`` is its exact key at once; anything
    else goes to ``exact`` (:func:`~orderbook.prices.parse_price` or
    :func:`~orderbook.prices.parse_quantity`), which applies the whole rule and
    raises for every spelling it refuses.
    """
    if type(text) is str and (len(text) <= 15 or (len(text) == 16 and "." in text)):
        core = text.strip(_DIGITS)
        if (not core or core == ".") and text.strip("."):
            return float(text) if text.strip("0.") else None
    value = exact(text)
    return value if value else None


def _snapshot_side(levels: Iterable[RawLevel]) -> dict[Number, Number]:
    """One side of a snapshot as ``{key: quantity}``: zero levels skipped, the last of a
    price listed twice kept; every level checked (:class:`InvalidLevel`)."""
    items: dict[Number, Number] = {}
    for level in levels:
        if type(level) not in _LEVEL_TYPES or len(level) != 2:
            raise _bad_level([level], TypeError())
        key = _snapshot_number(level[0], parse_price)
        if key is None:
            parse_price(level[0])  # a zero price: raises
        qty = _snapshot_number(level[1], parse_quantity)
        if qty is None:
            items.pop(key, None)
        else:
            items[key] = qty  # type: ignore[index]
    return items


#: The snapshot side builder in use: :func:`_snapshot_side` or its compiled twin
#: (:mod:`orderbook.accel` sets it, and swaps ``OrderBook``'s hot methods).
_snapshot_side_impl: Callable[[Iterable[RawLevel]], dict[Number, Number]] = _snapshot_side


def _bad_level(levels: list[RawLevel], exc: BaseException) -> InvalidLevel:
    """The :class:`InvalidLevel` naming the first level of ``levels`` that breaks the rule."""
    for level in levels:
        if type(level) not in _LEVEL_TYPES or len(level) != 2:
            return InvalidLevel(f"a level must be a [price, quantity] list, got {level!r:.80}")
        price_value(level[0])  # raises InvalidLevel with the details
        try:
            quantity_is_zero(level[1])
        except InvalidLevel as bad:
            return bad
    return InvalidLevel(f"bad level: {exc}")


def _apply_side(
    side: SortedDict,
    levels: list[RawLevel],
    cache: dict[str, Number],
    slow_key: Callable[[str], Number],
    set_qty: Callable[[Number, str], None],
    del_qty: Callable[[Number], None],
) -> None:
    """Apply absolute ``[price, qty]`` levels to one side (the hot loop).

    ``set_qty``/``del_qty`` are ``dict.__setitem__``/``dict.__delitem__``
    bound to ``side``: they write the ``SortedDict``'s own dict without its
    Python-level overrides.

    Every level must be a two-item list (a two-character string would unpack
    too: it is refused). Prices go through the codec's cache, which holds only
    spellings that passed the rule. Quantities are stored as the exact strings
    the exchange sent. A plain spelling of up to ``_FAST_QTY`` characters is
    validated inline: stripping the digits off it leaves ``""`` or ``"."``
    (both interned: no allocation), and it is zero exactly when stripping
    ``0`` and ``.`` leaves nothing (``""`` and ``"."``, which have no digit,
    are refused on the delete branch). Anything else (exponents, long
    spellings, garbage) takes the rule's reference check,
    :func:`~orderbook.prices.quantity_is_zero`.

    Levels that already exist are updated in the dict alone, leaving the
    sorted keys untouched. Inserts and deletes must touch the sorted keys:
    while the side's ``SortedList`` is one sublist with no positional index
    (every book up to ~2,000 levels a side that nobody indexes by position),
    they go straight to that sublist with ``insort``/``del`` and the list's
    ``_maxes``/``_len`` are restored once at the end; otherwise the levels go
    through the ``SortedDict`` API (:func:`_apply_side_general`).
    """
    keys = side._list
    lists = keys._lists
    # A single sublist may hold up to 2 * load keys (SortedList splits beyond that).
    if len(lists) != 1 or keys._index or len(lists[0]) + len(levels) > keys._load << 1:
        _apply_side_general(side, levels, cache, slow_key)
        return
    sub = lists[0]
    try:
        for level in levels:
            if type(level) is not list and type(level) is not tuple:
                raise _bad_level([level], TypeError())
            price, qty = level
            try:
                key = cache[price]
            except (KeyError, TypeError):
                key = slow_key(price)
            if ((core := qty.strip(_DIGITS)) and core != ".") or len(qty) > _FAST_QTY:
                nonzero = not quantity_is_zero(qty)  # the rule's reference check; raises
            elif not (nonzero := qty.strip("0.")) and "0" not in qty:
                check_quantity(qty)  # "" or ".": no digit at all; raises
            if nonzero:
                if key not in side:
                    insort(sub, key)
                set_qty(key, qty)
            elif key in side:
                del sub[bisect_left(sub, key)]
                del_qty(key)
    except InvalidLevel:
        raise
    except (AttributeError, TypeError, ValueError) as exc:
        raise _bad_level(levels, exc) from None
    finally:
        # Restore the SortedList invariants, whatever happened in the loop.
        if sub:
            keys._maxes[0] = sub[-1]
            keys._len = len(sub)
        else:
            keys._clear()


def _apply_side_general(
    side: SortedDict,
    levels: list[RawLevel],
    cache: dict[str, Number],
    slow_key: Callable[[str], Number],
) -> None:
    """The same as :func:`_apply_side`, through the public ``SortedDict`` API."""
    for level in levels:
        if type(level) not in _LEVEL_TYPES or len(level) != 2:
            raise _bad_level([level], TypeError())
        price, qty = level
        try:
            key = cache[price]
        except (KeyError, TypeError):
            key = slow_key(price)
        if check_quantity(qty):
            side.pop(key, None)
        else:
            side[key] = qty


#: Cached exact levels per side are forgotten all at once beyond this many.
LEVEL_CACHE_MAX = 8192

_new_tuple = tuple.__new__


#: Exact Decimals of price keys already read (shared: keys do not depend on the book).
PRICE_DECIMALS: dict[Number, Decimal] = {}


#: Exact spellings of price keys already read by :meth:`OrderBook.best_quotes`.
PRICE_TEXTS: dict[Number, str] = {}


def number_text(value: Number) -> str:
    """The exact decimal spelling of a stored key or quantity (``repr`` of a float key is
    the decimal it was parsed from; a long key is its own ``str``)."""
    return repr(value) if type(value) is float else str(value)


def _price_text(key: Number) -> str:
    """:func:`number_text` of a price key, remembered in :data:`PRICE_TEXTS`."""
    if len(PRICE_TEXTS) >= LEVEL_CACHE_MAX * 8:
        PRICE_TEXTS.clear()
    text = PRICE_TEXTS[key] = number_text(key)
    return text


def _fresh_level(key: Number, qty: Quantity, cache: dict[Number, tuple[Quantity, Level]]) -> Level:
    """Build the exact :class:`Level` of ``key`` at ``qty`` and remember it in ``cache``.

    The price's Decimal comes from :data:`PRICE_DECIMALS` when it was read before
    (a level's quantity changes far more often than its price is new).
    """
    if len(cache) >= LEVEL_CACHE_MAX:
        cache.clear()
    price = PRICE_DECIMALS.get(key)
    if price is None:
        if len(PRICE_DECIMALS) >= LEVEL_CACHE_MAX * 8:
            PRICE_DECIMALS.clear()
        price = PRICE_DECIMALS[key] = to_decimal(key)
    level = _new_tuple(Level, (price, Decimal(qty) if type(qty) is str else to_decimal(qty)))
    cache[key] = (qty, level)
    return level


def _level_of(key: Number, qty: Quantity, cache: dict[Number, tuple[Quantity, Level]]) -> Level:
    """The exact level of ``key`` at ``qty``: from ``cache`` while the stored quantity is the
    very object the cached level was built from (numbers and strings are immutable, so the
    same object is the same value), else built fresh and remembered."""
    hit = cache.get(key)
    if hit is not None and hit[0] is qty:
        return hit[1]
    return _fresh_level(key, qty, cache)


def _levels_of(
    keys: Iterable[Number], side: SortedDict, cache: dict[Number, tuple[Quantity, Level]]
) -> list[Level]:
    """Exact levels of ``keys`` on ``side``, through the read cache (see :func:`_level_of`)."""
    out = []
    append, get = out.append, cache.get
    for key in keys:
        qty = side[key]
        hit = get(key)
        if hit is not None and hit[0] is qty:
            append(hit[1])
        else:
            append(_fresh_level(key, qty, cache))
    return out


class OrderBook:
    """Two sorted sides of exact price levels for one symbol.

    ``bids`` and ``asks`` are ``SortedDict`` objects mapping price to
    quantity (see the module docstring), ascending: the
    best bid is the last bid key, the best ask the first ask key. Reads return
    exact :class:`~decimal.Decimal` levels (``depth``, ``best_bid``...) or
    ``float64`` arrays (``arrays``).

    A book must be read only by its owner while it is being updated: take a
    :class:`~orderbook.views.BookView` (``BookSync.view``) to hand a
    consistent copy to other threads.
    """

    __slots__ = (
        "_accel",
        "_ask_del",
        "_ask_levels",
        "_ask_lists",
        "_ask_set",
        "_bid_del",
        "_bid_levels",
        "_bid_lists",
        "_bid_set",
        "asks",
        "bids",
        "codec",
    )

    def __init__(self, codec: PriceCodec | None = None) -> None:
        self.codec = codec if codec is not None else DEFAULT_CODEC
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        bids, asks = self.bids, self.asks
        self._bid_set = _dict_setitem.__get__(bids)
        self._bid_del = _dict_delitem.__get__(bids)
        self._ask_set = _dict_setitem.__get__(asks)
        self._ask_del = _dict_delitem.__get__(asks)
        # The sublists of each SortedList: [0][0] is the smallest key, [-1][-1] the largest.
        # SortedList never replaces this list object, so the reference stays valid.
        self._bid_lists = bids._list._lists
        self._ask_lists = asks._list._lists
        self._accel: object = None  # the compiled path's per-book state (orderbook.accel)
        # Exact levels already built for reads: key -> (stored quantity, Level).
        self._bid_levels: dict[Number, tuple[Quantity, Level]] = {}
        self._ask_levels: dict[Number, tuple[Quantity, Level]] = {}

    @classmethod
    def from_levels(
        cls, bids: Iterable[RawLevel], asks: Iterable[RawLevel], codec: PriceCodec | None = None
    ) -> OrderBook:
        """Build a book from snapshot levels, validating every price and quantity.

        Zero-quantity levels are skipped; a price listed twice keeps its last
        quantity. Snapshot prices are converted without filling the codec's
        cache (most are never seen again), so a book costs no more memory than
        its levels.
        """
        book = cls(codec)
        side_items = _snapshot_side_impl
        book.bids.update(side_items(bids))
        book.asks.update(side_items(asks))
        return book

    # -- writes ------------------------------------------------------------

    def apply(self, bids: list[RawLevel], asks: list[RawLevel]) -> None:
        """Apply one event's absolute levels to both sides.

        Raises :class:`InvalidLevel`, ``ValueError`` or ``TypeError`` on bad
        input; the levels before the bad one have then been applied, so the
        caller must treat the book as broken (``BookSync`` resyncs).
        """
        codec = self.codec
        cache, slow_key = codec.cache, codec.slow_key
        _apply_side(self.bids, bids, cache, slow_key, self._bid_set, self._bid_del)
        _apply_side(self.asks, asks, cache, slow_key, self._ask_set, self._ask_del)

    # -- cheap reads -------------------------------------------------------

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)

    def __repr__(self) -> str:
        return (
            f"OrderBook(bids={len(self.bids)}, asks={len(self.asks)}, "
            f"best_bid={self.best_bid()}, best_ask={self.best_ask()})"
        )

    def is_crossed(self) -> bool:
        """True if the best bid is at or above the best ask."""
        bl, al = self._bid_lists, self._ask_lists
        return bool(bl and al and bl[-1][-1] >= al[0][0])

    def best_prices(self) -> tuple[float, float] | None:
        """``(best_bid, best_ask)`` as floats, or ``None`` if a side is empty (cheapest read)."""
        bl, al = self._bid_lists, self._ask_lists
        if not bl or not al:
            return None
        return float(bl[-1][-1]), float(al[0][0])

    def best_bid(self) -> Level | None:
        """Highest bid as an exact :class:`Level`, or ``None``."""
        lists = self._bid_lists
        if not lists:
            return None
        key = lists[-1][-1]
        qty = self.bids[key]
        hit = self._bid_levels.get(key)
        if hit is not None and hit[0] is qty:
            return hit[1]
        return _fresh_level(key, qty, self._bid_levels)

    def best_ask(self) -> Level | None:
        """Lowest ask as an exact :class:`Level`, or ``None``."""
        lists = self._ask_lists
        if not lists:
            return None
        key = lists[0][0]
        qty = self.asks[key]
        hit = self._ask_levels.get(key)
        if hit is not None and hit[0] is qty:
            return hit[1]
        return _fresh_level(key, qty, self._ask_levels)

    def best_quotes(self) -> tuple[str, str, str, str] | None:
        """``(bid_price, bid_qty, ask_price, ask_qty)`` as exact decimal strings, or ``None``.

        The cheapest exact read of the top of the book: no ``Decimal`` is built.
        Each string is the exact value (``Decimal(s)`` gives the level's price
        or quantity); a quantity is the very spelling the exchange sent when an
        event set it. ``None`` if a side is empty.
        """
        bl, al = self._bid_lists, self._ask_lists
        if not bl or not al:
            return None
        bid, ask = bl[-1][-1], al[0][0]
        bq, aq = self.bids[bid], self.asks[ask]
        texts = PRICE_TEXTS
        bp = texts.get(bid)
        if bp is None:
            bp = _price_text(bid)
        ap = texts.get(ask)
        if ap is None:
            ap = _price_text(ask)
        return (
            bp,
            bq if type(bq) is str else number_text(bq),
            ap,
            aq if type(aq) is str else number_text(aq),
        )

    def spread(self) -> Decimal | None:
        """Best ask minus best bid, exact."""
        return spread_of(self.best_bid(), self.best_ask())

    def mid(self) -> Decimal | None:
        """Midpoint of best bid and ask, exact."""
        return mid_of(self.best_bid(), self.best_ask())

    # -- level walks ---------------------------------------------------------

    def iter_bids(self) -> Iterator[Level]:
        """Bids best (highest) first, as exact levels."""
        bids, cache = self.bids, self._bid_levels
        for key in reversed(bids):
            yield _level_of(key, bids[key], cache)

    def iter_asks(self) -> Iterator[Level]:
        """Asks best (lowest) first, as exact levels."""
        asks, cache = self.asks, self._ask_levels
        for key in asks:
            yield _level_of(key, asks[key], cache)

    def top_bids(self, n: int | None = None) -> list[Level]:
        """The top ``n`` bids (all if ``None``) as a list of exact levels, best first."""
        if n is not None and n < 0:
            raise ValueError(f"n must be None or >= 0, got {n}")
        lists = self._bid_lists
        if len(lists) == 1:
            keys: Iterable[Number] = lists[0][: -n - 1 if n else None : -1] if n != 0 else ()
        else:
            keys = islice(reversed(self.bids), n)
        return _levels_of(keys, self.bids, self._bid_levels)

    def top_asks(self, n: int | None = None) -> list[Level]:
        """The top ``n`` asks (all if ``None``) as a list of exact levels, best first."""
        if n is not None and n < 0:
            raise ValueError(f"n must be None or >= 0, got {n}")
        lists = self._ask_lists
        keys: Iterable[Number] = lists[0][:n] if len(lists) == 1 else islice(self.asks, n)
        return _levels_of(keys, self.asks, self._ask_levels)

    def depth(self, n: int | None = None) -> tuple[list[Level], list[Level]]:
        """Top ``n`` levels per side (all if ``None``) as lists ``(bids, asks)``, best first."""
        return self.top_bids(n), self.top_asks(n)

    def copy_levels(self, n: int | None = None) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """Top ``n`` levels per side as tuples, for building an immutable view."""
        return tuple(self.top_bids(n)), tuple(self.top_asks(n))

    def arrays(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` levels per side as ``(n, 2)`` float64 arrays of (price, qty), best first."""
        out = []
        for keys, side in ((reversed(self.bids), self.bids), (iter(self.asks), self.asks)):
            flat: list[float] = []
            for key in islice(keys, n):
                flat.append(float(key))
                flat.append(float(side[key]))
            out.append(np.array(flat, dtype=np.float64).reshape(-1, 2))
        return out[0], out[1]

    def fill(self, side: Side | str, qty: Decimal | str | int) -> FillEstimate:
        """Average and worst price to fill ``qty`` as a taker.

        ``"buy"`` walks the asks, ``"sell"`` walks the bids.
        """
        side = Side(side)
        return estimate_fill(side, self.iter_asks() if side is Side.BUY else self.iter_bids(), qty)

    def quantity_between(
        self, book_side: str, low: Decimal | str | int, high: Decimal | str | int
    ) -> Decimal:
        """Total quantity on ``book_side`` (``"bids"``/``"asks"``) priced within ``[low, high]``."""
        if book_side in ("bids", "bid"):
            side = self.bids
        elif book_side in ("asks", "ask"):
            side = self.asks
        else:
            raise ValueError(f"book side must be 'bids' or 'asks', got {book_side!r}")
        try:
            lo_d, hi_d = Decimal(low), Decimal(high)
        except (InvalidOperation, ValueError, TypeError):
            raise ValueError(f"band bounds must be decimal numbers: {low!r}, {high!r}") from None
        if not (lo_d.is_finite() and hi_d.is_finite()):
            raise ValueError(f"band bounds must be finite: {low!r}, {high!r}")
        total = Decimal(0)
        # Exact bounds: they compare with float keys as the decimals those keys stand for.
        for key in side.irange(exact_bound(lo_d), exact_bound(hi_d)):
            total += to_decimal(side[key])
        return total
