"""The rules that keep a tenant administrable: nobody removes their own Global Administrator role, and no
change leaves the tenant without an enabled user holding it.

The first is Microsoft Graph's own rule ("Removing self from Global Administrator built-in role is not
allowed."). The second is stricter than Entra, which refuses only the caller's own removal: here removing
the role from the last enabled Global Administrator, disabling that user or deleting them is refused
whoever asks. A tenant that has no enabled Global Administrator to begin with is left as it is.

Every change that can take the role away from an enabled user calls :func:`lock` before it reads anything,
so that two such changes in one tenant run one after the other and the second counts what the first left.
"""

from __future__ import annotations

from consentry.domain.directory import GLOBAL_ADMINISTRATOR, RoleAssignment
from consentry.errors import GLOBAL_ADMIN_SELF_REMOVAL, LAST_GLOBAL_ADMIN, ConsentryError
from consentry.services.context import Actor
from consentry.store.uow import TenantScope, Transaction


def lock(tx: Transaction, tenant_id: str) -> None:
    """Serialize this transaction with every other one in the tenant that may remove a Global Administrator."""
    tx.lock(f"global-admins/{tenant_id}")


def ensure_one_remains(scope: TenantScope, user_id: str) -> None:
    """Refuse a change that takes the role from ``user_id`` (removing it, disabling or deleting the user) when
    they are the tenant's only enabled Global Administrator."""
    if scope.directory.list_enabled_role_holders(GLOBAL_ADMINISTRATOR.id) == [user_id]:
        raise ConsentryError(LAST_GLOBAL_ADMIN)


def ensure_removable(scope: TenantScope, actor: Actor, assignment: RoleAssignment) -> None:
    """Refuse removing a Global Administrator assignment that is the actor's own or the last enabled one."""
    if assignment.role_template_id != GLOBAL_ADMINISTRATOR.id:
        return
    if actor.kind == "user" and (actor.id or "").lower() == assignment.principal_id:
        raise ConsentryError(GLOBAL_ADMIN_SELF_REMOVAL)
    ensure_one_remains(scope, assignment.principal_id)
