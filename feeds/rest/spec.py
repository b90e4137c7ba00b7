"""The shape of one REST operation, and turning call arguments into an exact request.

:class:`Operation` is one row of the declarative table (:mod:`feeds.rest.table`):
venue, name, HTTP method, path, whether it is signed, its documented
parameters (:class:`Param`), rate limits and error codes, and where its HTTP
method was established. :meth:`Operation.prepare` checks arguments against the
parameters (required, type, enum, pattern, range) *before* anything is sent,
and returns a :class:`PreparedCall`: the method, the filled path, the query
pairs and the exact JSON body bytes. Those bytes are what is sent and what is
signed. Sans-I/O: nothing here touches the network.

Parameter values, as sent:

- ``str``: a string (an ``int`` is accepted and spelled in decimal; a list or
  dict given for a string parameter, such as futures ``create-batch``'s
  ``list``, is sent as its JSON text);
- ``int``: an ``int`` or a string of digits (order ids exceed 2**53: never floats);
- ``decimal``: ``int``, :class:`~decimal.Decimal`, ``str`` or ``float``, sent as
  an exact decimal string (``float`` through its shortest ``repr``);
- ``list``: a list or tuple (in a query string: comma-joined), or a
  comma-separated string;
- ``bool``: ``True``/``False`` (sent as ``true``/``false``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any
from urllib.parse import quote

import orjson

from .errors import ParameterError

#: How a parameter travels: in the query string, in the JSON object body, in the path, or as
#: the whole (JSON array) body.
LOCATIONS = ("query", "json", "path", "array")
_LIMIT = re.compile(r"(\d+)\s*(?:/s/|requests/second per\s*)(ip|apikey)", re.IGNORECASE)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


@dataclass(frozen=True, slots=True)
class Param:
    """One documented parameter of an operation."""

    name: str
    type: str  #: ``str``, ``int``, ``decimal``, ``list`` or ``bool``
    required: bool
    location: str  #: one of :data:`LOCATIONS`
    default: str | None = None  #: as documented (informative; never sent by us)
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    min: int | None = None
    max: int | None = None
    doc: str = ""

    def check(self, value: Any, where: str) -> Any:
        """``value`` as it will be sent, or :class:`ParameterError` saying what is wrong."""
        kind = self.type
        if kind == "int":
            value = self._int(value, where)
        elif kind == "decimal":
            value = self._decimal(value, where)
        elif kind == "bool":
            if isinstance(value, str) and value in ("true", "false"):
                value = value == "true"
            if not isinstance(value, bool):
                raise ParameterError(f"{where}: {self.name} must be true or false, not {value!r}")
        elif kind == "list":
            if isinstance(value, tuple):
                value = list(value)
            if not isinstance(value, (list, str)):
                raise ParameterError(f"{where}: {self.name} must be a list, not {value!r}")
        else:
            if isinstance(value, bool):
                raise ParameterError(f"{where}: {self.name} must be a string, not {value!r}")
            if isinstance(value, int):
                value = str(value)
            elif isinstance(value, (list, dict)):
                value = orjson.dumps(value).decode()
            elif not isinstance(value, str):
                raise ParameterError(f"{where}: {self.name} must be a string, not {value!r}")
        if self.enum and not _in_enum(value, self.enum):
            raise ParameterError(
                f"{where}: {self.name}={value!r} is not one of {', '.join(self.enum)}"
            )
        if self.pattern and isinstance(value, str) and not re.fullmatch(self.pattern, value):
            raise ParameterError(f"{where}: {self.name}={value!r} does not match {self.pattern}")
        if kind in ("int", "decimal") and (self.min is not None or self.max is not None):
            number = Decimal(value)
            if self.min is not None and number < self.min:
                raise ParameterError(f"{where}: {self.name}={value} is below {self.min}")
            if self.max is not None and number > self.max:
                raise ParameterError(f"{where}: {self.name}={value} is above {self.max}")
        return value

    def _int(self, value: Any, where: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            return int(value)
        raise ParameterError(f"{where}: {self.name} must be an integer, not {value!r}")

    def _decimal(self, value: Any, where: str) -> str:
        if isinstance(value, bool):
            raise ParameterError(f"{where}: {self.name} must be a number, not {value!r}")
        text = repr(value) if isinstance(value, float) else str(value)
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ParameterError(f"{where}: {self.name} must be a number, not {value!r}") from None
        if not number.is_finite() or not isinstance(value, (int, float, str, Decimal)):
            raise ParameterError(f"{where}: {self.name} must be a finite number, not {value!r}")
        return text


def _in_enum(value: Any, allowed: tuple[str, ...]) -> bool:
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = str(value)
    return text in allowed or text.upper() in allowed or text.lower() in allowed


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """What goes on the wire for one call: method, filled path, query pairs, exact body."""

    operation: Operation | None  #: ``None`` for a request outside the table
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: bytes | None


@dataclass(frozen=True)
class Operation:
    """One documented REST operation (see the module docstring)."""

    venue: str  #: ``spot`` or ``futures``
    name: str  #: the client's method name, e.g. ``submit_order``
    method: str
    path: str
    signed: bool
    title: str  #: the document's section title
    line: int  #: line of the path in ``wex-api.txt``
    limits: tuple[str, ...]  #: rate limits as documented
    errors: tuple[str, ...]  #: error codes the document lists for this operation
    method_source: str  #: where the HTTP method comes from
    inferred: bool  #: the method is an inference (no single agreeing source)
    params: tuple[Param, ...] = field(default=())

    @property
    def key(self) -> str:
        """``venue.name``, unique across the table."""
        return f"{self.venue}.{self.name}"

    @cached_property
    def by_name(self) -> dict[str, Param]:
        """Top-level parameters by documented name (``item.*`` rows describe list items)."""
        return {p.name: p for p in self.params if "." not in p.name}

    @cached_property
    def item_params(self) -> dict[str, Param]:
        """Parameters of each element of the operation's list parameter (``item.symbol``...)."""
        return {p.name.split(".", 1)[1]: p for p in self.params if "." in p.name}

    @cached_property
    def aliases(self) -> dict[str, str]:
        """snake_case spellings of the documented (camelCase) names."""
        return {_snake(n): n for n in self.by_name if _snake(n) != n}

    @cached_property
    def rate_limits(self) -> tuple[tuple[int, str], ...]:
        """``(requests per second, "ip" | "apikey")`` for each documented limit."""
        found = []
        for text in self.limits:
            for count, scope in _LIMIT.findall(text):
                found.append((int(count), scope.lower()))
        return tuple(found[:1])  # a second line qualifies the first (e.g. several symbols)

    def prepare(
        self, arguments: Mapping[str, Any], extra: Mapping[str, Any] | None = None
    ) -> PreparedCall:
        """Check ``arguments`` and build the exact request (see the module docstring).

        ``arguments`` use the documented names (``timeInForce``) or their snake_case
        spelling (``time_in_force``); ``None`` values are left out. ``extra`` passes
        undocumented parameters through unchecked (query for GET, body otherwise).
        """
        where = f"{self.venue} {self.name} ({self.method} {self.path})"
        values: dict[str, Any] = {}
        for key, value in arguments.items():
            name = key if key in self.by_name else self.aliases.get(key, _camel(key.rstrip("_")))
            if name not in self.by_name:
                known = ", ".join(self.by_name) or "none"
                raise ParameterError(f"{where}: unknown parameter {key!r} (documented: {known})")
            if value is not None:
                values[name] = self.by_name[name].check(value, where)
        missing = [n for n, p in self.by_name.items() if p.required and n not in values]
        if missing:
            raise ParameterError(f"{where}: missing required parameter(s) {', '.join(missing)}")
        for name, value in values.items():
            if self.item_params and isinstance(value, list):
                values[name] = [self._check_item(item, where) for item in value]
        path = self.path
        query: list[tuple[str, str]] = []
        body_obj: Any = None
        for name, value in values.items():
            location = self.by_name[name].location
            if location == "path":
                path = path.replace("{" + name + "}", quote(str(value), safe=""))
            elif location == "query":
                query.append((name, _query_text(value)))
            elif location == "array":
                body_obj = value
            else:
                body_obj = {} if body_obj is None else body_obj
                body_obj[name] = value
        for name, value in (extra or {}).items():
            if value is None:
                continue
            if self.method == "GET":
                query.append((name, _query_text(value)))
            else:
                body_obj = {} if body_obj is None else body_obj
                body_obj[name] = value
        body = None if body_obj is None else orjson.dumps(body_obj)
        return PreparedCall(self, self.method, path, tuple(query), body)

    def _check_item(self, item: Any, where: str) -> Any:
        if not isinstance(item, Mapping):
            return item
        checked = {}
        for key, value in item.items():
            param = self.item_params.get(key)
            checked[key] = (
                param.check(value, f"{where} item") if param and value is not None else value
            )
        missing = [n for n, p in self.item_params.items() if p.required and n not in checked]
        if missing:
            raise ParameterError(f"{where}: an item misses {', '.join(missing)}")
        return checked


def _query_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_query_text(v) for v in value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def op(venue: str, name: str, method: str, path: str, **fields: Any) -> Operation:
    """A table row (used by the generated :mod:`feeds.rest.table`)."""
    return Operation(venue, name, method, path, **fields)


def p(name: str, type: str, required: bool, location: str, **fields: Any) -> Param:
    """A parameter row (used by the generated :mod:`feeds.rest.table`)."""
    if "enum" in fields:
        fields["enum"] = tuple(fields["enum"])
    return Param(name, type, required, location, **fields)
