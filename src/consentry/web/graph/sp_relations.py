"""A service principal's relationships, addressed by id or by ``(appId='…')``:

- ``/appRoleAssignments``: app roles granted *to* it (it is the principal; application permissions);
- ``/appRoleAssignedTo``: app roles granted *on* it (it is the resource) to users, groups and service
  principals;
- ``/oauth2PermissionGrants``: the delegated permission grants where it is the client;
- ``/delegatedPermissionClassifications``: its delegated permissions classified ``low`` (spec §6.2).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from consentry.domain.apps import ServicePrincipal
from consentry.domain.callers import Caller
from consentry.domain.grants import AppRoleAssignment
from consentry.domain.ids import is_guid
from consentry.errors import GRAPH_BAD_REQUEST, GRAPH_NOT_FOUND, ConsentryError
from consentry.services import authz, classifications
from consentry.services import grants as grant_service
from consentry.services.classifications import Classification
from consentry.web.graph.common import (
    actor_of,
    caller,
    collection,
    entity,
    iso,
    no_content,
    odata_query,
    read_body,
    runtime_of,
)
from consentry.web.graph.grants import OPAQUE_ID, grant_json
from consentry.web.graph.service_principals import _lookup

router = APIRouter(tags=["servicePrincipals"])
BY_ID = "/servicePrincipals/{sp_id}"
BY_APP_ID = "/servicePrincipals(appId='{app_id}')"
ASSIGNMENT_PROPERTIES = {"principalId", "resourceId", "appRoleId"}
MAX_OBJECT_ID = 64


def assignment_json(a: AppRoleAssignment) -> dict[str, Any]:
    return {"id": a.id, "deletedDateTime": None, "appRoleId": a.app_role_id, "createdDateTime": iso(a.created_at),
            "principalDisplayName": a.principal_display_name, "principalId": a.principal_id,
            "principalType": a.principal_type, "resourceDisplayName": a.resource_display_name,
            "resourceId": a.resource_id}


def classification_json(c: Classification) -> dict[str, Any]:
    return {"id": c.id, "classification": c.classification, "permissionId": c.permission_id,
            "permissionName": c.permission_name}


def _bad(reason: str) -> ConsentryError:
    return ConsentryError(GRAPH_BAD_REQUEST, reason=reason)


def _guid(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not is_guid(value):
        raise _bad(f"Invalid value for '{name}': a GUID is required.")
    return value.lower()


def _path_id(request: Request, name: str) -> str:
    """Assignment and classification ids are opaque base64url strings: anything else names nothing."""
    value = str(request.path_params[name])
    if not OPAQUE_ID.fullmatch(value):
        raise ConsentryError(GRAPH_NOT_FOUND, id=value[:MAX_OBJECT_ID].replace("\x00", ""))
    return value


async def _service_principal(request: Request, who: Caller, operation: authz.Operation) -> ServicePrincipal:
    await run_in_threadpool(authz.ensure_allowed, runtime_of(request).ctx, who, operation)
    sp: ServicePrincipal = await run_in_threadpool(_lookup, request, who)
    return sp


def _routes(suffix: str, method: str, **kwargs: Any) -> Any:
    """Register one handler under both addressings of the service principal."""
    def register(handler: Any) -> Any:
        add = getattr(router, method)
        add(BY_APP_ID + suffix, include_in_schema=False, **kwargs)(handler)
        return add(BY_ID + suffix, **kwargs)(handler)
    return register


# --- app role assignments: to it (/appRoleAssignments) and on it (/appRoleAssignedTo) ------------------
def _side(relation: str, sp: ServicePrincipal) -> dict[str, str]:
    return {"principal_id": sp.id} if relation == "appRoleAssignments" else {"resource_id": sp.id}


async def _list_assignments(request: Request, who: Caller, relation: str) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    sp = await _service_principal(request, who, authz.READ_APPS)
    items, page = await run_in_threadpool(lambda: grant_service.page_assignments(
        rt.ctx, who.tenant_id, query, **_side(relation, sp)))
    return collection(request, f"servicePrincipals('{sp.id}')/{relation}", [assignment_json(a) for a in items],
                      query, page.next_after, page.count)


async def _get_assignment(request: Request, who: Caller, relation: str) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    sp = await _service_principal(request, who, authz.READ_APPS)
    found = await run_in_threadpool(lambda: grant_service.find_assignment(
        rt.ctx, who.tenant_id, _path_id(request, "assignment_id"), **_side(relation, sp)))
    return entity(request, f"servicePrincipals('{sp.id}')/{relation}/$entity", assignment_json(found),
                  select=query.select)


async def _create_assignment(request: Request, who: Caller, relation: str) -> JSONResponse:
    rt = runtime_of(request)
    body = await read_body(request, ASSIGNMENT_PROPERTIES, required=sorted(ASSIGNMENT_PROPERTIES))
    principal_id, resource_id, role_id = _guid(body, "principalId"), _guid(body, "resourceId"), _guid(body, "appRoleId")
    sp = await _service_principal(request, who, authz.WRITE_ASSIGNMENTS)
    if relation == "appRoleAssignments" and principal_id != sp.id:
        raise _bad("principalId must be the id of the service principal in the request URL.")
    if relation == "appRoleAssignedTo" and resource_id != sp.id:
        raise _bad("resourceId must be the id of the service principal in the request URL.")
    if await run_in_threadpool(grant_service.is_graph_app_role_grant, rt.ctx, who.tenant_id, principal_id,
                               resource_id):
        await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.GRANT_GRAPH_APP_ROLES)
    created = await run_in_threadpool(grant_service.assign_app_role, rt.ctx, who.tenant_id, principal_id,
                                      resource_id, role_id, actor_of(request, who))
    return entity(request, f"servicePrincipals('{sp.id}')/{relation}/$entity", assignment_json(created), status=201)


async def _delete_assignment(request: Request, who: Caller, relation: str) -> Response:
    rt = runtime_of(request)
    sp = await _service_principal(request, who, authz.WRITE_ASSIGNMENTS)
    await run_in_threadpool(lambda: grant_service.remove_app_role_assignment(
        rt.ctx, who.tenant_id, _path_id(request, "assignment_id"), actor_of(request, who), **_side(relation, sp)))
    return no_content()


@_routes("/appRoleAssignments", "get")
async def list_app_role_assignments(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await _list_assignments(request, who, "appRoleAssignments")


@_routes("/appRoleAssignments/{assignment_id}", "get")
async def get_app_role_assignment(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await _get_assignment(request, who, "appRoleAssignments")


@_routes("/appRoleAssignments", "post", status_code=201)
async def create_app_role_assignment(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await _create_assignment(request, who, "appRoleAssignments")


@_routes("/appRoleAssignments/{assignment_id}", "delete", status_code=204)
async def delete_app_role_assignment(request: Request, who: Caller = Depends(caller)) -> Response:
    return await _delete_assignment(request, who, "appRoleAssignments")


@_routes("/appRoleAssignedTo", "get")
async def list_app_role_assigned_to(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await _list_assignments(request, who, "appRoleAssignedTo")


@_routes("/appRoleAssignedTo/{assignment_id}", "get")
async def get_app_role_assigned_to(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await _get_assignment(request, who, "appRoleAssignedTo")


@_routes("/appRoleAssignedTo", "post", status_code=201)
async def create_app_role_assigned_to(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await _create_assignment(request, who, "appRoleAssignedTo")


@_routes("/appRoleAssignedTo/{assignment_id}", "delete", status_code=204)
async def delete_app_role_assigned_to(request: Request, who: Caller = Depends(caller)) -> Response:
    return await _delete_assignment(request, who, "appRoleAssignedTo")


# --- delegated permission grants where it is the client ------------------------------------------------
@_routes("/oauth2PermissionGrants", "get")
async def list_client_grants(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    sp = await _service_principal(request, who, authz.READ_GRANTS)
    items, page = await run_in_threadpool(lambda: grant_service.page_grants(rt.ctx, who.tenant_id, query,
                                                                            client_id=sp.id))
    return collection(request, "oauth2PermissionGrants", [grant_json(g) for g in items], query, page.next_after,
                      page.count)


# --- delegated permission classifications -------------------------------------------------------------
@_routes("/delegatedPermissionClassifications", "get")
async def list_classifications(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    if query.filter is not None or query.after is not None:
        raise _bad("$filter and $skiptoken are not supported on delegatedPermissionClassifications.")
    sp = await _service_principal(request, who, classifications.READ)
    items = await run_in_threadpool(classifications.list_classifications, rt.ctx, who.tenant_id, sp.id)
    return collection(request, f"servicePrincipals('{sp.id}')/delegatedPermissionClassifications",
                      [classification_json(c) for c in items], query)


@_routes("/delegatedPermissionClassifications", "post", status_code=201)
async def create_classification(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    body = await read_body(request, {"permissionId", "permissionName", "classification"},
                           required=("classification",))
    permission_id = _guid(body, "permissionId") if body.get("permissionId") is not None else None
    name = body.get("permissionName")
    if name is not None and (not isinstance(name, str) or len(name) > 128 or "\x00" in name):
        raise _bad("Invalid value for 'permissionName': a string of at most 128 characters is required.")
    if permission_id is None and name is None:
        raise _bad("Property 'permissionId' or 'permissionName' is required.")
    sp = await _service_principal(request, who, classifications.WRITE)
    created = await run_in_threadpool(lambda: classifications.classify_permission(
        rt.ctx, who.tenant_id, sp.id, actor_of(request, who), permission_id=permission_id, permission_name=name,
        classification=str(body["classification"])))
    return entity(request, f"servicePrincipals('{sp.id}')/delegatedPermissionClassifications/$entity",
                  classification_json(created), status=201)


@_routes("/delegatedPermissionClassifications/{classification_id}", "delete", status_code=204)
async def delete_classification(request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    sp = await _service_principal(request, who, classifications.WRITE)
    await run_in_threadpool(classifications.remove_classification, rt.ctx, who.tenant_id, sp.id,
                            _path_id(request, "classification_id"), actor_of(request, who))
    return no_content()
