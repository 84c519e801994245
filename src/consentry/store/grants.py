"""Delegated permission grants and app role assignments of one tenant."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from consentry.domain.clock import as_utc
from consentry.domain.grants import AppRoleAssignment, OAuth2PermissionGrant
from consentry.store.tables import app_role_assignments, oauth2_permission_grants

_g = oauth2_permission_grants
_a = app_role_assignments


def _grant(row: Any) -> OAuth2PermissionGrant:
    r = row._mapping
    return OAuth2PermissionGrant(r["id"], r["tenant_id"], r["client_id"], r["consent_type"], r["principal_id"],
                                 r["resource_id"], r["scope"], as_utc(r["created_at"]), as_utc(r["modified_at"]))


def _assignment(row: Any) -> AppRoleAssignment:
    r = row._mapping
    return AppRoleAssignment(r["id"], r["tenant_id"], r["principal_id"], r["principal_type"],
                             r["principal_display_name"], r["resource_id"], r["resource_display_name"],
                             r["app_role_id"], as_utc(r["created_at"]))


class GrantRepository:
    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    # oauth2PermissionGrants
    def add_grant(self, grant: OAuth2PermissionGrant) -> None:
        self.conn.execute(insert(_g).values(
            id=grant.id, tenant_id=self.tenant_id, client_id=grant.client_id, consent_type=grant.consent_type,
            principal_id=grant.principal_id, resource_id=grant.resource_id, scope=grant.scope,
            created_at=grant.created_at, modified_at=grant.modified_at))

    def find_grant(self, grant_id: str) -> OAuth2PermissionGrant | None:
        row = self.conn.execute(select(_g).where(_g.c.tenant_id == self.tenant_id, _g.c.id == grant_id)).first()
        return _grant(row) if row else None

    def list_grants(self, *, client_id: str | None = None, resource_id: str | None = None,
                    principal_id: str | None = None, consent_type: str | None = None) -> list[OAuth2PermissionGrant]:
        query = select(_g).where(_g.c.tenant_id == self.tenant_id)
        for column, value in ((_g.c.client_id, client_id), (_g.c.resource_id, resource_id),
                              (_g.c.principal_id, principal_id), (_g.c.consent_type, consent_type)):
            if value is not None:
                query = query.where(column == value)
        return [_grant(r) for r in self.conn.execute(query.order_by(_g.c.created_at, _g.c.id))]

    def list_grants_for_user(self, client_id: str, resource_id: str,
                             user_id: str | None) -> list[OAuth2PermissionGrant]:
        """The AllPrincipals grant and this user's Principal grant for one client–resource pair."""
        who = _g.c.consent_type == "AllPrincipals"
        if user_id is not None:
            who = or_(who, _g.c.principal_id == user_id)
        rows = self.conn.execute(select(_g).where(_g.c.tenant_id == self.tenant_id, _g.c.client_id == client_id,
                                                  _g.c.resource_id == resource_id, who))
        return [_grant(r) for r in rows]

    def update_grant_scope(self, grant_id: str, scope: str, modified_at: Any) -> None:
        self.conn.execute(update(_g).where(_g.c.tenant_id == self.tenant_id, _g.c.id == grant_id)
                          .values(scope=scope, modified_at=modified_at))

    def remove_grant(self, grant_id: str) -> int:
        return self.conn.execute(delete(_g).where(_g.c.tenant_id == self.tenant_id, _g.c.id == grant_id)).rowcount

    # appRoleAssignments
    def add_assignment(self, assignment: AppRoleAssignment) -> None:
        self.conn.execute(insert(_a).values(
            id=assignment.id, tenant_id=self.tenant_id, principal_id=assignment.principal_id,
            principal_type=assignment.principal_type, principal_display_name=assignment.principal_display_name,
            resource_id=assignment.resource_id, resource_display_name=assignment.resource_display_name,
            app_role_id=assignment.app_role_id, created_at=assignment.created_at))

    def find_assignment(self, assignment_id: str) -> AppRoleAssignment | None:
        row = self.conn.execute(select(_a).where(_a.c.tenant_id == self.tenant_id,
                                                 _a.c.id == assignment_id)).first()
        return _assignment(row) if row else None

    def list_assignments(self, *, principal_ids: list[str] | None = None,
                         resource_id: str | None = None) -> list[AppRoleAssignment]:
        query = select(_a).where(_a.c.tenant_id == self.tenant_id)
        if principal_ids is not None:
            query = query.where(_a.c.principal_id.in_(principal_ids))
        if resource_id is not None:
            query = query.where(_a.c.resource_id == resource_id)
        return [_assignment(r) for r in self.conn.execute(query.order_by(_a.c.created_at, _a.c.id))]

    def remove_assignment(self, assignment_id: str) -> int:
        return self.conn.execute(delete(_a).where(_a.c.tenant_id == self.tenant_id,
                                                  _a.c.id == assignment_id)).rowcount

    def remove_all_for_principal(self, principal_id: str) -> None:
        self.conn.execute(delete(_a).where(_a.c.tenant_id == self.tenant_id, _a.c.principal_id == principal_id))
        self.conn.execute(delete(_g).where(_g.c.tenant_id == self.tenant_id, _g.c.principal_id == principal_id))
