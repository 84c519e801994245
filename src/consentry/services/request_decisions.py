"""Reviewers decide on an admin consent request (spec §7.4, §7.5): approve (tenant-wide admin consent, then
every pending request of the aggregate completes as approved, and those of the app's other aggregate if the
consent covers what they ask), deny (nothing in the directory changes;
requesters may ask again) or block (the app's service principal is disabled, or created disabled; no more
requests). Only a reviewer named in the snapshot of a request in progress may decide (403 otherwise); to
approve she must also hold a role that may grant all of it (AADSTS90093 otherwise) — deny and block need no
role. Deny and block need a justification, which the requesters receive.

Each decision is one transaction. It takes the lock every consent write takes for the app and the
aggregate's submission lock, so no request is submitted between the check and the decision.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from consentry.domain.apps import ServicePrincipal
from consentry.domain.consent_requests import (
    APPROVED,
    BLOCKED,
    DENIED,
    DYNAMIC,
    AppConsentRequest,
    UserConsentRequest,
    validate_justification,
)
from consentry.domain.directory import User
from consentry.errors import (
    GRAPH_FORBIDDEN,
    GRAPH_NOT_FOUND,
    INVALID_VALUE,
    ConsentryError,
)
from consentry.services import audit, consent
from consentry.services.apps import find_application_anywhere, service_principal_for
from consentry.services.audit import Target
from consentry.services.context import Actor, ServiceContext
from consentry.services.request_outcomes import (
    APPROVAL_JUSTIFICATION,
    aggregate_lock_key,
    close_aggregates,
    complete_for_app,
)
from consentry.store.uow import TenantScope, Transaction


def _invalid(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


def justification_of(text: str) -> str:
    """A requester's or reviewer's justification, validated (400 with the reason otherwise)."""
    try:
        return validate_justification(text if isinstance(text, str) else "")
    except ValueError as exc:
        raise _invalid(str(exc)) from exc


def get_aggregate(scope: TenantScope, app_request_id: str) -> AppConsentRequest:
    aggregate = scope.requests.find_app_request(app_request_id.lower()) if isinstance(app_request_id, str) else None
    if aggregate is None:
        raise ConsentryError(GRAPH_NOT_FOUND, id=app_request_id)
    return aggregate


def _reviewer(scope: TenantScope, aggregate: AppConsentRequest, reviewer_id: str, now: datetime) -> User:
    """The reviewer, if the snapshot of a request in progress of this aggregate names her (403 otherwise)."""
    if not scope.requests.list_pending_ids([aggregate.id]):
        raise _invalid("This request has no pending user requests: it was already reviewed, or it expired.")
    user = scope.directory.find_user(reviewer_id)
    if user is None or not user.account_enabled or \
            not scope.requests.is_reviewer_of_pending([aggregate.id], user.id, now):
        raise ConsentryError(GRAPH_FORBIDDEN)
    return user


def _locked_aggregate(tx: Transaction, tenant_id: str, app_request_id: str) -> tuple[TenantScope, AppConsentRequest]:
    """The aggregate, read again once no submission for it can commit until this transaction ends."""
    scope = tx.tenant(tenant_id)
    aggregate = get_aggregate(scope, app_request_id)
    tx.lock(f"consent/{tenant_id}/{aggregate.app_id.lower()}")  # as every consent write does
    tx.lock(aggregate_lock_key(tenant_id, aggregate.app_id, aggregate.consent_type))
    return scope, get_aggregate(scope, aggregate.id)


def approve_request(ctx: ServiceContext, tenant_id: str, app_request_id: str, reviewer_user_id: str,
                    justification: str | None, actor: Actor) -> list[UserConsentRequest]:
    """A reviewer approves: tenant-wide admin consent to the static list (Static) or the pending scopes
    (Dynamic), merged into what is granted, then every request in progress of the aggregate completes as
    approved. Needs a reviewer of a pending request (403) who may grant all of it (AADSTS90093, spec §7.5).
    ``justification`` is optional: the requests record "Admin consent granted." without one."""
    note = justification_of(justification) if justification else APPROVAL_JUSTIFICATION
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope, aggregate = _locked_aggregate(tx, tenant_id, app_request_id)
        reviewer = _reviewer(scope, aggregate, reviewer_user_id, now)
        wanted = " ".join(aggregate.pending_scopes) if aggregate.consent_type == DYNAMIC else ""
        query = consent.ConsentQuery(tenant_id, aggregate.app_id, reviewer.id, wanted, None, admin_flow=True)
        consent.grant_tenant_wide_in(tx, query, now, actor)
        closed = close_aggregates(tx, tenant_id, [aggregate], APPROVED, reviewer, note, now, actor,
                                  base_url=ctx.settings.base_url)
        # The app's other aggregate completes too if this consent happens to grant all it asks for.
        return closed + complete_for_app(tx, tenant_id, aggregate.app_id, reviewer.id, now, actor,
                                         base_url=ctx.settings.base_url)


def deny_request(ctx: ServiceContext, tenant_id: str, app_request_id: str, reviewer_user_id: str,
                 justification: str, actor: Actor) -> list[UserConsentRequest]:
    """A reviewer denies (any reviewer of a pending request, whatever her roles): every request in progress
    of the aggregate completes as denied; nothing in the directory changes; requesters may ask again."""
    note = justification_of(justification)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope, aggregate = _locked_aggregate(tx, tenant_id, app_request_id)
        reviewer = _reviewer(scope, aggregate, reviewer_user_id, now)
        return close_aggregates(tx, tenant_id, [aggregate], DENIED, reviewer, note, now, actor,
                                base_url=ctx.settings.base_url)


def block_request(ctx: ServiceContext, tenant_id: str, app_request_id: str, reviewer_user_id: str,
                  justification: str, actor: Actor) -> list[UserConsentRequest]:
    """A reviewer blocks: the app's service principal is disabled (created disabled when missing), so its
    sign-ins fail with AADSTS7000112 and no new request is possible; every request in progress for the app
    (both consent types) completes as blocked."""
    note = justification_of(justification)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope, aggregate = _locked_aggregate(tx, tenant_id, app_request_id)
        reviewer = _reviewer(scope, aggregate, reviewer_user_id, now)
        closed = close_aggregates(tx, tenant_id, scope.requests.list_app_requests_for(aggregate.app_id), BLOCKED,
                                  reviewer, note, now, actor, base_url=ctx.settings.base_url)
        _disable_client(tx, scope, aggregate.app_id, now, actor)
        return closed


def _disable_client(tx: Transaction, scope: TenantScope, app_id: str, now: datetime, actor: Actor) -> None:
    sp = scope.apps.find_service_principal_by_app_id(app_id)
    if sp is None:
        app = find_application_anywhere(tx, app_id)
        if app is None:  # the registration is gone: there is nothing to block
            return
        created: ServicePrincipal = dataclasses.replace(service_principal_for(app, scope.tenant_id, now),
                                                        account_enabled=False)
        scope.apps.add_service_principal(created)
        audit.record(scope, now, actor, "Add service principal", "ApplicationManagement", "Add",
                     [Target(created.id, "ServicePrincipal", created.display_name,
                             modified={"AccountEnabled": (None, False), "AppPrincipalId": (None, created.app_id),
                                       "DisplayName": (None, created.display_name)})])
    elif sp.account_enabled:
        scope.apps.update_service_principal(sp.id, account_enabled=False)
        audit.record(scope, now, actor, "Update service principal", "ApplicationManagement", "Update",
                     [Target(sp.id, "ServicePrincipal", sp.display_name, modified={"AccountEnabled": (True, False)})])
