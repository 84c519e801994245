"""App registrations: the tenant's registrations ("New registration", search, paging), an application's
Overview (its ids and redirect URIs by platform) and "Certificates & secrets" (a new client secret's value
is shown once, in the response that created it, and nowhere else). "API permissions" lives in
:mod:`consentry.web.portal.registrations_permissions`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consentry.domain.apps import Application, ServicePrincipal
from consentry.domain.ids import is_guid, new_guid
from consentry.errors import GRAPH_NOT_FOUND, ConsentryError
from consentry.services import app_credentials, apps, authz
from consentry.services.certificates import KeyCredentialInput
from consentry.web.http import runtime_of
from consentry.web.portal.base import Admin, actor, done, form_of, invalid, is_missing, page, status_of, view
from consentry.web.portal.listing import listing_query, paging, search_text

ACCOUNT_TYPES = {"AzureADMyOrg": "Accounts in this organizational directory only",
                 "AzureADMultipleOrgs": "Accounts in any organizational directory"}
# platform form value -> (Application field, label as the Entra admin center writes it)
PLATFORMS = {"web": ("web_redirect_uris", "Web"),
             "public": ("public_client_redirect_uris", "Public client/native (mobile & desktop)"),
             "spa": ("spa_redirect_uris", "Single-page application")}
SECRET_LIFETIMES = {"180": "Recommended: 180 days (6 months)", "90": "90 days (3 months)",
                    "365": "365 days (12 months)", "545": "545 days (18 months)", "730": "730 days (24 months)"}
TABS = (("overview", "Overview", ""), ("credentials", "Certificates & secrets", "/credentials"),
        ("api-permissions", "API permissions", "/api-permissions"))


# --- the list and "New registration" ----------------------------------------------------------------------

@view
async def registrations_list(request: Request, admin: Admin) -> Response:
    query = listing_query(request, ("displayName",))
    found, result = await run_in_threadpool(apps.page_applications, runtime_of(request).ctx, admin.tenant.id, query)
    return page(request, admin, "portal/registrations.html", nav="app-registrations", title="App registrations",
                registrations=found, search=search_text(request), can_change=admin.may(authz.APP_ADMINS),
                **paging(request, result.next_after))


def _new_form(request: Request, admin: Admin, values: dict[str, str], error: str | None = None,
              status: int = 200) -> Response:
    return page(request, admin, "portal/registrations_new.html", status=status, nav="app-registrations",
                title="Register an application", values=values, error=error, account_types=ACCOUNT_TYPES,
                platforms=PLATFORMS, can_change=admin.may(authz.APP_ADMINS))


def _definition(admin: Admin, values: dict[str, str]) -> Application:
    if not values["display_name"]:
        raise invalid("Name is required: enter the user-facing display name for this application.")
    if values["audience"] not in ACCOUNT_TYPES:
        raise invalid("Choose the supported account types.")
    app = Application(id=new_guid(), app_id=new_guid(), tenant_id=admin.tenant.id,
                      display_name=values["display_name"], sign_in_audience=values["audience"])
    if values["redirect_uri"]:
        if values["platform"] not in PLATFORMS:
            raise invalid("Choose the platform of the redirect URI.")
        uris: dict[str, Any] = {PLATFORMS[values["platform"]][0]: (values["redirect_uri"],)}
        app = replace(app, **uris)
    return app


@view
async def new_registration(request: Request, admin: Admin) -> Response:
    if request.method == "GET":
        return _new_form(request, admin, {"audience": "AzureADMyOrg", "platform": "web"})
    form = await form_of(request, admin, authz.APP_ADMINS)
    values = {k: form.get(k, "").strip() for k in ("display_name", "audience", "platform", "redirect_uri")}
    try:
        app = await run_in_threadpool(apps.register_application, runtime_of(request).ctx, admin.tenant.id,
                                      _definition(admin, values), actor(request, admin))
    except ConsentryError as exc:
        return _new_form(request, admin, values, exc.message, status_of(exc))
    return done(request, f"/portal/app-registrations/{app.id}", f"Successfully created application {app.display_name}.")


# --- one application ------------------------------------------------------------------------------------

def load_application(request: Request, admin: Admin) -> tuple[Application, ServicePrincipal | None]:
    """The registration named by the path (a 404 for another tenant's or an unknown id) and its service
    principal in this tenant, if it has one."""
    ctx, app_id = runtime_of(request).ctx, str(request.path_params["app_id"])
    if not is_guid(app_id):
        raise ConsentryError(GRAPH_NOT_FOUND, id=app_id[:100])
    app = apps.find_application(ctx, admin.tenant.id, object_id=app_id)
    try:
        return app, apps.find_service_principal(ctx, admin.tenant.id, app_id=app.app_id)
    except ConsentryError:
        return app, None


Extra = Callable[[Application, ServicePrincipal | None], dict[str, object]]


async def application_page(request: Request, admin: Admin, template: str, tab: str, status: int = 200, *,
                           more: Extra | None = None, **context: object) -> Response:
    """One of an application's tabs (``more``: what else the tab shows, read in the worker thread), or the
    not-found page."""
    try:
        app, sp = await run_in_threadpool(load_application, request, admin)
    except ConsentryError as exc:
        if not is_missing(exc):
            raise
        return page(request, admin, "portal/registrations_missing.html", status=404, nav="app-registrations",
                    title="Application not found")
    extra = await run_in_threadpool(more, app, sp) if more is not None else {}
    return page(request, admin, template, status=status, nav="app-registrations", title=app.display_name, app=app,
                sp=sp, tab=tab, tabs=TABS, account_types=ACCOUNT_TYPES, platforms=PLATFORMS,
                lifetimes=SECRET_LIFETIMES, can_change=admin.may(authz.APP_ADMINS), **extra, **context)


@view
async def overview(request: Request, admin: Admin) -> Response:
    return await application_page(request, admin, "portal/registrations_overview.html", "overview")


Change = Callable[[Request, Admin, Application, dict[str, str]], str]  # makes one change; the confirmation


def _redirect_uris(app: Application, form: dict[str, str]) -> tuple[str, str, tuple[str, ...], str]:
    """(field, platform label, the platform's URIs, the URI in the form)."""
    field, label = PLATFORMS.get(form.get("platform", ""), ("", ""))
    if not field:
        raise invalid("Choose the platform of the redirect URI.")
    return field, label, getattr(app, field), form.get("uri", "").strip()


def _add_uri(request: Request, admin: Admin, app: Application, form: dict[str, str]) -> str:
    field, label, current, uri = _redirect_uris(app, form)
    if not uri:
        raise invalid("Enter a redirect URI.")
    if uri in current:
        raise invalid(f"The redirect URI '{uri}' is already registered for the {label} platform.")
    changes: dict[str, Any] = {field: (*current, uri)}
    apps.update_application(runtime_of(request).ctx, admin.tenant.id, app.id, actor(request, admin), **changes)
    return f"Added the redirect URI {uri} ({label})."


def _remove_uri(request: Request, admin: Admin, app: Application, form: dict[str, str]) -> str:
    field, label, current, uri = _redirect_uris(app, form)
    if uri not in current:
        raise invalid(f"The redirect URI '{uri}' is not registered for the {label} platform.")
    changes: dict[str, Any] = {field: tuple(u for u in current if u != uri)}
    apps.update_application(runtime_of(request).ctx, admin.tenant.id, app.id, actor(request, admin), **changes)
    return f"Removed the redirect URI {uri} ({label})."


def _remove_secret(request: Request, admin: Admin, app: Application, form: dict[str, str]) -> str:
    secret = next((c for c in app.password_credentials if c.key_id == form.get("key_id")), None)
    if secret is None:
        raise invalid("That client secret does not exist (it may have been removed already).")
    app_credentials.remove_password(runtime_of(request).ctx, admin.tenant.id, app.id, secret.key_id,
                                    actor(request, admin))
    return f"Removed the client secret {secret.display_name or secret.key_id}."


def _add_certificate(request: Request, admin: Admin, app: Application, form: dict[str, str]) -> str:
    pem = form.get("certificate", "").strip()
    if not pem:
        raise invalid("Paste the public certificate (PEM, .cer or .crt) to upload.")
    cred = app_credentials.add_certificate(runtime_of(request).ctx, admin.tenant.id, app.id, pem.encode(),
                                           actor(request, admin), form.get("description", "").strip()[:256] or None)
    return f"Uploaded the certificate {cred.thumbprint_sha1}."


def _remove_certificate(request: Request, admin: Admin, app: Application, form: dict[str, str]) -> str:
    """Graph's removeKey wants a proof of possession; an administrator's removal replaces the collection."""
    cert = next((k for k in app.key_credentials if k.key_id == form.get("key_id")), None)
    if cert is None:
        raise invalid("That certificate does not exist (it may have been removed already).")
    others = [KeyCredentialInput(key=None, key_id=k.key_id) for k in app.key_credentials if k.key_id != cert.key_id]
    apps.update_application(runtime_of(request).ctx, admin.tenant.id, app.id, actor(request, admin),
                            key_credentials=others)
    return f"Removed the certificate {cert.thumbprint_sha1}."


def _change_view(change: Change, template: str, tab: str, back: str) -> Callable[[Request], Awaitable[Response]]:
    """A POST endpoint making one change: back to the tab with a confirmation, or the tab with the reason."""
    def run(request: Request, admin: Admin, form: dict[str, str]) -> str:
        app, _ = load_application(request, admin)
        return change(request, admin, app, form)

    @view
    async def endpoint(request: Request, admin: Admin) -> Response:
        form = await form_of(request, admin, authz.APP_ADMINS)
        try:
            message = await run_in_threadpool(run, request, admin, form)
        except ConsentryError as exc:
            return await application_page(request, admin, template, tab, status_of(exc), error=exc.message)
        return done(request, f"/portal/app-registrations/{request.path_params['app_id']}{back}", message)

    endpoint.__name__ = change.__name__.lstrip("_")
    return endpoint


@view
async def credentials(request: Request, admin: Admin) -> Response:
    return await application_page(request, admin, "portal/registrations_credentials.html", "credentials")


@view
async def new_client_secret(request: Request, admin: Admin) -> Response:
    """"New client secret": the value is rendered into this response only (no redirect, never stored)."""
    form = await form_of(request, admin, authz.APP_ADMINS)
    template = "portal/registrations_credentials.html"
    description = form.get("description", "").strip()
    days = form.get("expires", "")
    try:
        if days not in SECRET_LIFETIMES:
            raise invalid("Choose when the client secret expires.")
        app, _ = await run_in_threadpool(load_application, request, admin)
        cred, value = await run_in_threadpool(
            lambda: app_credentials.add_password(runtime_of(request).ctx, admin.tenant.id, app.id,
                                                 actor(request, admin), description or None,
                                                 lifetime=timedelta(days=int(days))))
    except ConsentryError as exc:
        return await application_page(request, admin, template, "credentials", status_of(exc), error=exc.message)
    return await application_page(request, admin, template, "credentials", new_secret=(cred.key_id, value),
                                  confirmation=f"Added the client secret {description or cred.key_id}.")


def routes() -> list[Route]:
    # The API permissions tab builds on this module, so it is imported here rather than at the top.
    from consentry.web.portal import registrations_permissions

    base = "/portal/app-registrations/{app_id}"
    overview_t, credentials_t = "portal/registrations_overview.html", "portal/registrations_credentials.html"
    return [
        Route("/portal/app-registrations", registrations_list, methods=["GET"]),
        Route("/portal/app-registrations/new", new_registration, methods=["GET", "POST"]),
        Route(base, overview, methods=["GET"]),
        Route(f"{base}/redirect-uris", _change_view(_add_uri, overview_t, "overview", ""), methods=["POST"]),
        Route(f"{base}/redirect-uris/remove", _change_view(_remove_uri, overview_t, "overview", ""),
              methods=["POST"]),
        Route(f"{base}/credentials", credentials, methods=["GET"]),
        Route(f"{base}/credentials/secrets", new_client_secret, methods=["POST"]),
        Route(f"{base}/credentials/secrets/remove",
              _change_view(_remove_secret, credentials_t, "credentials", "/credentials"), methods=["POST"]),
        Route(f"{base}/credentials/certificates",
              _change_view(_add_certificate, credentials_t, "credentials", "/credentials"), methods=["POST"]),
        Route(f"{base}/credentials/certificates/remove",
              _change_view(_remove_certificate, credentials_t, "credentials", "/credentials"), methods=["POST"]),
        *registrations_permissions.routes(),
    ]
