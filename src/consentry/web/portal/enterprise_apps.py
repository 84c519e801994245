"""Enterprise applications → All applications: every service principal of the tenant by name, with search
(name prefix or appId), filters (enabled, admin consent, Microsoft or third party) and keyset paging that
costs the same on page 1 and page 2,000; and an application's "Users and groups" (app role assignments of
users and groups, added and removed). The application's other pages are in :mod:`.enterprise_app_pages`.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consentry.domain.apps import ServicePrincipal
from consentry.domain.directory import Group, User
from consentry.domain.ids import NIL_GUID, is_guid
from consentry.domain.odata import ODataQuery, parse_filter
from consentry.errors import ConsentryError
from consentry.services import authz, directory, enterprise_apps, grants
from consentry.web.http import runtime_of
from consentry.web.portal import enterprise_app_pages as pages
from consentry.web.portal.base import Admin, actor, done, form_of, page, view
from consentry.web.portal.enterprise_app_pages import (
    APPS_PATH,
    NAV,
    app_of,
    app_page,
    app_path,
    cursor_key,
    cursor_token,
)

TRI = {"yes": True, "no": False}
APP_TYPES = {"microsoft": True, "third-party": False}
ASSIGNMENTS_PAGE = 50
FOUND_MAX = 10
DEFAULT_ACCESS = "Default Access"


# --- All applications -------------------------------------------------------------------------------
def _filters(request: Request) -> tuple[dict[str, str], enterprise_apps.AppListFilter]:
    params = request.query_params
    chosen = {"search": params.get("search", "").strip()[:enterprise_apps.MAX_SEARCH],
              "enabled": params.get("enabled", "") if params.get("enabled") in TRI else "",
              "consent": params.get("consent", "") if params.get("consent") in TRI else "",
              "type": params.get("type", "") if params.get("type") in APP_TYPES else ""}
    return chosen, enterprise_apps.AppListFilter(search=chosen["search"], enabled=TRI.get(chosen["enabled"]),
                                      admin_consent=TRI.get(chosen["consent"]), microsoft=APP_TYPES.get(chosen["type"]))


@view
async def all_applications(request: Request, admin: Admin) -> Response:
    chosen, filters = _filters(request)
    after, invalid = cursor_key(request, request.query_params.get("page"))
    if after is not None and len(after) != 2:
        after, invalid = None, True
    list_page = partial(enterprise_apps.page_enterprise_apps, runtime_of(request).ctx, admin.tenant.id, filters)
    try:
        items, next_after = await run_in_threadpool(list_page, after)
    except ConsentryError:
        after, invalid = None, True
        items, next_after = await run_in_threadpool(list_page, None)
    kept = {k: v for k, v in chosen.items() if v}
    token = cursor_token(request, next_after)
    return page(request, admin, "portal/enterprise_apps.html", nav=NAV, title="Enterprise applications",
                items=items, chosen=chosen, filtered=bool(kept), paged=after is not None,
                microsoft={sp.id for sp in items if enterprise_apps.is_microsoft_app(sp)},
                first_link=f"{APPS_PATH}?{urlencode(kept)}" if kept else APPS_PATH,
                next_link=f"{APPS_PATH}?{urlencode({**kept, 'page': token})}" if token else None,
                error="That page link is not valid any more; showing the first page." if invalid else None)


# --- Users and groups -------------------------------------------------------------------------------
USERS_AND_GROUPS = parse_filter("principalType eq 'User' or principalType eq 'Group'")


def role_options(sp: ServicePrincipal) -> list[tuple[str, str]]:
    """The roles users and groups can be given: the app's user roles, or "Default Access" when it has none."""
    roles = [(r.id, r.display_name or r.value or r.id) for r in sp.app_roles
             if r.is_enabled and "User" in r.allowed_member_types]
    return roles or [(NIL_GUID, DEFAULT_ACCESS)]


def _literal(text: str) -> str:
    return "'" + text.replace("\x00", "").replace("'", "''") + "'"


async def _find(request: Request, admin: Admin, text: str) -> list[tuple[str, str, str]]:
    """Users (by name or sign-in name prefix) and groups (by name prefix): (kind, object id, label)."""
    ctx, value = runtime_of(request).ctx, _literal(text)
    try:
        user_query = ODataQuery(filter=parse_filter(f"startswith(displayName,{value}) or "
                                                    f"startswith(userPrincipalName,{value})"), top=FOUND_MAX)
        group_query = ODataQuery(filter=parse_filter(f"startswith(displayName,{value})"), top=FOUND_MAX)
        users, _ = await run_in_threadpool(directory.page_users, ctx, admin.tenant.id, user_query)
        groups, _ = await run_in_threadpool(directory.page_groups, ctx, admin.tenant.id, group_query)
    except ConsentryError:  # text the filter language cannot carry finds nothing
        return []
    return ([("User", u.id, f"{u.display_name} ({u.user_principal_name})") for u in users]
            + [("Group", g.id, g.display_name) for g in groups])


@view
async def users_and_groups(request: Request, admin: Admin) -> Response:
    sp = await app_of(request, admin)
    after, invalid = cursor_key(request, request.query_params.get("page"))
    query = partial(grants.page_assignments, runtime_of(request).ctx, admin.tenant.id, resource_id=sp.id)
    try:
        rows, found = await run_in_threadpool(query, ODataQuery(filter=USERS_AND_GROUPS, top=ASSIGNMENTS_PAGE,
                                                                after=after))
    except ConsentryError:
        after, invalid = None, True
        rows, found = await run_in_threadpool(query, ODataQuery(filter=USERS_AND_GROUPS, top=ASSIGNMENTS_PAGE))
    text = request.query_params.get("find", "").strip()[:128]
    names = dict(role_options(sp)) | {r.id: r.display_name or r.value or r.id for r in sp.app_roles}
    return app_page(request, admin, sp, "enterprise_app_users.html", "users", "Users and groups",
                    assignments=rows, role_names={NIL_GUID: DEFAULT_ACCESS, **names}, roles=role_options(sp),
                    find=text, matches=await _find(request, admin, text) if text else None,
                    principal=request.query_params.get("principal", "")[:256],
                    next_page=cursor_token(request, found.next_after), paged=after is not None,
                    error="That page link is not valid any more; showing the first page." if invalid else None)


async def _principal(request: Request, admin: Admin, text: str) -> User | Group:
    """A user (object id or sign-in name) or group (object id or exact name) of the tenant."""
    ctx, tenant_id = runtime_of(request).ctx, admin.tenant.id
    if text:
        try:
            return await run_in_threadpool(directory.find_user, ctx, tenant_id, text)
        except ConsentryError:
            pass
        if is_guid(text):
            try:
                return await run_in_threadpool(directory.find_group, ctx, tenant_id, text.lower())
            except ConsentryError:
                pass
        try:
            named, _ = await run_in_threadpool(directory.page_groups, ctx, tenant_id, ODataQuery(
                filter=parse_filter(f"displayName eq {_literal(text)}"), top=2))
        except ConsentryError:
            named = []
        if len(named) == 1:
            return named[0]
    raise pages.bad(f"No user or group '{text[:120]}' was found in {admin.tenant.display_name}. Enter a sign-in "
                    "name, an object ID or a group's name, or use Find to look it up.")


@view
async def change_assignments(request: Request, admin: Admin) -> Response:
    form = await form_of(request, admin, authz.APP_ADMINS)
    sp = await app_of(request, admin)
    ctx, tenant_id, who = runtime_of(request).ctx, admin.tenant.id, actor(request, admin)
    back = app_path(sp, "/users")
    if form.get("action") == "remove":
        await run_in_threadpool(partial(grants.remove_app_role_assignment, ctx, tenant_id,
                                        form.get("assignment_id", ""), who, resource_id=sp.id))
        return done(request, back, f"Removed the assignment of {form.get('name', 'the user or group')[:200]} "
                                   f"from {sp.display_name}.")
    if form.get("action") != "add":
        raise pages.bad("Unknown action: add or remove an assignment.")
    principal = await _principal(request, admin, form.get("principal", "").strip()[:256])
    roles = dict(role_options(sp))
    role_id = form.get("app_role_id", "").lower()
    if role_id not in roles:
        raise pages.bad(f"Choose one of the roles {sp.display_name} offers to users and groups.")
    await run_in_threadpool(grants.assign_app_role, ctx, tenant_id, principal.id, sp.id, role_id, who)
    return done(request, back, f"Assigned {principal.display_name} to {sp.display_name} as {roles[role_id]}.")


def routes() -> list[Route]:
    app = APPS_PATH + "/{sp_id}"
    return [
        Route(APPS_PATH, all_applications, methods=["GET"]),
        Route(app, pages.properties, methods=["GET"]),
        Route(app, pages.save_properties, methods=["POST"]),
        Route(app + "/delete", pages.delete, methods=["POST"]),
        Route(app + "/permissions", pages.permissions, methods=["GET"]),
        Route(app + "/permissions/revoke", pages.revoke, methods=["POST"]),
        Route(app + "/permissions/grant", pages.grant_admin_consent, methods=["POST"]),
        Route(app + "/users", users_and_groups, methods=["GET"]),
        Route(app + "/users", change_assignments, methods=["POST"]),
        Route(app + "/audit", pages.audit_logs, methods=["GET"]),
    ]
