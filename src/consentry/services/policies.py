"""The tenant's consent policy (spec §6): who may consent to what, and the changes an administrator makes.

* ``authorizationPolicy.defaultUserRolePermissions.permissionGrantPoliciesAssigned`` — the policies that
  let every user consent on their own behalf (the "User consent settings" of the portal). A tenant that
  never changed it has Microsoft's current default: the Microsoft-managed recommended policy plus the
  mail-client policy.
* ``permissionGrantPolicies`` — the built-in ``microsoft-*`` policies (read-only) and the tenant's own
  (managed in :mod:`consentry.services.grant_policies`).
* ``blockUserConsentForRiskyApps`` — risk-based step-up (spec §6.5), on unless the tenant turns it off.
  Entra keeps it in the "Consent Policy Settings" directory setting; Graph v1.0 shows its inverse as
  ``authorizationPolicy.allowUserConsentForRiskyApps``.

Every change is one transaction with an "Update authorization policy" audit record (category ``Policy``,
spec §9), which also moves the directory version on, so :func:`consent_settings` reloads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from consentry.domain.apps import Application
from consentry.domain.consent_policy import (
    DEFAULT_USER_CONSENT_SETTING,
    POLICY_ID_PATTERN,
    SELF_PREFIX,
    USER_CONSENT_SETTINGS,
    PermissionGrantPolicy,
    builtin_policies,
    role_policy_ids,
    self_policy_ids,
    user_consent_setting,
    with_self_policies,
)
from consentry.domain.directory import GLOBAL_ADMINISTRATOR, GLOBAL_READER, PRIVILEGED_ROLE_ADMINISTRATOR
from consentry.errors import INVALID_VALUE, ConsentryError
from consentry.services import audit, authz
from consentry.services.apps import find_application_anywhere
from consentry.services.audit import Target
from consentry.services.cache import cached
from consentry.services.context import Actor, ServiceContext
from consentry.store.policies import StoredSettings
from consentry.store.uow import TenantScope, Transaction

# Microsoft's default list for a new tenant: the recommended self-consent policies plus the entries for
# resource-specific consent by team and chat owners, which Consentry keeps but does not act on.
OWNED_RESOURCE_DEFAULTS = (
    "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-team",
    "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-chat",
)
DEFAULT_ASSIGNED = with_self_policies(OWNED_RESOURCE_DEFAULTS, USER_CONSENT_SETTINGS[DEFAULT_USER_CONSENT_SETTING])
MAX_ASSIGNED_ENTRIES = 50
MAX_ASSIGNED_ENTRY_LENGTH = 1024
CUSTOM_SETTING = "custom"
AUTHORIZATION_POLICY_ID = "authorizationPolicy"
AUTHORIZATION_POLICY_NAME = "Authorization Policy"

# Graph: reading needs Policy.Read.All and, delegated, Global Reader or Privileged Role Administrator (or
# Global Administrator); changing needs Policy.ReadWrite.Authorization and, delegated, Privileged Role
# Administrator or Global Administrator (authorizationpolicy-get.md, authorizationpolicy-update.md).
_READ = "Policy.Read.All Policy.ReadWrite.Authorization"
READ_AUTHORIZATION_POLICY = authz.Operation(
    "read the authorization policy", frozenset(_READ.split()), frozenset(_READ.split()),
    frozenset({GLOBAL_ADMINISTRATOR.id, PRIVILEGED_ROLE_ADMINISTRATOR.id, GLOBAL_READER.id}))
WRITE_AUTHORIZATION_POLICY = authz.Operation(
    "update the authorization policy", frozenset({"Policy.ReadWrite.Authorization"}),
    frozenset({"Policy.ReadWrite.Authorization"}), authz.ROLE_ADMINS)


@dataclass(frozen=True, slots=True)
class ConsentSettings:
    """Everything the consent decision needs to know about a tenant's policy."""

    tenant_id: str
    permission_grant_policies_assigned: tuple[str, ...]
    block_user_consent_for_risky_apps: bool
    policies: tuple[PermissionGrantPolicy, ...]  # built-in and custom, by id

    def find_policies(self, policy_ids: tuple[str, ...]) -> tuple[PermissionGrantPolicy, ...]:
        """The named policies that exist (ids compared case-insensitively; unknown ids grant nothing)."""
        wanted = {pid.lower() for pid in policy_ids}
        return tuple(p for p in self.policies if p.id.lower() in wanted)

    @property
    def self_policies(self) -> tuple[PermissionGrantPolicy, ...]:
        return self.find_policies(self_policy_ids(self.permission_grant_policies_assigned))

    @property
    def user_consent_enabled(self) -> bool:
        return bool(self_policy_ids(self.permission_grant_policies_assigned))

    @property
    def user_consent(self) -> str:
        """The portal option: ``none``, ``low``, ``legacy``, ``recommended`` or ``custom``."""
        return user_consent_setting(self.permission_grant_policies_assigned)

    def role_policies(self, role_template_ids: frozenset[str]) -> tuple[PermissionGrantPolicy, ...]:
        """The tenant-wide consent policies (``managePermissionGrantsForAll``) of the user's roles."""
        return self.find_policies(role_policy_ids(role_template_ids))


def read_consent_settings(scope: TenantScope) -> ConsentSettings:
    stored = scope.policies.find_settings()
    assigned = DEFAULT_ASSIGNED if stored is None or stored.permission_grant_policies_assigned is None \
        else stored.permission_grant_policies_assigned
    block_risky = True if stored is None else stored.block_user_consent_for_risky_apps
    policies = (*builtin_policies(scope.tenant_id), *scope.policies.list_policies())
    return ConsentSettings(scope.tenant_id, tuple(assigned), block_risky, policies)


def consent_settings(ctx: ServiceContext, tenant_id: str) -> ConsentSettings:
    """The tenant's consent settings, cached until the directory next changes."""
    def load(tx: Transaction) -> ConsentSettings:
        return read_consent_settings(tx.tenant(tenant_id))

    return cached(ctx, ("consent_settings", tenant_id), load)


# --- changes -----------------------------------------------------------------------------------------
def _bad(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


def validate_assigned(entries: Sequence[object], policy_ids: Sequence[str]) -> tuple[str, ...]:
    """``permissionGrantPoliciesAssigned`` as given, checked: at most 50 strings of at most 1024 characters,
    each ``ManagePermissionGrantsForSelf.{id}`` (prefix in any casing) naming a policy that exists; other
    entries (owned-resource consent, developer consent) are kept as they are. Duplicates (compared
    case-insensitively) are dropped."""
    if isinstance(entries, str) or len(entries) > MAX_ASSIGNED_ENTRIES:
        raise _bad(f"permissionGrantPoliciesAssigned must be a list of at most {MAX_ASSIGNED_ENTRIES} strings.")
    known = {pid.lower() for pid in policy_ids}
    kept: dict[str, str] = {}
    for entry in entries:
        if (not isinstance(entry, str) or not entry.strip() or len(entry) > MAX_ASSIGNED_ENTRY_LENGTH
                or any(ord(c) < 32 for c in entry)):
            raise _bad("Each entry of permissionGrantPoliciesAssigned must be a non-empty string of at most "
                       f"{MAX_ASSIGNED_ENTRY_LENGTH} characters.")
        if entry.lower().startswith(SELF_PREFIX):
            policy_id = entry[len(SELF_PREFIX):]
            if not POLICY_ID_PATTERN.fullmatch(policy_id) or policy_id.lower() not in known:
                raise _bad(f"No permission grant policy '{policy_id[:128]}' exists in this tenant "
                           f"(permissionGrantPoliciesAssigned entry '{entry[:200]}'): name a built-in or custom "
                           "policy.")
        kept.setdefault(entry.lower(), entry)
    return tuple(kept.values())


def _effective(stored: StoredSettings | None) -> tuple[tuple[str, ...], bool]:
    if stored is None:
        return DEFAULT_ASSIGNED, True
    assigned = DEFAULT_ASSIGNED if stored.permission_grant_policies_assigned is None \
        else stored.permission_grant_policies_assigned
    return tuple(assigned), stored.block_user_consent_for_risky_apps


Change = Callable[[tuple[str, ...], bool], tuple[Sequence[str], bool]]


def _change(ctx: ServiceContext, tenant_id: str, actor: Actor, change: Change) -> ConsentSettings:
    """Apply ``change(assigned, block_risky)`` in one transaction; audited when anything changed."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.lock(f"consent-policy:{tenant_id}")
        scope = tx.tenant(tenant_id)
        old_assigned, old_block = _effective(scope.policies.find_settings())
        policy_ids = [p.id for p in (*builtin_policies(tenant_id), *scope.policies.list_policies())]
        wanted, block = change(old_assigned, old_block)
        assigned = validate_assigned(wanted, policy_ids)
        if (assigned, block) != (old_assigned, old_block):
            scope.policies.save_settings(StoredSettings(assigned, block), now)
            _audit_update(scope, now, actor, (old_assigned, old_block), (assigned, block))
        return read_consent_settings(scope)


def _audit_update(scope: TenantScope, now: datetime, actor: Actor, old: tuple[tuple[str, ...], bool],
                  new: tuple[tuple[str, ...], bool]) -> None:
    modified: dict[str, tuple[object, object]] = {}
    if old[0] != new[0]:
        modified["DefaultUserRolePermissions.PermissionGrantPoliciesAssigned"] = (list(old[0]), list(new[0]))
    if old[1] != new[1]:
        modified["BlockUserConsentForRiskyApps"] = (old[1], new[1])
    audit.record(scope, now, actor, "Update authorization policy", "Policy", "Update",
                 [Target(AUTHORIZATION_POLICY_ID, "Policy", AUTHORIZATION_POLICY_NAME, modified=modified)])


def get_consent_settings(ctx: ServiceContext, tenant_id: str) -> ConsentSettings:
    """The tenant's settings, read now (not from the cache)."""
    with ctx.uow.read() as tx:
        return read_consent_settings(tx.tenant(tenant_id))


def update_authorization_policy(ctx: ServiceContext, tenant_id: str, actor: Actor, *,
                                permission_grant_policies_assigned: Sequence[str] | None = None,
                                block_user_consent_for_risky_apps: bool | None = None) -> ConsentSettings:
    """Graph's PATCH: ``permissionGrantPoliciesAssigned`` replaces the whole list (as Graph does); None
    leaves a value as it is."""
    def change(assigned: tuple[str, ...], block: bool) -> tuple[Sequence[str], bool]:
        return (assigned if permission_grant_policies_assigned is None else permission_grant_policies_assigned,
                block if block_user_consent_for_risky_apps is None else block_user_consent_for_risky_apps)

    return _change(ctx, tenant_id, actor, change)


def self_consent_policy_ids(setting: str, custom_policy_ids: Sequence[str] = ()) -> tuple[str, ...]:
    """The self-consent policy ids of a portal option (spec §6.1), with custom ids after them."""
    name = setting.strip().lower()
    if name not in (*USER_CONSENT_SETTINGS, CUSTOM_SETTING):
        raise _bad(f"Unknown user consent setting '{setting[:50]}': use none, low, legacy, recommended or custom.")
    if name == "none" and custom_policy_ids:
        raise _bad("User consent 'none' cannot be combined with custom policies.")
    if name == CUSTOM_SETTING and not custom_policy_ids:
        raise _bad("User consent 'custom' needs at least one permission grant policy id.")
    return tuple(dict.fromkeys((*USER_CONSENT_SETTINGS.get(name, ()), *custom_policy_ids)))


def set_user_consent(ctx: ServiceContext, tenant_id: str, setting: str, actor: Actor,
                     custom_policy_ids: Sequence[str] = (), *,
                     block_risky_apps: bool | None = None) -> ConsentSettings:
    """Choose one of the portal's user consent options (``none``, ``low``, ``legacy``, ``recommended``), or
    ``custom`` policies, keeping the entries that are not about self-consent; optionally, in the same
    change, turn risk-based step-up on or off."""
    policy_ids = self_consent_policy_ids(setting, custom_policy_ids)

    def change(assigned: tuple[str, ...], block: bool) -> tuple[Sequence[str], bool]:
        return with_self_policies(assigned, policy_ids), block if block_risky_apps is None else block_risky_apps

    return _change(ctx, tenant_id, actor, change)


def set_block_risky_apps(ctx: ServiceContext, tenant_id: str, block: bool, actor: Actor) -> ConsentSettings:
    """Turn risk-based step-up consent (spec §6.5) on or off."""
    return _change(ctx, tenant_id, actor, lambda assigned, _: (assigned, block))


def find_consent_application(ctx: ServiceContext, app_id: str) -> Application | None:
    """The application a consent link names: one of Microsoft's built-ins, or a registration in its home
    tenant (None when there is no such appId)."""
    with ctx.uow.read() as tx:
        return find_application_anywhere(tx, app_id)


def initialize_user_consent(ctx: ServiceContext, tenant_id: str, setting: str, actor: Actor) -> bool:
    """Store a user consent option for a tenant that has never stored one (so an administrator's later
    choice survives); True when it was stored now."""
    policy_ids = self_consent_policy_ids(setting)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.lock(f"consent-policy:{tenant_id}")
        scope = tx.tenant(tenant_id)
        stored = scope.policies.find_settings()
        if stored is not None and stored.permission_grant_policies_assigned is not None:
            return False
        old = _effective(stored)
        new = (with_self_policies(OWNED_RESOURCE_DEFAULTS, policy_ids), old[1])
        scope.policies.save_settings(StoredSettings(*new), now)
        _audit_update(scope, now, actor, old, new)
        return True
