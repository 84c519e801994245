"""Tenants, users, groups and directory roles: what the CLI, the demo and Microsoft Graph's ``/users``,
``/groups``, ``/directoryRoles``, ``/roleManagement/directory/roleAssignments`` and ``/organization`` do.

Every change is one transaction with its audit record, under Entra's activity names ("Add user", "Update
user", "Delete user", "Add group", "Add member to group", "Add member to role", ...). The functions used
by Graph raise ``GRAPH_NOT_FOUND`` for anything outside the caller's tenant, exactly as for an id that
does not exist. Removing a Global Administrator role and disabling or deleting a user follow the rules of
:mod:`consentry.services.global_admins`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError

from consentry.domain.apps import INTEGRATED_APP_TAG, ServicePrincipal, service_principal_names
from consentry.domain.builtin import builtin_applications, owner_organization
from consentry.domain.directory import (
    ROLE_TEMPLATES,
    Group,
    RoleAssignment,
    RoleTemplate,
    Tenant,
    User,
    find_role_template,
)
from consentry.domain.ids import is_guid, new_guid
from consentry.domain.odata import ODataQuery
from consentry.errors import CONFLICT, GRAPH_NOT_FOUND, INVALID_VALUE, NOT_FOUND, TENANT_NOT_FOUND, ConsentryError
from consentry.services import audit, global_admins
from consentry.services.audit import Target
from consentry.services.context import Actor, ServiceContext
from consentry.store.odata import Page
from consentry.store.uow import TenantScope, Transaction

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
_UPN = re.compile(r"^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9.-]{1,253}$")
RESERVED_TENANT_SEGMENTS = frozenset({"common", "organizations", "consumers"})

# Microsoft Graph's own messages, which scripts match on.
DUPLICATE_UPN = "Another object with the same value for property userPrincipalName already exists."
UNVERIFIED_DOMAIN = ("The domain portion of the userPrincipalName property is invalid. You must use one of the "
                     "verified domain names in your organization.")
WEAK_PASSWORD = ("The specified password does not comply with password complexity requirements. Please provide "
                 "a different password.")
ALREADY_A_MEMBER = ("One or more added object references already exist for the following modified properties: "
                    "'members'.")
CONFLICTING_OBJECT = ("A conflicting object with one or more of the specified property values is present in the "
                      "directory.")

# The user properties an update may change: column -> the name Entra's audit log gives it.
USER_PROPERTIES = {"display_name": "DisplayName", "account_enabled": "AccountEnabled", "mail": "Mail",
                   "given_name": "GivenName", "surname": "Surname", "job_title": "JobTitle"}
GROUP_PROPERTIES = {"display_name": "DisplayName", "description": "Description"}


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


def validate_password(password: str) -> None:
    """Entra's rule for cloud accounts: 8 to 256 characters, with three of lower case, upper case, digits and
    symbols."""
    kinds = (any(c.islower() for c in password), any(c.isupper() for c in password),
             any(c.isdigit() for c in password), any(not c.isalnum() for c in password))
    if not 8 <= len(password) <= 256 or sum(kinds) < 3:
        raise ConsentryError(INVALID_VALUE, reason=WEAK_PASSWORD)


def create_user(ctx: ServiceContext, tenant_id: str, upn: str, display_name: str, password: str | None,
                actor: Actor, *, mail: str | None = None, account_enabled: bool = True,
                user_id: str | None = None, given_name: str | None = None, surname: str | None = None,
                job_title: str | None = None, enforce_password_policy: bool = False) -> User:
    """A user in one of the tenant's verified domains; a taken userPrincipalName is a ``CONFLICT``."""
    upn = upn.strip()
    if not _UPN.match(upn):
        raise ConsentryError(INVALID_VALUE, reason=f"'{upn}' is not a valid userPrincipalName.")
    if enforce_password_policy:
        validate_password(password or "")
    password_hash = ctx.passwords.hash(password) if password else None
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tenant = tx.tenants.find(tenant_id)
        if tenant is None:
            raise ConsentryError(TENANT_NOT_FOUND, tenant=tenant_id)
        domain = upn.rsplit("@", 1)[1].lower()
        if domain not in tenant.domains:
            raise ConsentryError(INVALID_VALUE, reason=UNVERIFIED_DOMAIN)
        if tx.tenants.find_user_by_upn(upn):
            raise ConsentryError(CONFLICT, reason=DUPLICATE_UPN)
        user = User(user_id or new_guid(), tenant.id, upn.lower(), display_name.strip() or upn, mail or upn.lower(),
                    account_enabled, password_hash, now, given_name, surname, job_title)
        scope = tx.tenant(tenant.id)
        try:
            scope.directory.add_user(user)
        except IntegrityError as exc:  # created by a concurrent request since the check above
            raise ConsentryError(CONFLICT, reason=DUPLICATE_UPN) from exc
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
    """Give a user (by id or userPrincipalName) a directory role (by template id or display name); a no-op
    returning the assignment when they already hold it."""
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
        return _add_role_assignment(scope, now, actor, user, template)


def _add_role_assignment(scope: TenantScope, now: Any, actor: Actor, user: User,
                         template: RoleTemplate) -> RoleAssignment:
    assignment = RoleAssignment(new_guid(), scope.tenant_id, user.id, template.id, now)
    scope.directory.add_role_assignment(assignment)
    audit.record(scope, now, actor, "Add member to role", "RoleManagement", "Assign",
                 [_role_target(user, template, added=True)])
    return assignment


def _role_target(user: User, template: RoleTemplate, *, added: bool) -> Target:
    values = {"Role.DisplayName": template.display_name, "Role.TemplateId": template.id}
    return Target(user.id, "User", user.display_name, user.user_principal_name,
                  {k: (None, v) if added else (v, None) for k, v in values.items()})


def role_template_ids_of(scope: TenantScope, user_id: str) -> set[str]:
    return {a.role_template_id for a in scope.directory.list_role_assignments(user_id)}


def create_group(ctx: ServiceContext, tenant_id: str, display_name: str, actor: Actor,
                 description: str | None = None, member_ids: list[str] | None = None) -> Group:
    display_name = display_name.strip()
    if not display_name:
        raise ConsentryError(INVALID_VALUE, reason="Invalid value specified for property 'displayName' of "
                                                   "resource 'Group'.")
    now = ctx.clock.now()
    group = Group(new_guid(), tenant_id, display_name, description, now, tuple(member_ids or ()))
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


# --- Microsoft Graph: users ------------------------------------------------------------------------

def _not_found(value: str) -> ConsentryError:
    return ConsentryError(GRAPH_NOT_FOUND, id=value)


def _user_in(scope: TenantScope, id_or_upn: str) -> User:
    """A user of this tenant by object id or userPrincipalName; 404 otherwise."""
    user = (scope.directory.find_user(id_or_upn.lower()) if is_guid(id_or_upn)
            else scope.directory.find_user_by_upn(id_or_upn))
    if user is None:
        raise _not_found(id_or_upn)
    return user


def find_user(ctx: ServiceContext, tenant_id: str, id_or_upn: str) -> User:
    with ctx.uow.read() as tx:
        return _user_in(tx.tenant(tenant_id), id_or_upn)


def page_users(ctx: ServiceContext, tenant_id: str, query: ODataQuery) -> tuple[list[User], Page]:
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).directory.page_users(query)


def update_user(ctx: ServiceContext, tenant_id: str, id_or_upn: str, actor: Actor, changes: dict[str, Any],
                password: str | None = None) -> User:
    """Change a user's properties (``USER_PROPERTIES`` columns) and, as an administrator's reset, their
    password. Disabling the account or resetting the password revokes their refresh tokens; disabling the
    tenant's last enabled Global Administrator is refused."""
    unknown = set(changes) - set(USER_PROPERTIES)
    if unknown:
        raise ValueError(f"not a user property: {sorted(unknown)}")
    if password is not None:
        validate_password(password)
    password_hash = ctx.passwords.hash(password) if password is not None else None
    disabling = changes.get("account_enabled") is False
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        if disabling:
            global_admins.lock(tx, tenant_id)
        scope = tx.tenant(tenant_id)
        user = _user_in(scope, id_or_upn)
        if disabling:
            global_admins.ensure_one_remains(scope, user.id)
        modified = {USER_PROPERTIES[k]: (getattr(user, k), v) for k, v in changes.items() if getattr(user, k) != v}
        values: dict[str, Any] = {k: v for k, v in changes.items() if getattr(user, k) != v}
        if password_hash is not None:
            values["password_hash"] = password_hash
        if values:
            scope.directory.update_user(user.id, **values)
        target = Target(user.id, "User", user.display_name, user.user_principal_name, modified)
        if modified:
            audit.record(scope, now, actor, "Update user", "UserManagement", "Update", [target])
        if password_hash is not None:
            audit.record(scope, now, actor, "Reset user password", "UserManagement", "Update",
                         [Target(user.id, "User", user.display_name, user.user_principal_name)])
            tx.tokens.clear_lockout(user.id)
        if password_hash is not None or disabling:
            tx.tokens.revoke_refresh_tokens_of_user(user.id, now)
        return _user_in(scope, user.id)


def delete_user(ctx: ServiceContext, tenant_id: str, id_or_upn: str, actor: Actor) -> None:
    """Remove a user with their grants, app role assignments, group memberships, directory roles and
    refresh tokens (sessions and lockout state go with the row); the tenant's last enabled Global
    Administrator is not removed."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        global_admins.lock(tx, tenant_id)
        scope = tx.tenant(tenant_id)
        user = _user_in(scope, id_or_upn)
        global_admins.ensure_one_remains(scope, user.id)
        scope.grants.remove_all_for_principal(user.id)
        scope.directory.remove_memberships_of(user.id)
        scope.directory.remove_role_assignments_of(user.id)
        tx.tokens.revoke_refresh_tokens_of_user(user.id, now)
        scope.directory.remove_user(user.id)
        audit.record(scope, now, actor, "Delete user", "UserManagement", "Delete",
                     [Target(user.id, "User", user.display_name, user.user_principal_name)])


def memberships_of(ctx: ServiceContext, tenant_id: str, id_or_upn: str) -> tuple[list[Group], list[RoleTemplate]]:
    """The groups a user is a direct member of and the directory roles they hold."""
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        user = _user_in(scope, id_or_upn)
        found = scope.directory.list_groups_by_id(scope.directory.list_group_ids_of(user.id))
        roles = [ROLE_TEMPLATES[r] for r in sorted(role_template_ids_of(scope, user.id)) if r in ROLE_TEMPLATES]
    return found, roles


# --- Microsoft Graph: groups -----------------------------------------------------------------------

def _group_in(scope: TenantScope, group_id: str) -> Group:
    group = scope.directory.find_group(group_id.lower()) if is_guid(group_id) else None
    if group is None:
        raise _not_found(group_id)
    return group


def find_group(ctx: ServiceContext, tenant_id: str, group_id: str) -> Group:
    with ctx.uow.read() as tx:
        return _group_in(tx.tenant(tenant_id), group_id)


def page_groups(ctx: ServiceContext, tenant_id: str, query: ODataQuery) -> tuple[list[Group], Page]:
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).directory.page_groups(query)


def page_group_members(ctx: ServiceContext, tenant_id: str, group_id: str,
                       query: ODataQuery) -> tuple[list[User], Page]:
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        group = _group_in(scope, group_id)
        return scope.directory.page_users(query, group_id=group.id)


def update_group(ctx: ServiceContext, tenant_id: str, group_id: str, actor: Actor, changes: dict[str, Any]) -> Group:
    unknown = set(changes) - set(GROUP_PROPERTIES)
    if unknown:
        raise ValueError(f"not a group property: {sorted(unknown)}")
    if "display_name" in changes and not str(changes["display_name"] or "").strip():
        raise ConsentryError(INVALID_VALUE, reason="Invalid value specified for property 'displayName' of "
                                                   "resource 'Group'.")
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        group = _group_in(scope, group_id)
        values = {k: v for k, v in changes.items() if getattr(group, k) != v}
        if values:
            scope.directory.update_group(group.id, **values)
            audit.record(scope, now, actor, "Update group", "GroupManagement", "Update",
                         [Target(group.id, "Group", group.display_name, modified={
                             GROUP_PROPERTIES[k]: (getattr(group, k), v) for k, v in values.items()})])
        return _group_in(scope, group.id)


def delete_group(ctx: ServiceContext, tenant_id: str, group_id: str, actor: Actor) -> None:
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        group = _group_in(scope, group_id)
        scope.grants.remove_all_for_principal(group.id)
        scope.directory.remove_group(group.id)
        audit.record(scope, now, actor, "Delete group", "GroupManagement", "Delete",
                     [Target(group.id, "Group", group.display_name)])


def _membership_targets(user: User, group: Group, *, added: bool) -> list[Target]:
    values = {"Group.ObjectID": group.id, "Group.DisplayName": group.display_name}
    return [Target(user.id, "User", user.display_name, user.user_principal_name,
                   {k: (None, v) if added else (v, None) for k, v in values.items()}),
            Target(group.id, "Group", group.display_name)]


def add_group_member(ctx: ServiceContext, tenant_id: str, group_id: str, member_id: str, actor: Actor) -> None:
    """Add a user of the tenant to a group; 400 when they already are a member, 404 when either is unknown."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        group = _group_in(scope, group_id)
        user = _user_in(scope, member_id) if is_guid(member_id) else None
        if user is None:
            raise _not_found(member_id)
        if scope.directory.is_member(group.id, user.id):
            raise ConsentryError(INVALID_VALUE, reason=ALREADY_A_MEMBER)
        try:
            scope.directory.add_member(group.id, user.id)
        except IntegrityError as exc:  # added by a concurrent request since the check above
            raise ConsentryError(INVALID_VALUE, reason=ALREADY_A_MEMBER) from exc
        audit.record(scope, now, actor, "Add member to group", "GroupManagement", "Assign",
                     _membership_targets(user, group, added=True))


def remove_group_member(ctx: ServiceContext, tenant_id: str, group_id: str, member_id: str, actor: Actor) -> None:
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        group = _group_in(scope, group_id)
        user = _user_in(scope, member_id) if is_guid(member_id) else None
        if user is None or not scope.directory.is_member(group.id, user.id):
            raise _not_found(member_id)
        scope.directory.remove_member(group.id, user.id)
        audit.record(scope, now, actor, "Remove member from group", "GroupManagement", "Unassign",
                     _membership_targets(user, group, added=False))


# --- Microsoft Graph: directory roles and role assignments ----------------------------------------

def directory_role_id(tenant_id: str, template_id: str) -> str:
    """The activated role's object id: stable per tenant and template, and different in every tenant."""
    return str(uuid.uuid5(uuid.UUID(tenant_id), template_id))


def list_directory_roles(tenant_id: str) -> list[tuple[str, RoleTemplate]]:
    """Every role Consentry knows is activated in every tenant: (object id, template)."""
    return [(directory_role_id(tenant_id, t.id), t) for t in ROLE_TEMPLATES.values()]


def find_directory_role(tenant_id: str, role_id: str) -> RoleTemplate:
    for object_id, template in list_directory_roles(tenant_id):
        if object_id == role_id.lower():
            return template
    raise _not_found(role_id)


def find_directory_role_by_template(tenant_id: str, template_id: str) -> RoleTemplate:
    template = ROLE_TEMPLATES.get(template_id.lower())
    if template is None:
        raise _not_found(template_id)
    return template


def page_role_members(ctx: ServiceContext, tenant_id: str, template_id: str,
                      query: ODataQuery) -> tuple[list[User], Page]:
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).directory.page_users(query, role_template_id=template_id)


def page_role_assignments(ctx: ServiceContext, tenant_id: str,
                          query: ODataQuery) -> tuple[list[RoleAssignment], Page]:
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).directory.page_role_assignments(query)


def find_role_assignment(ctx: ServiceContext, tenant_id: str, assignment_id: str) -> RoleAssignment:
    with ctx.uow.read() as tx:
        found = tx.tenant(tenant_id).directory.find_role_assignment_by_id(assignment_id.lower())
    if found is None:
        raise _not_found(assignment_id)
    return found


def create_role_assignment(ctx: ServiceContext, tenant_id: str, principal_id: str, role_definition_id: str,
                           actor: Actor) -> RoleAssignment:
    """Assign a built-in role (by template id) to a user of the tenant, tenant-wide; 400 when they hold it."""
    template = ROLE_TEMPLATES.get(role_definition_id.lower())
    if template is None:
        raise _not_found(role_definition_id)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        user = _user_in(scope, principal_id) if is_guid(principal_id) else None
        if user is None:
            raise _not_found(principal_id)
        if scope.directory.find_role_assignment(user.id, template.id) is not None:
            raise ConsentryError(INVALID_VALUE, reason=CONFLICTING_OBJECT)
        try:
            return _add_role_assignment(scope, now, actor, user, template)
        except IntegrityError as exc:
            raise ConsentryError(INVALID_VALUE, reason=CONFLICTING_OBJECT) from exc


def delete_role_assignment(ctx: ServiceContext, tenant_id: str, assignment_id: str, actor: Actor) -> None:
    """Remove an assignment; refused for the actor's own Global Administrator role and for the last enabled
    Global Administrator's."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        global_admins.lock(tx, tenant_id)
        scope = tx.tenant(tenant_id)
        assignment = scope.directory.find_role_assignment_by_id(assignment_id.lower())
        if assignment is None:
            raise _not_found(assignment_id)
        _remove_role_assignment(scope, now, actor, assignment)


def remove_role_member(ctx: ServiceContext, tenant_id: str, template_id: str, member_id: str,
                       actor: Actor) -> None:
    """``DELETE /directoryRoles/{id}/members/{member}/$ref``: the same as deleting the assignment."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        global_admins.lock(tx, tenant_id)
        scope = tx.tenant(tenant_id)
        assignment = (scope.directory.find_role_assignment(member_id.lower(), template_id)
                      if is_guid(member_id) else None)
        if assignment is None:
            raise _not_found(member_id)
        _remove_role_assignment(scope, now, actor, assignment)


def _remove_role_assignment(scope: TenantScope, now: Any, actor: Actor, assignment: RoleAssignment) -> None:
    global_admins.ensure_removable(scope, actor, assignment)
    template = ROLE_TEMPLATES.get(assignment.role_template_id) or RoleTemplate(assignment.role_template_id, "", "")
    user = scope.directory.find_user(assignment.principal_id)
    scope.directory.remove_role_assignment(assignment.id)
    target = Target(assignment.principal_id, "User") if user is None else _role_target(user, template, added=False)
    audit.record(scope, now, actor, "Remove member from role", "RoleManagement", "Unassign", [target])


# --- Microsoft Graph: organization -----------------------------------------------------------------

def get_organization(ctx: ServiceContext, tenant_id: str) -> Tenant:
    with ctx.uow.read() as tx:
        tenant = tx.tenants.find(tenant_id)
    if tenant is None:
        raise _not_found(tenant_id)
    return tenant
