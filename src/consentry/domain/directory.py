"""Tenants, users, groups and directory roles (with Entra's role template ids)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    display_name: str
    domains: tuple[str, ...]
    created_at: datetime

    @property
    def default_domain(self) -> str:
        return self.domains[0] if self.domains else ""


@dataclass(frozen=True, slots=True)
class User:
    id: str
    tenant_id: str
    user_principal_name: str
    display_name: str
    mail: str | None
    account_enabled: bool
    password_hash: str | None
    created_at: datetime
    given_name: str | None = None
    surname: str | None = None
    job_title: str | None = None


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    tenant_id: str
    display_name: str
    description: str | None
    created_at: datetime
    member_ids: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class RoleTemplate:
    id: str
    display_name: str
    description: str


GLOBAL_ADMINISTRATOR = RoleTemplate(
    "62e90394-69f5-4237-9190-012177145e10", "Global Administrator",
    "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.")
PRIVILEGED_ROLE_ADMINISTRATOR = RoleTemplate(
    "e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator",
    "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management.")
CLOUD_APPLICATION_ADMINISTRATOR = RoleTemplate(
    "158c047a-c907-4556-b7ef-446551a6b5f7", "Cloud Application Administrator",
    "Can create and manage all aspects of app registrations and enterprise apps except App Proxy.")
APPLICATION_ADMINISTRATOR = RoleTemplate(
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator",
    "Can create and manage all aspects of app registrations and enterprise apps.")
GLOBAL_READER = RoleTemplate(
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader",
    "Can read everything that a Global Administrator can, but not update anything.")

ROLE_TEMPLATES: dict[str, RoleTemplate] = {
    r.id: r for r in (GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR, CLOUD_APPLICATION_ADMINISTRATOR,
                      APPLICATION_ADMINISTRATOR, GLOBAL_READER)
}


def find_role_template(id_or_name: str) -> RoleTemplate | None:
    """Look a role up by template id or by display name (case-insensitive)."""
    if id_or_name in ROLE_TEMPLATES:
        return ROLE_TEMPLATES[id_or_name]
    wanted = id_or_name.strip().lower()
    for role in ROLE_TEMPLATES.values():
        if role.display_name.lower() == wanted:
            return role
    return None


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    id: str
    tenant_id: str
    principal_id: str
    role_template_id: str
    created_at: datetime
