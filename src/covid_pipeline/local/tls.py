"""The local cloud's TLS material: a local certificate authority and the emulator's certificate, made here.

AWS endpoints speak HTTPS, and our bucket, queue and topic policies deny any request that does not
(``aws:SecureTransport``). So the emulator speaks HTTPS too, with a certificate for 127.0.0.1 and localhost signed
by a CA that exists only on this machine, in a folder the caller chooses (the local cloud's ``.local/tls/``):

    ca.pem           the CA certificate: what clients trust (AWS_CA_BUNDLE for boto3 and the AWS CLI, the
                     provider's custom_ca_bundle for Terraform)
    ca-key.pem       the CA's private key (0600; only ever used to sign server.pem)
    server.pem       the emulator's certificate (IP 127.0.0.1, DNS localhost), then the CA certificate
    server-key.pem   its private key (0600)
    truststore.p12   the CA certificate as a PKCS12 trust store, built by the JDK's keytool, for JVMs (S3A);
                     truststore.p12.sha256 records which ca.pem it was built from

Everything is reused while valid and made again when missing, expired, about to expire or not matching (a leaf
not signed by this CA, a trust store of another CA). Keys are ECDSA P-256: fast to make, and accepted by Python's
ssl, Go (the Terraform provider) and Java 17.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import ipaddress
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from covid_pipeline.errors import UserError
from covid_pipeline.spark_env import JvmTrustStore

LOOPBACK_IP = "127.0.0.1"
LOOPBACK_NAME = "localhost"
CA_VALIDITY = dt.timedelta(days=3650)
# 397 days: the longest validity clients that cap server certificates (Apple's, browsers') still accept.
LEAF_VALIDITY = dt.timedelta(days=397)
# Material that expires within this margin is made again, so a long-running cloud never crosses an expiry.
RENEW_MARGIN = dt.timedelta(days=7)
# The trust store holds only the public CA certificate; its password protects nothing secret (Java wants one).
TRUSTSTORE_PASSWORD = "changeit"
TRUSTSTORE_ALIAS = "covid-pipeline-local-ca"


class TlsError(UserError):
    """The local TLS material could not be made (no keytool, an unwritable folder, ...)."""


@dataclass(frozen=True)
class LocalTls:
    """Paths of the material in ``folder``; made by ``ensure_local_tls``."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca-key.pem"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server-key.pem"

    @property
    def truststore_path(self) -> Path:
        return self.folder / "truststore.p12"

    def server_context(self) -> ssl.SSLContext:
        """What the emulator's listener wraps TLS connections with."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.server_cert, self.server_key)
        # HTTP/1.1 only: clients that offer h2 (Go's) fall back to it.
        context.set_alpn_protocols(["http/1.1"])
        # The emulator closes every connection after one response (werkzeug's server does), and its clients do not
        # resume sessions across connections: TLS 1.3 session tickets would only be two more writes per handshake.
        context.num_tickets = 0
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the local CA (and verifies the host name, as against AWS)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))

    def java_truststore(self) -> JvmTrustStore:
        """The CA as a PKCS12 trust store for JVMs (made with keytool on first use, then reused)."""
        return _ensure_truststore(self.ca_cert, self.truststore_path)


def java_truststore_for(ca_bundle: Path) -> JvmTrustStore:
    """A JVM trust store holding the certificates of a PEM bundle (what AWS_CA_BUNDLE names): the local cloud's
    ``truststore.p12`` for its own ``ca.pem``, else ``<bundle>.p12`` beside any other bundle."""
    ca_bundle = ca_bundle.resolve()
    local = LocalTls(ca_bundle.parent)
    if ca_bundle == local.ca_cert:
        return local.java_truststore()
    return _ensure_truststore(ca_bundle, ca_bundle.with_name(f"{ca_bundle.name}.p12"))


def ensure_local_tls(folder: Path, now: dt.datetime | None = None) -> LocalTls:
    """The CA and the server certificate in ``folder``: reused while valid, made again otherwise."""
    now = now or dt.datetime.now(dt.UTC)
    tls = LocalTls(folder.resolve())
    try:
        tls.folder.mkdir(parents=True, exist_ok=True)
        with _folder_lock(tls.folder):
            ca = _load_valid_ca(tls, now)
            if ca is None:
                ca = _make_ca(tls, now)
                leaf_ok = False
            else:
                leaf_ok = _leaf_is_valid(tls, ca[0], now)
            if not leaf_ok:
                _make_leaf(tls, ca, now)
    except OSError as exc:
        raise TlsError(f"cannot write the local TLS material in {folder}: {exc}") from exc
    return tls


# --- making and checking ---------------------------------------------------------------------------------------


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Two local clouds starting at once must not both write the folder."""
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes, private: bool = False) -> None:
    """Readers never see half a file; private keys are never readable by others, not even briefly."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _same_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    """Is ``key`` the private half of the certificate's public key?"""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def _fresh(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now and now + RENEW_MARGIN < cert.not_valid_after_utc


def _load_valid_ca(tls: LocalTls, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    if not (tls.ca_cert.is_file() and tls.ca_key.is_file()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(tls.ca_key.read_bytes(), password=None)
    except ValueError:
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _fresh(cert, now) or not _same_key(cert, key):
        return None
    return cert, key


def _leaf_is_valid(tls: LocalTls, ca_cert: x509.Certificate, now: dt.datetime) -> bool:
    if not (tls.server_cert.is_file() and tls.server_key.is_file()):
        return False
    try:
        leaf = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
        key = serialization.load_pem_private_key(tls.server_key.read_bytes(), password=None)
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ca_key = ca_cert.public_key()
        assert isinstance(ca_key, ec.EllipticCurvePublicKey)
        assert leaf.signature_hash_algorithm is not None
        ca_key.verify(leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm))
    except (ValueError, x509.ExtensionNotFound, InvalidSignature, AssertionError):
        return False
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return False
    return (
        _fresh(leaf, now)
        and leaf.issuer == ca_cert.subject
        and _same_key(leaf, key)
        and ipaddress.ip_address(LOOPBACK_IP) in names.get_values_for_type(x509.IPAddress)
        and LOOPBACK_NAME in names.get_values_for_type(x509.DNSName)
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _make_ca(tls: LocalTls, now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "covid-pipeline local cloud"),
            # A CA of its own per folder: the serial in the name tells two machines' CAs apart in error messages.
            x509.NameAttribute(NameOID.COMMON_NAME, f"covid-pipeline local CA {x509.random_serial_number():x}"[:64]),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        # pathlen 0: this CA signs the emulator's certificate and nothing that could sign further.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_atomic(tls.ca_key, _pem_key(key), private=True)
    _write_atomic(tls.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """Signatures only (EC keys: no encipherment); the CA's also sign certificates and revocation lists."""
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def _make_leaf(tls: LocalTls, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], now: dt.datetime) -> None:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK_NAME)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + LEAF_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(LOOPBACK_IP)), x509.DNSName(LOOPBACK_NAME)]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_atomic(tls.server_key, _pem_key(key), private=True)
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    _write_atomic(tls.server_cert, chain)


def keytool_path() -> str:
    """The JDK's keytool: next to the java Spark uses (JAVA_HOME), else on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "keytool").is_file():
        return str(Path(java_home) / "bin" / "keytool")
    found = shutil.which("keytool")
    if found is None:
        raise TlsError("keytool not found (it comes with the JDK, which Spark needs): install Java 17 or set JAVA_HOME")
    return found


def _ensure_truststore(ca_bundle: Path, target: Path) -> JvmTrustStore:
    """``target`` built from ``ca_bundle`` unless it already was (a stamp file records which bundle)."""
    try:
        bundle = ca_bundle.read_bytes()
    except OSError as exc:
        raise TlsError(f"cannot read the CA bundle {ca_bundle}: {exc}") from exc
    stamp = target.with_name(f"{target.name}.sha256")
    fingerprint = _sha256(bundle)
    with _folder_lock(target.parent):
        if not (target.is_file() and stamp.is_file() and stamp.read_text().strip() == fingerprint):
            _build_truststore(x509.load_pem_x509_certificates(bundle), target)
            _write_atomic(stamp, fingerprint.encode() + b"\n")
    return JvmTrustStore(path=target, password=TRUSTSTORE_PASSWORD, store_type="PKCS12")


def _build_truststore(certificates: list[x509.Certificate], target: Path) -> None:
    """keytool imports one certificate per call: each gets its own alias in a store built aside, then moved."""
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        store = Path(tmp) / target.name
        for index, certificate in enumerate(certificates):
            pem = Path(tmp) / f"cert-{index}.pem"
            pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
            command = [
                keytool_path(),
                "-importcert",
                "-noprompt",
                "-alias",
                f"{TRUSTSTORE_ALIAS}-{index}",
                "-file",
                str(pem),
                "-keystore",
                str(store),
                "-storetype",
                "PKCS12",
                "-storepass",
                TRUSTSTORE_PASSWORD,
            ]
            result = subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                detail = (result.stderr or result.stdout).strip().splitlines()
                raise TlsError(f"keytool could not build the trust store {target}: {detail[-1] if detail else '?'}")
        os.replace(store, target)
