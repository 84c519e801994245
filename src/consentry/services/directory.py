"""Tenants, users, groups and directory roles."""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError

from consentry.domain.apps import INTEGRATED_APP_TAG, ServicePrincipal, service_principal_names
from consentry.domain.builtin import builtin_applications, owner_organization
from consentry.domain.directory import Group, RoleAssignment, Tenant, User, find_role_template
from consentry.domain.ids import is_guid, new_guid
from consentry.errors import CONFLICT, INVALID_VALUE, NOT_FOUND, TENANT_NOT_FOUND, ConsentryError
from consentry.services import audit
from consentry.services.audit import Target
from consentry.services.context import Actor, ServiceContext
from consentry.store.uow import TenantScope, Transaction

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
_UPN = re.compile(r"^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9.-]{1,253}$")
RESERVED_TENANT_SEGMENTS = frozenset({"common", "organizations", "consumers"})


def validate_domain(name: str) -> str:
    name = name.strip().lower()
    if not _DOMAIN.match(name) or name in RESERVED_TENANT_SEGMENTS:
        raise ConsentryError(INVALID_VALUE, reason=f"'{name}' is not a valid domain name.")
    return name


def find_tenant(tx: Transaction, segment: str) -> Tenant | None:
    """A tenant by GUID or by one of its verified domains."""
    if is_guid(segment):
        return tx.tenants.find(segment.lower())
    return tx.tenants.find_by_domain(segment)


def get_tenant(tx: Transaction, segment: str) -> Tenant:
    tenant = find_tenant(tx, segment)
    if tenant is None:
        raise ConsentryError(TENANT_NOT_FOUND, tenant=segment)
    return tenant


def builtin_service_principal(tenant_id: str, app_id: str, now: object) -> ServicePrincipal:
    app = next(a for a in builtin_applications() if a.app_id == app_id)
    return ServicePrincipal(
        id=new_guid(), tenant_id=tenant_id, app_id=app.app_id, display_name=app.display_name,
        app_owner_organization_id=owner_organization(app), tags=(INTEGRATED_APP_TAG,), scopes=app.scopes,
        app_roles=app.app_roles, service_principal_names=service_principal_names(app),
        reply_urls=app.public_client_redirect_uris, publisher_name=app.publisher_name,
        sign_in_audience=app.sign_in_audience, verified_publisher=dict(app.verified_publisher),
        created_at=now)  # type: ignore[arg-type]


def create_tenant(ctx: ServiceContext, display_name: str, domains: list[str], actor: Actor = Actor("system"),
                  tenant_id: str | None = None) -> Tenant:
    """A tenant with its verified domains and the service principals of Microsoft's built-in apps."""
    names = [validate_domain(d) for d in domains]
    if not names or not display_name.strip():
        raise ConsentryError(INVALID_VALUE, reason="A tenant needs a display name and at least one domain.")
    now = ctx.clock.now()
    tenant = Tenant(tenant_id or new_guid(), display_name.strip(), tuple(names), now)
    with ctx.uow.begin() as tx:
        for name in names:
            if tx.tenants.find_by_domain(name):
                raise ConsentryError(CONFLICT, reason=f"The domain '{name}' is already used by another tenant.")
        tx.tenants.add(tenant)
        scope = tx.tenant(tenant.id)
        for app in builtin_applications():
            scope.apps.add_service_principal(builtin_service_principal(tenant.id, app.app_id, now))
        audit.record(scope, now, actor, "Add company", "DirectoryManagement", "Add",
                     [Target(tenant.id, "Directory", tenant.display_name)])
    return tenant


def list_tenants(ctx: ServiceContext) -> list[Tenant]:
    with ctx.uow.read() as tx:
        return tx.tenants.list()


def create_user(ctx: ServiceContext, tenant_id: str, upn: str, display_name: str, password: str | None,
                actor: Actor, *, mail: str | None = None, account_enabled: bool = True,
                user_id: str | None = None) -> User:
    upn = upn.strip()
    if not _UPN.match(upn):
        raise ConsentryError(INVALID_VALUE, reason=f"'{upn}' is not a valid userPrincipalName.")
    password_hash = ctx.passwords.hash(password) if password else None
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tenant = tx.tenants.find(tenant_id)
        if tenant is None:
            raise ConsentryError(TENANT_NOT_FOUND, tenant=tenant_id)
        domain = upn.rsplit("@", 1)[1].lower()
        if domain not in tenant.domains:
            raise ConsentryError(INVALID_VALUE, reason=f"The domain '{domain}' is not a verified domain of "
                                                        f"the tenant.")
        if tx.tenants.find_user_by_upn(upn):
            raise ConsentryError(CONFLICT, reason=f"A user with userPrincipalName '{upn}' already exists.")
        user = User(user_id or new_guid(), tenant.id, upn.lower(), display_name.strip() or upn, mail or upn.lower(),
                    account_enabled, password_hash, now)
        scope = tx.tenant(tenant.id)
        scope.directory.add_user(user)
        audit.record(scope, now, actor, "Add user", "UserManagement", "Add",
                     [Target(user.id, "User", user.display_name, user.user_principal_name)])
    return user


def list_users(ctx: ServiceContext, tenant_id: str) -> list[User]:
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).directory.list_users()


def get_user(scope: TenantScope, user_id: str) -> User:
    user = scope.directory.find_user(user_id) if is_guid(user_id) else scope.directory.find_user_by_upn(user_id)
    if user is None:
        raise ConsentryError(NOT_FOUND)
    return user


def assign_role(ctx: ServiceContext, tenant_id: str, principal: str, role: str, actor: Actor) -> RoleAssignment:
    """Give a user (by id or userPrincipalName) a directory role (by template id or display name)."""
    template = find_role_template(role)
    if template is None:
        raise ConsentryError(INVALID_VALUE, reason=f"'{role}' is not a known directory role.")
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        user = get_user(scope, principal)
        existing = scope.directory.find_role_assignment(user.id, template.id)
        if existing is not None:
            return existing
        assignment = RoleAssignment(new_guid(), tenant_id, user.id, template.id, now)
        scope.directory.add_role_assignment(assignment)
        audit.record(scope, now, actor, "Add member to role", "RoleManagement", "Assign",
                     [Target(user.id, "User", user.display_name, user.user_principal_name,
                             {"Role.DisplayName": (None, template.display_name),
                              "Role.TemplateId": (None, template.id)})])
    return assignment


def role_template_ids_of(scope: TenantScope, user_id: str) -> set[str]:
    return {a.role_template_id for a in scope.directory.list_role_assignments(user_id)}


def create_group(ctx: ServiceContext, tenant_id: str, display_name: str, actor: Actor,
                 description: str | None = None, member_ids: list[str] | None = None) -> Group:
    now = ctx.clock.now()
    group = Group(new_guid(), tenant_id, display_name.strip(), description, now, tuple(member_ids or ()))
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        scope.directory.add_group(group)
        for member in group.member_ids:
            get_user(scope, member)
            try:
                scope.directory.add_member(group.id, member)
            except IntegrityError as exc:
                raise ConsentryError(CONFLICT, reason="The member is already in the group.") from exc
        audit.record(scope, now, actor, "Add group", "GroupManagement", "Add",
                     [Target(group.id, "Group", group.display_name)])
    return group


def resolve_segment(ctx: ServiceContext, segment: str) -> Tenant | None:
    """The tenant a ``{tenant}`` path segment names; None for ``common``/``organizations``/``consumers``."""
    if segment.lower() in RESERVED_TENANT_SEGMENTS:
        return None
    with ctx.uow.read() as tx:
        return get_tenant(tx, segment[:256])


def find_tenant_by_domain(ctx: ServiceContext, domain: str) -> Tenant | None:
    with ctx.uow.read() as tx:
        return tx.tenants.find_by_domain(domain[:256]) if domain else None
