"""Secrets at rest: argon2id for user passwords; SHA-256 digests, compared in constant time, for the
high-entropy values the server generates itself (client secrets, codes, refresh tokens, session ids).
A slow hash per token request would cap throughput at a few dozen requests a second, and buys nothing
for a value with 128+ bits of entropy.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's minimum argon2id configuration: m=19 MiB, t=2, p=1.
OWASP_MIN_MEMORY_KIB = 19 * 1024
OWASP_MIN_TIME_COST = 2


class PasswordHasher:
    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        if memory_kib < OWASP_MIN_MEMORY_KIB or time_cost < OWASP_MIN_TIME_COST:
            raise ValueError("argon2id parameters below OWASP's minimum (m=19456 KiB, t=2, p=1)")
        self._hasher = _Argon2(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
                               type=Type.ID)
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Verify in about the same time whether or not the user exists (no user enumeration by timing)."""
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def matches_digest(value: str, expected_digest: str) -> bool:
    return hmac.compare_digest(digest(value), expected_digest)


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random value with ``8 * nbytes`` bits of entropy."""
    return secrets.token_urlsafe(nbytes)


_SECRET_ALPHABET = string.ascii_letters + string.digits + "~._-"


def new_client_secret() -> str:
    """A 40-character client secret (~235 bits), shaped like Entra's (three-character hint + random)."""
    body = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(37))
    return f"{secrets.choice(string.ascii_letters)}{secrets.choice(string.digits)}Q~{body[:36]}"


_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ23456789"


def new_user_code() -> str:
    """A device-flow user code: 9 characters from an unambiguous alphabet (~43 bits)."""
    return "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9))
