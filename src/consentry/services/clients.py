"""Resolving who is asking: the client application (and its service principal in the tenant) and the
resource a token is for (spec §3.2 steps 1, 2 and 6).
"""

from __future__ import annotations

from dataclasses import dataclass

from consentry.domain.apps import Application, ServicePrincipal
from consentry.domain.directory import Tenant
from consentry.domain.ids import is_guid
from consentry.errors import APP_DISABLED, CLIENT_NOT_FOUND, RESOURCE_NOT_FOUND, ConsentryError
from consentry.services.apps import find_application_anywhere
from consentry.store.uow import Transaction


@dataclass(frozen=True, slots=True)
class Client:
    app: Application
    sp: ServicePrincipal | None  # None until the app is consented to (or provisioned) in the tenant

    @property
    def app_id(self) -> str:
        return self.app.app_id

    @property
    def display_name(self) -> str:
        return self.sp.display_name if self.sp else self.app.display_name


def find_client(tx: Transaction, tenant: Tenant, client_id: str) -> Client:
    """The client as a tenant sees it: its service principal there, or a multi-tenant application that
    could be consented to. An unknown client, or a single-tenant app of another tenant: AADSTS700016."""
    app = find_application_anywhere(tx, client_id) if is_guid(client_id) else None
    if app is None:
        raise ConsentryError(CLIENT_NOT_FOUND, app_id=client_id, tenant=tenant.id)
    sp = tx.tenant(tenant.id).apps.find_service_principal_by_app_id(app.app_id)
    if sp is None and app.tenant_id not in (None, tenant.id) and not app.is_multi_tenant:
        raise ConsentryError(CLIENT_NOT_FOUND, app_id=client_id, tenant=tenant.id)
    return Client(app, sp)


def ensure_enabled(client: Client) -> None:
    """A disabled service principal stops every token for the app, app-only included (AADSTS7000112)."""
    if client.sp is not None and not client.sp.account_enabled:
        raise ConsentryError(APP_DISABLED, app_id=client.app_id, app_name=client.display_name)


def require_service_principal(client: Client, tenant: Tenant) -> ServicePrincipal:
    if client.sp is None:
        raise ConsentryError(CLIENT_NOT_FOUND, app_id=client.app_id, tenant=tenant.id)
    return client.sp


def get_resource(tx: Transaction, tenant: Tenant, identifier: str) -> ServicePrincipal:
    sp = tx.tenant(tenant.id).apps.find_service_principal_by_name(identifier)
    if sp is None:
        raise ConsentryError(RESOURCE_NOT_FOUND, resource=identifier, tenant=tenant.display_name)
    return sp
