"""Client authentication at the token endpoint (real-clients §0.6, §1.2): a secret in the form body or in
HTTP Basic, a ``private_key_jwt`` assertion signed RS256 with ``x5t`` or PS256 with ``x5t#S256`` (and
``x5c``), or none for public clients. The methods plug into Authlib's client authentication registry.

Assertions are checked as Entra does: the key is the registered certificate the header's thumbprint names;
``aud`` is the token endpoint URL; ``iss`` = ``sub`` = the client id; ``exp``/``nbf``/``iat`` may be
floats; a ``jti`` is accepted once.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from consentry.domain.apps import Application, KeyCredential
from consentry.errors import (
    CLIENT_ASSERTION_EXPIRED,
    CLIENT_ASSERTION_INVALID,
    CLIENT_ASSERTION_MALFORMED,
    CLIENT_ASSERTION_REPLAYED,
    CLIENT_SECRET_INVALID,
    PUBLIC_CLIENT_CONFIDENTIAL_FLOW,
    ConsentryError,
)
from consentry.services.credentials import digest, matches_digest

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ["RS256", "PS256"]
MAX_ASSERTION_LIFETIME = timedelta(hours=1)
CLOCK_SKEW = timedelta(minutes=5)
CONFIDENTIAL_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
# MSAL's PS256 assertions carry the whole certificate chain in ``x5c``: far over joserfc's 512-byte default.
_ASSERTION_JWS = jws.JWSRegistry(algorithms=ASSERTION_ALGORITHMS)
_ASSERTION_JWS.max_header_length = 16 * 1024


class OAuthClient(ClientMixin):
    """An application as Authlib's client model sees it."""

    def __init__(self, app: Application, now: datetime) -> None:
        self.app = app
        self.now = now

    def get_client_id(self) -> str:
        return self.app.app_id

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.app.is_public_client:
            return method == "none"
        return method in CONFIDENTIAL_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        return True

    def check_client_secret(self, client_secret: str) -> bool:
        now = self.now
        return any(matches_digest(client_secret, c.secret_hash) and c.start <= now + CLOCK_SKEW and now < c.end
                   for c in self.app.password_credentials)


def _secret_method(source: Callable[[Any], tuple[str | None, str | None]]) -> Callable[..., OAuthClient | None]:
    def authenticate(lookup: Callable[[str], OAuthClient | None], request: Any) -> OAuthClient | None:
        client_id, secret = source(request)
        if not client_id or not secret:
            return None
        client = lookup(client_id)
        assert client is not None
        if client.app.is_public_client:
            raise ConsentryError(PUBLIC_CLIENT_CONFIDENTIAL_FLOW)
        if not client.check_client_secret(secret):
            raise ConsentryError(CLIENT_SECRET_INVALID, app_id=client.app.app_id)
        return client
    return authenticate


def _basic(request: Any) -> tuple[str | None, str | None]:
    try:
        client_id, secret = extract_basic_authorization({"Authorization": request.headers.get("authorization", "")})
    except (UnicodeDecodeError, ValueError):
        return None, None
    form_id = request.form.get("client_id")
    if client_id and form_id and form_id != client_id:
        raise ConsentryError(CLIENT_SECRET_INVALID, app_id=form_id)
    return client_id, secret


def _post(request: Any) -> tuple[str | None, str | None]:
    return request.form.get("client_id"), request.form.get("client_secret")


authenticate_client_secret_basic = _secret_method(_basic)
authenticate_client_secret_post = _secret_method(_post)


def authenticate_none(lookup: Callable[[str], OAuthClient | None], request: Any) -> OAuthClient | None:
    form = request.form
    if form.get("client_secret") or form.get("client_assertion") or not form.get("client_id"):
        return None
    if request.headers.get("authorization", "").lower().startswith("basic "):
        return None
    return lookup(form["client_id"])


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _find_certificate(app: Application, header: dict[str, Any]) -> KeyCredential | None:
    for field, attribute in (("x5t#S256", "thumbprint_sha256"), ("x5t", "thumbprint_sha1")):
        value = header.get(field)
        if isinstance(value, str):
            try:
                wanted = _b64url_decode(value).hex().upper()
            except (binascii.Error, ValueError):
                return None
            for cred in app.key_credentials:
                if getattr(cred, attribute) == wanted:
                    return cred
    return None


def _claim_time(claims: dict[str, Any], name: str, required: bool) -> datetime | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise ConsentryError(CLIENT_ASSERTION_MALFORMED, reason=f"The '{name}' claim is missing.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConsentryError(CLIENT_ASSERTION_MALFORMED, reason=f"The '{name}' claim is not a number.")
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ConsentryError(CLIENT_ASSERTION_MALFORMED, reason=f"The '{name}' claim is out of range.") from exc


class PrivateKeyJwt:
    """The ``private_key_jwt`` client authentication method."""

    def __init__(self, audiences: Callable[[Any], set[str]], spend_jti: Callable[[str, datetime], bool],
                 now: Callable[[], datetime]) -> None:
        self._audiences = audiences
        self._spend_jti = spend_jti
        self._now = now

    def __call__(self, lookup: Callable[[str], OAuthClient | None], request: Any) -> OAuthClient | None:
        form = request.form
        assertion = form.get("client_assertion")
        if not assertion:
            return None
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise ConsentryError(CLIENT_ASSERTION_MALFORMED,
                                 reason=f"client_assertion_type must be '{ASSERTION_TYPE}'.")
        header, claims = self._unverified(assertion)
        client_id = claims.get("sub")
        if not isinstance(client_id, str) or claims.get("iss") != client_id:
            raise ConsentryError(CLIENT_ASSERTION_MALFORMED, reason="'iss' and 'sub' must both be the client id.")
        if form.get("client_id") and form["client_id"] != client_id:
            raise ConsentryError(CLIENT_ASSERTION_MALFORMED, reason="'sub' does not match the client_id parameter.")
        client = lookup(client_id)
        assert client is not None
        cert = _find_certificate(client.app, header)
        if cert is None:
            raise ConsentryError(CLIENT_ASSERTION_INVALID,
                                 reason="No certificate registered for the application has the thumbprint in the "
                                        "assertion's x5t or x5t#S256 header.")
        self._verify_signature(assertion, cert)
        self._validate_claims(request, claims)
        return client

    @staticmethod
    def _unverified(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            parts = assertion.split(".")
            if len(parts) != 3:
                raise ValueError("not a compact JWS")
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
        except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise ConsentryError(CLIENT_ASSERTION_MALFORMED, reason="The assertion is not a valid JWT.") from exc
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise ConsentryError(CLIENT_ASSERTION_MALFORMED, reason="The assertion is not a valid JWT.")
        if header.get("alg") not in ASSERTION_ALGORITHMS:
            raise ConsentryError(CLIENT_ASSERTION_MALFORMED,
                                 reason=f"The algorithm '{header.get('alg')}' is not accepted; use RS256 or PS256.")
        return header, claims

    @staticmethod
    def _verify_signature(assertion: str, cert: KeyCredential) -> None:
        try:
            public = x509.load_der_x509_certificate(cert.certificate_der).public_key()
            pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            jws.deserialize_compact(assertion, RSAKey.import_key(pem), registry=_ASSERTION_JWS)
        except (JoseError, ValueError, TypeError) as exc:
            raise ConsentryError(CLIENT_ASSERTION_INVALID, reason="The signature does not verify with the "
                                                                  "registered certificate.") from exc

    def _validate_claims(self, request: Any, claims: dict[str, Any]) -> None:
        now = self._now()
        aud = claims.get("aud")
        audiences = self._audiences(request)
        candidates = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a in audiences for a in candidates):
            raise ConsentryError(CLIENT_ASSERTION_MALFORMED,
                                 reason="The 'aud' claim must be the token endpoint URL.")
        exp = _claim_time(claims, "exp", True)
        nbf = _claim_time(claims, "nbf", False)
        iat = _claim_time(claims, "iat", False)
        assert exp is not None
        if exp + CLOCK_SKEW < now:
            raise ConsentryError(CLIENT_ASSERTION_EXPIRED, reason="The assertion has expired.")
        if (nbf and nbf - CLOCK_SKEW > now) or (iat and iat - CLOCK_SKEW > now):
            raise ConsentryError(CLIENT_ASSERTION_EXPIRED, reason="The assertion is not valid yet.")
        if exp - (iat or nbf or now) > MAX_ASSERTION_LIFETIME + CLOCK_SKEW:
            raise ConsentryError(CLIENT_ASSERTION_EXPIRED, reason="The assertion's lifetime is over an hour.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise ConsentryError(CLIENT_ASSERTION_MALFORMED, reason="The 'jti' claim is missing.")
        if not self._spend_jti(digest(f"{claims['sub']}|{jti}"), exp + CLOCK_SKEW):
            raise ConsentryError(CLIENT_ASSERTION_REPLAYED)

