"""Delegated permission classifications, and deleted items (soft-deleted service principals and
applications, kept 30 days with what was removed with them).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delegated_permission_classifications",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("service_principal_id", sa.String(length=36), nullable=False),
        sa.Column("permission_id", sa.String(length=36), nullable=False),
        sa.Column("permission_name", sa.String(length=128), nullable=False),
        sa.Column("classification", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name=op.f("fk_delegated_permission_classifications_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["service_principal_id"], ["service_principals.id"], ondelete="CASCADE",
                                name=op.f("fk_delegated_permission_classifications_service_principal_id_service_principals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegated_permission_classifications")),
        sa.UniqueConstraint("service_principal_id", "permission_id",
                            name=op.f("uq_delegated_permission_classifications_service_principal_id_permission_id")),
    )
    op.create_table(
        "deleted_objects",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name=op.f("fk_deleted_objects_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deleted_objects")),
    )
    op.create_index("ix_deleted_objects_tenant_type", "deleted_objects", ["tenant_id", "object_type", "id"])


def downgrade() -> None:
    op.drop_index("ix_deleted_objects_tenant_type", table_name="deleted_objects")
    op.drop_table("deleted_objects")
    op.drop_table("delegated_permission_classifications")
