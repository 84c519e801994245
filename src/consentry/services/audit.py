"""Audit records in Entra's ``directoryAudit`` shape (spec §9), written in the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consentry.domain.ids import new_guid
from consentry.domain.odata import ODataQuery
from consentry.errors import GRAPH_NOT_FOUND, ConsentryError
from consentry.services.context import Actor, ServiceContext
from consentry.store.odata import Page
from consentry.store.uow import TenantScope


@dataclass(frozen=True, slots=True)
class Target:
    id: str | None
    type: str  # "User", "Group", "Application", "ServicePrincipal", "Policy", "Directory", "Other"
    display_name: str | None = None
    user_principal_name: str | None = None
    modified: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "displayName": self.display_name, "type": self.type,
            "userPrincipalName": self.user_principal_name, "groupType": None,
            "modifiedProperties": [
                {"displayName": name, "oldValue": _quoted(old), "newValue": _quoted(new)}
                for name, (old, new) in self.modified.items()],
        }


def _quoted(value: Any) -> str | None:
    """Entra writes modified property values as JSON text (``"\\"False\\""``, ``"[\\"a\\"]"``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        value = "True" if value else "False"
    return json.dumps(value)


ACCESS_REVIEWS = "Access Reviews"  # the service Entra names for the admin consent request workflow (spec §7.7)


def entry(now: datetime, actor: Actor, activity: str, category: str, operation_type: str, targets: list[Target], *,
          result: str = "success", reason: str = "", correlation_id: str | None = None,
          details: dict[str, str] | None = None, logged_by_service: str = "Core Directory") -> dict[str, Any]:
    """One audit record, to write with :func:`record_all`."""
    return dict(
        id=new_guid(), activity_date_time=now, activity_display_name=activity, category=category,
        operation_type=operation_type, result=result, result_reason=reason, logged_by_service=logged_by_service,
        correlation_id=correlation_id or new_guid(), initiated_by=actor.initiated_by(),
        target_resources=[t.to_json() for t in targets],
        additional_details=[{"key": k, "value": v} for k, v in (details or {}).items()])


def record(scope: TenantScope, now: datetime, actor: Actor, activity: str, category: str, operation_type: str,
           targets: list[Target], *, result: str = "success", reason: str = "", correlation_id: str | None = None,
           details: dict[str, str] | None = None, logged_by_service: str = "Core Directory") -> None:
    """Write one audit record in the caller's transaction."""
    scope.audit.add_events([entry(now, actor, activity, category, operation_type, targets, result=result,
                                  reason=reason, correlation_id=correlation_id, details=details,
                                  logged_by_service=logged_by_service)])


def record_all(scope: TenantScope, entries: Sequence[dict[str, Any]]) -> None:
    """Write many audit records (made with :func:`entry`) in one statement, in the caller's transaction."""
    scope.audit.add_events(entries)


def page_directory_audits(ctx: ServiceContext, tenant_id: str, query: ODataQuery,
                          target_id: str | None = None) -> tuple[list[dict[str, Any]], Page]:
    """One page of the tenant's directory audit log (Graph ``/auditLogs/directoryAudits``); with
    ``target_id``, only the records about that object (the portal's per-application audit log)."""
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).audit.page_events(query, target_id=target_id)


def get_directory_audit(ctx: ServiceContext, tenant_id: str, event_id: str) -> dict[str, Any]:
    """One audit record of the tenant; 404 for an unknown id or another tenant's."""
    with ctx.uow.read() as tx:
        event = tx.tenant(tenant_id).audit.find_event(event_id)
    if event is None:
        raise ConsentryError(GRAPH_NOT_FOUND, id=event_id)
    return event


def record_sign_in(ctx: ServiceContext, tenant_id: str, *, grant_type: str, error_code: int,
                   correlation_id: str, user_id: str | None = None, upn: str | None = None,
                   app_id: str | None = None, app_name: str | None = None, resource_name: str | None = None,
                   failure_reason: str = "", consent_reason: str | None = None,
                   ip_address: str | None = None) -> None:
    """Queue one sign-in log row (written in the background; see :mod:`consentry.services.signin_log`)."""
    ctx.sign_ins.record(
        tenant_id=tenant_id, created_date_time=ctx.clock.now(), user_id=user_id, user_principal_name=upn,
        app_id=app_id, app_display_name=app_name, resource_display_name=resource_name, grant_type=grant_type,
        error_code=error_code, failure_reason=failure_reason[:1024], consent_reason=consent_reason,
        ip_address=ip_address, correlation_id=correlation_id)


def page_sign_ins(ctx: ServiceContext, tenant_id: str, query: ODataQuery) -> tuple[list[dict[str, Any]], Page]:
    """One page of the tenant's sign-in log (Graph ``/auditLogs/signIns``), with what is still buffered."""
    ctx.sign_ins.flush()
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).audit.page_sign_ins(query)


def list_sign_ins(ctx: ServiceContext, tenant_id: str, limit: int = 1000) -> list[dict[str, Any]]:
    ctx.sign_ins.flush()
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).audit.list_sign_ins(limit=limit)
