"""What a token may carry, from the grants that exist (spec §3.3, §8.4, §8.5).

* Delegated: ``scp`` is the AllPrincipals grant ∪ the user's Principal grant for the client–resource
  pair, limited to what was asked for (everything granted for ``.default``); anything asked for and not
  granted is AADSTS65001 (``consent_required``). ``roles`` are the user's app roles on the resource.
* App-only: ``roles`` are the app roles assigned to the client's service principal on the resource.

OpenID Connect scopes (``openid profile email offline_access``) describe the sign-in itself: they never
block a token here, and appear in ``scp`` of Microsoft Graph tokens when they are granted.
"""

from __future__ import annotations

from dataclasses import dataclass

from consentry.domain.apps import Application, ServicePrincipal
from consentry.domain.builtin import MICROSOFT_GRAPH
from consentry.domain.directory import GLOBAL_ADMINISTRATOR, Tenant, User
from consentry.domain.grants import granted_scopes
from consentry.domain.scopes import OIDC_SCOPES, ScopeRequest
from consentry.errors import (
    CLIENT_CREDENTIALS_SCOPE,
    CLIENT_NOT_FOUND,
    CONSENT_REQUIRED,
    SCOPE_NOT_FOUND,
    USER_DISABLED,
    USER_NOT_ASSIGNED,
    ConsentryError,
)
from consentry.services.apps import find_application_anywhere
from consentry.services.cache import cached
from consentry.services.clients import Client, ensure_enabled, find_client, get_resource
from consentry.services.context import ServiceContext
from consentry.services.directory import get_tenant, role_template_ids_of
from consentry.store.uow import TenantScope, Transaction


@dataclass(frozen=True, slots=True)
class Access:
    resource: ServicePrincipal
    scopes: tuple[str, ...]  # delegated permission values; empty for app-only
    roles: tuple[str, ...]
    client_sp: ServicePrincipal


def _role_values(resource: ServicePrincipal, role_ids: set[str]) -> tuple[str, ...]:
    values = [r.value for r in resource.app_roles if r.id in role_ids and r.value and r.is_enabled]
    return tuple(sorted(set(values)))


def user_role_ids(scope: TenantScope, user: User, resource: ServicePrincipal) -> set[str]:
    """App roles a user holds on a resource, directly or through a group it is a direct member of."""
    principals = [user.id, *scope.directory.list_group_ids_of(user.id)]
    return {a.app_role_id for a in scope.grants.list_assignments(principal_ids=principals, resource_id=resource.id)}


def is_assigned(scope: TenantScope, user: User, sp: ServicePrincipal) -> bool:
    if user_role_ids(scope, user, sp):
        return True
    roles = {a.role_template_id for a in scope.directory.list_role_assignments(user.id)}
    return GLOBAL_ADMINISTRATOR.id in roles


def consent_error(client: Client) -> ConsentryError:
    return ConsentryError(CONSENT_REQUIRED, app_id=client.app_id, app_name=client.display_name)


def requested_values(request: ScopeRequest, resource: ServicePrincipal, resource_name: str,
                     client: Client) -> list[str]:
    """The resource's own spelling of each requested permission (AADSTS650053 for unknown ones)."""
    values = []
    for value in request.values_for(resource_name):
        scope = resource.scope_by_value(value)
        if scope is None:
            raise ConsentryError(SCOPE_NOT_FOUND, app_name=client.display_name, scope=value,
                                 resource=resource.display_name)
        values.append(scope.value)
    return values


def delegated_access(tx: Transaction, tenant: Tenant, client: Client, user: User, request: ScopeRequest,
                     raw_scope: str) -> Access:
    ensure_enabled(client)
    resource_name = request.single_resource(raw_scope)
    resource = get_resource(tx, tenant, resource_name)
    if client.sp is None:
        raise consent_error(client)
    scope = tx.tenant(tenant.id)
    granted = granted_scopes(scope.grants.list_grants_for_user(client.sp.id, resource.id, user.id), user.id)
    granted_lower = {g.lower() for g in granted}
    resource_granted = [g for g in granted if g.lower() not in OIDC_SCOPES]
    if request.is_default:
        if not resource_granted:
            raise consent_error(client)
        values = list(resource_granted)
    else:
        values = requested_values(request, resource, resource_name, client)
        if any(v.lower() not in granted_lower for v in values if v.lower() not in OIDC_SCOPES):
            raise consent_error(client)
    if resource.app_id == MICROSOFT_GRAPH:
        values += [g for g in granted if g.lower() in OIDC_SCOPES and g.lower() in request.oidc | {"openid"}]
    if client.sp.app_role_assignment_required and not is_assigned(scope, user, client.sp):
        raise ConsentryError(USER_NOT_ASSIGNED, app_name=client.display_name, app_id=client.app_id,
                             user=user.user_principal_name)
    roles = _role_values(resource, user_role_ids(scope, user, resource))
    return Access(resource, tuple(dict.fromkeys(values)), roles, client.sp)


def app_only_access(tx: Transaction, tenant: Tenant, client: Client, request: ScopeRequest,
                    raw_scope: str) -> Access:
    if request.oidc or not request.items or not request.is_default or len(request.items) != 1:
        raise ConsentryError(CLIENT_CREDENTIALS_SCOPE, scope=raw_scope)
    ensure_enabled(client)
    resource = get_resource(tx, tenant, request.items[0].resource)
    if client.sp is None:
        raise ConsentryError(CLIENT_NOT_FOUND, app_id=client.app_id, tenant=tenant.id)
    assignments = tx.tenant(tenant.id).grants.list_assignments(principal_ids=[client.sp.id],
                                                               resource_id=resource.id)
    roles = _role_values(resource, {a.app_role_id for a in assignments})
    return Access(resource, (), roles, client.sp)


@dataclass(frozen=True, slots=True)
class DelegatedGrant:
    tenant: Tenant
    client: Client
    user: User
    access: Access
    role_template_ids: tuple[str, ...]


def evaluate_delegated(ctx: ServiceContext, tenant_id: str, app_id: str, user_id: str, request: ScopeRequest,
                       raw_scope: str) -> DelegatedGrant:
    """Everything a delegated token for this user, client and scope needs, read in one transaction
    (and cached until the directory next changes)."""
    def load(tx: Transaction) -> DelegatedGrant:
        tenant = get_tenant(tx, tenant_id)
        user = tx.tenant(tenant.id).directory.find_user(user_id)
        if user is None or not user.account_enabled:
            raise ConsentryError(USER_DISABLED)
        client = find_client(tx, tenant, app_id)
        access = delegated_access(tx, tenant, client, user, request, raw_scope)
        roles = tuple(sorted(role_template_ids_of(tx.tenant(tenant.id), user.id)))
        return DelegatedGrant(tenant, client, user, access, roles)

    return cached(ctx, ("delegated", tenant_id, app_id, user_id, raw_scope), load)


def evaluate_app_only(ctx: ServiceContext, tenant_segment: str, app_id: str, request: ScopeRequest,
                      raw_scope: str) -> tuple[Tenant, Client, Access]:
    def load(tx: Transaction) -> tuple[Tenant, Client, Access]:
        tenant = get_tenant(tx, tenant_segment)
        client = find_client(tx, tenant, app_id)
        return tenant, client, app_only_access(tx, tenant, client, request, raw_scope)

    return cached(ctx, ("app_only", tenant_segment.lower(), app_id, raw_scope), load)


def load_application(ctx: ServiceContext, app_id: str) -> Application | None:
    return cached(ctx, ("application", app_id.lower()), lambda tx: find_application_anywhere(tx, app_id.lower()))

