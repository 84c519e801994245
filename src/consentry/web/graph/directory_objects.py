"""``GET /directoryObjects/{id}``: a user, group, application or service principal, with its ``@odata.type``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from consentry.domain.apps import Application, ServicePrincipal
from consentry.domain.callers import Caller
from consentry.domain.directory import Group, User
from consentry.services import apps as app_service
from consentry.services import authz
from consentry.services.directory_objects import DirectoryObject, find_directory_object
from consentry.web.graph.applications import application_json
from consentry.web.graph.common import caller, entity, odata_query, runtime_of
from consentry.web.graph.service_principals import service_principal_json
from consentry.web.graph.users import group_json, user_json

router = APIRouter(tags=["directoryObjects"])


def directory_object_json(found: DirectoryObject, publisher_domain: str | None) -> dict[str, Any]:
    if isinstance(found, User):
        return {"@odata.type": "#microsoft.graph.user", **user_json(found)}
    if isinstance(found, Group):
        return {"@odata.type": "#microsoft.graph.group", **group_json(found)}
    if isinstance(found, Application):
        return {"@odata.type": "#microsoft.graph.application", **application_json(found, publisher_domain)}
    assert isinstance(found, ServicePrincipal)
    return {"@odata.type": "#microsoft.graph.servicePrincipal", **service_principal_json(found)}


@router.get("/directoryObjects/{object_id}")
async def get_directory_object(object_id: str, request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_DIRECTORY_OBJECTS)
    found = await run_in_threadpool(find_directory_object, rt.ctx, who.tenant_id, object_id)
    domain = await run_in_threadpool(app_service.publisher_domain, rt.ctx, who.tenant_id)
    return entity(request, "directoryObjects/$entity", directory_object_json(found, domain), select=query.select)
