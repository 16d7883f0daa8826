"""The emulator's port: the one asked for (the previous run's) when it is free, one the kernel picks otherwise.

Its own module: each test starts and stops an emulator, which resets moto's process-wide state.
"""

from __future__ import annotations

import http.client
import socket
from pathlib import Path

import boto3
import pytest

from covid_pipeline.local.emulator import DUMMY_CREDENTIALS, Emulator, client_ssl_context


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(endpoint: str) -> bool:
    client = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    return bool(client.get_caller_identity()["Account"])


def test_a_free_port_asked_for_is_the_one_served(tmp_path: Path) -> None:
    wanted = _free_port()
    emulator = Emulator("us-east-1", tls_dir=tmp_path, port=wanted)
    emulator.start()
    try:
        assert emulator.port == wanted
        assert _answers(emulator.http_endpoint_url)
    finally:
        emulator.stop()
    # Stopped: the same port can be served again at once (no TIME_WAIT refusal).
    again = Emulator("us-east-1", tls_dir=tmp_path, port=wanted)
    again.start()
    try:
        assert again.port == wanted
    finally:
        again.stop()


def test_a_taken_port_falls_back_to_one_the_kernel_picks(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        emulator = Emulator("us-east-1", tls_dir=tmp_path, port=taken)
        emulator.start()
        try:
            assert emulator.port != taken
            assert _answers(emulator.http_endpoint_url)
        finally:
            emulator.stop()


def test_without_a_tls_folder_the_endpoint_is_plain_http() -> None:
    emulator = Emulator("us-east-1")
    emulator.start()
    try:
        assert emulator.endpoint_url.startswith("http://") and emulator.ca_bundle is None
        assert _answers(emulator.endpoint_url)
    finally:
        emulator.stop()


def test_stopping_ends_kept_alive_connections(tmp_path: Path) -> None:
    emulator = Emulator("us-east-1", tls_dir=tmp_path)
    emulator.start()
    context = client_ssl_context(emulator.endpoint_url)
    connection = http.client.HTTPSConnection("127.0.0.1", emulator.port, context=context, timeout=10)
    try:
        connection.request("GET", "/moto-api/")
        assert connection.getresponse().read()
        emulator.stop()
        with pytest.raises((http.client.HTTPException, OSError)):
            connection.request("GET", "/moto-api/")
            connection.getresponse().read()
    finally:
        connection.close()
        emulator.stop()
