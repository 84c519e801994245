"""Groups: the tenant's groups ("New group", search, paging) and one group's page with its "Members"
("Add members" by user principal name, remove)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consentry.domain.directory import Group, User
from consentry.domain.ids import is_guid
from consentry.errors import ConsentryError
from consentry.services import authz, directory
from consentry.web.http import runtime_of
from consentry.web.portal.base import Admin, actor, done, form_of, invalid, is_missing, page, status_of, view
from consentry.web.portal.listing import listing_query, paging, search_text


@view
async def groups_list(request: Request, admin: Admin) -> Response:
    query = listing_query(request, ("displayName",))
    found, result = await run_in_threadpool(directory.page_groups, runtime_of(request).ctx, admin.tenant.id, query)
    return page(request, admin, "portal/groups.html", nav="groups", title="Groups", groups=found,
                search=search_text(request), can_change=admin.may(authz.USER_ADMINS),
                **paging(request, result.next_after))


def _new_form(request: Request, admin: Admin, values: dict[str, str], error: str | None = None,
              status: int = 200) -> Response:
    return page(request, admin, "portal/groups_new.html", status=status, nav="groups", title="New group",
                values=values, error=error, can_change=admin.may(authz.USER_ADMINS))


@view
async def new_group(request: Request, admin: Admin) -> Response:
    if request.method == "GET":
        return _new_form(request, admin, {})
    form = await form_of(request, admin, authz.USER_ADMINS)
    values = {k: form.get(k, "").strip() for k in ("display_name", "description")}
    try:
        if not values["display_name"]:
            raise invalid("Group name is required.")
        if len(values["display_name"]) > 256 or len(values["description"]) > 1024:
            raise invalid("The group name is at most 256 characters long and the description at most 1024.")
        group = await run_in_threadpool(directory.create_group, runtime_of(request).ctx, admin.tenant.id,
                                        values["display_name"], actor(request, admin), values["description"] or None)
    except ConsentryError as exc:
        return _new_form(request, admin, values, exc.message, status_of(exc))
    return done(request, f"/portal/groups/{group.id}", f"Created group {group.display_name}.")


async def _detail(request: Request, admin: Admin, error: str | None = None, status: int = 200) -> Response:
    group_id = str(request.path_params["group_id"])
    ctx = runtime_of(request).ctx

    def load() -> tuple[Group, list[User], tuple[Any, ...] | None]:
        group = directory.find_group(ctx, admin.tenant.id, group_id)
        members, result = directory.page_group_members(ctx, admin.tenant.id, group.id,
                                                       listing_query(request, (), searchable=False))
        return group, members, result.next_after

    try:
        group, members, next_after = await run_in_threadpool(load)
    except ConsentryError as exc:
        if not is_missing(exc):
            raise
        return page(request, admin, "portal/groups_missing.html", status=404, nav="groups", title="Group not found")
    return page(request, admin, "portal/groups_detail.html", status=status, nav="groups",
                title=group.display_name, group=group, members=members, error=error,
                can_change=admin.may(authz.USER_ADMINS), **paging(request, next_after))


@view
async def group_detail(request: Request, admin: Admin) -> Response:
    return await _detail(request, admin)


@view
async def add_member(request: Request, admin: Admin) -> Response:
    form = await form_of(request, admin, authz.USER_ADMINS)
    group_id, upn = str(request.path_params["group_id"]), form.get("upn", "").strip()
    ctx, tenant_id = runtime_of(request).ctx, admin.tenant.id

    def add() -> str:
        directory.find_group(ctx, tenant_id, group_id)  # an unknown group is a 404 page, whatever the user
        if not upn or "@" not in upn or len(upn) > 320:
            raise invalid("Enter the user principal name of the user to add, such as name@"
                          f"{admin.tenant.default_domain}.")
        try:
            user = directory.find_user(ctx, tenant_id, upn)
        except ConsentryError as exc:
            raise invalid(f"There is no user '{upn}' in this directory.") from exc
        try:
            directory.add_group_member(ctx, tenant_id, group_id, user.id, actor(request, admin))
        except ConsentryError as exc:
            if exc.params.get("reason") == directory.ALREADY_A_MEMBER:
                raise invalid(f"{user.user_principal_name} is already a member of this group.") from exc
            raise
        return user.user_principal_name

    try:
        added = await run_in_threadpool(add)
    except ConsentryError as exc:
        return await _detail(request, admin, exc.message, status_of(exc))
    return done(request, f"/portal/groups/{group_id}", f"Added {added} to the group.")


@view
async def remove_member(request: Request, admin: Admin) -> Response:
    form = await form_of(request, admin, authz.USER_ADMINS)
    group_id, member_id = str(request.path_params["group_id"]), form.get("member", "")
    ctx, tenant_id = runtime_of(request).ctx, admin.tenant.id

    def remove() -> str:
        directory.find_group(ctx, tenant_id, group_id)
        try:
            if not is_guid(member_id):
                raise invalid("Choose a member to remove.")
            user = directory.find_user(ctx, tenant_id, member_id)
            directory.remove_group_member(ctx, tenant_id, group_id, user.id, actor(request, admin))
        except ConsentryError as exc:
            raise invalid("That user is not a member of this group.") from exc
        return user.user_principal_name

    try:
        removed = await run_in_threadpool(remove)
    except ConsentryError as exc:
        return await _detail(request, admin, exc.message, status_of(exc))
    return done(request, f"/portal/groups/{group_id}", f"Removed {removed} from the group.")


def routes() -> list[Route]:
    return [
        Route("/portal/groups", groups_list, methods=["GET"]),
        Route("/portal/groups/new", new_group, methods=["GET", "POST"]),
        Route("/portal/groups/{group_id}", group_detail, methods=["GET"]),
        Route("/portal/groups/{group_id}/members", add_member, methods=["POST"]),
        Route("/portal/groups/{group_id}/members/remove", remove_member, methods=["POST"]),
    ]
