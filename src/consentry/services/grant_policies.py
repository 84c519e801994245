"""Permission grant policies (app consent policies, spec §6.3): the built-in ``microsoft-*`` ones, read-only,
and the tenant's own, which administrators create, describe, fill with ``includes`` and ``excludes``
condition sets and delete. Graph: ``/policies/permissionGrantPolicies``.

Rules, from ``permissiongrantpolicy.md`` and ``permissiongrantconditionset.md`` [DOC] unless marked:

* ``id``: required on create, letters, digits, ``-`` and ``_`` only, immutable; the prefix ``microsoft-``
  is reserved for built-ins. Ids are compared case-insensitively [INF], so ``My-Policy`` and ``my-policy``
  cannot both exist.
* a custom condition set's ``permissionType`` is ``delegated`` or ``application``; ``delegatedUserConsentable``
  is for built-in policies only.
* a policy may be created empty and filled afterwards, as Graph allows; a policy without ``includes``
  matches nothing, so assigning it grants nothing.
* across all of the tenant's custom policies and sets, each ID-collection type (``permissions``,
  ``clientApplicationIds``, ``clientApplicationTenantIds``, ``clientApplicationPublisherIds``) holds at most
  100 entries; ``all`` is not counted [INF: the docs do not say].
* built-in policies cannot be changed or deleted: 400 ``Request_BadRequest`` with a message that says so
  [INF: Entra's own status is not documented]. A custom policy still assigned in
  ``permissionGrantPoliciesAssigned`` cannot be deleted either [INF], so user consent never silently
  points at nothing.

Each change is one transaction with an audit record in category ``Policy``: "Add permission grant policy",
"Update permission grant policy" (also for condition sets), "Delete permission grant policy" (spec §9).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from consentry.domain.consent_policy import (
    ALL,
    ANY,
    APPLICATION,
    CLASSIFICATIONS,
    DELEGATED,
    DELEGATED_USER_CONSENTABLE,
    POLICY_ID_PATTERN,
    ConditionSet,
    PermissionGrantPolicy,
    builtin_policies,
    is_builtin_policy_id,
    self_policy_ids,
)
from consentry.domain.ids import is_guid, new_guid
from consentry.errors import CONFLICT, GRAPH_NOT_FOUND, INVALID_VALUE, ConsentryError
from consentry.services import audit, authz
from consentry.services.audit import Target
from consentry.services.context import Actor, ServiceContext
from consentry.services.policies import read_consent_settings
from consentry.store.policies import condition_set_to_json
from consentry.store.uow import TenantScope

INCLUDES, EXCLUDES = "includes", "excludes"
MAX_ID_ENTRIES = 100  # per ID-collection type, across the tenant's custom policies (spec §6.3)
MAX_POLICIES = 200  # custom policies per tenant [INF: a bound of our own]
MAX_CONDITION_SETS = 50  # includes or excludes per policy [INF: a bound of our own]
MAX_DISPLAY_NAME = 256
MAX_DESCRIPTION = 1024
PUBLISHER_ID = re.compile(r"[A-Za-z0-9-]{1,64}")  # Microsoft Partner Network ids are digits
ID_COLLECTIONS = {"permissions": "permissions", "client_application_ids": "clientApplicationIds",
                  "client_application_tenant_ids": "clientApplicationTenantIds",
                  "client_application_publisher_ids": "clientApplicationPublisherIds"}
CONDITION_FIELDS = ("permission_type", "permission_classification", "resource_application",
                    *ID_COLLECTIONS, "client_applications_from_verified_publisher_only")

_READ = "Policy.Read.PermissionGrant Policy.ReadWrite.PermissionGrant Policy.Read.All"
READ_GRANT_POLICIES = authz.Operation("read permission grant policies", frozenset(_READ.split()),
                                      frozenset(_READ.split()), authz.READERS)
WRITE_GRANT_POLICIES = authz.Operation("write permission grant policies",
                                       frozenset({"Policy.ReadWrite.PermissionGrant"}),
                                       frozenset({"Policy.ReadWrite.PermissionGrant"}), authz.ROLE_ADMINS)


@dataclass(frozen=True, slots=True)
class PolicyChanges:
    """What a PATCH changes; None leaves a property as it is."""

    display_name: str | None = None
    description: str | None = None


def _bad(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


# --- validation -------------------------------------------------------------------------------------
def _text(value: object, name: str, max_length: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_length or "\x00" in value:
        raise _bad(f"Invalid value for '{name}': a string of at most {max_length} characters is required.")
    return value


def _choice(value: object, name: str, allowed: Sequence[str], default: str) -> str:
    if value is None:
        return default
    if isinstance(value, str):
        found = next((a for a in allowed if a.lower() == value.lower()), None)
        if found is not None:
            return found
    raise _bad(f"Invalid value for '{name}': use one of {', '.join(allowed)}.")


def _ids(value: object, field: str) -> tuple[str, ...]:
    name = ID_COLLECTIONS[field]
    if value is None:
        return (ALL,)
    if not isinstance(value, list | tuple) or not value or len(value) > MAX_ID_ENTRIES:
        raise _bad(f"Invalid value for '{name}': a list of 1 to {MAX_ID_ENTRIES} ids, or [\"all\"], is required.")
    if any(isinstance(v, str) and v.lower() == ALL for v in value):
        if len(value) != 1:
            raise _bad(f"Invalid value for '{name}': \"all\" cannot be combined with ids.")
        return (ALL,)
    valid = PUBLISHER_ID.fullmatch if field == "client_application_publisher_ids" else is_guid
    if not all(isinstance(v, str) and valid(v) for v in value):
        what = "Partner (MPN) ids" if field == "client_application_publisher_ids" else "GUIDs"
        raise _bad(f"Invalid value for '{name}': {what} or [\"all\"] are required.")
    return tuple(dict.fromkeys(v.lower() for v in value))


def build_condition_set(values: Mapping[str, Any], set_id: str | None = None) -> ConditionSet:
    """A custom policy's condition set from its properties (snake_case names, None or absent for the
    default), checked as the module docstring says."""
    unknown = sorted(set(values) - set(CONDITION_FIELDS))
    if unknown:
        raise _bad(f"Unknown condition set property '{unknown[0]}'.")
    if values.get("permission_type") is None:
        raise _bad("Property 'permissionType' is required: delegated or application.")
    if isinstance(values["permission_type"], str) and values["permission_type"].lower() == \
            DELEGATED_USER_CONSENTABLE.lower():
        raise _bad("permissionType 'delegatedUserConsentable' may be used in built-in policies only.")
    resource = values.get("resource_application")
    if resource is None:
        resource = ANY
    elif not isinstance(resource, str) or not (resource.lower() == ANY or is_guid(resource)):
        raise _bad("Invalid value for 'resourceApplication': the appId (a GUID) of an API, or 'any', is required.")
    verified = values.get("client_applications_from_verified_publisher_only")
    if verified is not None and not isinstance(verified, bool):
        raise _bad("Invalid value for 'clientApplicationsFromVerifiedPublisherOnly': a boolean is required.")
    return ConditionSet(
        id=set_id or new_guid(),
        permission_type=_choice(values["permission_type"], "permissionType", (DELEGATED, APPLICATION), DELEGATED),
        permission_classification=_choice(values.get("permission_classification"), "permissionClassification",
                                          CLASSIFICATIONS, ALL),
        resource_application=resource.lower(),
        permissions=_ids(values.get("permissions"), "permissions"),
        client_application_ids=_ids(values.get("client_application_ids"), "client_application_ids"),
        client_application_tenant_ids=_ids(values.get("client_application_tenant_ids"),
                                           "client_application_tenant_ids"),
        client_application_publisher_ids=_ids(values.get("client_application_publisher_ids"),
                                              "client_application_publisher_ids"),
        client_applications_from_verified_publisher_only=bool(verified))


def _ensure_within_limits(policies: Sequence[PermissionGrantPolicy]) -> None:
    """Spec §6.3: at most 100 entries of each ID-collection type across all custom policies and sets."""
    for field, name in ID_COLLECTIONS.items():
        total = sum(len([v for v in getattr(cs, field) if v != ALL])
                    for p in policies for cs in (*p.includes, *p.excludes))
        if total > MAX_ID_ENTRIES:
            raise _bad(f"The tenant's permission grant policies may hold at most {MAX_ID_ENTRIES} '{name}' "
                       f"entries in total across all condition sets; this change would make {total}.")


def _policy_id(policy_id: object) -> str:
    if not isinstance(policy_id, str) or not POLICY_ID_PATTERN.fullmatch(policy_id):
        raise _bad("Invalid value for 'id': 1 to 128 letters, digits, '-' or '_' are required.")
    if is_builtin_policy_id(policy_id):
        raise _bad("The id prefix 'microsoft-' is reserved for built-in permission grant policies.")
    return policy_id


# --- reading ---------------------------------------------------------------------------------------
def _custom(scope: TenantScope) -> list[PermissionGrantPolicy]:
    return sorted(scope.policies.list_policies(), key=lambda p: p.id.lower())


def _find(scope: TenantScope, policy_id: str) -> PermissionGrantPolicy:
    wanted = policy_id.lower()
    for policy in (*builtin_policies(scope.tenant_id), *_custom(scope)):
        if policy.id.lower() == wanted:
            return policy
    raise ConsentryError(GRAPH_NOT_FOUND, id=policy_id)


def _ensure_custom(policy: PermissionGrantPolicy) -> PermissionGrantPolicy:
    if policy.is_builtin:
        raise _bad(f"The built-in permission grant policy '{policy.id}' is read-only: it cannot be changed or "
                   "deleted. Create a custom policy instead.")
    return policy


def _find_custom(scope: TenantScope, policy_id: str) -> PermissionGrantPolicy:
    return _ensure_custom(_find(scope, policy_id))


def list_policies(ctx: ServiceContext, tenant_id: str) -> list[PermissionGrantPolicy]:
    """The built-in policies, then the tenant's own by id."""
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        return [*builtin_policies(tenant_id), *_custom(scope)]


def get_policy(ctx: ServiceContext, tenant_id: str, policy_id: str) -> PermissionGrantPolicy:
    with ctx.uow.read() as tx:
        return _find(tx.tenant(tenant_id), policy_id)


def condition_sets(policy: PermissionGrantPolicy, kind: str) -> tuple[ConditionSet, ...]:
    if kind not in (INCLUDES, EXCLUDES):
        raise ValueError(kind)
    return policy.includes if kind == INCLUDES else policy.excludes


# --- changes ---------------------------------------------------------------------------------------
def _audit(scope: TenantScope, now: datetime, actor: Actor, activity: str, operation: str,
           policy: PermissionGrantPolicy, modified: dict[str, tuple[Any, Any]]) -> None:
    audit.record(scope, now, actor, activity, "Policy", operation,
                 [Target(policy.id, "Policy", policy.display_name or policy.id, modified=modified)])


def _sets_json(sets: Sequence[ConditionSet]) -> list[dict[str, Any]]:
    return [condition_set_to_json(cs) for cs in sets]


def create_policy(ctx: ServiceContext, tenant_id: str, actor: Actor, *, policy_id: object,
                  display_name: object = None, description: object = None,
                  includes: Sequence[Mapping[str, Any]] = (),
                  excludes: Sequence[Mapping[str, Any]] = ()) -> PermissionGrantPolicy:
    """Create a custom policy, with condition sets if given (409 when the id is taken)."""
    if len(includes) > MAX_CONDITION_SETS or len(excludes) > MAX_CONDITION_SETS:
        raise _bad(f"A permission grant policy holds at most {MAX_CONDITION_SETS} includes and "
                   f"{MAX_CONDITION_SETS} excludes.")
    policy = PermissionGrantPolicy(
        _policy_id(policy_id), _text(display_name, "displayName", MAX_DISPLAY_NAME),
        _text(description, "description", MAX_DESCRIPTION),
        tuple(build_condition_set(v) for v in includes), tuple(build_condition_set(v) for v in excludes))
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.lock(f"consent-policy:{tenant_id}")
        scope = tx.tenant(tenant_id)
        existing = _custom(scope)
        if any(p.id.lower() == policy.id.lower() for p in existing):
            raise ConsentryError(CONFLICT, reason=f"A permission grant policy with id '{policy.id}' already exists.")
        if len(existing) >= MAX_POLICIES:
            raise _bad(f"A tenant may have at most {MAX_POLICIES} custom permission grant policies.")
        _ensure_within_limits([*existing, policy])
        scope.policies.add_policy(policy, now)
        _audit(scope, now, actor, "Add permission grant policy", "Add", policy, {
            "PermissionGrantPolicy.Id": (None, policy.id),
            "PermissionGrantPolicy.DisplayName": (None, policy.display_name),
            "PermissionGrantPolicy.Includes": (None, _sets_json(policy.includes)),
            "PermissionGrantPolicy.Excludes": (None, _sets_json(policy.excludes))})
    return policy


def update_policy(ctx: ServiceContext, tenant_id: str, policy_id: str, actor: Actor,
                  changes: PolicyChanges) -> PermissionGrantPolicy:
    """Change a custom policy's displayName and description."""
    display_name = None if changes.display_name is None else _text(changes.display_name, "displayName",
                                                                   MAX_DISPLAY_NAME)
    description = None if changes.description is None else _text(changes.description, "description",
                                                                  MAX_DESCRIPTION)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.lock(f"consent-policy:{tenant_id}")
        scope = tx.tenant(tenant_id)
        old = _find_custom(scope, policy_id)
        new = replace(old, display_name=old.display_name if display_name is None else display_name,
                      description=old.description if description is None else description)
        modified: dict[str, tuple[Any, Any]] = {}
        if new.display_name != old.display_name:
            modified["PermissionGrantPolicy.DisplayName"] = (old.display_name, new.display_name)
        if new.description != old.description:
            modified["PermissionGrantPolicy.Description"] = (old.description, new.description)
        if modified:
            scope.policies.update_policy(new, now)
            _audit(scope, now, actor, "Update permission grant policy", "Update", new, modified)
    return new


def delete_policy(ctx: ServiceContext, tenant_id: str, policy_id: str, actor: Actor) -> None:
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.lock(f"consent-policy:{tenant_id}")
        scope = tx.tenant(tenant_id)
        policy = _find_custom(scope, policy_id)
        assigned = read_consent_settings(scope).permission_grant_policies_assigned
        if policy.id.lower() in {pid.lower() for pid in self_policy_ids(assigned)}:
            raise _bad(f"The permission grant policy '{policy.id}' is assigned to the default user role "
                       "(authorizationPolicy permissionGrantPoliciesAssigned); remove it there first.")
        scope.policies.remove_policy(policy.id)
        _audit(scope, now, actor, "Delete permission grant policy", "Delete", policy, {
            "PermissionGrantPolicy.Id": (policy.id, None),
            "PermissionGrantPolicy.DisplayName": (policy.display_name, None)})


def _with_sets(policy: PermissionGrantPolicy, kind: str, sets: tuple[ConditionSet, ...]) -> PermissionGrantPolicy:
    return replace(policy, includes=sets) if kind == INCLUDES else replace(policy, excludes=sets)


def add_condition_set(ctx: ServiceContext, tenant_id: str, policy_id: str, kind: str,
                      values: Mapping[str, Any], actor: Actor) -> ConditionSet:
    """Add an ``includes`` or ``excludes`` condition set to a custom policy."""
    if kind not in (INCLUDES, EXCLUDES):
        raise ValueError(kind)
    created = build_condition_set(values)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.lock(f"consent-policy:{tenant_id}")
        scope = tx.tenant(tenant_id)
        old = _find_custom(scope, policy_id)
        sets = condition_sets(old, kind)
        if len(sets) >= MAX_CONDITION_SETS:
            raise _bad(f"A permission grant policy holds at most {MAX_CONDITION_SETS} {kind}.")
        new = _with_sets(old, kind, (*sets, created))
        _ensure_within_limits([new if p.id == old.id else p for p in _custom(scope)])
        scope.policies.update_policy(new, now)
        _audit(scope, now, actor, "Update permission grant policy", "Update", new, {
            f"PermissionGrantPolicy.{kind.capitalize()}": (_sets_json(sets), _sets_json(condition_sets(new, kind)))})
    return created


def remove_condition_set(ctx: ServiceContext, tenant_id: str, policy_id: str, kind: str, set_id: str,
                         actor: Actor) -> None:
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.lock(f"consent-policy:{tenant_id}")
        scope = tx.tenant(tenant_id)
        old = _find(scope, policy_id)
        sets = condition_sets(old, kind)
        if not any(cs.id == set_id.lower() for cs in sets):
            raise ConsentryError(GRAPH_NOT_FOUND, id=set_id)
        _ensure_custom(old)
        new = _with_sets(old, kind, tuple(cs for cs in sets if cs.id != set_id.lower()))
        scope.policies.update_policy(new, now)
        _audit(scope, now, actor, "Update permission grant policy", "Update", new, {
            f"PermissionGrantPolicy.{kind.capitalize()}": (_sets_json(sets), _sets_json(condition_sets(new, kind)))})
