"""Soft delete, restore and hard delete of service principals and applications (spec §8.2; Graph
``/directory/deletedItems``).

A deleted service principal goes to the tenant's deleted items for 30 days with everything removed with
it: the delegated permission grants and app role assignments it takes part in (as client, resource or
principal) and its delegated permission classifications. Restoring it puts them back with the same ids,
which is what the audit activity "Restore consent" records [INF]. Deleting an application also deletes
its service principal in the home tenant; restoring the application restores that service principal.
After 30 days :func:`purge_expired` removes them for good.

    live ──soft delete──▶ deleted (30 days) ──restore──▶ live
                               │
                               ├──hard delete──▶ gone
                               └──30 days──────▶ gone (purge_expired)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from consentry.domain.apps import Application, ServicePrincipal
from consentry.domain.builtin import find_builtin_application
from consentry.domain.ids import new_guid
from consentry.domain.odata import ODataQuery
from consentry.errors import CONFLICT, GRAPH_NOT_FOUND, ConsentryError
from consentry.services import audit
from consentry.services.apps import get_service_principal
from consentry.services.audit import Target
from consentry.services.context import SYSTEM, Actor, ServiceContext
from consentry.store.deleted import APPLICATION, SERVICE_PRINCIPAL, DeletedObject, tenants_with_expired
from consentry.store.odata import Page
from consentry.store.uow import TenantScope, Transaction

__all__ = ["APPLICATION", "RETENTION", "SERVICE_PRINCIPAL", "DeletedObject", "get_deleted", "hard_delete",
           "list_deleted", "purge_expired", "restore", "soft_delete_application", "soft_delete_service_principal"]

RETENTION = timedelta(days=30)  # not configurable in Entra either
CATEGORY = "ApplicationManagement"


def _not_found(object_id: str) -> ConsentryError:
    return ConsentryError(GRAPH_NOT_FOUND, id=object_id)


# --- soft delete ------------------------------------------------------------------------------------
def soft_delete_service_principal(ctx: ServiceContext, tenant_id: str, sp_id: str, actor: Actor) -> DeletedObject:
    """Move a service principal (by object id or appId) and its consent to deleted items."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        return _soft_delete_sp(scope, get_service_principal(scope, sp_id), now, actor, new_guid())


def _soft_delete_sp(scope: TenantScope, sp: ServicePrincipal, now: datetime, actor: Actor,
                    correlation_id: str) -> DeletedObject:
    grants = {g.id: g for g in [*scope.grants.list_grants(client_id=sp.id),
                                *scope.grants.list_grants(resource_id=sp.id)]}
    assignments = {a.id: a for a in [*scope.grants.list_assignments(principal_ids=[sp.id]),
                                     *scope.grants.list_assignments(resource_id=sp.id)]}
    deleted = DeletedObject(
        id=sp.id, object_type=SERVICE_PRINCIPAL, display_name=sp.display_name, deleted_at=now, app_id=sp.app_id,
        service_principal=sp, grants=tuple(grants.values()), assignments=tuple(assignments.values()),
        classifications=tuple(scope.deleted.list_classifications(sp.id)))
    scope.deleted.add(deleted)
    for grant_id in grants:
        scope.grants.remove_grant(grant_id)
    for assignment_id in assignments:
        scope.grants.remove_assignment(assignment_id)
    scope.deleted.remove_classifications(sp.id)
    scope.apps.remove_service_principal(sp.id)
    audit.record(scope, now, actor, "Remove service principal", CATEGORY, "Delete",
                 [Target(sp.id, "ServicePrincipal", sp.display_name,
                         modified={"AppPrincipalId": (sp.app_id, None), "DisplayName": (sp.display_name, None)})],
                 correlation_id=correlation_id)
    return deleted


def soft_delete_application(ctx: ServiceContext, tenant_id: str, app_object_id: str,
                            actor: Actor) -> DeletedObject:
    """Move an application (by object id or appId) with its credentials to deleted items, and its service
    principal in this, its home tenant, with it."""
    now = ctx.clock.now()
    correlation_id = new_guid()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        app = scope.apps.find_application(app_object_id) or scope.apps.find_application_by_app_id(app_object_id)
        if app is None:
            raise _not_found(app_object_id)
        sp = scope.apps.find_service_principal_by_app_id(app.app_id)
        if sp is not None:
            _soft_delete_sp(scope, sp, now, actor, correlation_id)
        deleted = DeletedObject(id=app.id, object_type=APPLICATION, display_name=app.display_name, deleted_at=now,
                                app_id=app.app_id, application=app, service_principal_id=sp.id if sp else None)
        scope.deleted.add(deleted)
        scope.apps.remove_application(app.id)  # its credentials go with it (ON DELETE CASCADE)
        audit.record(scope, now, actor, "Delete application", CATEGORY, "Delete",
                     [Target(app.id, "Application", app.display_name,
                             modified={"AppId": (app.app_id, None), "DisplayName": (app.display_name, None)})],
                     correlation_id=correlation_id)
    return deleted


# --- reads ------------------------------------------------------------------------------------------
def list_deleted(ctx: ServiceContext, tenant_id: str, object_type: str,
                 query: ODataQuery) -> tuple[list[DeletedObject], Page]:
    """One page of the tenant's deleted service principals or applications (those within 30 days)."""
    cutoff = ctx.clock.now() - RETENTION
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).deleted.page(object_type, query, not_before=cutoff)


def get_deleted(ctx: ServiceContext, tenant_id: str, object_id: str) -> DeletedObject:
    cutoff = ctx.clock.now() - RETENTION
    with ctx.uow.read() as tx:
        found = tx.tenant(tenant_id).deleted.find(object_id, not_before=cutoff)
    if found is None:
        raise _not_found(object_id)
    return found


# --- restore ----------------------------------------------------------------------------------------
def restore(ctx: ServiceContext, tenant_id: str, object_id: str,
            actor: Actor) -> ServicePrincipal | Application:
    """Put a deleted service principal (with its consent) or application (with its credentials and service
    principal) back, with the same ids. 409 if an object with the same appId exists now."""
    now = ctx.clock.now()
    correlation_id = new_guid()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        deleted = scope.deleted.find(object_id, not_before=now - RETENTION)
        if deleted is None:
            raise _not_found(object_id)
        if deleted.object_type == APPLICATION:
            return _restore_application(tx, scope, deleted, now, actor, correlation_id)
        return _restore_sp(scope, deleted, now, actor, correlation_id)


def _restore_sp(scope: TenantScope, deleted: DeletedObject, now: datetime, actor: Actor,
                correlation_id: str) -> ServicePrincipal:
    sp = deleted.service_principal
    if sp is None:
        raise _not_found(deleted.id)
    if scope.apps.find_service_principal_by_app_id(sp.app_id) or scope.apps.find_service_principal(sp.id):
        raise ConsentryError(CONFLICT, reason=f"A service principal for appId '{sp.app_id}' already exists; "
                                              "delete it before restoring this one.")
    scope.deleted.remove(deleted.id)
    scope.apps.add_service_principal(replace(sp, tenant_id=scope.tenant_id))
    scope.deleted.add_classifications(sp.id, deleted.classifications)
    audit.record(scope, now, actor, "Restore service principal", CATEGORY, "Restore",
                 [Target(sp.id, "ServicePrincipal", sp.display_name,
                         modified={"AppPrincipalId": (None, sp.app_id), "DisplayName": (None, sp.display_name)})],
                 correlation_id=correlation_id)
    grants = [g for g in deleted.grants if _grant_restorable(scope, g.id, g.client_id, g.resource_id, g.principal_id)]
    for grant in grants:
        scope.grants.add_grant(grant)
    assignments = [a for a in deleted.assignments
                   if _assignment_restorable(scope, a.id, a.principal_id, a.principal_type, a.resource_id)]
    for assignment in assignments:
        scope.grants.add_assignment(assignment)
    modified: dict[str, tuple[object, object]] = {}
    if grants:
        modified["ConsentAction.Permissions"] = (None, "[] => [" + ", ".join(
            f"[Id: {g.id}, ClientId: {g.client_id}, PrincipalId: {g.principal_id or ''}, ResourceId: "
            f"{g.resource_id}, ConsentType: {g.consent_type}, Scope: {g.scope}]" for g in grants) + "]")
    if assignments:
        modified["ConsentAction.AppRoleAssignments"] = (None, "[] => [" + ", ".join(
            f"[Id: {a.id}, PrincipalId: {a.principal_id}, ResourceId: {a.resource_id}, AppRoleId: {a.app_role_id}]"
            for a in assignments) + "]")
    if modified:
        audit.record(scope, now, actor, "Restore consent", CATEGORY, "Restore",
                     [Target(sp.id, "ServicePrincipal", sp.display_name, modified=modified)],
                     correlation_id=correlation_id)
    return sp


def _grant_restorable(scope: TenantScope, grant_id: str, client_id: str, resource_id: str,
                      principal_id: str | None) -> bool:
    """Skip what cannot come back: a grant whose other party or user has since gone, or that exists."""
    if scope.grants.find_grant(grant_id) is not None:
        return False
    if not all(scope.apps.find_service_principal(i) for i in (client_id, resource_id)):
        return False
    return principal_id is None or scope.directory.find_user(principal_id) is not None


def _assignment_restorable(scope: TenantScope, assignment_id: str, principal_id: str, principal_type: str,
                           resource_id: str) -> bool:
    if scope.grants.find_assignment(assignment_id) is not None:
        return False
    if scope.apps.find_service_principal(resource_id) is None:
        return False
    if principal_type == "User":
        return scope.directory.find_user(principal_id) is not None
    if principal_type == "Group":
        return scope.directory.find_group(principal_id) is not None
    return scope.apps.find_service_principal(principal_id) is not None


def _restore_application(tx: Transaction, scope: TenantScope, deleted: DeletedObject, now: datetime, actor: Actor,
                         correlation_id: str) -> Application:
    app = deleted.application
    if app is None:
        raise _not_found(deleted.id)
    if tx.applications.find_home_registration(app.app_id) or find_builtin_application(app.app_id):
        raise ConsentryError(CONFLICT, reason=f"An application with appId '{app.app_id}' already exists.")
    scope.deleted.remove(deleted.id)
    scope.apps.add_application(replace(app, tenant_id=scope.tenant_id))
    for secret in app.password_credentials:
        scope.apps.add_password_credential(app.id, secret)
    for key in app.key_credentials:
        scope.apps.add_key_credential(app.id, key)
    audit.record(scope, now, actor, "Restore application", CATEGORY, "Restore",
                 [Target(app.id, "Application", app.display_name,
                         modified={"AppId": (None, app.app_id), "DisplayName": (None, app.display_name)})],
                 correlation_id=correlation_id)
    home_sp = scope.deleted.find(deleted.service_principal_id) if deleted.service_principal_id else None
    if home_sp is not None and scope.apps.find_service_principal_by_app_id(app.app_id) is None:
        _restore_sp(scope, home_sp, now, actor, correlation_id)
    return app


# --- hard delete ------------------------------------------------------------------------------------
def hard_delete(ctx: ServiceContext, tenant_id: str, object_id: str, actor: Actor) -> None:
    """Delete a deleted item for good (an application takes its deleted service principal with it)."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        deleted = scope.deleted.find(object_id, not_before=now - RETENTION)
        if deleted is None:
            raise _not_found(object_id)
        _hard_delete(scope, deleted, now, actor, new_guid())


def _hard_delete(scope: TenantScope, deleted: DeletedObject, now: datetime, actor: Actor,
                 correlation_id: str) -> bool:
    if not scope.deleted.remove(deleted.id):
        return False  # someone else got there first (two purge jobs at once)
    if deleted.object_type == SERVICE_PRINCIPAL:
        audit.record(scope, now, actor, "Hard delete service principal", CATEGORY, "Delete",
                     [Target(deleted.id, "ServicePrincipal", deleted.display_name)], correlation_id=correlation_id)
        return True
    audit.record(scope, now, actor, "Hard Delete application", CATEGORY, "Delete",
                 [Target(deleted.id, "Application", deleted.display_name)], correlation_id=correlation_id)
    home_sp = scope.deleted.find(deleted.service_principal_id) if deleted.service_principal_id else None
    if home_sp is not None:
        _hard_delete(scope, home_sp, now, actor, correlation_id)
    return True


def purge_expired(ctx: ServiceContext) -> int:
    """Hard-delete what has been in deleted items for more than 30 days, in every tenant; how many went."""
    now = ctx.clock.now()
    cutoff = now - RETENTION
    purged = 0
    with ctx.uow.begin() as tx:
        for tenant_id in tenants_with_expired(tx.conn, cutoff):
            scope = tx.tenant(tenant_id)
            for deleted in scope.deleted.list_expired(cutoff):
                purged += _hard_delete(scope, deleted, now, SYSTEM, new_guid())
    return purged
