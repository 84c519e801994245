"""One admin consent request's pages (spec §7.1, §7.4, §7.5), labelled as in the Entra admin center: the
request ("App details", "Requested by", "Permissions" and the reviewer's actions), "Review permissions and
consent" (what accepting grants, and Accept), and the decisions Accept, Deny and Block.

Who may act is decided by the services (the reviewer snapshot taken when each request was made; for Accept,
a role that may grant all of it, else AADSTS90093). The pages say in advance what the signed-in
administrator may do and why not, from the same facts: a request in progress whose snapshot names her, one
of :data:`REVIEW_ROLES` (Global Reader only looks), and the consent decision for her in the admin flow.

Accept is the tenant-wide admin consent of the admin consent page, done from the portal: the static list
(``Static``) or the pending scopes (``Dynamic``), then every pending request of the aggregate completes as
approved. The review page also shows the admin consent URL, which completes the requests just as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from consentry.domain.apps import Application, ServicePrincipal
from consentry.domain.consent import ADMIN_CONSENT, Decision, Permission
from consentry.domain.consent_requests import (
    APPROVED,
    BLOCKED,
    DENIED,
    DYNAMIC,
    EXPIRED,
    IN_PROGRESS,
    MAX_JUSTIFICATION,
    TIMED_OUT,
    AppConsentRequest,
    UserConsentRequest,
)
from consentry.domain.ids import is_guid
from consentry.errors import APP_DISABLED, GRAPH_FORBIDDEN, GRAPH_NOT_FOUND, ConsentryError
from consentry.services import access, apps, authz, consent, consent_requests
from consentry.web.http import runtime_of
from consentry.web.portal.base import Admin, Refused, actor, done, form_of, page, view

REQUESTS_PATH = "/portal/consent-requests"
NAV = "consent-requests"
# Reviewing needs at least Cloud Application Administrator as well as the reviewer designation (spec §7.5).
REVIEW_ROLES = authz.GRANT_ADMINS
OUTCOME_LABELS = {APPROVED: "Approved", DENIED: "Denied", BLOCKED: "Blocked", TIMED_OUT: "Expired"}
ROLE_CANNOT_GRANT = "role_cannot_grant"  # the consent decision's reason (domain.consent.check_admin_flow)
_GRAPH_ROLES_HINT = ("Cloud Application Administrators and Application Administrators cannot grant application "
                     "permissions of Microsoft Graph: a Global Administrator or Privileged Role Administrator who "
                     "is a reviewer can approve it.")


# --- what a request's page shows ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AppDetails:
    name: str
    app_id: str
    homepage: str | None
    reply_urls: tuple[str, ...]
    publisher: str | None
    verified: bool
    sp_id: str | None  # the enterprise application in this tenant, if there is one
    enabled: bool | None


@dataclass(frozen=True, slots=True)
class PermissionRow:
    resource: str
    value: str
    kind: str  # "Delegated" or "Application"
    description: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the signed-in administrator may do with the request, and why not."""

    may_decide: bool  # Deny and Block
    may_approve: bool
    decide_reason: str | None
    approve_reason: str | None


def request_path(request_id: str, tail: str = "") -> str:
    return f"{REQUESTS_PATH}/{request_id}{tail}"


def status_of(user_request: UserConsentRequest, now: datetime) -> str:
    if user_request.status == IN_PROGRESS:
        return "Pending" if user_request.expires_at > now else "Expired"
    if user_request.outcome in OUTCOME_LABELS:
        return OUTCOME_LABELS[user_request.outcome]
    return "Expired" if user_request.status == EXPIRED else "Completed"


def aggregate_status(requests: Sequence[UserConsentRequest], now: datetime) -> str:
    """Pending while any request waits; otherwise how the latest one ended."""
    if any(status_of(r, now) == "Pending" for r in requests):
        return "Pending"
    if not requests:
        return "—"
    latest = max(requests, key=lambda r: (r.completed_at or r.created_at, r.created_at))
    return status_of(latest, now)


def is_safe_link(url: str | None) -> bool:
    return bool(url) and str(url).lower().startswith(("https://", "http://"))


async def _app_details(request: Request, admin: Admin, aggregate: AppConsentRequest
                       ) -> tuple[AppDetails, Application | None]:
    ctx = runtime_of(request).ctx
    app = await run_in_threadpool(access.load_application, ctx, aggregate.app_id)
    sp: ServicePrincipal | None
    try:
        sp = await run_in_threadpool(partial(apps.find_service_principal, ctx, admin.tenant.id,
                                             app_id=aggregate.app_id))
    except ConsentryError:
        sp = None
    publisher = ((sp.verified_publisher.get("displayName") or sp.publisher_name) if sp else None) or \
        ((app.verified_publisher.get("displayName") or app.publisher_name) if app else None)
    details = AppDetails(
        name=(sp.display_name if sp else app.display_name if app else aggregate.app_display_name),
        app_id=aggregate.app_id, homepage=(sp.homepage if sp else None) or (app.homepage_url if app else None),
        reply_urls=(sp.reply_urls if sp and sp.reply_urls else app.redirect_uris if app else ()),
        publisher=publisher, verified=bool((sp and sp.verified_publisher) or (app and app.verified_publisher)),
        sp_id=sp.id if sp else None, enabled=sp.account_enabled if sp else None)
    return details, app


def _rows(permissions: Sequence[Permission]) -> list[PermissionRow]:
    return [PermissionRow(p.resource_name, p.value, "Delegated" if p.is_delegated else "Application",
                          p.admin_text or p.admin_description or "") for p in permissions]


async def _static_rows(request: Request, admin: Admin, app: Application | None) -> list[PermissionRow]:
    """The app's static list, read from its registration (when no consent decision can show it)."""
    ctx, rows = runtime_of(request).ctx, []
    for entry in app.required_resource_access if app else ():
        try:
            resource = await run_in_threadpool(partial(apps.find_service_principal, ctx, admin.tenant.id,
                                                       app_id=entry.resource_app_id))
        except ConsentryError:
            continue
        for item in entry.resource_access:
            if item.type == "Scope":
                scope = next((s for s in resource.scopes if s.id == item.id), None)
                if scope is not None:
                    rows.append(PermissionRow(resource.display_name, scope.value, "Delegated",
                                              scope.admin_consent_display_name))
            elif (role := resource.role_by_id(item.id)) is not None:
                rows.append(PermissionRow(resource.display_name, role.value or role.id, "Application",
                                          role.display_name))
    return rows


def _asked_scopes(aggregate: AppConsentRequest, requests: Sequence[UserConsentRequest]) -> tuple[str, ...]:
    """A dynamic request's scopes: those pending, or once none is, everything its users asked for."""
    if aggregate.pending_scopes:
        return aggregate.pending_scopes
    return tuple(dict.fromkeys(value for r in requests for value in r.scopes))


def _requested_scope(aggregate: AppConsentRequest) -> str:
    """What approving grants, as approve_request asks the consent decision: the static list, or the scopes."""
    return " ".join(aggregate.pending_scopes) if aggregate.consent_type == DYNAMIC else ""


def _decide_reason(admin: Admin, pending: list[UserConsentRequest]) -> str | None:
    if not pending:
        return ("No user request is pending: this request was already reviewed, or it expired. It is shown "
                "read-only.")
    if not any(admin.user.id in r.reviewer_ids for r in pending):
        return ("You are not a reviewer of this request: only the reviewers selected when it was made can review "
                "it. It is shown read-only.")
    if not admin.may(REVIEW_ROLES):
        return ("Your roles let you view requests but not review them: reviewing needs the Global Administrator, "
                "Privileged Role Administrator, Cloud Application Administrator or Application Administrator "
                "role.")
    return None


def _approve_reason(decision: Decision | None, failure: ConsentryError | None) -> str | None:
    if failure is not None:
        return f"Admin consent cannot be granted: {failure.description}"
    if decision is None or decision.step == ADMIN_CONSENT:
        return None
    if decision.error is APP_DISABLED:
        return "The app is disabled in this organization, so admin consent cannot be granted to it."
    # With the workflow on, the decision's error is "approval required"; its reason says why.
    if decision.reason == ROLE_CANNOT_GRANT:
        names = ", ".join(f"{p.value} ({p.resource_name}{'' if p.is_delegated else ', application permission'})"
                          for p in decision.uncovered)
        hint = _GRAPH_ROLES_HINT if any(not p.is_delegated for p in decision.uncovered) else ""
        return (f"You can deny or block this request, but not approve it: your roles don't let you grant "
                f"{names or 'all of its permissions'} (AADSTS90093). {hint}").strip()
    return "Your roles don't let you grant tenant-wide admin consent, so you can deny or block but not approve."


async def request_context(request: Request, admin: Admin, aggregate: AppConsentRequest) -> dict[str, Any]:
    """Everything a request's page and its review page show."""
    ctx = runtime_of(request).ctx
    now = ctx.clock.now()
    requests = await run_in_threadpool(consent_requests.list_user_requests, ctx, admin.tenant.id, aggregate.id)
    details, app = await _app_details(request, admin, aggregate)
    pending = [r for r in requests if status_of(r, now) == "Pending"]
    decision: Decision | None = None
    failure: ConsentryError | None = None
    if pending:
        query = consent.ConsentQuery(admin.tenant.id, aggregate.app_id, admin.user.id, _requested_scope(aggregate),
                                     None, admin_flow=True)
        try:
            decision = (await run_in_threadpool(consent.evaluate, ctx, query)).decision
        except ConsentryError as exc:
            failure = exc
    rows = _rows(decision.permissions) if decision is not None else []
    if not rows:
        rows = (await _static_rows(request, admin, app) if aggregate.consent_type != DYNAMIC
                else [PermissionRow("", value, "Delegated", "") for value in _asked_scopes(aggregate, requests)])
    decide_reason = _decide_reason(admin, pending)
    approve_reason = decide_reason or _approve_reason(decision, failure)
    return {"aggregate": aggregate, "requests": requests, "statuses": {r.id: status_of(r, now) for r in requests},
            "request_status": aggregate_status(requests, now), "details": details, "permissions": rows,
            "any_pending": bool(pending),
            "safe_homepage": is_safe_link(details.homepage),
            "verdict": Verdict(decide_reason is None, approve_reason is None, decide_reason, approve_reason),
            "max_justification": MAX_JUSTIFICATION, "consent_url": admin_consent_url(request, admin, aggregate, app)}


def admin_consent_url(request: Request, admin: Admin, aggregate: AppConsentRequest,
                      app: Application | None) -> str | None:
    """The admin consent URL for what the request asks: v1 for the static list; v2 with the pending scopes
    (which needs a registered redirect URI) for a dynamic request."""
    base = runtime_of(request).base_url.rstrip("/")
    if aggregate.consent_type != DYNAMIC:
        return f"{base}/{admin.tenant.id}/adminconsent?" + urlencode({"client_id": aggregate.app_id})
    if app is None or not app.redirect_uris or not aggregate.pending_scopes:
        return None
    return f"{base}/{admin.tenant.id}/v2.0/adminconsent?" + urlencode(
        {"client_id": aggregate.app_id, "scope": " ".join(aggregate.pending_scopes),
         "redirect_uri": app.redirect_uris[0]})


# --- the pages ---------------------------------------------------------------------------------------
async def aggregate_of(request: Request, admin: Admin) -> AppConsentRequest:
    """The request the path names, in the administrator's tenant; the 404 page otherwise."""
    request_id = str(request.path_params.get("request_id", "")).lower()
    if is_guid(request_id):
        try:
            return await run_in_threadpool(consent_requests.get_app_request, runtime_of(request).ctx,
                                           admin.tenant.id, request_id)
        except ConsentryError as exc:
            if exc.entry is not GRAPH_NOT_FOUND:
                raise
    raise Refused(page(request, admin, "portal/cr_missing.html", status=404, nav=NAV,
                       title="Admin consent request not found"))


def _status_code(exc: ConsentryError) -> int:
    return exc.entry.http_status if 400 <= exc.entry.http_status < 500 else 400


def _failure_text(exc: ConsentryError) -> str:
    if exc.entry is GRAPH_FORBIDDEN:
        return ("Only a reviewer of this request may decide on it, and you were not selected as a reviewer when "
                "it was made. Nothing was changed.")
    return f"{exc.description} Nothing was changed."


async def _show(request: Request, admin: Admin, aggregate: AppConsentRequest, template: str, title: str,
                status: int = 200, **extra: Any) -> Response:
    context = await request_context(request, admin, aggregate)
    return page(request, admin, f"portal/{template}", status=status, nav=NAV,
                title=f"{aggregate.app_display_name} | {title}", **context, **extra)


@view
async def request_page(request: Request, admin: Admin) -> Response:
    aggregate = await aggregate_of(request, admin)
    return await _show(request, admin, aggregate, "cr_detail.html", "Admin consent request")


@view
async def review_page(request: Request, admin: Admin) -> Response:
    aggregate = await aggregate_of(request, admin)
    return await _show(request, admin, aggregate, "cr_review.html", "Review permissions and consent")


@view
async def approve(request: Request, admin: Admin) -> Response:
    await form_of(request, admin, REVIEW_ROLES)
    aggregate = await aggregate_of(request, admin)
    ctx = runtime_of(request).ctx
    try:
        closed = await run_in_threadpool(consent_requests.approve_request, ctx, admin.tenant.id, aggregate.id,
                                         admin.user.id, None, actor(request, admin))
    except ConsentryError as exc:
        return await _show(request, admin, aggregate, "cr_review.html", "Review permissions and consent",
                           status=_status_code(exc), error=f"The request was not approved. {_failure_text(exc)}")
    return done(request, request_path(aggregate.id),
                f"Approved: admin consent was granted for {admin.tenant.display_name} to "
                f"{aggregate.app_display_name}. {_closed(closed)}")


def _closed(closed: Sequence[UserConsentRequest]) -> str:
    count = len(closed)
    return f"{count} pending request{'s' if count != 1 else ''} completed; the requesters are being notified."


async def _decide(request: Request, admin: Admin, kind: str) -> Response:
    form = await form_of(request, admin, REVIEW_ROLES)
    aggregate = await aggregate_of(request, admin)
    ctx, justification = runtime_of(request).ctx, form.get("justification", "")
    decide = consent_requests.deny_request if kind == "deny" else consent_requests.block_request
    try:
        closed = await run_in_threadpool(decide, ctx, admin.tenant.id, aggregate.id, admin.user.id, justification,
                                         actor(request, admin))
    except ConsentryError as exc:
        verb = "denied" if kind == "deny" else "blocked"
        return await _show(request, admin, aggregate, "cr_detail.html", "Admin consent request",
                           status=_status_code(exc), error=f"The request was not {verb}. {_failure_text(exc)}",
                           typed={kind: justification[:MAX_JUSTIFICATION * 2]})
    if kind == "deny":
        message = f"Denied the request for {aggregate.app_display_name}. {_closed(closed)} They may request it again."
    else:
        message = (f"Blocked {aggregate.app_display_name}: it is disabled in {admin.tenant.display_name} and no "
                   f"further requests are possible. {_closed(closed)}")
    return done(request, request_path(aggregate.id), message)


@view
async def deny(request: Request, admin: Admin) -> Response:
    return await _decide(request, admin, "deny")


@view
async def block(request: Request, admin: Admin) -> Response:
    return await _decide(request, admin, "block")
