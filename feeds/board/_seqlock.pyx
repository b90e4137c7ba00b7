# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The board's memory primitives in C: a mapped region, seqlock writes and reads with
real barriers, and futex waits (Linux).

The ordering is C11's (GCC/Clang ``__atomic`` builtins), so it holds on every CPU the
compiler targets, not only on x86's strong model. A slot is ``seq`` (u64), ``waiters``
(u32), 4 bytes of padding, then its payload:

- writer: ``seq.store(s + 1, relaxed); fence(release); memcpy(payload);
  seq.store(s + 2, release)``, then, after a ``seq_cst`` fence, a ``FUTEX_WAKE`` on the
  low half of ``seq`` if ``waiters`` is not zero;
- reader: ``s1 = seq.load(acquire)`` (odd: a write is under way, try again);
  ``memcpy(copy, payload)``; ``fence(acquire)``; ``s2 = seq.load(relaxed)``; the copy
  is consistent when ``s1 == s2`` (Boehm, "Can seqlocks get along with programming
  language memory models?", 2012);
- waiter: ``waiters += 1`` (``seq_cst``), then ``FUTEX_WAIT`` on the low half of
  ``seq`` while it still holds the value last seen (the kernel compares atomically, so
  a write between the check and the sleep is never missed), then ``waiters -= 1``.

Nothing here knows the board's layout beyond a slot's first 16 bytes: offsets come
from :mod:`feeds.board.layout`.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcpy

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    #include <errno.h>
    #include <time.h>
    #include <sched.h>
    #include <sys/mman.h>
    #include <unistd.h>
    #ifdef __linux__
    #include <linux/futex.h>
    #include <sys/syscall.h>
    #include <limits.h>
    #endif
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    #define WB_LOW_HALF 4
    #else
    #define WB_LOW_HALF 0
    #endif

    static inline uint64_t wb_load_acquire(const void *p) {
        return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE);
    }
    static inline uint64_t wb_load_relaxed(const void *p) {
        return __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
    }
    static inline void wb_store_release(void *p, uint64_t v) {
        __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE);
    }
    static inline uint32_t wb_add32(void *p, int32_t d) {
        return __atomic_add_fetch((uint32_t *)p, (uint32_t)d, __ATOMIC_SEQ_CST);
    }
    static inline uint32_t wb_load32(const void *p) {
        return __atomic_load_n((const uint32_t *)p, __ATOMIC_SEQ_CST);
    }

    /* Seqlock write of n bytes at seq + 16; returns the new (even) sequence. */
    static inline uint64_t wb_write(unsigned char *seq, const char *data, size_t n) {
        uint64_t s = __atomic_load_n((uint64_t *)seq, __ATOMIC_RELAXED);
        if (s & 1) s += 1;  /* a writer killed mid-write left it odd: start from even */
        __atomic_store_n((uint64_t *)seq, s + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        memcpy(seq + 16, data, n);
        __atomic_store_n((uint64_t *)seq, s + 2, __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    #ifdef __linux__
        if (__atomic_load_n((uint32_t *)(seq + 8), __ATOMIC_RELAXED)) {
            syscall(SYS_futex, (uint32_t *)(seq + WB_LOW_HALF), FUTEX_WAKE, INT_MAX,
                    NULL, NULL, 0);
        }
    #endif
        return s + 2;
    }

    /* Seqlock read: copy head bytes, then the text whose length is the u32 at
       head + len_at... no: at out + len_at, bounded by cap; 0 on success. */
    static inline int wb_read(const unsigned char *seq, char *out, size_t head,
                              size_t len_at, size_t cap, int retries, uint64_t *seen,
                              size_t *total) {
        int attempt;
        for (attempt = 0; attempt < retries; attempt++) {
            uint64_t s1 = __atomic_load_n((const uint64_t *)seq, __ATOMIC_ACQUIRE);
            if (s1 & 1) {
                if (attempt >= 32) sched_yield();
                continue;
            }
            memcpy(out, seq + 16, head);
            uint32_t n;
            memcpy(&n, out + len_at, 4);
            if (n > cap) n = (uint32_t)cap;  /* torn: the check below refuses it */
            memcpy(out + head, seq + 16 + head, n);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            uint64_t s2 = __atomic_load_n((const uint64_t *)seq, __ATOMIC_RELAXED);
            if (s1 == s2) {
                *seen = s1;
                *total = head + n;
                return 0;
            }
            if (attempt >= 32) sched_yield();
        }
        return -1;
    }

    /* Wait until the u64 at seq is no longer `seen` or timeout_ns passed (<0: forever).
       Returns 1 if it changed, 0 on timeout. */
    static int wb_wait(unsigned char *seq, uint64_t seen, int64_t timeout_ns) {
        struct timespec start, now, left;
        int changed = 0;
        clock_gettime(CLOCK_MONOTONIC, &start);
        __atomic_add_fetch((uint32_t *)(seq + 8), 1, __ATOMIC_SEQ_CST);
        for (;;) {
            uint64_t cur = __atomic_load_n((uint64_t *)seq, __ATOMIC_SEQ_CST);
            if (cur != seen) { changed = 1; break; }
            int64_t waited;
            clock_gettime(CLOCK_MONOTONIC, &now);
            waited = (int64_t)(now.tv_sec - start.tv_sec) * 1000000000LL
                     + (now.tv_nsec - start.tv_nsec);
            if (timeout_ns >= 0 && waited >= timeout_ns) break;
            int64_t rest = timeout_ns >= 0 ? timeout_ns - waited : 1000000000LL;
            /* wake at least every 100 ms to notice an engine that died (no wake) */
            if (rest > 100000000LL) rest = 100000000LL;
            left.tv_sec = rest / 1000000000LL;
            left.tv_nsec = rest % 1000000000LL;
    #ifdef __linux__
            syscall(SYS_futex, (uint32_t *)(seq + WB_LOW_HALF), FUTEX_WAIT,
                    (uint32_t)(cur >> (WB_LOW_HALF ? 32 : 0)) , &left, NULL, 0);
    #else
            if (rest > 200000LL) { left.tv_sec = 0; left.tv_nsec = 200000L; }
            nanosleep(&left, NULL);
    #endif
        }
        __atomic_sub_fetch((uint32_t *)(seq + 8), 1, __ATOMIC_SEQ_CST);
        return changed;
    }

    static inline int64_t wb_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }

    static void *wb_map(int fd, size_t size) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    """
    uint64_t wb_load_acquire(const void *p) nogil
    void wb_store_release(void *p, uint64_t v) nogil
    uint32_t wb_add32(void *p, int d) nogil
    uint32_t wb_load32(const void *p) nogil
    uint64_t wb_write(unsigned char *seq, const char *data, size_t n) nogil
    int wb_read(const unsigned char *seq, char *out, size_t head, size_t len_at, size_t cap,
                int retries, uint64_t *seen, size_t *total) nogil
    int wb_wait(unsigned char *seq, uint64_t seen, int64_t timeout_ns) nogil
    int64_t wb_now_ns() nogil
    void *wb_map(int fd, size_t size) nogil
    int munmap(void *addr, size_t length) nogil
    int errno

#: The futex is Linux's; elsewhere a wait sleeps in 200 us steps.
#: (The seqlock itself is portable C11.)
SLOT_PREFIX = 16


def now_ns() -> int:
    """``CLOCK_MONOTONIC`` in nanoseconds (``time.monotonic_ns()`` on Linux)."""
    return wb_now_ns()


cdef class Region:
    """A shared mapping of ``size`` bytes of the open file ``fd`` (read and write).

    The region does not own ``fd`` (the caller closes it; the mapping outlives it).
    Offsets are checked against the size; every u64 offset must be 8-aligned.
    """

    cdef unsigned char *base
    cdef readonly Py_ssize_t size
    cdef char *scratch
    cdef bytearray scratch_owner

    def __cinit__(self, int fd, Py_ssize_t size):
        if size <= 0:
            raise ValueError("region size must be positive")
        self.base = <unsigned char *>wb_map(fd, <size_t>size)
        if self.base == NULL:
            raise OSError(errno, "mmap of the board failed")
        self.size = size
        self.scratch_owner = bytearray(65536)
        self.scratch = <char *>self.scratch_owner

    def __dealloc__(self):
        if self.base != NULL:
            munmap(self.base, <size_t>self.size)
            self.base = NULL

    def close(self) -> None:
        """Unmap (later calls raise ``ValueError``)."""
        if self.base != NULL:
            munmap(self.base, <size_t>self.size)
            self.base = NULL

    cdef inline unsigned char *at(self, Py_ssize_t off, Py_ssize_t n) except NULL:
        if self.base == NULL:
            raise ValueError("the board region is closed")
        if off < 0 or n < 0 or off + n > self.size or off & 7:
            raise ValueError(f"bad board offset {off} (+{n}) in a region of {self.size}")
        return self.base + off

    def load(self, Py_ssize_t off) -> int:
        """The u64 at ``off`` (acquire)."""
        return wb_load_acquire(self.at(off, 8))

    def store(self, Py_ssize_t off, uint64_t value) -> None:
        """Store the u64 ``value`` at ``off`` (release)."""
        wb_store_release(self.at(off, 8), value)

    def get(self, Py_ssize_t off, Py_ssize_t n) -> bytes:
        """A plain copy of ``n`` bytes at ``off`` (for fields written once, before use)."""
        if self.base == NULL:
            raise ValueError("the board region is closed")
        if off < 0 or n < 0 or off + n > self.size:
            raise ValueError(f"bad board range {off}+{n}")
        return PyBytes_FromStringAndSize(<char *>self.base + off, n)

    def put(self, Py_ssize_t off, const unsigned char[::1] data) -> None:
        """A plain write of ``data`` at ``off`` (fields written before anyone reads them)."""
        cdef Py_ssize_t n = data.shape[0]
        if self.base == NULL:
            raise ValueError("the board region is closed")
        if off < 0 or off + n > self.size:
            raise ValueError(f"bad board range {off}+{n}")
        if n:
            memcpy(self.base + off, &data[0], n)

    def waiters(self, Py_ssize_t off) -> int:
        """The waiter count of the slot at ``off``."""
        return wb_load32(self.at(off, 16) + 8)

    def write(self, Py_ssize_t off, const unsigned char[::1] data, Py_ssize_t n=-1) -> int:
        """Seqlock-write the first ``n`` bytes of ``data`` (all if -1) as the payload of
        the slot at ``off``; wakes its waiters; returns the slot's new sequence number."""
        if n < 0:
            n = data.shape[0]
        if n > data.shape[0]:
            raise ValueError("n beyond the data")
        cdef unsigned char *seq = self.at(off, SLOT_PREFIX + n)
        cdef const char *src = <const char *>&data[0] if n else <const char *>self.scratch
        return wb_write(seq, src, <size_t>n)

    def read(self, Py_ssize_t off, Py_ssize_t head, Py_ssize_t len_at, Py_ssize_t cap,
             int retries=1000):
        """A consistent copy of the slot at ``off``: ``(sequence, payload bytes)``, or
        ``None`` when none was found in ``retries`` attempts.

        The payload is ``head`` bytes, then as many text bytes as the u32 at
        ``len_at`` (inside the head) says, at most ``cap``.
        """
        cdef uint64_t seen = 0
        cdef size_t total = 0
        cdef unsigned char *seq = self.at(off, SLOT_PREFIX + head + cap)
        if head + cap > len(self.scratch_owner) or len_at + 4 > head:
            raise ValueError("slot larger than the read buffer")
        if wb_read(seq, self.scratch, <size_t>head, <size_t>len_at, <size_t>cap, retries,
                   &seen, &total):
            return None
        return seen, PyBytes_FromStringAndSize(self.scratch, <Py_ssize_t>total)

    def wait(self, Py_ssize_t off, uint64_t seen, double timeout) -> bool:
        """Block (GIL released, no spinning) until the sequence of the slot at ``off`` is
        not ``seen``, or ``timeout`` seconds passed (negative: no limit). True if it moved."""
        cdef unsigned char *seq = self.at(off, SLOT_PREFIX)
        cdef int64_t ns = -1 if timeout < 0 else <int64_t>(timeout * 1e9)
        cdef int changed
        with nogil:
            changed = wb_wait(seq, seen, ns)
        return bool(changed)


# -- the writer's level encoding -----------------------------------------------------------

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL

cdef object _number_text = None
cdef Py_ssize_t TEXTS_MAX = 1 << 16


def configure(number_text) -> None:
    """``number_text(value)``: the exact spelling of a stored price key or quantity
    (:func:`orderbook.book.number_text`)."""
    global _number_text
    _number_text = number_text


cdef inline object _text(object value, dict cache):
    cdef PyObject *hit
    if type(value) is str:
        return value  # the exchange's own spelling
    if type(value) is float:  # cached by value: a float's spelling is its repr
        hit = PyDict_GetItem(cache, value)
        if hit != NULL:
            return <object>hit
        if len(cache) >= TEXTS_MAX:
            cache.clear()
        text = _number_text(value)
        cache[value] = text
        return text
    return _number_text(value)  # a long Decimal key: its own str, never cached


cdef inline Py_ssize_t _put(char *buf, Py_ssize_t at, Py_ssize_t cap, object text) except -2:
    cdef Py_ssize_t n
    cdef const char *p = PyUnicode_AsUTF8AndSize(text, &n)
    if at + n + 1 > cap:
        return -1
    memcpy(buf + at, p, n)
    buf[at + n] = 32  # b" "
    return at + n + 1


def encode_levels(object bids, object asks, int levels, dict cache, bytearray out,
                  Py_ssize_t start, Py_ssize_t cap):
    """Write the top ``levels`` of ``bids`` (a ``SortedDict``, best last) and ``asks`` (best
    first) as ``price qty price qty ...`` (bids best first, then asks) into
    ``out[start:start + cap]``; ``(bids, asks, length)``, or ``None`` if they do not fit.

    The spellings are ``str`` quantities as stored, else ``number_text`` (floats cached
    by value in ``cache``): the same text ``orderbook.book.number_text`` gives, so
    ``Decimal(text)`` is the level's exact value, as the in-process view has it.
    """
    if _number_text is None:
        raise RuntimeError("encode_levels: configure() first")
    if start < 0 or cap < 0 or start + cap > PyByteArray_GET_SIZE(out):
        raise ValueError("encode_levels: out is too small")
    cdef char *buf = PyByteArray_AS_STRING(out) + start
    cdef Py_ssize_t at = 0
    cdef int nb = 0, na = 0
    cdef PyObject *qty
    if levels > 0:
        for key in reversed(bids):
            qty = PyDict_GetItem(bids, key)
            if qty == NULL:
                raise KeyError(key)
            at = _put(buf, at, cap, _text(key, cache))
            if at < 0:
                return None
            at = _put(buf, at, cap, _text(<object>qty, cache))
            if at < 0:
                return None
            nb += 1
            if nb >= levels:
                break
        for key in asks:
            qty = PyDict_GetItem(asks, key)
            if qty == NULL:
                raise KeyError(key)
            at = _put(buf, at, cap, _text(key, cache))
            if at < 0:
                return None
            at = _put(buf, at, cap, _text(<object>qty, cache))
            if at < 0:
                return None
            na += 1
            if na >= levels:
                break
    return nb, na, (at - 1 if at else 0)
