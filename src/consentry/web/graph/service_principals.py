"""``/servicePrincipals``: list (``$filter``, ``$select``, ``$top``, ``$orderby=displayName``, ``$count``,
``$skiptoken``), get by id or by ``(appId='…')``, create, update, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from consentry.domain.apps import AppRole, PermissionScope, ServicePrincipal
from consentry.domain.callers import Caller
from consentry.errors import GRAPH_BAD_REQUEST, GRAPH_NOT_FOUND, ConsentryError
from consentry.services import apps as app_service
from consentry.services import authz, deleted_items
from consentry.web.graph.common import (
    actor_of,
    caller,
    collection,
    entity,
    guid_or_404,
    iso,
    no_content,
    odata_query,
    read_body,
    runtime_of,
)

router = APIRouter(tags=["servicePrincipals"])
ORDERABLE = frozenset({"displayName"})
PATCHABLE = {"accountEnabled": "account_enabled", "appRoleAssignmentRequired": "app_role_assignment_required",
             "tags": "tags"}


def permission_scope_json(s: PermissionScope) -> dict[str, Any]:
    return {"id": s.id, "value": s.value, "type": s.type, "isEnabled": s.is_enabled,
            "adminConsentDisplayName": s.admin_consent_display_name,
            "adminConsentDescription": s.admin_consent_description,
            "userConsentDisplayName": s.user_consent_display_name,
            "userConsentDescription": s.user_consent_description, "origin": "Application"}


def app_role_json(r: AppRole) -> dict[str, Any]:
    return {"id": r.id, "value": r.value, "displayName": r.display_name, "description": r.description,
            "allowedMemberTypes": list(r.allowed_member_types), "isEnabled": r.is_enabled, "origin": "Application"}


def service_principal_json(sp: ServicePrincipal) -> dict[str, Any]:
    return {
        "id": sp.id, "deletedDateTime": None, "accountEnabled": sp.account_enabled, "appId": sp.app_id,
        "appDisplayName": sp.display_name, "displayName": sp.display_name,
        "appOwnerOrganizationId": sp.app_owner_organization_id,
        "appRoleAssignmentRequired": sp.app_role_assignment_required,
        "appRoles": [app_role_json(r) for r in sp.app_roles],
        "oauth2PermissionScopes": [permission_scope_json(s) for s in sp.scopes], "tags": list(sp.tags),
        "servicePrincipalNames": list(sp.service_principal_names), "servicePrincipalType": "Application",
        "replyUrls": list(sp.reply_urls), "homepage": sp.homepage, "publisherName": sp.publisher_name,
        "signInAudience": sp.sign_in_audience, "notes": sp.notes, "createdDateTime": iso(sp.created_at),
        "verifiedPublisher": {"displayName": sp.verified_publisher.get("displayName"),
                              "verifiedPublisherId": sp.verified_publisher.get("verifiedPublisherId"),
                              "addedDateTime": sp.verified_publisher.get("addedDateTime")},
        "info": {"termsOfServiceUrl": None, "privacyStatementUrl": None, "supportUrl": None,
                 "marketingUrl": None, "logoUrl": None},
        "keyCredentials": [], "passwordCredentials": [], "disabledByMicrosoftStatus": None,
    }


def _not_found(value: str) -> ConsentryError:
    return ConsentryError(GRAPH_NOT_FOUND, id=value)


@router.get("/servicePrincipals")
async def list_service_principals(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request, ORDERABLE, directory_objects=True)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_APPS)
    items, page = await run_in_threadpool(app_service.page_service_principals, rt.ctx, who.tenant_id, query)
    return collection(request, "servicePrincipals", [service_principal_json(sp) for sp in items], query,
                      page.next_after, page.count)


BY_APP_ID = "/servicePrincipals(appId='{app_id}')"


@router.get("/servicePrincipals/{sp_id}")
@router.get(BY_APP_ID, include_in_schema=False)
async def get_service_principal(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_APPS)
    sp = await run_in_threadpool(_lookup, request, who)
    return entity(request, "servicePrincipals/$entity", service_principal_json(sp), select=query.select)


def _lookup(request: Request, who: Caller) -> ServicePrincipal:
    """By object id (``/servicePrincipals/{id}``) or by the alternate key ``/servicePrincipals(appId='…')``."""
    ctx = runtime_of(request).ctx
    params = request.path_params
    if "app_id" in params:
        app_id = guid_or_404(params["app_id"], lambda: _not_found(params["app_id"]))
        return app_service.find_service_principal(ctx, who.tenant_id, app_id=app_id)
    object_id = guid_or_404(params["sp_id"], lambda: _not_found(params["sp_id"]))
    return app_service.find_service_principal(ctx, who.tenant_id, object_id=object_id)


@router.post("/servicePrincipals", status_code=201)
async def create_service_principal(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    body = await read_body(request, {"appId", "displayName", "accountEnabled", "appRoleAssignmentRequired",
                                     "tags", "notes"}, required=("appId",))
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_APPS)
    app_id = str(body["appId"])
    guid_or_404(app_id, lambda: ConsentryError(GRAPH_BAD_REQUEST, reason="appId must be a GUID."))
    actor = actor_of(request, who)
    sp = await run_in_threadpool(app_service.create_service_principal, rt.ctx, who.tenant_id, app_id, actor)
    changes = {PATCHABLE[k]: v for k, v in body.items() if k in PATCHABLE}
    if changes:
        sp = await run_in_threadpool(lambda: app_service.update_service_principal(
            rt.ctx, who.tenant_id, sp.id, actor, **_validated(changes)))
    return entity(request, "servicePrincipals/$entity", service_principal_json(sp), status=201)


def _validated(changes: dict[str, Any]) -> dict[str, Any]:
    for name in ("account_enabled", "app_role_assignment_required"):
        if name in changes and not isinstance(changes[name], bool):
            raise ConsentryError(GRAPH_BAD_REQUEST, reason=f"Invalid value for '{name}': a boolean is required.")
    tags = changes.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) and len(t) <= 256 for t in tags)):
        raise ConsentryError(GRAPH_BAD_REQUEST, reason="tags must be a list of strings.")
    return changes


@router.patch("/servicePrincipals/{sp_id}", status_code=204)
@router.patch(BY_APP_ID, status_code=204, include_in_schema=False)
async def update_service_principal(request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    body = await read_body(request, set(PATCHABLE))
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_APPS)
    sp = await run_in_threadpool(_lookup, request, who)
    changes = _validated({PATCHABLE[k]: v for k, v in body.items()})
    await run_in_threadpool(lambda: app_service.update_service_principal(
        rt.ctx, who.tenant_id, sp.id, actor_of(request, who), **changes))
    return no_content()


@router.delete("/servicePrincipals/{sp_id}", status_code=204)
@router.delete(BY_APP_ID, status_code=204, include_in_schema=False)
async def delete_service_principal(request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_APPS)
    sp = await run_in_threadpool(_lookup, request, who)
    await run_in_threadpool(deleted_items.soft_delete_service_principal, rt.ctx, who.tenant_id, sp.id,
                            actor_of(request, who))
    return no_content()
