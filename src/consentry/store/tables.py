"""The schema, as SQLAlchemy Core tables. Alembic migrations in ``migrations/`` create exactly this."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})


def _guid(name: str, *args: object, **kw: object) -> Column:
    return Column(name, String(36), *args, **kw)  # type: ignore[arg-type]


def _ts(name: str, nullable: bool = False) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable)


tenants = Table(
    "tenants", metadata,
    _guid("id", primary_key=True),
    Column("display_name", String(256), nullable=False),
    _ts("created_at"),
)

tenant_domains = Table(
    "tenant_domains", metadata,
    Column("name", String(255), primary_key=True),  # lower-case
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("position", Integer, nullable=False, default=0),
)

users = Table(
    "users", metadata,
    _guid("id", primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("user_principal_name", String(255), nullable=False, unique=True),  # lower-case
    Column("display_name", String(256), nullable=False),
    Column("mail", String(255)),
    Column("given_name", String(64)),
    Column("surname", String(64)),
    Column("job_title", String(128)),
    Column("account_enabled", Boolean, nullable=False, default=True),
    Column("password_hash", String(255)),
    _ts("created_at"),
    Index("ix_users_tenant_id_id", "tenant_id", "id"),
    Index("ix_users_tenant_id_display_name_id", "tenant_id", "display_name", "id"),
)

groups = Table(
    "groups", metadata,
    _guid("id", primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("display_name", String(256), nullable=False),
    Column("description", Text),
    _ts("created_at"),
    Index("ix_groups_tenant_id_id", "tenant_id", "id"),
    Index("ix_groups_tenant_id_display_name_id", "tenant_id", "display_name", "id"),
)

group_members = Table(
    "group_members", metadata,
    _guid("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    _guid("member_id", primary_key=True),
    _guid("tenant_id", nullable=False),
    Index("ix_group_members_member", "tenant_id", "member_id"),
)

role_assignments = Table(
    "role_assignments", metadata,
    _guid("id", primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    _guid("principal_id", nullable=False),
    _guid("role_template_id", nullable=False),
    _ts("created_at"),
    UniqueConstraint("tenant_id", "principal_id", "role_template_id"),
    Index("ix_role_assignments_principal", "tenant_id", "principal_id"),
)

applications = Table(
    "applications", metadata,
    _guid("id", primary_key=True),
    _guid("app_id", nullable=False, unique=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("display_name", String(256), nullable=False),
    Column("sign_in_audience", String(64), nullable=False),
    Column("web_redirect_uris", JSON, nullable=False),
    Column("spa_redirect_uris", JSON, nullable=False),
    Column("public_client_redirect_uris", JSON, nullable=False),
    Column("is_fallback_public_client", Boolean, nullable=False, default=False),
    Column("identifier_uris", JSON, nullable=False),
    Column("required_resource_access", JSON, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("app_roles", JSON, nullable=False),
    Column("homepage_url", String(2048)),
    Column("info", JSON, nullable=False),
    Column("publisher_name", String(256)),
    Column("verified_publisher", JSON, nullable=False),
    _ts("created_at"),
    Index("ix_applications_tenant_id_id", "tenant_id", "id"),
    Index("ix_applications_tenant_id_display_name_id", "tenant_id", "display_name", "id"),
)

password_credentials = Table(
    "password_credentials", metadata,
    _guid("key_id", primary_key=True),
    _guid("application_id", ForeignKey("applications.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("display_name", String(256)),
    Column("hint", String(8), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    _ts("start"),
    _ts("end"),
)

key_credentials = Table(
    "key_credentials", metadata,
    _guid("key_id", primary_key=True),
    _guid("application_id", ForeignKey("applications.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("display_name", String(256)),
    Column("type", String(32), nullable=False),
    Column("usage", String(16), nullable=False),
    Column("certificate_der", LargeBinary, nullable=False),
    Column("thumbprint_sha1", String(40), nullable=False, index=True),
    Column("thumbprint_sha256", String(64), nullable=False, index=True),
    _ts("start"),
    _ts("end"),
)

service_principals = Table(
    "service_principals", metadata,
    _guid("id", primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    _guid("app_id", nullable=False),
    Column("display_name", String(256), nullable=False),
    _guid("app_owner_organization_id"),
    Column("account_enabled", Boolean, nullable=False, default=True),
    Column("app_role_assignment_required", Boolean, nullable=False, default=False),
    Column("tags", JSON, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("app_roles", JSON, nullable=False),
    Column("service_principal_names", JSON, nullable=False),
    Column("reply_urls", JSON, nullable=False),
    Column("homepage", String(2048)),
    Column("publisher_name", String(256)),
    Column("sign_in_audience", String(64)),
    Column("verified_publisher", JSON, nullable=False),
    Column("notes", String(1024)),
    _ts("created_at"),
    UniqueConstraint("tenant_id", "app_id"),
    Index("ix_service_principals_tenant_id_id", "tenant_id", "id"),
    Index("ix_service_principals_tenant_id_display_name_id", "tenant_id", "display_name", "id"),
    Index("ix_service_principals_tenant_owner", "tenant_id", "app_owner_organization_id"),
)

service_principal_names = Table(
    "service_principal_names", metadata,
    _guid("tenant_id", primary_key=True),
    Column("name", String(512), primary_key=True),  # lower-case, no trailing slash
    _guid("service_principal_id", ForeignKey("service_principals.id", ondelete="CASCADE"), nullable=False,
          index=True),
)

oauth2_permission_grants = Table(
    "oauth2_permission_grants", metadata,
    Column("id", String(64), primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    _guid("client_id", ForeignKey("service_principals.id", ondelete="CASCADE"), nullable=False),
    Column("consent_type", String(16), nullable=False),
    _guid("principal_id"),
    _guid("resource_id", ForeignKey("service_principals.id", ondelete="CASCADE"), nullable=False),
    Column("scope", Text, nullable=False),
    _ts("created_at"),
    _ts("modified_at"),
    Column("granted_by", String(256)),
    Index("ix_grants_client_resource", "tenant_id", "client_id", "resource_id"),
    Index("ix_grants_resource", "resource_id"),
    Index("ix_oauth2_permission_grants_tenant_id_id", "tenant_id", "id"),
    # One tenant-wide grant per client–resource pair, and one per user: concurrent consents merge into it.
    Index("uq_grants_all_principals", "tenant_id", "client_id", "resource_id", unique=True,
          sqlite_where=text("consent_type = 'AllPrincipals'"), postgresql_where=text("consent_type = 'AllPrincipals'")),
    Index("ix_grants_principal_client", "tenant_id", "principal_id", "client_id"),
    Index("uq_grants_principal", "tenant_id", "client_id", "resource_id", "principal_id", unique=True,
          sqlite_where=text("consent_type = 'Principal'"), postgresql_where=text("consent_type = 'Principal'")),
)

app_role_assignments = Table(
    "app_role_assignments", metadata,
    Column("id", String(64), primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    _guid("principal_id", nullable=False),
    Column("principal_type", String(32), nullable=False),
    Column("principal_display_name", String(256)),
    _guid("resource_id", ForeignKey("service_principals.id", ondelete="CASCADE"), nullable=False),
    Column("resource_display_name", String(256)),
    _guid("app_role_id", nullable=False),
    _ts("created_at"),
    UniqueConstraint("tenant_id", "principal_id", "resource_id", "app_role_id"),
    Index("ix_app_role_assignments_resource", "tenant_id", "resource_id"),
    Index("ix_app_role_assignments_tenant_id_id", "tenant_id", "id"),
)

signing_keys = Table(
    "signing_keys", metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("private_key", LargeBinary, nullable=False),  # encrypted with the key-encryption key
    _ts("created_at"),
    _ts("signs_from"),
    _ts("signs_until", nullable=True),
    _ts("published_until", nullable=True),
)

sessions = Table(
    "sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    _guid("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    _ts("auth_time"),
    _ts("expires_at"),
    _ts("revoked_at", nullable=True),
)

interactions = Table(
    "interactions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("params", JSON, nullable=False),
    _ts("created_at"),
    _ts("expires_at"),
)

authorization_codes = Table(
    "authorization_codes", metadata,
    Column("code_hash", String(64), primary_key=True),
    _guid("tenant_id", nullable=False),
    _guid("client_app_id", nullable=False),
    _guid("user_id", nullable=False),
    Column("redirect_uri", String(2048), nullable=False),
    Column("scope", Text, nullable=False),
    Column("nonce", String(512)),
    Column("code_challenge", String(128)),
    Column("code_challenge_method", String(8)),
    Column("session_id_hash", String(64)),
    _ts("auth_time"),
    _ts("created_at"),
    _ts("expires_at"),
    _ts("redeemed_at", nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family_id", String(64), nullable=False, index=True),
    _guid("tenant_id", nullable=False),
    _guid("client_app_id", nullable=False),
    _guid("user_id", nullable=False, index=True),
    Column("scope", Text, nullable=False),
    _ts("auth_time"),
    _ts("created_at"),
    _ts("expires_at"),
    _ts("spent_at", nullable=True),
    _ts("revoked_at", nullable=True),
)

device_codes = Table(
    "device_codes", metadata,
    Column("device_code_hash", String(64), primary_key=True),
    Column("user_code", String(16), nullable=False, unique=True),
    Column("tenant_segment", String(255), nullable=False),
    _guid("tenant_id"),
    _guid("client_app_id", nullable=False),
    Column("scope", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | declined | redeemed
    _guid("user_id"),
    _ts("auth_time", nullable=True),
    Column("interval", Integer, nullable=False),
    _ts("created_at"),
    _ts("expires_at"),
    _ts("last_poll_at", nullable=True),
)

used_assertions = Table(
    "used_assertions", metadata,
    Column("jti_hash", String(64), primary_key=True),
    _ts("expires_at"),
)

lockouts = Table(
    "lockouts", metadata,
    _guid("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("failures", Integer, nullable=False),
    _ts("window_start", nullable=True),
    _ts("locked_until", nullable=True),
)

audit_events = Table(
    "audit_events", metadata,
    _guid("id", primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    _ts("activity_date_time"),
    Column("activity_display_name", String(128), nullable=False),
    Column("category", String(64), nullable=False),
    Column("operation_type", String(32), nullable=False),
    Column("result", String(16), nullable=False),
    Column("result_reason", String(512), nullable=False, default=""),
    Column("logged_by_service", String(64), nullable=False),
    Column("correlation_id", String(64), nullable=False),
    Column("initiated_by", JSON, nullable=False),
    Column("target_resources", JSON, nullable=False),
    Column("additional_details", JSON, nullable=False),
    Column("target_ids", Text),  # " id1 id2 ": the targets' ids, for finding one object's history
    Index("ix_audit_events_tenant_time", "tenant_id", "activity_date_time"),
)

sign_in_events = Table(
    "sign_in_events", metadata,
    _guid("id", primary_key=True),
    _guid("tenant_id", nullable=False),
    _ts("created_date_time"),
    _guid("user_id"),
    Column("user_principal_name", String(255)),
    _guid("app_id"),
    Column("app_display_name", String(256)),
    Column("resource_display_name", String(256)),
    Column("grant_type", String(64), nullable=False),
    Column("error_code", Integer, nullable=False),
    Column("failure_reason", String(1024), nullable=False, default=""),
    Column("consent_reason", String(64)),
    Column("ip_address", String(64)),
    Column("correlation_id", String(64), nullable=False),
    Index("ix_sign_in_events_tenant_time", "tenant_id", "created_date_time"),
)

directory_version = Table(
    "directory_version", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

delegated_permission_classifications = Table(
    "delegated_permission_classifications", metadata,
    _guid("id", primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    _guid("service_principal_id", ForeignKey("service_principals.id", ondelete="CASCADE"), nullable=False),
    _guid("permission_id", nullable=False),
    Column("permission_name", String(128), nullable=False),
    Column("classification", String(16), nullable=False),
    UniqueConstraint("service_principal_id", "permission_id"),
)

deleted_objects = Table(
    "deleted_objects", metadata,
    _guid("id", primary_key=True),  # the deleted object's own id
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("object_type", String(32), nullable=False),  # servicePrincipal | application
    Column("display_name", String(256), nullable=False),
    _ts("deleted_at"),
    Column("payload", JSON, nullable=False),  # the object with what was removed with it (grants, assignments)
    Index("ix_deleted_objects_tenant_type", "tenant_id", "object_type", "id"),
)

tenant_policies = Table(
    "tenant_policies", metadata,
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    # authorizationPolicy.defaultUserRolePermissions.permissionGrantPoliciesAssigned; NULL: Microsoft's default
    Column("permission_grant_policies_assigned", JSON),
    Column("block_user_consent_for_risky_apps", Boolean, nullable=False, default=True),
    _ts("modified_at"),
)

permission_grant_policies = Table(
    "permission_grant_policies", metadata,
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("display_name", String(256), nullable=False),
    Column("description", String(1024), nullable=False, default=""),
    Column("includes", JSON, nullable=False),
    Column("excludes", JSON, nullable=False),
    _ts("created_at"),
    _ts("modified_at"),
)

calendar_events = Table(
    "calendar_events", metadata,
    _guid("id", primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    _guid("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("body", Text, nullable=False, default=""),
    Column("location", String(255), nullable=False, default=""),
    _ts("start"),
    _ts("end"),
    _ts("created_at"),
    Index("ix_calendar_events_user", "tenant_id", "user_id", "start", "id"),
)

contacts = Table(
    "contacts", metadata,
    _guid("id", primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    _guid("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("display_name", String(255), nullable=False),
    Column("given_name", String(64)),
    Column("surname", String(64)),
    Column("company_name", String(128)),
    Column("job_title", String(128)),
    Column("email_addresses", JSON, nullable=False),
    Column("business_phones", JSON, nullable=False),
    Column("mobile_phone", String(64)),
    _ts("created_at"),
    Index("ix_contacts_user", "tenant_id", "user_id", "display_name", "id"),
)

admin_consent_request_policies = Table(
    "admin_consent_request_policies", metadata,
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("is_enabled", Boolean, nullable=False),
    Column("notify_reviewers", Boolean, nullable=False),
    Column("reminders_enabled", Boolean, nullable=False),
    Column("request_duration_in_days", Integer, nullable=False),
    Column("reviewers", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    _ts("modified_at"),
)

app_consent_requests = Table(
    "app_consent_requests", metadata,
    _guid("id", primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    _guid("app_id", nullable=False),
    Column("app_display_name", String(256), nullable=False),
    Column("consent_type", String(16), nullable=False),
    Column("pending_scopes", JSON, nullable=False),
    _ts("created_at"),
    UniqueConstraint("tenant_id", "app_id", "consent_type"),
    Index("ix_app_consent_requests_tenant_id_id", "tenant_id", "id"),
)

user_consent_requests = Table(
    "user_consent_requests", metadata,
    _guid("id", primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    _guid("app_request_id", ForeignKey("app_consent_requests.id", ondelete="CASCADE"), nullable=False),
    _guid("user_id", nullable=False),
    Column("user_display_name", String(256), nullable=False),
    Column("user_principal_name", String(255), nullable=False),
    Column("user_mail", String(255)),
    Column("reason", Text, nullable=False),
    Column("scopes", JSON, nullable=False),  # what this user asked for (dynamic requests)
    Column("status", String(16), nullable=False),
    _ts("created_at"),
    _ts("expires_at"),
    _ts("completed_at", nullable=True),
    Column("outcome", String(16)),
    Column("review_result", String(16), nullable=False),
    _guid("reviewed_by_id"),
    Column("reviewed_by_name", String(256)),
    Column("reviewed_by_upn", String(255)),
    _ts("reviewed_at", nullable=True),
    Column("review_justification", Text),
    _ts("first_reminder_at", nullable=True),
    _ts("last_reminder_at", nullable=True),
    Index("ix_user_consent_requests_app", "tenant_id", "app_request_id", "status"),
    Index("ix_user_consent_requests_due", "status", "expires_at"),
    Index("ix_user_consent_requests_user", "tenant_id", "user_id", "status"),
    # A user has at most one request in progress per aggregate, however often and concurrently she submits.
    Index("uq_user_consent_requests_in_progress", "app_request_id", "user_id", unique=True,
          sqlite_where=text("status = 'InProgress'"), postgresql_where=text("status = 'InProgress'")),
)

consent_request_reviewers = Table(
    "consent_request_reviewers", metadata,
    _guid("user_request_id", ForeignKey("user_consent_requests.id", ondelete="CASCADE"), primary_key=True),
    _guid("reviewer_id", primary_key=True),
    Index("ix_consent_request_reviewers_reviewer", "reviewer_id"),
)

outbox = Table(
    "outbox", metadata,
    _guid("id", primary_key=True),
    _guid("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("event_key", String(255), nullable=False, unique=True),  # one message per event and recipient
    Column("message_id", String(255), nullable=False),
    Column("recipient", String(255), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    _ts("created_at"),
    Column("attempts", Integer, nullable=False),
    _ts("next_attempt_at"),
    _ts("lease_until", nullable=True),
    _ts("sent_at", nullable=True),
    Column("last_error", String(512)),
    Index("ix_outbox_due", "sent_at", "next_attempt_at"),
    Index("ix_outbox_tenant_created", "tenant_id", "created_at", "id"),
)
