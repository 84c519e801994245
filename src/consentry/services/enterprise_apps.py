"""The admin portal's Enterprise applications: the "All applications" list with its filters, what an app
holds (its permissions, with who granted them and when), and what deleting it removes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from consentry.domain.apps import ServicePrincipal
from consentry.domain.builtin import builtin_applications, owner_organization
from consentry.domain.odata import ODataQuery, parse_filter
from consentry.errors import GRAPH_NOT_FOUND, INVALID_VALUE, ConsentryError
from consentry.services.context import ServiceContext
from consentry.store.uow import TenantScope

# Owner organizations whose apps the portal calls "Microsoft applications": those of the built-in apps, and
# Microsoft's two well-known tenants (Microsoft Services and Microsoft's corporate tenant).
MICROSOFT_ORGANIZATIONS = frozenset(
    {org for org in (owner_organization(a) for a in builtin_applications()) if org}
    | {"f8cdef31-a31e-4b4a-93e4-5f571e91255a", "72f988bf-86f1-41af-91ab-2d7cd011db47"})
ENTERPRISE_APPS_PAGE = 50
MAX_SEARCH = 256
_ASSIGNED_TO_SP = "Add app role assignment to service principal"


@dataclass(frozen=True, slots=True)
class AppListFilter:
    """What "All applications" is narrowed to; None means either way."""

    search: str = ""
    enabled: bool | None = None
    admin_consent: bool | None = None
    microsoft: bool | None = None


def is_microsoft_app(sp: ServicePrincipal) -> bool:
    return sp.app_owner_organization_id in MICROSOFT_ORGANIZATIONS


def page_enterprise_apps(ctx: ServiceContext, tenant_id: str, filters: AppListFilter,
                         after: tuple[str, str] | None = None,
                         limit: int = ENTERPRISE_APPS_PAGE) -> tuple[list[ServicePrincipal], tuple[str, str] | None]:
    """One page of the tenant's service principals by name, after the (displayName, id) key ``after``, and the
    key to pass for the next page (None on the last)."""
    search = filters.search.replace("\x00", "").strip()[:MAX_SEARCH]
    if after is not None and any("\x00" in part for part in after):
        raise ConsentryError(INVALID_VALUE, reason="The page link is not valid.")
    with ctx.uow.read() as tx:
        return tx.tenant(tenant_id).apps.page_enterprise_apps(
            search=search, enabled=filters.enabled, admin_consent=filters.admin_consent,
            microsoft=filters.microsoft, microsoft_orgs=MICROSOFT_ORGANIZATIONS, after=after,
            limit=max(1, min(limit, 200)))


@dataclass(frozen=True, slots=True)
class GrantedPermission:
    """One permission an app holds on one resource, as the portal's Permissions page lists it."""

    resource_id: str
    resource_name: str
    value: str
    kind: str  # "Delegated" or "Application"
    description: str
    granted_by: str | None
    granted_at: datetime | None
    grant_id: str | None = None  # delegated: the grant it is part of
    assignment_id: str | None = None  # application: the app role assignment
    principal_name: str | None = None  # user consent: the user it was granted for


@dataclass(frozen=True, slots=True)
class AppPermissions:
    service_principal: ServicePrincipal
    admin_consent: tuple[GrantedPermission, ...]
    user_consent: tuple[GrantedPermission, ...]
    user_consent_total: int  # user-consented permissions in all (only the first ``max_user_rows`` are listed)


def list_app_permissions(ctx: ServiceContext, tenant_id: str, sp_id: str, max_user_rows: int = 500) -> AppPermissions:
    """What a service principal has been granted, per resource: tenant-wide (admin consent: the AllPrincipals
    grants and the app role assignments it holds) and per user (user consent), with who granted it and when."""
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        sp = scope.apps.find_service_principal(sp_id)
        if sp is None:
            raise ConsentryError(GRAPH_NOT_FOUND, id=sp_id)
        resources: dict[str, ServicePrincipal | None] = {}

        def resource(resource_id: str) -> ServicePrincipal | None:
            if resource_id not in resources:
                resources[resource_id] = scope.apps.find_service_principal(resource_id)
            return resources[resource_id]

        admin: list[GrantedPermission] = []
        user: list[GrantedPermission] = []
        user_total = 0
        for grant in scope.grants.list_grants(client_id=sp.id):
            res = resource(grant.resource_id)
            tenant_wide = grant.principal_id is None
            if not tenant_wide:
                user_total += len(grant.scopes)
                if len(user) >= max_user_rows:
                    continue
            who = None if tenant_wide else scope.directory.find_user(grant.principal_id or "")
            for value in grant.scopes:
                permission = res.scope_by_value(value) if res else None
                row = GrantedPermission(
                    grant.resource_id, res.display_name if res else grant.resource_id, value, "Delegated",
                    permission.admin_consent_display_name if permission else "", grant.granted_by, grant.modified_at,
                    grant_id=grant.id,
                    principal_name=None if tenant_wide else (who.user_principal_name if who else grant.principal_id))
                (admin if tenant_wide else user).append(row)
        assigned = scope.grants.list_assignments(principal_ids=[sp.id])
        granters = _app_role_granters(scope, sp.id) if assigned else {}
        for assignment in assigned:
            res = resource(assignment.resource_id)
            role = res.role_by_id(assignment.app_role_id) if res else None
            admin.append(GrantedPermission(
                assignment.resource_id, res.display_name if res else (assignment.resource_display_name or ""),
                (role.value or role.display_name) if role else assignment.app_role_id, "Application",
                role.display_name if role else "", granters.get((assignment.resource_id, assignment.app_role_id)),
                assignment.created_at, assignment_id=assignment.id))
    return AppPermissions(sp, tuple(sorted(admin, key=_listed)), tuple(sorted(user, key=_listed)), user_total)


def _listed(p: GrantedPermission) -> tuple[str, str, str, str]:
    return p.resource_name.lower(), p.kind, p.value.lower(), p.principal_name or ""


def _app_role_granters(scope: TenantScope, sp_id: str) -> dict[tuple[str, str], str]:
    """Who assigned each app role (resource id, role id) to the service principal, from the audit log (newest
    record wins): app role assignments carry no granter of their own."""
    query = ODataQuery(filter=parse_filter(f"activityDisplayName eq '{_ASSIGNED_TO_SP}'"), top=500)
    events, _ = scope.audit.page_events(query, target_id=sp_id)
    found: dict[tuple[str, str], str] = {}
    for event in events:
        targets = event["target_resources"]
        if not targets:
            continue
        role_id = next((p["newValue"] for p in targets[0]["modifiedProperties"] if p["displayName"] == "AppRole.Id"),
                       None)
        initiator = event["initiated_by"]
        who = (initiator.get("user") or {}).get("userPrincipalName") or (initiator.get("app") or {}).get("displayName")
        if role_id and who:
            found.setdefault((targets[0]["id"], json.loads(role_id)), who)
    return found


def deletion_impact(ctx: ServiceContext, tenant_id: str, sp_id: str) -> tuple[int, int]:
    """What deleting a service principal takes with it (as :mod:`consentry.services.deleted_items` does): the
    number of delegated permission grants and of app role assignments it takes part in."""
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        grant_ids = {g.id for g in [*scope.grants.list_grants(client_id=sp_id),
                                    *scope.grants.list_grants(resource_id=sp_id)]}
        assignment_ids = {a.id for a in [*scope.grants.list_assignments(principal_ids=[sp_id]),
                                         *scope.grants.list_assignments(resource_id=sp_id)]}
    return len(grant_ids), len(assignment_ids)
