"""Token-signing keys: generated on first start, kept in the database with the private key encrypted,
rotated on request. A rotated-in key is published in the JWKS before it signs (``key_publish_delay``),
and a retired key stays published until the last token it signed has expired.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from consentry.services.context import ServiceContext

RSA_BITS = 2048
RETIREMENT_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    public_jwk: dict[str, object]
    private_pem: bytes | None
    signs_from: datetime
    signs_until: datetime | None

    def signs_at(self, now: datetime) -> bool:
        return self.signs_from <= now and (self.signs_until is None or now < self.signs_until)


def fernet_for(key_encryption_key: str) -> Fernet:
    """Derive the Fernet key from the configured key-encryption key (any length of text)."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key_encryption_key.encode("utf-8")).digest()))


def _b64u_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _new_key(fernet: Fernet) -> tuple[str, dict[str, object], bytes]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    numbers = private.public_key().public_numbers()
    der = private.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")  # noqa: S324 - a key id
    jwk: dict[str, object] = {"kty": "RSA", "use": "sig", "kid": kid, "n": _b64u_uint(numbers.n),
                              "e": _b64u_uint(numbers.e), "alg": "RS256"}
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return kid, jwk, fernet.encrypt(pem)


def load_keys(ctx: ServiceContext, now: datetime, kek: str) -> list[SigningKey]:
    """Every published key, newest first, with the private half of those that may sign."""
    fernet = fernet_for(kek)
    with ctx.uow.read() as tx:
        rows = tx.keys.list_published(now)
    keys = []
    for row in rows:
        try:
            pem = fernet.decrypt(row["private_key"])
        except InvalidToken as exc:
            raise RuntimeError("The signing keys cannot be decrypted: the key-encryption key "
                               "(CONSENTRY_KEY_ENCRYPTION_KEY) is not the one they were stored with.") from exc
        keys.append(SigningKey(row["kid"], row["alg"], row["public_jwk"], pem, row["signs_from"],
                               row["signs_until"]))
    return keys


def ensure_signing_key(ctx: ServiceContext, kek: str) -> None:
    """Create the first signing key when none is published."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        if tx.keys.list_published(now):
            return
        kid, jwk, encrypted = _new_key(fernet_for(kek))
        tx.keys.add(kid=kid, alg="RS256", public_jwk=jwk, private_key=encrypted, created_at=now, signs_from=now,
                    signs_until=None, published_until=None)


def rotate_signing_key(ctx: ServiceContext, kek: str) -> str:
    """Add a new key that starts signing after the publish delay; retire the current one then."""
    now = ctx.clock.now()
    starts = now + timedelta(seconds=ctx.settings.key_publish_delay)
    lifetime = timedelta(seconds=ctx.settings.access_token_lifetime) + RETIREMENT_MARGIN
    with ctx.uow.begin() as tx:
        for row in tx.keys.list_published(now):
            if row["signs_until"] is None or row["signs_until"] > starts:
                tx.keys.end_signing(row["kid"], starts, starts + lifetime)
        kid, jwk, encrypted = _new_key(fernet_for(kek))
        tx.keys.add(kid=kid, alg="RS256", public_jwk=jwk, private_key=encrypted, created_at=now, signs_from=starts,
                    signs_until=None, published_until=None)
        tx.keys.purge(now)
    return kid
