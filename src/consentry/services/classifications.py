"""Delegated permission classifications (spec §6.2): an administrator marks some delegated permissions of
an API's service principal as ``low`` impact, which the ``microsoft-user-default-low`` consent policy lets
users consent to. Graph: ``/servicePrincipals/{id}/delegatedPermissionClassifications``.

The audit activity names are inferred ([INF]: Entra logs these under ApplicationManagement; the reference
table does not list them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consentry.domain.apps import ServicePrincipal
from consentry.domain.ids import opaque_id
from consentry.errors import CONFLICT, GRAPH_NOT_FOUND, INVALID_VALUE, ConsentryError
from consentry.services import audit, authz
from consentry.services.audit import Target
from consentry.services.context import Actor, ServiceContext
from consentry.store.uow import TenantScope

CLASSIFICATIONS = ("low",)  # Entra accepts only "low" today; medium and high are reserved
_READ = ("Policy.Read.PermissionGrant Policy.ReadWrite.PermissionGrant Application.Read.All "
         "Application.ReadWrite.All Directory.Read.All Directory.ReadWrite.All")
READ = authz.Operation("read permission classifications", frozenset(_READ.split()), frozenset(_READ.split()),
                       authz.ANY_USER)
WRITE = authz.Operation("write permission classifications", frozenset({"Policy.ReadWrite.PermissionGrant"}),
                        frozenset({"Policy.ReadWrite.PermissionGrant"}), authz.APP_ADMINS)


@dataclass(frozen=True, slots=True)
class Classification:
    id: str
    permission_id: str
    permission_name: str
    classification: str


def _classification(row: dict[str, Any]) -> Classification:
    return Classification(row["id"], row["permission_id"], row["permission_name"], row["classification"])


def _service_principal(scope: TenantScope, sp_id: str) -> ServicePrincipal:
    sp = scope.apps.find_service_principal(sp_id)
    if sp is None:
        raise ConsentryError(GRAPH_NOT_FOUND, id=sp_id)
    return sp


def list_classifications(ctx: ServiceContext, tenant_id: str, sp_id: str) -> list[Classification]:
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        sp = _service_principal(scope, sp_id)
        return [_classification(r) for r in scope.apps.list_classifications(sp.id)]


def classify_permission(ctx: ServiceContext, tenant_id: str, sp_id: str, actor: Actor, *,
                        permission_id: str | None, permission_name: str | None,
                        classification: str) -> Classification:
    """Classify one delegated permission the service principal publishes (named by id, value, or both)."""
    if classification not in CLASSIFICATIONS:
        raise ConsentryError(INVALID_VALUE, reason="classification must be 'low'.")
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        sp = _service_principal(scope, sp_id)
        permission = next((s for s in sp.scopes if (permission_id is None or s.id == permission_id.lower())
                           and (permission_name is None or s.value.lower() == permission_name.lower())), None)
        if permission is None or not (permission_id or permission_name):
            raise ConsentryError(INVALID_VALUE, reason=f"The service principal '{sp.display_name}' publishes no "
                                                        "delegated permission with that permissionId and "
                                                        "permissionName.")
        if permission.type == "Admin":  # spec §6.2: only permissions users may consent to can be classified
            raise ConsentryError(INVALID_VALUE, reason=f"The permission '{permission.value}' requires admin consent "
                                                        "and cannot be classified.")
        created = Classification(_classification_id(), permission.id, permission.value, classification)
        if not scope.apps.add_classification(sp.id, created.id, created.permission_id, created.permission_name,
                                             created.classification):
            raise ConsentryError(CONFLICT, reason=f"The permission '{permission.value}' is already classified.")
        audit.record(scope, now, actor, "Add delegated permission classification", "ApplicationManagement", "Add",
                     [Target(sp.id, "ServicePrincipal", sp.display_name, modified={
                         "DelegatedPermissionClassification.PermissionName": (None, permission.value),
                         "DelegatedPermissionClassification.Classification": (None, classification)})])
    return created


def remove_classification(ctx: ServiceContext, tenant_id: str, sp_id: str, classification_id: str,
                          actor: Actor) -> None:
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        sp = _service_principal(scope, sp_id)
        row = scope.apps.find_classification(sp.id, classification_id)
        if row is None:
            raise ConsentryError(GRAPH_NOT_FOUND, id=classification_id)
        scope.apps.remove_classification(sp.id, classification_id)
        audit.record(scope, now, actor, "Remove delegated permission classification", "ApplicationManagement",
                     "Delete", [Target(sp.id, "ServicePrincipal", sp.display_name, modified={
                         "DelegatedPermissionClassification.PermissionName": (row["permission_name"], None),
                         "DelegatedPermissionClassification.Classification": (row["classification"], None)})])


def _classification_id() -> str:
    """Entra's classification ids are short opaque base64url strings (``2G3-4TG6YU2J54hjnaRoPQE``)."""
    return opaque_id(17)
