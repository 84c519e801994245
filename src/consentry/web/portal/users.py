"""Users: the tenant's users ("New user", search, paging) and one user's page with its groups and
"Assigned roles" ("Add assignments", remove)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consentry.domain.directory import ROLE_TEMPLATES, Group, RoleTemplate, User
from consentry.domain.ids import is_guid
from consentry.errors import GRAPH_NOT_FOUND, ConsentryError
from consentry.services import authz, directory
from consentry.web.http import runtime_of
from consentry.web.portal.base import Admin, actor, done, form_of, invalid, is_missing, page, status_of, view
from consentry.web.portal.listing import listing_query, paging, search_text

# --- the list and "New user" ------------------------------------------------------------------------------

@view
async def users_list(request: Request, admin: Admin) -> Response:
    query = listing_query(request, ("displayName", "userPrincipalName"))
    found, result = await run_in_threadpool(directory.page_users, runtime_of(request).ctx, admin.tenant.id, query)
    return page(request, admin, "portal/users.html", nav="users", title="Users", users=found,
                search=search_text(request), can_change=admin.may(authz.USER_ADMINS),
                **paging(request, result.next_after))


def _new_form(request: Request, admin: Admin, values: dict[str, str], error: str | None = None,
              status: int = 200) -> Response:
    return page(request, admin, "portal/users_new.html", status=status, nav="users", title="New user",
                values=values, error=error, can_change=admin.may(authz.USER_ADMINS))


@view
async def new_user(request: Request, admin: Admin) -> Response:
    if request.method == "GET":
        return _new_form(request, admin, {"account_enabled": "on"})
    form = await form_of(request, admin, authz.USER_ADMINS)
    values = {k: form.get(k, "").strip() for k in ("upn", "display_name", "account_enabled")}  # never the password
    try:
        if not values["display_name"]:
            raise invalid("Display name is required.")
        user = await run_in_threadpool(
            lambda: directory.create_user(runtime_of(request).ctx, admin.tenant.id, values["upn"],
                                          values["display_name"], form.get("password", ""), actor(request, admin),
                                          account_enabled=values["account_enabled"] == "on",
                                          enforce_password_policy=True))
    except ConsentryError as exc:
        return _new_form(request, admin, values, exc.message, status_of(exc))
    return done(request, f"/portal/users/{user.id}", f"Created user {user.user_principal_name}.")


# --- one user ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _UserPage:
    user: User
    groups: list[Group]
    roles: list[RoleTemplate]


def _load(request: Request, admin: Admin, user_id: str) -> _UserPage:
    ctx = runtime_of(request).ctx
    if not is_guid(user_id):
        raise ConsentryError(GRAPH_NOT_FOUND, id=user_id[:100])
    user = directory.find_user(ctx, admin.tenant.id, user_id)
    found_groups, roles = directory.memberships_of(ctx, admin.tenant.id, user.id)
    return _UserPage(user, sorted(found_groups, key=lambda g: g.display_name.lower()), roles)


async def _detail(request: Request, admin: Admin, error: str | None = None, status: int = 200) -> Response:
    user_id = str(request.path_params["user_id"])
    try:
        loaded = await run_in_threadpool(_load, request, admin, user_id)
    except ConsentryError as exc:
        if not is_missing(exc):
            raise
        return page(request, admin, "portal/users_missing.html", status=404, nav="users", title="User not found")
    held = {r.id for r in loaded.roles}
    return page(request, admin, "portal/users_detail.html", status=status, nav="users",
                title=loaded.user.display_name, user=loaded.user, groups=loaded.groups, roles=loaded.roles,
                assignable=[r for r in ROLE_TEMPLATES.values() if r.id not in held], error=error,
                can_assign=admin.may(authz.ROLE_ADMINS))


@view
async def user_detail(request: Request, admin: Admin) -> Response:
    return await _detail(request, admin)


@view
async def add_assignment(request: Request, admin: Admin) -> Response:
    form = await form_of(request, admin, authz.ROLE_ADMINS)
    user_id, role_id = str(request.path_params["user_id"]), form.get("role", "")
    role = ROLE_TEMPLATES.get(role_id)
    try:
        if role is None:
            raise invalid("Choose a role to assign.")
        await run_in_threadpool(directory.create_role_assignment, runtime_of(request).ctx, admin.tenant.id,
                                user_id if is_guid(user_id) else "", role.id, actor(request, admin))
    except ConsentryError as exc:
        return await _detail(request, admin, exc.message, status_of(exc))
    return done(request, f"/portal/users/{user_id}", f"Assigned the role {role.display_name}.")


@view
async def remove_assignment(request: Request, admin: Admin) -> Response:
    form = await form_of(request, admin, authz.ROLE_ADMINS)
    user_id, role_id = str(request.path_params["user_id"]), form.get("role", "")
    role = ROLE_TEMPLATES.get(role_id)
    try:
        if role is None:
            raise invalid("Choose a role to remove.")
        await run_in_threadpool(directory.remove_role_member, runtime_of(request).ctx, admin.tenant.id, role.id,
                                user_id if is_guid(user_id) else "", actor(request, admin))
    except ConsentryError as exc:
        message = exc.message
        if is_missing(exc) and role is not None:
            message = f"The user does not hold the role {role.display_name}."
        return await _detail(request, admin, message, 400 if is_missing(exc) else status_of(exc))
    return done(request, f"/portal/users/{user_id}", f"Removed the role {role.display_name}.")


def routes() -> list[Route]:
    return [
        Route("/portal/users", users_list, methods=["GET"]),
        Route("/portal/users/new", new_user, methods=["GET", "POST"]),
        Route("/portal/users/{user_id}", user_detail, methods=["GET"]),
        Route("/portal/users/{user_id}/roles", add_assignment, methods=["POST"]),
        Route("/portal/users/{user_id}/roles/remove", remove_assignment, methods=["POST"]),
    ]
