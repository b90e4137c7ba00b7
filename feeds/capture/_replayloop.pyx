# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twin of the replay's frame loop (optional accelerator).

:func:`frames` consumes, in C, the run of frame records at a position of a decompressed
segment that are the engine's hot case, each handed to its book through
``orderbook._speedups`` (scanned once, applied from its bytes: no record tuple, no
frame bytes object, no event). It stops, without consuming it, at the first record
that is anything else, and the replay's Python loop
(:meth:`feeds.capture.replay.Replayer._run`, the reference) takes that record, then
calls this again. What it consumes it does exactly as that loop would: the same books,
decisions, counters, silence audit and per-book event counts.

A frame record is consumed only when all of these hold, else this stops before it:
an ``F`` record whose header is plain decimal numbers and whose length ends at a
newline; its receive time not past ``stop_ns`` and its connection not quiet for longer
than ``silence`` (the loop writes that gap row); a connection routed in ``conns``; a
plain frame naming a routed book whose replay is not inside a gap; a book in the hot
case (:c:func:`apply_scanned` took it).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.long cimport PyLong_FromLongLong
from cpython.object cimport PyObject
from libc.stdint cimport int64_t
from libc.stdlib cimport free
from libc.string cimport memcmp, memcpy

from orderbook._speedups cimport Scan, apply_scanned, finish_crossed, scan_frame

cdef extern from "Python.h":
    object PyUnicode_DecodeASCII(const char* s, Py_ssize_t size, const char* errors)

cdef Py_ssize_t CONSUMED = 0


def stats():
    """Frame records consumed here since the process started (for tests and benchmarks)."""
    return CONSUMED


cdef inline int _number(const unsigned char* s, Py_ssize_t* pos, Py_ssize_t end,
                        unsigned char stop, bint signed, int64_t* out) noexcept nogil:
    """Decimal digits (a leading ``-`` if ``signed``) up to ``stop``; 0 if not that."""
    cdef Py_ssize_t p = pos[0]
    cdef int64_t value = 0
    cdef bint negative = False
    cdef int digits = 0
    if signed and p < end and s[p] == 45:
        negative = True
        p += 1
    while p < end and 48 <= s[p] <= 57:
        if digits == 18:
            return 0
        value = value * 10 + (s[p] - 48)
        digits += 1
        p += 1
    if digits == 0 or p >= end or s[p] != stop:
        return 0
    out[0] = -value if negative else value
    pos[0] = p + 1
    return 1


def frames(bytes data, Py_ssize_t pos, int64_t wall, int64_t mono, dict conns,
           dict last_frame, int64_t silence, object stop_ns, object set_now):
    """Consume the hot frame records of ``data`` from ``pos``; see the module docstring.

    ``conns`` maps a connection index to ``(spot, books)``, ``books`` mapping a symbol to
    the replay's book (``.sync``, ``.report``, ``.down_since``); ``last_frame`` maps a
    connection index to its last frame's receive time (updated here); ``set_now(wall)``
    is called before a consumed frame leaves its book's LIVE state (the observer reads
    the replay's clock). Returns ``(pos, wall, mono, consumed)``.
    """
    cdef const unsigned char* s = <const unsigned char*> PyBytes_AS_STRING(data)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(data)
    cdef Py_ssize_t p, start, stop, n_symbol = -1, k
    cdef int64_t conn, length, dwall, dmono, new_wall, stop_at = 0
    cdef int64_t conn_now = -1, conn_last = 0
    cdef bint has_last = False, has_stop = stop_ns is not None, spot = False
    cdef Py_ssize_t consumed = 0, pending = 0
    cdef PyObject* found
    cdef Scan sc
    cdef int done
    cdef unsigned char[64] symbol_now
    # The connection and the book of the frame before are kept (a capture's frames mostly
    # come in runs of one connection and, often, one book); their per-frame Python
    # effects (last_frame, the book's event count) are written when they change and at
    # the end.
    key = books = book = None
    if has_stop:
        stop_at = stop_ns
    try:
        while pos < end and s[pos] == 70:  # "F"
            p = pos + 1
            if (not _number(s, &p, end, 32, False, &conn)
                    or not _number(s, &p, end, 32, False, &length)
                    or not _number(s, &p, end, 32, True, &dwall)
                    or not _number(s, &p, end, 10, True, &dmono)):
                break
            start = p
            if length > end - start - 1:
                break
            stop = start + <Py_ssize_t> length
            if s[stop] != 10:
                break
            new_wall = wall + dwall
            if has_stop and new_wall > stop_at:
                break
            if conn != conn_now:
                if conn_now != -1 and has_last:
                    PyDict_SetItem(last_frame, key, PyLong_FromLongLong(conn_last))
                conn_now = -1
                key = PyLong_FromLongLong(conn)
                found = PyDict_GetItem(conns, key)
                if found is NULL:
                    break
                route = <tuple> found
                spot = route[0]
                books = <dict> route[1]
                found = PyDict_GetItem(last_frame, key)
                has_last = found is not NULL
                if has_last:
                    conn_last = <object> found
                conn_now = conn
                n_symbol = -1  # the symbol cache belongs to the connection
            if has_last and new_wall - conn_last > silence:
                break
            done = 0
            try:
                if not scan_frame(&sc, s + start, stop - start, spot):
                    break
                length = sc.symbol.end - sc.symbol.start
                if (length != n_symbol
                        or memcmp(symbol_now, sc.s + sc.symbol.start, length) != 0):
                    if pending:
                        book.report.events += pending
                        pending = 0
                    n_symbol = -1
                    book = None
                    if length == 0 or length > 64:
                        break
                    for k in range(sc.symbol.start, sc.symbol.end):
                        if sc.s[k] >= 128:
                            break
                    else:
                        symbol = PyUnicode_DecodeASCII(<const char*> sc.s + sc.symbol.start,
                                                       length, NULL)
                        found = PyDict_GetItem(books, symbol)
                        if found is not NULL:
                            book = <object> found
                            memcpy(symbol_now, sc.s + sc.symbol.start, length)
                            n_symbol = length
                if book is not None and book.down_since is None:
                    done = apply_scanned(book.sync, &sc, spot)
            finally:
                free(sc.levels)
            if done == 0:
                break
            # Consumed: what the Python loop does with a frame.
            conn_last = new_wall
            has_last = True
            pending += 1
            wall = new_wall
            mono += dmono
            pos = stop + 1
            consumed += 1
            if done == 2:
                book.report.events += pending
                pending = 0
                PyDict_SetItem(last_frame, key, PyLong_FromLongLong(conn_last))
                set_now(wall)
                finish_crossed(book.sync, PyBytes_FromStringAndSize(<const char*> s + start,
                                                                    stop - start))
    finally:
        if pending:
            book.report.events += pending
        if conn_now != -1 and has_last:
            PyDict_SetItem(last_frame, key, PyLong_FromLongLong(conn_last))
        global CONSUMED
        CONSUMED += consumed
    return pos, wall, mono, consumed
