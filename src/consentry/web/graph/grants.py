"""``/oauth2PermissionGrants``: delegated permission grants. List (``$filter`` on ``clientId``,
``consentType``, ``principalId``, ``resourceId`` with ``eq``; ``$top``, ``$skiptoken``, ``$count``), get,
create (201), update of ``scope`` (204), delete (204)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from consentry.domain.callers import Caller
from consentry.domain.grants import OAuth2PermissionGrant
from consentry.domain.ids import is_guid
from consentry.errors import GRAPH_BAD_REQUEST, GRAPH_NOT_FOUND, ConsentryError
from consentry.services import authz
from consentry.services import grants as grant_service
from consentry.web.graph.common import (
    actor_of,
    caller,
    collection,
    entity,
    no_content,
    odata_query,
    read_body,
    runtime_of,
)

router = APIRouter(tags=["oauth2PermissionGrants"])
MAX_GRANT_ID = 64
OPAQUE_ID = re.compile(r"[A-Za-z0-9_=-]{1,64}")


def grant_json(g: OAuth2PermissionGrant) -> dict[str, Any]:
    return {"id": g.id, "clientId": g.client_id, "consentType": g.consent_type, "principalId": g.principal_id,
            "resourceId": g.resource_id, "scope": g.scope}


def _bad(reason: str) -> ConsentryError:
    return ConsentryError(GRAPH_BAD_REQUEST, reason=reason)


def _text(body: dict[str, Any], name: str, max_length: int = 64) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise _bad(f"Invalid value for '{name}': a string of at most {max_length} characters is required.")
    return value


def _object_id(body: dict[str, Any], name: str) -> str | None:
    value = _text(body, name)
    if value is not None and not is_guid(value):
        raise _bad(f"Invalid value for '{name}': the id (a GUID) of a directory object is required.")
    return value.lower() if value else None


def _grant_id(request: Request) -> str:
    """Grant ids are opaque base64url strings: anything else names no grant."""
    grant_id = str(request.path_params["grant_id"])
    if not OPAQUE_ID.fullmatch(grant_id):
        raise ConsentryError(GRAPH_NOT_FOUND, id=grant_id[:MAX_GRANT_ID].replace("\x00", ""))
    return grant_id


@router.get("/oauth2PermissionGrants")
async def list_grants(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_GRANTS)
    items, page = await run_in_threadpool(grant_service.page_grants, rt.ctx, who.tenant_id, query)
    return collection(request, "oauth2PermissionGrants", [grant_json(g) for g in items], query, page.next_after,
                      page.count)


@router.get("/oauth2PermissionGrants/{grant_id}")
async def get_grant(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_GRANTS)
    grant = await run_in_threadpool(grant_service.find_grant, rt.ctx, who.tenant_id, _grant_id(request))
    return entity(request, "oauth2PermissionGrants/$entity", grant_json(grant), select=query.select)


@router.post("/oauth2PermissionGrants", status_code=201)
async def create_grant(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    body = await read_body(request, {"clientId", "consentType", "principalId", "resourceId", "scope"},
                           required=("clientId", "consentType", "resourceId"))
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_GRANTS)
    client_id, resource_id = _object_id(body, "clientId"), _object_id(body, "resourceId")
    consent_type, principal_id = _text(body, "consentType"), _object_id(body, "principalId")
    scope = _text(body, "scope", 8192) or ""
    grant = await run_in_threadpool(lambda: grant_service.add_grant(
        rt.ctx, who.tenant_id, str(client_id), str(resource_id), str(consent_type), scope, actor_of(request, who),
        principal_id=principal_id))
    return entity(request, "oauth2PermissionGrants/$entity", grant_json(grant), status=201)


@router.patch("/oauth2PermissionGrants/{grant_id}", status_code=204)
async def update_grant(request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    body = await read_body(request, {"scope"})
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_GRANTS)
    grant = await run_in_threadpool(grant_service.find_grant, rt.ctx, who.tenant_id, _grant_id(request))
    if "scope" in body:
        scope = _text(body, "scope", 8192) or ""
        await run_in_threadpool(grant_service.update_grant_scope, rt.ctx, who.tenant_id, grant.id, scope,
                                actor_of(request, who))
    return no_content()


@router.delete("/oauth2PermissionGrants/{grant_id}", status_code=204)
async def delete_grant(request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_GRANTS)
    grant = await run_in_threadpool(grant_service.find_grant, rt.ctx, who.tenant_id, _grant_id(request))
    await run_in_threadpool(grant_service.remove_grant, rt.ctx, who.tenant_id, grant.id, actor_of(request, who))
    return no_content()
