"""Application certificates: reading an X.509 certificate into a key credential, replacing an application's
certificates as Graph's PATCH of ``keyCredentials`` does, and the audit record of any credential change."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from consentry.domain.apps import Application, KeyCredential, PasswordCredential
from consentry.domain.ids import new_guid
from consentry.errors import INVALID_VALUE, ConsentryError
from consentry.services import audit
from consentry.services.audit import Target
from consentry.services.context import Actor
from consentry.store.uow import TenantScope

CERTIFICATE_CHANGES = "Update application – Certificates and secrets management"


@dataclass(frozen=True, slots=True)
class KeyCredentialInput:
    """One entry of Graph's ``keyCredentials``: a certificate to add (``key``: PEM, DER or base64 DER), or
    an existing credential to keep (its ``key_id`` without a key)."""

    key: bytes | None
    key_id: str | None = None
    display_name: str | None = None
    type: str = "AsymmetricX509Cert"
    usage: str = "Verify"
    start: datetime | None = None
    end: datetime | None = None


def _invalid(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


def describe_password(cred: PasswordCredential) -> str:
    return f"[KeyIdentifier={cred.key_id},KeyType=Password,KeyUsage=Verify,DisplayName={cred.display_name}]"


def describe_key(cred: KeyCredential) -> str:
    return (f"[KeyIdentifier={cred.key_id},KeyType={cred.type},KeyUsage={cred.usage},"
            f"DisplayName={cred.display_name}]")


def audit_credentials(scope: TenantScope, now: datetime, actor: Actor, app: Application, old: list[str] | None,
                       new: list[str] | None) -> None:
    audit.record(scope, now, actor, CERTIFICATE_CHANGES, "ApplicationManagement", "Update",
                 [Target(app.id, "Application", app.display_name, modified={"KeyDescription": (old, new)})])


def certificate_thumbprints(der: bytes) -> tuple[str, str]:
    return hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()  # noqa: S324


def parse_certificate(data: bytes) -> x509.Certificate:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        try:
            return x509.load_der_x509_certificate(data)
        except ValueError:
            return x509.load_der_x509_certificate(base64.b64decode(data, validate=True))
    except ValueError as exc:
        raise ConsentryError(INVALID_VALUE, reason="The key is not a valid X.509 certificate.") from exc


def certificate_credential(data: bytes, display_name: str | None = None, start: datetime | None = None,
                           end: datetime | None = None) -> KeyCredential:
    """A certificate credential from the public certificate (PEM, DER or base64 DER), with a new keyId."""
    cert = parse_certificate(data)
    der = cert.public_bytes(Encoding.DER)
    sha1, sha256 = certificate_thumbprints(der)
    start = start or cert.not_valid_before_utc
    end = end or cert.not_valid_after_utc
    if end <= start:
        raise _invalid("The certificate's endDateTime must be later than its startDateTime.")
    return KeyCredential(new_guid(), (display_name or cert.subject.rfc4514_string())[:256], "AsymmetricX509Cert",
                         "Verify", der, sha1, sha256, start, end)


def replace_key_credentials(scope: TenantScope, app: Application, wanted: Sequence[KeyCredentialInput],
                             now: datetime, actor: Actor) -> None:
    """Make the app's certificates exactly ``wanted`` (Graph's PATCH replaces the whole collection): an entry
    with a ``key`` is a certificate (kept if already registered), one without names a credential to keep."""
    existing = {k.key_id: k for k in app.key_credentials}
    by_thumbprint = {k.thumbprint_sha256: k for k in app.key_credentials}
    keep: set[str] = set()
    added: list[KeyCredential] = []
    for item in wanted:
        if item.type != "AsymmetricX509Cert" or item.usage != "Verify":
            raise _invalid("Only keyCredentials of type AsymmetricX509Cert with usage Verify are supported.")
        if item.key is None:
            kept = existing.get((item.key_id or "").lower())
            if kept is None:
                raise _invalid("A new keyCredential needs its certificate in 'key' (base64 DER).")
            keep.add(kept.key_id)
            continue
        cred = certificate_credential(item.key, item.display_name, item.start, item.end)
        if cred.end <= now:
            raise _invalid("The keyCredential's endDateTime is in the past.")
        if any(c.thumbprint_sha256 == cred.thumbprint_sha256 for c in added) or (
                by_thumbprint.get(cred.thumbprint_sha256) and by_thumbprint[cred.thumbprint_sha256].key_id in keep):
            raise _invalid("The same certificate appears twice in keyCredentials.")
        same = by_thumbprint.get(cred.thumbprint_sha256)
        if same is not None:
            keep.add(same.key_id)
        else:
            added.append(cred)
    removed = [k for k in app.key_credentials if k.key_id not in keep]
    if not added and not removed:
        return
    for cred in removed:
        scope.apps.remove_key_credential(app.id, cred.key_id)
    for cred in added:
        scope.apps.add_key_credential(app.id, cred)
    audit_credentials(scope, now, actor, app, [describe_key(k) for k in app.key_credentials],
                       [describe_key(k) for k in app.key_credentials if k.key_id in keep]
                       + [describe_key(k) for k in added])
