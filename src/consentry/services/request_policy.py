"""The tenant's admin consent request policy (``adminConsentRequestPolicy``, spec §6.6): whether users may
ask for admin consent, who reviews, whether reviewers are e-mailed and reminded, and how long a request
lives; and the reviewer snapshot a new request takes from it.

Rules: ``requestDurationInDays`` is 1–30 (30 when the workflow is first turned on without one; 0, as a
never-configured policy shows, only while the workflow is off); reviewers are users, groups
(``transitiveMembers``) and directory roles (``roleAssignments?$filter=roleDefinitionId eq '…'``) of this
tenant, at most ``MAX_REVIEWERS``; the workflow cannot be on without reviewers. ``version`` moves on with
every change, and every change is one transaction with its audit record (spec §7.7): turning the workflow
on is "Create governance policy template", turning it off "Delete governance policy template", any other
change "Update governance policy template". Changes take effect at once: nothing caches the policy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from consentry.domain.consent_requests import (
    DEFAULT_DURATION_DAYS,
    MAX_DURATION_DAYS,
    MAX_REVIEWERS,
    MIN_DURATION_DAYS,
    RequestPolicy,
    Reviewer,
)
from consentry.domain.directory import ROLE_TEMPLATES
from consentry.errors import INVALID_VALUE, ConsentryError
from consentry.services import audit
from consentry.services.audit import Target
from consentry.services.context import Actor, ServiceContext
from consentry.store.uow import TenantScope

POLICY_NAME = "Admin consent request policy"
# The policy's properties: Python name -> the name Graph (and the audit record) gives it.
PROPERTIES = {"is_enabled": "isEnabled", "notify_reviewers": "notifyReviewers",
              "reminders_enabled": "remindersEnabled", "request_duration_in_days": "requestDurationInDays",
              "reviewers": "reviewers"}
MICROSOFT_GRAPH_QUERY = "MicrosoftGraph"


def _invalid(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


def read_request_policy(scope: TenantScope) -> RequestPolicy:
    """The policy inside the caller's transaction (a never-configured one as Graph shows it)."""
    return scope.requests.find_policy() or RequestPolicy()


def get_request_policy(ctx: ServiceContext, tenant_id: str) -> RequestPolicy:
    with ctx.uow.read() as tx:
        return read_request_policy(tx.tenant(tenant_id))


def _validate_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(f"The property '{PROPERTIES[name]}' must be true or false.")
    return value


def _validate_duration(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid("The property 'requestDurationInDays' must be a whole number of days.")
    if value != 0 and not MIN_DURATION_DAYS <= value <= MAX_DURATION_DAYS:
        raise _invalid(f"Requests must expire after {MIN_DURATION_DAYS} to {MAX_DURATION_DAYS} days.")
    return value


def validate_reviewers(scope: TenantScope, reviewers: Sequence[Reviewer]) -> tuple[Reviewer, ...]:
    """Known query shapes naming a user, group or directory role of this tenant; duplicates dropped."""
    out: dict[tuple[str, str], Reviewer] = {}
    for reviewer in reviewers:
        query = reviewer.query.strip() if isinstance(reviewer.query, str) else ""
        if (reviewer.query_type or MICROSOFT_GRAPH_QUERY) != MICROSOFT_GRAPH_QUERY:
            raise _invalid(f"Reviewer queries must have queryType '{MICROSOFT_GRAPH_QUERY}'.")
        if reviewer.query_root:
            raise _invalid("Reviewer queries of the admin consent request policy have no queryRoot.")
        cleaned = Reviewer(query, MICROSOFT_GRAPH_QUERY, None)
        kind, target = cleaned.kind, cleaned.target_id
        if kind is None or target is None:
            raise _invalid(f"The reviewer query '{query[:200]}' is not a user, group or directory role query.")
        exists = (scope.directory.find_user(target) if kind == "user"
                  else scope.directory.find_group(target) if kind == "group"
                  else ROLE_TEMPLATES.get(target))
        if exists is None:
            raise _invalid(f"The reviewer {kind} '{target}' does not exist in this tenant.")
        out.setdefault((kind, target), cleaned)
    if len(out) > MAX_REVIEWERS:
        raise _invalid(f"At most {MAX_REVIEWERS} reviewers may be selected.")
    return tuple(out.values())


def _changed_policy(scope: TenantScope, current: RequestPolicy, changes: dict[str, Any]) -> RequestPolicy:
    unknown = set(changes) - set(PROPERTIES)
    if unknown:
        raise ValueError(f"not a request policy property: {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "reviewers":
            values[name] = validate_reviewers(scope, list(value or ()))
        elif name == "request_duration_in_days":
            values[name] = _validate_duration(value)
        else:
            values[name] = _validate_flag(name, value)
    policy = dataclasses.replace(current, **values)
    if policy.is_enabled and policy.request_duration_in_days == 0:
        if "request_duration_in_days" in changes:
            raise _invalid(f"Requests must expire after {MIN_DURATION_DAYS} to {MAX_DURATION_DAYS} days.")
        policy = dataclasses.replace(policy, request_duration_in_days=DEFAULT_DURATION_DAYS)
    if policy.is_enabled and not policy.reviewers:
        raise _invalid("Select at least one reviewer (a user, group or role) before turning on admin consent "
                       "requests.")
    return policy


def _audit_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [r.query for r in value]
    return value


def update_request_policy(ctx: ServiceContext, tenant_id: str, actor: Actor, **changes: Any) -> RequestPolicy:
    """Change some properties (``is_enabled``, ``notify_reviewers``, ``reminders_enabled``,
    ``request_duration_in_days``, ``reviewers``); what does not change is kept. A call that changes
    nothing writes nothing and keeps the version."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.lock(f"request-policy/{tenant_id}")
        scope = tx.tenant(tenant_id)
        current = read_request_policy(scope)
        policy = _changed_policy(scope, current, changes)
        modified = {PROPERTIES[name]: (_audit_value(getattr(current, name)), _audit_value(getattr(policy, name)))
                    for name in PROPERTIES if getattr(current, name) != getattr(policy, name)}
        if not modified:
            return current
        policy = dataclasses.replace(policy, version=current.version + 1)
        if policy.is_enabled != current.is_enabled:
            activity, operation = (("Create governance policy template", "Add") if policy.is_enabled
                                   else ("Delete governance policy template", "Delete"))
        else:
            activity, operation = "Update governance policy template", "Update"
        audit.record(scope, now, actor, activity, "UserManagement", operation,
                     [Target(tenant_id, "Policy", POLICY_NAME, modified=modified)],
                     details={"Version": str(policy.version)}, logged_by_service=audit.ACCESS_REVIEWS)
        scope.requests.save_policy(policy, now)
        return policy


def snapshot_reviewers(scope: TenantScope, policy: RequestPolicy) -> tuple[str, ...]:
    """The users who review a request made now: the named users, the groups' members and the roles'
    holders, each once (spec §6.6: later changes to the policy or to memberships do not change it)."""
    wanted: dict[str, list[str]] = {"user": [], "group": [], "role": []}
    for reviewer in policy.reviewers:
        if reviewer.kind is not None and reviewer.target_id is not None:
            wanted[reviewer.kind].append(reviewer.target_id)
    return tuple(scope.requests.expand_reviewers(wanted["user"], wanted["group"], wanted["role"]))
