"""App registrations, their credentials, and service principals ("enterprise applications")."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from consentry.domain.apps import (
    INTEGRATED_APP_TAG,
    SIGN_IN_AUDIENCES,
    Application,
    KeyCredential,
    PasswordCredential,
    RequiredResourceAccess,
    ResourceAccess,
    ServicePrincipal,
    service_principal_names,
)
from consentry.domain.builtin import find_builtin_application, owner_organization
from consentry.domain.ids import new_guid
from consentry.domain.odata import ODataQuery
from consentry.errors import CONFLICT, GRAPH_NOT_FOUND, INVALID_VALUE, NOT_FOUND, ConsentryError
from consentry.services import audit
from consentry.services.audit import Target
from consentry.services.context import Actor, ServiceContext
from consentry.services.credentials import digest, new_client_secret
from consentry.store.odata import Page
from consentry.store.uow import TenantScope, Transaction

SECRET_DEFAULT_LIFETIME = timedelta(days=180)


def _validate_redirect_uris(uris: tuple[str, ...]) -> None:
    for uri in uris:
        if len(uri) > 2048 or not (uri.startswith(("https://", "http://localhost", "http://127.0.0.1"))
                                   or uri.startswith("urn:ietf:wg:oauth:2.0:oob")
                                   or ("://" in uri and not uri.startswith(("http://", "javascript:")))):
            raise ConsentryError(INVALID_VALUE, reason=f"The redirect URI '{uri}' is not allowed: use https, "
                                                        "http://localhost, or a custom scheme.")


def register_application(ctx: ServiceContext, tenant_id: str, app: Application, actor: Actor, *,
                         create_service_principal: bool = True) -> Application:
    """Register an application in its home tenant and, as the portal does, its service principal there."""
    if app.sign_in_audience not in SIGN_IN_AUDIENCES:
        raise ConsentryError(INVALID_VALUE, reason=f"'{app.sign_in_audience}' is not a valid signInAudience.")
    _validate_redirect_uris(app.redirect_uris)
    now = ctx.clock.now()
    app = replace(app, tenant_id=tenant_id, created_at=now)
    with ctx.uow.begin() as tx:
        if tx.applications.find_home_registration(app.app_id) or find_builtin_application(app.app_id):
            raise ConsentryError(CONFLICT, reason=f"An application with appId '{app.app_id}' already exists.")
        scope = tx.tenant(tenant_id)
        scope.apps.add_application(app)
        audit.record(scope, now, actor, "Add application", "ApplicationManagement", "Add",
                     [Target(app.id, "Application", app.display_name)])
        if create_service_principal:
            _add_service_principal(scope, app, now, actor)
    return app


def service_principal_for(app: Application, tenant_id: str, now: datetime) -> ServicePrincipal:
    owner = app.tenant_id if app.tenant_id else owner_organization(app)
    return ServicePrincipal(
        id=new_guid(), tenant_id=tenant_id, app_id=app.app_id, display_name=app.display_name,
        app_owner_organization_id=owner, tags=(INTEGRATED_APP_TAG,), scopes=app.scopes, app_roles=app.app_roles,
        service_principal_names=service_principal_names(app), reply_urls=app.redirect_uris,
        homepage=app.homepage_url, publisher_name=app.publisher_name, sign_in_audience=app.sign_in_audience,
        verified_publisher=dict(app.verified_publisher), created_at=now)


def _add_service_principal(scope: TenantScope, app: Application, now: datetime, actor: Actor) -> ServicePrincipal:
    sp = service_principal_for(app, scope.tenant_id, now)
    scope.apps.add_service_principal(sp)
    audit.record(scope, now, actor, "Add service principal", "ApplicationManagement", "Add",
                 [Target(sp.id, "ServicePrincipal", sp.display_name,
                         modified={"AccountEnabled": (None, True), "AppPrincipalId": (None, sp.app_id),
                                   "DisplayName": (None, sp.display_name)})])
    return sp


def find_application_anywhere(tx: Transaction, app_id: str) -> Application | None:
    """The application behind an appId: Microsoft's built-ins, or a registration in its home tenant."""
    return find_builtin_application(app_id) or tx.applications.find_home_registration(app_id)


def ensure_service_principal(tx: Transaction, tenant_id: str, app: Application, now: datetime,
                             actor: Actor) -> tuple[ServicePrincipal, bool]:
    """The app's service principal in a tenant, created if missing; the flag says whether it was."""
    scope = tx.tenant(tenant_id)
    existing = scope.apps.find_service_principal_by_app_id(app.app_id)
    if existing is not None:
        return existing, False
    return _add_service_principal(scope, app, now, actor), True


def create_service_principal(ctx: ServiceContext, tenant_id: str, app_id: str, actor: Actor) -> ServicePrincipal:
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        app = find_application_anywhere(tx, app_id)
        if app is None:
            raise ConsentryError(INVALID_VALUE, reason=f"No application with appId '{app_id}' exists.")
        if app.tenant_id not in (None, tenant_id) and not app.is_multi_tenant:
            raise ConsentryError(INVALID_VALUE, reason=f"The application '{app_id}' is single-tenant and "
                                                        "cannot have a service principal in this tenant.")
        scope = tx.tenant(tenant_id)
        if scope.apps.find_service_principal_by_app_id(app.app_id):
            raise ConsentryError(CONFLICT, reason=f"A service principal for appId '{app_id}' already exists.")
        return _add_service_principal(scope, app, now, actor)


def add_password(ctx: ServiceContext, tenant_id: str, application_id: str, actor: Actor,
                 display_name: str | None = None, end: datetime | None = None) -> tuple[PasswordCredential, str]:
    """Add a client secret. The secret value is returned here once and never stored."""
    now = ctx.clock.now()
    secret = new_client_secret()
    cred = PasswordCredential(new_guid(), display_name, secret[:3], digest(secret), now,
                              end or now + SECRET_DEFAULT_LIFETIME)
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        app = _get_application(scope, application_id)
        scope.apps.add_password_credential(app.id, cred)
        audit.record(scope, now, actor, "Update application – Certificates and secrets management",
                     "ApplicationManagement", "Update",
                     [Target(app.id, "Application", app.display_name,
                             modified={"KeyDescription": (None, f"[KeyIdentifier={cred.key_id},KeyType=Password,"
                                                                f"KeyUsage=Verify,DisplayName={display_name}]")})])
    return cred, secret


def certificate_thumbprints(der: bytes) -> tuple[str, str]:
    return hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()  # noqa: S324


def parse_certificate(data: bytes) -> x509.Certificate:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        try:
            return x509.load_der_x509_certificate(data)
        except ValueError:
            return x509.load_der_x509_certificate(base64.b64decode(data, validate=True))
    except ValueError as exc:
        raise ConsentryError(INVALID_VALUE, reason="The key is not a valid X.509 certificate.") from exc


def add_certificate(ctx: ServiceContext, tenant_id: str, application_id: str, certificate: bytes, actor: Actor,
                    display_name: str | None = None) -> KeyCredential:
    """Add a certificate credential (the public certificate only; PEM, DER or base64 DER)."""
    cert = parse_certificate(certificate)
    der = cert.public_bytes(Encoding.DER)
    sha1, sha256 = certificate_thumbprints(der)
    cred = KeyCredential(new_guid(), display_name or cert.subject.rfc4514_string(), "AsymmetricX509Cert",
                         "Verify", der, sha1, sha256, cert.not_valid_before_utc, cert.not_valid_after_utc)
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        app = _get_application(scope, application_id)
        if any(k.thumbprint_sha256 == sha256 for k in app.key_credentials):
            raise ConsentryError(CONFLICT, reason="This certificate is already registered for the application.")
        scope.apps.add_key_credential(app.id, cred)
        audit.record(scope, now, actor, "Update application – Certificates and secrets management",
                     "ApplicationManagement", "Update",
                     [Target(app.id, "Application", app.display_name,
                             modified={"KeyDescription": (None, f"[KeyIdentifier={cred.key_id},"
                                                                f"KeyType=AsymmetricX509Cert,KeyUsage=Verify,"
                                                                f"DisplayName={cred.display_name}]")})])
    return cred


def _get_application(scope: TenantScope, id_or_app_id: str) -> Application:
    app = scope.apps.find_application(id_or_app_id) or scope.apps.find_application_by_app_id(id_or_app_id)
    if app is None:
        raise ConsentryError(NOT_FOUND)
    return app


def get_application(ctx: ServiceContext, tenant_id: str, id_or_app_id: str) -> Application:
    with ctx.uow.read() as tx:
        return _get_application(tx.tenant(tenant_id), id_or_app_id)


def list_applications(ctx: ServiceContext, tenant_id: str) -> list[Application]:
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).apps.list_applications()


def list_service_principals(ctx: ServiceContext, tenant_id: str) -> list[ServicePrincipal]:
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).apps.list_service_principals()


def get_service_principal(scope: TenantScope, id_or_app_id: str) -> ServicePrincipal:
    sp = scope.apps.find_service_principal(id_or_app_id) or scope.apps.find_service_principal_by_app_id(id_or_app_id)
    if sp is None:
        raise ConsentryError(NOT_FOUND)
    return sp


def update_service_principal(ctx: ServiceContext, tenant_id: str, id_or_app_id: str, actor: Actor, *,
                             account_enabled: bool | None = None,
                             app_role_assignment_required: bool | None = None,
                             tags: list[str] | None = None) -> ServicePrincipal:
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        sp = get_service_principal(scope, id_or_app_id)
        changes: dict[str, object] = {}
        modified: dict[str, tuple[object, object]] = {}
        for column, label, old, new in (
                ("account_enabled", "AccountEnabled", sp.account_enabled, account_enabled),
                ("app_role_assignment_required", "AppRoleAssignmentRequired", sp.app_role_assignment_required,
                 app_role_assignment_required),
                ("tags", "Tags", list(sp.tags), tags)):
            if new is not None and new != old:
                changes[column] = new
                modified[label] = (old, new)
        if changes:
            scope.apps.update_service_principal(sp.id, **changes)
            audit.record(scope, now, actor, "Update service principal", "ApplicationManagement", "Update",
                         [Target(sp.id, "ServicePrincipal", sp.display_name, modified=modified)])
        return get_service_principal(scope, sp.id)


def delete_service_principal(ctx: ServiceContext, tenant_id: str, id_or_app_id: str, actor: Actor) -> None:
    """Remove a service principal with its grants and assignments (so users may ask for it again)."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        sp = get_service_principal(scope, id_or_app_id)
        scope.grants.remove_all_for_principal(sp.id)
        scope.apps.remove_service_principal(sp.id)
        audit.record(scope, now, actor, "Remove service principal", "ApplicationManagement", "Delete",
                     [Target(sp.id, "ServicePrincipal", sp.display_name)])


def required_resource_access_for(resource_app_id: str, ids_and_types: list[tuple[str, str]]) -> RequiredResourceAccess:
    return RequiredResourceAccess(resource_app_id, tuple(ResourceAccess(i, t) for i, t in ids_and_types))


def page_service_principals(ctx: ServiceContext, tenant_id: str,
                            query: ODataQuery) -> tuple[list[ServicePrincipal], Page]:
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).apps.page_service_principals(query)


def find_service_principal(ctx: ServiceContext, tenant_id: str, object_id: str | None = None,
                           app_id: str | None = None) -> ServicePrincipal:
    """A service principal by object id or by appId (Graph's alternate key); 404 when absent."""
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        sp = (scope.apps.find_service_principal(object_id) if object_id
              else scope.apps.find_service_principal_by_app_id(app_id or ""))
    if sp is None:
        raise ConsentryError(GRAPH_NOT_FOUND, id=object_id or app_id or "")
    return sp
