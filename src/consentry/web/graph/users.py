"""``/me`` and ``/users``: list (``$filter``, ``$select``, ``$top``, ``$orderby=displayName``, ``$count`` with
``ConsistencyLevel: eventual``, ``$skiptoken``), get by id or userPrincipalName, create, update, delete, and
``/memberOf``.

Also what the directory routes (users, groups, roles) share: the query check for ``$count`` and ``$select``,
and the projection onto a resource's default properties, which Graph returns when there is no ``$select``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from consentry.domain.callers import Caller
from consentry.domain.directory import Group, RoleTemplate, User
from consentry.domain.odata import ODataQuery
from consentry.errors import CONFLICT, GRAPH_BAD_REQUEST, GRAPH_UNSUPPORTED_QUERY, ConsentryError
from consentry.services import authz
from consentry.services import directory as directory_service
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

router = APIRouter(tags=["users"])
ORDERABLE = frozenset({"displayName"})
ME_APP_ONLY = "/me request is only valid with delegated authentication flow."

DEFAULT_USER_PROPERTIES = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                           "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")
# body property -> (column, longest value, nullable)
PATCHABLE = {"displayName": ("display_name", 256, False), "accountEnabled": ("account_enabled", 0, False),
             "mail": ("mail", 255, True), "givenName": ("given_name", 64, True),
             "surname": ("surname", 64, True), "jobTitle": ("job_title", 128, True)}
CREATABLE = {*PATCHABLE, "userPrincipalName", "mailNickname", "passwordProfile"}
CREATE_REQUIRED = ("accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile")


# --- shared by the directory routes ------------------------------------------------------------------

def directory_query(request: Request, type_name: str, properties: Iterable[str],
                    orderable: frozenset[str] = frozenset()) -> ODataQuery:
    """The OData options of a directory collection or entity, as Graph checks them: ``$count`` only with
    ``ConsistencyLevel: eventual``, and ``$select`` only of properties the resource has."""
    query = odata_query(request, orderable, directory_objects=True)
    known = set(properties)
    for name in query.select or ():
        if name not in known:
            raise ConsentryError(GRAPH_BAD_REQUEST, reason=(
                "Parsing OData Select and Expand failed: Could not find a property named "
                f"'{name[:100]}' on type 'microsoft.graph.{type_name}'."))
    return query


def project(item: dict[str, Any], defaults: Iterable[str], query: ODataQuery) -> dict[str, Any]:
    """The properties Graph returns: the default ones, or those in ``$select`` (and annotations)."""
    wanted = set(query.select) if query.select else set(defaults)
    return {k: v for k, v in item.items() if k in wanted or k.startswith("@odata.") or k == "id"}


def page_in_memory(items: list[dict[str, Any]], query: ODataQuery) -> tuple[list[dict[str, Any]],
                                                                            tuple[Any, ...] | None]:
    """Keyset paging by id over a short list already in memory (memberOf)."""
    if query.filter is not None:
        raise ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason="Unsupported query: $filter on this collection.")
    ordered = sorted(items, key=lambda i: str(i["id"]))
    if query.after is not None:
        if len(query.after) != 1:
            raise ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason="The $skiptoken does not match this query.")
        ordered = [i for i in ordered if str(i["id"]) > str(query.after[0])]
    page = ordered[:query.top]
    return page, ((page[-1]["id"],) if len(ordered) > query.top and page else None)


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id, "businessPhones": [], "displayName": user.display_name, "givenName": user.given_name,
        "jobTitle": user.job_title, "mail": user.mail, "mobilePhone": None, "officeLocation": None,
        "preferredLanguage": None, "surname": user.surname, "userPrincipalName": user.user_principal_name,
        # returned only on $select
        "accountEnabled": user.account_enabled, "createdDateTime": iso(user.created_at),
        "creationType": None, "deletedDateTime": None, "employeeId": None, "externalUserState": None,
        "mailNickname": user.user_principal_name.split("@", 1)[0], "onPremisesSyncEnabled": None,
        "otherMails": [], "proxyAddresses": [], "userType": "Member", "usageLocation": None,
    }


def member_json(user: User) -> dict[str, Any]:
    """A user as a member of a group or a role (a ``directoryObject`` collection)."""
    return {"@odata.type": "#microsoft.graph.user", **user_json(user)}


def group_json(group: Group) -> dict[str, Any]:
    created = iso(group.created_at)
    return {
        "id": group.id, "deletedDateTime": None, "classification": None, "createdDateTime": created,
        "creationOptions": [], "description": group.description, "displayName": group.display_name,
        "expirationDateTime": None, "groupTypes": [], "isAssignableToRole": None, "mail": None,
        "mailEnabled": False, "mailNickname": None, "membershipRule": None, "membershipRuleProcessingState": None,
        "onPremisesDomainName": None, "onPremisesLastSyncDateTime": None, "onPremisesNetBiosName": None,
        "onPremisesSamAccountName": None, "onPremisesSecurityIdentifier": None, "onPremisesSyncEnabled": None,
        "preferredDataLocation": None, "preferredLanguage": None, "proxyAddresses": [], "renewedDateTime": created,
        "resourceBehaviorOptions": [], "resourceProvisioningOptions": [], "securityEnabled": True,
        "securityIdentifier": None, "theme": None, "visibility": None, "onPremisesProvisioningErrors": [],
        "serviceProvisioningErrors": [],
    }


def directory_role_json(role_id: str, template: RoleTemplate) -> dict[str, Any]:
    return {"id": role_id, "deletedDateTime": None, "description": template.description,
            "displayName": template.display_name, "roleTemplateId": template.id}


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
USER_PROPERTIES = frozenset(user_json(User("", "", "x@y", "", None, True, None, _EPOCH)))
GROUP_PROPERTIES = frozenset(group_json(Group("", "", "", None, _EPOCH)))
ROLE_PROPERTIES = frozenset(directory_role_json("", RoleTemplate("", "", "")))


# --- /me and /users --------------------------------------------------------------------------------

def _me(who: Caller) -> str:
    if who.is_app_only:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=ME_APP_ONLY)
    return who.object_id


@router.get("/users")
async def list_users(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = directory_query(request, "user", USER_PROPERTIES, ORDERABLE)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_USERS)
    items, page = await run_in_threadpool(directory_service.page_users, rt.ctx, who.tenant_id, query)
    return collection(request, "users", [project(user_json(u), DEFAULT_USER_PROPERTIES, query) for u in items],
                      query, page.next_after, page.count)


@router.get("/me")
async def get_me(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await get_user(request, _me(who), who)


@router.get("/users/{user_id}")
async def get_user(request: Request, user_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = directory_query(request, "user", USER_PROPERTIES)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_USERS)
    user = await run_in_threadpool(directory_service.find_user, rt.ctx, who.tenant_id, user_id)
    return entity(request, "users/$entity", project(user_json(user), DEFAULT_USER_PROPERTIES, query))


@router.get("/me/memberOf")
async def list_my_member_of(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    return await list_member_of(request, _me(who), who)


@router.get("/users/{user_id}/memberOf")
async def list_member_of(request: Request, user_id: str, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    query = directory_query(request, "directoryObject", {*USER_PROPERTIES, *GROUP_PROPERTIES, *ROLE_PROPERTIES})
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.READ_USERS)
    found, roles = await run_in_threadpool(directory_service.memberships_of, rt.ctx, who.tenant_id, user_id)
    items = [{"@odata.type": "#microsoft.graph.group", **group_json(g)} for g in found]
    items += [{"@odata.type": "#microsoft.graph.directoryRole",
               **directory_role_json(directory_service.directory_role_id(who.tenant_id, t.id), t)} for t in roles]
    page, after = page_in_memory(items, query)
    return collection(request, "directoryObjects", page, query, after, len(items) if query.count else None)


def _password_of(profile: Any) -> str:
    if not isinstance(profile, dict) or not isinstance(profile.get("password"), str):
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=(
            "Invalid value specified for property 'passwordProfile' of resource 'User'."))
    unknown = sorted(set(profile) - {"password", "forceChangePasswordNextSignIn",
                                     "forceChangePasswordNextSignInWithMfa", "@odata.type"})
    if unknown:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=f"Property '{unknown[0]}' is not supported here or does "
                                                       "not exist on this resource.")
    return str(profile["password"])


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    """Body properties as user columns, each checked for its type and length."""
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name not in PATCHABLE:
            continue
        column, longest, nullable = PATCHABLE[name]
        valid = (isinstance(value, bool) if column == "account_enabled"
                 else (value is None and nullable) or (isinstance(value, str) and bool(value.strip())
                                                       and len(value) <= longest))
        if not valid:
            raise ConsentryError(GRAPH_BAD_REQUEST, reason=(
                f"Invalid value specified for property '{name}' of resource 'User'."))
        changes[column] = value.strip() if isinstance(value, str) else value
    return changes


@router.post("/users", status_code=201)
async def create_user(request: Request, who: Caller = Depends(caller)) -> JSONResponse:
    rt = runtime_of(request)
    body = await read_body(request, CREATABLE)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_USERS)
    missing = [name for name in CREATE_REQUIRED if body.get(name) in (None, "")]
    if missing:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=(
            f"Invalid value specified for property '{missing[0]}' of resource 'User'."))
    changes = _changes(body)
    password = _password_of(body["passwordProfile"])
    upn, nickname = body["userPrincipalName"], body["mailNickname"]
    if not isinstance(upn, str) or not isinstance(nickname, str) or len(nickname) > 64:
        raise ConsentryError(GRAPH_BAD_REQUEST, reason=(
            "Invalid value specified for property 'userPrincipalName' of resource 'User'."))
    try:
        user = await run_in_threadpool(lambda: directory_service.create_user(
            rt.ctx, who.tenant_id, upn, changes["display_name"], password, actor_of(request, who),
            mail=changes.get("mail"), account_enabled=changes["account_enabled"],
            given_name=changes.get("given_name"), surname=changes.get("surname"),
            job_title=changes.get("job_title"), enforce_password_policy=True))
    except ConsentryError as exc:
        if exc.entry is CONFLICT:  # Graph answers a taken userPrincipalName with 400, not 409
            raise ConsentryError(GRAPH_BAD_REQUEST, reason=exc.message) from exc
        raise
    return entity(request, "users/$entity", project(user_json(user), DEFAULT_USER_PROPERTIES, ODataQuery()),
                  status=201)


@router.patch("/me", status_code=204)
async def update_me(request: Request, who: Caller = Depends(caller)) -> Response:
    return await update_user(request, _me(who), who)


@router.patch("/users/{user_id}", status_code=204)
async def update_user(request: Request, user_id: str, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    body = await read_body(request, {*PATCHABLE, "passwordProfile"})
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_USERS)
    changes = _changes(body)
    password = _password_of(body["passwordProfile"]) if "passwordProfile" in body else None
    await run_in_threadpool(lambda: directory_service.update_user(
        rt.ctx, who.tenant_id, user_id, actor_of(request, who), changes, password))
    return no_content()


@router.delete("/users/{user_id}", status_code=204)
async def delete_user(request: Request, user_id: str, who: Caller = Depends(caller)) -> Response:
    rt = runtime_of(request)
    await run_in_threadpool(authz.ensure_allowed, rt.ctx, who, authz.WRITE_USERS)
    await run_in_threadpool(directory_service.delete_user, rt.ctx, who.tenant_id, user_id, actor_of(request, who))
    return no_content()

