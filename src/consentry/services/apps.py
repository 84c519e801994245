"""App registrations (validated as Graph validates them) and service principals ("enterprise applications");
their credentials are in :mod:`consentry.services.app_credentials` and :mod:`consentry.services.certificates`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from consentry.domain.apps import (
    INTEGRATED_APP_TAG,
    SIGN_IN_AUDIENCES,
    Application,
    AppRole,
    PermissionScope,
    RequiredResourceAccess,
    ResourceAccess,
    ServicePrincipal,
    service_principal_names,
)
from consentry.domain.builtin import builtin_applications, find_builtin_application, owner_organization
from consentry.domain.ids import is_guid, new_guid
from consentry.domain.odata import ODataQuery
from consentry.domain.scopes import resource_key
from consentry.errors import CONFLICT, GRAPH_NOT_FOUND, INVALID_VALUE, NOT_FOUND, ConsentryError
from consentry.services import audit
from consentry.services.audit import Target
from consentry.services.certificates import KeyCredentialInput, replace_key_credentials
from consentry.services.context import Actor, ServiceContext
from consentry.store.odata import Page
from consentry.store.uow import TenantScope, Transaction

UPDATABLE = frozenset({"display_name", "sign_in_audience", "web_redirect_uris", "homepage_url", "spa_redirect_uris",
                       "public_client_redirect_uris", "is_fallback_public_client", "identifier_uris",
                       "required_resource_access", "scopes", "app_roles"})
# How "Update application" names what changed (Entra's labels where known, Graph's names otherwise).
_AUDIT_LABELS = {"display_name": "DisplayName", "sign_in_audience": "SignInAudience", "web_redirect_uris": "AppAddress",
                 "homepage_url": "HomePageUrl", "spa_redirect_uris": "SpaRedirectUris",
                 "public_client_redirect_uris": "PublicClientRedirectUris",
                 "is_fallback_public_client": "IsFallbackPublicClient", "identifier_uris": "AppIdentifierUri",
                 "required_resource_access": "RequiredResourceAccess", "scopes": "Oauth2PermissionScopes",
                 "app_roles": "AppRoles", "info": "Info"}
MAX_IDENTIFIER_URI = 255
MAX_PERMISSION_VALUE = 120
MAX_REQUIRED_RESOURCES = 50
MAX_REQUIRED_PERMISSIONS = 400
_INFO_KEYS = ("termsOfServiceUrl", "privacyStatementUrl", "supportUrl", "marketingUrl", "logoUrl")


def _invalid(reason: str) -> ConsentryError:
    return ConsentryError(INVALID_VALUE, reason=reason)


def _validate_redirect_uris(uris: tuple[str, ...]) -> None:
    for uri in uris:
        if len(uri) > 2048 or not (uri.startswith(("https://", "http://localhost", "http://127.0.0.1"))
                                   or uri.startswith("urn:ietf:wg:oauth:2.0:oob")
                                   or ("://" in uri and not uri.startswith(("http://", "javascript:")))):
            raise ConsentryError(INVALID_VALUE, reason=f"The redirect URI '{uri}' is not allowed: use https, "
                                                        "http://localhost, or a custom scheme.")


def validate_definition(tx: Transaction, scope: TenantScope, app: Application,
                        previous: Application | None = None) -> None:
    """Refuse a registration that Entra would refuse (``previous``: the registration being updated)."""
    if not app.display_name.strip() or len(app.display_name) > 256:
        raise _invalid("displayName is required and at most 256 characters long.")
    if app.sign_in_audience not in SIGN_IN_AUDIENCES:
        raise _invalid(f"'{app.sign_in_audience}' is not a valid signInAudience.")
    _validate_redirect_uris(app.redirect_uris)
    if app.homepage_url is not None and (len(app.homepage_url) > 2048
                                         or not app.homepage_url.startswith(("https://", "http://"))):
        raise _invalid("web.homePageUrl must be an http or https URL.")
    for key in _INFO_KEYS:
        value = app.info.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 2048):
            raise _invalid(f"info.{key} must be a URL of at most 2048 characters.")
    _validate_identifier_uris(tx, scope, app, previous)
    _validate_scopes(app, previous)
    _validate_app_roles(app, previous)
    _validate_required_resource_access(app)


def _validate_identifier_uris(tx: Transaction, scope: TenantScope, app: Application,
                              previous: Application | None) -> None:
    keys = [resource_key(uri) for uri in app.identifier_uris]
    if len(set(keys)) != len(keys):
        raise _invalid("identifierUris contains the same URI twice.")
    before = {resource_key(uri) for uri in (previous.identifier_uris if previous else ())}
    taken_by_builtins = {resource_key(name) for builtin in builtin_applications()
                         for name in service_principal_names(builtin)}
    for uri, key in zip(app.identifier_uris, keys, strict=True):
        scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
        if (len(uri) > MAX_IDENTIFIER_URI or scheme not in ("api", "https", "http", "urn", "ms-appx")
                or any(c.isspace() or c in "?#*" for c in uri)):
            raise _invalid(f"The identifier URI '{uri[:300]}' is not valid: use an absolute api://, https:// or "
                           "urn: URI of at most 255 characters, without a query, a fragment or wildcards.")
        if key in before:
            continue
        holder = scope.apps.find_service_principal_by_name(uri)
        others = [i for i in tx.applications.find_registrations_with_identifier_uri(uri) if i != app.id]
        if key in taken_by_builtins or others or (holder is not None and holder.app_id != app.app_id.lower()):
            raise _invalid("Another object with the same value for property identifierUris already exists.")


def _validate_permission_value(value: str | None, what: str) -> None:
    if value is not None and (not value or len(value) > MAX_PERMISSION_VALUE or value.startswith(".")
                              or any(c.isspace() for c in value)):
        raise _invalid(f"The {what} value '{value[:200]}' is not valid: 1 to {MAX_PERMISSION_VALUE} characters, "
                       "no spaces, not starting with '.'.")


def _validate_ids_and_values(items: Sequence[PermissionScope | AppRole], what: str) -> None:
    ids = [item.id for item in items]
    if not all(is_guid(i) for i in ids) or len(set(ids)) != len(ids):
        raise _invalid(f"Every {what} needs a unique GUID id.")
    values = [item.value.lower() for item in items if item.value]
    if len(set(values)) != len(values):
        raise _invalid(f"Two {what}s have the same value.")


def _ensure_enabled_kept(old: Sequence[PermissionScope | AppRole], new: Sequence[PermissionScope | AppRole],
                         what: str) -> None:
    """Entra's rule: an enabled permission must be disabled (isEnabled false) before it is removed or renamed."""
    now_by_id = {item.id: item for item in new}
    for item in old:
        after = now_by_id.get(item.id)
        if item.is_enabled and (after is None or after.value != item.value):
            raise _invalid(f"CannotDeleteOrUpdateEnabledEntitlement: the {what} '{item.value}' ({item.id}) must be "
                           "disabled (isEnabled false) before it is removed or its value is changed.")


def _validate_scopes(app: Application, previous: Application | None) -> None:
    _validate_ids_and_values(app.scopes, "oauth2PermissionScope")
    for scope in app.scopes:
        _validate_permission_value(scope.value, "permission scope")
        if scope.type not in ("User", "Admin"):
            raise _invalid(f"The type of the permission scope '{scope.value}' must be User or Admin.")
    if previous is not None:
        _ensure_enabled_kept(previous.scopes, app.scopes, "permission scope")


def _validate_app_roles(app: Application, previous: Application | None) -> None:
    _validate_ids_and_values(app.app_roles, "appRole")
    for role in app.app_roles:
        _validate_permission_value(role.value, "app role")
        if not role.allowed_member_types or not set(role.allowed_member_types) <= {"User", "Application"}:
            raise _invalid("allowedMemberTypes of an app role must list User, Application or both.")
    if previous is not None:
        _ensure_enabled_kept(previous.app_roles, app.app_roles, "app role")


def _validate_required_resource_access(app: Application) -> None:
    resources = [r.resource_app_id.lower() for r in app.required_resource_access]
    if len(resources) > MAX_REQUIRED_RESOURCES or len(set(resources)) != len(resources):
        raise _invalid(f"requiredResourceAccess lists at most {MAX_REQUIRED_RESOURCES} resources, each once.")
    if sum(len(r.resource_access) for r in app.required_resource_access) > MAX_REQUIRED_PERMISSIONS:
        raise _invalid(f"requiredResourceAccess lists at most {MAX_REQUIRED_PERMISSIONS} permissions.")
    for required in app.required_resource_access:
        if not is_guid(required.resource_app_id):
            raise _invalid("requiredResourceAccess.resourceAppId must be a GUID.")
        for access in required.resource_access:
            if not is_guid(access.id) or access.type not in ("Scope", "Role"):
                raise _invalid("resourceAccess needs a GUID id and a type of Scope or Role.")


def register_application(ctx: ServiceContext, tenant_id: str, app: Application, actor: Actor, *,
                         create_service_principal: bool = True,
                         certificates: Sequence[KeyCredentialInput] = ()) -> Application:
    """Register an application in its home tenant and, as the portal does, its service principal there.

    Graph's ``POST /applications`` creates no service principal (``create_service_principal=False``).
    """
    now = ctx.clock.now()
    app = replace(app, tenant_id=tenant_id, created_at=now)
    with ctx.uow.begin() as tx:
        if tx.applications.find_home_registration(app.app_id) or find_builtin_application(app.app_id):
            raise ConsentryError(CONFLICT, reason=f"An application with appId '{app.app_id}' already exists.")
        scope = tx.tenant(tenant_id)
        validate_definition(tx, scope, app)
        scope.apps.add_application(app)
        audit.record(scope, now, actor, "Add application", "ApplicationManagement", "Add",
                     [Target(app.id, "Application", app.display_name,
                             modified={"AppId": (None, app.app_id), "DisplayName": (None, app.display_name),
                                       "SignInAudience": (None, app.sign_in_audience)})])
        if certificates:
            replace_key_credentials(scope, app, certificates, now, actor)
        if create_service_principal:
            _add_service_principal(scope, app, now, actor)
        return application_in(scope, app.id)


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


def update_application(ctx: ServiceContext, tenant_id: str, application_id: str, actor: Actor, *,
                       info: dict[str, str | None] | None = None,
                       key_credentials: Sequence[KeyCredentialInput] | None = None,
                       **changes: object) -> Application:
    """Change an application's definition (the fields in :data:`UPDATABLE`; ``info`` is merged) and/or
    replace its certificates, and copy the published parts onto its service principals."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise TypeError(f"not updatable: {', '.join(sorted(unknown))}")
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        scope = tx.tenant(tenant_id)
        app = graph_application_in(scope, application_id)
        new = replace(app, **changes)  # type: ignore[arg-type]
        if info is not None:
            new = replace(new, info={**app.info, **info})
        modified = {name: (getattr(app, name), getattr(new, name)) for name in [*changes, "info"]
                    if getattr(app, name) != getattr(new, name)}
        if modified:
            validate_definition(tx, scope, new, previous=app)
            scope.apps.replace_application(new)
            labels = {_AUDIT_LABELS[name]: (_audit_value(old), _audit_value(value))
                      for name, (old, value) in modified.items()}
            labels["Included Updated Properties"] = (None, ", ".join(labels))
            audit.record(scope, now, actor, "Update application", "ApplicationManagement", "Update",
                         [Target(app.id, "Application", new.display_name, modified=labels)])
            if set(modified) - {"required_resource_access", "is_fallback_public_client", "info"}:
                _sync_service_principals(tx, new)
        if key_credentials is not None:
            replace_key_credentials(scope, new, key_credentials, now, actor)
        return application_in(scope, app.id)


def _audit_value(value: object) -> object:
    if isinstance(value, tuple):
        return [_audit_value(v) for v in value]
    if isinstance(value, PermissionScope | AppRole):
        return value.value
    if isinstance(value, RequiredResourceAccess):
        return {"ResourceAppId": value.resource_app_id, "ResourceAccess": [a.id for a in value.resource_access]}
    return value


def _sync_service_principals(tx: Transaction, app: Application) -> None:
    try:
        with tx.conn.begin_nested():
            tx.applications.sync_service_principals(app)
    except IntegrityError as exc:
        raise _invalid("Another object with the same value for property identifierUris already exists.") from exc


def application_in(scope: TenantScope, id_or_app_id: str) -> Application:
    app = scope.apps.find_application(id_or_app_id) or scope.apps.find_application_by_app_id(id_or_app_id)
    if app is None:
        raise ConsentryError(NOT_FOUND)
    return app


def get_application(ctx: ServiceContext, tenant_id: str, id_or_app_id: str) -> Application:
    with ctx.uow.read() as tx:
        return application_in(tx.tenant(tenant_id), id_or_app_id)


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
        _remove_service_principal(scope, get_service_principal(scope, id_or_app_id), now, actor)


def _remove_service_principal(scope: TenantScope, sp: ServicePrincipal, now: datetime, actor: Actor) -> None:
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


def graph_application_in(scope: TenantScope, object_id: str) -> Application:
    app = scope.apps.find_application(object_id.lower())
    if app is None:
        raise ConsentryError(GRAPH_NOT_FOUND, id=object_id)
    return app


def find_application(ctx: ServiceContext, tenant_id: str, object_id: str | None = None,
                     app_id: str | None = None) -> Application:
    """An application homed in the tenant, by object id or by appId (Graph's alternate key); 404 when absent."""
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        app = (scope.apps.find_application(object_id.lower()) if object_id
               else scope.apps.find_application_by_app_id(app_id or ""))
    if app is None:
        raise ConsentryError(GRAPH_NOT_FOUND, id=object_id or app_id or "")
    return app


def page_applications(ctx: ServiceContext, tenant_id: str, query: ODataQuery) -> tuple[list[Application], Page]:
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).apps.page_applications(query)


def publisher_domain(ctx: ServiceContext, tenant_id: str) -> str | None:
    """What Graph shows as an application's ``publisherDomain``: its home tenant's default domain."""
    with ctx.uow.read() as tx:
        tenant = tx.tenants.find(tenant_id)
    return tenant.default_domain if tenant else None
