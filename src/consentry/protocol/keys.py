"""The keyring: signs tokens with the current key and publishes the JWKS (spec §2.2, ``jwks_uri``).

Keys live in the database so that every process signs with the same key; each process caches them for
a short time and reloads when the cache ages or a key's signing window ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from consentry.services.keys import SigningKey

CACHE_TTL = timedelta(seconds=30)


class Keyring:
    def __init__(self, loader: Callable[[datetime], list[SigningKey]]) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._loaded_at: datetime | None = None
        self._keys: list[SigningKey] = []
        self._imported: dict[str, RSAKey] = {}

    def _refresh(self, now: datetime) -> list[SigningKey]:
        with self._lock:
            stale = self._loaded_at is None or now - self._loaded_at > CACHE_TTL or now < self._loaded_at
            if not stale and not any(k.signs_at(now) for k in self._keys):
                stale = True
            if stale:
                self._keys = self._loader(now)
                self._loaded_at = now
                self._imported = {k.kid: self._imported.get(k.kid) or RSAKey.import_key(k.private_pem)
                                  for k in self._keys if k.private_pem}
            return self._keys

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = None

    def signing_key(self, now: datetime) -> tuple[SigningKey, RSAKey]:
        for key in self._refresh(now):
            if key.signs_at(now):
                return key, self._imported[key.kid]
        raise RuntimeError("No signing key is active; run 'consentry keys rotate' or restart the server.")

    def sign(self, claims: dict[str, Any], now: datetime) -> str:
        key, rsa = self.signing_key(now)
        header = {"typ": "JWT", "alg": "RS256", "kid": key.kid, "x5t": key.kid}
        return jwt.encode(header, claims, rsa, algorithms=["RS256"])

    def jwks(self, now: datetime, issuer: str | None = None) -> dict[str, Any]:
        keys = []
        for key in self._refresh(now):
            jwk = dict(key.public_jwk)
            jwk["x5t"] = key.kid
            if issuer:
                jwk["issuer"] = issuer
            keys.append(jwk)
        return {"keys": keys}

    def verification_key(self, kid: str, now: datetime) -> RSAKey | None:
        """The public key for a token's ``kid`` (used to validate Consentry's own access tokens)."""
        for key in self._refresh(now):
            if key.kid == kid:
                return RSAKey.import_key(dict(key.public_jwk))  # type: ignore[arg-type]
        return None
