"""Whether what an admin consent request asks for is granted tenant-wide (spec §7.4): the test an aggregate
passes before an admin consent that did not come from its own approval completes it.

* ``Static``: every permission of the app's static list — each delegated permission in the tenant-wide
  (``AllPrincipals``) grant for its resource, each application permission assigned to the app's service
  principal;
* ``Dynamic``: every pending scope in the tenant-wide grant for its resource. OpenID Connect scopes
  (``openid``, ``profile``, ``email``, ``offline_access``) never hold a sign-in back, so they are not required.

So the admin consent URL for the static list completes the Static request and also a Dynamic one whose scopes
it happens to include, and approving one aggregate completes the other only if that is granted too.
"""

from __future__ import annotations

from consentry.domain.apps import ServicePrincipal
from consentry.domain.consent_requests import STATIC, AppConsentRequest
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.domain.scopes import GRAPH_RESOURCE, OIDC_SCOPES
from consentry.services.apps import find_application_anywhere
from consentry.store.uow import TenantScope, Transaction


class _TenantWide:
    """What a client holds for everyone in one tenant, read once per resource."""

    def __init__(self, scope: TenantScope, client: ServicePrincipal) -> None:
        self.scope = scope
        self.client = client
        self._scopes: dict[str, set[str]] = {}
        self._roles: set[tuple[str, str]] | None = None

    def has_scope(self, resource: ServicePrincipal, value: str) -> bool:
        if resource.id not in self._scopes:
            grants = self.scope.grants.list_grants(client_id=self.client.id, resource_id=resource.id,
                                                   consent_type=ALL_PRINCIPALS)
            self._scopes[resource.id] = {v.lower() for g in grants for v in g.scope.split()}
        return value.lower() in self._scopes[resource.id]

    def has_role(self, resource: ServicePrincipal, role_id: str) -> bool:
        if self._roles is None:
            self._roles = {(a.resource_id, a.app_role_id.lower())
                           for a in self.scope.grants.list_assignments(principal_ids=[self.client.id])}
        return (resource.id, role_id.lower()) in self._roles


def granted_tenant_wide(tx: Transaction, scope: TenantScope, aggregate: AppConsentRequest) -> bool:
    """Whether everything the aggregate asks for is now granted tenant-wide in its tenant."""
    client = scope.apps.find_service_principal_by_app_id(aggregate.app_id)
    if client is None:
        return False
    held = _TenantWide(scope, client)
    if aggregate.consent_type == STATIC:
        app = find_application_anywhere(tx, aggregate.app_id)
        if app is None:
            return False
        for entry in app.required_resource_access:
            resource = scope.apps.find_service_principal_by_app_id(entry.resource_app_id)
            if resource is None:
                return False
            for access in entry.resource_access:
                if access.type == "Scope":
                    permission = next((s for s in resource.scopes if s.id == access.id), None)
                    if permission is None or not held.has_scope(resource, permission.value):
                        return False
                elif not held.has_role(resource, access.id):
                    return False
        return True
    for value in aggregate.pending_scopes:
        resource_name, _, permission_value = value.rpartition("/")
        if not resource_name and permission_value.lower() in OIDC_SCOPES:
            continue
        found = scope.apps.find_service_principal_by_name(resource_name or GRAPH_RESOURCE)
        if found is None or not held.has_scope(found, permission_value):
            return False
    return True
