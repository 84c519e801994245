"""Token claim sets as Microsoft Entra ID writes them (spec §8.4; Entra's access and ID token claim
references): v1.0 tokens for resources that accept them (Microsoft Graph and the other built-in APIs),
v2.0 tokens for registered APIs, v2.0 ID tokens from the v2.0 endpoints and v1.0 ID tokens from v1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consentry.domain.apps import ServicePrincipal
from consentry.domain.builtin import find_builtin_application
from consentry.domain.directory import User


@dataclass(frozen=True, slots=True)
class Issuer:
    base_url: str
    tenant_id: str

    @property
    def v2(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/v2.0"

    @property
    def v1(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def client_info(user: User) -> str:
    return b64url(json.dumps({"uid": user.id, "utid": user.tenant_id}, separators=(",", ":")).encode())


def pairwise_subject(user: User, app_id: str) -> str:
    """``sub`` is unique per user and application, as Entra's is."""
    return b64url(hashlib.sha256(f"{user.tenant_id}|{user.id}|{app_id}".encode()).digest())[:43]


def _uti() -> str:
    return b64url(uuid.uuid4().bytes)[:22]


def _times(now: datetime, lifetime: int) -> dict[str, int]:
    iat = int(now.timestamp())
    return {"iat": iat, "nbf": iat, "exp": iat + lifetime}


def access_token_version(resource: ServicePrincipal) -> int:
    """Built-in Microsoft APIs accept v1.0 tokens; APIs registered here get v2.0 tokens."""
    return 1 if find_builtin_application(resource.app_id) is not None else 2


def client_auth_class(auth_method: str | None) -> str:
    """``appidacr``/``azpacr``: 0 public client, 1 client secret, 2 certificate."""
    return {"private_key_jwt": "2", "client_secret_post": "1", "client_secret_basic": "1"}.get(auth_method or "",
                                                                                               "0")


@dataclass(frozen=True, slots=True)
class TokenSubject:
    """Everything an access token says about who is calling, and for what."""

    issuer: Issuer
    resource: ServicePrincipal
    audience: str
    client_app_id: str
    client_name: str
    client_sp_id: str | None
    auth_method: str | None
    user: User | None
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    role_template_ids: tuple[str, ...] = ()
    ip_address: str | None = None
    auth_time: datetime | None = None


def access_token_claims(s: TokenSubject, now: datetime, lifetime: int) -> dict[str, Any]:
    version = access_token_version(s.resource)
    acr = client_auth_class(s.auth_method)
    claims: dict[str, Any] = {"aud": s.audience, **_times(now, lifetime), "tid": s.issuer.tenant_id,
                              "uti": _uti(), "rh": "0.consentry"}
    if version == 1:
        claims.update(iss=s.issuer.v1, ver="1.0", appid=s.client_app_id, appidacr=acr,
                      app_displayname=s.client_name)
    else:
        claims.update(iss=s.issuer.v2, ver="2.0", azp=s.client_app_id, azpacr=acr)
    if s.roles:
        claims["roles"] = list(s.roles)
    if s.user is None:
        claims.update(oid=s.client_sp_id, sub=s.client_sp_id, idtyp="app")
        return claims
    user = s.user
    claims.update(oid=user.id, sub=pairwise_subject(user, s.client_app_id), name=user.display_name,
                  scp=" ".join(s.scopes), idtyp="user")
    if s.role_template_ids:
        claims["wids"] = list(s.role_template_ids)
    if version == 1:
        claims.update(upn=user.user_principal_name, unique_name=user.user_principal_name, amr=["pwd"],
                      acr="1", ipaddr=s.ip_address)
        if user.given_name:
            claims["given_name"] = user.given_name
        if user.surname:
            claims["family_name"] = user.surname
    else:
        claims["preferred_username"] = user.user_principal_name
    return {k: v for k, v in claims.items() if v is not None}


def id_token_claims(issuer: Issuer, user: User, client_app_id: str, now: datetime, lifetime: int, *,
                    version: int, nonce: str | None, auth_time: datetime | None,
                    include_email: bool) -> dict[str, Any]:
    claims: dict[str, Any] = {"aud": client_app_id, **_times(now, lifetime), "tid": user.tenant_id,
                              "oid": user.id, "sub": pairwise_subject(user, client_app_id),
                              "name": user.display_name, "rh": "0.consentry", "uti": _uti()}
    if version == 2:
        claims.update(iss=issuer.v2, ver="2.0", preferred_username=user.user_principal_name)
    else:
        claims.update(iss=issuer.v1, ver="1.0", upn=user.user_principal_name,
                      unique_name=user.user_principal_name, amr=["pwd"])
    if auth_time is not None:
        claims["auth_time"] = int(auth_time.timestamp())
    if nonce is not None:
        claims["nonce"] = nonce
    if include_email and user.mail:
        claims["email"] = user.mail
    return claims
