"""Applications (the definition, in a home tenant) and service principals (its instance in each tenant).

The field names follow Microsoft Graph's ``application`` and ``servicePrincipal`` resources, so that the
Graph API can expose them without renaming.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

SIGN_IN_AUDIENCES = ("AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount",
                     "PersonalMicrosoftAccount")
MULTI_TENANT_AUDIENCES = frozenset({"AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount"})
HIDE_APP_TAG = "HideApp"
INTEGRATED_APP_TAG = "WindowsAzureActiveDirectoryIntegratedApp"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


@dataclass(frozen=True, slots=True)
class PermissionScope:
    """A delegated permission a resource publishes (``oauth2PermissionScopes``)."""

    id: str
    value: str
    type: str  # "User" or "Admin"
    admin_consent_display_name: str
    admin_consent_description: str
    user_consent_display_name: str | None
    user_consent_description: str | None
    is_enabled: bool = True


@dataclass(frozen=True, slots=True)
class AppRole:
    id: str
    value: str | None
    display_name: str
    description: str
    allowed_member_types: tuple[str, ...]
    is_enabled: bool = True

    @property
    def for_applications(self) -> bool:
        return "Application" in self.allowed_member_types


@dataclass(frozen=True, slots=True)
class ResourceAccess:
    id: str
    type: str  # "Scope" or "Role"


@dataclass(frozen=True, slots=True)
class RequiredResourceAccess:
    resource_app_id: str
    resource_access: tuple[ResourceAccess, ...]


@dataclass(frozen=True, slots=True)
class PasswordCredential:
    key_id: str
    display_name: str | None
    hint: str
    secret_hash: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class KeyCredential:
    key_id: str
    display_name: str | None
    type: str
    usage: str
    certificate_der: bytes
    thumbprint_sha1: str
    thumbprint_sha256: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Application:
    id: str
    app_id: str
    tenant_id: str | None  # the home tenant; None for Microsoft's built-in applications
    display_name: str
    sign_in_audience: str = "AzureADMyOrg"
    web_redirect_uris: tuple[str, ...] = ()
    spa_redirect_uris: tuple[str, ...] = ()
    public_client_redirect_uris: tuple[str, ...] = ()
    is_fallback_public_client: bool = False
    identifier_uris: tuple[str, ...] = ()
    required_resource_access: tuple[RequiredResourceAccess, ...] = ()
    scopes: tuple[PermissionScope, ...] = ()
    app_roles: tuple[AppRole, ...] = ()
    homepage_url: str | None = None
    info: dict[str, str | None] = field(default_factory=dict)
    publisher_name: str | None = None
    verified_publisher: dict[str, str | None] = field(default_factory=dict)
    password_credentials: tuple[PasswordCredential, ...] = ()
    key_credentials: tuple[KeyCredential, ...] = ()
    created_at: datetime | None = None

    @property
    def is_multi_tenant(self) -> bool:
        return self.sign_in_audience in MULTI_TENANT_AUDIENCES

    @property
    def is_public_client(self) -> bool:
        """A client with no credentials of its own: public-client redirect URIs or the fallback flag."""
        if self.password_credentials or self.key_credentials:
            return False
        return self.is_fallback_public_client or bool(self.public_client_redirect_uris or self.spa_redirect_uris)

    @property
    def redirect_uris(self) -> tuple[str, ...]:
        return self.web_redirect_uris + self.spa_redirect_uris + self.public_client_redirect_uris

    def is_redirect_uri_registered(self, uri: str) -> bool:
        """Exact match, except that a registered ``http://localhost`` loopback URI matches any port.

        That loopback rule is RFC 8252 §7.3 and what Entra does for public clients.
        """
        if uri in self.redirect_uris:
            return True
        parts = urlsplit(uri)
        if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS or parts.username or parts.password:
            return False
        try:
            parts.port  # noqa: B018 - raises ValueError for a malformed or out-of-range port
        except ValueError:
            return False
        for registered in self.public_client_redirect_uris:
            reg = urlsplit(registered)
            if (reg.scheme == "http" and reg.hostname == parts.hostname and reg.port is None
                    and (reg.path or "/") == (parts.path or "/") and not parts.query and not parts.fragment):
                return True
        return False

    @property
    def verified(self) -> bool:
        return bool(self.verified_publisher.get("verifiedPublisherId"))


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    id: str
    tenant_id: str
    app_id: str
    display_name: str
    app_owner_organization_id: str | None
    account_enabled: bool = True
    app_role_assignment_required: bool = False
    tags: tuple[str, ...] = ()
    scopes: tuple[PermissionScope, ...] = ()
    app_roles: tuple[AppRole, ...] = ()
    service_principal_names: tuple[str, ...] = ()
    reply_urls: tuple[str, ...] = ()
    homepage: str | None = None
    publisher_name: str | None = None
    sign_in_audience: str | None = None
    verified_publisher: dict[str, str | None] = field(default_factory=dict)
    notes: str | None = None
    created_at: datetime | None = None

    def scope_by_value(self, value: str) -> PermissionScope | None:
        wanted = value.lower()
        for scope in self.scopes:
            if scope.value.lower() == wanted and scope.is_enabled:
                return scope
        return None

    def role_by_id(self, role_id: str) -> AppRole | None:
        for role in self.app_roles:
            if role.id == role_id:
                return role
        return None

    def matches_resource(self, identifier: str) -> bool:
        """True when ``identifier`` names this resource: its appId or one of its identifier URIs."""
        wanted = identifier.rstrip("/").lower()
        return wanted == self.app_id.lower() or any(
            name.rstrip("/").lower() == wanted for name in self.service_principal_names)

    @property
    def primary_identifier(self) -> str:
        for name in self.service_principal_names:
            if "://" in name:
                return name.rstrip("/")
        return self.app_id


def service_principal_names(app: Application) -> tuple[str, ...]:
    return (*app.identifier_uris, app.app_id)
