"""Consent as data: delegated permission grants and app role assignments (spec §8.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ALL_PRINCIPALS = "AllPrincipals"
PRINCIPAL = "Principal"
CONSENT_TYPES = (ALL_PRINCIPALS, PRINCIPAL)
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal")


def split_scope(scope: str | None) -> tuple[str, ...]:
    """Space-separated scope values, de-duplicated case-insensitively, first spelling kept."""
    seen: set[str] = set()
    out: list[str] = []
    for value in (scope or "").split():
        if value.lower() not in seen:
            seen.add(value.lower())
            out.append(value)
    return tuple(out)


def merge_scope(existing: str | None, added: list[str] | tuple[str, ...]) -> str:
    return " ".join(split_scope(" ".join([existing or "", *added])))


@dataclass(frozen=True, slots=True)
class OAuth2PermissionGrant:
    id: str
    tenant_id: str
    client_id: str  # the client service principal's object id
    consent_type: str
    principal_id: str | None
    resource_id: str  # the resource service principal's object id
    scope: str
    created_at: datetime
    modified_at: datetime
    granted_by: str | None = None  # who last changed it (user principal name or app name), for the portal

    @property
    def scopes(self) -> tuple[str, ...]:
        return split_scope(self.scope)


@dataclass(frozen=True, slots=True)
class AppRoleAssignment:
    id: str
    tenant_id: str
    principal_id: str
    principal_type: str
    principal_display_name: str | None
    resource_id: str
    resource_display_name: str | None
    app_role_id: str
    created_at: datetime


def granted_scopes(grants: list[OAuth2PermissionGrant], user_id: str | None) -> tuple[str, ...]:
    """What a user may use of one client–resource pair: the AllPrincipals grant ∪ the user's own grant."""
    values: list[str] = []
    for grant in grants:
        if grant.consent_type == ALL_PRINCIPALS or (user_id is not None and grant.principal_id == user_id):
            values.extend(grant.scopes)
    return split_scope(" ".join(values))
