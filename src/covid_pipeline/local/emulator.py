"""The embedded AWS emulator: moto's server, in this process, on one loopback port that speaks HTTPS and HTTP.

Everything else reaches it through boto3's standard endpoint variables
(``AWS_ENDPOINT_URL``, ``AWS_CA_BUNDLE``), so no code outside this package knows it talks to an emulator.

With a TLS folder (``Emulator(region, tls_dir=...)``) the endpoint is ``https://127.0.0.1:PORT``, with a
certificate signed by the local CA (covid_pipeline.local.tls), as AWS endpoints are HTTPS. The same port still
answers plain HTTP: each connection's first byte tells a TLS handshake (0x16) from an HTTP request line, and the
WSGI environ's ``wsgi.url_scheme`` says which one a request came in on. That is what ``aws:SecureTransport`` is
evaluated from (covid_pipeline.local.moto_patches), so the TLS-only policies of terraform/ hold here as on AWS:
a plain-HTTP request to a TLS-only bucket is denied. Connections are kept alive between requests (werkzeug's
development server closes each after one response), so TLS costs a handshake per connection, not per request.

The listener (one port, both protocols) is ``emulator_listener``. The WSGI stack is composable:
``wrap(middleware)`` puts another layer (a request gate, ...) around moto's app and ours before ``start()``.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3
from moto.server import DomainDispatcherApplication, create_backend_app

from covid_pipeline.local import moto_patches
from covid_pipeline.local.emulator_listener import DualProtocolServer, WSGIApp, listen
from covid_pipeline.local.glue_front import LOOPBACK, GlueActionMiddleware
from covid_pipeline.local.request_gate import RequestGate
from covid_pipeline.local.tls import LocalTls, ensure_local_tls

# Credentials moto accepts; they must never be real ones (the emulator does not check them).
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Variables that would make boto3 pick real credentials or a profile instead of ours.
_SHADOWING_VARIABLES = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")

log = logging.getLogger(__name__)

# The CA of each running emulator's HTTPS endpoint in this process: ClientCache and emulator_env find it here when
# the caller does not pass one (a client made from just the endpoint URL still verifies the certificate).
_CA_BUNDLES: dict[str, Path] = {}
_CA_BUNDLES_LOCK = threading.Lock()


def ca_bundle_for(endpoint_url: str) -> Path | None:
    """The CA certificate a running emulator of this process serves ``endpoint_url`` with, if any."""
    with _CA_BUNDLES_LOCK:
        return _CA_BUNDLES.get(endpoint_url.rstrip("/"))


def client_ssl_context(endpoint_url: str) -> ssl.SSLContext | None:
    """For urllib calls to an emulator endpoint (``/moto-api/...``): None for http://, else a context verifying
    the certificate with this process's emulator CA, or AWS_CA_BUNDLE (a child process of the local cloud)."""
    if not endpoint_url.startswith("https://"):
        return None
    ca = ca_bundle_for(endpoint_url) or os.environ.get("AWS_CA_BUNDLE")
    return ssl.create_default_context(cafile=str(ca) if ca else None)


class Emulator:
    """moto's server app on 127.0.0.1 in a thread of this process, on the port asked for when it is free and on
    one the kernel picks otherwise (port 0, the default: never a fixed one).

    ``tls_dir``: the folder of the local CA and the endpoint's certificate (made there if missing or expiring);
    with it the endpoint is HTTPS (plain HTTP still answered on the same port), without it plain HTTP only.

    moto keeps its backends in module globals, so one process can only hold one
    emulator's state: ``stop()`` resets them so the next emulator starts empty.
    """

    def __init__(self, region: str, tls_dir: Path | None = None, port: int = 0) -> None:
        self.region = region
        self.tls_dir = tls_dir
        self.requested_port = port
        self.tls: LocalTls | None = None
        self._server: DualProtocolServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        # moto answering as AWS does where Terraform's provider and our runtimes notice (moto_patches' docstring).
        moto_patches.install()
        # Every request holds the gate while it is inside moto, so a snapshot can pause them (EmulatorState). It wraps
        # moto alone: the Glue job-run actions call moto back over HTTP while they serve a request.
        self.gate = RequestGate(DomainDispatcherApplication(create_backend_app))
        # Glue job-run actions served on this endpoint too (the local cloud installs the executor's).
        self.glue_actions = GlueActionMiddleware(self.gate)
        # Innermost to outermost: moto, the gate, the Glue job-run actions, the request context policies are
        # evaluated in.
        self.app: WSGIApp = moto_patches.RequestContextMiddleware(self.glue_actions)

    def wrap(self, middleware: Callable[[WSGIApp], WSGIApp]) -> None:
        """Put ``middleware`` around the current stack (outermost); before ``start()``."""
        if self._server is not None:
            raise RuntimeError("wrap the emulator's app before starting it")
        self.app = middleware(self.app)

    def start(self) -> str:
        # werkzeug logs every request at INFO: thousands of lines per Spark job.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        tls_context = None
        if self.tls_dir is not None:
            self.tls = ensure_local_tls(self.tls_dir)
            tls_context = self.tls.server_context()
        sock = listen(self.requested_port)
        try:
            server = DualProtocolServer(sock, self.app, tls_context)
        finally:
            sock.close()  # the server holds its own duplicate
        self._server = server
        self._port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
        self._thread.start()
        if self.tls is not None:
            with _CA_BUNDLES_LOCK:
                _CA_BUNDLES[self.endpoint_url] = self.tls.ca_cert
        # A previous emulator in this process may have left state behind in moto's globals.
        self.reset()
        log.info("moto listening on %s", self.endpoint_url)
        return self.endpoint_url

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """The endpoint clients use: https://127.0.0.1:PORT with TLS, else http://127.0.0.1:PORT."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{LOOPBACK}:{self.port}"

    @property
    def http_endpoint_url(self) -> str:
        """The same port, plain HTTP (what a TLS-only policy denies)."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ca_bundle(self) -> Path | None:
        """The PEM file clients verify the endpoint with (AWS_CA_BUNDLE, the provider's custom_ca_bundle)."""
        return self.tls.ca_cert if self.tls is not None else None

    @property
    def running(self) -> bool:
        return self._server is not None

    def reset(self) -> None:
        """Drop every resource moto holds (all services, all accounts)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30, context=client_ssl_context(self.endpoint_url)) as response:
            response.read()

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self.reset()
        finally:
            with _CA_BUNDLES_LOCK:
                _CA_BUNDLES.pop(self.endpoint_url, None)
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            if self._thread is not None:
                self._thread.join(timeout=30)
            self._server = None
            self._thread = None
            self._port = None


def emulator_env(endpoint_url: str, region: str, ca_bundle: Path | str | None = None) -> dict[str, str]:
    """The environment a process needs so that its boto3 (and the AWS CLI, and Terraform's provider) talks to the
    emulator. ``ca_bundle`` (default: the CA of this process's emulator on ``endpoint_url``) becomes AWS_CA_BUNDLE,
    which all three read."""
    env = {
        **DUMMY_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    ca = ca_bundle or ca_bundle_for(endpoint_url)
    if ca:
        env["AWS_CA_BUNDLE"] = str(ca)
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

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        service_endpoints: Mapping[str, str] | None = None,
        ca_bundle: Path | str | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.service_endpoints = dict(service_endpoints or {})
        # The emulator's CA when it serves HTTPS (else boto3's own default: the CA bundle it ships, AWS_CA_BUNDLE).
        ca = ca_bundle or ca_bundle_for(endpoint_url)
        self._verify: str | None = str(ca) if ca else None
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
                client = self._session.client(service, endpoint_url=endpoint, verify=self._verify)
                self._clients[service] = client
            return client
