"""Validating Consentry's own access tokens when they come back as bearer tokens (the Graph API):
signature against the published keys, issuer, audience, lifetime. The result says who is calling,
delegated (a user through an app: ``scp``) or app-only (``roles``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from consentry.domain.callers import Caller
from consentry.errors import GRAPH_UNAUTHENTICATED, ConsentryError
from consentry.protocol.keys import Keyring

CLOCK_SKEW = 300


def _invalid(reason: str) -> ConsentryError:
    return ConsentryError(GRAPH_UNAUTHENTICATED, reason=reason)


def validate_bearer(keyring: Keyring, authorization: str | None, now: datetime, base_url: str,
                    audiences: set[str]) -> Caller:
    if not authorization or not authorization[:7].lower() == "bearer ":
        raise _invalid("Access token is empty.")
    token = authorization[7:].strip()
    try:
        header = jws.extract_compact(token.encode()).headers()
        key = keyring.verification_key(str(header.get("kid", "")), now)
        if key is None:
            raise _invalid("Access token validation failure. Invalid signing key.")
        claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"]).claims
    except (JoseError, ValueError, TypeError, UnicodeError) as exc:
        raise _invalid("Access token validation failure. Invalid audience or malformed token.") from exc
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, int) or exp + CLOCK_SKEW < now.timestamp():
        raise _invalid("Lifetime validation failed, the token is expired.")
    if isinstance(nbf, int) and nbf - CLOCK_SKEW > now.timestamp():
        raise _invalid("Lifetime validation failed, the token is not yet valid.")
    tid = claims.get("tid")
    if not isinstance(tid, str) or claims.get("iss") not in (f"{base_url}/{tid}/", f"{base_url}/{tid}/v2.0"):
        raise _invalid("Access token validation failure. Invalid issuer.")
    if claims.get("aud") not in audiences:
        raise _invalid("Access token validation failure. Invalid audience.")
    return Caller(
        tenant_id=tid, app_id=str(claims.get("appid") or claims.get("azp") or ""),
        object_id=str(claims.get("oid") or ""), scopes=frozenset(str(claims.get("scp", "")).split()),
        roles=frozenset(claims.get("roles") or ()), is_app_only=claims.get("idtyp") == "app", claims=claims)
