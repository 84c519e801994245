"""``/auditLogs/directoryAudits``: the tenant's directory audit log in Microsoft's ``directoryAudit`` shape
(spec §9), newest first, with ``$filter`` on ``activityDisplayName``, ``category``, ``result``,
``correlationId``, ``activityDateTime`` (``eq``/``ge``/``le``/``gt``/``lt`` with unquoted DateTimeOffset
literals) and ``initiatedBy/user/id`` (and the initiator's other names), ``$top`` and ``$skiptoken``.

``/auditLogs/signIns``: every ``/authorize`` and ``/token`` outcome in Microsoft's ``signIn`` shape, with
``$filter`` on ``appId``, ``userId``, ``userPrincipalName``, ``correlationId`` and ``createdDateTime``. The
consent decision's reason is in ``status.additionalDetails`` (``consentReason: user_consent_not_allowed``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from consentry.domain.callers import Caller
from consentry.errors import GRAPH_NOT_FOUND, ConsentryError
from consentry.services import audit, authz
from consentry.web.graph.common import caller, collection, entity, guid_or_404, odata_query, runtime_of

router = APIRouter(tags=["auditLogs"])
ORDERABLE = frozenset({"activityDateTime"})
SIGN_IN_ORDERABLE = frozenset({"createdDateTime"})
_USER_KEYS = ("id", "displayName", "userPrincipalName", "ipAddress")
_APP_KEYS = ("appId", "displayName", "servicePrincipalId", "servicePrincipalName")


def _timestamp(value: datetime) -> str:
    """Graph writes audit times with their fraction of a second; so do we (microseconds), so that a time
    read from one record can be used in a ``$filter`` and match it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _identity(value: Any, keys: tuple[str, ...]) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {k: value.get(k) for k in keys}


def _target(t: dict[str, Any]) -> dict[str, Any]:
    return {"id": t.get("id"), "displayName": t.get("displayName"), "type": t.get("type"),
            "userPrincipalName": t.get("userPrincipalName"), "groupType": t.get("groupType"),
            "modifiedProperties": [{"displayName": m.get("displayName"), "oldValue": m.get("oldValue"),
                                    "newValue": m.get("newValue")} for m in t.get("modifiedProperties") or ()]}


def directory_audit_json(event: dict[str, Any]) -> dict[str, Any]:
    initiated_by = event.get("initiated_by") or {}
    return {
        "id": event["id"], "category": event["category"], "correlationId": event["correlation_id"],
        "result": event["result"], "resultReason": event.get("result_reason") or "",
        "activityDisplayName": event["activity_display_name"],
        "activityDateTime": _timestamp(event["activity_date_time"]),
        "loggedByService": event["logged_by_service"], "operationType": event["operation_type"],
        "initiatedBy": {"user": _identity(initiated_by.get("user"), _USER_KEYS),
                        "app": _identity(initiated_by.get("app"), _APP_KEYS)},
        "targetResources": [_target(t) for t in event.get("target_resources") or ()],
        "additionalDetails": [{"key": d.get("key"), "value": d.get("value")}
                              for d in event.get("additional_details") or ()],
    }


@router.get("/auditLogs/directoryAudits")
async def list_directory_audits(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request, ORDERABLE)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_AUDIT)
    events, page = await run_in_threadpool(audit.page_directory_audits, rt.ctx, who.tenant_id, query)
    return collection(request, "auditLogs/directoryAudits", [directory_audit_json(e) for e in events], query,
                      page.next_after, page.count)


@router.get("/auditLogs/directoryAudits/{audit_id}")
async def get_directory_audit(audit_id: str, request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_AUDIT)
    event_id = guid_or_404(audit_id, lambda: ConsentryError(GRAPH_NOT_FOUND, id=audit_id))
    event = await run_in_threadpool(audit.get_directory_audit, rt.ctx, who.tenant_id, event_id)
    return entity(request, "auditLogs/directoryAudits/$entity", directory_audit_json(event), select=query.select)


def sign_in_json(row: dict[str, Any]) -> dict[str, Any]:
    reason = row.get("consent_reason")
    return {
        "id": row["id"], "createdDateTime": _timestamp(row["created_date_time"]),
        "userId": row.get("user_id"), "userPrincipalName": row.get("user_principal_name"),
        "appId": row.get("app_id"), "appDisplayName": row.get("app_display_name"),
        "resourceDisplayName": row.get("resource_display_name"), "ipAddress": row.get("ip_address"),
        "clientAppUsed": "Browser" if row.get("grant_type") == "authorize" else "Mobile Apps and Desktop clients",
        "correlationId": row.get("correlation_id"), "isInteractive": row.get("grant_type") == "authorize",
        "status": {"errorCode": row.get("error_code") or 0, "failureReason": row.get("failure_reason") or None,
                   "additionalDetails": f"consentReason: {reason}" if reason else None},
    }


@router.get("/auditLogs/signIns")
async def list_sign_ins(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request, SIGN_IN_ORDERABLE)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_AUDIT)
    rows, page = await run_in_threadpool(audit.page_sign_ins, rt.ctx, who.tenant_id, query)
    return collection(request, "auditLogs/signIns", [sign_in_json(r) for r in rows], query, page.next_after,
                      page.count)
