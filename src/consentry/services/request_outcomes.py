"""How admin consent requests end, inside the caller's transaction: approved (by any admin consent path),
denied, blocked or expired — with their audit records (spec §7.7) and the e-mails the outcome sends
(spec §7.6), queued in the same transaction.

:func:`complete_for_app` is the hook every path that grants tenant-wide consent calls (the request's own
approval, the portal's "Grant admin consent", the admin consent URL, Graph, the CLI). This module imports
nothing from :mod:`consentry.services.consent`, so that module can import it.

Lock order (PostgreSQL). Every audit record also updates the one directory-version row, which is held until
commit; so a transaction that changes requests writes an audit record *before* it updates request rows.
Then no transaction holds request rows while waiting for the version row that another holds while waiting
for those rows. The reminder job updates request rows without writing audit records, so it never waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consentry.domain.apps import Application, PermissionScope, ServicePrincipal
from consentry.domain.consent_requests import (
    APPROVE,
    APPROVED,
    BLOCKED,
    COMPLETED,
    DENIED,
    DENY,
    DYNAMIC,
    EXPIRED,
    IN_PROGRESS,
    NOT_REVIEWED,
    STATIC,
    TIMED_OUT,
    AppConsentRequest,
    UserConsentRequest,
)
from consentry.domain.directory import Tenant, User
from consentry.domain.mail import OutgoingMail
from consentry.domain.scopes import GRAPH_RESOURCE
from consentry.mail import messages
from consentry.mail.messages import RequestFacts
from consentry.services import audit, outbox
from consentry.services.apps import find_application_anywhere
from consentry.services.audit import Target
from consentry.services.context import SYSTEM, Actor
from consentry.services.request_coverage import granted_tenant_wide
from consentry.store.consent_request_due import DueRequest, expire
from consentry.store.consent_requests import Closing
from consentry.store.uow import TenantScope, Transaction

APPROVAL_JUSTIFICATION = "Admin consent granted."
# Who "reviewed" a request nobody decided on (Graph's approvalStage example shows this id for system actions).
SYSTEM_REVIEWER_ID = "00000001-0000-0000-c000-000000000000"
PORTAL_PATH = "/portal/consent-requests"


class RequestsChanged(Exception):
    """Requests chosen for a change were changed by another transaction first: roll back and choose again."""


def aggregate_lock_key(tenant_id: str, app_id: str, consent_type: str) -> str:
    """The lock that serializes submissions to one aggregate (and decisions on it, against them)."""
    return f"consent-request/{tenant_id}/{app_id.lower()}/{consent_type}"


def request_link(base_url: str, app_request_id: str) -> str:
    return f"{base_url.rstrip('/')}{PORTAL_PATH}/{app_request_id}"


def event_key(user_request_id: str, event: str, recipient_role: str, reviewer_id: str | None = None) -> str:
    """The outbox key of one message: the request, what happened, and to whom (one message per key, ever)."""
    key = f"consent-request/{user_request_id}/{event}/{recipient_role}"
    return f"{key}/{reviewer_id}" if reviewer_id else key


# --- what the mails say -------------------------------------------------------------------------------
def describe_scope(resource: ServicePrincipal, scope: PermissionScope) -> str:
    return f"{scope.value} ({resource.display_name}): {scope.admin_consent_display_name}"


def describe_static(scope: TenantScope, app: Application) -> tuple[str, ...]:
    """The app's static list (``requiredResourceAccess``), one line per permission."""
    lines: list[str] = []
    for entry in app.required_resource_access:
        resource = scope.apps.find_service_principal_by_app_id(entry.resource_app_id)
        if resource is None:
            continue
        for access in entry.resource_access:
            if access.type == "Scope":
                found = next((s for s in resource.scopes if s.id == access.id), None)
                if found is not None:
                    lines.append(describe_scope(resource, found))
            elif (role := resource.role_by_id(access.id)) is not None:
                lines.append(f"{role.value or role.id} ({resource.display_name}, application permission): "
                             f"{role.display_name}")
    return tuple(dict.fromkeys(lines))


def describe_permissions(tx: Transaction, tenant_id: str, app_id: str, consent_type: str,
                         scopes: Sequence[str]) -> tuple[str, ...]:
    """The permissions a request is about, one line each: the app's static list (``Static``), or the scopes
    asked for (``Dynamic``), named as the resource publishes them."""
    scope = tx.tenant(tenant_id)
    if consent_type == STATIC:
        app = find_application_anywhere(tx, app_id)
        return describe_static(scope, app) if app is not None else ()
    lines: list[str] = []
    for value in scopes:
        resource_name, _, permission = value.rpartition("/")
        resource = scope.apps.find_service_principal_by_name(resource_name or GRAPH_RESOURCE)
        found = resource.scope_by_value(permission) if resource else None
        lines.append(describe_scope(resource, found) if resource is not None and found is not None else value)
    return tuple(dict.fromkeys(lines))


@dataclass(frozen=True, slots=True)
class About:
    """What a request's mails need to know about its aggregate."""

    app_request_id: str
    app_id: str
    app_name: str
    consent_type: str
    scopes: tuple[str, ...]  # the dynamic scopes asked for; empty for Static

    @classmethod
    def aggregate(cls, request: AppConsentRequest, scopes: Sequence[str] | None = None) -> About:
        return cls(request.id, request.app_id, request.app_display_name, request.consent_type,
                   tuple(request.pending_scopes if scopes is None else scopes))

    @classmethod
    def due(cls, due: DueRequest) -> About:
        return cls(due.request.app_request_id, due.app_id, due.app_display_name, due.consent_type,
                   due.request.scopes)


class Mailing:
    """Builds the workflow's mails inside one transaction, reading each app's permissions and each tenant's
    name once."""

    def __init__(self, tx: Transaction, base_url: str) -> None:
        self.tx = tx
        self.base_url = base_url
        self._organizations: dict[str, str] = {}
        self._permissions: dict[tuple[str, str, str, tuple[str, ...]], tuple[str, ...]] = {}
        self._contacts: dict[str, tuple[str, str | None, bool] | None] = {}  # user ids are unique everywhere

    def knowing(self, tenant: Tenant, about: About, permissions: tuple[str, ...]) -> Mailing:
        """Take what the caller already read instead of reading it again."""
        self._organizations[tenant.id] = tenant.display_name
        self._permissions[(tenant.id, about.app_id, about.consent_type, about.scopes)] = permissions
        return self

    def facts(self, request: UserConsentRequest, about: About) -> RequestFacts:
        tenant_id = request.tenant_id
        if tenant_id not in self._organizations:
            tenant = self.tx.tenants.find(tenant_id)
            self._organizations[tenant_id] = tenant.display_name if tenant else tenant_id
        key = (tenant_id, about.app_id, about.consent_type, about.scopes)
        if key not in self._permissions:
            self._permissions[key] = describe_permissions(self.tx, tenant_id, about.app_id, about.consent_type,
                                                          about.scopes)
        return RequestFacts(
            app_name=about.app_name, app_id=about.app_id, organization=self._organizations[tenant_id],
            requester_name=request.user_display_name, requester_upn=request.user_principal_name,
            reason=request.reason, permissions=self._permissions[key], created_at=request.created_at,
            expires_at=request.expires_at, link=request_link(self.base_url, about.app_request_id),
            request_id=about.app_request_id)

    @staticmethod
    def to_requester(request: UserConsentRequest, facts: RequestFacts, kind: str,
                     justification: str | None = None) -> list[OutgoingMail]:
        if not request.user_mail:
            return []
        return [messages.build(kind, facts, recipient=request.user_mail, justification=justification,
                               event_key=event_key(request.id, kind, "requester"))]

    def to_reviewers(self, scope: TenantScope, request_id: str, reviewer_ids: Iterable[str], facts: RequestFacts,
                     kind: str) -> list[OutgoingMail]:
        """One message to each reviewer of the snapshot who still exists, is enabled and has an address."""
        ids = sorted(set(reviewer_ids))
        missing = [rid for rid in ids if rid not in self._contacts]
        if missing:
            found = scope.requests.list_contacts(missing)
            self._contacts.update({rid: found.get(rid) for rid in missing})
        out = []
        for rid in ids:
            contact = self._contacts[rid]
            if contact is not None and contact[1] and contact[2]:
                out.append(messages.build(kind, facts, recipient=contact[1],
                                          event_key=event_key(request_id, kind, "reviewer", rid)))
        return out

def _request_targets(request: UserConsentRequest, app_name: str) -> list[Target]:
    return [Target(request.id, "Other", app_name),
            Target(request.user_id, "User", request.user_display_name, request.user_principal_name)]


# --- decisions on an aggregate --------------------------------------------------------------------------
_DECISIONS = {  # outcome -> (aggregate activity, per-request activity, review result, requester mail)
    APPROVED: ("Approve all requests in business flow", "Request approved", APPROVE, messages.APPROVED),
    DENIED: ("Deny all requests in business flow", "Request denied", DENY, messages.DENIED),
    BLOCKED: ("Deny all requests in business flow", "Request denied", DENY, messages.BLOCKED),
}

def close_aggregates(tx: Transaction, tenant_id: str, aggregates: Sequence[AppConsentRequest], outcome: str,
                     reviewer: User | None, justification: str, now: datetime, actor: Actor, *,
                     base_url: str) -> list[UserConsentRequest]:
    """Complete every request in progress of these aggregates with this outcome (``approved``, ``denied`` or
    ``blocked``), audit it, and tell each requester. Returns the requests this call completed."""
    scope = tx.tenant(tenant_id)
    activity, per_request, review_result, mail_kind = _DECISIONS[outcome]
    pending = {a.id: scope.requests.list_user_requests(a.id, status=IN_PROGRESS) for a in aggregates}
    open_aggregates = [a for a in aggregates if pending[a.id]]
    if not open_aggregates:
        return []
    for aggregate in open_aggregates:  # first, so the version row is held before any request row (see above)
        audit.record(scope, now, actor, activity, "UserManagement", "Update",
                     [Target(aggregate.id, "Other", aggregate.app_display_name)],
                     details={"AppId": aggregate.app_id, "ConsentType": aggregate.consent_type, "Outcome": outcome,
                              "Requests": str(len(pending[aggregate.id]))}, logged_by_service=audit.ACCESS_REVIEWS)
    closing = Closing(COMPLETED, outcome, review_result, now, justification,
                      reviewer.id if reviewer else SYSTEM_REVIEWER_ID, reviewer.display_name if reviewer else "",
                      reviewer.user_principal_name if reviewer else "")
    closed = scope.requests.close_pending([a.id for a in open_aggregates], closing)
    by_id = {a.id: a for a in open_aggregates}
    mailing, mails, records = Mailing(tx, base_url), [], []
    for request in closed:
        aggregate = by_id[request.app_request_id]
        records.append(audit.entry(now, actor, per_request, "UserManagement", "Update",
                                   _request_targets(request, aggregate.app_display_name),
                                   details={"AppId": aggregate.app_id, "Outcome": outcome},
                                   logged_by_service=audit.ACCESS_REVIEWS))
        facts = mailing.facts(request, About.aggregate(aggregate))
        mails += Mailing.to_requester(request, facts, mail_kind, None if outcome == APPROVED else justification)
    audit.record_all(scope, records)
    for aggregate in open_aggregates:
        if aggregate.consent_type == DYNAMIC:
            scope.requests.set_pending_scopes(aggregate.id, scope.requests.union_of_pending_scopes(aggregate.id))
    outbox.enqueue(scope, mails, now)
    return closed


def complete_for_app(tx: Transaction, tenant_id: str, app_id: str, reviewer_id: str | None, now: datetime,
                     actor: Actor, *, base_url: str,
                     justification: str = APPROVAL_JUSTIFICATION) -> list[UserConsentRequest]:
    """Admin consent was granted for this app in this tenant, in the caller's transaction: the requests in
    progress of each of its aggregates (Static, Dynamic) whose permissions are now all granted tenant-wide
    (:func:`~consentry.services.request_coverage.granted_tenant_wide`) are completed as approved, with audit
    records, and each requester is told. ``reviewer_id`` is the administrator who granted (None: the
    system). Returns the requests completed (none: nothing was pending or covered, and nothing was written)."""
    scope = tx.tenant(tenant_id)
    aggregates = [a for a in scope.requests.list_app_requests_for(app_id.lower())
                  if scope.requests.list_pending_ids([a.id]) and granted_tenant_wide(tx, scope, a)]
    reviewer = scope.directory.find_user(reviewer_id) if reviewer_id else None
    return close_aggregates(tx, tenant_id, aggregates, APPROVED, reviewer, justification, now, actor,
                            base_url=base_url)


# --- expiry ---------------------------------------------------------------------------------------------
def expire_requests(tx: Transaction, due: Sequence[DueRequest], now: datetime, *,
                    base_url: str) -> list[UserConsentRequest]:
    """Expire these requests (all still in progress, or :class:`RequestsChanged` is raised and the caller's
    transaction must roll back): audit each, recompute the pending scopes of their dynamic aggregates, and
    mail the requester and — when the tenant's policy notifies reviewers — the snapshotted reviewers."""
    if not due:
        return []
    records: dict[str, list[dict[str, Any]]] = {}
    for item in due:
        request = item.request
        records.setdefault(request.tenant_id, []).append(audit.entry(
            now, SYSTEM, "Request expired", "UserManagement", "Update",
            _request_targets(request, item.app_display_name), details={"AppId": item.app_id, "Outcome": TIMED_OUT},
            logged_by_service=audit.ACCESS_REVIEWS))
    for tenant_id, entries in sorted(records.items()):  # audit first: see the module's note on lock order
        audit.record_all(tx.tenant(tenant_id), entries)
    closing = Closing(EXPIRED, TIMED_OUT, NOT_REVIEWED, now, None, None, None, None)
    expired = {r.id: r for r in expire(tx.conn, [d.request.id for d in due], closing)}
    if len(expired) != len(due):
        raise RequestsChanged
    _send_expiry_mails(tx, due, expired, now, base_url)
    for tenant_id, app_request_id in sorted({(d.request.tenant_id, d.request.app_request_id)
                                             for d in due if d.consent_type == DYNAMIC}):
        requests = tx.tenant(tenant_id).requests
        requests.set_pending_scopes(app_request_id, requests.union_of_pending_scopes(app_request_id))
    return list(expired.values())


def _send_expiry_mails(tx: Transaction, due: Sequence[DueRequest], expired: dict[str, UserConsentRequest],
                       now: datetime, base_url: str) -> None:
    mailing = Mailing(tx, base_url)
    by_tenant: dict[str, list[DueRequest]] = {}
    for item in due:
        by_tenant.setdefault(item.request.tenant_id, []).append(item)
    for tenant_id, items in by_tenant.items():
        scope = tx.tenant(tenant_id)
        policy = scope.requests.find_policy()
        snapshots = scope.requests.reviewer_ids_of([i.request.id for i in items]) if policy and \
            policy.notify_reviewers else {}
        mails: list[OutgoingMail] = []
        for item in items:
            request = expired[item.request.id]
            facts = mailing.facts(request, About.due(item))
            mails += Mailing.to_requester(request, facts, messages.EXPIRED)
            mails += mailing.to_reviewers(scope, request.id, snapshots.get(request.id, ()), facts,
                                          messages.EXPIRED_FOR_REVIEWER)
        outbox.enqueue(scope, mails, now)
