"""Exact price keys and quantities: decimal strings to floats, exactly, and back.

A double holds every decimal number with up to 15 significant digits
exactly, in this sense: distinct such decimals convert to distinct doubles,
and ``repr`` of the double gives the same decimal back. WEX prices and
quantities are far shorter than that (``"30000.01"``, ``"0.0000000001"``,
``"1000000000"``), so a book keys levels by ``float`` and stores quantities as
``float``: as fast to compare and as small as the naive float book, yet
exact. ``"0.1"`` and ``"0.10"`` are one key; ``1e9`` and ``1e-10`` keep their
identity side by side.

A spelling with more than 15 significant digits is not rounded: it becomes a
:class:`~decimal.Decimal`, which Python compares and hashes consistently
with floats (``Decimal("0.5") == 0.5`` and both hash alike), so such a level
still sorts and matches correctly among float keys. Reads turn every value
back into an exact ``Decimal`` with :func:`to_decimal`.

Price conversions are cached per spelling in a :class:`PriceCodec`, so the
hot path costs one dict lookup per price.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from .errors import InvalidLevel

#: Significant digits a double always represents exactly (C's ``DBL_DIG``).
FLOAT_DIGITS = 15

#: A price key or a stored quantity: a float, or a Decimal for long spellings.
Number = float | Decimal


def _exact_number(text: object, what: str) -> Decimal:
    """``text`` as a finite, non-negative Decimal, or :class:`InvalidLevel`."""
    if type(text) is not str and type(text) is not int:
        raise InvalidLevel(f"{what} must be a decimal string, got {type(text).__name__}: {text!r}")
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        raise InvalidLevel(f"{what} is not a decimal number: {text!r}") from None
    if not value.is_finite() or value.is_signed():
        raise InvalidLevel(f"{what} must be finite and non-negative: {text!r}")
    return value


def to_number(value: Decimal) -> Number:
    """The compact exact form of a non-negative Decimal: float if it has <= 15 digits."""
    if not value:
        return 0.0
    digits = value.normalize().as_tuple().digits
    if len(digits) <= FLOAT_DIGITS:
        return float(value)
    return value


def parse_price(text: object) -> Number:
    """Exact key of a price spelling; :class:`InvalidLevel` unless finite and positive."""
    value = _exact_number(text, "price")
    if not value:
        raise InvalidLevel(f"price must be positive: {text!r}")
    return to_number(value)


def parse_quantity(text: object) -> Number:
    """Exact stored form of a quantity spelling; :class:`InvalidLevel` unless finite and >= 0."""
    return to_number(_exact_number(text, "quantity"))


def to_decimal(value: Number | str) -> Decimal:
    """The exact Decimal of a stored key or quantity (a number, or an exact spelling)."""
    if type(value) is float:
        return Decimal(repr(value))
    return value if type(value) is Decimal else Decimal(value)  # type: ignore[return-value]


class PriceCodec:
    """Converts price spellings to exact keys, with a bounded cache.

    ``cache`` maps spellings to keys and is cleared when it reaches
    ``max_cache`` entries, so it never grows without bound. Keys do not
    depend on the book, so one codec may serve many books.
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
        key = parse_price(text)
        cache = self.cache
        if len(cache) >= self.max_cache:
            cache.clear()
        cache[text] = key
        return key
