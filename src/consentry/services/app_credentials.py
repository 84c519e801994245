"""An application's credentials after registration: client secrets (``addPassword``/``removePassword``),
certificates added in the portal or the CLI, and Graph's ``addKey``/``removeKey`` with their proof of
possession. Secret values are returned once and stored only as digests."""

from __future__ import annotations

import binascii
import json
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from consentry.domain.apps import Application, KeyCredential, PasswordCredential
from consentry.domain.ids import new_guid
from consentry.errors import CONFLICT, INVALID_VALUE, ConsentryError
from consentry.services.apps import application_in, graph_application_in
from consentry.services.certificates import (
    KeyCredentialInput,
    audit_credentials,
    certificate_credential,
    describe_key,
    describe_password,
)
from consentry.services.context import Actor, ServiceContext
from consentry.services.credentials import digest, new_client_secret
from consentry.store.uow import TenantScope

SECRET_DEFAULT_LIFETIME = timedelta(days=180)
PROOF_AUDIENCE = "00000002-0000-0000-c000-000000000000"  # what addKey/removeKey proofs are addressed to
PROOF_MAX_LIFETIME = timedelta(minutes=10)
PROOF_SKEW = timedelta(minutes=5)
_PROOF_JWS = jws.JWSRegistry(algorithms=["RS256", "PS256"])
GRAPH_SECRET_LIFETIME = timedelta(days=730)  # addPassword without endDateTime: "startDateTime + 2 years"


def _invalid(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


def add_password(ctx: ServiceContext, tenant_id: str, application_id: str, actor: Actor,
                 display_name: str | None = None, end: datetime | None = None, *, start: datetime | None = None,
                 lifetime: timedelta = SECRET_DEFAULT_LIFETIME) -> tuple[PasswordCredential, str]:
    """Add a client secret. The secret value is returned here once and never stored."""
    now = ctx.clock.now()
    start = start or now
    end = end or start + lifetime
    if end <= start:
        raise _invalid("endDateTime must be later than startDateTime.")
    if display_name is not None and len(display_name) > 256:
        raise _invalid("displayName is at most 256 characters long.")
    secret = new_client_secret()
    cred = PasswordCredential(new_guid(), display_name, secret[:3], digest(secret), start, end)
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        app = application_in(scope, application_id)
        scope.apps.add_password_credential(app.id, cred)
        audit_credentials(scope, now, actor, app, None, [describe_password(cred)])
    return cred, secret


def remove_password(ctx: ServiceContext, tenant_id: str, application_id: str, key_id: str, actor: Actor) -> None:
    """Remove a client secret by its keyId (Graph's ``removePassword``)."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        app = graph_application_in(scope, application_id)
        cred = next((c for c in app.password_credentials if c.key_id == key_id.lower()), None)
        if cred is None:
            raise _invalid(f"No password credential with keyId '{key_id}' exists on the application.")
        scope.apps.remove_password_credential(app.id, cred.key_id)
        audit_credentials(scope, now, actor, app, [describe_password(cred)], None)


def add_certificate(ctx: ServiceContext, tenant_id: str, application_id: str, certificate: bytes, actor: Actor,
                    display_name: str | None = None) -> KeyCredential:
    """Add a certificate credential (the public certificate only; PEM, DER or base64 DER)."""
    cred = certificate_credential(certificate, display_name)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        _add_certificate_to(scope, application_in(scope, application_id), cred, now, actor)
    return cred


def _add_certificate_to(scope: TenantScope, app: Application, cred: KeyCredential, now: datetime,
                        actor: Actor) -> None:
    if any(k.thumbprint_sha256 == cred.thumbprint_sha256 for k in app.key_credentials):
        raise ConsentryError(CONFLICT, reason="This certificate is already registered for the application.")
    scope.apps.add_key_credential(app.id, cred)
    audit_credentials(scope, now, actor, app, None, [describe_key(cred)])


def add_key(ctx: ServiceContext, tenant_id: str, application_id: str, key: KeyCredentialInput, proof: str,
            actor: Actor) -> KeyCredential:
    """Graph's ``addKey``: add a certificate, proving possession of one the application already has."""
    if key.type != "AsymmetricX509Cert" or key.usage != "Verify" or key.key is None:
        raise _invalid("addKey supports keyCredentials of type AsymmetricX509Cert with usage Verify and a key.")
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        app = graph_application_in(scope, application_id)
        verify_proof(app, proof, now)
        cred = certificate_credential(key.key, key.display_name, key.start, key.end)
        _add_certificate_to(scope, app, cred, now, actor)
    return cred


def remove_key(ctx: ServiceContext, tenant_id: str, application_id: str, key_id: str, proof: str,
               actor: Actor) -> None:
    """Graph's ``removeKey``: remove a certificate, proving possession of one the application has."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        app = graph_application_in(scope, application_id)
        verify_proof(app, proof, now)
        cred = next((k for k in app.key_credentials if k.key_id == key_id.lower()), None)
        if cred is None:
            raise _invalid(f"No key credential with keyId '{key_id}' exists on the application.")
        scope.apps.remove_key_credential(app.id, cred.key_id)
        audit_credentials(scope, now, actor, app, [describe_key(cred)], None)


def verify_proof(app: Application, proof: str, now: datetime) -> None:
    """The proof of possession of ``addKey``/``removeKey``: a JWT signed (RS256 or PS256) with the private key of
    one of the application's currently valid certificates, with ``aud`` 00000002-0000-0000-c000-000000000000,
    ``iss`` the application's object id, and ``nbf``/``exp`` at most ten minutes apart around now."""
    valid = [k for k in app.key_credentials if k.start - PROOF_SKEW <= now <= k.end]
    if not valid:
        raise _invalid("The application has no valid certificate to prove possession of; use PATCH keyCredentials.")
    claims = next((c for c in (_proof_claims(proof, k) for k in valid) if c is not None), None)
    if claims is None:
        raise _invalid("The proof is not a JWT signed with one of the application's valid certificates.")
    nbf, exp = claims.get("nbf"), claims.get("exp")
    if claims.get("aud") != PROOF_AUDIENCE or claims.get("iss") != app.id:
        raise _invalid(f"The proof needs aud '{PROOF_AUDIENCE}' and iss the application's id.")
    if not isinstance(nbf, int | float) or not isinstance(exp, int | float) or isinstance(nbf, bool):
        raise _invalid("The proof needs numeric nbf and exp claims.")
    if exp - nbf > (PROOF_MAX_LIFETIME + timedelta(minutes=1)).total_seconds() or not (
            nbf - PROOF_SKEW.total_seconds() <= now.timestamp() <= exp + PROOF_SKEW.total_seconds()):
        raise _invalid("The proof has expired or is not yet valid (exp must be at most nbf + 10 minutes).")


def _proof_claims(proof: str, cred: KeyCredential) -> dict[str, object] | None:
    try:
        pem = x509.load_der_x509_certificate(cred.certificate_der).public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        payload = jws.deserialize_compact(proof, RSAKey.import_key(pem), registry=_PROOF_JWS).payload
        claims = json.loads(payload or b"{}")
    except (JoseError, ValueError, TypeError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None
