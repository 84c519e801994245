"""Tenants (with their domains), users, groups and directory role assignments."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from odata_query import ast
from sqlalchemy import Connection, delete, func, insert, literal, select, update

from consentry.domain.clock import as_utc
from consentry.domain.directory import Group, RoleAssignment, Tenant, User
from consentry.domain.odata import ODataQuery
from consentry.store.odata import Fields, Page, fetch_page, to_where
from consentry.store.tables import group_members, groups, role_assignments, tenant_domains, tenants, users

# Properties stored lower-case (GUIDs, sign-in names): Entra compares them case-insensitively, so the
# literals they are compared with are lower-cased too.
_USER_LOWER_CASE = frozenset({"id", "userPrincipalName"})
_ID_LOWER_CASE = frozenset({"id"})
_ASSIGNMENT_LOWER_CASE = frozenset({"id", "principalId", "roleDefinitionId"})


class TenantRegistry:
    """Tenants as a whole: the one place that lists or resolves tenants across the installation."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, tenant: Tenant) -> None:
        self.conn.execute(insert(tenants).values(id=tenant.id, display_name=tenant.display_name,
                                                 created_at=tenant.created_at))
        for position, name in enumerate(tenant.domains):
            self.conn.execute(insert(tenant_domains).values(name=name.lower(), tenant_id=tenant.id,
                                                            is_default=position == 0, position=position))

    def find(self, tenant_id: str) -> Tenant | None:
        row = self.conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
        if row is None:
            return None
        names = self.conn.execute(select(tenant_domains.c.name).where(tenant_domains.c.tenant_id == tenant_id)
                                  .order_by(tenant_domains.c.position)).scalars().all()
        return Tenant(row.id, row.display_name, tuple(names), as_utc(row.created_at))

    def find_by_domain(self, domain: str) -> Tenant | None:
        tenant_id = self.conn.execute(select(tenant_domains.c.tenant_id)
                                      .where(tenant_domains.c.name == domain.lower())).scalar()
        return self.find(tenant_id) if tenant_id else None

    def list(self) -> list[Tenant]:
        ids = self.conn.execute(select(tenants.c.id).order_by(tenants.c.created_at, tenants.c.id)).scalars()
        return [t for t in (self.find(i) for i in ids.all()) if t is not None]

    def find_user_by_upn(self, upn: str) -> User | None:
        """Cross-tenant: the sign-in name is unique in the installation and names its home tenant."""
        row = self.conn.execute(select(users).where(users.c.user_principal_name == upn.lower())).first()
        return _user(row) if row else None


def _user(row: object) -> User:
    r = row._mapping  # type: ignore[attr-defined]
    return User(r["id"], r["tenant_id"], r["user_principal_name"], r["display_name"], r["mail"],
                r["account_enabled"], r["password_hash"], as_utc(r["created_at"]), r["given_name"], r["surname"],
                r["job_title"])


class DirectoryRepository:
    """Users, groups and role assignments of one tenant."""

    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    # users
    def add_user(self, user: User) -> None:
        self.conn.execute(insert(users).values(
            id=user.id, tenant_id=self.tenant_id, user_principal_name=user.user_principal_name.lower(),
            display_name=user.display_name, mail=user.mail, account_enabled=user.account_enabled,
            password_hash=user.password_hash, created_at=user.created_at, given_name=user.given_name,
            surname=user.surname, job_title=user.job_title))

    def find_user(self, user_id: str) -> User | None:
        row = self.conn.execute(select(users).where(users.c.tenant_id == self.tenant_id,
                                                    users.c.id == user_id)).first()
        return _user(row) if row else None

    def find_user_by_upn(self, upn: str) -> User | None:
        row = self.conn.execute(select(users).where(users.c.tenant_id == self.tenant_id,
                                                    users.c.user_principal_name == upn.lower())).first()
        return _user(row) if row else None

    def list_users(self) -> list[User]:
        rows = self.conn.execute(select(users).where(users.c.tenant_id == self.tenant_id)
                                 .order_by(users.c.user_principal_name))
        return [_user(r) for r in rows]

    def update_user(self, user_id: str, **values: object) -> None:
        self.conn.execute(update(users).where(users.c.tenant_id == self.tenant_id, users.c.id == user_id)
                          .values(**values))

    def remove_user(self, user_id: str) -> None:
        self.conn.execute(delete(users).where(users.c.tenant_id == self.tenant_id, users.c.id == user_id))

    # groups
    def add_group(self, group: Group) -> None:
        self.conn.execute(insert(groups).values(id=group.id, tenant_id=self.tenant_id,
                                                display_name=group.display_name, description=group.description,
                                                created_at=group.created_at))

    def find_group(self, group_id: str) -> Group | None:
        row = self.conn.execute(select(groups).where(groups.c.tenant_id == self.tenant_id,
                                                     groups.c.id == group_id)).first()
        if row is None:
            return None
        members = self.conn.execute(select(group_members.c.member_id).where(
            group_members.c.tenant_id == self.tenant_id, group_members.c.group_id == group_id)).scalars().all()
        return Group(row.id, row.tenant_id, row.display_name, row.description, as_utc(row.created_at),
                     tuple(members))

    def list_groups(self) -> list[Group]:
        ids = self.conn.execute(select(groups.c.id).where(groups.c.tenant_id == self.tenant_id)
                                .order_by(groups.c.display_name)).scalars().all()
        return [g for g in (self.find_group(i) for i in ids) if g is not None]

    def add_member(self, group_id: str, member_id: str) -> None:
        owned = self.conn.execute(select(groups.c.id).where(groups.c.tenant_id == self.tenant_id,
                                                            groups.c.id == group_id)).first()
        if owned is None:
            raise LookupError(f"group {group_id} is not in tenant {self.tenant_id}")
        self.conn.execute(insert(group_members).values(group_id=group_id, member_id=member_id,
                                                       tenant_id=self.tenant_id))

    def remove_member(self, group_id: str, member_id: str) -> None:
        self.conn.execute(delete(group_members).where(group_members.c.tenant_id == self.tenant_id,
                                                      group_members.c.group_id == group_id,
                                                      group_members.c.member_id == member_id))

    def list_group_ids_of(self, member_id: str) -> list[str]:
        return list(self.conn.execute(select(group_members.c.group_id).where(
            group_members.c.tenant_id == self.tenant_id, group_members.c.member_id == member_id)).scalars())

    # directory roles
    def add_role_assignment(self, assignment: RoleAssignment) -> None:
        self.conn.execute(insert(role_assignments).values(
            id=assignment.id, tenant_id=self.tenant_id, principal_id=assignment.principal_id,
            role_template_id=assignment.role_template_id, created_at=assignment.created_at))

    def find_role_assignment(self, principal_id: str, role_template_id: str) -> RoleAssignment | None:
        row = self.conn.execute(select(role_assignments).where(
            role_assignments.c.tenant_id == self.tenant_id, role_assignments.c.principal_id == principal_id,
            role_assignments.c.role_template_id == role_template_id)).first()
        return _role_assignment(row) if row else None

    def list_role_assignments(self, principal_id: str | None = None) -> list[RoleAssignment]:
        query = select(role_assignments).where(role_assignments.c.tenant_id == self.tenant_id)
        if principal_id is not None:
            query = query.where(role_assignments.c.principal_id == principal_id)
        return [_role_assignment(r) for r in self.conn.execute(query.order_by(role_assignments.c.created_at))]

    def list_enabled_role_holders(self, role_template_id: str) -> list[str]:
        """The ids of the enabled users holding a directory role, in id order."""
        query = (select(users.c.id)
                 .join(role_assignments, (role_assignments.c.tenant_id == users.c.tenant_id)
                       & (role_assignments.c.principal_id == users.c.id))
                 .where(users.c.tenant_id == self.tenant_id, users.c.account_enabled.is_(True),
                        role_assignments.c.role_template_id == role_template_id)
                 .order_by(users.c.id))
        return list(self.conn.execute(query).scalars())

    def remove_role_assignment(self, assignment_id: str) -> None:
        self.conn.execute(delete(role_assignments).where(role_assignments.c.tenant_id == self.tenant_id,
                                                         role_assignments.c.id == assignment_id))

    def page_users(self, query: ODataQuery, *, group_id: str | None = None,
                   role_template_id: str | None = None) -> tuple[list[User], Page]:
        """One page of this tenant's users (or of one group's members, or one role's holders)."""
        base = select(users).where(users.c.tenant_id == self.tenant_id)
        if group_id is not None:
            base = base.where(users.c.id.in_(select(group_members.c.member_id).where(
                group_members.c.tenant_id == self.tenant_id, group_members.c.group_id == group_id)))
        if role_template_id is not None:
            base = base.where(users.c.id.in_(select(role_assignments.c.principal_id).where(
                role_assignments.c.tenant_id == self.tenant_id,
                role_assignments.c.role_template_id == role_template_id)))
        if query.filter is not None:
            base = base.where(to_where(_lower_case_literals(query.filter, _USER_LOWER_CASE), _USER_FIELDS))
        order = [users.c.display_name, users.c.id] if query.orderby else [users.c.id]
        page = fetch_page(self.conn, base, order, descending=bool(query.orderby and query.orderby[0][1]),
                          after=query.after, limit=query.top, count=query.count)
        return [_user(r) for r in page.rows], page

    def remove_memberships_of(self, member_id: str) -> None:
        self.conn.execute(delete(group_members).where(group_members.c.tenant_id == self.tenant_id,
                                                      group_members.c.member_id == member_id))

    def remove_role_assignments_of(self, principal_id: str) -> None:
        self.conn.execute(delete(role_assignments).where(role_assignments.c.tenant_id == self.tenant_id,
                                                         role_assignments.c.principal_id == principal_id))

    # groups, as Graph pages them
    def page_groups(self, query: ODataQuery) -> tuple[list[Group], Page]:
        base = select(groups).where(groups.c.tenant_id == self.tenant_id)
        if query.filter is not None:
            base = base.where(to_where(_lower_case_literals(query.filter, _ID_LOWER_CASE), _GROUP_FIELDS))
        order = [groups.c.display_name, groups.c.id] if query.orderby else [groups.c.id]
        page = fetch_page(self.conn, base, order, descending=bool(query.orderby and query.orderby[0][1]),
                          after=query.after, limit=query.top, count=query.count)
        return [_group(r) for r in page.rows], page

    def list_groups_by_id(self, group_ids: list[str]) -> list[Group]:
        """Groups without their members (for memberOf), by id."""
        if not group_ids:
            return []
        rows = self.conn.execute(select(groups).where(groups.c.tenant_id == self.tenant_id,
                                                      groups.c.id.in_(group_ids)).order_by(groups.c.id))
        return [_group(r) for r in rows]

    def is_member(self, group_id: str, member_id: str) -> bool:
        return self.conn.execute(select(group_members.c.group_id).where(
            group_members.c.tenant_id == self.tenant_id, group_members.c.group_id == group_id,
            group_members.c.member_id == member_id)).first() is not None

    def update_group(self, group_id: str, **values: object) -> None:
        self.conn.execute(update(groups).where(groups.c.tenant_id == self.tenant_id, groups.c.id == group_id)
                          .values(**values))

    def remove_group(self, group_id: str) -> None:
        self.conn.execute(delete(group_members).where(group_members.c.tenant_id == self.tenant_id,
                                                      group_members.c.group_id == group_id))
        self.conn.execute(delete(groups).where(groups.c.tenant_id == self.tenant_id, groups.c.id == group_id))

    # role assignments, as Graph's unifiedRoleAssignment
    def find_role_assignment_by_id(self, assignment_id: str) -> RoleAssignment | None:
        row = self.conn.execute(select(role_assignments).where(
            role_assignments.c.tenant_id == self.tenant_id, role_assignments.c.id == assignment_id)).first()
        return _role_assignment(row) if row else None

    def page_role_assignments(self, query: ODataQuery) -> tuple[list[RoleAssignment], Page]:
        ra = role_assignments
        base = select(ra).where(ra.c.tenant_id == self.tenant_id)
        if query.filter is not None:
            base = base.where(to_where(_lower_case_literals(query.filter, _ASSIGNMENT_LOWER_CASE),
                                        _ROLE_ASSIGNMENT_FIELDS))
        page = fetch_page(self.conn, base, [ra.c.id], descending=False, after=query.after, limit=query.top,
                          count=query.count)
        return [_role_assignment(r) for r in page.rows], page

    def count_users(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(users)
                                     .where(users.c.tenant_id == self.tenant_id)).scalar() or 0)


def _group(row: object) -> Group:
    r = row._mapping  # type: ignore[attr-defined]
    return Group(r["id"], r["tenant_id"], r["display_name"], r["description"], as_utc(r["created_at"]))


_USER_FIELDS = Fields({
    "id": users.c.id, "userPrincipalName": users.c.user_principal_name, "displayName": users.c.display_name,
    "mail": users.c.mail, "accountEnabled": users.c.account_enabled, "givenName": users.c.given_name,
    "surname": users.c.surname, "jobTitle": users.c.job_title})
_GROUP_FIELDS = Fields({"id": groups.c.id, "displayName": groups.c.display_name,
                        "description": groups.c.description})
_ROLE_ASSIGNMENT_FIELDS = Fields({
    "id": role_assignments.c.id, "principalId": role_assignments.c.principal_id,
    "roleDefinitionId": role_assignments.c.role_template_id, "directoryScopeId": literal("/")})


def _lower_case_literals(node: Any, names: frozenset[str]) -> Any:
    """The filter with the string literals compared to the properties ``names`` lower-cased."""
    if isinstance(node, ast.BoolOp):
        return dataclasses.replace(node, left=_lower_case_literals(node.left, names),
                                   right=_lower_case_literals(node.right, names))
    if isinstance(node, ast.UnaryOp):
        return dataclasses.replace(node, operand=_lower_case_literals(node.operand, names))
    if isinstance(node, ast.Compare) and isinstance(node.left, ast.Identifier) and node.left.name in names:
        return dataclasses.replace(node, right=_lower(node.right))
    return node  # startswith() already compares lower-case on both sides


def _lower(node: Any) -> Any:
    if isinstance(node, ast.String):
        return ast.String(node.val.lower())
    if isinstance(node, ast.List):
        return dataclasses.replace(node, val=[_lower(v) for v in node.val])
    return node


def _role_assignment(row: object) -> RoleAssignment:
    r = row._mapping  # type: ignore[attr-defined]
    created: datetime = as_utc(r["created_at"])
    return RoleAssignment(r["id"], r["tenant_id"], r["principal_id"], r["role_template_id"], created)
