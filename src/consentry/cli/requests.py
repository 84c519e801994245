"""``consentry requests``: the admin consent request workflow from the command line (spec §6.6, §7).

- ``requests settings show|set``: the tenant's ``adminConsentRequestPolicy`` (on or off, e-mail to reviewers,
  reminders, days before a request expires, and the reviewers: users, groups, directory roles);
- ``requests list`` and ``requests show``: the requests, aggregated per app and consent type as Graph shows them,
  with who asked and why, and what was decided;
- ``requests approve|deny|block``: a reviewer's decision, taken as the user named by ``--as`` with the rules the
  portal and ``/consentry/v1`` apply (:mod:`consentry.services.request_decisions`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from consentry.cli._common import (
    AsJson,
    DataDir,
    Db,
    TenantRef,
    command,
    iso,
    open_runtime,
    print_json,
    print_table,
    resolve_tenant_id,
)
from consentry.domain.consent_requests import (
    APPROVED,
    BLOCKED,
    DENIED,
    EXPIRED,
    IN_PROGRESS,
    AppConsentRequest,
    RequestPolicy,
    Reviewer,
    UserConsentRequest,
    group_reviewer,
    role_reviewer,
    user_reviewer,
)
from consentry.domain.directory import ROLE_TEMPLATES, User, find_role_template
from consentry.domain.ids import is_guid
from consentry.domain.odata import MAX_TOP, ODataQuery
from consentry.errors import GRAPH_FORBIDDEN, GRAPH_NOT_FOUND, INVALID_VALUE, ConsentryError
from consentry.services import consent_requests as service
from consentry.services import directory
from consentry.services.consent_requests import AppRequestFilter
from consentry.services.context import CLI, Actor, ServiceContext

requests_cli = typer.Typer(no_args_is_help=True, help=(
    "Admin consent requests: the workflow's settings, the requests, and reviewers' decisions."))
settings_cli = typer.Typer(no_args_is_help=True, help=(
    "Admin consent request settings of a tenant (Graph's adminConsentRequestPolicy)."))
requests_cli.add_typer(settings_cli, name="settings")

# --status -> what the aggregates are filtered by (the portal's "All" tab filter).
STATUS_FILTERS = {"pending": AppRequestFilter(status=IN_PROGRESS), "approved": AppRequestFilter(outcome=APPROVED),
                  "denied": AppRequestFilter(outcome=DENIED), "blocked": AppRequestFilter(outcome=BLOCKED),
                  "expired": AppRequestFilter(status=EXPIRED)}
UserOption = Annotated[list[str] | None, typer.Option(
    "--reviewer-user", help="A user who reviews, by userPrincipalName or id (repeatable).", show_default=False)]
GroupOption = Annotated[list[str] | None, typer.Option(
    "--reviewer-group", help="A group whose members review, by id (repeatable).", show_default=False)]
RoleOption = Annotated[list[str] | None, typer.Option(
    "--reviewer-role", help="A directory role whose holders review, by name, e.g. 'Global Administrator' "
                            "(repeatable).", show_default=False)]
RequestId = Annotated[str, typer.Argument(metavar="ID", help="The request's id (Graph's appConsentRequest id).")]
AsUser = Annotated[str, typer.Option("--as", help="The reviewer who decides, by userPrincipalName or id.")]


def _invalid(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


def _quoted(text: str | None) -> str:
    """User-written text, on one line and unambiguous (line breaks and quotes escaped)."""
    return json.dumps(text or "", ensure_ascii=False)


# --- settings -------------------------------------------------------------------------------------------------
def _reviewer_name(ctx: ServiceContext, tenant_id: str, reviewer: Reviewer) -> str:
    target = reviewer.target_id or ""
    try:
        if reviewer.kind == "user":
            return directory.find_user(ctx, tenant_id, target).user_principal_name
        if reviewer.kind == "group":
            return directory.find_group(ctx, tenant_id, target).display_name
    except ConsentryError:
        return "(no longer exists)"
    role = ROLE_TEMPLATES.get(target)
    return role.display_name if role else "(unknown)"


def _policy_json(ctx: ServiceContext, tenant_id: str, policy: RequestPolicy) -> dict[str, Any]:
    return {"tenantId": tenant_id, "isEnabled": policy.is_enabled, "notifyReviewers": policy.notify_reviewers,
            "remindersEnabled": policy.reminders_enabled, "requestDurationInDays": policy.request_duration_in_days,
            "version": policy.version,
            "reviewers": [{"query": r.query, "queryType": r.query_type, "queryRoot": r.query_root, "kind": r.kind,
                           "name": _reviewer_name(ctx, tenant_id, r)} for r in policy.reviewers]}


def _print_policy(shown: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(shown)
        return
    typer.echo(f"Tenant:                  {shown['tenantId']}")
    for name in ("isEnabled", "notifyReviewers", "remindersEnabled"):
        typer.echo(f"{name + ':':<25}{str(shown[name]).lower()}")
    typer.echo(f"requestDurationInDays:   {shown['requestDurationInDays']}")
    typer.echo(f"version:                 {shown['version']}")
    typer.echo("reviewers:" + ("               (none)" if not shown["reviewers"] else ""))
    for reviewer in shown["reviewers"]:
        typer.echo(f"  {reviewer['kind'] or '?':<6}{reviewer['name']}  ({reviewer['query']})")


@command(settings_cli, "show")
def settings_show(tenant: TenantRef, db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Show whether users may request admin consent, who reviews, and how long requests last."""
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        shown = _policy_json(rt.ctx, tenant_id, service.get_request_policy(rt.ctx, tenant_id))
    _print_policy(shown, as_json)


def _user(ctx: ServiceContext, tenant_id: str, id_or_upn: str) -> User:
    try:
        return directory.find_user(ctx, tenant_id, id_or_upn.strip())
    except ConsentryError as exc:
        if exc.entry is GRAPH_NOT_FOUND:
            raise _invalid(f"No user '{id_or_upn[:200]}' in this tenant.") from exc
        raise


def _role_id(name: str) -> str:
    role = find_role_template(name.strip())
    if role is None:
        known = ", ".join(sorted(r.display_name for r in ROLE_TEMPLATES.values()))
        raise _invalid(f"No directory role '{name[:100]}'. Roles: {known}.")
    return role.id


def _reviewers(ctx: ServiceContext, tenant_id: str, users: list[str], groups: list[str],
               roles: list[str]) -> tuple[Reviewer, ...]:
    out = [user_reviewer(_user(ctx, tenant_id, u).id) for u in users]
    for group in groups:
        if not is_guid(group.strip()):
            raise _invalid(f"--reviewer-group takes a group's id (a GUID), not '{group[:100]}'.")
        out.append(group_reviewer(group.strip().lower()))
    out += [role_reviewer(_role_id(r)) for r in roles]
    return tuple(out)


@command(settings_cli, "set")
def settings_set(
        tenant: TenantRef,
        enable: Annotated[bool | None, typer.Option(
            "--enable/--disable", show_default=False,
            help="Users can request admin consent to apps they are unable to consent to.")] = None,
        notify: Annotated[bool | None, typer.Option(
            "--notify/--no-notify", show_default=False, help="Reviewers receive e-mail for new requests.")] = None,
        reminders: Annotated[bool | None, typer.Option(
            "--reminders/--no-reminders", show_default=False,
            help="Reviewers receive reminders before requests expire.")] = None,
        duration: Annotated[int | None, typer.Option(
            "--duration", metavar="DAYS", show_default=False, help="Days before a request expires (1-30).")] = None,
        reviewer_user: UserOption = None, reviewer_group: GroupOption = None, reviewer_role: RoleOption = None,
        db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Change the admin consent request settings; what is not given is kept. Any --reviewer-* option replaces
    the whole list of reviewers. The workflow cannot be on without reviewers."""
    changes: dict[str, Any] = {name: value for name, value in (
        ("is_enabled", enable), ("notify_reviewers", notify), ("reminders_enabled", reminders),
        ("request_duration_in_days", duration)) if value is not None}
    users, groups, roles = list(reviewer_user or ()), list(reviewer_group or ()), list(reviewer_role or ())
    if not changes and not (users or groups or roles):
        raise _invalid("Nothing to change: give --enable/--disable, --notify/--no-notify, "
                       "--reminders/--no-reminders, --duration or --reviewer-user/--reviewer-group/--reviewer-role.")
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        if users or groups or roles:
            changes["reviewers"] = _reviewers(rt.ctx, tenant_id, users, groups, roles)
        policy = service.update_request_policy(rt.ctx, tenant_id, CLI, **changes)
        shown = _policy_json(rt.ctx, tenant_id, policy)
    _print_policy(shown, as_json)


# --- the requests ---------------------------------------------------------------------------------------------
def _all_app_requests(ctx: ServiceContext, tenant_id: str, filters: AppRequestFilter) -> list[AppConsentRequest]:
    out: list[AppConsentRequest] = []
    after = None
    while True:
        items, page = service.page_app_requests(ctx, tenant_id, ODataQuery(top=MAX_TOP, after=after), filters)
        out += items
        after = page.next_after
        if after is None:
            return out


def _user_request_json(r: UserConsentRequest) -> dict[str, Any]:
    reviewed = None if r.reviewed_by_id is None else {
        "id": r.reviewed_by_id, "userPrincipalName": r.reviewed_by_upn, "displayName": r.reviewed_by_name}
    return {"id": r.id, "status": r.status, "outcome": r.outcome, "reviewResult": r.review_result,
            "reason": r.reason, "createdDateTime": iso(r.created_at), "expiresDateTime": iso(r.expires_at),
            "completedDateTime": iso(r.completed_at),
            "createdBy": {"id": r.user_id, "userPrincipalName": r.user_principal_name,
                          "displayName": r.user_display_name},
            "reviewedBy": reviewed, "reviewedDateTime": iso(r.reviewed_at), "justification": r.review_justification,
            "reviewerIds": list(r.reviewer_ids)}


def _app_request_json(a: AppConsentRequest, requests: list[UserConsentRequest]) -> dict[str, Any]:
    return {"id": a.id, "appId": a.app_id, "appDisplayName": a.app_display_name, "consentType": a.consent_type,
            "pendingScopes": list(a.pending_scopes), "createdDateTime": iso(a.created_at),
            "pending": sum(1 for r in requests if r.status == IN_PROGRESS), "requests": len(requests),
            "userConsentRequests": [_user_request_json(r) for r in requests]}


@command(requests_cli, "list")
def list_requests(
        tenant: TenantRef,
        status: Annotated[str | None, typer.Option(
            "--status", show_default=False,
            help="Only requests with a user request that is pending, approved, denied, blocked or expired.")] = None,
        db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """List the admin consent requests of a tenant (one per app and consent type), newest first."""
    filters = AppRequestFilter()
    if status is not None:
        if status.strip().lower() not in STATUS_FILTERS:
            raise _invalid(f"--status must be one of {', '.join(STATUS_FILTERS)}, not '{status[:50]}'.")
        filters = STATUS_FILTERS[status.strip().lower()]
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        shown = [_app_request_json(a, service.list_user_requests(rt.ctx, tenant_id, a.id))
                 for a in _all_app_requests(rt.ctx, tenant_id, filters)]
    if as_json:
        print_json([{k: v for k, v in item.items() if k != "userConsentRequests"} for item in shown])
        return
    if not shown:
        typer.echo("No admin consent requests.")
        return
    print_table(["ID", "APP", "APP ID", "TYPE", "PENDING", "REQUESTS", "CREATED"],
                [[i["id"], i["appDisplayName"], i["appId"], i["consentType"], i["pending"], i["requests"],
                  i["createdDateTime"]] for i in shown])


def _not_found_in_tenant(exc: ConsentryError, app_request_id: str) -> ConsentryError:
    if exc.entry is GRAPH_NOT_FOUND:
        return _invalid(f"No admin consent request '{app_request_id[:100]}' in this tenant.")
    return exc


@command(requests_cli, "show")
def show_request(app_request_id: RequestId, tenant: TenantRef, db: Db = None, data_dir: DataDir = None,
                 as_json: AsJson = False) -> None:
    """Show one request: the app, the pending permissions, who asked and why, and what was decided."""
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        try:
            aggregate = service.get_app_request(rt.ctx, tenant_id, app_request_id.strip())
        except ConsentryError as exc:
            raise _not_found_in_tenant(exc, app_request_id) from exc
        shown = _app_request_json(aggregate, service.list_user_requests(rt.ctx, tenant_id, aggregate.id))
    if as_json:
        print_json(shown)
        return
    typer.echo(f"Request:         {shown['id']}")
    typer.echo(f"App:             {shown['appDisplayName']} ({shown['appId']})")
    typer.echo(f"Consent type:    {shown['consentType']}")
    typer.echo(f"Pending scopes:  {' '.join(shown['pendingScopes']) or '(none)'}")
    typer.echo(f"Created:         {shown['createdDateTime']}")
    typer.echo(f"Requested by ({shown['pending']} pending of {shown['requests']}):")
    for r in shown["userConsentRequests"]:
        typer.echo(f"  {r['createdBy']['userPrincipalName']}  {r['status']}  {r['reviewResult']}  "
                   f"{r['createdDateTime']}  {_quoted(r['reason'])}")
        if r["reviewedBy"] is not None:
            typer.echo(f"    reviewed by {r['reviewedBy']['userPrincipalName'] or r['reviewedBy']['id']} at "
                       f"{r['reviewedDateTime']}: {_quoted(r['justification'])}")


# --- decisions ------------------------------------------------------------------------------------------------
_DONE = {"approve": "Approved", "deny": "Denied", "block": "Blocked"}


def _decide(decision: str, app_request_id: str, tenant: str, reviewer_ref: str, justification: str | None,
            db: str | None, data_dir: Any, as_json: bool) -> None:
    with open_runtime(db, data_dir) as rt:
        tenant_id = resolve_tenant_id(rt.ctx, tenant)
        reviewer = _user(rt.ctx, tenant_id, reviewer_ref)
        actor = Actor("user", id=reviewer.id, name=reviewer.user_principal_name)
        request_id = app_request_id.strip()
        try:
            if decision == "approve":
                closed = service.approve_request(rt.ctx, tenant_id, request_id, reviewer.id, justification, actor)
            else:
                decide = service.deny_request if decision == "deny" else service.block_request
                closed = decide(rt.ctx, tenant_id, request_id, reviewer.id, justification or "", actor)
        except ConsentryError as exc:
            if exc.entry is GRAPH_FORBIDDEN:
                raise _invalid(f"{reviewer.user_principal_name} is not a reviewer of a pending request in "
                               f"'{request_id[:100]}' (reviewers are fixed when a request is made).") from exc
            raise _not_found_in_tenant(exc, request_id) from exc
        aggregate = service.get_app_request(rt.ctx, tenant_id, request_id)
    if as_json:
        print_json({"id": aggregate.id, "appId": aggregate.app_id, "appDisplayName": aggregate.app_display_name,
                    "decision": decision, "reviewer": reviewer.user_principal_name,
                    "completed": [_user_request_json(r) for r in closed]})
        return
    typer.echo(f"{_DONE[decision]} the request for {aggregate.app_display_name} ({aggregate.app_id}) as "
               f"{reviewer.user_principal_name}: {len(closed)} user request(s) completed.")
    for r in closed:
        typer.echo(f"  {r.user_principal_name}")


Justification = Annotated[str | None, typer.Option(
    "--justification", show_default=False, help="Why (required to deny or block; the requesters receive it).")]


@command(requests_cli, "approve")
def approve(app_request_id: RequestId, tenant: TenantRef, as_user: AsUser, justification: Justification = None,
            db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Approve a request as a reviewer: tenant-wide admin consent to what it asks for, and every pending user
    request of it completes. It applies the same rules as the portal and the API: the user must be a reviewer of
    a pending request (reviewers are fixed when a request is made) and hold a role that may grant the
    permissions."""
    _decide("approve", app_request_id, tenant, as_user, justification, db, data_dir, as_json)


@command(requests_cli, "deny")
def deny(app_request_id: RequestId, tenant: TenantRef, as_user: AsUser, justification: Justification = None,
         db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Deny a request as a reviewer (a justification is required): nothing is granted and the requesters may ask
    again. It applies the same rules as the portal and the API: the user must be a reviewer of a pending request
    (reviewers are fixed when a request is made)."""
    _decide("deny", app_request_id, tenant, as_user, justification, db, data_dir, as_json)


@command(requests_cli, "block")
def block(app_request_id: RequestId, tenant: TenantRef, as_user: AsUser, justification: Justification = None,
          db: Db = None, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Block an app as a reviewer (a justification is required): its service principal is disabled, its sign-ins
    fail with AADSTS7000112 and no new request is possible. It applies the same rules as the portal and the API:
    the user must be a reviewer of a pending request (reviewers are fixed when a request is made)."""
    _decide("block", app_request_id, tenant, as_user, justification, db, data_dir, as_json)
