"""The websocket layer under a :class:`~feeds.connection.Connection`: the one place that
picks the library.

A connection needs little of a socket: open it within a time limit and with a cap on
a message's size; hand each received message, as soon as it is read, to one
synchronous callback; send text; close with a code (bounded in time); abort (drop the
TCP connection without a closing handshake, for a peer that stopped answering); and
say how it ended. :func:`open_link` gives that as a :class:`Link`, on one of two
layers:

``picows``
    `picows <https://pypi.org/project/picows/>`_, a Cython websocket client: a message
    reaches the callback straight from the transport's ``data_received``, with no
    queue and no task switch per message. It does not do permessage-deflate (it
    does not offer it, so the server sends uncompressed frames). The default where
    it is installed (a dependency of wexbook on CPython).
``websockets``
    the `websockets <https://pypi.org/project/websockets/>`_ library (always installed):
    the reference and the fallback; a reader task iterates the connection and calls
    the callback. It negotiates permessage-deflate when ``compression="deflate"``.

:data:`LAYER` is the layer chosen at import: ``WEXBOOK_WS`` (``picows``,
``websockets``, or ``auto``, the default: picows if it imports). A connection may
ask for a layer by name (``Connection(layer=...)``; ``BookManager(connection_options=
{"layer": ...})``). Both layers keep the same promises, and the connection and
fail-closed tests run on both: a message larger than ``max_size`` closes the link
(1009), a handshake slower than ``open_timeout`` fails, a closing handshake slower
than ``close_timeout`` is cut, and an exception raised by the callback ends the link
and is raised again by :meth:`Link.wait_closed`.

Every failure to open, every abnormal end, is one of :data:`LINK_ERRORS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any, Protocol

import websockets
from websockets.asyncio.client import connect as websockets_connect

from orderbook import WexbookError

try:
    import picows
except ImportError:  # not CPython, or an install without it
    picows = None  # type: ignore[assignment]

#: Layers that import here, in order of preference.
AVAILABLE: tuple[str, ...] = ("picows", "websockets") if picows is not None else ("websockets",)


class LinkClosed(WexbookError, ConnectionError):
    """The link is closed (a send on it), or it ended abnormally (``wait_closed``)."""


#: What opening a link, or a link's abnormal end, may raise: a connection problem, not a bug.
LINK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # LinkClosed is one
    TimeoutError,
    websockets.WebSocketException,
    *((picows.WSError,) if picows is not None else ()),
)


def choose(layer: str | None = None) -> str:
    """The layer to use for ``layer`` (``None``: :data:`LAYER`); ``ValueError`` if unknown
    or not installed."""
    name = (layer or os.environ.get("WEXBOOK_WS") or "auto").strip().lower()
    if name == "auto":
        return AVAILABLE[0]
    if name not in ("picows", "websockets"):
        raise ValueError(f"unknown websocket layer {name!r}: picows, websockets or auto")
    if name not in AVAILABLE:
        raise ValueError(
            "the picows websocket layer is not installed here: pip install picows"
        )
    return name


#: The layer chosen at import (see the module docstring).
LAYER = choose()


class Link(Protocol):
    """One open websocket (see the module docstring)."""

    #: The layer's name (``"picows"`` or ``"websockets"``).
    layer: str

    @property
    def close_code(self) -> int | None:
        """The close code received (1006: the connection ended without a close frame)."""

    @property
    def close_reason(self) -> str | None:
        """The close reason received, if any."""

    def start(self) -> None:
        """Start delivering messages to the callback (those read before are kept)."""

    async def send(self, text: str) -> None:
        """Send one text message; :class:`LinkClosed` if the link is closed."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a closing handshake, cut after ``close_timeout``; idempotent."""

    def abort(self) -> None:
        """Drop the connection now, without a closing handshake."""

    async def wait_closed(self) -> None:
        """Return when the link has ended; raise what ended it, unless it was a clean close
        (one of :data:`LINK_ERRORS`, or the callback's own exception)."""


async def open_link(
    url: str,
    on_message: Any,
    *,
    layer: str | None = None,
    open_timeout: float = 10.0,
    close_timeout: float = 2.0,
    max_size: int = 4 * 2**20,
    compression: str | None = None,
) -> Link:
    """Open a websocket to ``url``; each message is handed to ``on_message(data)`` (``str`` for
    a text message, ``bytes`` for a binary one) once :meth:`Link.start` was called."""
    name = choose(layer)
    if name == "picows":
        if compression is not None:
            raise ValueError("the picows layer does not do permessage-deflate: compression=None")
        return await _PicowsLink.open(url, on_message, open_timeout, close_timeout, max_size)
    return await _WebsocketsLink.open(
        url, on_message, open_timeout, close_timeout, max_size, compression
    )


class _WebsocketsLink:
    """The ``websockets`` layer: a reader task iterates the connection."""

    layer = "websockets"

    def __init__(self, ws: Any, on_message: Any) -> None:
        self._ws = ws
        self._on_message = on_message
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        on_message: Any,
        open_timeout: float,
        close_timeout: float,
        max_size: int,
        compression: str | None,
    ) -> _WebsocketsLink:
        ws = await websockets_connect(
            url,
            compression=compression,
            ping_interval=None,  # WEX heartbeats are text pings, sent by the connection
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            max_size=max_size,
            proxy=None,
        )
        return cls(ws, on_message)

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code

    @property
    def close_reason(self) -> str | None:
        return self._ws.close_reason

    def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        on_message = self._on_message
        async for message in self._ws:
            on_message(message)

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except websockets.ConnectionClosed as exc:
            raise LinkClosed(str(exc)) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, *LINK_ERRORS):
                await self._reader

    def abort(self) -> None:
        transport = self._ws.transport
        if transport is not None:
            transport.abort()

    async def wait_closed(self) -> None:
        if self._reader is None:
            await self._ws.wait_closed()
            return
        await self._reader


if picows is not None:
    _TEXT, _BINARY = picows.WSMsgType.TEXT, picows.WSMsgType.BINARY
    _CLOSE, _CONTINUATION = picows.WSMsgType.CLOSE, picows.WSMsgType.CONTINUATION

    class _Listener(picows.WSListener):  # type: ignore[misc]
        """Delivers each complete message to the callback as it is read."""

        def __init__(self, on_message: Any, max_size: int) -> None:
            super().__init__()
            self.on_message = on_message
            self.max_size = max_size
            self.started = False
            self.pending: list[str | bytes] = []
            self.parts: list[bytes] | None = None  # a fragmented message being gathered
            self.text = False
            self.close_code: int | None = None
            self.close_reason: str | None = None

        def deliver(self, message: str | bytes) -> None:
            if self.started:
                self.on_message(message)
            else:
                self.pending.append(message)

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if frame.fin and self.parts is None:
                if kind is _TEXT:
                    self.deliver(frame.get_payload_as_utf8_text())
                    return
                if kind is _BINARY:
                    self.deliver(frame.get_payload_as_bytes())
                    return
            if kind is _CLOSE:
                self.close_code = int(frame.get_close_code())
                message = frame.get_close_message()
                self.close_reason = message.decode("utf-8", "replace") if message else ""
                transport.send_close(frame.get_close_code())
                transport.disconnect()
                return
            if kind is _TEXT or kind is _BINARY:  # the first fragment of a message
                self.parts, self.text = [frame.get_payload_as_bytes()], kind is _TEXT
            elif kind is _CONTINUATION and self.parts is not None:
                self.parts.append(frame.get_payload_as_bytes())
            else:
                return  # ping/pong: picows answers pings itself
            if sum(len(part) for part in self.parts) > self.max_size:
                raise picows.WSProtocolError(
                    picows.WSCloseCode.MESSAGE_TOO_BIG, "message too big"
                )
            if frame.fin:
                data, self.parts = b"".join(self.parts), None
                self.deliver(data.decode() if self.text else data)

    class _PicowsLink:
        """The ``picows`` layer: the listener calls back from ``data_received``."""

        layer = "picows"

        def __init__(self, transport: Any, listener: _Listener, close_timeout: float) -> None:
            self._transport = transport
            self._listener = listener
            self._close_timeout = close_timeout
            self._closing = False

        @classmethod
        async def open(
            cls,
            url: str,
            on_message: Any,
            open_timeout: float,
            close_timeout: float,
            max_size: int,
        ) -> _PicowsLink:
            async with asyncio.timeout(open_timeout):
                transport, listener = await picows.ws_connect(
                    lambda: _Listener(on_message, max_size),
                    url,
                    websocket_handshake_timeout=open_timeout,
                    max_frame_size=max_size,
                    enable_auto_ping=False,  # WEX heartbeats are text pings
                    enable_auto_pong=True,
                    max_redirects=0,
                    logger_name="wexbook",
                )
            return cls(transport, listener, close_timeout)

        @property
        def close_code(self) -> int | None:
            code = self._listener.close_code
            if code is None and self._transport.is_disconnected:
                return 1006
            return code

        @property
        def close_reason(self) -> str | None:
            return self._listener.close_reason

        def start(self) -> None:
            listener = self._listener
            if listener.started:
                return
            listener.started = True
            pending, listener.pending = listener.pending, []
            for message in pending:
                listener.on_message(message)

        async def send(self, text: str) -> None:
            transport = self._transport
            if transport.is_disconnected or transport.is_close_frame_sent:
                if not self._closing:  # it ended on its own: say why (bounded)
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._close_timeout):
                            await self.wait_closed()  # raises why, unless it ended cleanly
                raise LinkClosed("the link is closed")
            transport.send(_TEXT, text.encode())

        async def close(self, code: int = 1000, reason: str = "") -> None:
            transport = self._transport
            self._closing = True
            if not transport.is_disconnected:
                if not transport.is_close_frame_sent:
                    transport.send_close(code, reason.encode())
                try:
                    async with asyncio.timeout(self._close_timeout):
                        await transport.wait_disconnected()
                except TimeoutError:
                    transport.disconnect(False)
                except Exception:  # what ended it is wait_closed's to say
                    pass

        def abort(self) -> None:
            self._closing = True
            self._transport.disconnect(False)

        async def wait_closed(self) -> None:
            try:
                await self._transport.wait_disconnected()
            except picows.WSProtocolError as exc:  # this side closed: oversized, bad frame...
                code = int(exc.code) if exc.code is not None else 1002
                name = picows.WSCloseCode(code).name.lower().replace("_", " ")
                detail = exc.args[1] if len(exc.args) > 1 else str(exc)
                raise LinkClosed(f"sent {code} ({name}); {detail}") from None
            code = self._listener.close_code
            if self._closing or code in (1000, 1001):
                return
            if code is None:
                raise LinkClosed("the connection ended without a close frame")
            reason = self._listener.close_reason
            raise LinkClosed(f"received {code}" + (f" ({reason})" if reason else ""))
