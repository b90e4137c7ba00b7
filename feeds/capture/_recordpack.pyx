# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled twins of the recorder's per-frame work (optional accelerator).

:class:`FrameStamp` is :meth:`feeds.capture.recorder.Recorder.on_frame` (on the event
loop: stamp a received frame with both clocks and queue it, as received).

:func:`pack_frames` takes the frames the recorder queued on the event loop and writes
their records (``F<conn> <length> <d_wall_ns> <d_mono_ns>\\n<frame>\\n``, see
:mod:`feeds.capture.format`) into one bytes object, in C: the bytes are those the
reference, the frame branch of :meth:`feeds.capture.recorder.Recorder._drain`, writes
for the same items. It stops at the first item that is not a frame of a ``str`` or
``bytes`` (a JSON record, a segment start, another buffer type) and returns it,
popped, for the reference to write.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize
from cpython.bytes cimport PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsLongLong, PyLong_CheckExact
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_CheckExact
from cpython.object cimport PyObject
from libc.stdint cimport int64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    cdef struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clock, timespec* ts)
    int CLOCK_REALTIME
    int CLOCK_MONOTONIC

from cpython.dict cimport PyDict_GetItem
from cpython.long cimport PyLong_FromLongLong


cdef class FrameStamp:
    """``stamp(conn, text)``: ``Recorder.on_frame`` for connections already indexed.

    Queues ``(index, text, time.time_ns(), time.monotonic_ns())`` with ``put`` (the same
    clocks: ``CLOCK_REALTIME`` and ``CLOCK_MONOTONIC``); a connection not in ``conns``
    yet goes to ``fallback`` (the reference method, which indexes it).
    """

    cdef dict conns
    cdef object put
    cdef object fallback

    def __init__(self, dict conns, put, fallback):
        self.conns = conns
        self.put = put
        self.fallback = fallback

    def __call__(self, conn, text):
        cdef timespec wall, mono
        found = PyDict_GetItem(self.conns, conn)
        if found is NULL:
            return self.fallback(conn, text)
        clock_gettime(CLOCK_REALTIME, &wall)
        clock_gettime(CLOCK_MONOTONIC, &mono)
        self.put((<object> found, text,
                  PyLong_FromLongLong(<int64_t> wall.tv_sec * 1000000000 + wall.tv_nsec),
                  PyLong_FromLongLong(<int64_t> mono.tv_sec * 1000000000 + mono.tv_nsec)))


cdef struct Buffer:
    char* data
    Py_ssize_t size
    Py_ssize_t cap


cdef int _reserve(Buffer* b, Py_ssize_t more) except -1:
    cdef Py_ssize_t cap = b.cap
    cdef char* data
    if b.size + more <= cap:
        return 0
    if cap < 65536:
        cap = 65536
    while cap < b.size + more:
        cap *= 2
    data = <char*> realloc(b.data, cap)
    if data is NULL:
        raise MemoryError()
    b.data = data
    b.cap = cap
    return 0


cdef inline void _int(Buffer* b, int64_t value) noexcept:
    """``value`` in decimal (room was reserved: at most 20 characters)."""
    cdef char[24] digits
    cdef int n = 0
    cdef unsigned long long v
    if value < 0:
        b.data[b.size] = 45  # "-"
        b.size += 1
        v = <unsigned long long> (-(value + 1)) + 1
    else:
        v = <unsigned long long> value
    while True:
        digits[n] = <char> (48 + v % 10)
        n += 1
        v //= 10
        if v == 0:
            break
    while n:
        n -= 1
        b.data[b.size] = digits[n]
        b.size += 1


def pack_frames(popleft, append, int64_t pw, int64_t pm):
    """Pack queued frames until the queue is empty or holds something else.

    ``popleft()`` gives the next queued item (IndexError: empty); frame items are
    ``(conn, text, wall_ns, mono_ns)``. The packed records are handed to ``append`` as
    one bytes object (nothing when there were none). ``pw``/``pm``: the wall and
    monotonic times the first record's differences are taken from. Returns
    ``(pw, pm, frames, frame_bytes, item)``: ``item`` is the item that stopped it
    (popped, not written), None when the queue ran out.
    """
    cdef Buffer b
    cdef Py_ssize_t frames = 0, total = 0, n
    cdef const char* data
    cdef char kind
    cdef int64_t conn, wall, mono
    cdef PyObject* text
    b.data = NULL
    b.size = 0
    b.cap = 0
    item = None
    try:
        while True:
            try:
                item = popleft()
            except IndexError:
                item = None
                break
            if type(item) is not tuple or PyTuple_GET_SIZE(item) != 4:
                break
            if (not PyLong_CheckExact(<object> PyTuple_GET_ITEM(item, 0))
                    or not PyLong_CheckExact(<object> PyTuple_GET_ITEM(item, 2))
                    or not PyLong_CheckExact(<object> PyTuple_GET_ITEM(item, 3))):
                break
            text = PyTuple_GET_ITEM(item, 1)
            if PyUnicode_CheckExact(<object> text):
                data = PyUnicode_AsUTF8AndSize(<object> text, &n)
                kind = 70  # "F"
            elif PyBytes_CheckExact(<object> text):
                data = PyBytes_AS_STRING(<object> text)
                n = PyBytes_GET_SIZE(<object> text)
                kind = 66  # "B"
            else:
                break
            conn = PyLong_AsLongLong(<object> PyTuple_GET_ITEM(item, 0))
            wall = PyLong_AsLongLong(<object> PyTuple_GET_ITEM(item, 2))
            mono = PyLong_AsLongLong(<object> PyTuple_GET_ITEM(item, 3))
            _reserve(&b, n + 96)
            b.data[b.size] = kind
            b.size += 1
            _int(&b, conn)
            b.data[b.size] = 32
            b.size += 1
            _int(&b, n)
            b.data[b.size] = 32
            b.size += 1
            _int(&b, wall - pw)
            b.data[b.size] = 32
            b.size += 1
            _int(&b, mono - pm)
            b.data[b.size] = 10
            b.size += 1
            memcpy(b.data + b.size, data, n)
            b.size += n
            b.data[b.size] = 10
            b.size += 1
            pw = wall
            pm = mono
            frames += 1
            total += n
        if b.size:
            append(PyBytes_FromStringAndSize(b.data, b.size))
    finally:
        free(b.data)
    return pw, pm, frames, total, item
