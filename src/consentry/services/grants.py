"""Delegated permission grants (oauth2PermissionGrant) and app role assignments, made by an administrator
through Graph, the portal or the CLI. Consent flows write the same rows through the consent service.
"""

from __future__ import annotations

from dataclasses import replace as replace_fields
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from consentry.domain.apps import ServicePrincipal
from consentry.domain.builtin import MICROSOFT_GRAPH
from consentry.domain.grants import (
    ALL_PRINCIPALS,
    CONSENT_TYPES,
    PRINCIPAL,
    AppRoleAssignment,
    OAuth2PermissionGrant,
    merge_scope,
    split_scope,
)
from consentry.domain.ids import NIL_GUID, opaque_id
from consentry.domain.odata import ODataQuery
from consentry.errors import CONFLICT, GRAPH_NOT_FOUND, INVALID_VALUE, NOT_FOUND, ConsentryError
from consentry.services import audit
from consentry.services.apps import get_service_principal
from consentry.services.audit import Target
from consentry.services.context import Actor, ServiceContext
from consentry.store.odata import Page
from consentry.store.uow import TenantScope, Transaction


def validate_scope_values(resource: ServicePrincipal, scope: str) -> str:
    values = split_scope(scope)
    unknown = [v for v in values if resource.scope_by_value(v) is None]
    if unknown:
        raise ConsentryError(INVALID_VALUE, reason=f"The resource '{resource.display_name}' publishes no "
                                                    f"delegated permission named {', '.join(unknown)}.")
    return " ".join(resource.scope_by_value(v).value for v in values)  # type: ignore[union-attr]


def add_grant(ctx: ServiceContext, tenant_id: str, client_id: str, resource_id: str, consent_type: str,
              scope: str, actor: Actor, principal_id: str | None = None) -> OAuth2PermissionGrant:
    if consent_type not in CONSENT_TYPES:
        raise ConsentryError(INVALID_VALUE, reason="consentType must be AllPrincipals or Principal.")
    if (consent_type == PRINCIPAL) != bool(principal_id):
        raise ConsentryError(INVALID_VALUE, reason="principalId is required for consentType Principal and "
                                                    "must be empty for AllPrincipals.")
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope_ = tx.tenant(tenant_id)
        client = _referenced_service_principal(scope_, client_id)
        resource = _referenced_service_principal(scope_, resource_id)
        if principal_id and scope_.directory.find_user(principal_id) is None:
            raise ConsentryError(GRAPH_NOT_FOUND, id=principal_id)
        values = validate_scope_values(resource, scope)
        existing = [g for g in scope_.grants.list_grants(client_id=client.id, resource_id=resource.id,
                                                         consent_type=consent_type)
                    if g.principal_id == principal_id]
        if existing:
            raise ConsentryError(CONFLICT, reason="A grant for this client, resource and principal already "
                                                  "exists; update its scope instead.")
        grant = OAuth2PermissionGrant(_grant_id(), tenant_id, client.id, consent_type,
                                      principal_id if consent_type == PRINCIPAL else None, resource.id, values,
                                      now, now, actor.name)
        try:
            with tx.conn.begin_nested():
                scope_.grants.add_grant(grant)
        except IntegrityError as exc:  # a concurrent consent created it first
            raise ConsentryError(CONFLICT, reason="A grant for this client, resource and principal already "
                                                  "exists; update its scope instead.") from exc
        _audit_grant(scope_, now, actor, "Add delegated permission grant", "Assign", grant, client, resource)
    return grant


def merge_grant(scope: TenantScope, now: datetime, actor: Actor, client: ServicePrincipal, resource: ServicePrincipal,
                principal_id: str | None, values: tuple[str, ...], *, replace: bool = False) -> OAuth2PermissionGrant:
    """Add ``values`` to the tenant-wide grant (``principal_id`` None) or to one user's grant for a client and
    resource, creating it if needed; with ``replace``, the grant's scope becomes exactly ``values``.

    Callers hold the consent lock for the client (:meth:`Transaction.lock`), so the read and the write
    cannot interleave with another consent to the same client."""
    consent_type = PRINCIPAL if principal_id else ALL_PRINCIPALS
    existing = next((g for g in scope.grants.list_grants(client_id=client.id, resource_id=resource.id,
                                                         consent_type=consent_type)
                     if g.principal_id == principal_id), None)
    if existing is None:
        grant = OAuth2PermissionGrant(_grant_id(), scope.tenant_id, client.id, consent_type, principal_id,
                                      resource.id, " ".join(split_scope(" ".join(values))), now, now, actor.name)
        scope.grants.add_grant(grant)
        _audit_grant(scope, now, actor, "Add delegated permission grant", "Assign", grant, client, resource)
        return grant
    merged = " ".join(split_scope(" ".join(values))) if replace else merge_scope(existing.scope, values)
    if merged == existing.scope:
        return existing
    scope.grants.update_grant_scope(existing.id, merged, now, actor.name)
    updated = replace_fields(existing, scope=merged, modified_at=now, granted_by=actor.name)
    _audit_grant(scope, now, actor, "Update delegated permission grant", "Update", updated, client, resource,
                 old_scope=existing.scope)
    return updated


def ensure_assignment(tx: Transaction, scope: TenantScope, now: datetime, actor: Actor, resource: ServicePrincipal,
                      role_id: str, principal_type: str, principal_name: str,
                      principal_id: str) -> AppRoleAssignment | None:
    """Assign the role unless the principal already holds it (then None)."""
    held = scope.grants.list_assignments(principal_ids=[principal_id], resource_id=resource.id)
    if any(a.app_role_id == role_id for a in held):
        return None
    return _insert_assignment(tx, scope, now, actor, resource, role_id, principal_type, principal_name, principal_id)


def _referenced_service_principal(scope: TenantScope, id_or_app_id: str) -> ServicePrincipal:
    sp = scope.apps.find_service_principal(id_or_app_id) or scope.apps.find_service_principal_by_app_id(id_or_app_id)
    if sp is None:
        raise ConsentryError(GRAPH_NOT_FOUND, id=id_or_app_id)
    return sp


def _grant_id() -> str:
    """Entra's grant and assignment ids are opaque base64url strings of 24 bytes."""
    return opaque_id(24)


def _audit_grant(scope: TenantScope, now: object, actor: Actor, activity: str, operation: str,
                 grant: OAuth2PermissionGrant, client: ServicePrincipal, resource: ServicePrincipal,
                 old_scope: str | None = None) -> None:
    modified = {"DelegatedPermissionGrant.Scope": (old_scope, grant.scope),
                "DelegatedPermissionGrant.ConsentType": (None, grant.consent_type),
                "DelegatedPermissionGrant.Id": (None, grant.id),
                "DelegatedPermissionGrant.ResourceId": (None, resource.id),
                "DelegatedPermissionGrant.PrincipalId": (None, grant.principal_id or "")}
    audit.record(scope, now, actor, activity, "ApplicationManagement", operation,  # type: ignore[arg-type]
                 [Target(resource.id, "ServicePrincipal", resource.display_name, modified=modified),
                  Target(client.id, "ServicePrincipal", client.display_name)])


def update_grant_scope(ctx: ServiceContext, tenant_id: str, grant_id: str, scope: str,
                       actor: Actor) -> OAuth2PermissionGrant:
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope_ = tx.tenant(tenant_id)
        grant = _get_grant(scope_, grant_id)
        client = get_service_principal(scope_, grant.client_id)
        resource = get_service_principal(scope_, grant.resource_id)
        values = validate_scope_values(resource, scope)
        scope_.grants.update_grant_scope(grant.id, values, now, actor.name)
        updated = _get_grant(scope_, grant.id)
        _audit_grant(scope_, now, actor, "Update delegated permission grant", "Update", updated, client, resource,
                     old_scope=grant.scope)
    return updated


def _get_grant(scope: TenantScope, grant_id: str) -> OAuth2PermissionGrant:
    grant = scope.grants.find_grant(grant_id)
    if grant is None:
        raise ConsentryError(NOT_FOUND)
    return grant


def remove_grant(ctx: ServiceContext, tenant_id: str, grant_id: str, actor: Actor) -> None:
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        drop_grant(scope, now, actor, _get_grant(scope, grant_id))


def drop_grant(scope: TenantScope, now: datetime, actor: Actor, grant: OAuth2PermissionGrant) -> None:
    """Remove a grant inside the caller's transaction, with its audit record."""
    client = get_service_principal(scope, grant.client_id)
    resource = get_service_principal(scope, grant.resource_id)
    scope.grants.remove_grant(grant.id)
    _audit_grant(scope, now, actor, "Remove delegated permission grant", "Unassign", grant, client, resource)


def revoke_permission(ctx: ServiceContext, tenant_id: str, grant_id: str, value: str, actor: Actor) -> None:
    """Take one permission out of a grant (the portal's "Revoke permission"); the grant goes when it is empty."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        grant = _get_grant(scope, grant_id)
        kept = [v for v in grant.scopes if v.lower() != value.lower()]
        if len(kept) == len(grant.scopes):
            raise ConsentryError(INVALID_VALUE, reason=f"The grant does not include the permission '{value[:120]}'.")
        if not kept:
            drop_grant(scope, now, actor, grant)
            return
        scope.grants.update_grant_scope(grant.id, " ".join(kept), now, actor.name)
        client = get_service_principal(scope, grant.client_id)
        resource = get_service_principal(scope, grant.resource_id)
        updated = replace_fields(grant, scope=" ".join(kept), modified_at=now, granted_by=actor.name)
        _audit_grant(scope, now, actor, "Update delegated permission grant", "Update", updated, client, resource,
                     old_scope=grant.scope)


def list_grants(ctx: ServiceContext, tenant_id: str, client_id: str | None = None) -> list[OAuth2PermissionGrant]:
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        if client_id is not None:
            client_id = get_service_principal(scope, client_id).id
        return scope.grants.list_grants(client_id=client_id)


def add_app_role_assignment(ctx: ServiceContext, tenant_id: str, principal_id: str, resource_id: str,
                            app_role: str, actor: Actor) -> AppRoleAssignment:
    """Assign an app role (by id or value; the nil GUID is default access) to a user, group or service
    principal on a resource service principal."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        resource = get_service_principal(scope, resource_id)
        role_id = _resolve_role(resource, app_role)
        principal_type, principal_name, principal_obj = _resolve_principal(scope, principal_id)
        return _insert_assignment(tx, scope, now, actor, resource, role_id, principal_type, principal_name,
                                  principal_obj)


def _insert_assignment(tx: Transaction, scope: TenantScope, now: datetime, actor: Actor, resource: ServicePrincipal,
                       role_id: str, principal_type: str, principal_name: str, principal_id: str) -> AppRoleAssignment:
    assignment = AppRoleAssignment(_grant_id(), scope.tenant_id, principal_id, principal_type, principal_name,
                                   resource.id, resource.display_name, role_id, now)
    try:
        with tx.conn.begin_nested():
            scope.grants.add_assignment(assignment)
    except IntegrityError as exc:
        raise ConsentryError(CONFLICT, reason="Permission being assigned already exists on the object") from exc
    role = resource.role_by_id(role_id)
    activity, category = _ASSIGN_ACTIVITIES[principal_type]
    audit.record(scope, now, actor, activity, category, "Assign",
                 [Target(resource.id, "ServicePrincipal", resource.display_name,
                         modified={"AppRole.Id": (None, role_id),
                                   "AppRole.Value": (None, role.value if role else None),
                                   "AppRole.DisplayName": (None, role.display_name if role else None)}),
                  Target(principal_id, principal_type, principal_name)])
    return assignment


# (activity, category) by principal type, as Entra's directory audit log names them (spec §9).
_ASSIGN_ACTIVITIES = {"ServicePrincipal": ("Add app role assignment to service principal", "ApplicationManagement"),
                      "User": ("Add app role assignment grant to user", "UserManagement"),
                      "Group": ("Add app role assignment to group", "GroupManagement")}
_UNASSIGN_ACTIVITIES = {"ServicePrincipal": ("Remove app role assignment from service principal",
                                             "ApplicationManagement"),
                        "User": ("Remove app role assignment from user", "UserManagement"),
                        "Group": ("Remove app role assignment from group", "GroupManagement")}


def _resolve_role(resource: ServicePrincipal, app_role: str) -> str:
    if app_role in ("", NIL_GUID):
        return NIL_GUID
    for role in resource.app_roles:
        if app_role in (role.id, role.value) and role.is_enabled:
            return role.id
    raise ConsentryError(INVALID_VALUE, reason=f"The resource '{resource.display_name}' defines no app role "
                                                f"'{app_role}'.")


def _resolve_principal(scope: TenantScope, principal: str) -> tuple[str, str, str]:
    user = scope.directory.find_user(principal) or scope.directory.find_user_by_upn(principal)
    if user:
        return "User", user.display_name, user.id
    group = scope.directory.find_group(principal)
    if group:
        return "Group", group.display_name, group.id
    sp = scope.apps.find_service_principal(principal) or scope.apps.find_service_principal_by_app_id(principal)
    if sp:
        return "ServicePrincipal", sp.display_name, sp.id
    raise ConsentryError(INVALID_VALUE, reason=f"No user, group or service principal '{principal}' exists.")


def remove_app_role_assignment(ctx: ServiceContext, tenant_id: str, assignment_id: str, actor: Actor, *,
                               principal_id: str | None = None, resource_id: str | None = None) -> None:
    """Remove an assignment; with ``principal_id`` or ``resource_id``, only one held by that principal or made
    on that resource (Graph's ``/appRoleAssignments/{id}`` and ``/appRoleAssignedTo/{id}``; 404 otherwise)."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        assignment = scope.grants.find_assignment(assignment_id)
        addressed = principal_id is not None or resource_id is not None
        if assignment is None or (principal_id is not None and assignment.principal_id != principal_id) or (
                resource_id is not None and assignment.resource_id != resource_id):
            raise ConsentryError(GRAPH_NOT_FOUND, id=assignment_id) if addressed else ConsentryError(NOT_FOUND)
        scope.grants.remove_assignment(assignment.id)
        activity, category = _UNASSIGN_ACTIVITIES.get(assignment.principal_type, _UNASSIGN_ACTIVITIES["User"])
        audit.record(scope, now, actor, activity, category, "Unassign",
                     [Target(assignment.resource_id, "ServicePrincipal", assignment.resource_display_name,
                             modified={"AppRole.Id": (assignment.app_role_id, None)}),
                      Target(assignment.principal_id, assignment.principal_type,
                             assignment.principal_display_name)])


# --- Graph: reads, paged, and writes addressed by object id ------------------------------------------
def page_grants(ctx: ServiceContext, tenant_id: str, query: ODataQuery,
                client_id: str | None = None) -> tuple[list[OAuth2PermissionGrant], Page]:
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).grants.page_grants(query, client_id=client_id)


def find_grant(ctx: ServiceContext, tenant_id: str, grant_id: str) -> OAuth2PermissionGrant:
    with ctx.uow.read() as tx:
        grant = tx.tenant(tenant_id).grants.find_grant(grant_id)
    if grant is None:
        raise ConsentryError(GRAPH_NOT_FOUND, id=grant_id)
    return grant


def page_assignments(ctx: ServiceContext, tenant_id: str, query: ODataQuery, *, principal_id: str | None = None,
                     resource_id: str | None = None) -> tuple[list[AppRoleAssignment], Page]:
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).grants.page_assignments(query, principal_id=principal_id,
                                                            resource_id=resource_id)


def find_assignment(ctx: ServiceContext, tenant_id: str, assignment_id: str, *, principal_id: str | None = None,
                    resource_id: str | None = None) -> AppRoleAssignment:
    with ctx.uow.read() as tx:
        found = tx.tenant(tenant_id).grants.find_assignment(assignment_id)
    if found is None or (principal_id is not None and found.principal_id != principal_id) or (
            resource_id is not None and found.resource_id != resource_id):
        raise ConsentryError(GRAPH_NOT_FOUND, id=assignment_id)
    return found


def assign_app_role(ctx: ServiceContext, tenant_id: str, principal_id: str, resource_id: str, app_role_id: str,
                    actor: Actor) -> AppRoleAssignment:
    """Graph's app role assignment: principal (user, group or service principal) and resource by object id,
    the role by id; the role must allow the principal's kind (``allowedMemberTypes``)."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        resource = scope.apps.find_service_principal(resource_id)
        if resource is None:
            raise ConsentryError(GRAPH_NOT_FOUND, id=resource_id)
        principal_type, principal_name = _principal_by_object_id(scope, principal_id)
        if app_role_id != NIL_GUID:
            role = resource.role_by_id(app_role_id)
            member_type = "Application" if principal_type == "ServicePrincipal" else "User"
            if role is None or not role.is_enabled or member_type not in role.allowed_member_types:
                raise ConsentryError(INVALID_VALUE, reason=f"Permission being assigned was not found on "
                                                            f"application '{resource.app_id}'.")
        return _insert_assignment(tx, scope, now, actor, resource, app_role_id, principal_type, principal_name,
                                  principal_id)


def is_graph_app_role_grant(ctx: ServiceContext, tenant_id: str, principal_id: str, resource_id: str) -> bool:
    """Whether an assignment would give a service principal an application permission of Microsoft Graph."""
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        resource = scope.apps.find_service_principal(resource_id)
        return (resource is not None and resource.app_id == MICROSOFT_GRAPH
                and scope.apps.find_service_principal(principal_id) is not None)


def _principal_by_object_id(scope: TenantScope, object_id: str) -> tuple[str, str]:
    user = scope.directory.find_user(object_id)
    if user:
        return "User", user.display_name
    group = scope.directory.find_group(object_id)
    if group:
        return "Group", group.display_name
    sp = scope.apps.find_service_principal(object_id)
    if sp:
        return "ServicePrincipal", sp.display_name
    raise ConsentryError(GRAPH_NOT_FOUND, id=object_id)
