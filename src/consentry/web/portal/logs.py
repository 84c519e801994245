"""Monitoring → Audit logs and Sign-in logs (spec §9): the tenant's directory audit records (filtered by
activity, actor, target and date; exported as CSV or JSON) and every ``/authorize`` and ``/token`` outcome
with its AADSTS code and the consent decision's reason.

The filter fields become an OData ``$filter`` text that the same parser as Graph's reads; every value typed
in is a quoted OData string (single quotes doubled), so no input can change what the filter means. Dates
are days in UTC, both ends included. "Next page" links carry the service's keyset cursor signed with the
server's key, so a changed link is refused with a message rather than trusted.

The audit target is found by object ID, by a user's userPrincipalName, or by the exact display name of an
enterprise application (service principal), app registration or group — in that order, because consent,
grants and assignments are recorded against the service principal.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consentry.domain.ids import is_guid
from consentry.domain.odata import ODataQuery, decode_skiptoken, encode_skiptoken, parse_filter
from consentry.errors import ConsentryError
from consentry.services import apps, audit, directory
from consentry.services.context import ServiceContext
from consentry.web.graph.audit_logs import directory_audit_json, sign_in_json
from consentry.web.http import runtime_of, signed, unsigned
from consentry.web.portal.base import Admin, page, view

AUDIT_PATH = "/portal/audit-logs"
SIGN_IN_PATH = "/portal/sign-in-logs"
PAGE_SIZES = (25, 50, 100)
EXPORT_LIMIT = 10_000
EXPORT_BATCH = 500
MAX_FIELD = 256
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# The consent decision's reasons (consentry.domain.consent), as the sign-in log explains them.
CONSENT_REASONS = {
    "app_disabled": "The app is disabled for sign-in in this organization",
    "admin_consent_requested": "Admin consent requested by an administrator who may grant it",
    "role_cannot_grant": "The administrator's role cannot grant all the permissions",
    "admin_role_required": "Admin consent requested by a user without an administrator role",
    "granted": "All permissions were already granted",
    "user_not_assigned": "The user is not assigned to the app, which requires assignment",
    "admin_may_consent": "Consent page, with the option to consent for the organization",
    "assignment_required": "The app requires assignment, so users cannot consent",
    "risky_app": "Risk-based step-up: user consent to a risky app is blocked",
    "user_consent_not_allowed": "User consent is not allowed in this organization",
    "admin_only_permission": "A permission needs an administrator's consent",
    "permission_not_allowed": "A permission is not allowed by the user consent settings",
    "scopes_missing": "Consent page: the user may consent to the missing permissions",
    "consent_forced": "Consent page because of prompt=consent",
}


class BadFilter(Exception):
    """A filter or page link the page cannot use; the message is shown to the administrator."""


# --- filters -------------------------------------------------------------------------------------------
def _quoted(text: str) -> str:
    """An OData string literal: the text can never end the literal or add a clause."""
    return "'" + text.replace("'", "''") + "'"


def _field(params: dict[str, str], name: str, label: str) -> str:
    value = params.get(name, "").strip()
    if len(value) > MAX_FIELD or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise BadFilter(f"{label}: enter at most {MAX_FIELD} characters, without control characters.")
    return value


def _day(raw: str, label: str) -> date | None:
    if not raw:
        return None
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise BadFilter(f"{label} '{raw[:40]}' is not a date: use the form YYYY-MM-DD, for example "
                        "2026-03-01.") from None


def _time_clauses(params: dict[str, str], prop: str) -> list[str]:
    start = _day(_field(params, "from", "From"), "From")
    end = _day(_field(params, "to", "To"), "To")
    if start and end and start > end:
        raise BadFilter("The From date is after the To date.")
    clauses = []
    if start:
        clauses.append(f"{prop} ge {start.isoformat()}T00:00:00Z")
    if end and end < date.max:
        clauses.append(f"{prop} lt {(end + timedelta(days=1)).isoformat()}T00:00:00Z")
    return clauses


def _starts(prop: str, text: str) -> str:
    return f"startswith({prop}, {_quoted(text)})"


def _query(clauses: list[str], top: int, after: tuple[Any, ...] | None) -> ODataQuery:
    text = " and ".join(f"({c})" for c in clauses)
    return ODataQuery(filter=parse_filter(text) if text else None, top=top, after=after)


def _page_size(params: dict[str, str]) -> int:
    raw = params.get("size", "")
    return int(raw) if raw in {str(s) for s in PAGE_SIZES} else PAGE_SIZES[0]


def _cursor(request: Request, params: dict[str, str]) -> tuple[Any, ...] | None:
    raw = params.get("after")
    if not raw:
        return None
    token = unsigned(request, raw[:1000])
    if token is None:
        raise BadFilter("This page link is not valid (it was changed, or comes from another server). Start again "
                        "from the first page.")
    return decode_skiptoken(token)


def _first_link(path: str, params: dict[str, str]) -> str:
    kept = {k: v for k, v in params.items() if k != "after" and v}
    return f"{path}?{urlencode(kept)}" if kept else path


def _next_link(request: Request, path: str, params: dict[str, str], after: tuple[Any, ...] | None) -> str | None:
    if after is None:
        return None
    kept = {k: v for k, v in params.items() if k != "after" and v}
    return f"{path}?{urlencode({**kept, 'after': signed(request, encode_skiptoken(after))})}"


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    id: str
    description: str


def resolve_target(ctx: ServiceContext, tenant_id: str, text: str) -> ResolvedTarget:
    """The one object an audit "Target" filter names (see the module docstring)."""
    if is_guid(text):
        return ResolvedTarget(text.lower(), f"object {text.lower()}")
    if "@" in text:
        try:
            user = directory.find_user(ctx, tenant_id, text)
        except ConsentryError:
            raise BadFilter(f"Target: no user '{text}' in this organization.") from None
        return ResolvedTarget(user.id, f"user {user.user_principal_name}")
    by_name = ODataQuery(filter=parse_filter(f"displayName eq {_quoted(text)}"), top=2)
    finders: list[tuple[str, Callable[..., Any]]] = [
        ("enterprise application", apps.page_service_principals), ("app registration", apps.page_applications),
        ("group", directory.page_groups)]
    for kind, find in finders:
        found, _ = find(ctx, tenant_id, by_name)
        if len(found) > 1:
            raise BadFilter(f"Target: several {kind}s are named '{text}'. Enter the object ID of the one you mean.")
        if found:
            return ResolvedTarget(found[0].id, f"{kind} {found[0].display_name} ({found[0].id})")
    raise BadFilter(f"Target: nothing in this organization is named '{text}'. Enter an object ID, a user principal "
                    "name, or the exact name of an enterprise application, app registration or group.")


@dataclass(frozen=True, slots=True)
class AuditSearch:
    query: ODataQuery
    target: ResolvedTarget | None


def audit_search(ctx: ServiceContext, tenant_id: str, params: dict[str, str], top: int,
                 after: tuple[Any, ...] | None) -> AuditSearch:
    clauses = []
    if activity := _field(params, "activity", "Activity"):
        clauses.append(_starts("activityDisplayName", activity))
    if who := _field(params, "actor", "Initiated by"):
        if is_guid(who):
            clauses.append(f"initiatedBy/user/id eq {_quoted(who.lower())} or "
                           f"initiatedBy/app/servicePrincipalId eq {_quoted(who.lower())}")
        else:
            clauses.append(f"{_starts('initiatedBy/user/userPrincipalName', who)} or "
                           f"{_starts('initiatedBy/app/displayName', who)}")
    clauses += _time_clauses(params, "activityDateTime")
    target_text = _field(params, "target", "Target")
    target = resolve_target(ctx, tenant_id, target_text) if target_text else None
    return AuditSearch(_query(clauses, top, after), target)


def sign_in_query(params: dict[str, str], top: int, after: tuple[Any, ...] | None) -> ODataQuery:
    clauses = []
    if user := _field(params, "user", "User"):
        clauses.append(f"userId eq {_quoted(user.lower())}" if is_guid(user) else _starts("userPrincipalName", user))
    if app := _field(params, "app", "Application"):
        clauses.append(f"appId eq {_quoted(app.lower())}" if is_guid(app) else _starts("appDisplayName", app))
    if correlation := _field(params, "correlation", "Correlation ID"):
        clauses.append(f"correlationId eq {_quoted(correlation)}")
    clauses += _time_clauses(params, "createdDateTime")
    return _query(clauses, top, after)


# --- rows as the pages and exports show them ----------------------------------------------------------
def _when(value: str) -> str:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _initiator(record: dict[str, Any]) -> str:
    user, app = record["initiatedBy"].get("user"), record["initiatedBy"].get("app")
    if user:
        return str(user.get("userPrincipalName") or user.get("id") or "")
    if app:
        return str(app.get("displayName") or app.get("appId") or "")
    return ""


def _target_parts(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(str(t.get("type") or ""), str(t.get("displayName") or t.get("userPrincipalName") or ""),
             str(t.get("id") or "-")) for t in record["targetResources"]]


def _targets(record: dict[str, Any]) -> list[str]:
    return [f"{kind}: {name} ({object_id})" for kind, name, object_id in _target_parts(record)]


def _changes(record: dict[str, Any]) -> list[str]:
    return [f"{m['displayName']}: {m['oldValue'] or ''} → {m['newValue'] or ''}"
            for t in record["targetResources"] for m in t["modifiedProperties"]]


def audit_row(event: dict[str, Any]) -> dict[str, Any]:
    record = directory_audit_json(event)
    return {**record, "when": _when(record["activityDateTime"]), "initiator": _initiator(record),
            "targets": _targets(record), "target_parts": _target_parts(record), "changes": _changes(record)}


def error_code(code: int) -> str:
    return f"AADSTS{code}" if code else "0"


def sign_in_row(row: dict[str, Any]) -> dict[str, Any]:
    record = sign_in_json(row)
    code = int(record["status"]["errorCode"] or 0)
    reason = row.get("consent_reason")
    grant = row.get("grant_type") or ""
    return {**record, "when": _when(record["createdDateTime"]), "code": error_code(code),
            "status_text": "Success" if code == 0 else "Failure",
            "request": "/authorize (interactive)" if grant == "authorize" else f"/token ({grant or 'unknown'})",
            "consent_reason": reason, "consent_text": CONSENT_REASONS.get(reason or "", "")}


# --- pages -----------------------------------------------------------------------------------------------
def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items()}


@view
async def audit_logs(request: Request, admin: Admin) -> Response:
    ctx, params = runtime_of(request).ctx, _params(request)
    rows: list[dict[str, Any]] = []
    context: dict[str, Any] = {"target": None, "next_link": None}
    try:
        top, after = _page_size(params), _cursor(request, params)
        search = await run_in_threadpool(audit_search, ctx, admin.tenant.id, params, top, after)
        events, found = await run_in_threadpool(audit.page_directory_audits, ctx, admin.tenant.id, search.query,
                                                search.target.id if search.target else None)
        rows = [audit_row(e) for e in events]
        context.update(target=search.target, next_link=_next_link(request, AUDIT_PATH, params, found.next_after))
    except (BadFilter, ConsentryError) as exc:
        return _failed_search(request, admin, "portal/audit_logs.html", "audit-logs", "Audit logs", params, exc)
    export = urlencode({k: v for k, v in params.items() if k not in ("after", "size") and v})
    return page(request, admin, "portal/audit_logs.html", nav="audit-logs", title="Audit logs", rows=rows,
                params=params, sizes=PAGE_SIZES, export_query=f"?{export}" if export else "",
                first_page=bool(params.get("after")), first_link=_first_link(AUDIT_PATH, params),
                export_limit=EXPORT_LIMIT, **context)


@view
async def sign_in_logs(request: Request, admin: Admin) -> Response:
    ctx, params = runtime_of(request).ctx, _params(request)
    try:
        top, after = _page_size(params), _cursor(request, params)
        query = sign_in_query(params, top, after)
        found_rows, found = await run_in_threadpool(audit.page_sign_ins, ctx, admin.tenant.id, query)
    except (BadFilter, ConsentryError) as exc:
        return _failed_search(request, admin, "portal/sign_in_logs.html", "sign-in-logs", "Sign-in logs", params,
                              exc)
    return page(request, admin, "portal/sign_in_logs.html", nav="sign-in-logs", title="Sign-in logs",
                rows=[sign_in_row(r) for r in found_rows], params=params, sizes=PAGE_SIZES,
                next_link=_next_link(request, SIGN_IN_PATH, params, found.next_after),
                first_page=bool(params.get("after")), first_link=_first_link(SIGN_IN_PATH, params))


def _failed_search(request: Request, admin: Admin, template: str, nav: str, title: str, params: dict[str, str],
                   exc: Exception) -> Response:
    """The page with its filters as typed, no rows, and what to correct (400)."""
    message = exc.message if isinstance(exc, ConsentryError) else str(exc)
    return page(request, admin, template, status=400, nav=nav, title=title, rows=[], params=params,
                sizes=PAGE_SIZES, error=message, target=None, next_link=None, first_page=False, first_link="",
                export_query="", export_limit=EXPORT_LIMIT)


# --- exports ---------------------------------------------------------------------------------------------
def _all_events(ctx: ServiceContext, tenant_id: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """Every matching record, newest first, up to EXPORT_LIMIT."""
    search = audit_search(ctx, tenant_id, params, EXPORT_BATCH, None)
    target_id = search.target.id if search.target else None
    events: list[dict[str, Any]] = []
    after: tuple[Any, ...] | None = None
    while len(events) < EXPORT_LIMIT:
        query = replace(search.query, top=min(EXPORT_BATCH, EXPORT_LIMIT - len(events)), after=after)
        found, page_info = audit.page_directory_audits(ctx, tenant_id, query, target_id)
        events.extend(found)
        after = page_info.next_after
        if after is None:
            break
    return events


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading = + - @ (or tab, CR) would start a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


CSV_COLUMNS = ("Date (UTC)", "Id", "Service", "Category", "Activity", "Result", "Result reason", "Operation type",
               "Initiated by (actor)", "Actor IP address", "Target(s)", "Modified properties", "Correlation ID")


def audit_csv(events: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180: CRLF, fields quoted when they need it
    writer.writerow(CSV_COLUMNS)
    for event in events:
        row = audit_row(event)
        user = row["initiatedBy"].get("user") or {}
        writer.writerow([safe_cell(v) for v in (
            row["when"], row["id"], row["loggedByService"], row["category"], row["activityDisplayName"],
            row["result"], row["resultReason"], row["operationType"], row["initiator"], user.get("ipAddress"),
            "; ".join(row["targets"]), "; ".join(row["changes"]), row["correlationId"])])
    return out.getvalue()


def _download(request: Request, body: str, media_type: str, extension: str, count: int) -> Response:
    stamp = runtime_of(request).clock.now().strftime("%Y-%m-%d")
    headers = {"content-disposition": f'attachment; filename="AuditLogs_{stamp}.{extension}"',
               "cache-control": "no-store", "x-content-type-options": "nosniff",
               "x-consentry-records": str(count)}
    if count >= EXPORT_LIMIT:
        headers["x-consentry-truncated"] = "true"
    return Response(body, media_type=media_type, headers=headers)


async def _export(request: Request, admin: Admin, extension: str) -> Response:
    params = _params(request)
    try:
        events = await run_in_threadpool(_all_events, runtime_of(request).ctx, admin.tenant.id, params)
    except (BadFilter, ConsentryError) as exc:
        return _failed_search(request, admin, "portal/audit_logs.html", "audit-logs", "Audit logs", params, exc)
    if extension == "csv":
        return _download(request, audit_csv(events), "text/csv; charset=utf-8", "csv", len(events))
    body = json.dumps([directory_audit_json(e) for e in events], indent=2, ensure_ascii=False)
    return _download(request, body, "application/json", "json", len(events))


@view
async def export_csv(request: Request, admin: Admin) -> Response:
    return await _export(request, admin, "csv")


@view
async def export_json(request: Request, admin: Admin) -> Response:
    return await _export(request, admin, "json")


def routes() -> list[Route]:
    return [
        Route(AUDIT_PATH, audit_logs, methods=["GET"]),
        Route(f"{AUDIT_PATH}/export.csv", export_csv, methods=["GET"]),
        Route(f"{AUDIT_PATH}/export.json", export_json, methods=["GET"]),
        Route(SIGN_IN_PATH, sign_in_logs, methods=["GET"]),
    ]
