"""Initial schema: exactly the tables of ``consentry.store.tables`` as first released.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Written out in full rather than importing ``tables.py``, so this revision keeps creating the same schema
however the tables module changes later. Constraint and index names are the ones the metadata's naming
convention produces; ``op.f()`` marks them final, and PostgreSQL shortens the few longer than 63
characters exactly as ``metadata.create_all`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _guid(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length=36), nullable=nullable)


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"),
                                   ondelete="CASCADE")


def _pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=op.f(f"pk_{table}"))


def _index(table: str, *columns: str, name: str | None = None) -> None:
    op.create_index(name or op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns), unique=False)


def upgrade() -> None:
    _directory()
    _applications()
    _grants()
    _protocol_state()
    _logs()


def _directory() -> None:
    op.create_table(
        "tenants",
        _guid("id"),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        _ts("created_at"),
        _pk("tenants", "id"),
    )
    op.create_table(
        "tenant_domains",
        sa.Column("name", sa.String(length=255), nullable=False),
        _guid("tenant_id"),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _fk("tenant_domains", "tenant_id", "tenants"),
        _pk("tenant_domains", "name"),
    )
    _index("tenant_domains", "tenant_id")
    op.create_table(
        "users",
        _guid("id"),
        _guid("tenant_id"),
        sa.Column("user_principal_name", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("mail", sa.String(length=255), nullable=True),
        sa.Column("given_name", sa.String(length=64), nullable=True),
        sa.Column("surname", sa.String(length=64), nullable=True),
        sa.Column("job_title", sa.String(length=128), nullable=True),
        sa.Column("account_enabled", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        _ts("created_at"),
        _fk("users", "tenant_id", "tenants"),
        _pk("users", "id"),
        sa.UniqueConstraint("user_principal_name", name=op.f("uq_users_user_principal_name")),
    )
    _index("users", "tenant_id")
    op.create_table(
        "groups",
        _guid("id"),
        _guid("tenant_id"),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        _ts("created_at"),
        _fk("groups", "tenant_id", "tenants"),
        _pk("groups", "id"),
    )
    _index("groups", "tenant_id")
    op.create_table(
        "group_members",
        _guid("group_id"),
        _guid("member_id"),
        _guid("tenant_id"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name=op.f("fk_group_members_group_id_groups"),
                                ondelete="CASCADE"),
        _pk("group_members", "group_id", "member_id"),
    )
    _index("group_members", "tenant_id", "member_id", name="ix_group_members_member")
    op.create_table(
        "role_assignments",
        _guid("id"),
        _guid("tenant_id"),
        _guid("principal_id"),
        _guid("role_template_id"),
        _ts("created_at"),
        _fk("role_assignments", "tenant_id", "tenants"),
        _pk("role_assignments", "id"),
        sa.UniqueConstraint("tenant_id", "principal_id", "role_template_id",
                            name=op.f("uq_role_assignments_tenant_id_principal_id_role_template_id")),
    )
    _index("role_assignments", "tenant_id", "principal_id", name="ix_role_assignments_principal")


def _applications() -> None:
    op.create_table(
        "applications",
        _guid("id"),
        _guid("app_id"),
        _guid("tenant_id"),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("sign_in_audience", sa.String(length=64), nullable=False),
        sa.Column("web_redirect_uris", sa.JSON(), nullable=False),
        sa.Column("spa_redirect_uris", sa.JSON(), nullable=False),
        sa.Column("public_client_redirect_uris", sa.JSON(), nullable=False),
        sa.Column("is_fallback_public_client", sa.Boolean(), nullable=False),
        sa.Column("identifier_uris", sa.JSON(), nullable=False),
        sa.Column("required_resource_access", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("app_roles", sa.JSON(), nullable=False),
        sa.Column("homepage_url", sa.String(length=2048), nullable=True),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("publisher_name", sa.String(length=256), nullable=True),
        sa.Column("verified_publisher", sa.JSON(), nullable=False),
        _ts("created_at"),
        _fk("applications", "tenant_id", "tenants"),
        _pk("applications", "id"),
        sa.UniqueConstraint("app_id", name=op.f("uq_applications_app_id")),
    )
    _index("applications", "tenant_id")
    op.create_table(
        "password_credentials",
        _guid("key_id"),
        _guid("application_id"),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("hint", sa.String(length=8), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        _ts("start"),
        _ts("end"),
        _fk("password_credentials", "application_id", "applications"),
        _pk("password_credentials", "key_id"),
    )
    _index("password_credentials", "application_id")
    op.create_table(
        "key_credentials",
        _guid("key_id"),
        _guid("application_id"),
        sa.Column("display_name", sa.String(length=256), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("usage", sa.String(length=16), nullable=False),
        sa.Column("certificate_der", sa.LargeBinary(), nullable=False),
        sa.Column("thumbprint_sha1", sa.String(length=40), nullable=False),
        sa.Column("thumbprint_sha256", sa.String(length=64), nullable=False),
        _ts("start"),
        _ts("end"),
        _fk("key_credentials", "application_id", "applications"),
        _pk("key_credentials", "key_id"),
    )
    _index("key_credentials", "application_id")
    _index("key_credentials", "thumbprint_sha1")
    _index("key_credentials", "thumbprint_sha256")
    op.create_table(
        "service_principals",
        _guid("id"),
        _guid("tenant_id"),
        _guid("app_id"),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        _guid("app_owner_organization_id", nullable=True),
        sa.Column("account_enabled", sa.Boolean(), nullable=False),
        sa.Column("app_role_assignment_required", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("app_roles", sa.JSON(), nullable=False),
        sa.Column("service_principal_names", sa.JSON(), nullable=False),
        sa.Column("reply_urls", sa.JSON(), nullable=False),
        sa.Column("homepage", sa.String(length=2048), nullable=True),
        sa.Column("publisher_name", sa.String(length=256), nullable=True),
        sa.Column("sign_in_audience", sa.String(length=64), nullable=True),
        sa.Column("verified_publisher", sa.JSON(), nullable=False),
        sa.Column("notes", sa.String(length=1024), nullable=True),
        _ts("created_at"),
        _fk("service_principals", "tenant_id", "tenants"),
        _pk("service_principals", "id"),
        sa.UniqueConstraint("tenant_id", "app_id", name=op.f("uq_service_principals_tenant_id_app_id")),
    )
    op.create_table(
        "service_principal_names",
        _guid("tenant_id"),
        sa.Column("name", sa.String(length=512), nullable=False),
        _guid("service_principal_id"),
        _fk("service_principal_names", "service_principal_id", "service_principals"),
        _pk("service_principal_names", "tenant_id", "name"),
    )
    _index("service_principal_names", "service_principal_id")


def _grants() -> None:
    op.create_table(
        "oauth2_permission_grants",
        sa.Column("id", sa.String(length=64), nullable=False),
        _guid("tenant_id"),
        _guid("client_id"),
        sa.Column("consent_type", sa.String(length=16), nullable=False),
        _guid("principal_id", nullable=True),
        _guid("resource_id"),
        sa.Column("scope", sa.Text(), nullable=False),
        _ts("created_at"),
        _ts("modified_at"),
        _fk("oauth2_permission_grants", "tenant_id", "tenants"),
        _fk("oauth2_permission_grants", "client_id", "service_principals"),
        _fk("oauth2_permission_grants", "resource_id", "service_principals"),
        _pk("oauth2_permission_grants", "id"),
    )
    _index("oauth2_permission_grants", "tenant_id", "client_id", "resource_id",
           name="ix_grants_client_resource")
    _index("oauth2_permission_grants", "resource_id", name="ix_grants_resource")
    op.create_table(
        "app_role_assignments",
        sa.Column("id", sa.String(length=64), nullable=False),
        _guid("tenant_id"),
        _guid("principal_id"),
        sa.Column("principal_type", sa.String(length=32), nullable=False),
        sa.Column("principal_display_name", sa.String(length=256), nullable=True),
        _guid("resource_id"),
        sa.Column("resource_display_name", sa.String(length=256), nullable=True),
        _guid("app_role_id"),
        _ts("created_at"),
        _fk("app_role_assignments", "tenant_id", "tenants"),
        _fk("app_role_assignments", "resource_id", "service_principals"),
        _pk("app_role_assignments", "id"),
        sa.UniqueConstraint(
            "tenant_id", "principal_id", "resource_id", "app_role_id",
            name=op.f("uq_app_role_assignments_tenant_id_principal_id_resource_id_app_role_id")),
    )
    _index("app_role_assignments", "tenant_id", "resource_id", name="ix_app_role_assignments_resource")


def _protocol_state() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_key", sa.LargeBinary(), nullable=False),
        _ts("created_at"),
        _ts("signs_from"),
        _ts("signs_until", nullable=True),
        _ts("published_until", nullable=True),
        _pk("signing_keys", "kid"),
    )
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        _guid("tenant_id"),
        _guid("user_id"),
        _ts("auth_time"),
        _ts("expires_at"),
        _ts("revoked_at", nullable=True),
        _fk("sessions", "tenant_id", "tenants"),
        _fk("sessions", "user_id", "users"),
        _pk("sessions", "id_hash"),
    )
    _index("sessions", "user_id")
    op.create_table(
        "interactions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _pk("interactions", "id_hash"),
    )
    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        _guid("tenant_id"),
        _guid("client_app_id"),
        _guid("user_id"),
        sa.Column("redirect_uri", sa.String(length=2048), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(length=512), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=True),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=True),
        sa.Column("session_id_hash", sa.String(length=64), nullable=True),
        _ts("auth_time"),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("redeemed_at", nullable=True),
        _pk("authorization_codes", "code_hash"),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.String(length=64), nullable=False),
        _guid("tenant_id"),
        _guid("client_app_id"),
        _guid("user_id"),
        sa.Column("scope", sa.Text(), nullable=False),
        _ts("auth_time"),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("spent_at", nullable=True),
        _ts("revoked_at", nullable=True),
        _pk("refresh_tokens", "token_hash"),
    )
    _index("refresh_tokens", "family_id")
    _index("refresh_tokens", "user_id")
    op.create_table(
        "device_codes",
        sa.Column("device_code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_code", sa.String(length=16), nullable=False),
        sa.Column("tenant_segment", sa.String(length=255), nullable=False),
        _guid("tenant_id", nullable=True),
        _guid("client_app_id"),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        _guid("user_id", nullable=True),
        _ts("auth_time", nullable=True),
        sa.Column("interval", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("last_poll_at", nullable=True),
        _pk("device_codes", "device_code_hash"),
        sa.UniqueConstraint("user_code", name=op.f("uq_device_codes_user_code")),
    )
    op.create_table(
        "used_assertions",
        sa.Column("jti_hash", sa.String(length=64), nullable=False),
        _ts("expires_at"),
        _pk("used_assertions", "jti_hash"),
    )
    op.create_table(
        "lockouts",
        _guid("user_id"),
        sa.Column("failures", sa.Integer(), nullable=False),
        _ts("window_start", nullable=True),
        _ts("locked_until", nullable=True),
        _fk("lockouts", "user_id", "users"),
        _pk("lockouts", "user_id"),
    )


def _logs() -> None:
    op.create_table(
        "audit_events",
        _guid("id"),
        _guid("tenant_id"),
        _ts("activity_date_time"),
        sa.Column("activity_display_name", sa.String(length=128), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("operation_type", sa.String(length=32), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("result_reason", sa.String(length=512), nullable=False),
        sa.Column("logged_by_service", sa.String(length=64), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=False),
        sa.Column("initiated_by", sa.JSON(), nullable=False),
        sa.Column("target_resources", sa.JSON(), nullable=False),
        sa.Column("additional_details", sa.JSON(), nullable=False),
        _fk("audit_events", "tenant_id", "tenants"),
        _pk("audit_events", "id"),
    )
    _index("audit_events", "tenant_id", "activity_date_time", name="ix_audit_events_tenant_time")
    op.create_table(
        "sign_in_events",
        _guid("id"),
        _guid("tenant_id"),
        _ts("created_date_time"),
        _guid("user_id", nullable=True),
        sa.Column("user_principal_name", sa.String(length=255), nullable=True),
        _guid("app_id", nullable=True),
        sa.Column("app_display_name", sa.String(length=256), nullable=True),
        sa.Column("resource_display_name", sa.String(length=256), nullable=True),
        sa.Column("grant_type", sa.String(length=64), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=False),
        sa.Column("failure_reason", sa.String(length=1024), nullable=False),
        sa.Column("consent_reason", sa.String(length=64), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=False),
        _pk("sign_in_events", "id"),
    )
    _index("sign_in_events", "tenant_id", "created_date_time", name="ix_sign_in_events_tenant_time")


# Children before parents; dropping a table drops its indexes and constraints with it.
_TABLES_IN_DROP_ORDER = (
    "sign_in_events", "audit_events", "lockouts", "used_assertions", "device_codes", "refresh_tokens",
    "authorization_codes", "interactions", "sessions", "signing_keys", "app_role_assignments",
    "oauth2_permission_grants", "service_principal_names", "service_principals", "key_credentials",
    "password_credentials", "applications", "role_assignments", "group_members", "groups", "users",
    "tenant_domains", "tenants",
)


def downgrade() -> None:
    for table in _TABLES_IN_DROP_ORDER:
        op.drop_table(table)
