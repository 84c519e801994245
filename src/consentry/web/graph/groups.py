"""``/groups``: security groups — list, get, create, update, delete — and their members: list, add with
``POST /groups/{id}/members/$ref`` (body ``{"@odata.id": ".../directoryObjects/{id}"}``) and remove with
``DELETE /groups/{id}/members/{memberId}/$ref``. Members are users."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from consentry.domain.callers import Caller
from consentry.domain.odata import ODataQuery
from consentry.errors import GRAPH_BAD_REQUEST, ConsentryError
from consentry.services import authz
from consentry.services import directory as directory_service
from consentry.web.graph.common import (
    MAX_BODY_BYTES,
    actor_of,
    caller,
    collection,
    entity,
    no_content,
    read_body,
    runtime_of,
)
from consentry.web.graph.users import (
    DEFAULT_USER_PROPERTIES,
    GROUP_PROPERTIES,
    USER_PROPERTIES,
    directory_query,
    group_json,
    member_json,
    project,
)

router = APIRouter(tags=["groups"])
ORDERABLE = frozenset({"displayName"})
PATCHABLE = {"displayName": "display_name", "description": "description"}
CREATABLE = {*PATCHABLE, "mailEnabled", "mailNickname", "securityEnabled", "groupTypes", "isAssignableToRole"}
# Graph's rule for mailNickname: ASCII 0-127 except @ () \ [] " ; : <> , and space, at most 64 characters.
_MAIL_NICKNAME = re.compile(r'^[\x21-\x7e]{1,64}$')
_NOT_IN_NICKNAME = set('@()\\[]";:<>,')
_REFERENCE = re.compile(r"/(?:directoryObjects|users|groups)/([0-9a-fA-F-]{36})/?$")


def _invalid(name: str) -> ConsentryError:
    return ConsentryError(GRAPH_BAD_REQUEST, reason=f"Invalid value specified for property '{name}' of resource "
                                                    "'Group'.")


@router.get("/groups")
async def list_groups(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = directory_query(request, "group", GROUP_PROPERTIES, ORDERABLE)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_GROUPS)
    items, page = await run_in_threadpool(directory_service.page_groups, rt.ctx, who.tenant_id, query)
    return collection(request, "groups", [group_json(g) for g in items], query, page.next_after, page.count)


@router.get("/groups/{group_id}")
async def get_group(request: Request, group_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = directory_query(request, "group", GROUP_PROPERTIES)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_GROUPS)
    group = await run_in_threadpool(directory_service.find_group, rt.ctx, who.tenant_id, group_id)
    return entity(request, "groups/$entity", group_json(group), select=query.select)


def _validated_creation(body: dict[str, Any]) -> None:
    """Consentry's groups are security groups: not mail-enabled, no Microsoft 365 or dynamic groups."""
    for name in ("displayName", "mailEnabled", "mailNickname", "securityEnabled"):
        if body.get(name) in (None, ""):
            raise _invalid(name)
    nickname = body["mailNickname"]
    if (not isinstance(nickname, str) or not _MAIL_NICKNAME.match(nickname)
            or _NOT_IN_NICKNAME.intersection(nickname)):
        raise _invalid("mailNickname")
    if body["mailEnabled"] is not False:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason="Only security groups can be created: mailEnabled must be "
                                                       "false.")
    if body["securityEnabled"] is not True:
        raise _invalid("securityEnabled")
    if body.get("groupTypes") not in (None, []):
        raise ConsentryError(GRAPH_BAD_REQUEST, reason="Only security groups can be created: groupTypes must be "
                                                       "empty.")
    if body.get("isAssignableToRole") not in (None, False):
        raise _invalid("isAssignableToRole")


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name, column in PATCHABLE.items():
        if name not in body:
            continue
        value = body[name]
        longest = 256 if name == "displayName" else 1024
        if not ((value is None and name == "description") or (isinstance(value, str) and len(value) <= longest)):
            raise _invalid(name)
        changes[column] = value
    return changes


@router.post("/groups", status_code=201)
async def create_group(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    body = await read_body(request, CREATABLE)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_GROUPS)
    _validated_creation(body)
    changes = _changes(body)
    group = await run_in_threadpool(lambda: directory_service.create_group(
        rt.ctx, who.tenant_id, changes["display_name"], actor_of(request, who), changes.get("description")))
    return entity(request, "groups/$entity", group_json(group), status=201)


@router.patch("/groups/{group_id}", status_code=204)
async def update_group(request: Request, group_id: str, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    body = await read_body(request, set(PATCHABLE))
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_GROUPS)
    changes = _changes(body)
    await run_in_threadpool(lambda: directory_service.update_group(
        rt.ctx, who.tenant_id, group_id, actor_of(request, who), changes))
    return no_content()


@router.delete("/groups/{group_id}", status_code=204)
async def delete_group(request: Request, group_id: str, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_GROUPS)
    await run_in_threadpool(directory_service.delete_group, rt.ctx, who.tenant_id, group_id,
                            actor_of(request, who))
    return no_content()


@router.get("/groups/{group_id}/members")
async def list_members(request: Request, group_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = directory_query(request, "directoryObject", USER_PROPERTIES, frozenset({"displayName"}))
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_GROUPS)
    items, page = await run_in_threadpool(directory_service.page_group_members, rt.ctx, who.tenant_id, group_id,
                                          query)
    return collection(request, "directoryObjects", members_json(items, query), query, page.next_after, page.count)


def members_json(items: list[Any], query: ODataQuery) -> list[dict[str, Any]]:
    return [project(member_json(u), DEFAULT_USER_PROPERTIES, query) for u in items]


async def reference_id(request: Request) -> str:
    """The object id in a ``$ref`` body: ``{"@odata.id": "https://…/v1.0/directoryObjects/{id}"}``."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}") if len(raw) <= MAX_BODY_BYTES else None
    except (ValueError, UnicodeDecodeError):
        body = None
    reference = body.get("@odata.id") if isinstance(body, dict) else None
    unknown = sorted(set(body) - {"@odata.id", "@odata.type", "@odata.context"}) if isinstance(body, dict) else []
    if unknown:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=f"Property '{unknown[0]}' is not supported here or does "
                                                       "not exist on this resource.")
    match = _REFERENCE.search(reference) if isinstance(reference, str) else None
    if match is None:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=(
            "Invalid object identifier '{}'.".format(str(reference)[:200] if reference is not None else "")))
    return match.group(1).lower()


@router.post("/groups/{group_id}/members/$ref", status_code=204)
async def add_member(request: Request, group_id: str, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    member_id = await reference_id(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_GROUPS)
    await run_in_threadpool(directory_service.add_group_member, rt.ctx, who.tenant_id, group_id, member_id,
                            actor_of(request, who))
    return no_content()


@router.delete("/groups/{group_id}/members/{member_id}/$ref", status_code=204)
async def remove_member(request: Request, group_id: str, member_id: str, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_GROUPS)
    await run_in_threadpool(directory_service.remove_group_member, rt.ctx, who.tenant_id, group_id, member_id,
                            actor_of(request, who))
    return no_content()
