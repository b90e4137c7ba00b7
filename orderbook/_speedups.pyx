# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twins of the hot path in :mod:`orderbook.book` (optional accelerator).

Each function here does exactly what its pure-Python reference does, with the
same results, the same partial effects before an error and the same exceptions
(the messages come from the same reference functions, which are passed in):

- :func:`apply_side` is ``orderbook.book._apply_side``;
- :func:`snapshot_number` is ``orderbook.book._snapshot_number``.

The references stay the readable definition of the rule; the test suite runs
against both (``orderbook.accel``) and a differential test compares them.
What is faster here: the quantity spelling is checked on the string's bytes in
C instead of two ``str.strip`` calls and a ``len``; float keys are compared as
C doubles in the sorted-list searches; dict reads and writes go through the C
API (the ``SortedDict``'s own dict, as the reference's bound
``dict.__setitem__`` does).
"""

from cpython.dict cimport (
    PyDict_Contains,
    PyDict_DelItem,
    PyDict_GetItem,
    PyDict_GetItemWithError,
    PyDict_SetItem,
    PyDict_Size,
)
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_FromString
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE, PyList_Insert, PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.object cimport PyObject, PyObject_RichCompareBool, Py_LT
from cpython.sequence cimport PySequence_DelItem
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_GET_LENGTH
from libc.string cimport memchr, memcmp, memset

cdef extern from "Python.h":
    int PyUnicode_KIND(object o)
    void* PyUnicode_DATA(object o)
    int PyUnicode_1BYTE_KIND
    bint PyFloat_CheckExact(object o)
    bint PyUnicode_CheckExact(object o)
    bint PyDict_CheckExact(object o)
    bint PyList_CheckExact(object o)
    bint PyTuple_CheckExact(object o)


cdef enum:
    C_FAST_QTY = 30

# Must equal orderbook.book._FAST_QTY (checked at import by orderbook.accel).
FAST_QTY = C_FAST_QTY

cdef enum:
    _BAD = -1
    _ZERO = 0
    _NONZERO = 1
    _SLOW = 2


cdef inline int _plain_quantity(object qty):
    """_ZERO/_NONZERO for a plain spelling of <= FAST_QTY ASCII chars, _SLOW otherwise.

    Plain means what the reference's inline test accepts: digits with at most one
    ``.`` and at least one digit. ``""`` and ``"."`` are _BAD (the reference refuses
    them on its delete branch); anything else is left to the reference check.
    """
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(qty)
    cdef Py_ssize_t i
    cdef const unsigned char* s
    cdef unsigned char c
    cdef int dots = 0, digits = 0, nonzero = 0
    if n > C_FAST_QTY or PyUnicode_KIND(qty) != PyUnicode_1BYTE_KIND:
        return _SLOW
    s = <const unsigned char*> PyUnicode_DATA(qty)
    for i in range(n):
        c = s[i]
        if c >= 48 and c <= 57:
            digits += 1
            if c != 48:
                nonzero = 1
        elif c == 46:
            dots += 1
        else:
            return _SLOW
    if dots > 1:
        return _SLOW
    if digits == 0:
        return _BAD
    return _NONZERO if nonzero else _ZERO


cdef inline bint _less(object a, object b) except -1:
    if PyFloat_CheckExact(a) and PyFloat_CheckExact(b):
        return PyFloat_AS_DOUBLE(a) < PyFloat_AS_DOUBLE(b)
    return PyObject_RichCompareBool(a, b, Py_LT)


cdef Py_ssize_t _bisect_right(list sub, object key) except -1:
    cdef Py_ssize_t lo = 0, hi = PyList_GET_SIZE(sub), mid
    cdef double k
    if PyFloat_CheckExact(key):
        k = PyFloat_AS_DOUBLE(key)
        while lo < hi:
            mid = (lo + hi) >> 1
            item = <object> PyList_GET_ITEM(sub, mid)
            if PyFloat_CheckExact(item):
                if k < PyFloat_AS_DOUBLE(item):
                    hi = mid
                else:
                    lo = mid + 1
            elif PyObject_RichCompareBool(key, item, Py_LT):
                hi = mid
            else:
                lo = mid + 1
        return lo
    while lo < hi:
        mid = (lo + hi) >> 1
        if PyObject_RichCompareBool(key, <object> PyList_GET_ITEM(sub, mid), Py_LT):
            hi = mid
        else:
            lo = mid + 1
    return lo


cdef Py_ssize_t _bisect_left(list sub, object key) except -1:
    cdef Py_ssize_t lo = 0, hi = PyList_GET_SIZE(sub), mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if _less(<object> PyList_GET_ITEM(sub, mid), key):
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef object quantity_is_zero = None
cdef object bad_level = None
cdef object general = None
cdef object py_on_update = None
cdef object LIVE = None
cdef object APPLIED = None
cdef object MALFORMED = None
cdef object CROSSED = None
cdef object SpotSequencer = None
cdef object FuturesSequencer = None
cdef object RULE_PU = None


def configure(quantity_is_zero_, bad_level_, general_):
    """Hand over the reference functions this module defers to (``orderbook.accel`` does).

    ``quantity_is_zero_`` is the rule's quantity check, ``bad_level_`` builds the
    exception naming a bad level, ``general_`` is the reference's loop through the
    public ``SortedDict`` API (for sides of several sublists).
    """
    global quantity_is_zero, bad_level, general
    quantity_is_zero, bad_level, general = quantity_is_zero_, bad_level_, general_


def configure_sync(py_on_update_, live, applied, malformed, crossed, spot_seq, futures_seq, pu):
    """Hand over what :func:`on_update` needs from :mod:`orderbook.sync` and the sequencers."""
    global py_on_update, LIVE, APPLIED, MALFORMED, CROSSED, SpotSequencer, FuturesSequencer
    global RULE_PU
    py_on_update, LIVE, APPLIED, MALFORMED, CROSSED = py_on_update_, live, applied, malformed, crossed
    SpotSequencer, FuturesSequencer, RULE_PU = spot_seq, futures_seq, pu


cdef class _Side:
    """What the compiled loop needs of one side, read once per book instead of per event."""
    cdef object side  # the SortedDict
    cdef object keys  # its SortedList
    cdef list lists  # the SortedList's sublists (never replaced by SortedList)
    cdef list maxes  # their maxima (never replaced either)

    def __cinit__(self, side):
        self.side = side
        self.keys = side._list
        self.lists = self.keys._lists
        self.maxes = self.keys._maxes


cdef class _BookState:
    """Per-book references for :func:`apply_book` (kept in ``OrderBook._accel``)."""
    cdef _Side bids
    cdef _Side asks
    cdef dict cache
    cdef object slow_key

    def __cinit__(self, book):
        self.bids = _Side(book.bids)
        self.asks = _Side(book.asks)
        self.cache = book.codec.cache
        self.slow_key = book.codec.slow_key


cdef inline int _unpack(object level, PyObject** price, PyObject** qty) except -1:
    """A level's price and quantity (borrowed), for a two-item list or tuple; otherwise the
    reference's :class:`InvalidLevel` naming the level (``orderbook.book._bad_level``)."""
    if PyList_CheckExact(level) and PyList_GET_SIZE(level) == 2:
        price[0] = PyList_GET_ITEM(level, 0)
        qty[0] = PyList_GET_ITEM(level, 1)
    elif PyTuple_CheckExact(level) and PyTuple_GET_SIZE(level) == 2:
        price[0] = PyTuple_GET_ITEM(level, 0)
        qty[0] = PyTuple_GET_ITEM(level, 1)
    else:
        raise bad_level([level], TypeError())
    return 0


cdef int _apply_side(_Side st, object levels, dict cache, object slow_key) except -1:
    """Compiled ``orderbook.book._apply_side`` (see there)."""
    side = st.side
    keys = st.keys
    cdef list lists = st.lists
    cdef list sub
    cdef Py_ssize_t n_levels, i, at, size
    cdef int kind
    cdef PyObject* found
    cdef PyObject* p
    cdef PyObject* q
    if not PyList_CheckExact(levels):
        levels = list(levels)
    n_levels = PyList_GET_SIZE(levels)
    if (
        PyList_GET_SIZE(lists) != 1
        or keys._index
        or PyList_GET_SIZE(<list> PyList_GET_ITEM(lists, 0)) + n_levels > (keys._load << 1)
    ):
        general(side, levels, cache, slow_key)
        return 0
    sub = <list> PyList_GET_ITEM(lists, 0)
    try:
        for i in range(n_levels):
            level = <object> PyList_GET_ITEM(levels, i)
            _unpack(level, &p, &q)
            price = <object> p
            qty = <object> q
            try:
                found = PyDict_GetItemWithError(cache, price)
            except TypeError:
                found = NULL
            if found is NULL:
                key = slow_key(price)
            else:
                key = <object> found
            if not PyUnicode_CheckExact(qty):
                quantity_is_zero(qty)  # raises InvalidLevel, as the reference's check does
                raise bad_level([level], TypeError())
            kind = _plain_quantity(qty)
            if kind == _SLOW:
                kind = _ZERO if quantity_is_zero(qty) else _NONZERO
            elif kind == _BAD:
                quantity_is_zero(qty)  # "" or ".": raises
            if kind == _NONZERO:
                # One hash: the dict grows exactly when the key is new.
                size = PyDict_Size(side)
                PyDict_SetItem(side, key, qty)
                if PyDict_Size(side) != size:
                    at = _bisect_right(sub, key)
                    PyList_Insert(sub, at, key)
            elif PyDict_Contains(side, key):
                at = _bisect_left(sub, key)
                PySequence_DelItem(sub, at)
                PyDict_DelItem(side, key)
    finally:
        size = PyList_GET_SIZE(sub)
        if size:
            st.maxes[0] = <object> PyList_GET_ITEM(sub, size - 1)
            keys._len = size
        else:
            keys._clear()
    return 0


cdef inline _BookState _state(object book):
    state = book._accel
    if state is None:
        state = book._accel = _BookState(book)
    return <_BookState> state


def apply_side(side, levels, dict cache, slow_key):
    """Compiled ``orderbook.book._apply_side`` (see there), for one side on its own."""
    _apply_side(_Side(side), levels, cache, slow_key)


def apply_book(book, bids, asks):
    """Compiled ``OrderBook.apply``: both sides, bids first, as the reference does."""
    cdef _BookState st = _state(book)
    _apply_side(st.bids, bids, st.cache, st.slow_key)
    _apply_side(st.asks, asks, st.cache, st.slow_key)


cdef inline bint _crossed_state(_BookState st) except -1:
    cdef list bl = st.bids.lists
    cdef list al = st.asks.lists
    if not PyList_GET_SIZE(bl) or not PyList_GET_SIZE(al):
        return False
    hi = <object> PyList_GET_ITEM(bl, PyList_GET_SIZE(bl) - 1)
    lo = <object> PyList_GET_ITEM(al, 0)
    bid = <object> PyList_GET_ITEM(hi, PyList_GET_SIZE(hi) - 1)
    ask = <object> PyList_GET_ITEM(lo, 0)
    return not _less(bid, ask)


def on_update(self, event):
    """Compiled ``BookSync.on_update`` for its hot case; the reference for every other.

    The hot case is a LIVE book (not just after a snapshot) and an event of its symbol,
    newer than the book, that chains by the sequencer's rule with no violation to count
    (futures under the ``pu`` rule: ``fu`` running ahead is counted as the reference
    counts it). Nothing is changed before that is known, so every other case is handed
    whole to the reference (``orderbook.sync.BookSync.on_update``): the same decisions,
    counters, observer calls and exceptions by construction.
    """
    if type(event) is not DepthUpdateType or self.state is not LIVE or self._first_pending:
        return py_on_update(self, event)
    symbol = <object> PyTuple_GET_ITEM(event, 0)
    if symbol != self.symbol:
        return py_on_update(self, event)
    last = self._last_id
    first_id = <object> PyTuple_GET_ITEM(event, 1)
    last_id = <object> PyTuple_GET_ITEM(event, 2)
    if type(last) is not int or type(last_id) is not int or not last_id > last:
        return py_on_update(self, event)
    seq = self.sequencer
    seq_type = type(seq)
    nxt = last + 1
    if seq_type is SpotSequencer:
        if first_id != nxt:
            return py_on_update(self, event)
    elif seq_type is FuturesSequencer:
        prev_id = <object> PyTuple_GET_ITEM(event, 3)
        if prev_id != last:
            return py_on_update(self, event)
        if first_id != nxt:
            if seq.rule is not RULE_PU:
                return py_on_update(self, event)
            seq.fu_violations += 1  # as FuturesSequencer.follows_event counts it
    else:
        return py_on_update(self, event)
    book = self.book
    cdef _BookState st
    try:
        st = _state(book)
        _apply_side(st.bids, <object> PyTuple_GET_ITEM(event, 4), st.cache, st.slow_key)
        _apply_side(st.asks, <object> PyTuple_GET_ITEM(event, 5), st.cache, st.slow_key)
    except Exception as exc:
        return self._leave_live(MALFORMED, f"bad event: {exc}", exc)
    self._last_id = last_id
    self._first_pending = False
    self._unapplied = 0
    self.last_event_time = self.clock()
    if _crossed_state(st):
        return self._leave_live(CROSSED, "book crossed", event)
    counts = self.counts
    counts[APPLIED] += 1
    observer = self.observer
    if observer is not None and self.observe_applied:
        observer(APPLIED, self, event)
    return APPLIED


cdef object DepthUpdateType = None
cdef object loads = None
cdef object reference_parse = None
cdef object SPOT = None
cdef object FUTURES = None


def configure_events(depth_update_type, loads_, reference_parse_, spot, futures):
    """Hand over :class:`orderbook.events.DepthUpdate` (its field order is checked there),
    ``orjson.loads``, the reference :func:`orderbook.parse.reference_parse_depth_update`
    and the two venues."""
    global DepthUpdateType, loads, reference_parse, SPOT, FUTURES
    DepthUpdateType, loads, reference_parse = depth_update_type, loads_, reference_parse_
    SPOT, FUTURES = spot, futures


cdef inline bint _is_int(object x):
    return type(x) is int


def parse_depth_update(raw, venue):
    """Compiled ``orderbook.parse.reference_parse_depth_update`` for well-formed pushes.

    Parsing has no side effects, so anything this does not accept as a well-formed
    ``depth_update`` of ``venue`` is handed to the reference, which returns or raises
    exactly what it always does.
    """
    cdef PyObject* item
    try:
        msg = loads(raw)
    except Exception:
        return reference_parse(raw, venue)
    if not PyDict_CheckExact(msg):
        return reference_parse(raw, venue)
    item = PyDict_GetItemWithError(msg, "topic")
    if item is NULL or <object> item != "depth_update":
        return reference_parse(raw, venue)
    item = PyDict_GetItemWithError(msg, "data")
    if item is NULL or not PyDict_CheckExact(<object> item):
        return reference_parse(raw, venue)
    data = <object> item
    item = PyDict_GetItemWithError(data, "s")
    if item is NULL or not PyUnicode_CheckExact(<object> item) or not <object> item:
        return reference_parse(raw, venue)
    symbol = <object> item
    item = PyDict_GetItemWithError(data, "a")
    if item is NULL or not PyList_CheckExact(<object> item):
        return reference_parse(raw, venue)
    asks = <object> item
    item = PyDict_GetItemWithError(data, "b")
    if item is NULL or not PyList_CheckExact(<object> item):
        return reference_parse(raw, venue)
    bids = <object> item
    if venue is SPOT:
        item = PyDict_GetItemWithError(data, "fi")
        if item is NULL or not _is_int(<object> item):
            return reference_parse(raw, venue)
        fi = <object> item
        item = PyDict_GetItemWithError(data, "i")
        if item is NULL or not _is_int(<object> item) or fi > <object> item:
            return reference_parse(raw, venue)
        return tuple.__new__(DepthUpdateType, (symbol, fi, <object> item, None, bids, asks, None))
    if venue is FUTURES:
        item = PyDict_GetItemWithError(data, "pu")
        if item is NULL or not _is_int(<object> item):
            return reference_parse(raw, venue)
        pu = <object> item
        item = PyDict_GetItemWithError(data, "fu")
        if item is NULL or not _is_int(<object> item):
            return reference_parse(raw, venue)
        fu = <object> item
        item = PyDict_GetItemWithError(data, "u")
        if item is NULL or not _is_int(<object> item):
            return reference_parse(raw, venue)
        u = <object> item
        if fu > u or pu >= u:
            return reference_parse(raw, venue)
        item = PyDict_GetItemWithError(data, "t")
        t = None if item is NULL else <object> item
        return tuple.__new__(DepthUpdateType, (symbol, fu, u, pu, bids, asks, t))
    return reference_parse(raw, venue)


cdef object parse_price = None
cdef object parse_quantity = None
cdef object LEVEL_TYPES = None


def configure_snapshots(parse_price_, parse_quantity_, level_types):
    """Hand over the rule's price and quantity conversions (for non-plain spellings)."""
    global parse_price, parse_quantity, LEVEL_TYPES
    parse_price, parse_quantity, LEVEL_TYPES = parse_price_, parse_quantity_, level_types


cdef inline bint _short(object text):
    """At most 15 characters, or 16 with a point: at most 15 digits (``_SHORT`` in book.py)."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    if n <= 15:
        return True
    if n == 16 and PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND:
        return memchr(PyUnicode_DATA(text), 46, 16) is not NULL
    return False


cdef object _snapshot_number(object text, object exact, bint *zero):
    """``orderbook.book._snapshot_number``: ``zero`` is set instead of returning None."""
    cdef int kind
    zero[0] = False
    if PyUnicode_CheckExact(text) and _short(text):
        kind = _plain_quantity(text)
        if kind == _NONZERO:
            return PyFloat_FromString(text)
        if kind == _ZERO:
            zero[0] = True
            return None
    value = exact(text)
    if not value:
        zero[0] = True
        return None
    return value


def snapshot_side(levels):
    """Compiled ``orderbook.book._snapshot_side``."""
    cdef dict items = {}
    cdef bint zero
    cdef PyObject* p
    cdef PyObject* q
    for level in levels:
        _unpack(level, &p, &q)
        price = <object> p
        qty = <object> q
        key = _snapshot_number(price, parse_price, &zero)
        if zero:
            parse_price(price)  # a zero price: raises
        value = _snapshot_number(qty, parse_quantity, &zero)
        if zero:
            items.pop(key, None)
        else:
            items[key] = value
    return items


def levels_ok(list levels):
    """True if every snapshot level is a list of two strings (``orderbook.parse._levels``'s
    shape check); False hands the list to the reference, which says what is wrong."""
    cdef Py_ssize_t i
    for i in range(PyList_GET_SIZE(levels)):
        level = <object> PyList_GET_ITEM(levels, i)
        if not PyList_CheckExact(level) or PyList_GET_SIZE(level) != 2:
            return False
        if not PyUnicode_CheckExact(<object> PyList_GET_ITEM(level, 0)):
            return False
        if not PyUnicode_CheckExact(<object> PyList_GET_ITEM(level, 1)):
            return False
    return True


# -- exact reads -----------------------------------------------------------------------

cdef object Decimal = None
cdef object LevelType = None
cdef object to_decimal = None
cdef dict PRICE_DECIMALS = None
cdef Py_ssize_t LEVEL_CACHE_MAX = 0
cdef object reference_top_bids = None
cdef object reference_top_asks = None


def configure_reads(decimal, level_type, to_decimal_, price_decimals, level_cache_max,
                    top_bids, top_asks):
    """Hand over what the compiled reads share with ``orderbook.book``'s reference reads."""
    global Decimal, LevelType, to_decimal, PRICE_DECIMALS, LEVEL_CACHE_MAX
    global reference_top_bids, reference_top_asks
    Decimal, LevelType, to_decimal = decimal, level_type, to_decimal_
    PRICE_DECIMALS, LEVEL_CACHE_MAX = price_decimals, level_cache_max
    reference_top_bids, reference_top_asks = top_bids, top_asks


cdef object _fresh_level(object key, object qty, dict cache):
    """``orderbook.book._fresh_level``."""
    cdef PyObject* found
    if PyDict_Size(cache) >= LEVEL_CACHE_MAX:
        cache.clear()
    found = PyDict_GetItem(PRICE_DECIMALS, key)
    if found is NULL:
        if PyDict_Size(PRICE_DECIMALS) >= LEVEL_CACHE_MAX * 8:
            PRICE_DECIMALS.clear()
        price = to_decimal(key)
        PyDict_SetItem(PRICE_DECIMALS, key, price)
    else:
        price = <object> found
    value = Decimal(qty) if PyUnicode_CheckExact(qty) else to_decimal(qty)
    level = tuple.__new__(LevelType, (price, value))
    PyDict_SetItem(cache, key, (qty, level))
    return level


cdef inline object _level_of(object key, object qty, dict cache):
    cdef PyObject* hit = PyDict_GetItem(cache, key)
    if hit is not NULL and <PyObject*> PyTuple_GET_ITEM(<object> hit, 0) is <PyObject*> qty:
        return <object> PyTuple_GET_ITEM(<object> hit, 1)
    return _fresh_level(key, qty, cache)


def best_bid(book):
    """Compiled ``OrderBook.best_bid``."""
    cdef list lists = book._bid_lists
    if not PyList_GET_SIZE(lists):
        return None
    last = <list> PyList_GET_ITEM(lists, PyList_GET_SIZE(lists) - 1)
    key = <object> PyList_GET_ITEM(last, PyList_GET_SIZE(last) - 1)
    side = book.bids
    return _level_of(key, <object> PyDict_GetItem(side, key), book._bid_levels)


def best_ask(book):
    """Compiled ``OrderBook.best_ask``."""
    cdef list lists = book._ask_lists
    if not PyList_GET_SIZE(lists):
        return None
    first = <list> PyList_GET_ITEM(lists, 0)
    key = <object> PyList_GET_ITEM(first, 0)
    side = book.asks
    return _level_of(key, <object> PyDict_GetItem(side, key), book._ask_levels)


cdef list _top(list sub, object side, dict cache, Py_ssize_t n, bint descending):
    cdef Py_ssize_t size = PyList_GET_SIZE(sub), i, count
    cdef list out
    count = size if n < 0 or n > size else n
    out = PyList_New(count)
    for i in range(count):
        key = <object> PyList_GET_ITEM(sub, size - 1 - i if descending else i)
        level = _level_of(key, <object> PyDict_GetItem(side, key), cache)
        Py_INCREF(level)
        PyList_SET_ITEM(out, i, level)
    return out


def top_bids(book, n=None):
    """Compiled ``OrderBook.top_bids`` (one sorted sublist; else the reference)."""
    cdef list lists = book._bid_lists
    if n is not None and n < 0 or PyList_GET_SIZE(lists) > 1:
        return reference_top_bids(book, n)
    if not PyList_GET_SIZE(lists):
        return []
    return _top(<list> PyList_GET_ITEM(lists, 0), book.bids, book._bid_levels,
                -1 if n is None else n, True)


def top_asks(book, n=None):
    """Compiled ``OrderBook.top_asks`` (one sorted sublist; else the reference)."""
    cdef list lists = book._ask_lists
    if n is not None and n < 0 or PyList_GET_SIZE(lists) > 1:
        return reference_top_asks(book, n)
    if not PyList_GET_SIZE(lists):
        return []
    return _top(<list> PyList_GET_ITEM(lists, 0), book.asks, book._ask_levels,
                -1 if n is None else n, False)


def best_quotes(book):
    """Compiled ``OrderBook.best_quotes``."""
    cdef list bl = book._bid_lists
    cdef list al = book._ask_lists
    cdef PyObject* found
    if not PyList_GET_SIZE(bl) or not PyList_GET_SIZE(al):
        return None
    last = <list> PyList_GET_ITEM(bl, PyList_GET_SIZE(bl) - 1)
    bid = <object> PyList_GET_ITEM(last, PyList_GET_SIZE(last) - 1)
    ask = <object> PyList_GET_ITEM(<list> PyList_GET_ITEM(al, 0), 0)
    bq = <object> PyDict_GetItem(book.bids, bid)
    aq = <object> PyDict_GetItem(book.asks, ask)
    found = PyDict_GetItem(PRICE_TEXTS, bid)
    bp = price_text(bid) if found is NULL else <object> found
    found = PyDict_GetItem(PRICE_TEXTS, ask)
    ap = price_text(ask) if found is NULL else <object> found
    return (bp, bq if PyUnicode_CheckExact(bq) else number_text(bq),
            ap, aq if PyUnicode_CheckExact(aq) else number_text(aq))


cdef dict PRICE_TEXTS = None
cdef object price_text = None
cdef object number_text = None
cdef object np_empty = None
cdef object float64 = None
cdef object reference_arrays = None


def configure_quotes(price_texts, price_text_, number_text_, empty, f64, arrays):
    """Hand over ``orderbook.book``'s price-text cache and helpers, and numpy's ``empty``."""
    global PRICE_TEXTS, price_text, number_text, np_empty, float64, reference_arrays
    PRICE_TEXTS, price_text, number_text = price_texts, price_text_, number_text_
    np_empty, float64, reference_arrays = empty, f64, arrays


cdef object _side_array(list sub, object side, Py_ssize_t n, bint descending):
    cdef Py_ssize_t size = PyList_GET_SIZE(sub), i, count
    count = size if n < 0 or n > size else n
    out = np_empty((count, 2), dtype=float64)
    cdef double[:, ::1] view = out
    for i in range(count):
        key = <object> PyList_GET_ITEM(sub, size - 1 - i if descending else i)
        qty = <object> PyDict_GetItem(side, key)
        view[i, 0] = PyFloat_AS_DOUBLE(key) if PyFloat_CheckExact(key) else float(key)
        view[i, 1] = PyFloat_AS_DOUBLE(qty) if PyFloat_CheckExact(qty) else float(qty)
    return out


def arrays(book, n=None):
    """Compiled ``OrderBook.arrays`` (one sorted sublist a side; else the reference)."""
    cdef list bl = book._bid_lists
    cdef list al = book._ask_lists
    if n is not None and n < 0 or PyList_GET_SIZE(bl) > 1 or PyList_GET_SIZE(al) > 1:
        return reference_arrays(book, n)
    cdef Py_ssize_t count = -1 if n is None else n
    empty = []
    return (
        _side_array(<list> PyList_GET_ITEM(bl, 0) if PyList_GET_SIZE(bl) else empty,
                    book.bids, count, True),
        _side_array(<list> PyList_GET_ITEM(al, 0) if PyList_GET_SIZE(al) else empty,
                    book.asks, count, False),
    )


# -- raw frames straight to the book ----------------------------------------------------
#
# on_frame() reads a depth_update push's bytes in C. It takes only the plainest input: ASCII,
# strings without escapes, integer ids, levels that are lists of two plain strings (prices of
# at most 16 characters, non-zero; quantities of at most FAST_QTY), every key it needs once;
# and only the hot case (LIVE, not just after a snapshot, no observer of applied events
# (observer None or observe_applied False), an event of the book's
# symbol that chains). Then it applies the levels without building the event, its lists or
# its price strings: the same book and the same decision as the reference, which is what
# runs, from the start, for everything else (nothing is changed before the frame is known
# to be such a frame).

from libc.stdint cimport int64_t
from libc.stdlib cimport free, realloc

cdef extern from "Python.h":
    object PyUnicode_DecodeASCII(const char* s, Py_ssize_t size, const char* errors)
    object PyFloat_FromDouble(double v)
    bint PyBytes_CheckExact(object o)
    char* PyBytes_AS_STRING(object o)
    Py_ssize_t PyBytes_GET_SIZE(object o)
    bint PyUnicode_IS_ASCII(object o)

cdef object reference_on_frame = None
cdef Py_ssize_t FRAMES_FAST = 0
cdef Py_ssize_t FRAMES_HANDED_ON = 0


def frame_stats():
    """``(fast, handed_on)``: frames ``on_frame`` applied from their bytes, and frames it
    handed to the reference, since the process started (for tests and benchmarks)."""
    return FRAMES_FAST, FRAMES_HANDED_ON


def configure_frames(reference_on_frame_):
    """Hand over the reference ``BookSync.on_frame``."""
    global reference_on_frame
    reference_on_frame = reference_on_frame_


# Span and Scan (what a scan found in a frame) are declared in _speedups.pxd, with the
# C-level entry points other compiled modules use: scan_frame, apply_scanned, finish_crossed.


cdef double[23] POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                         1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]


cdef inline void _ws(Scan* sc) noexcept nogil:
    cdef unsigned char c
    while sc.pos < sc.n:
        c = sc.s[sc.pos]
        if c == 32 or c == 10 or c == 13 or c == 9:
            sc.pos += 1
        else:
            return


cdef inline int _expect(Scan* sc, unsigned char c) noexcept nogil:
    _ws(sc)
    if sc.pos < sc.n and sc.s[sc.pos] == c:
        sc.pos += 1
        return 1
    return 0


cdef int _string(Scan* sc, Span* out) noexcept nogil:
    """A string without escapes or control characters; 0 for anything else."""
    cdef unsigned char c
    if not _expect(sc, 34):
        return 0
    out.start = sc.pos
    while sc.pos < sc.n:
        c = sc.s[sc.pos]
        if c == 34:
            out.end = sc.pos
            sc.pos += 1
            return 1
        if c == 92 or c < 32 or c > 126:
            return 0
        sc.pos += 1
    return 0


cdef int _int(Scan* sc, int64_t* out) noexcept nogil:
    """A non-negative integer that fits int64 (no sign, fraction or exponent)."""
    cdef int64_t v = 0
    cdef int digits = 0
    cdef unsigned char c
    _ws(sc)
    while sc.pos < sc.n:
        c = sc.s[sc.pos]
        if c < 48 or c > 57:
            break
        if v > 922337203685477580LL:  # (2**63 - 1) // 10
            return 0
        v = v * 10 + (c - 48)
        if v < 0:
            return 0
        digits += 1
        sc.pos += 1
    if digits == 0 or (digits > 1 and sc.s[sc.pos - digits] == 48):
        return 0
    if sc.pos < sc.n and (sc.s[sc.pos] == 46 or sc.s[sc.pos] == 101 or sc.s[sc.pos] == 69):
        return 0
    out[0] = v
    return 1


cdef int _skip(Scan* sc, int depth) noexcept nogil:
    """Skip any value made of objects, arrays, plain strings, numbers, true/false/null."""
    cdef Span ignored
    cdef unsigned char c
    if depth > 32:
        return 0
    _ws(sc)
    if sc.pos >= sc.n:
        return 0
    c = sc.s[sc.pos]
    if c == 34:
        return _string(sc, &ignored)
    if c == 123 or c == 91:
        sc.pos += 1
        if _expect(sc, 125 if c == 123 else 93):
            return 1
        while True:
            if c == 123:
                if not _string(sc, &ignored) or not _expect(sc, 58):
                    return 0
            if not _skip(sc, depth + 1):
                return 0
            if _expect(sc, 44):
                continue
            return _expect(sc, 125 if c == 123 else 93)
    if c == 116:
        return _word(sc, "true", 4)
    if c == 102:
        return _word(sc, "false", 5)
    if c == 110:
        return _word(sc, "null", 4)
    return _number(sc)


cdef inline int _word(Scan* sc, const char* word, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t j
    if sc.pos + size > sc.n:
        return 0
    for j in range(size):
        if sc.s[sc.pos + j] != <unsigned char> word[j]:
            return 0
    sc.pos += size
    return 1


cdef inline int _digits(Scan* sc) noexcept nogil:
    cdef Py_ssize_t start = sc.pos
    while sc.pos < sc.n and 48 <= sc.s[sc.pos] <= 57:
        sc.pos += 1
    return sc.pos - start


cdef int _number(Scan* sc) noexcept nogil:
    """A JSON number, exactly its grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?"""
    cdef Py_ssize_t start
    if sc.pos < sc.n and sc.s[sc.pos] == 45:
        sc.pos += 1
    if sc.pos >= sc.n:
        return 0
    if sc.s[sc.pos] == 48:
        sc.pos += 1
    elif not _digits(sc):
        return 0
    if sc.pos < sc.n and sc.s[sc.pos] == 46:
        sc.pos += 1
        if not _digits(sc):
            return 0
    if sc.pos < sc.n and (sc.s[sc.pos] == 101 or sc.s[sc.pos] == 69):
        sc.pos += 1
        if sc.pos < sc.n and (sc.s[sc.pos] == 43 or sc.s[sc.pos] == 45):
            sc.pos += 1
        if not _digits(sc):
            return 0
    return 1


cdef int _levels(Scan* sc) noexcept nogil:
    """A list of [string, string] levels, appended to sc.levels."""
    cdef Span price, qty
    cdef Span* grown
    if not _expect(sc, 91):
        return 0
    if _expect(sc, 93):
        return 1
    while True:
        if not _expect(sc, 91) or not _string(sc, &price) or not _expect(sc, 44):
            return 0
        if not _string(sc, &qty) or not _expect(sc, 93):
            return 0
        if sc.n_levels + 2 > sc.cap_levels:
            grown = <Span*> realloc(sc.levels, (sc.cap_levels * 2 + 64) * sizeof(Span))
            if grown is NULL:
                return 0
            sc.levels = grown
            sc.cap_levels = sc.cap_levels * 2 + 64
        sc.levels[sc.n_levels] = price
        sc.levels[sc.n_levels + 1] = qty
        sc.n_levels += 2
        if _expect(sc, 44):
            continue
        return _expect(sc, 93)


cdef inline int _key_is(Scan* sc, Span k, const char* name, Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t j
    if k.end - k.start != size:
        return 0
    for j in range(size):
        if sc.s[k.start + j] != <unsigned char> name[j]:
            return 0
    return 1


cdef int _data(Scan* sc, bint spot) noexcept nogil:
    cdef Span k
    if not _expect(sc, 123):
        return 0
    if _expect(sc, 125):
        return 1
    while True:
        if not _string(sc, &k) or not _expect(sc, 58):
            return 0
        if _key_is(sc, k, "s", 1):
            if sc.have_s or not _string(sc, &sc.symbol):
                return 0
            sc.have_s = 1
        elif _key_is(sc, k, "a", 1):
            sc.a_start = sc.n_levels
            if sc.have_a or not _levels(sc):
                return 0
            sc.a_end = sc.n_levels
            sc.have_a = 1
        elif _key_is(sc, k, "b", 1):
            sc.b_start = sc.n_levels
            if sc.have_b or not _levels(sc):
                return 0
            sc.b_end = sc.n_levels
            sc.have_b = 1
        elif spot and _key_is(sc, k, "fi", 2):
            if sc.have_fi or not _int(sc, &sc.fi):
                return 0
            sc.have_fi = 1
        elif spot and _key_is(sc, k, "i", 1):
            if sc.have_i or not _int(sc, &sc.i):
                return 0
            sc.have_i = 1
        elif not spot and _key_is(sc, k, "pu", 2):
            if sc.have_pu or not _int(sc, &sc.pu):
                return 0
            sc.have_pu = 1
        elif not spot and _key_is(sc, k, "fu", 2):
            if sc.have_fu or not _int(sc, &sc.fu):
                return 0
            sc.have_fu = 1
        elif not spot and _key_is(sc, k, "u", 1):
            if sc.have_u or not _int(sc, &sc.u):
                return 0
            sc.have_u = 1
        elif not _skip(sc, 0):
            return 0
        if _expect(sc, 44):
            continue
        return _expect(sc, 125)


cdef int _frame(Scan* sc, bint spot) noexcept nogil:
    """The whole push: {"topic": "depth_update", "data": {...}, other keys skipped}."""
    cdef Span k, v
    if not _expect(sc, 123):
        return 0
    while True:
        if not _string(sc, &k) or not _expect(sc, 58):
            return 0
        if _key_is(sc, k, "topic", 5):
            if sc.have_topic or not _string(sc, &v) or not _key_is(sc, v, "depth_update", 12):
                return 0
            sc.have_topic = 1
        elif _key_is(sc, k, "data", 4):
            if sc.have_data or not _data(sc, spot):
                return 0
            sc.have_data = 1
        elif not _skip(sc, 0):
            return 0
        if _expect(sc, 44):
            continue
        if not _expect(sc, 125):
            return 0
        _ws(sc)
        return sc.pos == sc.n and sc.have_topic and sc.have_data and sc.have_s and (
            sc.have_a and sc.have_b) and (
            (sc.have_fi and sc.have_i) if spot else (sc.have_pu and sc.have_fu and sc.have_u))


cdef inline int _plain_price(const unsigned char* s, Py_ssize_t n, double* out) noexcept nogil:
    """A plain non-zero price of at most 16 characters, as the double float() gives."""
    cdef int64_t mantissa = 0
    cdef int dots = 0, digits = 0, frac = 0, nonzero = 0
    cdef Py_ssize_t j
    cdef unsigned char c
    if n == 0 or n > 16:
        return 0
    for j in range(n):
        c = s[j]
        if 48 <= c <= 57:
            mantissa = mantissa * 10 + (c - 48)
            digits += 1
            if c != 48:
                nonzero = 1
            if dots:
                frac += 1
        elif c == 46:
            dots += 1
        else:
            return 0
    if dots > 1 or not nonzero or digits > 15:
        return 0
    # At most 15 digits: the mantissa (< 10**15 < 2**53) and 10**frac are exact doubles, so
    # one IEEE division is the correctly rounded value, the same double float(text) gives.
    out[0] = (<double> mantissa) / POW10[frac]
    return 1


cdef int _apply_spans(_Side st, Scan* sc, Py_ssize_t start, Py_ssize_t end) except -1:
    """Apply plain levels (already checked) to one side: ``_apply_side``'s effects exactly."""
    side = st.side
    keys = st.keys
    cdef list sub = <list> PyList_GET_ITEM(st.lists, 0)
    cdef Py_ssize_t j, at, size
    cdef double price
    try:
        j = start
        while j < end:
            _plain_price(sc.s + sc.levels[j].start, sc.levels[j].end - sc.levels[j].start,
                         &price)
            key = PyFloat_FromDouble(price)
            qty = PyUnicode_DecodeASCII(<const char*> sc.s + sc.levels[j + 1].start,
                                        sc.levels[j + 1].end - sc.levels[j + 1].start, NULL)
            if _plain_quantity(qty) == _NONZERO:
                size = PyDict_Size(side)
                PyDict_SetItem(side, key, qty)
                if PyDict_Size(side) != size:
                    at = _bisect_right(sub, key)
                    PyList_Insert(sub, at, key)
            elif PyDict_Contains(side, key):
                at = _bisect_left(sub, key)
                PySequence_DelItem(sub, at)
                PyDict_DelItem(side, key)
            j += 2
    finally:
        size = PyList_GET_SIZE(sub)
        if size:
            st.maxes[0] = <object> PyList_GET_ITEM(sub, size - 1)
            keys._len = size
        else:
            keys._clear()
    return 0


cdef int _fast_side_ok(_Side st, Py_ssize_t count) except -1:
    """The side is one sublist with room, as ``_apply_side``'s fast branch requires."""
    keys = st.keys
    cdef list lists = st.lists
    return (PyList_GET_SIZE(lists) == 1 and not keys._index
            and PyList_GET_SIZE(<list> PyList_GET_ITEM(lists, 0)) + count <= (keys._load << 1))


cdef int _spans_plain(Scan* sc, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    """Every level's price is plain and non-zero, every quantity plain (with a digit)."""
    cdef Py_ssize_t j = start, n, k
    cdef double ignored
    cdef int dots, digits
    cdef unsigned char c
    while j < end:
        if not _plain_price(sc.s + sc.levels[j].start, sc.levels[j].end - sc.levels[j].start,
                            &ignored):
            return 0
        n = sc.levels[j + 1].end - sc.levels[j + 1].start
        if n == 0 or n > C_FAST_QTY:
            return 0
        dots = 0
        digits = 0
        for k in range(n):
            c = sc.s[sc.levels[j + 1].start + k]
            if 48 <= c <= 57:
                digits += 1
            elif c == 46:
                dots += 1
            else:
                return 0
        if dots > 1 or digits == 0:
            return 0
        j += 2
    return 1


cdef int frame_plain(Scan* sc) noexcept nogil:
    """Every level of a scanned frame is plain (:func:`_spans_plain`): what the hot path
    applies, with the effects of ``_apply_side`` (for other compiled modules)."""
    return _spans_plain(sc, 0, sc.n_levels)


cdef int plain_price(const unsigned char* s, Py_ssize_t n, double* out) noexcept nogil:
    """The key of a plain price spelling (:func:`_plain_price`): the double ``float()``
    gives (for other compiled modules)."""
    return _plain_price(s, n, out)


cdef object _hand_on(object sync, object raw):
    global FRAMES_HANDED_ON
    FRAMES_HANDED_ON += 1
    return reference_on_frame(sync, raw)


cdef int scan_frame(Scan* sc, const unsigned char* data, Py_ssize_t size, bint spot) noexcept nogil:
    """Scan one push's bytes into ``sc``: 1 if it is a plain frame (see above), else 0.

    The caller frees ``sc.levels`` afterwards, whatever this returned.
    """
    memset(sc, 0, sizeof(Scan))
    sc.s = data
    sc.n = size
    return _frame(sc, spot)


cdef int apply_scanned(object self, Scan* sc, bint spot) except -1:
    """Apply a scanned plain frame to ``BookSync`` ``self`` when it is the hot case.

    0: not the hot case (a book not LIVE or just after a snapshot, another venue,
    symbol or sequencer, ids that do not chain, levels that are not plain): nothing
    was changed, the caller takes the reference path. 1: applied, the decision is
    APPLIED. 2: applied and the book crossed: the caller must call
    :func:`finish_crossed` at once. The observer is not called for an applied frame:
    the caller either has none or knows what it does with APPLIED.
    """
    cdef _BookState st
    if self.state is not LIVE or self._first_pending:
        return 0
    if self.venue is not (SPOT if spot else FUTURES):
        return 0
    seq = self.sequencer
    if type(seq) is not (SpotSequencer if spot else FuturesSequencer):
        return 0
    symbol = self.symbol
    if (not PyUnicode_CheckExact(symbol) or not PyUnicode_IS_ASCII(symbol)
            or PyUnicode_GET_LENGTH(symbol) != sc.symbol.end - sc.symbol.start
            or sc.symbol.end == sc.symbol.start
            or memcmp(PyUnicode_DATA(symbol), sc.s + sc.symbol.start,
                      sc.symbol.end - sc.symbol.start) != 0):
        return 0
    last = self._last_id
    if type(last) is not int:
        return 0
    if spot:
        if sc.fi > sc.i or sc.i <= last or sc.fi != last + 1:
            return 0
        last_id = sc.i
    else:
        if sc.fu > sc.u or sc.pu >= sc.u or sc.u <= last or sc.pu != last:
            return 0
        if sc.fu != last + 1 and seq.rule is not RULE_PU:
            return 0
        last_id = sc.u
    if not _spans_plain(sc, 0, sc.n_levels):
        return 0
    book = self.book
    st = _state(book)
    if (not _fast_side_ok(st.bids, (sc.b_end - sc.b_start) // 2)
            or not _fast_side_ok(st.asks, (sc.a_end - sc.a_start) // 2)):
        return 0
    # From here on the frame is known: do what the reference does with it.
    if not spot and sc.fu != last + 1:
        seq.fu_violations += 1
    _apply_spans(st.bids, sc, sc.b_start, sc.b_end)
    _apply_spans(st.asks, sc, sc.a_start, sc.a_end)
    self._last_id = last_id
    self._first_pending = False
    self._unapplied = 0
    self.last_event_time = self.clock()
    if _crossed_state(st):
        return 2
    counts = self.counts
    counts[APPLIED] += 1
    global FRAMES_FAST
    FRAMES_FAST += 1
    return 1


cdef object finish_crossed(object sync, object raw):
    """After :func:`apply_scanned` returned 2: leave LIVE as the reference does."""
    return sync._leave_live(CROSSED, "book crossed", event_of(sync, raw))


def on_frame(self, raw):
    """Compiled ``BookSync.on_frame`` (see the section comment above)."""
    cdef Scan sc
    cdef bint spot
    cdef const unsigned char* data
    cdef Py_ssize_t size
    cdef int done
    if (self.state is not LIVE or self._first_pending
            or (self.observer is not None and self.observe_applied)):
        return _hand_on(self, raw)
    if PyBytes_CheckExact(raw):
        data = <const unsigned char*> PyBytes_AS_STRING(raw)
        size = PyBytes_GET_SIZE(raw)
    elif PyUnicode_CheckExact(raw) and PyUnicode_IS_ASCII(raw):
        data = <const unsigned char*> PyUnicode_DATA(raw)
        size = PyUnicode_GET_LENGTH(raw)
    else:
        return _hand_on(self, raw)
    venue = self.venue
    if venue is SPOT:
        spot = True
    elif venue is FUTURES:
        spot = False
    else:
        return _hand_on(self, raw)
    done = 0
    try:
        if scan_frame(&sc, data, size, spot):
            done = apply_scanned(self, &sc, spot)
            if done == 1:
                _keep_scan(raw, &sc)  # for an observer of the applied frame (take_scan)
    finally:
        free(sc.levels)
    if done == 1:
        return APPLIED
    if done == 2:
        return finish_crossed(self, raw)
    return _hand_on(self, raw)


# The scan of the last frame the hot path applied, for the observers of that frame
# (the board's writer patches its levels onto its slot): a frame is decoded once.
cdef object _kept_raw = None
cdef Scan _kept


cdef void _keep_scan(object raw, Scan* sc) noexcept:
    """Keep ``sc`` (its levels move here: ``sc.levels`` becomes NULL) as ``raw``'s scan."""
    global _kept_raw, _kept
    free(_kept.levels)
    _kept = sc[0]
    _kept_raw = raw
    sc.levels = NULL


cdef int take_scan(object raw, Scan* out) noexcept:
    """1 and ``out`` = the scan of ``raw`` if it is the frame the hot path applied last
    (a plain frame, :func:`frame_plain`); the caller then owns ``out.levels`` (free it).
    0 if not (scan it yourself). Under the GIL, with no Python call between the apply
    and this: another thread's frame replaces the kept scan, never frees one in use."""
    global _kept_raw, _kept
    if _kept_raw is None or _kept_raw is not raw:
        return 0
    out[0] = _kept
    _kept.levels = NULL
    _kept_raw = None
    return 1


def event_of(sync, raw):
    """The parsed event of a frame (for the rare decision that reports it)."""
    return parse_depth_update(raw, sync.venue)


def frame_symbol(raw, bint spot):
    """The symbol of a plain ``depth_update`` push (what :func:`on_frame` reads), else None.

    For an owner routing raw frames to books: ``None`` means "not a plain frame", and the
    caller takes its general path (which parses, and reports what is wrong, if anything).
    """
    cdef Scan sc
    cdef const unsigned char* data
    cdef Py_ssize_t size
    if PyBytes_CheckExact(raw):
        data = <const unsigned char*> PyBytes_AS_STRING(raw)
        size = PyBytes_GET_SIZE(raw)
    elif PyUnicode_CheckExact(raw) and PyUnicode_IS_ASCII(raw):
        data = <const unsigned char*> PyUnicode_DATA(raw)
        size = PyUnicode_GET_LENGTH(raw)
    else:
        return None
    memset(&sc, 0, sizeof(Scan))
    sc.s = data
    sc.n = size
    try:
        if not _frame(&sc, spot) or sc.symbol.end == sc.symbol.start:
            return None
        return PyUnicode_DecodeASCII(<const char*> sc.s + sc.symbol.start,
                                     sc.symbol.end - sc.symbol.start, NULL)
    finally:
        free(sc.levels)
