"""Consent policy: the tenant's authorization policy and custom permission grant policies; one tenant-wide
and one per-user grant per client–resource pair; demo calendar events and contacts for ``/me``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _guid(name: str, *args: object, **kw: object) -> sa.Column:
    return sa.Column(name, sa.String(length=36), *args, **kw)  # type: ignore[arg-type]


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _tenant_fk(name: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{name}_tenant_id_tenants"),
                                   ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "tenant_policies",
        _guid("tenant_id", nullable=False),
        sa.Column("permission_grant_policies_assigned", sa.JSON(), nullable=True),
        sa.Column("block_user_consent_for_risky_apps", sa.Boolean(), nullable=False),
        _ts("modified_at"),
        _tenant_fk("tenant_policies"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_policies")),
    )
    op.create_table(
        "permission_grant_policies",
        _guid("tenant_id", nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("includes", sa.JSON(), nullable=False),
        sa.Column("excludes", sa.JSON(), nullable=False),
        _ts("created_at"),
        _ts("modified_at"),
        _tenant_fk("permission_grant_policies"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_permission_grant_policies")),
    )
    op.create_table(
        "calendar_events",
        _guid("id", nullable=False),
        _guid("tenant_id", nullable=False),
        _guid("user_id", nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("location", sa.String(length=255), nullable=False),
        _ts("start"),
        _ts("end"),
        _ts("created_at"),
        _tenant_fk("calendar_events"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_calendar_events_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_events")),
    )
    op.create_index("ix_calendar_events_user", "calendar_events", ["tenant_id", "user_id", "start", "id"])
    op.create_table(
        "contacts",
        _guid("id", nullable=False),
        _guid("tenant_id", nullable=False),
        _guid("user_id", nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("given_name", sa.String(length=64), nullable=True),
        sa.Column("surname", sa.String(length=64), nullable=True),
        sa.Column("company_name", sa.String(length=128), nullable=True),
        sa.Column("job_title", sa.String(length=128), nullable=True),
        sa.Column("email_addresses", sa.JSON(), nullable=False),
        sa.Column("business_phones", sa.JSON(), nullable=False),
        sa.Column("mobile_phone", sa.String(length=64), nullable=True),
        _ts("created_at"),
        _tenant_fk("contacts"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_contacts_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index("ix_contacts_user", "contacts", ["tenant_id", "user_id", "display_name", "id"])
    where_all = sa.text("consent_type = 'AllPrincipals'")
    where_one = sa.text("consent_type = 'Principal'")
    op.create_index("uq_grants_all_principals", "oauth2_permission_grants", ["tenant_id", "client_id", "resource_id"],
                    unique=True, sqlite_where=where_all, postgresql_where=where_all)
    op.create_index("uq_grants_principal", "oauth2_permission_grants",
                    ["tenant_id", "client_id", "resource_id", "principal_id"], unique=True,
                    sqlite_where=where_one, postgresql_where=where_one)


def downgrade() -> None:
    op.drop_index("uq_grants_principal", table_name="oauth2_permission_grants")
    op.drop_index("uq_grants_all_principals", table_name="oauth2_permission_grants")
    op.drop_index("ix_contacts_user", table_name="contacts")
    op.drop_table("contacts")
    op.drop_index("ix_calendar_events_user", table_name="calendar_events")
    op.drop_table("calendar_events")
    op.drop_table("permission_grant_policies")
    op.drop_table("tenant_policies")
