"""The embedded AWS emulator: moto's server, in this process, on a free loopback port.

Everything else reaches it through boto3's standard endpoint variables
(``AWS_ENDPOINT_URL``, and ``AWS_ENDPOINT_URL_GLUE`` for the Glue front), so no
code outside this package knows it talks to an emulator.
"""

from __future__ import annotations

import logging
import os
import threading
import urllib.request
from collections.abc import Mapping
from typing import Any

import boto3
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from covid_pipeline.local.glue_front import LOOPBACK, GlueActionMiddleware

# Credentials moto accepts; they must never be real ones (the emulator does not check them).
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Variables that would make boto3 pick real credentials or a profile instead of ours.
_SHADOWING_VARIABLES = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")

log = logging.getLogger(__name__)


class Emulator:
    """moto's server app (as ThreadedMotoServer runs it) on 127.0.0.1, on a port the OS picks (port 0: never a
    fixed one), in a thread of this process.

    moto keeps its backends in module globals, so one process can only hold one
    emulator's state: ``stop()`` resets them so the next emulator starts empty.
    """

    def __init__(self, region: str) -> None:
        self.region = region
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        # Glue job-run actions served on this endpoint too (the local cloud installs the executor's).
        self.glue_actions = GlueActionMiddleware(DomainDispatcherApplication(create_backend_app))

    def start(self) -> str:
        # Port 0 lets the kernel choose a free port at bind time: no race between "find" and "bind".
        # werkzeug logs every request at INFO: thousands of lines per Spark job.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # What ThreadedMotoServer does, with the Glue job-run middleware wrapped around moto's app.
        server = make_server(LOOPBACK, 0, self.glue_actions, threaded=True, request_handler=MotoRequestHandler)
        self._server = server
        self._port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        # A previous emulator in this process may have left state behind in moto's globals.
        self.reset()
        log.info("moto listening on %s", self.endpoint_url)
        return self.endpoint_url

    @property
    def endpoint_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{LOOPBACK}:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def reset(self) -> None:
        """Drop every resource moto holds (all services, all accounts)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self.reset()
        finally:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=30)
            self._server = None
            self._thread = None
            self._port = None


def emulator_env(endpoint_url: str, region: str, glue_endpoint_url: str | None = None) -> dict[str, str]:
    """The environment a process needs so that its boto3 (and the AWS CLI) talks to the emulator."""
    env = {
        **DUMMY_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if glue_endpoint_url:
        env["AWS_ENDPOINT_URL_GLUE"] = glue_endpoint_url
    return env


def export_env(env: dict[str, str]) -> dict[str, str | None]:
    """Put ``env`` into os.environ; return what it replaced so ``restore_env`` can undo it."""
    previous: dict[str, str | None] = {}
    for key in (*env, *_SHADOWING_VARIABLES):
        previous[key] = os.environ.get(key)
    for key in _SHADOWING_VARIABLES:
        os.environ.pop(key, None)
    os.environ.update(env)
    return previous


def restore_env(previous: dict[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class ClientCache:
    """boto3 clients for the emulator, one per service, made once: creating a client parses the service's
    model (slow, and slower on a busy machine), while using one from several threads is safe."""

    def __init__(self, endpoint_url: str, region: str, service_endpoints: Mapping[str, str] | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.service_endpoints = dict(service_endpoints or {})
        self._session = boto3.session.Session(
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=region,
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str) -> Any:
        with self._lock:  # a Session is not thread-safe while it creates clients
            client = self._clients.get(service)
            if client is None:
                endpoint = self.service_endpoints.get(service, self.endpoint_url)
                client = self._session.client(service, endpoint_url=endpoint)
                self._clients[service] = client
            return client
