"""A hostile HTTP and websocket peer on 127.0.0.1, for the fail-closed tests.

:class:`HostileServer` is a raw asyncio server in a background thread (so synchronous
and asyncio clients can both be pointed at it). Each connection reads one request and
answers in the server's current ``mode``:

- ``endless``: a 200 with no length that streams ``endless_total`` bytes (the same
  64 KiB block again and again: the server holds no more than that);
- ``gzip_bomb``: ``Content-Encoding: gzip`` streaming ``bomb_total`` zero bytes,
  compressed on the fly (about 1,000:1; the server never holds the plain text);
- ``slow_body`` / ``slow_headers``: one byte every ``interval`` seconds, of the body
  (after prompt headers) or of the status line and headers themselves;
- ``hang``: read the whole request, then never answer (the request was sent);
- ``reset``: read the whole request, then close without answering;
- ``ok``: a small valid envelope (``ok_body``);
- ``ws_big``: a websocket handshake, then one text frame announcing ``frame_size``
  bytes whose payload is streamed; later connections stay open and quiet. The close
  code the client sends back is recorded in ``close_codes``.

``modes`` (a list) scripts the first requests: request ``n`` gets ``modes[n]``, later
ones ``mode``. ``requests`` counts the requests read; ``sent_bytes`` what was written.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
import zlib
from typing import Any

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BLOCK = b'{"pad":"' + b"x" * (64 * 1024 - 10) + b'"}'


class HostileServer:
    """See the module docstring. Use as a context manager; ``url`` is ``http://127.0.0.1:port``."""

    def __init__(self, mode: str = "ok", **options: Any) -> None:
        self.mode = mode
        self.modes: list[str] = []
        self.endless_total = 48 * 2**20
        self.bomb_total = 40 * 2**20
        self.interval = 0.2
        self.header_pad = 100
        self.frame_size = 12 * 2**20
        self.ok_body = b'{"rc":0,"mc":"SUCCESS","ma":[],"result":{"serverTime":1}}'
        for name, value in options.items():
            setattr(self, name, value)
        self.requests = 0
        self.connections = 0
        self.sent_bytes = 0
        self.close_codes: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="hostile", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("hostile server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    # -- serving ------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        self._server.close()
        for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
            task.cancel()

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        self.sent_bytes += len(data)
        await writer.drain()

    async def _read_request(self, reader: asyncio.StreamReader) -> dict[str, str]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if length:
            await reader.readexactly(length)
        self.requests += 1
        return headers

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            headers = await self._read_request(reader)
            n = self.requests - 1
            mode = self.modes[n] if n < len(self.modes) else self.mode
            await getattr(self, "_" + mode)(reader, writer, headers)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _ok(self, reader: Any, writer: asyncio.StreamWriter, headers: Any) -> None:
        body = self.ok_body
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        await self._write(writer, head.encode() + body)

    async def _endless(self, reader: Any, writer: asyncio.StreamWriter, headers: Any) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        await self._write(writer, head)
        sent = 0
        while sent < self.endless_total:
            await self._write(writer, BLOCK)
            sent += len(BLOCK)

    async def _gzip_bomb(self, reader: Any, writer: asyncio.StreamWriter, headers: Any) -> None:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: gzip\r\nConnection: close\r\n\r\n"
        )
        await self._write(writer, head)
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
        zeros = bytes(2**20)
        for _ in range(self.bomb_total // len(zeros)):
            chunk = packer.compress(zeros)
            if chunk:
                await self._write(writer, chunk)
        await self._write(writer, packer.flush())

    async def _slow_body(self, reader: Any, writer: asyncio.StreamWriter, headers: Any) -> None:
        body = self.ok_body
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        await self._write(writer, head.encode())
        for i in range(len(body)):
            await asyncio.sleep(self.interval)
            await self._write(writer, body[i : i + 1])

    async def _slow_headers(self, reader: Any, writer: asyncio.StreamWriter, headers: Any) -> None:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + b"X-Pad: "
            + b"p" * self.header_pad
        )
        for i in range(len(head)):
            await self._write(writer, head[i : i + 1])
            await asyncio.sleep(self.interval)

    async def _hang(self, reader: Any, writer: asyncio.StreamWriter, headers: Any) -> None:
        await asyncio.sleep(3600)

    async def _reset(self, reader: Any, writer: asyncio.StreamWriter, headers: Any) -> None:
        writer.transport.abort()

    async def _ws_big(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]
    ) -> None:
        key = headers["sec-websocket-key"].encode()
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        await self._write(
            writer,
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode(),
        )
        if self.connections == 1:
            # FIN + text opcode, no mask, 64-bit length; the payload follows, streamed.
            await self._write(writer, b"\x81\x7f" + self.frame_size.to_bytes(8, "big"))
            reading = asyncio.ensure_future(self._read_close(reader))
            sent = 0
            try:
                while sent < self.frame_size and not reading.done():
                    block = BLOCK[: min(len(BLOCK), self.frame_size - sent)]
                    await self._write(writer, block)
                    sent += len(block)
            except ConnectionError:
                pass
            await asyncio.wait([reading], timeout=10)
            return
        await self._read_close(reader)

    async def _read_close(self, reader: asyncio.StreamReader) -> None:
        """Read client frames (masked) until a close frame; record its code."""
        while True:
            first, second = await reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(await reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await reader.readexactly(8), "big")
            mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
            if first & 0x0F == 0x8:
                self.close_codes.append(int.from_bytes(payload[:2], "big") if payload else 1005)
                return
