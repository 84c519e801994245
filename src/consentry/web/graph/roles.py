"""Directory roles, the two ways Graph exposes them.

``/directoryRoles``: the activated roles of the tenant (every built-in role Consentry knows, each with an id
of its own in each tenant), also by ``(roleTemplateId='…')``, with ``/members`` to list, add (``$ref``) and
remove. ``/roleManagement/directory/roleAssignments``: list (``$filter`` on ``principalId``,
``roleDefinitionId``, ``directoryScopeId``), create (``roleDefinitionId`` is the role template id, scope
``/``), get and delete. Both change the same assignments.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from odata_query import ast
from starlette.concurrency import run_in_threadpool

from consentry.domain.callers import Caller
from consentry.domain.directory import RoleAssignment, RoleTemplate
from consentry.errors import GRAPH_BAD_REQUEST, GRAPH_UNSUPPORTED_QUERY, ConsentryError
from consentry.services import authz
from consentry.services import directory as directory_service
from consentry.web.graph.common import (
    actor_of,
    caller,
    collection,
    entity,
    no_content,
    read_body,
    runtime_of,
)
from consentry.web.graph.groups import members_json, reference_id
from consentry.web.graph.users import ROLE_PROPERTIES, USER_PROPERTIES, directory_query, directory_role_json

router = APIRouter(tags=["directoryRoles"])
ASSIGNMENTS = "/roleManagement/directory/roleAssignments"
ASSIGNMENT_PROPERTIES = frozenset({"id", "principalId", "roleDefinitionId", "directoryScopeId", "appScopeId"})
BY_TEMPLATE = "/directoryRoles(roleTemplateId='{template_id}')"


def role_assignment_json(a: RoleAssignment) -> dict[str, Any]:
    return {"id": a.id, "principalId": a.principal_id, "roleDefinitionId": a.role_template_id,
            "directoryScopeId": "/", "appScopeId": None}


# --- /directoryRoles -------------------------------------------------------------------------------

def _matches(node: ast._Node, item: dict[str, Any]) -> bool:
    """The few ``$filter`` shapes Graph accepts on directoryRoles: ``eq``/``in`` on a property, and/or."""
    if isinstance(node, ast.BoolOp):
        left, right = _matches(node.left, item), _matches(node.right, item)
        return left and right if isinstance(node.op, ast.And) else left or right
    if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Identifier)
            and node.left.name in ROLE_PROPERTIES):
        value = str(item.get(node.left.name) or "").lower()
        if isinstance(node.comparator, ast.Eq) and isinstance(node.right, ast.String | ast.GUID):
            return value == str(node.right.py_val).lower()
        if isinstance(node.comparator, ast.In) and isinstance(node.right, ast.List):
            return value in {str(v.py_val).lower() for v in node.right.val}
    raise ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason="Unsupported query: only eq and in on directoryRoles.")


def _no_top(request: Request) -> None:
    if "$top" in request.query_params or "top" in request.query_params:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=(
            "The query specified in the URI is not valid. Query option 'Top' is not allowed."))


@router.get("/directoryRoles")
async def list_directory_roles(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    _no_top(request)
    query = directory_query(request, "directoryRole", ROLE_PROPERTIES)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_ROLES)
    items = [directory_role_json(i, t) for i, t in directory_service.list_directory_roles(who.tenant_id)]
    if query.filter is not None:
        items = [i for i in items if _matches(query.filter, i)]
    return collection(request, "directoryRoles", items, query, None, len(items) if query.count else None)


def _role(request: Request, who: Caller) -> tuple[str, RoleTemplate]:
    params = request.path_params
    if "template_id" in params:
        template = directory_service.find_directory_role_by_template(who.tenant_id, params["template_id"])
    else:
        template = directory_service.find_directory_role(who.tenant_id, params["role_id"])
    return directory_service.directory_role_id(who.tenant_id, template.id), template


@router.get("/directoryRoles/{role_id}")
@router.get(BY_TEMPLATE, include_in_schema=False)
async def get_directory_role(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = directory_query(request, "directoryRole", ROLE_PROPERTIES)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_ROLES)
    role_id, template = _role(request, who)
    return entity(request, "directoryRoles/$entity", directory_role_json(role_id, template), select=query.select)


@router.get("/directoryRoles/{role_id}/members")
@router.get(BY_TEMPLATE + "/members", include_in_schema=False)
async def list_role_members(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = directory_query(request, "directoryObject", USER_PROPERTIES, frozenset({"displayName"}))
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_ROLES)
    _, template = _role(request, who)
    items, page = await run_in_threadpool(directory_service.page_role_members, rt.ctx, who.tenant_id, template.id,
                                          query)
    return collection(request, "directoryObjects", members_json(items, query), query, page.next_after, page.count)


@router.post("/directoryRoles/{role_id}/members/$ref", status_code=204)
@router.post(BY_TEMPLATE + "/members/$ref", status_code=204, include_in_schema=False)
async def add_role_member(request: Request, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    member_id = await reference_id(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_ROLES)
    _, template = _role(request, who)
    await run_in_threadpool(directory_service.create_role_assignment, rt.ctx, who.tenant_id, member_id,
                            template.id, actor_of(request, who))
    return no_content()


@router.delete("/directoryRoles/{role_id}/members/{member_id}/$ref", status_code=204)
@router.delete(BY_TEMPLATE + "/members/{member_id}/$ref", status_code=204, include_in_schema=False)
async def remove_role_member(request: Request, member_id: str, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_ROLES)
    _, template = _role(request, who)
    await run_in_threadpool(directory_service.remove_role_member, rt.ctx, who.tenant_id, template.id, member_id,
                            actor_of(request, who))
    return no_content()


# --- /roleManagement/directory/roleAssignments ------------------------------------------------------

@router.get(ASSIGNMENTS)
async def list_role_assignments(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = directory_query(request, "unifiedRoleAssignment", ASSIGNMENT_PROPERTIES)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_ROLES)
    items, page = await run_in_threadpool(directory_service.page_role_assignments, rt.ctx, who.tenant_id, query)
    return collection(request, "roleManagement/directory/roleAssignments",
                      [role_assignment_json(a) for a in items], query, page.next_after, page.count)


@router.get(ASSIGNMENTS + "/{assignment_id}")
async def get_role_assignment(request: Request, assignment_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = directory_query(request, "unifiedRoleAssignment", ASSIGNMENT_PROPERTIES)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_ROLES)
    assignment = await run_in_threadpool(directory_service.find_role_assignment, rt.ctx, who.tenant_id,
                                         assignment_id)
    return entity(request, "roleManagement/directory/roleAssignments/$entity", role_assignment_json(assignment),
                  select=query.select)


@router.post(ASSIGNMENTS, status_code=201)
async def create_role_assignment(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    body = await read_body(request, {"principalId", "roleDefinitionId", "directoryScopeId", "appScopeId"},
                           required=("principalId", "roleDefinitionId"))
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_ROLES)
    for name in ("principalId", "roleDefinitionId"):
        if not isinstance(body[name], str):
            raise ConsentryError(GRAPH_BAD_REQUEST, reason=f"Invalid value specified for property '{name}'.")
    if body.get("appScopeId") is not None or body.get("directoryScopeId") != "/":
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=(
            "Only tenant-wide role assignments are supported: directoryScopeId must be '/'."))
    assignment = await run_in_threadpool(directory_service.create_role_assignment, rt.ctx, who.tenant_id,
                                         body["principalId"], body["roleDefinitionId"], actor_of(request, who))
    return entity(request, "roleManagement/directory/roleAssignments/$entity", role_assignment_json(assignment),
                  status=201)


@router.delete(ASSIGNMENTS + "/{assignment_id}", status_code=204)
async def delete_role_assignment(request: Request, assignment_id: str, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_ROLES)
    await run_in_threadpool(directory_service.delete_role_assignment, rt.ctx, who.tenant_id, assignment_id,
                            actor_of(request, who))
    return no_content()
