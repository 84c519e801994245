"""``/directory/deletedItems``: soft-deleted service principals and applications, kept 30 days (spec §8.2).

Lists need the OData cast (``microsoft.graph.servicePrincipal`` or ``microsoft.graph.application``; the
SDKs send the short ``graph.…`` alias), as Graph requires; ``GET``, ``POST …/restore`` and ``DELETE`` take
the object id. Reading needs ``Application.Read.All``; restoring and deleting for good
``Application.ReadWrite.All`` and an application-administering role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from consentry.domain.apps import Application, ServicePrincipal
from consentry.domain.callers import Caller
from consentry.errors import GRAPH_BAD_REQUEST, GRAPH_NOT_FOUND, ConsentryError
from consentry.services import authz
from consentry.services import deleted_items as deleted_service
from consentry.web.graph.applications import application_json
from consentry.web.graph.common import (
    actor_of,
    caller,
    collection,
    entity,
    guid_or_404,
    iso,
    no_content,
    odata_query,
    runtime_of,
)
from consentry.web.graph.service_principals import service_principal_json

router = APIRouter(tags=["directory"])
ORDERABLE = frozenset({"displayName"})
CASTS = {"servicePrincipal": deleted_service.SERVICE_PRINCIPAL, "application": deleted_service.APPLICATION}
PREFIXES = ("/directory/deletedItems", "/directory/deleteditems")  # Graph's segments are case-insensitive


def directory_object_json(obj: ServicePrincipal | Application, deleted_at: Any = None) -> dict[str, Any]:
    """The object with its ``@odata.type`` (the SDKs pick the class from it) and ``deletedDateTime``."""
    if isinstance(obj, ServicePrincipal):
        body = {"@odata.type": "#microsoft.graph.servicePrincipal", **service_principal_json(obj)}
    else:
        body = {"@odata.type": "#microsoft.graph.application", **application_json(obj, None)}
    body["deletedDateTime"] = iso(deleted_at)
    return body


def deleted_json(deleted: deleted_service.DeletedObject) -> dict[str, Any]:
    obj = deleted.service_principal or deleted.application
    if obj is None:
        raise ConsentryError(GRAPH_NOT_FOUND, id=deleted.id)
    return directory_object_json(obj, deleted.deleted_at)


def _object_id(value: str) -> str:
    return guid_or_404(value, lambda: ConsentryError(GRAPH_NOT_FOUND, id=value))


def _list_route(cast: str, object_type: str) -> Callable[..., Awaitable[JSONResponse]]:
    async def list_deleted(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
        rt = runtime_of(request)
        query = odata_query(request, ORDERABLE)
        await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_APPS)
        items, page = await run_in_threadpool(deleted_service.list_deleted, rt.ctx, who.tenant_id, object_type,
                                              query)
        return collection(request, f"directory/deletedItems/microsoft.graph.{cast}",
                          [deleted_json(d) for d in items], query, page.next_after, page.count)
    list_deleted.__name__ = f"list_deleted_{object_type}s"
    return list_deleted


for _prefix in PREFIXES:
    for _cast, _type in CASTS.items():
        for _namespace in ("microsoft.graph", "graph"):
            router.add_api_route(f"{_prefix}/{_namespace}.{_cast}", _list_route(_cast, _type), methods=["GET"],
                                 include_in_schema=_prefix == PREFIXES[0] and _namespace == "microsoft.graph")


async def _cast_required(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    raise ConsentryError(GRAPH_BAD_REQUEST, reason="The OData cast type is a required part of the URI: use "
                                                   "/directory/deletedItems/microsoft.graph.servicePrincipal or "
                                                   "/directory/deletedItems/microsoft.graph.application.")


async def get_deleted_item(item_id: str, request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = odata_query(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_APPS)
    deleted = await run_in_threadpool(deleted_service.get_deleted, rt.ctx, who.tenant_id, _object_id(item_id))
    return entity(request, "directoryObjects/$entity", deleted_json(deleted), select=query.select)


async def restore_deleted_item(item_id: str, request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_APPS)
    restored = await run_in_threadpool(deleted_service.restore, rt.ctx, who.tenant_id, _object_id(item_id),
                                       actor_of(request, who))
    return entity(request, "directoryObjects/$entity", directory_object_json(restored))


async def delete_deleted_item(item_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_APPS)
    await run_in_threadpool(deleted_service.hard_delete, rt.ctx, who.tenant_id, _object_id(item_id),
                            actor_of(request, who))
    return no_content()


for _prefix in PREFIXES:
    _public = _prefix == PREFIXES[0]
    router.add_api_route(_prefix, _cast_required, methods=["GET"], include_in_schema=False)
    router.add_api_route(f"{_prefix}/{{item_id}}", get_deleted_item, methods=["GET"], include_in_schema=_public)
    router.add_api_route(f"{_prefix}/{{item_id}}/restore", restore_deleted_item, methods=["POST"],
                         include_in_schema=_public)
    router.add_api_route(f"{_prefix}/{{item_id}}", delete_deleted_item, methods=["DELETE"], status_code=204,
                         include_in_schema=_public)
