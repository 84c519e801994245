"""Delegated permission grants and app role assignments of one tenant."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    String,
    delete,
    insert,
    select,
    text,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.types import TypeDecorator

from consentry.domain.clock import as_utc
from consentry.domain.grants import AppRoleAssignment, OAuth2PermissionGrant
from consentry.domain.odata import ODataQuery
from consentry.errors import GRAPH_BAD_REQUEST, ConsentryError
from consentry.store.odata import Fields, Page, fetch_page, to_where
from consentry.store.tables import app_role_assignments, oauth2_permission_grants


class _Text(TypeDecorator[str]):
    """A text property in ``$filter``: literals compare as text whatever their OData type (``clientId eq 5`` finds
    nothing rather than making PostgreSQL compare varchar with integer)."""

    impl = String
    cache_ok = True

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        return self

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else str(value)


class _Flag(TypeDecorator[bool]):
    """A boolean property in ``$filter``: a literal that is not a boolean matches nothing."""

    impl = Boolean
    cache_ok = True

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        return self

    def process_bind_param(self, value: Any, dialect: Any) -> bool | None:
        return value if isinstance(value, bool) else None


def text_property(column: Any) -> ColumnElement[Any]:
    return type_coerce(column, _Text())


def flag_property(column: Any) -> ColumnElement[Any]:
    return type_coerce(column, _Flag())


def ensure_text_keys(query: ODataQuery) -> None:
    """Keyset paging here sorts by text columns only: a ``$skiptoken`` with anything else was not ours. And no
    text sent to the database may hold a NUL character (PostgreSQL refuses it)."""
    if query.after is not None and not all(isinstance(v, str) and "\x00" not in v for v in query.after):
        raise ConsentryError(GRAPH_BAD_REQUEST, reason="The $skiptoken is not valid.")
    if query.filter is not None and _holds_nul(query.filter):
        raise ConsentryError(GRAPH_BAD_REQUEST, reason="The $filter expression holds a NUL character.")


def _holds_nul(node: Any) -> bool:
    if isinstance(node, str):
        return "\x00" in node
    if isinstance(node, list | tuple):
        return any(_holds_nul(item) for item in node)
    if dataclasses.is_dataclass(node):
        return any(_holds_nul(getattr(node, f.name)) for f in dataclasses.fields(node))
    return False


_g = oauth2_permission_grants
_a = app_role_assignments
_GRANT_FIELDS = Fields({name: text_property(column) for name, column in (
    ("id", _g.c.id), ("clientId", _g.c.client_id), ("consentType", _g.c.consent_type),
    ("principalId", _g.c.principal_id), ("resourceId", _g.c.resource_id))})
_ASSIGNMENT_FIELDS = Fields({name: text_property(column) for name, column in (
    ("id", _a.c.id), ("principalId", _a.c.principal_id), ("principalType", _a.c.principal_type),
    ("principalDisplayName", _a.c.principal_display_name), ("resourceId", _a.c.resource_id),
    ("resourceDisplayName", _a.c.resource_display_name), ("appRoleId", _a.c.app_role_id))})


# Literal, so that the planners (SQLite's above all) match the partial unique indexes' WHERE clauses.
_TENANT_WIDE = text("oauth2_permission_grants.consent_type = 'AllPrincipals'")
_PER_USER = text("oauth2_permission_grants.consent_type = 'Principal'")


def _grant(row: Any) -> OAuth2PermissionGrant:
    r = row._mapping
    return OAuth2PermissionGrant(r["id"], r["tenant_id"], r["client_id"], r["consent_type"], r["principal_id"],
                                 r["resource_id"], r["scope"], as_utc(r["created_at"]), as_utc(r["modified_at"]),
                                 r["granted_by"])


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
            created_at=grant.created_at, modified_at=grant.modified_at, granted_by=grant.granted_by))

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

    def page_grants(self, query: ODataQuery, *, client_id: str | None = None) -> tuple[list[OAuth2PermissionGrant],
                                                                                       Page]:
        """One page of this tenant's grants (of one client, if given), filtered as Graph allows, by id."""
        ensure_text_keys(query)
        base = select(_g).where(_g.c.tenant_id == self.tenant_id)
        if client_id is not None:
            base = base.where(_g.c.client_id == client_id)
        if query.filter is not None:
            base = base.where(to_where(query.filter, _GRANT_FIELDS))
        page = fetch_page(self.conn, base, [_g.c.id], descending=False, after=query.after, limit=query.top,
                          count=query.count)
        return [_grant(r) for r in page.rows], page

    def list_grants_for_user(self, client_id: str, resource_id: str,
                             user_id: str | None) -> list[OAuth2PermissionGrant]:
        """The AllPrincipals grant and this user's Principal grant for one client–resource pair: two lookups on
        the unique indexes (an ``OR`` of the two would read every grant of a popular client)."""
        pair = select(_g).where(_g.c.tenant_id == self.tenant_id, _g.c.client_id == client_id,
                                _g.c.resource_id == resource_id)
        query: Any = pair.where(_TENANT_WIDE)
        if user_id is not None:
            query = union_all(query, pair.where(_PER_USER, _g.c.principal_id == user_id))
        return [_grant(r) for r in self.conn.execute(query)]

    def has_grant_for_user(self, client_id: str, user_id: str) -> bool:
        """Whether the client holds any delegated grant (tenant-wide or this user's) for any resource."""
        of_client = select(_g.c.id).where(_g.c.tenant_id == self.tenant_id, _g.c.client_id == client_id)
        if self.conn.execute(of_client.where(_TENANT_WIDE).limit(1)).first() is not None:
            return True
        return self.conn.execute(of_client.where(_PER_USER, _g.c.principal_id == user_id).limit(1)).first() is not None

    def update_grant_scope(self, grant_id: str, scope: str, modified_at: Any, granted_by: str | None = None) -> None:
        values: dict[str, Any] = {"scope": scope, "modified_at": modified_at}
        if granted_by is not None:
            values["granted_by"] = granted_by
        self.conn.execute(update(_g).where(_g.c.tenant_id == self.tenant_id, _g.c.id == grant_id).values(**values))

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

    def page_assignments(self, query: ODataQuery, *, principal_id: str | None = None,
                         resource_id: str | None = None) -> tuple[list[AppRoleAssignment], Page]:
        """One page of the assignments held by a principal, or made on a resource, filtered, by id."""
        ensure_text_keys(query)
        base = select(_a).where(_a.c.tenant_id == self.tenant_id)
        if principal_id is not None:
            base = base.where(_a.c.principal_id == principal_id)
        if resource_id is not None:
            base = base.where(_a.c.resource_id == resource_id)
        if query.filter is not None:
            base = base.where(to_where(query.filter, _ASSIGNMENT_FIELDS))
        page = fetch_page(self.conn, base, [_a.c.id], descending=False, after=query.after, limit=query.top,
                          count=query.count)
        return [_assignment(r) for r in page.rows], page

    def remove_assignment(self, assignment_id: str) -> int:
        return self.conn.execute(delete(_a).where(_a.c.tenant_id == self.tenant_id,
                                                  _a.c.id == assignment_id)).rowcount

    def remove_all_for_principal(self, principal_id: str) -> None:
        self.conn.execute(delete(_a).where(_a.c.tenant_id == self.tenant_id, _a.c.principal_id == principal_id))
        self.conn.execute(delete(_g).where(_g.c.tenant_id == self.tenant_id, _g.c.principal_id == principal_id))
