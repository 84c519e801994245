"""The admin consent request workflow's use cases (spec §5.3, §6.6, §7, §11): a user who may not consent
asks for it; reviewers approve, deny or block; Graph and the portal read the requests.

Requests aggregate per app and consent type. ``Static``: the user's sign-in asked for ``.default`` or named
no permission of any resource (OpenID Connect scopes only, or nothing) — approving grants the app's static
list (``requiredResourceAccess``), and the aggregate has no pending scopes. ``Dynamic``: the sign-in named
permissions; each user's request keeps what she asked for, spelt as a token response's ``scope`` does
(OpenID Connect and Microsoft Graph values bare, as in Graph's ``pendingScopes`` examples, others qualified
by the resource's identifier: ``api://…/Read``), and the aggregate's ``pendingScopes`` is the union over
the requests in progress — a scope string that is also a valid admin consent ``scope``.

Each public function is one transaction. Concurrency: submissions for one aggregate are serialized by a
lock (``aggregate_lock_key``, a PostgreSQL advisory lock; SQLite serializes writers anyway), and the
database allows one request in progress per user and aggregate, so a thousand users asking at once make one
aggregate and a thousand requests, and one user asking ten times at once makes one request. A user whose
request is in progress gets it back unchanged: no new work, no mail.

This module is the workflow's public face: it also exports the functions of its parts. Decisions (approve,
deny, block): :mod:`consentry.services.request_decisions`. How requests end, with their audit records and
mails, and :func:`complete_for_app`, the hook of every other admin consent path:
:mod:`consentry.services.request_outcomes`. Expiry and reminders: :mod:`consentry.services.request_due`. The
policy: :mod:`consentry.services.request_policy`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from consentry.domain.apps import ServicePrincipal
from consentry.domain.consent_requests import (
    DYNAMIC,
    IN_PROGRESS,
    NOT_REVIEWED,
    STATIC,
    AppConsentRequest,
    UserConsentRequest,
)
from consentry.domain.directory import Tenant, User
from consentry.domain.ids import new_guid
from consentry.domain.mail import OutgoingMail
from consentry.domain.odata import ODataQuery
from consentry.domain.scopes import GRAPH_APP_ID, OIDC_SCOPES, parse_scope
from consentry.errors import (
    APP_DISABLED,
    GRAPH_NOT_FOUND,
    INVALID_VALUE,
    SCOPE_NOT_FOUND,
    USER_DISABLED,
    ConsentryError,
)
from consentry.mail import messages
from consentry.services import audit, outbox
from consentry.services.audit import Target
from consentry.services.clients import Client, find_client, get_resource
from consentry.services.context import Actor, ServiceContext
from consentry.services.directory import get_tenant
from consentry.services.request_decisions import (
    approve_request,
    block_request,
    deny_request,
    get_aggregate,
    justification_of,
)
from consentry.services.request_due import DueReport, run_due
from consentry.services.request_outcomes import (
    About,
    Mailing,
    aggregate_lock_key,
    complete_for_app,
    describe_scope,
    describe_static,
    expire_requests,
)
from consentry.services.request_policy import (
    get_request_policy,
    read_request_policy,
    snapshot_reviewers,
    update_request_policy,
)
from consentry.store.consent_request_due import DueRequest
from consentry.store.consent_requests import AppRequestFilter
from consentry.store.odata import Page
from consentry.store.uow import TenantScope, Transaction

__all__ = ["AppRequestFilter", "DueReport", "approve_request", "block_request", "complete_for_app",
           "consent_type_for", "deny_request", "find_in_progress", "get_app_request", "get_request_policy",
           "get_user_request", "list_user_requests", "page_app_requests", "page_user_requests",
           "requests_for_reviewer", "run_due", "submit_request", "update_request_policy"]


def _invalid(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


def consent_type_for(scope: str | None) -> str:
    """``Static`` for ``.default`` or a sign-in that names no permission of any resource; else ``Dynamic``."""
    request = parse_scope(scope, required=False)
    return STATIC if request.is_default or not request.items else DYNAMIC


# --- the user's side ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class _Asked:
    """What a sign-in asked for, as a request records it, and as its mails describe it."""

    consent_type: str
    scopes: list[str]  # Dynamic: the scopes, spelt as the module docstring says; Static: none
    permissions: tuple[str, ...]


def _asked(tx: Transaction, tenant: Tenant, client: Client, raw_scope: str) -> _Asked:
    """The consent type and, for Dynamic, the scopes asked for (each checked against its resource)."""
    request = parse_scope(raw_scope, required=False)
    if request.is_default or not request.items:
        return _Asked(STATIC, [], describe_static(tx.tenant(tenant.id), client.app))
    values = {v: "" for v in OIDC_SCOPES if v in request.oidc}
    loaded: dict[str, ServicePrincipal] = {}
    for resource_name in request.resources:
        resource = get_resource(tx, tenant, resource_name)
        loaded[resource.app_id] = resource
        for value in request.values_for(resource_name):
            found = resource.scope_by_value(value)
            if found is None or not found.is_enabled:
                raise ConsentryError(SCOPE_NOT_FOUND, app_name=client.display_name, scope=value,
                                     resource=resource.display_name)
            spelt = found.value if resource.app_id == GRAPH_APP_ID else f"{resource.primary_identifier}/{found.value}"
            values.setdefault(spelt, describe_scope(resource, found))
    if request.oidc:
        graph = loaded.get(GRAPH_APP_ID) or get_resource(tx, tenant, GRAPH_APP_ID)
        for value in OIDC_SCOPES:
            found = graph.scope_by_value(value)
            if value in values and found is not None:
                values[value] = describe_scope(graph, found)
    return _Asked(DYNAMIC, list(values), tuple(dict.fromkeys(v or k for k, v in values.items())))


def find_in_progress(ctx: ServiceContext, tenant_id: str, app_id: str, user_id: str,
                     consent_type: str) -> UserConsentRequest | None:
    """The user's request in progress for this app and consent type, if any (one past its expiry time, which
    the job has not reached yet, counts as expired)."""
    now = ctx.clock.now()
    with ctx.uow.read() as tx:
        requests = tx.tenant(tenant_id).requests
        aggregate = requests.find_app_request_for(app_id.lower(), consent_type)
        found = requests.find_in_progress(aggregate.id, user_id) if aggregate else None
        return found if found is not None and found.expires_at > now else None


def _requester(scope: TenantScope, user_id: str) -> User:
    user = scope.directory.find_user(user_id)
    if user is None or not user.account_enabled:
        raise ConsentryError(USER_DISABLED)
    return user


def _ensure_not_blocked(sp: ServicePrincipal | None, client: Client) -> None:
    """A disabled (blocked) app takes no requests: its sign-ins fail with AADSTS7000112."""
    if sp is not None and not sp.account_enabled:
        raise ConsentryError(APP_DISABLED, app_id=client.app_id, app_name=client.display_name)


def submit_request(ctx: ServiceContext, tenant_id: str, app_id: str, user_id: str, scope: str, justification: str,
                   actor: Actor) -> UserConsentRequest:
    """A user asks for admin consent to what her sign-in asked for (``scope``), with her justification.
    Returns her request: a new one, or the one already in progress for this app and consent type."""
    reason = justification_of(justification)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tenant = get_tenant(tx, tenant_id)
        tenant_scope = tx.tenant(tenant.id)
        policy = read_request_policy(tenant_scope)
        if not policy.is_enabled:
            raise _invalid("Admin consent requests are turned off in this organization.")
        user = _requester(tenant_scope, user_id)
        client = find_client(tx, tenant, app_id)
        _ensure_not_blocked(client.sp, client)
        asked = _asked(tx, tenant, client, scope)
        reviewer_ids = snapshot_reviewers(tenant_scope, policy)
        # From here on, no other submission for this aggregate can commit until this transaction ends.
        tx.lock(aggregate_lock_key(tenant.id, client.app_id, asked.consent_type))
        aggregate = tenant_scope.requests.find_app_request_for(client.app_id.lower(), asked.consent_type)
        current = tenant_scope.requests.find_in_progress(aggregate.id, user.id) if aggregate else None
        if current is not None and current.expires_at > now:
            return current
        request_id = new_guid()
        audit.record(tenant_scope, now, actor, "Create request", "Policy", "Add",  # first: see request_outcomes
                     [Target(request_id, "Other", client.display_name),
                      Target(user.id, "User", user.display_name, user.user_principal_name)],
                     details={"AppId": client.app_id, "ConsentType": asked.consent_type},
                     logged_by_service=audit.ACCESS_REVIEWS)
        # Again, now that no block can commit before this transaction ends.
        _ensure_not_blocked(tenant_scope.apps.find_service_principal_by_app_id(client.app_id), client)
        if aggregate is None:
            aggregate = AppConsentRequest(new_guid(), tenant.id, client.app_id.lower(), client.display_name[:256],
                                          asked.consent_type, (), now)
            tenant_scope.requests.add_app_request(aggregate)
        elif current is not None:
            _expire_overdue(tx, tenant_scope, aggregate, user.id, now, ctx.settings.base_url)
        request = UserConsentRequest(
            id=request_id, app_request_id=aggregate.id, tenant_id=tenant.id, user_id=user.id,
            user_display_name=user.display_name[:256], user_principal_name=user.user_principal_name,
            user_mail=user.mail, reason=reason, status=IN_PROGRESS, created_at=now, expires_at=now + policy.duration,
            review_result=NOT_REVIEWED, reviewer_ids=reviewer_ids, scopes=tuple(asked.scopes))
        tenant_scope.requests.add_user_request(request)
        if asked.consent_type == DYNAMIC:
            pending = list(dict.fromkeys([*aggregate.pending_scopes, *asked.scopes]))
            tenant_scope.requests.set_pending_scopes(aggregate.id, pending)
        _mail_submission(tx, tenant, policy.notify_reviewers, request, About.aggregate(aggregate, asked.scopes),
                         asked.permissions, now, ctx.settings.base_url)
        return request


def _mail_submission(tx: Transaction, tenant: Tenant, notify_reviewers: bool, request: UserConsentRequest,
                     about: About, permissions: tuple[str, ...], now: datetime, base_url: str) -> None:
    mailing = Mailing(tx, base_url).knowing(tenant, about, permissions)
    facts = mailing.facts(request, about)
    mails: list[OutgoingMail] = Mailing.to_requester(request, facts, messages.SUBMITTED)
    if notify_reviewers:
        mails += mailing.to_reviewers(tx.tenant(tenant.id), request.id, request.reviewer_ids, facts, messages.REVIEW)
    outbox.enqueue(tx.tenant(tenant.id), mails, now)


def _expire_overdue(tx: Transaction, scope: TenantScope, aggregate: AppConsentRequest, user_id: str, now: datetime,
                    base_url: str) -> None:
    """The user's request in progress whose time ran out before the job got to it expires now, so that
    she may ask again."""
    overdue = scope.requests.find_in_progress(aggregate.id, user_id)
    if overdue is not None:
        expire_requests(tx, [DueRequest(overdue, aggregate.app_id, aggregate.app_display_name,
                                        aggregate.consent_type)], now, base_url=base_url)


# --- reading, for Graph and the portal -------------------------------------------------------------------
def get_app_request(ctx: ServiceContext, tenant_id: str, app_request_id: str) -> AppConsentRequest:
    with ctx.uow.read() as tx:
        return get_aggregate(tx.tenant(tenant_id), app_request_id)


def page_app_requests(ctx: ServiceContext, tenant_id: str, query: ODataQuery,
                      filters: AppRequestFilter = AppRequestFilter()) -> tuple[list[AppConsentRequest], Page]:
    """One page of the tenant's aggregates (``$filter`` on ``id``, ``appId``, ``appDisplayName``,
    ``consentType`` and ``userConsentRequests/any(u: u/status eq '…')``; ``$orderby`` ``createdDateTime``
    (the default, newest first), ``appDisplayName`` or ``appId``), narrowed by the portal's filters."""
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).requests.page_app_requests(query, filters)


def requests_for_reviewer(ctx: ServiceContext, tenant_id: str, reviewer_id: str,
                          query: ODataQuery) -> tuple[list[AppConsentRequest], Page]:
    """``filterByCurrentUser(on='reviewer')`` and the portal's "My pending": aggregates with a request in
    progress whose reviewer snapshot names this user."""
    return page_app_requests(ctx, tenant_id, query, AppRequestFilter(reviewer_id=reviewer_id))


def list_user_requests(ctx: ServiceContext, tenant_id: str, app_request_id: str) -> list[UserConsentRequest]:
    """Every request of an aggregate, oldest first, each with its reviewer snapshot."""
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        aggregate = get_aggregate(scope, app_request_id)
        return scope.requests.list_user_requests(aggregate.id, with_reviewers=True)


def page_user_requests(ctx: ServiceContext, tenant_id: str, app_request_id: str, query: ODataQuery, *,
                       reviewer_id: str | None = None) -> tuple[list[UserConsentRequest], Page]:
    """One page of an aggregate's requests, newest first (``$filter`` on ``id``, ``status``, ``reason``);
    with ``reviewer_id``, those whose snapshot names that reviewer (``assignedToMe``)."""
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        aggregate = get_aggregate(scope, app_request_id)
        return scope.requests.page_user_requests(aggregate.id, query, reviewer_id=reviewer_id)


def get_user_request(ctx: ServiceContext, tenant_id: str, app_request_id: str,
                     user_request_id: str) -> UserConsentRequest:
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        aggregate = get_aggregate(scope, app_request_id)
        found = scope.requests.find_user_request(user_request_id.lower(), with_reviewers=True) \
            if isinstance(user_request_id, str) else None
        if found is None or found.app_request_id != aggregate.id:
            raise ConsentryError(GRAPH_NOT_FOUND, id=user_request_id)
        return found
