"""The emulator's listener: one loopback port that speaks HTTPS and HTTP. Each connection's first byte tells a TLS
handshake from an HTTP request line; ``wsgi.url_scheme`` says which one a request came in on (what
``aws:SecureTransport`` is evaluated from), and connections are kept alive between requests."""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.server import MotoRequestHandler
from werkzeug.serving import LISTEN_QUEUE, DechunkedInput, ThreadedWSGIServer
from werkzeug.wsgi import LimitedStream

from covid_pipeline.local.glue_front import LOOPBACK

# The first byte of every TLS connection: a handshake record (RFC 8446 5.1, ContentType handshake(22)).
TLS_HANDSHAKE_RECORD = 0x16
# How long a new connection may take to send its first byte and finish the TLS handshake.
HANDSHAKE_TIMEOUT_SECONDS = 30.0
# How long a kept-alive connection may wait for its next request.
KEEP_ALIVE_IDLE_SECONDS = 120.0

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

log = logging.getLogger(__name__)


class _Handler(MotoRequestHandler):
    """moto's request handler, with two differences from werkzeug's development server.

    - HTTPS or HTTP is told per connection (werkzeug asks the server, which has no TLS context of its own here).
    - Connections are kept alive between requests, as AWS endpoints keep them: werkzeug closes every connection
      after one response, so every boto3 call and every S3A request paid a new TCP and TLS handshake (measured on
      a Spark job of ~4,100 S3A requests: 112-142 s over HTTPS against 63-78 s over HTTP). That needs what werkzeug
      lacks: the request body read to its end whatever the app read (Content-Length or chunked), so the next
      request line is where the stream is; and a response framed by Content-Length (bodies are buffered: moto
      builds them in memory anyway).
    """

    protocol_version = "HTTP/1.1"
    # An idle kept-alive connection is closed after this long (clients open a new one when they need it).
    timeout = KEEP_ALIVE_IDLE_SECONDS

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ["wsgi.url_scheme"] = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        return environ

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            # A client that goes away mid-request (or mid-TLS) is its business, not a server error.
            log.debug("connection from %s ended: %s", self.client_address, exc)

    def log_error(self, format: str, *args: Any) -> None:
        # http.server reports an idle keep-alive connection timing out as an error: it is the normal end of one.
        log.debug("connection from %s: " + format, self.client_address, *args)

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        body = _request_body(environ)
        environ["wsgi.input"] = body
        response: list[Any] = []  # [status, headers] once start_response is called

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            response[:] = [status, headers]
            return lambda data: chunks.append(data)  # the legacy write() callable

        chunks: list[bytes] = []
        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except Exception:
            log.error("error on request %s %s", self.command, self.path, exc_info=True)
            response[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
            chunks = [b"Internal Server Error"]
            self.close_connection = True
        try:
            _drain(body)
        except (OSError, ValueError):
            self.close_connection = True  # the stream is not at a request boundary: this connection ends here
        self._send(response[0], response[1], b"".join(chunks))

    def _send(self, status: str, headers: list[tuple[str, str]], payload: bytes) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        bodiless = self.command == "HEAD" or 100 <= code < 200 or code in (204, 304)
        names = {name.lower() for name, _ in headers}
        lines = [f"{self.protocol_version} {code} {reason}", f"Server: {self.version_string()}",
                 f"Date: {self.date_time_string()}"]  # fmt: skip
        lines += [f"{name}: {value}" for name, value in headers if name.lower() not in ("connection", "keep-alive")]
        if not bodiless and "content-length" not in names:
            lines.append(f"Content-Length: {len(payload)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # One write: status, headers and body leave together.
        self.wfile.write(head if bodiless else head + payload)
        self.wfile.flush()
        self.log_request(code, len(payload))


def _request_body(environ: dict[str, Any]) -> Any:
    """The request body as a stream that ends where the body ends (werkzeug hands the app the raw socket)."""
    stream = environ["wsgi.input"]
    if isinstance(stream, DechunkedInput):  # Transfer-Encoding: chunked, ends at its last chunk
        return stream
    length = environ.get("CONTENT_LENGTH") or "0"
    try:
        return LimitedStream(stream, max(int(length), 0))
    except ValueError:
        raise OSError(f"invalid Content-Length {length!r}") from None


def _drain(body: Any) -> None:
    """Read what the app left of the request body, so the next request starts at its request line."""
    while body.read(1 << 20):
        pass


class DualProtocolServer(ThreadedWSGIServer):
    """werkzeug's threaded WSGI server on a listening socket we bound, with TLS decided per connection.

    The accept loop only accepts; the first byte is peeked and the TLS handshake done in the connection's own
    thread (``finish_request`` runs there), so one slow or silent client never holds up the others.
    """

    def __init__(self, sock: socket.socket, app: WSGIApp, tls_context: ssl.SSLContext | None) -> None:
        host, port = sock.getsockname()[:2]
        # fd: werkzeug adopts (duplicates) our socket instead of binding its own, which would exit the process
        # when the port is taken.
        super().__init__(host, port, app, _Handler, fd=sock.fileno())
        self.tls_context = tls_context
        # Kept-alive connections outlive the accept loop: close_connections() ends them when the emulator stops.
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        # A response spanning several segments must not have its last one held by Nagle behind the client's
        # delayed ACK (tens of milliseconds per request).
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = self._protocol_of(request, client_address)
        if connection is None:
            return
        with self._open_lock:
            self._open.add(connection)
        try:
            super().finish_request(connection, client_address)
        finally:
            with self._open_lock:
                self._open.discard(connection)
            if connection is not request:
                # The TLS socket took over the descriptor: close it here (socketserver closes the bare one).
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()

    def _protocol_of(self, request: socket.socket, client_address: Any) -> socket.socket | None:
        """The connection to serve: ``request`` itself for plain HTTP, wrapped in TLS when it starts a handshake;
        None when it closes (or fails the handshake) before its first request."""
        if self.tls_context is None:
            return request
        try:
            request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
            first = request.recv(1, socket.MSG_PEEK)
            if not first:
                return None  # connected and closed: a port probe
            connection = request
            if first[0] == TLS_HANDSHAKE_RECORD:
                connection = self.tls_context.wrap_socket(request, server_side=True)
            connection.settimeout(None)
            return connection
        except (OSError, ssl.SSLError) as exc:
            log.debug("connection from %s dropped before its first request: %s", client_address, exc)
            return None

    def close_connections(self) -> None:
        """End every open connection (their threads wait for a next request that will not be served)."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def listen(port: int) -> socket.socket:
    """A listening loopback socket on ``port`` (0: the kernel picks a free one); a taken port falls back to 0."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A previous emulator's connections in TIME_WAIT must not keep its port from being reused.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
    except OSError as exc:
        sock.close()
        if port == 0 or exc.errno != errno.EADDRINUSE:
            raise
        log.info("port %d is taken; the emulator takes a free one", port)
        return listen(0)
    sock.listen(LISTEN_QUEUE)
    return sock
