"""Tenants (with their domains), users, groups and directory role assignments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from consentry.domain.clock import as_utc
from consentry.domain.directory import Group, RoleAssignment, Tenant, User
from consentry.store.tables import group_members, groups, role_assignments, tenant_domains, tenants, users


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

    def remove_role_assignment(self, assignment_id: str) -> None:
        self.conn.execute(delete(role_assignments).where(role_assignments.c.tenant_id == self.tenant_id,
                                                         role_assignments.c.id == assignment_id))

    def count_users(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(users)
                                     .where(users.c.tenant_id == self.tenant_id)).scalar() or 0)


def _role_assignment(row: object) -> RoleAssignment:
    r = row._mapping  # type: ignore[attr-defined]
    created: datetime = as_utc(r["created_at"])
    return RoleAssignment(r["id"], r["tenant_id"], r["principal_id"], r["role_template_id"], created)
