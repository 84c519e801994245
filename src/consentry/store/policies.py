"""A tenant's consent policy: its authorization policy settings and its custom permission grant policies.
The built-in ``microsoft-*`` policies are not stored; :mod:`consentry.domain.consent_policy` defines them.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from consentry.domain.consent_policy import ConditionSet, PermissionGrantPolicy
from consentry.store.tables import permission_grant_policies, tenant_policies

_p = permission_grant_policies


@dataclasses.dataclass(frozen=True, slots=True)
class StoredSettings:
    permission_grant_policies_assigned: tuple[str, ...] | None  # None: never set (Microsoft's default applies)
    block_user_consent_for_risky_apps: bool


def condition_set_to_json(cs: ConditionSet) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cs).items()}


def condition_set_from_json(raw: dict[str, Any]) -> ConditionSet:
    names = {f.name for f in dataclasses.fields(ConditionSet)}
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in names}
    return ConditionSet(**values)


def _policy(row: Any) -> PermissionGrantPolicy:
    return PermissionGrantPolicy(row.id, row.display_name, row.description,
                                 tuple(condition_set_from_json(r) for r in row.includes),
                                 tuple(condition_set_from_json(r) for r in row.excludes))


class PolicyRepository:
    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    # --- authorization policy settings ---------------------------------------------------------
    def find_settings(self) -> StoredSettings | None:
        row = self.conn.execute(select(tenant_policies).where(tenant_policies.c.tenant_id == self.tenant_id)).first()
        if row is None:
            return None
        assigned = row.permission_grant_policies_assigned
        return StoredSettings(None if assigned is None else tuple(assigned), row.block_user_consent_for_risky_apps)

    def save_settings(self, settings: StoredSettings, now: datetime) -> None:
        values = dict(permission_grant_policies_assigned=None if settings.permission_grant_policies_assigned is None
                      else list(settings.permission_grant_policies_assigned),
                      block_user_consent_for_risky_apps=settings.block_user_consent_for_risky_apps, modified_at=now)
        updated = self.conn.execute(update(tenant_policies).where(tenant_policies.c.tenant_id == self.tenant_id)
                                    .values(**values)).rowcount
        if not updated:
            self.conn.execute(insert(tenant_policies).values(tenant_id=self.tenant_id, **values))

    # --- custom permission grant policies ------------------------------------------------------
    def list_policies(self) -> list[PermissionGrantPolicy]:
        rows = self.conn.execute(select(_p).where(_p.c.tenant_id == self.tenant_id).order_by(_p.c.id))
        return [_policy(r) for r in rows]

    def find_policy(self, policy_id: str) -> PermissionGrantPolicy | None:
        row = self.conn.execute(select(_p).where(_p.c.tenant_id == self.tenant_id, _p.c.id == policy_id)).first()
        return _policy(row) if row else None

    def count_policies(self) -> int:
        return len(self.conn.execute(select(_p.c.id).where(_p.c.tenant_id == self.tenant_id)).all())

    def add_policy(self, policy: PermissionGrantPolicy, now: datetime) -> None:
        self.conn.execute(insert(_p).values(
            tenant_id=self.tenant_id, id=policy.id, display_name=policy.display_name, description=policy.description,
            includes=[condition_set_to_json(c) for c in policy.includes],
            excludes=[condition_set_to_json(c) for c in policy.excludes], created_at=now, modified_at=now))

    def update_policy(self, policy: PermissionGrantPolicy, now: datetime) -> None:
        self.conn.execute(update(_p).where(_p.c.tenant_id == self.tenant_id, _p.c.id == policy.id).values(
            display_name=policy.display_name, description=policy.description,
            includes=[condition_set_to_json(c) for c in policy.includes],
            excludes=[condition_set_to_json(c) for c in policy.excludes], modified_at=now))

    def remove_policy(self, policy_id: str) -> None:
        self.conn.execute(delete(_p).where(_p.c.tenant_id == self.tenant_id, _p.c.id == policy_id))
