"""Local TLS for ``consentry serve``: a private CA and a certificate for this machine's loopback names.

On first start :func:`ensure_local_tls` creates, under ``<data dir>/tls/``:

    ca.pem            the local CA certificate (what clients are told to trust)
    ca-key.pem        its private key (mode 0600; never leaves the machine)
    server.pem        the server certificate for localhost, 127.0.0.1 and ::1, issued by that CA
    server-key.pem    its private key (mode 0600)

Later starts reuse them while they stay valid for more than :data:`RENEW_BEFORE`; a server certificate
near its end is re-issued by the same CA, so clients that already trust ``ca.pem`` keep working. The CA
carries X.509 name constraints limiting it to the loopback names, so trusting it cannot let anyone who
steals ``ca-key.pem`` impersonate another site. Files are written atomically and generation is done
under a lock file, so two servers starting on one data directory do not race.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RENEW_BEFORE = timedelta(days=7)
CA_LIFETIME = timedelta(days=10 * 365)
# Apple platforms refuse server certificates valid for more than 825 days, even from a private CA.
SERVER_LIFETIME = timedelta(days=825)
BACKDATE = timedelta(hours=1)  # tolerate small clock skew between this host and its clients
LOOPBACK_DNS = ("localhost",)
LOOPBACK_IPS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


@dataclass(frozen=True, slots=True)
class LocalTLS:
    """Where the local CA and the server certificate are; ``created`` lists the files made this time."""

    ca_path: Path
    cert_path: Path
    key_path: Path
    created: tuple[str, ...] = ()


def ensure_local_tls(data_dir: Path, now: datetime | None = None) -> LocalTLS:
    """The local CA and server certificate under ``data_dir/tls``, created or renewed when needed."""
    directory = Path(data_dir).resolve() / "tls"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = LocalTLS(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    ca_key_path = directory / "ca-key.pem"
    now = now or datetime.now(UTC)
    created: list[str] = []
    with _exclusive(directory / ".lock"):
        ca = _load_valid_ca(paths.ca_path, ca_key_path, now)
        if ca is None:
            ca = _new_ca(now)
            _write(ca_key_path, _private_pem(ca[1]), private=True)
            _write(paths.ca_path, ca[0].public_bytes(serialization.Encoding.PEM))
            created += [paths.ca_path.name, ca_key_path.name]
        if not _server_certificate_is_usable(paths.cert_path, paths.key_path, ca[0], now):
            cert, key = _new_server_certificate(ca, now)
            _write(paths.key_path, _private_pem(key), private=True)
            _write(paths.cert_path, cert.public_bytes(serialization.Encoding.PEM))
            created += [paths.cert_path.name, paths.key_path.name]
    return LocalTLS(paths.ca_path, paths.cert_path, paths.key_path, tuple(created))


def trust_environment(ca_path: Path) -> dict[str, str]:
    """The environment variables that make the common client stacks trust the local CA."""
    path = str(Path(ca_path).resolve())
    return {"REQUESTS_CA_BUNDLE": path, "SSL_CERT_FILE": path, "NODE_EXTRA_CA_CERTS": path}


_CLIENTS = {
    "REQUESTS_CA_BUNDLE": "MSAL for Python, azure-identity (requests)",
    "SSL_CERT_FILE": "msgraph-sdk, httpx",
    "NODE_EXTRA_CA_CERTS": "msal-node, openid-client (Node)",
}


def trust_lines(ca_path: Path) -> list[str]:
    """Shell lines (``NAME=path  # for whom``) that make client processes trust the local CA.

    They are meant for the client process's environment, not a login shell: ``REQUESTS_CA_BUNDLE`` and
    ``SSL_CERT_FILE`` replace the default CA bundle of the programs that read them.
    """
    env = trust_environment(ca_path)
    width = max(len(f"{name}={shlex.quote(value)}") for name, value in env.items())
    return [f"{f'{name}={shlex.quote(value)}':<{width}}  # {_CLIENTS[name]}" for name, value in env.items()]


# --- the CA --------------------------------------------------------------------------------------

_CA = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def _load_valid_ca(cert_path: Path, key_path: Path, now: datetime) -> _CA | None:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _same_key(cert, key):
        return None
    if not _valid_for(cert, now, RENEW_BEFORE):
        return None
    return cert, key


def _new_ca(now: datetime) -> _CA:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Consentry"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"Consentry local CA {now:%Y-%m-%d %H:%M:%S}"),
    ])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    permitted: list[x509.GeneralName] = [x509.DNSName(name_) for name_ in LOOPBACK_DNS]
    permitted += [x509.IPAddress(ipaddress.ip_network(ip)) for ip in LOOPBACK_IPS]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None),
                       critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


# --- the server certificate ----------------------------------------------------------------------

def _server_certificate_is_usable(cert_path: Path, key_path: Path, ca: x509.Certificate,
                                  now: datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    if not _same_key(cert, key) or not _valid_for(cert, now, RENEW_BEFORE):
        return False
    try:
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return (set(LOOPBACK_DNS) <= set(names.get_values_for_type(x509.DNSName))
            and set(LOOPBACK_IPS) <= set(names.get_values_for_type(x509.IPAddress)))


def _new_server_certificate(ca: _CA, now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in LOOPBACK_DNS]
    names += [x509.IPAddress(ip) for ip in LOOPBACK_IPS]
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Consentry"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + SERVER_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


# --- helpers -------------------------------------------------------------------------------------

def _valid_for(cert: x509.Certificate, now: datetime, margin: timedelta) -> bool:
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - margin > now


def _same_key(cert: x509.Certificate, key: object) -> bool:
    public = getattr(key, "public_key", None)
    if public is None:
        return False
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(cert.public_key().public_bytes(serialization.Encoding.DER, spki)
                == public().public_bytes(serialization.Encoding.DER, spki))


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600 if private else 0o644)  # the umask may have narrowed the mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_path`` (POSIX); elsewhere, run unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
