"""An app registration's "API permissions": what the application asks for (its ``requiredResourceAccess``),
listed by API with each permission's value and type; "Add a permission" (choose an API among the tenant's
service principals that publish permissions, then Delegated or Application permissions by value); remove a
permission. The list is a request, not a grant: "Grant admin consent" is on the enterprise application.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consentry.domain.apps import Application, RequiredResourceAccess, ResourceAccess, ServicePrincipal
from consentry.domain.builtin import find_builtin_application
from consentry.domain.ids import is_guid
from consentry.errors import ConsentryError
from consentry.services import apps, authz
from consentry.web.http import runtime_of
from consentry.web.portal.base import Admin, actor, done, form_of, invalid, status_of, view
from consentry.web.portal.registrations import Extra, application_page, load_application

LIST_TEMPLATE = "portal/registrations_permissions.html"
ADD_TEMPLATE = "portal/registrations_add_permission.html"
KINDS = {"Scope": "Delegated", "Role": "Application"}


@dataclass(frozen=True, slots=True)
class Permission:
    id: str
    type: str  # "Scope" (delegated) or "Role" (application)
    value: str
    description: str
    admin_consent_required: bool

    @property
    def kind(self) -> str:
        return KINDS.get(self.type, self.type)


@dataclass(frozen=True, slots=True)
class Api:
    resource_app_id: str
    name: str
    permissions: list[Permission]


def published(sp: ServicePrincipal, *, enabled_only: bool = True) -> list[Permission]:
    """What an API lets applications ask for: its delegated permissions and its app roles for apps (with
    ``enabled_only`` false, also the disabled ones, to name what an application asked for before)."""
    delegated = [Permission(s.id, "Scope", s.value, s.admin_consent_display_name, s.type == "Admin")
                 for s in sp.scopes if s.is_enabled or not enabled_only]
    application = [Permission(r.id, "Role", r.value or r.id, r.display_name, True)
                   for r in sp.app_roles if (r.is_enabled or not enabled_only) and r.for_applications]
    return sorted(delegated, key=lambda p: p.value.lower()) + sorted(application, key=lambda p: p.value.lower())


def _resource(request: Request, admin: Admin, resource_app_id: str) -> ServicePrincipal | None:
    try:
        return apps.find_service_principal(runtime_of(request).ctx, admin.tenant.id, app_id=resource_app_id)
    except ConsentryError:
        return None


def requested(request: Request, admin: Admin, app: Application) -> list[Api]:
    """The app's requiredResourceAccess, named through the APIs' service principals in this tenant (an API
    without one here shows its ids)."""
    found = []
    for required in app.required_resource_access:
        sp = _resource(request, admin, required.resource_app_id)
        known = {(p.id, p.type): p for p in published(sp, enabled_only=False)} if sp else {}
        rows = [known.get((a.id, a.type)) or Permission(a.id, a.type, a.id, "", a.type == "Role")
                for a in required.resource_access]
        found.append(Api(required.resource_app_id, sp.display_name if sp else required.resource_app_id, rows))
    return found


def _list_context(request: Request, admin: Admin) -> Extra:
    def more(app: Application, sp: ServicePrincipal | None) -> dict[str, object]:
        return {"apis": requested(request, admin, app)}
    return more


@view
async def permissions_list(request: Request, admin: Admin) -> Response:
    return await application_page(request, admin, LIST_TEMPLATE, "api-permissions", more=_list_context(request, admin))


# --- "Add a permission" ---------------------------------------------------------------------------------

def _chosen_api(request: Request, admin: Admin, api_id: str) -> ServicePrincipal:
    try:
        if not is_guid(api_id):
            raise invalid("Choose an API.")
        return apps.find_service_principal(runtime_of(request).ctx, admin.tenant.id, object_id=api_id.lower())
    except ConsentryError as exc:
        raise invalid("That API does not exist in this directory; choose one from the list.") from exc


def _add_context(request: Request, admin: Admin, api_id: str) -> Extra:
    def more(app: Application, sp: ServicePrincipal | None) -> dict[str, object]:
        if not api_id:
            everything = [s for s in apps.list_service_principals(runtime_of(request).ctx, admin.tenant.id)
                          if published(s)]
            everything.sort(key=lambda s: s.display_name.lower())
            return {"microsoft_apis": [s for s in everything if find_builtin_application(s.app_id)],
                    "organization_apis": [s for s in everything if not find_builtin_application(s.app_id)]}
        api = _chosen_api(request, admin, api_id)
        held = {(a.id, a.type) for r in app.required_resource_access if r.resource_app_id == api.app_id
                for a in r.resource_access}
        return {"api": api, "offered": published(api), "held": held}
    return more


async def _add_page(request: Request, admin: Admin, api_id: str, status: int = 200,
                    error: str | None = None) -> Response:
    """The choice of APIs, or with ``api_id`` that API's permissions; an unknown API: back to the choice."""
    try:
        return await application_page(request, admin, ADD_TEMPLATE, "api-permissions", status,
                                      more=_add_context(request, admin, api_id), error=error)
    except ConsentryError as exc:
        if not api_id:
            raise
        return await application_page(request, admin, ADD_TEMPLATE, "api-permissions", status_of(exc),
                                      more=_add_context(request, admin, ""), error=exc.message)


@view
async def add_permission_page(request: Request, admin: Admin) -> Response:
    return await _add_page(request, admin, request.query_params.get("api", "")[:100])


def _add(request: Request, admin: Admin, form: dict[str, str]) -> str:
    app, _ = load_application(request, admin)
    api = _chosen_api(request, admin, form.get("api", ""))
    offered = {(p.id, p.type): p for p in published(api)}
    wanted = [(name.split(":", 1)[1], "Scope" if name.startswith("scope:") else "Role")
              for name, value in form.items() if value == "on" and name.startswith(("scope:", "role:"))]
    if not wanted:
        raise invalid("Select at least one permission to add.")
    if any(key not in offered for key in wanted):
        raise invalid(f"{api.display_name} does not publish one of the selected permissions.")
    current = next((r for r in app.required_resource_access if r.resource_app_id == api.app_id), None)
    have = list(current.resource_access) if current else []
    added = [offered[key] for key in dict.fromkeys(wanted) if ResourceAccess(*key) not in have]
    if not added:
        raise invalid("The selected permissions are already in the list.")
    entry = RequiredResourceAccess(api.app_id, (*have, *(ResourceAccess(p.id, p.type) for p in added)))
    others = tuple(r for r in app.required_resource_access if r.resource_app_id != api.app_id)
    apps.update_application(runtime_of(request).ctx, admin.tenant.id, app.id, actor(request, admin),
                            required_resource_access=(*others, entry) if current is None else tuple(
                                entry if r is current else r for r in app.required_resource_access))
    return f"Added {', '.join(p.value for p in added)} ({api.display_name})."


@view
async def add_permission(request: Request, admin: Admin) -> Response:
    form = await form_of(request, admin, authz.APP_ADMINS)
    try:
        message = await run_in_threadpool(_add, request, admin, form)
    except ConsentryError as exc:
        return await _add_page(request, admin, form.get("api", "")[:100], status_of(exc), exc.message)
    return done(request, f"/portal/app-registrations/{request.path_params['app_id']}/api-permissions", message)


def _remove(request: Request, admin: Admin, form: dict[str, str]) -> str:
    app, _ = load_application(request, admin)
    resource, key = form.get("resource", ""), ResourceAccess(form.get("permission", ""), form.get("type", ""))
    current = next((r for r in app.required_resource_access if r.resource_app_id == resource), None)
    if current is None or key not in current.resource_access:
        raise invalid("That permission is not in the list (it may have been removed already).")
    api = next(a for a in requested(request, admin, app) if a.resource_app_id == resource)
    gone = next(p for p in api.permissions if (p.id, p.type) == (key.id, key.type))
    left = tuple(a for a in current.resource_access if a != key)
    changed = tuple(r for r in (RequiredResourceAccess(resource, left) if r is current else r
                                for r in app.required_resource_access) if r.resource_access)
    apps.update_application(runtime_of(request).ctx, admin.tenant.id, app.id, actor(request, admin),
                            required_resource_access=changed)
    return f"Removed {gone.value} ({api.name})."


@view
async def remove_permission(request: Request, admin: Admin) -> Response:
    form = await form_of(request, admin, authz.APP_ADMINS)
    try:
        message = await run_in_threadpool(_remove, request, admin, form)
    except ConsentryError as exc:
        return await application_page(request, admin, LIST_TEMPLATE, "api-permissions", status_of(exc),
                                      more=_list_context(request, admin), error=exc.message)
    return done(request, f"/portal/app-registrations/{request.path_params['app_id']}/api-permissions", message)


def routes() -> list[Route]:
    base = "/portal/app-registrations/{app_id}/api-permissions"
    return [
        Route(base, permissions_list, methods=["GET"]),
        Route(base, add_permission, methods=["POST"]),
        Route(f"{base}/add", add_permission_page, methods=["GET"]),
        Route(f"{base}/remove", remove_permission, methods=["POST"]),
    ]
