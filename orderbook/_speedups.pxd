# The C-level entry points of orderbook._speedups for other compiled modules (cimport).
#
# A raw depth_update push is scanned once (scan_frame), then applied to a book in the
# hot case (apply_scanned), with the same effects as BookSync.on_frame; see the section
# "raw frames straight to the book" in _speedups.pyx.

from libc.stdint cimport int64_t


cdef struct Span:
    Py_ssize_t start
    Py_ssize_t end


cdef struct Scan:
    const unsigned char* s
    Py_ssize_t n
    Py_ssize_t pos
    # what was found
    int have_topic, have_data, have_s, have_a, have_b
    int have_fi, have_i, have_pu, have_fu, have_u
    Span symbol
    int64_t fi, i, pu, fu, u
    Span* levels      # price, qty spans, in frame order
    Py_ssize_t n_levels, cap_levels
    Py_ssize_t a_start, a_end, b_start, b_end


cdef int scan_frame(Scan* sc, const unsigned char* data, Py_ssize_t size, bint spot) noexcept nogil
cdef int frame_plain(Scan* sc) noexcept nogil
cdef int take_scan(object raw, Scan* out) noexcept
cdef int plain_price(const unsigned char* s, Py_ssize_t n, double* out) noexcept nogil
cdef int apply_scanned(object sync, Scan* sc, bint spot) except -1
cdef object finish_crossed(object sync, object raw)
