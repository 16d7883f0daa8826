"""A thin HTTP front for the Glue endpoint: job-run actions served here, everything else forwarded to moto.

moto records Glue job runs but never executes them (StartJobRun reports
SUCCEEDED at once). boto3 honours per-service endpoints, so the local cloud
points ``AWS_ENDPOINT_URL_GLUE`` at this front: StartJobRun, GetJobRun,
GetJobRuns and BatchStopJobRun are answered by the local Glue executor, and
every other request (CreateJob, GetJob, tables, partitions, ...) is forwarded
byte for byte to moto. moto stays unpatched and upgradable, and callers see
the real Glue JSON protocol, including its error shapes.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
GLUE_TARGET_PREFIX = "AWSGlue."
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
# Hop-by-hop headers are about one connection; they must not be copied onto the next one.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}

log = logging.getLogger(__name__)

GlueAction = Callable[[dict[str, Any]], dict[str, Any]]


class GlueApiError(Exception):
    """An error the Glue API itself would return; ``code`` becomes boto3's ClientError code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def serve_glue_action(action: GlueAction, target: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run one Glue JSON-protocol action; answer (status, headers, body) as the Glue API would, errors included."""
    request_id = str(uuid.uuid4())
    error: tuple[int, str, str] | None = None
    try:
        params = json.loads(body or b"{}")
        if not isinstance(params, dict):
            raise GlueApiError("InvalidInputException", "The request body must be a JSON object")
        document = action(params)
    except GlueApiError as exc:
        error = (exc.status, exc.code, exc.message)
    except json.JSONDecodeError as exc:
        error = (400, "InvalidInputException", f"Malformed JSON request body: {exc}")
    except Exception as exc:  # the API answers InternalServiceException rather than dropping the connection
        log.exception("glue action %s failed", target)
        error = (500, "InternalServiceException", f"{type(exc).__name__}: {exc}")
    headers = [("Content-Type", JSON_CONTENT_TYPE), ("x-amzn-RequestId", request_id)]
    if error is None:
        return 200, headers, json.dumps(document).encode()
    status, code, message = error
    headers.append(("x-amzn-ErrorType", code))
    return status, headers, json.dumps({"__type": code, "Message": message}).encode()


def glue_action_for(actions: Mapping[str, GlueAction], target: str | None) -> GlueAction | None:
    if not target or not target.startswith(GLUE_TARGET_PREFIX):
        return None
    return actions.get(target[len(GLUE_TARGET_PREFIX) :])


class GlueActionMiddleware:
    """WSGI middleware in front of moto's own app: the same job-run actions on the main endpoint, so a client
    that only knows ``AWS_ENDPOINT_URL`` (the AWS CLI's ``--endpoint-url``) sees executed runs too."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.actions: dict[str, GlueAction] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET")
        action = glue_action_for(self.actions, target)
        if action is None:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        status, headers, payload = serve_glue_action(action, str(target), body)
        reason = http.client.responses.get(status, "")
        start_response(f"{status} {reason}", [*headers, ("Content-Length", str(len(payload)))])
        return [payload]


class GlueFront:
    """ThreadingHTTPServer on a free loopback port that dispatches on the ``X-Amz-Target`` header."""

    def __init__(self, moto_endpoint: str, actions: Mapping[str, GlueAction]) -> None:
        parsed = urlsplit(moto_endpoint)
        self._moto_host = parsed.hostname or LOOPBACK
        self._moto_port = parsed.port or 80
        self._actions = dict(actions)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        front = self

        class Handler(_FrontHandler):
            owner = front

        server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="glue-front", daemon=True)
        self._thread.start()
        return self.endpoint_url

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Glue front is not started")
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def action_for(self, target: str | None) -> GlueAction | None:
        return glue_action_for(self._actions, target)

    def forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(self._moto_host, self._moto_port, timeout=300)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            payload = response.read()
            return response.status, response.getheaders(), payload
        finally:
            connection.close()


class _FrontHandler(BaseHTTPRequestHandler):
    owner: GlueFront
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("glue front: " + format, *args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._body()
        action = self.owner.action_for(self.headers.get("X-Amz-Target"))
        if action is None:
            status, headers, payload = self.owner.forward(self.command, self.path, list(self.headers.items()), body)
            self._reply(status, [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP], payload)
            return
        status, headers, payload = serve_glue_action(action, str(self.headers.get("X-Amz-Target")), body)
        self._reply(status, headers, payload)

    def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_POST = _handle
    do_GET = _handle
    do_PUT = _handle
    do_DELETE = _handle
    do_HEAD = _handle
    do_PATCH = _handle
