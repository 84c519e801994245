"""One enterprise application's pages (spec §8.2, §8.3, §8.5), labelled as in the Entra admin center:
Properties (the three switches, Save, and Delete, which moves it with its grants and assignments to deleted
items for 30 days), Permissions ("Admin consent" and "User consent" tabs, "Revoke permission", "Grant admin
consent for {tenant}"), Users and groups (app role assignments) and Audit logs (its own records).

Changing properties, deleting, revoking and assigning needs Global, Cloud Application or Application
Administrator; "Grant admin consent" is checked by the consent service against what the app asks for
(Microsoft Graph app roles need Global or Privileged Role Administrator). Readers see every control disabled.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from consentry.domain.apps import HIDE_APP_TAG, ServicePrincipal
from consentry.domain.ids import is_guid
from consentry.domain.odata import ODataQuery
from consentry.errors import GRAPH_NOT_FOUND, INVALID_VALUE, NOT_FOUND, ConsentryError
from consentry.services import apps, audit, authz, consent, deleted_items, enterprise_apps, grants
from consentry.web.http import runtime_of, signed, unsigned
from consentry.web.portal.base import Admin, Refused, actor, done, form_of, page, view

APPS_PATH = "/portal/enterprise-apps"
NAV = "enterprise-apps"
AUDIT_PAGE = 50
YES_NO = {"yes": True, "no": False}
_HINT_90093 = ("Cloud Application Administrators and Application Administrators cannot grant application "
               "permissions (app roles) of Microsoft Graph: ask a Global Administrator or a Privileged Role "
               "Administrator to grant admin consent for this app.")


# --- shared by every page of the area -------------------------------------------------------------
def cursor_token(request: Request, key: tuple[Any, ...] | None) -> str | None:
    """An opaque, signed "next page" link value for a keyset position."""
    return signed(request, json.dumps(list(key), separators=(",", ":"))) if key else None


def cursor_key(request: Request, token: str | None) -> tuple[tuple[str, ...] | None, bool]:
    """The keyset position a :func:`cursor_token` names, and whether a token was sent but not ours."""
    if not token:
        return None, False
    raw = unsigned(request, token[:2000])
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        value = None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and "\x00" not in v for v in value):
        return None, True
    return tuple(value), False


def app_path(sp: ServicePrincipal, tail: str = "") -> str:
    return f"{APPS_PATH}/{sp.id}{tail}"


def _not_found(request: Request, admin: Admin) -> Refused:
    return Refused(page(request, admin, "portal/enterprise_app_missing.html", status=404, nav=NAV,
                        title="Application not found"))


async def app_of(request: Request, admin: Admin) -> ServicePrincipal:
    """The service principal the path names, in the administrator's tenant; the 404 page otherwise."""
    sp_id = str(request.path_params.get("sp_id", "")).lower()
    if not is_guid(sp_id):
        raise _not_found(request, admin)
    try:
        return await run_in_threadpool(partial(apps.find_service_principal, runtime_of(request).ctx,
                                               admin.tenant.id, object_id=sp_id))
    except ConsentryError as exc:
        if exc.entry in (GRAPH_NOT_FOUND, NOT_FOUND):
            raise _not_found(request, admin) from exc
        raise


def app_page(request: Request, admin: Admin, sp: ServicePrincipal, template: str, tab: str, title: str,
             status: int = 200, **context: Any) -> Response:
    return page(request, admin, f"portal/{template}", status=status, nav=NAV, title=f"{sp.display_name} | {title}",
                sp=sp, tab=tab, microsoft=enterprise_apps.is_microsoft_app(sp), may_change=admin.may(authz.APP_ADMINS),
                **context)


def bad(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


# --- Properties and Delete ------------------------------------------------------------------------------
@view
async def properties(request: Request, admin: Admin) -> Response:
    sp = await app_of(request, admin)
    grants_count, assignments_count = await run_in_threadpool(enterprise_apps.deletion_impact, runtime_of(request).ctx,
                                                              admin.tenant.id, sp.id)
    return app_page(request, admin, sp, "enterprise_app_properties.html", "properties", "Properties",
                    visible=HIDE_APP_TAG not in sp.tags, grants_count=grants_count,
                    assignments_count=assignments_count)


def _yes_no(form: dict[str, str], name: str, label: str) -> bool:
    value = form.get(name, "").lower()
    if value not in YES_NO:
        raise bad(f'Choose Yes or No for "{label}".')
    return YES_NO[value]


@view
async def save_properties(request: Request, admin: Admin) -> Response:
    form = await form_of(request, admin, authz.APP_ADMINS)
    sp = await app_of(request, admin)
    enabled = _yes_no(form, "account_enabled", "Enabled for users to sign-in?")
    required = _yes_no(form, "assignment_required", "Assignment required?")
    visible = _yes_no(form, "visible", "Visible to users?")
    tags = [t for t in sp.tags if t != HIDE_APP_TAG] + ([] if visible else [HIDE_APP_TAG])
    saved = await run_in_threadpool(partial(
        apps.update_service_principal, runtime_of(request).ctx, admin.tenant.id, sp.id, actor(request, admin),
        account_enabled=enabled, app_role_assignment_required=required, tags=tags))
    if saved == sp:
        return done(request, app_path(sp), "Nothing to save: the properties were already as chosen.")
    return done(request, app_path(sp), f"Saved the properties of {sp.display_name}. Enabled for users to sign-in: "
                f"{_word(enabled)}. Assignment required: {_word(required)}. Visible to users: {_word(visible)}.")


def _word(value: bool) -> str:
    return "Yes" if value else "No"


@view
async def delete(request: Request, admin: Admin) -> Response:
    await form_of(request, admin, authz.APP_ADMINS)
    sp = await app_of(request, admin)
    await run_in_threadpool(deleted_items.soft_delete_service_principal, runtime_of(request).ctx, admin.tenant.id,
                            sp.id, actor(request, admin))
    return done(request, APPS_PATH, f"Deleted {sp.display_name} with its permission grants and assignments. It "
                                    "stays in deleted items for 30 days, where it can be restored.")


# --- Permissions ------------------------------------------------------------------------------------
async def _permissions_page(request: Request, admin: Admin, sp: ServicePrincipal, tab: str,
                            error: str | None = None, status: int = 200) -> Response:
    rt = runtime_of(request)
    found = await run_in_threadpool(enterprise_apps.list_app_permissions, rt.ctx, admin.tenant.id, sp.id)
    return app_page(request, admin, sp, "enterprise_app_permissions.html", "permissions", "Permissions",
                    status=status, consent_tab=tab, permissions=found, error=error,
                    rows=found.admin_consent if tab == "admin" else found.user_consent,
                    consent_url=f"{rt.base_url}/{admin.tenant.id}/adminconsent?client_id={sp.app_id}",
                    may_grant=admin.may(authz.GRANT_ADMINS))


def _consent_tab(value: str | None) -> str:
    return "user" if value == "user" else "admin"


@view
async def permissions(request: Request, admin: Admin) -> Response:
    sp = await app_of(request, admin)
    return await _permissions_page(request, admin, sp, _consent_tab(request.query_params.get("tab")))


@view
async def revoke(request: Request, admin: Admin) -> Response:
    form = await form_of(request, admin, authz.APP_ADMINS)
    sp = await app_of(request, admin)
    ctx, tenant_id, who = runtime_of(request).ctx, admin.tenant.id, actor(request, admin)
    tab = _consent_tab(form.get("tab"))
    back = app_path(sp, f"/permissions?tab={tab}")
    if form.get("assignment_id"):
        await run_in_threadpool(partial(grants.remove_app_role_assignment, ctx, tenant_id, form["assignment_id"],
                                        who, principal_id=sp.id))
        return done(request, back, f"Revoked the application permission {form.get('value', '')[:120]} of "
                                   f"{sp.display_name}.")
    grant = await run_in_threadpool(grants.find_grant, ctx, tenant_id, form.get("grant_id", ""))
    if grant.client_id != sp.id:
        raise ConsentryError(GRAPH_NOT_FOUND, id=grant.id)
    value = form.get("value", "")
    await run_in_threadpool(grants.revoke_permission, ctx, tenant_id, grant.id, value, who)
    return done(request, back, f"Revoked the delegated permission {value[:120]} of {sp.display_name}.")


@view
async def grant_admin_consent(request: Request, admin: Admin) -> Response:
    await form_of(request, admin, authz.GRANT_ADMINS)
    sp = await app_of(request, admin)
    try:
        granted = await run_in_threadpool(consent.grant_admin_consent_for_tenant, runtime_of(request).ctx,
                                          admin.tenant.id, sp.app_id, admin.user.id, actor(request, admin))
    except ConsentryError as exc:
        message = f"AADSTS{exc.entry.aadsts}: {exc.message}" if exc.entry.aadsts else exc.message
        if exc.entry.aadsts == 90093:
            message = f"{message} {_HINT_90093}"
        status = exc.entry.http_status if 400 <= exc.entry.http_status < 500 else 400
        return await _permissions_page(request, admin, sp, "admin", error=f"Admin consent was not granted. "
                                       f"{message} Nothing was changed.", status=status)
    values = ", ".join(sorted({p.value for p in granted.permissions}, key=str.lower))
    return done(request, app_path(sp, "/permissions?tab=admin"),
                f"Granted admin consent for {admin.tenant.display_name}: {values}." if values else
                f"Nothing to grant: {sp.display_name}'s registration lists no permissions.")


# --- Audit logs -------------------------------------------------------------------------------------
@view
async def audit_logs(request: Request, admin: Admin) -> Response:
    sp = await app_of(request, admin)
    after, invalid = cursor_key(request, request.query_params.get("page"))
    query = ODataQuery(top=AUDIT_PAGE, after=after)
    try:
        events, found = await run_in_threadpool(partial(audit.page_directory_audits, runtime_of(request).ctx,
                                                        admin.tenant.id, query, target_id=sp.id))
    except ConsentryError:
        invalid = True
        events, found = await run_in_threadpool(partial(audit.page_directory_audits, runtime_of(request).ctx,
                                                        admin.tenant.id, ODataQuery(top=AUDIT_PAGE),
                                                        target_id=sp.id))
    return app_page(request, admin, sp, "enterprise_app_audit.html", "audit", "Audit logs",
                    events=[_audit_row(e) for e in events], next_page=cursor_token(request, found.next_after),
                    paged=after is not None and not invalid,
                    error="That page link is not valid any more; showing the newest records." if invalid else None)


def _audit_row(event: dict[str, Any]) -> dict[str, Any]:
    by = event.get("initiated_by") or {}
    user, app = by.get("user") or {}, by.get("app") or {}
    targets = event.get("target_resources") or []
    changes = [f"{p['displayName']}: {_plain(p.get('oldValue'))} → {_plain(p.get('newValue'))}"
               for t in targets for p in t.get("modifiedProperties") or []]
    return {"when": event["activity_date_time"], "activity": event["activity_display_name"],
            "category": event["category"], "result": event["result"], "reason": event.get("result_reason") or "",
            "initiated_by": str(user.get("userPrincipalName") or app.get("displayName") or "—"),
            "targets": [str(t.get("displayName") or t.get("id") or "") for t in targets], "changes": changes}


def _plain(value: str | None) -> str:
    """A modified property value as Entra stores it (JSON text), shown plainly."""
    if value is None:
        return "(none)"
    try:
        decoded = json.loads(value)
    except ValueError:
        return value[:300]
    if isinstance(decoded, list):
        return ", ".join(str(v) for v in decoded)[:300] or "(none)"
    return str(decoded)[:300]
