"""The metrics endpoint: an HTTP server on its own thread that holds under load.

    server = serve(manager, port=9108)   # http://127.0.0.1:9108/metrics
    ...
    server.close()

``host`` defaults to loopback: the metrics name the symbols you keep, so exposing them
beyond the machine is a choice to make (``--metrics-host 0.0.0.0``). ``port=0`` takes
any free port (:attr:`MetricsServer.port` says which). A port in use raises
:class:`MetricsPortInUse` with one readable line. To serve from an application's own
registry instead, :func:`feeds.metrics.register` the collector into it.

How it serves (issue 21): one thread runs an asyncio loop of its own (not the manager's)
that accepts and reads every connection, so an idle connection costs a socket and a
coroutine, never a thread; the registry is rendered on one more thread. The endpoint uses
two threads however many clients connect.

- ``read_timeout`` (5 s): a connection that has not sent its whole request head by then
  is closed, however slowly it trickles bytes (idle and slow-loris clients);
  ``write_timeout`` (10 s): the time a client has to take the response.
- ``backlog`` (1024; the system may cap it, see ``net.core.somaxconn``): the listen
  queue, for a burst of connections that arrives faster than they are accepted.
- ``max_connections`` (256): with that many open, a new connection closes the oldest one
  still waiting for its request, so a flood of idle connections neither locks a scraper
  out nor takes the process's file descriptors (which its websockets need).
- Scrapes that arrive while a render runs share the next render, and renders start at most
  every ``render_interval`` seconds (0.5 s): 200 concurrent scrapers cause a few renders,
  not 200, and the book locks are taken a few times a second at most. Nothing rendered
  before a request arrived is served to it: a scrape never returns values older than
  itself, and a scrape within ``render_interval`` of the previous render waits for the
  rest of the interval.

The answers are prometheus-client's own (its WSGI app runs over the collected families):
GET of any path serves the registry (``Accept`` chooses the text or OpenMetrics format,
``Accept-Encoding: gzip`` compresses, ``?name[]=`` filters), ``OPTIONS`` says what is
allowed, other methods get 405. One request per connection (``Connection: close``);
a request line that is not HTTP gets 400.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote, urlsplit

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import Metric

from orderbook import WexbookError

from .collector import WexbookCollector

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9108
DEFAULT_READ_TIMEOUT = 5.0
DEFAULT_WRITE_TIMEOUT = 10.0
DEFAULT_BACKLOG = 1024
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_RENDER_INTERVAL = 0.5

_LINE_LIMIT = 8192  # bytes of one request or header line
_MAX_HEADERS = 100
_CHUNK = 65536  # bytes handed to a transport at a time (bounds the memory per slow reader)

log = logging.getLogger(__name__)

_Response = tuple[str, list[tuple[str, str]], bytes]


class MetricsPortInUse(WexbookError, OSError):
    """The metrics port could not be bound (in use, or not allowed).

    Any other failure to serve (a host that does not resolve or is not this machine's)
    is a plain :class:`OSError` with a readable ``strerror``.
    """


class _BadRequest(Exception):
    """A request head that is not HTTP (answered 400)."""


class _Families:
    """The families of one collection, as a collector (what one render serves)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)

    def describe(self) -> Iterator[Metric]:  # the names, for ``?name[]=`` filters
        return iter(self.families)


class _Round:
    """One render: the collected families, and each distinct answer encoded once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.done: asyncio.Future[None] = loop.create_future()
        self.registry: CollectorRegistry | None = None
        self.error: BaseException | None = None
        self.outputs: dict[tuple[str, str, str], asyncio.Future[_Response]] = {}


class MetricsServer:
    """A running endpoint: ``host``, ``port``, ``url``, the ``collector``; :meth:`close`.

    The options are described in the module docstring. ``renders`` counts the
    collections of the registry, ``timeouts`` the connections closed for being too slow,
    ``evicted`` those closed to make room (``max_connections``).
    """

    def __init__(
        self,
        collector: WexbookCollector,
        registry: CollectorRegistry,
        host: str,
        port: int,
        *,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        write_timeout: float = DEFAULT_WRITE_TIMEOUT,
        backlog: int = DEFAULT_BACKLOG,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        render_interval: float = DEFAULT_RENDER_INTERVAL,
    ) -> None:
        for name, value in (
            ("read_timeout", read_timeout),
            ("write_timeout", write_timeout),
            ("backlog", backlog),
            ("max_connections", max_connections),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        if not render_interval >= 0:
            raise ValueError(f"render_interval must be 0 or more, not {render_interval!r}")
        self.collector = collector
        self.registry = registry
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.backlog = backlog
        self.max_connections = max_connections
        self.render_interval = render_interval
        self.renders = 0
        self.timeouts = 0
        self.evicted = 0
        sock = _bind(host, port, backlog)
        self.host = host
        self.port: int = sock.getsockname()[1]
        self._closed = False
        self._lock = threading.Lock()
        # State of the server's own loop (touched only from its thread).
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: dict[asyncio.Task[None], None] = {}  # no request yet, oldest first
        self._next: _Round | None = None  # the render that requests arriving now will get
        self._previous: asyncio.Future[None] | None = None  # the last render started
        self._last_start = float("-inf")
        self._background: set[asyncio.Task[None]] = set()
        self._plain_app = make_wsgi_app(CollectorRegistry(auto_describe=False))
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="wexbook-metrics-render")
        self._loop = asyncio.new_event_loop()
        self._start_error: BaseException | None = None
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(sock, ready), name="wexbook-metrics", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._start_error is not None:
            self._executor.shutdown(wait=False)
            raise self._start_error

    @property
    def url(self) -> str:
        """The scrape URL, ``http://host:port/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._tasks)

    def close(self) -> None:
        """Stop serving and close every connection (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The server's thread and loop.

    def _run(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(
                asyncio.start_server(
                    self._handle, sock=sock, backlog=self.backlog, limit=_LINE_LIMIT
                )
            )
        except BaseException as exc:  # handed to the constructor's caller
            self._start_error = exc
            sock.close()
            loop.close()
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for task in [*self._tasks, *self._background]:
                task.cancel()
            pending = [*self._tasks, *self._background]
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=2))
            loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._waiting[task] = None
        graceful = True
        try:
            if len(self._tasks) > self.max_connections and not self._evict(task):
                return
            try:
                async with asyncio.timeout(self.read_timeout):
                    environ = await _read_request(reader)
            except TimeoutError:
                self.timeouts += 1
                return
            except (ConnectionError, asyncio.IncompleteReadError, ValueError):
                return  # gone before its request ended, or a line over the limit
            except _BadRequest as exc:
                response: _Response = (
                    "400 Bad Request",
                    [("Content-Type", "text/plain")],
                    f"# HTTP 400: {exc}\n".encode(),
                )
            else:
                self._waiting.pop(task, None)
                try:
                    response = await self._respond(environ)
                except Exception as exc:  # an encoder failed: the client hears of it
                    response = _error(exc)
            self._waiting.pop(task, None)
            graceful = False
            try:
                async with asyncio.timeout(self.write_timeout):
                    await _send(writer, response)
            except TimeoutError:
                self.timeouts += 1
                return
            graceful = True
        except ConnectionError:
            graceful = False
        except asyncio.CancelledError:
            # Evicted, or the server is closing: end quietly (Python 3.11's start_server
            # logs a traceback for every handler task that ends cancelled).
            graceful = False
        finally:
            self._tasks.discard(task)
            self._waiting.pop(task, None)
            if graceful:
                writer.close()
            else:
                writer.transport.abort()

    def _evict(self, newcomer: asyncio.Task[None]) -> bool:
        """Close the oldest connection still waiting for its request; False if none."""
        oldest = next(iter(self._waiting))
        self.evicted += 1
        if oldest is newcomer:  # every other connection is being answered
            return False
        del self._waiting[oldest]
        self._tasks.discard(oldest)
        oldest.cancel()
        return True

    async def _respond(self, environ: dict[str, Any]) -> _Response:
        if environ["REQUEST_METHOD"] != "GET" or environ["PATH_INFO"] == "/favicon.ico":
            return _call(self._plain_app, environ)  # answers that read no registry
        rnd = await self._join()
        if rnd.registry is None:
            return _error(rnd.error)
        key = (
            environ["QUERY_STRING"],
            environ.get("HTTP_ACCEPT", ""),
            environ.get("HTTP_ACCEPT_ENCODING", ""),
        )
        output = rnd.outputs.get(key)
        if output is None:
            app = make_wsgi_app(rnd.registry)
            output = asyncio.ensure_future(
                self._loop.run_in_executor(self._executor, _call, app, environ)
            )
            output.add_done_callback(_retrieve)
            rnd.outputs[key] = output
        return await asyncio.shield(output)

    async def _join(self) -> _Round:
        """The next render to start (started if needed), once it is done."""
        rnd = self._next
        if rnd is None:
            rnd = self._next = _Round(self._loop)
            task = self._loop.create_task(self._render(rnd))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        await asyncio.shield(rnd.done)
        return rnd

    async def _render(self, rnd: _Round) -> None:
        if self._previous is not None:
            await self._previous
        delay = self._last_start + self.render_interval - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        self._next = None  # who arrives from now on waits for the render after this one
        self._previous = rnd.done
        self._last_start = self._loop.time()
        try:
            rnd.registry = await self._loop.run_in_executor(self._executor, self._collect)
        except Exception as exc:
            log.error("metrics: collecting the registry failed: %r", exc)
            rnd.error = exc
        finally:
            rnd.done.set_result(None)

    def _collect(self) -> CollectorRegistry:
        families = list(self.registry.collect())
        frozen = CollectorRegistry(auto_describe=False)
        frozen.register(_Families(families))
        self.renders += 1
        return frozen


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket on ``host:port``; the errors as one readable line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
    except OSError as exc:
        why = exc.strerror or str(exc)
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            why = "in use" if exc.errno == errno.EADDRINUSE else why
            raise MetricsPortInUse(
                exc.errno, f"cannot serve metrics on {host}:{port}: {why}"
            ) from None
        # the host: a name that does not resolve, an address not of this machine...
        raise OSError(exc.errno, f"cannot serve metrics on {host}:{port}: {why}") from None
    sock.setblocking(False)
    return sock


async def _read_request(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The WSGI environ of one request head (what prometheus-client's app reads)."""
    line = await _line(reader)
    while line in (b"\r\n", b"\n"):  # empty lines before a request line are allowed
        line = await _line(reader)
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadRequest(f"not an HTTP request line: {line[:80]!r}")
    method, target, _ = parts
    url = urlsplit(target)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": unquote(url.path, "iso-8859-1"),
        "QUERY_STRING": url.query,
    }
    for _ in range(_MAX_HEADERS + 1):
        line = await _line(reader)
        if line in (b"\r\n", b"\n"):
            return environ
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name.strip():
            raise _BadRequest(f"not a header line: {line[:80]!r}")
        environ["HTTP_" + name.strip().upper().replace("-", "_")] = value.strip()
    raise _BadRequest(f"more than {_MAX_HEADERS} header lines")


async def _line(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readline()  # ValueError past the limit
    if not line.endswith(b"\n"):
        raise asyncio.IncompleteReadError(line, None)
    return line


async def _send(writer: asyncio.StreamWriter, response: _Response) -> None:
    status, headers, body = response
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    writer.transport.set_write_buffer_limits(high=_CHUNK)
    writer.write(
        f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode("latin-1")
    )
    view = memoryview(body)
    for start in range(0, len(view), _CHUNK):
        writer.write(view[start : start + _CHUNK])
        await writer.drain()
    await writer.drain()


def _call(app: Any, environ: dict[str, Any]) -> _Response:
    """Run a WSGI app on ``environ``: status, headers, body."""
    answer: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer[:] = [status, headers]

    body = b"".join(app(environ, start_response))
    return answer[0], answer[1], body


def _error(exc: BaseException | None) -> _Response:
    return (
        "500 Internal Server Error",
        [("Content-Type", "text/plain")],
        f"# HTTP 500: the metrics could not be rendered: {exc!r}\n".encode(),
    )


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # a failure is answered to whoever awaits it; never "unretrieved"


def serve(
    manager: Any,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    registry: CollectorRegistry | None = None,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    write_timeout: float = DEFAULT_WRITE_TIMEOUT,
    backlog: int = DEFAULT_BACKLOG,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    render_interval: float = DEFAULT_RENDER_INTERVAL,
    **options: Any,
) -> MetricsServer:
    """Serve ``manager``'s metrics over HTTP on ``host:port`` (see the module docstring).

    ``options`` go to the :class:`~feeds.metrics.collector.WexbookCollector`.
    """
    registry = registry or CollectorRegistry()
    collector = WexbookCollector(manager, registry=registry, **options)
    try:
        return MetricsServer(
            collector,
            registry,
            host,
            port,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            backlog=backlog,
            max_connections=max_connections,
            render_interval=render_interval,
        )
    except BaseException:
        registry.unregister(collector)
        raise
