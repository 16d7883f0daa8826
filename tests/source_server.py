"""A real HTTP server on a free loopback port standing in for the public sources (never the internet).

Serves files of a folder (``../shared/data`` or files a test makes) by path, with ETag and Last-Modified and
answers to conditional GETs (304: If-None-Match, or If-Modified-Since), like a static file host (``etags=False``: a
host that sends Last-Modified only); plus routes a test sets for the bad cases: any status, headers and body, a
redirect, a body cut short of its Content-Length, N failures before success. ``stalling_server`` accepts
connections and never answers.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    failures_first: int = 0  # answer 503 this many times first
    cut_short: bool = False  # declare a longer Content-Length than sent, then close
    no_length: bool = False  # no Content-Length: the body ends when the connection closes


@dataclass
class SourceServer:
    root: Path
    url: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # URL path -> file (besides root)
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # (path, conditional header, status)
    etags: bool = True  # False: validators are Last-Modified only


def _handler(server_state: SourceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            return

        def _send(self, status: int, body: bytes, headers: dict[str, str], length: int | None = None) -> None:
            # length: the Content-Length to declare (None: the body's own; -1: none)
            conditional = self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since") or ""
            server_state.requests.append((self.path, conditional, status))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if length != -1:
                self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            route = server_state.routes.get(self.path)
            if route is not None:
                if route.failures_first > 0:
                    route.failures_first -= 1
                    self._send(503, b"busy", {})
                    return
                if route.no_length:
                    self._send(route.status, route.body, route.headers, -1)
                    self.close_connection = True
                    return
                if route.cut_short:
                    self._send(route.status, route.body[: len(route.body) // 2], route.headers, len(route.body))
                    self.close_connection = True
                    return
                self._send(route.status, route.body, route.headers)
                return
            path = server_state.files.get(self.path) or server_state.root / self.path.lstrip("/")
            if ".." in self.path or not path.is_file():
                self._send(404, b"not found", {"Content-Type": "text/plain"})
                return
            body = path.read_bytes()
            etag = '"' + hashlib.md5(body).hexdigest() + '"'
            modified = formatdate(int(path.stat().st_mtime), usegmt=True)
            validators = {"Last-Modified": modified, "Content-Type": "application/octet-stream"}
            if server_state.etags:
                validators["ETag"] = etag
            since = self.headers.get("If-Modified-Since")
            if (server_state.etags and self.headers.get("If-None-Match") == etag) or (
                not server_state.etags and since and parsedate_to_datetime(since) >= parsedate_to_datetime(modified)
            ):
                self._send(304, b"", {"ETag": etag} if server_state.etags else {})
                return
            self._send(200, body, validators)

    return Handler


@contextmanager
def source_server(root: Path) -> Iterator[SourceServer]:
    """Serve ``root`` on 127.0.0.1 at a free port (port 0: the system picks) until the block ends."""
    state = SourceServer(root)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, name="source-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@contextmanager
def stalling_server() -> Iterator[str]:
    """A URL on 127.0.0.1 whose server accepts the connection and then never answers (a fetch must time out)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # connections wait in the backlog, unanswered
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/stalls.csv"
    finally:
        listener.close()
