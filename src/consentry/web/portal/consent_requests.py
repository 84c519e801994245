"""Enterprise applications → Admin consent requests (spec §6.6, §7.3): the requests, in the tabs "My pending"
(requests in progress whose reviewer snapshot names the signed-in administrator) and "All" (with a status
filter), keyset-paged; and "Admin consent settings" (the tenant's ``adminConsentRequestPolicy``: whether users
may ask, who reviews, e-mail notifications and reminders, and when requests expire).

Only a Global Administrator may change the settings, as Graph's ``PUT /policies/adminConsentRequestPolicy``
requires; every other portal role sees them read-only. One request's pages and the reviewer's decisions are
in :mod:`.consent_request_pages`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consentry.domain.consent_requests import (
    APPROVED,
    BLOCKED,
    DEFAULT_DURATION_DAYS,
    DENIED,
    EXPIRED,
    IN_PROGRESS,
    MAX_DURATION_DAYS,
    MAX_REVIEWERS,
    MIN_DURATION_DAYS,
    AppConsentRequest,
    RequestPolicy,
    Reviewer,
    group_reviewer,
    role_reviewer,
    user_reviewer,
)
from consentry.domain.directory import (
    APPLICATION_ADMINISTRATOR,
    CLOUD_APPLICATION_ADMINISTRATOR,
    GLOBAL_ADMINISTRATOR,
    PRIVILEGED_ROLE_ADMINISTRATOR,
    ROLE_TEMPLATES,
    Group,
    User,
)
from consentry.domain.ids import is_guid
from consentry.domain.odata import ODataQuery, parse_filter
from consentry.errors import INVALID_VALUE, ConsentryError
from consentry.services import consent_requests, directory
from consentry.services.consent_requests import AppRequestFilter
from consentry.web.http import runtime_of
from consentry.web.portal import consent_request_pages as pages
from consentry.web.portal.base import Admin, actor, done, form_of, page, view
from consentry.web.portal.consent_request_pages import NAV, REQUESTS_PATH, aggregate_status
from consentry.web.portal.enterprise_app_pages import cursor_key, cursor_token

SETTINGS_PATH = REQUESTS_PATH + "/settings"
SETTINGS_NAV = "consent-request-settings"
SETTINGS_ROLES = frozenset({GLOBAL_ADMINISTRATOR.id})
SELECTABLE_ROLES = (GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR, CLOUD_APPLICATION_ADMINISTRATOR,
                    APPLICATION_ADMINISTRATOR)
ROLE_FIELD = "role:"
REMOVE_FIELD = "remove:"
PAGE_SIZE = 25
STATUS_FILTERS = {
    "pending": AppRequestFilter(status=IN_PROGRESS), "approved": AppRequestFilter(outcome=APPROVED),
    "denied": AppRequestFilter(outcome=DENIED), "blocked": AppRequestFilter(outcome=BLOCKED),
    "expired": AppRequestFilter(status=EXPIRED),
}
YES_NO = {"yes": True, "no": False}
_SEPARATORS = re.compile(r"[\s,;]+")


def _bad(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


# --- the list ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RequestRow:
    request: AppConsentRequest
    requested_by: int  # distinct users who asked
    status: str


async def _row(request: Request, admin: Admin, aggregate: AppConsentRequest) -> RequestRow:
    ctx = runtime_of(request).ctx
    users = await run_in_threadpool(consent_requests.list_user_requests, ctx, admin.tenant.id, aggregate.id)
    return RequestRow(aggregate, len({u.user_id for u in users}), aggregate_status(users, ctx.clock.now()))


@view
async def request_list(request: Request, admin: Admin) -> Response:
    params = request.query_params
    tab = "all" if params.get("tab") == "all" else "mine"
    status = params.get("status", "") if tab == "all" and params.get("status") in STATUS_FILTERS else ""
    filters = (AppRequestFilter(reviewer_id=admin.user.id) if tab == "mine"
               else STATUS_FILTERS.get(status, AppRequestFilter()))
    after, invalid = cursor_key(request, params.get("page"))
    if after is not None and len(after) != 2:
        after, invalid = None, True
    fetch = partial(consent_requests.page_app_requests, runtime_of(request).ctx, admin.tenant.id, filters=filters)
    try:
        items, found = await run_in_threadpool(fetch, ODataQuery(top=PAGE_SIZE, after=after))
    except ConsentryError:
        after, invalid = None, True
        items, found = await run_in_threadpool(fetch, ODataQuery(top=PAGE_SIZE))
    kept = {"tab": tab, **({"status": status} if status else {})}
    token = cursor_token(request, found.next_after)
    rows = [await _row(request, admin, a) for a in items]
    return page(request, admin, "portal/cr_list.html", nav=NAV, title="Admin consent requests", tab=tab,
                chosen_status=status, statuses=list(STATUS_FILTERS), rows=rows,
                paged=after is not None, first_link=f"{REQUESTS_PATH}?{urlencode(kept)}",
                next_link=f"{REQUESTS_PATH}?{urlencode({**kept, 'page': token})}" if token else None,
                error="That page link is not valid any more; showing the first page." if invalid else None)


# --- Admin consent settings ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReviewerRow:
    query: str
    kind: str
    name: str
    detail: str


@dataclass(frozen=True, slots=True)
class SettingsForm:
    """The settings form's values: the saved policy's, or what was submitted when it could not be saved."""

    enabled: bool | None
    notify: bool | None
    reminders: bool | None
    days: str
    roles: frozenset[str]
    removed: frozenset[str]
    add_users: str = ""
    add_groups: str = ""

    @classmethod
    def of(cls, policy: RequestPolicy) -> SettingsForm:
        return cls(policy.is_enabled, policy.notify_reviewers, policy.reminders_enabled,
                   str(policy.request_duration_in_days or DEFAULT_DURATION_DAYS),
                   frozenset(r.target_id for r in policy.reviewers if _is_selectable_role(r) and r.target_id),
                   frozenset())

    @classmethod
    def submitted(cls, form: dict[str, str]) -> SettingsForm:
        return cls(YES_NO.get(form.get("is_enabled", "")), YES_NO.get(form.get("notify_reviewers", "")),
                   YES_NO.get(form.get("reminders_enabled", "")), form.get("duration", "").strip()[:10],
                   frozenset(r.id for r in SELECTABLE_ROLES if form.get(ROLE_FIELD + r.id)),
                   frozenset(k[len(REMOVE_FIELD):] for k, v in form.items() if k.startswith(REMOVE_FIELD) and v),
                   form.get("add_users", "")[:4000], form.get("add_groups", "")[:4000])


def _is_selectable_role(reviewer: Reviewer) -> bool:
    return reviewer.kind == "role" and reviewer.target_id in {r.id for r in SELECTABLE_ROLES}


async def _reviewer_row(request: Request, admin: Admin, reviewer: Reviewer) -> ReviewerRow:
    ctx, target = runtime_of(request).ctx, reviewer.target_id or ""
    try:
        if reviewer.kind == "user":
            user = await run_in_threadpool(directory.find_user, ctx, admin.tenant.id, target)
            return ReviewerRow(reviewer.query, "User", user.display_name, user.user_principal_name)
        if reviewer.kind == "group":
            group = await run_in_threadpool(directory.find_group, ctx, admin.tenant.id, target)
            return ReviewerRow(reviewer.query, "Group", group.display_name, group.id)
    except ConsentryError:
        return ReviewerRow(reviewer.query, (reviewer.kind or "").capitalize(), "(deleted)", target)
    if reviewer.kind == "role" and target in ROLE_TEMPLATES:
        return ReviewerRow(reviewer.query, "Role", ROLE_TEMPLATES[target].display_name, target)
    return ReviewerRow(reviewer.query, "Other", reviewer.query, "")


async def _settings_page(request: Request, admin: Admin, policy: RequestPolicy, state: SettingsForm,
                         status: int = 200, error: str | None = None) -> Response:
    listed = [await _reviewer_row(request, admin, r) for r in policy.reviewers if not _is_selectable_role(r)]
    return page(request, admin, "portal/cr_settings.html", status=status, nav=SETTINGS_NAV,
                title="Admin consent settings", policy=policy, state=state, reviewers=listed,
                roles=SELECTABLE_ROLES, role_field=ROLE_FIELD, remove_field=REMOVE_FIELD,
                may_change=admin.may(SETTINGS_ROLES), min_days=MIN_DURATION_DAYS, max_days=MAX_DURATION_DAYS,
                max_reviewers=MAX_REVIEWERS, error=error)


@view
async def settings(request: Request, admin: Admin) -> Response:
    policy = await run_in_threadpool(consent_requests.get_request_policy, runtime_of(request).ctx, admin.tenant.id)
    return await _settings_page(request, admin, policy, SettingsForm.of(policy))


def _flag(value: bool | None, label: str) -> bool:
    if value is None:
        raise _bad(f'Choose Yes or No for "{label}".')
    return value


def _days(text: str) -> int:
    if not text.isdigit() or not MIN_DURATION_DAYS <= int(text) <= MAX_DURATION_DAYS:
        raise _bad(f'"Consent request expires after (days)" must be a whole number from {MIN_DURATION_DAYS} to '
                   f"{MAX_DURATION_DAYS}.")
    return int(text)


async def _user(request: Request, admin: Admin, upn: str) -> User:
    try:
        return await run_in_threadpool(directory.find_user, runtime_of(request).ctx, admin.tenant.id, upn)
    except ConsentryError:
        raise _bad(f"No user '{upn[:120]}' was found in {admin.tenant.display_name}. Enter the user's sign-in name "
                   "(for example alex@contoso.com).") from None


async def _group(request: Request, admin: Admin, text: str) -> Group:
    ctx, tenant_id = runtime_of(request).ctx, admin.tenant.id
    if is_guid(text):
        try:
            return await run_in_threadpool(directory.find_group, ctx, tenant_id, text.lower())
        except ConsentryError:
            pass
    literal = "'" + text.replace("\x00", "").replace("'", "''") + "'"
    try:
        named, _ = await run_in_threadpool(directory.page_groups, ctx, tenant_id, ODataQuery(
            filter=parse_filter(f"displayName eq {literal}"), top=2))
    except ConsentryError:
        named = []
    if len(named) > 1:
        raise _bad(f"Several groups are named '{text[:120]}': enter the object ID of the one you mean.")
    if not named:
        raise _bad(f"No group '{text[:120]}' was found in {admin.tenant.display_name}. Enter the group's name or "
                   "object ID.")
    return named[0]


async def _reviewers(request: Request, admin: Admin, policy: RequestPolicy, state: SettingsForm) -> list[Reviewer]:
    """The reviewers as submitted: those kept, the users and groups added, and the roles chosen."""
    chosen = [r for r in policy.reviewers if not _is_selectable_role(r) and r.query not in state.removed]
    users = [u for u in _SEPARATORS.split(state.add_users) if u]
    groups = [g.strip() for g in re.split(r"[\r\n;]+", state.add_groups) if g.strip()]
    if len(users) + len(groups) > MAX_REVIEWERS:
        raise _bad(f"At most {MAX_REVIEWERS} reviewers may be selected.")
    chosen += [user_reviewer((await _user(request, admin, upn)).id) for upn in users]
    chosen += [group_reviewer((await _group(request, admin, name)).id) for name in groups]
    chosen += [role_reviewer(r.id) for r in SELECTABLE_ROLES if r.id in state.roles]
    return list({r.query: r for r in chosen}.values())


@view
async def save_settings(request: Request, admin: Admin) -> Response:
    form = await form_of(request, admin, SETTINGS_ROLES)
    ctx, tenant_id = runtime_of(request).ctx, admin.tenant.id
    before = await run_in_threadpool(consent_requests.get_request_policy, ctx, tenant_id)
    state = SettingsForm.submitted(form)
    try:
        changes = {
            "is_enabled": _flag(state.enabled, "Users can request admin consent to apps they are unable to consent to"),
            "notify_reviewers": _flag(state.notify, "Selected users will receive email notifications for requests"),
            "reminders_enabled": _flag(state.reminders, "Selected users will receive request expiration reminders"),
            "request_duration_in_days": _days(state.days),
            "reviewers": await _reviewers(request, admin, before, state)}
        after = await run_in_threadpool(partial(consent_requests.update_request_policy, ctx, tenant_id,
                                                actor(request, admin), **changes))
    except ConsentryError as exc:
        return await _settings_page(request, admin, before, state, status=400,
                                    error=f"The settings were not saved. {exc.description}")
    if after.version == before.version:
        return done(request, SETTINGS_PATH, "Nothing to save: the settings were already as chosen.")
    count = len(after.reviewers)
    return done(request, SETTINGS_PATH, f"Admin consent settings saved. Users can request admin consent: "
                                        f"{'Yes' if after.is_enabled else 'No'}; {count} reviewer "
                                        f"entr{'ies' if count != 1 else 'y'}; requests expire after "
                                        f"{after.request_duration_in_days} days.")


def routes() -> list[Route]:
    one = REQUESTS_PATH + "/{request_id}"
    return [
        Route(REQUESTS_PATH, request_list, methods=["GET"]),
        Route(SETTINGS_PATH, settings, methods=["GET"]),
        Route(SETTINGS_PATH, save_settings, methods=["POST"]),
        Route(one, pages.request_page, methods=["GET"]),
        Route(one + "/review", pages.review_page, methods=["GET"]),
        Route(one + "/approve", pages.approve, methods=["POST"]),
        Route(one + "/deny", pages.deny, methods=["POST"]),
        Route(one + "/block", pages.block, methods=["POST"]),
    ]
