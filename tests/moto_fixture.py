"""pytest plugin: a moto server over HTTP for one test (`pytest_plugins = ["tests.moto_fixture"]`)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from tests.warehouse_fixtures import free_port


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server on a free loopback port, with AWS_ENDPOINT_URL pointing every boto3 client at it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # moto's backends are process-wide: start and end every test from an empty cloud.
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).close()
    try:
        yield endpoint
    finally:
        urllib.request.urlopen(reset).close()
        server.stop()
