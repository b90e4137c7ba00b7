"""Keep credentials (listen keys, tokens) out of log records, ours and our dependencies'.

The futures user stream puts the listen key in the subscribed topic
(``order@{listenKey}``) and the spot private stream sends its token in every subscribe
request, so with the ``websockets`` library logging at DEBUG, the frames it logs
(``> TEXT '{"method":"SUBSCRIBE","params":["order@3f2a...' [120 bytes]``) carry them.
websockets shortens long frames for its logs, so a record may hold only part of a key.

:func:`register_secret` adds a value to a process-wide :class:`SecretFilter`, and makes
sure that filter sits on the loggers that can see one (:data:`LOGGERS`: websockets'
client, server and protocol loggers, httpx and httpcore, and wexbook's connection and
private-stream loggers). The filter rewrites every record that holds a run of at least
:data:`MIN_RUN` consecutive characters of a registered secret (the whole secret, or the
part a truncation left): the run becomes ``[redacted]``, in the formatted message
and in a formatted traceback (``exc_info`` is then dropped, since its text is what
would leak). Records without such a run pass untouched. A filter on a logger sees the
records created by that logger (not those of its children), hence the list.

:func:`scrub` replaces whole registered secrets in a text kept whole: the capture recorder
(:mod:`feeds.capture.recorder`) passes everything it writes about a connection through it
(sent texts, URLs, errors, and the frames of connections that are not the manager's).

:class:`~feeds.private.PrivateStream` registers every key it fetches, before it is used.
Only the most recent :data:`MAX_SECRETS` secrets are kept (renewals add one each time).
"""

from __future__ import annotations

import logging
import threading
from collections import deque

#: Loggers the filter is installed on.
LOGGERS = (
    "websockets",
    "websockets.client",
    "websockets.server",
    "websockets.protocol",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "wexbook.connection",
    "feeds.private",
)
#: Shortest run of a secret's characters that is redacted: shorter runs (a truncation
#: that left 5 characters of a 32-character key) say too little to matter, and would
#: make unrelated text match by chance.
MIN_RUN = 6
MAX_SECRETS = 64
REDACTED = "[redacted]"


class SecretFilter(logging.Filter):
    """Rewrites records holding a run of :data:`MIN_RUN`+ characters of a known secret."""

    def __init__(self) -> None:
        super().__init__("wexbook.redaction")
        self._lock = threading.Lock()
        self._secrets: deque[str] = deque(maxlen=MAX_SECRETS)
        self._grams: frozenset[str] = frozenset()

    def add(self, secret: str) -> None:
        """Redact ``secret`` (and every run of :data:`MIN_RUN`+ of its characters) from now on."""
        if len(secret) < MIN_RUN:
            return
        with self._lock:
            if secret in self._secrets:
                return
            self._secrets.append(secret)
            self._grams = frozenset(
                s[i : i + MIN_RUN] for s in self._secrets for i in range(len(s) - MIN_RUN + 1)
            )

    def __len__(self) -> int:
        return len(self._secrets)

    def scrub(self, text: str | bytes) -> str | bytes:
        """``text`` with every whole registered secret replaced by ``[redacted]``.

        For texts kept whole (a capture's records and frames), where a secret cannot have
        been cut short: a plain substring search per secret, much cheaper than
        :meth:`redact`. ``bytes`` stay ``bytes``.
        """
        secrets = tuple(self._secrets)
        if isinstance(text, str):
            for secret in secrets:
                if secret in text:
                    text = text.replace(secret, REDACTED)
            return text
        for secret in secrets:
            raw = secret.encode()
            if raw in text:
                text = text.replace(raw, REDACTED.encode())
        return text

    def redact(self, text: str) -> str:
        """``text`` with every run of a secret's characters replaced by ``[redacted]``."""
        grams = self._grams
        if not grams or len(text) < MIN_RUN:
            return text
        hidden = None
        for i in range(len(text) - MIN_RUN + 1):
            if text[i : i + MIN_RUN] in grams:
                if hidden is None:
                    hidden = bytearray(len(text))
                hidden[i : i + MIN_RUN] = b"\1" * MIN_RUN
        if hidden is None:
            return text
        out, i = [], 0
        while i < len(text):
            if hidden[i]:
                while i < len(text) and hidden[i]:
                    i += 1
                out.append(REDACTED)
            else:
                j = hidden.find(1, i)
                j = len(text) if j < 0 else j
                out.append(text[i:j])
                i = j
        return "".join(out)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._grams:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken record: leave it to logging's own error handling
            return True
        clean = self.redact(message)
        if clean is not message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            clean = self.redact(text)
            if clean is not text:
                record.exc_text, record.exc_info = clean, None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_FILTER = SecretFilter()
_installed = False
_install_lock = threading.Lock()


def secret_filter() -> SecretFilter:
    """The process-wide filter (installed on :data:`LOGGERS` by the first registration)."""
    return _FILTER


def install() -> None:
    """Put the filter on every logger of :data:`LOGGERS` (once)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        for name in LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
        _installed = True


def scrub(text: str | bytes) -> str | bytes:
    """``text`` without any whole registered secret (see :meth:`SecretFilter.scrub`)."""
    return _FILTER.scrub(text)


def register_secret(secret: str) -> None:
    """Keep ``secret`` out of the records of :data:`LOGGERS` from now on."""
    install()
    _FILTER.add(secret)
