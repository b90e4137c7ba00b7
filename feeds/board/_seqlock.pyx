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

from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
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

    /* Seqlock write of ``h`` bytes of ``head`` then ``n`` bytes of ``text`` at seq + 16;
       returns the new (even) sequence. */
    static inline uint64_t wb_write2(unsigned char *seq, const char *head, size_t h,
                                     const char *text, size_t n) {
        uint64_t s = __atomic_load_n((uint64_t *)seq, __ATOMIC_RELAXED);
        if (s & 1) s += 1;  /* a writer killed mid-write left it odd: start from even */
        __atomic_store_n((uint64_t *)seq, s + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        memcpy(seq + 16, head, h);
        if (n) memcpy(seq + 16 + h, text, n);
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

    /* The same, of one piece: n bytes of data. */
    static inline uint64_t wb_write(unsigned char *seq, const char *data, size_t n) {
        return wb_write2(seq, data, n, NULL, 0);
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
    static inline void wb_relax(void) {
    #if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
    #elif defined(__aarch64__)
        __asm__ __volatile__("yield");
    #endif
    }

    /* Poll the u64 at seq for up to spin_ns (no syscall: for a reader with a core of its
       own); 1 if it is no longer `seen`. */
    static int wb_spin(unsigned char *seq, uint64_t seen, int64_t spin_ns) {
        struct timespec start, now;
        unsigned int round = 0;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            if (__atomic_load_n((uint64_t *)seq, __ATOMIC_ACQUIRE) != seen) return 1;
            wb_relax();
            if ((++round & 63) == 0) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                if ((int64_t)(now.tv_sec - start.tv_sec) * 1000000000LL
                        + (now.tv_nsec - start.tv_nsec) >= spin_ns) return 0;
            }
        }
    }

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
    uint64_t wb_write2(unsigned char *seq, const char *head, size_t h, const char *text,
                       size_t n) nogil
    int wb_read(const unsigned char *seq, char *out, size_t head, size_t len_at, size_t cap,
                int retries, uint64_t *seen, size_t *total) nogil
    int wb_wait(unsigned char *seq, uint64_t seen, int64_t timeout_ns) nogil
    int wb_spin(unsigned char *seq, uint64_t seen, int64_t spin_ns) nogil
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

    def wait(self, Py_ssize_t off, uint64_t seen, double timeout, double spin=0.0) -> bool:
        """Block (GIL released) until the sequence of the slot at ``off`` is not ``seen``,
        or ``timeout`` seconds passed (negative: no limit). True if it moved.

        ``spin``: first poll for up to that many seconds (a core busy, no syscall: the
        lowest latency, for a reader with a core of its own), then sleep in a futex wait.
        """
        cdef unsigned char *seq = self.at(off, SLOT_PREFIX)
        cdef int64_t ns = -1 if timeout < 0 else <int64_t>(timeout * 1e9)
        cdef int64_t spin_ns = <int64_t>(spin * 1e9) if spin > 0 else 0
        cdef int changed = 0
        if ns >= 0 and spin_ns > ns:
            spin_ns = ns
        with nogil:
            if spin_ns > 0:
                changed = wb_spin(seq, seen, spin_ns)
                if ns >= 0:
                    ns -= spin_ns
            if not changed and ns != 0:
                changed = wb_wait(seq, seen, ns)
        return bool(changed)


# -- the writer's level encoding -----------------------------------------------------------

from cpython.bytearray cimport PyByteArray_AS_STRING
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


# -- the writer's publish, in one call -------------------------------------------------------

from itertools import islice as _islice

cimport cython
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc

cdef extern from *:
    """
    static inline void wb_le(char *p, uint64_t v, int n) {
        int i;
        for (i = 0; i < n; i++) p[i] = (char)(v >> (8 * i));
    }
    """
    void wb_le(char *p, uint64_t v, int n) nogil

# The payload head (``layout.PAYLOAD_HEAD``, ``<qQdqBBHHHI``): its fields' offsets.
cdef enum:
    P_UPDATE = 0
    P_GENERATION = 8
    P_EVENT = 16
    P_PUBLISH = 24
    P_STATE = 32
    P_CAUSE = 33
    P_REASON = 34
    P_BIDS = 36
    P_ASKS = 38
    P_TEXT = 40
#: Bytes of the payload head (``layout.PAYLOAD_HEAD.size``).
PAYLOAD_HEAD_SIZE = 44

cdef object _sorted_dict = None


def configure_sides(sorted_dict) -> None:
    """``sorted_dict``: the ``SortedDict`` type whose sorted keys :class:`Publisher` walks
    directly (its ``_list._lists``, checked against a plain walk by the tests)."""
    global _sorted_dict
    _sorted_dict = sorted_dict


cdef extern from *:
    """
    /* Borrowed-reference helpers: the walk compares and copies without touching a
       refcount (a refcount write dirties the object's cache line). */
    static inline PyObject *wb_dict_get(PyObject *d, PyObject *k) {
        return PyDict_GetItem(d, k);
    }
    static inline int wb_is_float(PyObject *o) { return PyFloat_CheckExact(o); }
    static inline int wb_is_ascii_str(PyObject *o) {
        return PyUnicode_CheckExact(o) && PyUnicode_IS_COMPACT_ASCII(o);
    }
    static inline uint64_t wb_float_bits(PyObject *o) {
        double d = PyFloat_AS_DOUBLE(o);
        uint64_t b;
        memcpy(&b, &d, 8);
        return b;
    }
    static inline double wb_float_value(PyObject *o) { return PyFloat_AS_DOUBLE(o); }
    static inline const char *wb_ascii(PyObject *o, Py_ssize_t *n) {
        *n = PyUnicode_GET_LENGTH(o);
        return (const char *)PyUnicode_DATA(o);
    }
    """
    PyObject *wb_dict_get(PyObject *d, PyObject *k)
    int wb_is_float(PyObject *o) nogil
    int wb_is_ascii_str(PyObject *o) nogil
    uint64_t wb_float_bits(PyObject *o) nogil
    const char *wb_ascii(PyObject *o, Py_ssize_t *n) nogil
    double wb_float_value(PyObject *o) nogil


cdef struct LevelMemo:
    # What the last publish of a slot wrote at one level: the bits of a float price key
    # and quantity (``kfloat``/``qfloat`` 0 when they were not floats) and where their
    # spellings lie in that publish's text.
    uint64_t kbits
    uint64_t qbits
    Py_ssize_t koff
    Py_ssize_t klen
    Py_ssize_t qoff
    Py_ssize_t qlen
    char kfloat
    char qfloat


cdef class SlotMemo:
    """One slot's last publish, kept by the writer: its text and, per level, the price and
    quantity it spelled (two buffers, swapped at every publish: the walk reads the last
    one while it writes the next).

    A float's spelling (``repr``) depends on its value alone, so a level whose price (or
    quantity) has the same bits as a level of the last publish, at the same place or one
    place off (an insert or a delete above shifts the levels), copies that spelling from
    the last text: no Python object is made or looked up. The memo holds no references:
    it compares values, never addresses.
    """

    cdef LevelMemo *memo[2]
    cdef char *text[2]
    cdef int count[2][2]  # [buffer][side]: levels valid in that buffer
    cdef int cur
    cdef int levels
    cdef Py_ssize_t cap
    # The last publish, for the patch path (Publisher.on_depth): it held a LIVE book's
    # levels (``valid``) of ``book`` (a sync's Book) at ``generation`` and update ``last_u``;
    # ``more[side]``: that side may hold levels beyond the ones kept.
    cdef int valid
    cdef object book
    cdef long long generation
    cdef long long last_u
    cdef int more[2]

    def __cinit__(self, int levels, Py_ssize_t cap):
        cdef int b
        self.levels = levels
        self.cap = cap
        self.cur = 0
        for b in range(2):
            self.memo[b] = <LevelMemo *>PyMem_Malloc(sizeof(LevelMemo) * (2 * levels + 1))
            self.text[b] = <char *>PyMem_Malloc(cap + 1)
            if self.memo[b] == NULL or self.text[b] == NULL:
                raise MemoryError()
            self.count[b][0] = self.count[b][1] = 0

    def __dealloc__(self):
        cdef int b
        for b in range(2):
            PyMem_Free(self.memo[b])
            PyMem_Free(self.text[b])

    cdef inline void forget(self):
        self.count[0][0] = self.count[0][1] = self.count[1][0] = self.count[1][1] = 0
        self.valid = 0
        self.book = None


cdef inline const LevelMemo *_same_price(const LevelMemo *last, int last_n, int n,
                                        uint64_t bits) noexcept:
    """The level of the last publish, at ``n`` or one off, whose float price has ``bits``."""
    if n < last_n and last[n].kfloat and last[n].kbits == bits:
        return &last[n]
    if 0 < n and n - 1 < last_n and last[n - 1].kfloat and last[n - 1].kbits == bits:
        return &last[n - 1]
    if n + 1 < last_n and last[n + 1].kfloat and last[n + 1].kbits == bits:
        return &last[n + 1]
    return NULL


cdef inline Py_ssize_t _copy(char *buf, Py_ssize_t at, Py_ssize_t cap, const char *src,
                             Py_ssize_t n) noexcept:
    if at + n + 1 > cap:
        return -1
    memcpy(buf + at, src, n)
    buf[at + n] = 32  # b" "
    return at + n + 1


cdef inline Py_ssize_t _spell(char *buf, Py_ssize_t at, Py_ssize_t cap, PyObject *value,
                              dict cache) except -2:
    """Write ``value``'s exact spelling (a str as stored, else :func:`_text`)."""
    cdef Py_ssize_t n
    cdef const char *p
    if wb_is_ascii_str(value):
        p = wb_ascii(value, &n)
        return _copy(buf, at, cap, p, n)
    return _put(buf, at, cap, _text(<object>value, cache))


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline Py_ssize_t _walk(object side, list lists, bint best_last, int levels, dict cache,
                             char *buf, Py_ssize_t at, Py_ssize_t cap, int *count,
                             const LevelMemo *last, int last_n, const char *last_text,
                             LevelMemo *now) except -2:
    """Write up to ``levels`` ``price qty`` pairs of ``side`` (its keys are the sorted
    ``lists``, best first, or best last when ``best_last``) from ``buf + at``, noting each
    level in ``now``; the new ``at``, or -1 if they do not fit.

    ``last`` (``last_n`` levels of this side) and ``last_text`` are the slot's last
    publish (see :class:`SlotMemo`): a float whose bits match there lends its spelling.
    """
    cdef Py_ssize_t nsub = len(lists), s, j, size, start
    cdef PyObject *sub
    cdef PyObject *key
    cdef PyObject *qty
    cdef int n = 0, m
    cdef const LevelMemo *hit
    cdef LevelMemo *note
    cdef uint64_t bits
    if levels <= 0:
        count[0] = 0
        return at
    for s in range(nsub):
        sub = PyList_GET_ITEM(lists, nsub - 1 - s if best_last else s)
        size = PyList_GET_SIZE(<object>sub)
        for j in range(size):
            key = PyList_GET_ITEM(<object>sub, size - 1 - j if best_last else j)
            qty = wb_dict_get(<PyObject *>side, key)
            if qty == NULL:
                raise KeyError(<object>key)
            note = &now[n]
            hit = NULL
            # the price: its spelling from the last publish, at this level or one off
            note.kfloat = wb_is_float(key)
            if note.kfloat:
                bits = note.kbits = wb_float_bits(key)
                hit = _same_price(last, last_n, n, bits)
            start = at
            if hit != NULL:
                at = _copy(buf, at, cap, last_text + hit.koff, hit.klen)
            else:
                at = _spell(buf, at, cap, key, cache)
            if at < 0:
                return -1
            note.koff = start
            note.klen = at - 1 - start
            # the quantity: a str as stored; a float's spelling from the same level's last
            note.qfloat = wb_is_float(qty)
            start = at
            if note.qfloat:
                bits = note.qbits = wb_float_bits(qty)
                if hit != NULL and hit.qfloat and hit.qbits == bits:
                    at = _copy(buf, at, cap, last_text + hit.qoff, hit.qlen)
                else:
                    at = _spell(buf, at, cap, qty, cache)
            else:
                at = _spell(buf, at, cap, qty, cache)
            if at < 0:
                return -1
            note.qoff = start
            note.qlen = at - 1 - start
            n += 1
            if n >= levels:
                count[0] = n
                return at
    count[0] = n
    return at


cdef inline list _sorted_lists(object side, int levels, bint best_last):
    """The sorted keys of ``side`` as a list of sorted lists: a ``SortedDict``'s own
    (no copy), else the top ``levels`` in a list (``[[...]]``, best first)."""
    cdef object inner
    if _sorted_dict is not None and type(side) is _sorted_dict:
        inner = getattr(getattr(side, "_list"), "_lists", None)
        if type(inner) is list:
            return <list>inner
    top = list(_islice(reversed(side) if best_last else iter(side), levels))
    if best_last:
        top.reverse()
    return [top]


# -- the writer's patch path: an applied frame's levels onto the last publish ----------------

from orderbook._speedups cimport Scan, frame_plain, plain_price, scan_frame, take_scan
from libc.stdlib cimport free
from libc.string cimport memcmp, memmove, memset, strlen

cdef extern from "Python.h":
    char *PyOS_double_to_string(double val, char format_code, int precision, int flags,
                                int *ptype) except NULL
    int Py_DTSF_ADD_DOT_0
    Py_ssize_t PyDict_Size(object d)


cdef struct Entry:
    # One level of a side being patched: its price key and where its spellings lie (in
    # the last text, the frame, or the scratch buffer).
    double price
    const char *p
    Py_ssize_t plen
    const char *q
    Py_ssize_t qlen


cdef object _spot_venue = None


def configure_venues(spot) -> None:
    """``spot``: the venue whose frames carry ``fi``/``i`` (the others ``pu``/``fu``/``u``)."""
    global _spot_venue
    _spot_venue = spot


cdef struct Spelling:
    # One entry of the direct-mapped cache of price spellings (``repr`` of a double).
    uint64_t bits
    unsigned char length  # 0: empty
    char text[31]


cdef enum:
    SPELLINGS = 4096  # entries (a power of two): 160 KiB


cdef Spelling *_spellings = <Spelling *>PyMem_Malloc(sizeof(Spelling) * SPELLINGS)
if _spellings == NULL:
    raise MemoryError()
memset(_spellings, 0, sizeof(Spelling) * SPELLINGS)


cdef inline Py_ssize_t _repr_into(double d, char *out, Py_ssize_t room) except -2:
    """``repr(d)`` (what ``number_text`` gives a float key) into ``out``; its length, or -1
    if it does not fit. Spellings are remembered by the double's bits in a direct-mapped
    cache (prices near the top recur all the time)."""
    cdef uint64_t bits
    memcpy(&bits, &d, 8)
    cdef Spelling *hit = &_spellings[((bits * <uint64_t>0x9E3779B97F4A7C15) >> 52) & (SPELLINGS - 1)]
    cdef char *text
    cdef Py_ssize_t n
    if hit.length and hit.bits == bits:
        n = hit.length
        if n > room:
            return -1
        memcpy(out, hit.text, n)
        return n
    text = PyOS_double_to_string(d, b"r", 0, Py_DTSF_ADD_DOT_0, NULL)
    n = strlen(text)
    if n <= 31:
        hit.bits = bits
        hit.length = <unsigned char>n
        memcpy(hit.text, text, n)
    if n > room:
        PyMem_Free(text)
        return -1
    memcpy(out, text, n)
    PyMem_Free(text)
    return n


cdef int _patch_side(Entry *ent, int *count, int levels, int *more, bint bids, Scan *sc,
                     Py_ssize_t start, Py_ssize_t end, char *scratch, Py_ssize_t *used,
                     Py_ssize_t cap) except -2:
    """Apply the frame's levels ``[start, end)`` (price, quantity spans, in frame order) to
    one side's kept levels ``ent[:count]`` (best first) as the book applied them; 1 if the
    side must be refilled from the book (a level left the top and others may lie
    beyond), 0 if not, -1 if a spelling does not fit the scratch buffer."""
    cdef int m = count[0], lo, hi, mid, pos, refill = 0
    cdef Py_ssize_t j = start, qn, k, n
    cdef double d
    cdef const unsigned char *qs
    cdef bint zero
    while j < end:
        plain_price(sc.s + sc.levels[j].start, sc.levels[j].end - sc.levels[j].start, &d)
        qs = sc.s + sc.levels[j + 1].start
        qn = sc.levels[j + 1].end - sc.levels[j + 1].start
        zero = 1
        for k in range(qn):
            if 49 <= qs[k] <= 57:
                zero = 0
                break
        lo = 0
        hi = m
        while lo < hi:  # the first kept level not better than d
            mid = (lo + hi) >> 1
            if (ent[mid].price > d) if bids else (ent[mid].price < d):
                lo = mid + 1
            else:
                hi = mid
        pos = lo
        if pos < m and ent[pos].price == d:
            if zero:  # a kept level deleted
                memmove(&ent[pos], &ent[pos + 1], (m - pos - 1) * sizeof(Entry))
                m -= 1
                if more[0]:
                    refill = 1
            else:  # a kept level's new quantity
                ent[pos].q = <const char *>qs
                ent[pos].qlen = qn
        elif not zero:
            if pos < m or (pos == m < levels and not more[0]):
                # a new level within the top (or after the last of a side with no more)
                if m == levels:
                    m -= 1  # the last one leaves the top
                    more[0] = 1
                memmove(&ent[pos + 1], &ent[pos], (m - pos) * sizeof(Entry))
                n = _repr_into(d, scratch + used[0], cap - used[0])
                if n < 0:
                    return -1
                ent[pos].price = d
                ent[pos].p = scratch + used[0]
                ent[pos].plen = n
                ent[pos].q = <const char *>qs
                ent[pos].qlen = qn
                used[0] += n
                m += 1
            elif m < levels:
                refill = 1  # it may lie beyond levels not kept: the book says
            else:
                more[0] = 1  # a level beyond a full top: the side has more now
        # else: the deletion of a level not kept (beyond the top, or absent)
        j += 2
    count[0] = m
    return refill


cdef PyObject *_key_at(list lists, bint best_last, Py_ssize_t rank) noexcept:
    """The key at ``rank`` (0: the best) of a side's sorted sublists, or NULL."""
    cdef Py_ssize_t nsub = PyList_GET_SIZE(lists), s, size
    cdef PyObject *sub
    for s in range(nsub):
        sub = PyList_GET_ITEM(lists, nsub - 1 - s if best_last else s)
        size = PyList_GET_SIZE(<object>sub)
        if rank < size:
            return PyList_GET_ITEM(<object>sub, size - 1 - rank if best_last else rank)
        rank -= size
    return NULL


cdef int _refill(Entry *ent, int *count, int levels, int *more, object side, list lists,
                 bint best_last, dict cache, char *scratch, Py_ssize_t *used, Py_ssize_t cap,
                 list keep) except -2:
    """Fill ``ent[count:levels]`` from the book's side (the levels after the kept ones);
    0, or -1 if a key is not a float or a spelling does not fit."""
    cdef int m = count[0]
    cdef PyObject *key
    cdef PyObject *qty
    cdef Py_ssize_t n
    cdef const char *q
    while m < levels:
        key = _key_at(lists, best_last, m)
        if key == NULL:
            break
        if not wb_is_float(key):
            return -1
        qty = wb_dict_get(<PyObject *>side, key)
        if qty == NULL:
            return -1
        ent[m].price = wb_float_value(key)
        n = _repr_into(ent[m].price, scratch + used[0], cap - used[0])
        if n < 0:
            return -1
        ent[m].p = scratch + used[0]
        ent[m].plen = n
        used[0] += n
        if wb_is_ascii_str(qty):
            q = wb_ascii(qty, &n)
        else:
            text = _text(<object>qty, cache)
            keep.append(text)  # alive until the text is written
            q = PyUnicode_AsUTF8AndSize(text, &n)
        ent[m].q = q
        ent[m].qlen = n
        m += 1
    more[0] = m == levels
    count[0] = m
    return 0


cdef bint _agrees(Entry *ent, int m, int more, object side, list lists,
                  bint best_last) noexcept:
    """A cheap check of a patched side against the book: its size, best and last keys."""
    cdef Py_ssize_t size = PyDict_Size(side)
    cdef PyObject *key
    if size < 0:
        return False
    if (size < m) if more else (size != m):
        return False
    if m == 0:
        return True
    key = _key_at(lists, best_last, 0)
    if key == NULL or not wb_is_float(key) or wb_float_value(key) != ent[0].price:
        return False
    key = _key_at(lists, best_last, m - 1)
    return key != NULL and wb_is_float(key) and (
        wb_float_value(key) == ent[m - 1].price)


cdef class Publisher:
    """A board writer's publish, in one compiled call (see :mod:`feeds.board.writer`).

    ``publish(book, off)`` takes ``book.lock``, reads its sync (state, book, reason,
    update id, generation, event time, cause), encodes the top ``levels`` of a LIVE
    book's sides (the exact spellings ``orderbook.book.number_text`` gives), packs the
    payload head
    (``layout.PAYLOAD_HEAD``) and seqlock-writes the slot at ``off``: the same bytes the
    step-by-step path writes. ``states`` and ``causes`` map members to their codes
    (:mod:`feeds.status`); ``encode_reason(text)`` gives a reason's bytes.
    """

    cdef Region region
    cdef int levels
    cdef dict cache
    cdef bytearray buffer
    cdef Py_ssize_t head
    cdef Py_ssize_t cap
    cdef Py_ssize_t reason_at
    cdef Py_ssize_t reason_max
    cdef object live
    cdef int unfit
    cdef list state_members
    cdef list state_codes
    cdef list cause_members
    cdef list cause_codes
    cdef object encode_reason
    cdef object applied
    cdef dict offsets
    cdef SlotMemo scratch
    cdef Entry *ent
    cdef char *spell
    #: Publishes done; of them, applied frames patched onto the last publish, and
    #: patches refused by the check against the book (then walked).
    cdef readonly unsigned long long published
    cdef readonly unsigned long long patched
    cdef readonly unsigned long long patch_misses

    def __cinit__(self, Region region, int levels, dict cache, Py_ssize_t head,
                  Py_ssize_t cap, Py_ssize_t reason_max, object live, int unfit,
                  dict states, dict causes, object encode_reason, object applied):
        if head < PAYLOAD_HEAD_SIZE + reason_max or cap < 0:
            raise ValueError("Publisher: bad geometry")
        self.region = region
        self.levels = levels
        self.cache = cache
        self.buffer = bytearray(head + cap)
        self.head = head
        self.cap = cap
        self.reason_at = PAYLOAD_HEAD_SIZE
        self.reason_max = reason_max
        self.live = live
        self.unfit = unfit
        self.state_members = list(states)
        self.state_codes = [states[m] for m in self.state_members]
        self.cause_members = list(causes)
        self.cause_codes = [causes[m] for m in self.cause_members]
        self.encode_reason = encode_reason
        self.applied = applied
        self.offsets = {}
        self.scratch = SlotMemo(levels, cap)
        self.published = 0
        self.patched = 0
        self.patch_misses = 0
        self.ent = <Entry *>PyMem_Malloc(sizeof(Entry) * (2 * levels + 2))
        self.spell = <char *>PyMem_Malloc(cap + 1)
        if self.ent == NULL or self.spell == NULL:
            raise MemoryError()

    def __dealloc__(self):
        PyMem_Free(self.ent)
        PyMem_Free(self.spell)

    def add(self, object book, Py_ssize_t off) -> None:
        """Publish ``book`` at ``off`` from :meth:`on_depth` (the publisher keeps it)."""
        self.region.at(off, SLOT_PREFIX + self.head + self.cap)
        self.offsets[id(book)] = (book, off, SlotMemo(self.levels, self.cap))

    def on_depth(self, object book, object decision, object frame) -> bool:
        """The observer hook: publish ``book`` if ``decision`` is ``applied``. False when
        ``book`` was not :meth:`add`-ed (the caller publishes it its own way).

        An applied raw frame (``bytes`` or ASCII ``str``) is patched onto the slot's last
        publish when that is sound (:meth:`patch`); otherwise the top is walked afresh."""
        cdef PyObject *hit
        cdef SlotMemo memo
        cdef Py_ssize_t off
        if decision is not self.applied:
            return True
        hit = PyDict_GetItem(self.offsets, id(book))
        if hit == NULL or (<tuple><object>hit)[0] is not book:
            return False
        off = (<tuple><object>hit)[1]
        memo = <SlotMemo>(<tuple><object>hit)[2]
        if frame is None or not self._patch(book, off, memo, frame):
            self._publish(book, off, memo)
        return True

    cdef SlotMemo _memo(self, object book, Py_ssize_t off):
        """The memo of ``book``'s slot at ``off`` (``add``-ed), else None."""
        cdef PyObject *hit = PyDict_GetItem(self.offsets, id(book))
        if hit != NULL and (<tuple><object>hit)[0] is book and (<tuple><object>hit)[1] == off:
            return <SlotMemo>(<tuple><object>hit)[2]
        return None

    def patch(self, object book, Py_ssize_t off, object raw) -> bool:
        """Publish ``book`` after it applied the raw frame ``raw``, from the slot's last
        publish and the frame's levels, touching the book only to refill a side a level
        left and to check the result (its sizes, best and last keys). False, with
        nothing written, when that is not sound: the last publish was not of this LIVE
        book at the update this frame follows, the frame is not plain (what the compiled
        hot path applies), a key is not a float, or the check disagrees (counted in
        :attr:`patch_misses`); the caller then walks the book (:meth:`publish`)."""
        cdef SlotMemo memo = self._memo(book, off)
        return memo is not None and self._patch(book, off, memo, raw)

    cdef bint _patch(self, object book, Py_ssize_t off, SlotMemo memo,
                     object raw) except -1:
        cdef Scan sc
        cdef const unsigned char *data
        cdef Py_ssize_t size, used = 0, at = 0, length
        cdef const char *name
        cdef bint spot
        cdef int last, nxt, side, i, m, L = self.levels, done
        cdef int count[2]
        cdef int more[2]
        cdef Entry *ent
        cdef LevelMemo *note
        cdef char *text
        cdef uint64_t bits
        cdef long long before
        if not memo.valid:
            return False
        if PyBytes_CheckExact(raw):
            data = <const unsigned char *>PyBytes_AS_STRING(raw)
            size = PyBytes_GET_SIZE(raw)
        elif wb_is_ascii_str(<PyObject *>raw):
            data = <const unsigned char *>wb_ascii(<PyObject *>raw, &size)
        else:
            return False
        sync = book.sync
        spot = sync.venue is _spot_venue
        lock = book.lock
        lock.acquire()
        try:
            live = sync.book
            if sync.state is not self.live or live is None or live is not memo.book:
                return False
            if sync.generation != memo.generation:
                return False
            update_id = sync.update_id
            if type(update_id) is not int:
                return False
            done = 0
            try:
                if not take_scan(raw, &sc):  # decoded once: the hot path's own scan
                    if not scan_frame(&sc, data, size, spot) or not frame_plain(&sc):
                        return False
                # the frame must follow the last publish, and be the book's last
                before = memo.last_u
                if spot:
                    if sc.fi != before + 1 or sc.i != update_id:
                        return False
                else:
                    if sc.pu != before or sc.u != update_id:
                        return False
                symbol = book.symbol
                if not wb_is_ascii_str(<PyObject *>symbol):
                    return False
                name = wb_ascii(<PyObject *>symbol, &length)
                if (length != sc.symbol.end - sc.symbol.start
                        or memcmp(name, sc.s + sc.symbol.start, length) != 0):
                    return False
                last = memo.cur
                nxt = 1 - last
                for side in range(2):
                    count[side] = m = memo.count[last][side]
                    more[side] = memo.more[side]
                    ent = self.ent + side * (L + 1)
                    for i in range(m):
                        note = &memo.memo[last][side * L + i]
                        if not note.kfloat:
                            return False
                        memcpy(&ent[i].price, &note.kbits, 8)
                        ent[i].p = memo.text[last] + note.koff
                        ent[i].plen = note.klen
                        ent[i].q = memo.text[last] + note.qoff
                        ent[i].qlen = note.qlen
                keep = []
                bids = live.bids
                asks = live.asks
                for side in range(2):
                    ent = self.ent + side * (L + 1)
                    done = _patch_side(ent, &count[side], L, &more[side], side == 0, &sc,
                                       sc.b_start if side == 0 else sc.a_start,
                                       sc.b_end if side == 0 else sc.a_end,
                                       self.spell, &used, self.cap)
                    if done < 0:
                        return False
                    book_side = bids if side == 0 else asks
                    lists = _sorted_lists(book_side, L, side == 0)
                    if done == 1 and _refill(ent, &count[side], L, &more[side], book_side,
                                             lists, side == 0, self.cache, self.spell, &used,
                                             self.cap, keep) < 0:
                        return False
                    if not _agrees(ent, count[side], more[side], book_side, lists, side == 0):
                        self.patch_misses += 1
                        return False
                # the text, and the memo of it
                text = memo.text[nxt]
                for side in range(2):
                    ent = self.ent + side * (L + 1)
                    for i in range(count[side]):
                        note = &memo.memo[nxt][side * L + i]
                        note.koff = at
                        at = _copy(text, at, self.cap, ent[i].p, ent[i].plen)
                        if at < 0:
                            return False
                        note.klen = ent[i].plen
                        note.qoff = at
                        at = _copy(text, at, self.cap, ent[i].q, ent[i].qlen)
                        if at < 0:
                            return False
                        note.qlen = ent[i].qlen
                        memcpy(&bits, &ent[i].price, 8)
                        note.kbits = bits
                        note.kfloat = 1
                        note.qfloat = 0
                if at:
                    at -= 1
            finally:
                free(sc.levels)
            memo.count[nxt][0] = count[0]
            memo.count[nxt][1] = count[1]
            memo.more[0] = more[0]
            memo.more[1] = more[1]
            memo.cur = nxt
            memo.last_u = update_id
            self._put_slot(sync, self._code(sync.state, self.state_members, self.state_codes, -1),
                           count[0], count[1], text, at, off)
        finally:
            lock.release()
        self.patched += 1
        self.published += 1
        return True

    cdef inline int _code(self, object member, list members, list codes, int default):
        cdef Py_ssize_t i
        for i in range(len(members)):
            if <object>PyList_GET_ITEM(members, i) is member:
                return <object>PyList_GET_ITEM(codes, i)
        return default

    def publish(self, object book, Py_ssize_t off) -> int:
        """Write ``book``'s slot at ``off`` now, walking its top levels; the slot's new
        sequence number."""
        cdef SlotMemo memo = self._memo(book, off)
        if memo is None:
            memo = self.scratch
            memo.forget()  # a book publishing without add(): nothing to lend
        return self._publish(book, off, memo)

    cdef uint64_t _publish(self, object book, Py_ssize_t off, SlotMemo memo) except? 0:
        cdef int last = memo.cur
        cdef int nxt = 1 - last
        cdef char *text = memo.text[nxt]
        cdef int nb = 0, na = 0
        cdef Py_ssize_t at = 0
        cdef int code
        cdef object sync = book.sync
        cdef object lock = book.lock
        cdef uint64_t sequence = 0
        lock.acquire()
        try:
            state = sync.state
            code = self._code(state, self.state_members, self.state_codes, -1)
            if code < 0:
                raise KeyError(state)
            live = sync.book
            memo.valid = 0
            memo.book = None
            if state is self.live and live is not None:
                bids = live.bids
                asks = live.asks
                at = _walk(bids, _sorted_lists(bids, self.levels, True), True, self.levels,
                           self.cache, text, 0, self.cap, &nb, memo.memo[last],
                           memo.count[last][0], memo.text[last], memo.memo[nxt])
                if at >= 0:
                    at = _walk(asks, _sorted_lists(asks, self.levels, False), False,
                               self.levels, self.cache, text, at, self.cap, &na,
                               memo.memo[last] + self.levels, memo.count[last][1],
                               memo.text[last], memo.memo[nxt] + self.levels)
                if at < 0:
                    code = self.unfit
                    nb = na = 0
                    at = 0
                else:
                    memo.count[nxt][0] = nb
                    memo.count[nxt][1] = na
                    memo.cur = nxt  # the next publish lends from this one
                    update_id = sync.update_id
                    if type(update_id) is int:  # the patch path may follow it
                        memo.valid = 1
                        memo.book = live
                        memo.generation = sync.generation
                        memo.last_u = update_id
                        memo.more[0] = nb == self.levels
                        memo.more[1] = na == self.levels
                    if at:
                        at -= 1  # the last separator
            sequence = self._put_slot(sync, code, nb, na, text, at, off)
        finally:
            lock.release()
        self.published += 1
        return sequence

    cdef uint64_t _put_slot(self, object sync, int code, int nb, int na, const char *text,
                            Py_ssize_t at, Py_ssize_t off) except? 0:
        """Pack the payload head of ``sync`` (held under its book's lock) and seqlock-write
        it with ``at`` bytes of ``text`` into the slot at ``off``."""
        cdef char *buf = PyByteArray_AS_STRING(self.buffer)
        cdef unsigned char *seq = self.region.at(off, SLOT_PREFIX + self.head + self.cap)
        cdef Py_ssize_t reason_len = 0
        cdef double event
        cdef uint64_t event_bits
        reason = sync.reason
        if reason:
            raw = self.encode_reason(reason)
            reason_len = len(<bytes?>raw)
            if reason_len > self.reason_max:
                raise ValueError("reason longer than the slot's room")
            memcpy(buf + self.reason_at, PyBytes_AS_STRING(raw), reason_len)
        update_id = sync.update_id
        event_time = sync.last_event_time
        event = float("nan") if event_time is None else <double>event_time
        wb_le(buf + P_UPDATE, <uint64_t>(<int64_t>(-1 if update_id is None else update_id)), 8)
        wb_le(buf + P_GENERATION, <uint64_t>sync.generation, 8)
        memcpy(&event_bits, &event, 8)
        wb_le(buf + P_EVENT, event_bits, 8)
        wb_le(buf + P_PUBLISH, <uint64_t>wb_now_ns(), 8)
        buf[P_STATE] = <char>code
        buf[P_CAUSE] = <char>self._code(sync.cause, self.cause_members, self.cause_codes, 0)
        wb_le(buf + P_REASON, <uint64_t>reason_len, 2)
        wb_le(buf + P_BIDS, <uint64_t>nb, 2)
        wb_le(buf + P_ASKS, <uint64_t>na, 2)
        wb_le(buf + P_TEXT, <uint64_t>at, 4)
        if at > self.cap:
            raise ValueError("text beyond the slot")
        return wb_write2(seq, buf, <size_t>self.head, text, <size_t>at)


# -- the reader's views ------------------------------------------------------------------------

cdef extern from "Python.h":
    object PyUnicode_DecodeASCII(const char *s, Py_ssize_t size, const char *errors)

from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM


cdef inline int _same_pair(const char *old, const Py_ssize_t *start, const Py_ssize_t *length,
                           int last_n, int i, const char *pair, Py_ssize_t n) noexcept:
    """The level of the last view, at ``i`` or one off, spelled as ``pair``; -1 if none."""
    cdef int c, k
    for k in range(3):
        c = i if k == 0 else (i - 1 if k == 1 else i + 1)
        if 0 <= c < last_n and length[c] == n and memcmp(old + start[c], pair, n) == 0:
            return c
    return -1


cdef class ViewCache:
    """A reader's memo of one slot's last view: the text it was built from and the
    ``Level`` tuples it built, so that the next view of the slot rebuilds only the levels
    whose spelling changed.

    A level whose ``price qty`` bytes equal those of a level of the last view (at the same
    place or one off: an insert or a delete above shifts them) is that very ``Level``
    (the same bytes spell the same exact decimals); any other level is built from its
    spelling, its ``Decimal``s taken from ``decimals`` (spelling -> ``Decimal``) or made.
    """

    cdef bytes text
    cdef Py_ssize_t *start  # per level (bids at 0, asks at ``levels``): its pair's span
    cdef Py_ssize_t *length
    cdef Py_ssize_t *spare_start  # the same for the view being built (then swapped)
    cdef Py_ssize_t *spare_length
    cdef Py_ssize_t *pair_start  # the text's pairs, in order (bids, then asks)
    cdef Py_ssize_t *pair_length
    cdef list built
    cdef int count[2]
    cdef int levels

    def __cinit__(self, int levels):
        if levels < 0:
            raise ValueError("levels must not be negative")
        self.levels = levels
        self.text = b""
        cdef size_t size = sizeof(Py_ssize_t) * (2 * levels + 1)
        self.start = <Py_ssize_t *>PyMem_Malloc(size)
        self.length = <Py_ssize_t *>PyMem_Malloc(size)
        self.spare_start = <Py_ssize_t *>PyMem_Malloc(size)
        self.spare_length = <Py_ssize_t *>PyMem_Malloc(size)
        self.pair_start = <Py_ssize_t *>PyMem_Malloc(size)
        self.pair_length = <Py_ssize_t *>PyMem_Malloc(size)
        if (self.start == NULL or self.length == NULL or self.spare_start == NULL
                or self.spare_length == NULL or self.pair_start == NULL
                or self.pair_length == NULL):
            raise MemoryError()
        self.built = [None] * (2 * levels)
        self.count[0] = self.count[1] = 0

    def __dealloc__(self):
        PyMem_Free(self.start)
        PyMem_Free(self.length)
        PyMem_Free(self.spare_start)
        PyMem_Free(self.spare_length)
        PyMem_Free(self.pair_start)
        PyMem_Free(self.pair_length)

    def build(self, bytes text, int nb, int na, int want_b, int want_a, dict decimals,
              object level_type, object decimal_type):
        """``(bids, asks)``: tuples of the first ``want_b`` of the ``nb`` bids and the first
        ``want_a`` of the ``na`` asks of ``text`` (``price qty`` pairs, one space apart,
        bids then asks), each a ``level_type`` of two ``decimal_type``."""
        cdef int L = self.levels
        if not (0 <= want_b <= nb <= L and 0 <= want_a <= na <= L):
            raise ValueError("ViewCache.build: level counts out of range")
        cdef const char *s = PyBytes_AS_STRING(text)
        cdef Py_ssize_t n = len(text), at = 0, end, mid
        cdef const char *old = PyBytes_AS_STRING(self.text)
        cdef Py_ssize_t *pair_start = self.pair_start
        cdef Py_ssize_t *pair_len = self.pair_length
        cdef Py_ssize_t *new_start = self.spare_start
        cdef Py_ssize_t *new_len = self.spare_length
        cdef list built = [None] * (2 * L)
        cdef tuple out, bids = None
        cdef int k, side, i, base, want, last_n, c, spaces
        cdef Py_ssize_t ln, st
        cdef object level, price, qty
        cdef PyObject *hit
        # the pairs: "p q" spans, separated by single spaces
        for k in range(nb + na):
            end = at
            spaces = 0
            while end < n:
                if s[end] == 32:
                    spaces += 1
                    if spaces == 2:
                        break
                end += 1
            if spaces < 1 or end == at:
                raise ValueError("board text holds fewer levels than its head says")
            pair_start[k] = at
            pair_len[k] = end - at
            at = end + 1
        for side in range(2):
            base = 0 if side == 0 else nb
            want = want_b if side == 0 else want_a
            last_n = self.count[side]
            out = PyTuple_New(want)
            for i in range(want):
                st = pair_start[base + i]
                ln = pair_len[base + i]
                c = _same_pair(old, self.start + side * L, self.length + side * L,
                               last_n, i, s + st, ln)
                if c >= 0:
                    level = <object>PyList_GET_ITEM(self.built, side * L + c)
                else:
                    mid = st
                    while s[mid] != 32:
                        mid += 1
                    ptext = PyUnicode_DecodeASCII(s + st, mid - st, NULL)
                    qtext = PyUnicode_DecodeASCII(s + mid + 1, st + ln - mid - 1, NULL)
                    hit = PyDict_GetItem(decimals, ptext)
                    if hit != NULL:
                        price = <object>hit
                    else:
                        price = decimals[ptext] = decimal_type(ptext)
                    hit = PyDict_GetItem(decimals, qtext)
                    if hit != NULL:
                        qty = <object>hit
                    else:
                        qty = decimals[qtext] = decimal_type(qtext)
                    level = tuple.__new__(level_type, (price, qty))
                Py_INCREF(level)
                PyTuple_SET_ITEM(out, i, level)
                built[side * L + i] = level
                new_start[side * L + i] = st
                new_len[side * L + i] = ln
            if side == 0:
                bids = out
        # the memo is this view now (the spans' arrays swapped, no copy)
        self.spare_start, self.start = self.start, new_start
        self.spare_length, self.length = self.length, new_len
        self.built = built
        self.count[0] = want_b
        self.count[1] = want_a
        self.text = text
        return bids, out
