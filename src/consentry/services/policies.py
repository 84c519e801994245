"""The tenant's consent policy (spec §6): who may consent to what.

* ``authorizationPolicy.defaultUserRolePermissions.permissionGrantPoliciesAssigned`` — the policies that
  let every user consent on their own behalf (the "User consent settings" of the portal). A tenant that
  never changed it has Microsoft's current default: the Microsoft-managed recommended policy plus the
  mail-client policy.
* ``permissionGrantPolicies`` — the built-in ``microsoft-*`` policies (read-only) and the tenant's own.
* ``blockUserConsentForRiskyApps`` — risk-based step-up (spec §6.5), on unless the tenant turns it off.
"""

from __future__ import annotations

from dataclasses import dataclass

from consentry.domain.consent_policy import (
    DEFAULT_USER_CONSENT_SETTING,
    USER_CONSENT_SETTINGS,
    PermissionGrantPolicy,
    builtin_policies,
    role_policy_ids,
    self_policy_ids,
    with_self_policies,
)
from consentry.services.cache import cached
from consentry.services.context import ServiceContext
from consentry.store.uow import TenantScope, Transaction

# Microsoft's default list for a new tenant: the recommended self-consent policies plus the entries for
# resource-specific consent by team and chat owners, which Consentry keeps but does not act on.
OWNED_RESOURCE_DEFAULTS = (
    "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-team",
    "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-chat",
)
DEFAULT_ASSIGNED = with_self_policies(OWNED_RESOURCE_DEFAULTS, USER_CONSENT_SETTINGS[DEFAULT_USER_CONSENT_SETTING])


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
