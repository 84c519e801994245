"""The admin consent request workflow: the tenant's request policy, request aggregates and users' requests
with their reviewer snapshots, and the mail outbox. Also indexes for the portal's "Microsoft applications"
filter and for finding a user's grants to one client.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _guid(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length=36), nullable=nullable)


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"),
                                   ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "admin_consent_request_policies",
        _guid("tenant_id"),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("notify_reviewers", sa.Boolean(), nullable=False),
        sa.Column("reminders_enabled", sa.Boolean(), nullable=False),
        sa.Column("request_duration_in_days", sa.Integer(), nullable=False),
        sa.Column("reviewers", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _ts("modified_at"),
        _tenant_fk("admin_consent_request_policies"),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_admin_consent_request_policies")),
    )
    op.create_table(
        "app_consent_requests",
        _guid("id"), _guid("tenant_id"), _guid("app_id"),
        sa.Column("app_display_name", sa.String(length=256), nullable=False),
        sa.Column("consent_type", sa.String(length=16), nullable=False),
        sa.Column("pending_scopes", sa.JSON(), nullable=False),
        _ts("created_at"),
        _tenant_fk("app_consent_requests"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_consent_requests")),
        sa.UniqueConstraint("tenant_id", "app_id", "consent_type",
                            name=op.f("uq_app_consent_requests_tenant_id_app_id_consent_type")),
    )
    op.create_index("ix_app_consent_requests_tenant_id_id", "app_consent_requests", ["tenant_id", "id"])
    op.create_table(
        "user_consent_requests",
        _guid("id"), _guid("tenant_id"), _guid("app_request_id"), _guid("user_id"),
        sa.Column("user_display_name", sa.String(length=256), nullable=False),
        sa.Column("user_principal_name", sa.String(length=255), nullable=False),
        sa.Column("user_mail", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _ts("created_at"), _ts("expires_at"), _ts("completed_at", True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("review_result", sa.String(length=16), nullable=False),
        _guid("reviewed_by_id", True),
        sa.Column("reviewed_by_name", sa.String(length=256), nullable=True),
        sa.Column("reviewed_by_upn", sa.String(length=255), nullable=True),
        _ts("reviewed_at", True),
        sa.Column("review_justification", sa.Text(), nullable=True),
        _ts("first_reminder_at", True), _ts("last_reminder_at", True),
        _tenant_fk("user_consent_requests"),
        sa.ForeignKeyConstraint(["app_request_id"], ["app_consent_requests.id"], ondelete="CASCADE",
                                name=op.f("fk_user_consent_requests_app_request_id_app_consent_requests")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_consent_requests")),
    )
    op.create_index("ix_user_consent_requests_app", "user_consent_requests", ["tenant_id", "app_request_id", "status"])
    op.create_index("ix_user_consent_requests_due", "user_consent_requests", ["status", "expires_at"])
    op.create_index("ix_user_consent_requests_user", "user_consent_requests", ["tenant_id", "user_id", "status"])
    in_progress = sa.text("status = 'InProgress'")
    op.create_index("uq_user_consent_requests_in_progress", "user_consent_requests", ["app_request_id", "user_id"],
                    unique=True, sqlite_where=in_progress, postgresql_where=in_progress)
    op.create_table(
        "consent_request_reviewers",
        _guid("user_request_id"), _guid("reviewer_id"),
        sa.ForeignKeyConstraint(["user_request_id"], ["user_consent_requests.id"], ondelete="CASCADE",
                                name=op.f("fk_consent_request_reviewers_user_request_id_user_consent_requests")),
        sa.PrimaryKeyConstraint("user_request_id", "reviewer_id", name=op.f("pk_consent_request_reviewers")),
    )
    op.create_index("ix_consent_request_reviewers_reviewer", "consent_request_reviewers", ["reviewer_id"])
    op.create_table(
        "outbox",
        _guid("id"), _guid("tenant_id"),
        sa.Column("event_key", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("recipient", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("next_attempt_at"), _ts("lease_until", True), _ts("sent_at", True),
        sa.Column("last_error", sa.String(length=512), nullable=True),
        _tenant_fk("outbox"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_key", name=op.f("uq_outbox_event_key")),
    )
    op.create_index("ix_outbox_due", "outbox", ["sent_at", "next_attempt_at"])
    op.create_index("ix_outbox_tenant_created", "outbox", ["tenant_id", "created_at", "id"])
    op.create_index("ix_service_principals_tenant_owner", "service_principals",
                    ["tenant_id", "app_owner_organization_id"])
    op.create_index("ix_grants_principal_client", "oauth2_permission_grants",
                    ["tenant_id", "principal_id", "client_id"])


def downgrade() -> None:
    op.drop_index("ix_grants_principal_client", table_name="oauth2_permission_grants")
    op.drop_index("ix_service_principals_tenant_owner", table_name="service_principals")
    op.drop_table("outbox")
    op.drop_table("consent_request_reviewers")
    op.drop_table("user_consent_requests")
    op.drop_table("app_consent_requests")
    op.drop_table("admin_consent_request_policies")
