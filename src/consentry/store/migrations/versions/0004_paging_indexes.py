"""Keyset-paging indexes: (tenant_id, id) — and (tenant_id, display_name, id) for ``$orderby=displayName`` —
so a page of one tenant's objects is an index range scan instead of a sort of the whole tenant.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_users_tenant_id_id", "users", ["tenant_id", "id"]),
    ("ix_users_tenant_id_display_name_id", "users", ["tenant_id", "display_name", "id"]),
    ("ix_groups_tenant_id_id", "groups", ["tenant_id", "id"]),
    ("ix_groups_tenant_id_display_name_id", "groups", ["tenant_id", "display_name", "id"]),
    ("ix_applications_tenant_id_id", "applications", ["tenant_id", "id"]),
    ("ix_applications_tenant_id_display_name_id", "applications", ["tenant_id", "display_name", "id"]),
    ("ix_service_principals_tenant_id_id", "service_principals", ["tenant_id", "id"]),
    ("ix_service_principals_tenant_id_display_name_id", "service_principals", ["tenant_id", "display_name", "id"]),
    ("ix_oauth2_permission_grants_tenant_id_id", "oauth2_permission_grants", ["tenant_id", "id"]),
    ("ix_app_role_assignments_tenant_id_id", "app_role_assignments", ["tenant_id", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
