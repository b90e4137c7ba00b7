"""Exact price keys and quantities: one rule for every spelling, and exact keys.

**The spelling rule** (the same for prices and quantities, in snapshots and
in events; :func:`parse_decimal` is its reference implementation): a price
or quantity is a JSON *string* of at most :data:`MAX_SPELLING` characters
that spells a non-negative decimal in ASCII:

    digits [ "." [digits] ] [ exponent ]   or   "." digits [ exponent ]
    exponent = ("e" | "E") [ "+" | "-" ] 1 to 4 digits

So ``"30000.01"``, ``"0.10"``, ``".5"``, ``"5."``, ``"1e-8"`` and ``"0E-8"``
(a zero as Java's ``BigDecimal.toString()`` writes it) are accepted, and
nothing else: no sign, no blank, no ``"5_5"``, no non-ASCII digit, no
``"inf"``/``"nan"``, no number or bool. A price must also lie in
``[PRICE_MIN, PRICE_MAX)`` (``1e-18`` to ``1e18``: far beyond any listed
market, and every such price with up to 15 significant digits is exactly a
double); a quantity is zero (deletes its level) or lies in
``[QTY_MIN, QTY_MAX)`` (``1e-30`` to ``1e30``). Everything else raises
:class:`~orderbook.errors.InvalidLevel`, never ``decimal.Overflow`` or a
float infinity.

**Keys.** A double holds every decimal number with up to 15 significant
digits exactly, in this sense: distinct such decimals convert to distinct
doubles, and ``repr`` of the double gives the same decimal back. WEX prices
are far shorter than that, so a book keys levels by ``float``: as fast to
compare and as small as the naive float book, yet exact. ``"0.1"`` and
``"0.10"`` are one key; ``1e9`` and ``1e-10`` keep their identity.

A price with more than 15 significant digits is not rounded: it becomes an
:class:`ExactDecimal`, a ``Decimal`` that compares with a float key as the
decimal that float stands for (``repr``), not as its binary value. So
``"0.1"`` (the float ``0.1000000000000000055...``) sorts *below*
``"0.1000000000000000000001"``, as it should, and a cross between them is
seen. The order over all keys of a book is exact.

Price conversions are cached per spelling in a :class:`PriceCodec`, so the
hot path costs one dict lookup per price; only strings that passed the rule
ever enter the cache, so an ``int`` or ``bool`` can never hit it.
"""

from __future__ import annotations

import re
from decimal import Decimal

from .errors import InvalidLevel

#: Significant digits a double always represents exactly (C's ``DBL_DIG``).
FLOAT_DIGITS = 15

#: The longest accepted spelling (bounds the work any one value can cost).
MAX_SPELLING = 40

#: Accepted prices: ``PRICE_MIN <= price < PRICE_MAX``.
PRICE_MIN = Decimal("1e-18")
PRICE_MAX = Decimal("1e18")

#: Accepted non-zero quantities: ``QTY_MIN <= qty < QTY_MAX``.
QTY_MIN = Decimal("1e-30")
QTY_MAX = Decimal("1e30")

_SPELLING = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?", re.ASCII)
_spelling_ok = _SPELLING.fullmatch


class ExactDecimal(Decimal):
    """A long price key: a ``Decimal`` that orders exactly among float keys.

    A float key stands for the decimal its ``repr`` spells (the spelling it
    was parsed from), so comparisons with a float compare against
    ``Decimal(repr(f))``. :func:`to_number` only makes one for more than 15
    significant digits, so an ``ExactDecimal`` key never equals a float key
    and hashing stays consistent with equality.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is float:
            other = Decimal(repr(other))
        return Decimal.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = Decimal.__hash__

    def __lt__(self, other: object) -> bool:
        if type(other) is float:
            other = Decimal(repr(other))
        return Decimal.__lt__(self, other)  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        if type(other) is float:
            other = Decimal(repr(other))
        return Decimal.__le__(self, other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        if type(other) is float:
            other = Decimal(repr(other))
        return Decimal.__gt__(self, other)  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        if type(other) is float:
            other = Decimal(repr(other))
        return Decimal.__ge__(self, other)  # type: ignore[operator]

    def __repr__(self) -> str:
        return f"ExactDecimal('{self}')"


#: A price key or a stored quantity: a float, or an ExactDecimal for long spellings.
Number = float | Decimal


def parse_decimal(text: object, what: str = "value") -> Decimal:
    """The exact value of a spelling under the module's rule, or :class:`InvalidLevel`.

    Checks the spelling only (a non-negative ASCII decimal string), not the
    range: see :func:`parse_price` and :func:`parse_quantity`.
    """
    if type(text) is not str:
        raise InvalidLevel(f"{what} must be a decimal string, got {type(text).__name__}: {text!r}")
    if len(text) > MAX_SPELLING or _spelling_ok(text) is None:
        raise InvalidLevel(f"{what} is not a plain non-negative decimal: {text[:60]!r}")
    return Decimal(text)  # exact: the constructor does not round or overflow


def to_number(value: Decimal) -> Number:
    """The compact exact form of an in-range Decimal: float if it has <= 15 digits."""
    if not value:
        return 0.0
    digits = value.normalize().as_tuple().digits
    if len(digits) <= FLOAT_DIGITS:
        return float(value)
    return ExactDecimal(value)


def price_value(text: object) -> Decimal:
    """The exact Decimal of a price spelling, checked against the rule and the range."""
    value = parse_decimal(text, "price")
    if not PRICE_MIN <= value < PRICE_MAX:
        raise InvalidLevel(f"price must be positive, from 1e-18 up to 1e18: {text!r}")
    return value


def quantity_value(text: object) -> Decimal:
    """The exact Decimal of a quantity spelling, checked against the rule and the range."""
    value = parse_decimal(text, "quantity")
    if value and not QTY_MIN <= value < QTY_MAX:
        raise InvalidLevel(f"quantity must be zero or from 1e-30 up to 1e30: {text!r}")
    return value


def parse_price(text: object) -> Number:
    """Exact key of a price spelling; :class:`InvalidLevel` unless it follows the rule."""
    return to_number(price_value(text))


def parse_quantity(text: object) -> Number:
    """Exact stored form of a quantity spelling; :class:`InvalidLevel` unless valid."""
    return to_number(quantity_value(text))


def quantity_is_zero(text: object) -> bool:
    """Validate a quantity spelling; True if it is zero. The hot path's slow branch."""
    return not quantity_value(text)


def to_decimal(value: Number | str) -> Decimal:
    """The exact Decimal of a stored key or quantity (a number, or an exact spelling)."""
    if type(value) is float:
        return Decimal(repr(value))
    return value if type(value) is Decimal else Decimal(value)  # type: ignore[return-value]


def exact_bound(value: Decimal) -> ExactDecimal:
    """``value`` as a search bound that compares exactly with float and long keys alike."""
    return ExactDecimal(value)


class PriceCodec:
    """Converts price spellings to exact keys, with a bounded cache.

    ``cache`` maps spellings (strings that passed the rule) to keys and is
    cleared when it reaches ``max_cache`` entries, so it never grows without
    bound. Keys do not depend on the book, so one codec may serve many books.
    """

    __slots__ = ("cache", "max_cache")

    def __init__(self, max_cache: int = 1 << 16) -> None:
        self.cache: dict[str, Number] = {}
        self.max_cache = max_cache

    def __repr__(self) -> str:
        return f"PriceCodec(cached={len(self.cache)}, max_cache={self.max_cache})"

    def key(self, text: str) -> Number:
        """Key of ``text``, through the cache. Raises :class:`InvalidLevel`."""
        try:
            return self.cache[text]
        except (KeyError, TypeError):
            return self.slow_key(text)

    def parse_uncached(self, text: str) -> Number:
        """Key of ``text`` from the cache if present, else computed without caching it."""
        try:
            return self.cache[text]
        except (KeyError, TypeError):
            return parse_price(text)

    def slow_key(self, text: str) -> Number:
        """Key of ``text``, computed exactly and remembered (the cache-miss path)."""
        key = parse_price(text)  # refuses anything but a valid str: only those are cached
        cache = self.cache
        if len(cache) >= self.max_cache:
            cache.clear()
        cache[text] = key
        return key
