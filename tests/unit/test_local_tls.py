"""The local cloud's TLS material: made once, reused while valid, made again when expiring or broken."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from covid_pipeline.local.tls import LEAF_VALIDITY, ensure_local_tls

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_made_with_private_keys_readable_by_the_owner_only(tmp_path: Path) -> None:
    tls = ensure_local_tls(tmp_path / "tls", now=NOW)
    for key in (tls.ca_key, tls.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    leaf = _cert(tls.server_cert)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert leaf.issuer == _cert(tls.ca_cert).subject


def test_reused_while_valid(tmp_path: Path) -> None:
    first = ensure_local_tls(tmp_path, now=NOW)
    before = {path: path.read_bytes() for path in (first.ca_cert, first.server_cert, first.server_key)}
    second = ensure_local_tls(tmp_path, now=NOW + dt.timedelta(days=30))
    assert {path: path.read_bytes() for path in (second.ca_cert, second.server_cert, second.server_key)} == before


def test_an_expiring_leaf_is_made_again_under_the_same_ca(tmp_path: Path) -> None:
    tls = ensure_local_tls(tmp_path, now=NOW)
    ca, leaf = tls.ca_cert.read_bytes(), tls.server_cert.read_bytes()
    ensure_local_tls(tmp_path, now=NOW + LEAF_VALIDITY - dt.timedelta(days=1))
    assert tls.ca_cert.read_bytes() == ca
    assert tls.server_cert.read_bytes() != leaf


def test_an_expired_ca_makes_everything_again(tmp_path: Path) -> None:
    tls = ensure_local_tls(tmp_path, now=NOW)
    ca = tls.ca_cert.read_bytes()
    later = NOW + dt.timedelta(days=3651)
    ensure_local_tls(tmp_path, now=later)
    assert tls.ca_cert.read_bytes() != ca
    assert _cert(tls.server_cert).issuer == _cert(tls.ca_cert).subject


@pytest.mark.parametrize("broken", ["server.pem", "server-key.pem", "ca-key.pem"])
def test_a_missing_or_foreign_file_is_made_again(tmp_path: Path, broken: str) -> None:
    tls = ensure_local_tls(tmp_path / "a", now=NOW)
    other = ensure_local_tls(tmp_path / "b", now=NOW)
    # A file from another CA's folder: present but not matching.
    shutil.copy(other.folder / broken, tls.folder / broken)
    ensure_local_tls(tls.folder, now=NOW)
    context = ssl.create_default_context(cafile=str(tls.ca_cert))
    context.load_cert_chain(tls.server_cert, tls.server_key)  # key and certificate belong together
    assert _cert(tls.server_cert).issuer == _cert(tls.ca_cert).subject


def test_the_server_context_serves_a_chain_the_client_context_trusts(tmp_path: Path) -> None:
    tls = ensure_local_tls(tmp_path, now=dt.datetime.now(dt.UTC))
    server, client = tls.server_context(), tls.client_context()
    assert server.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client.verify_mode == ssl.CERT_REQUIRED and client.check_hostname
