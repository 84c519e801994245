"""Consent: what a request asks for, whether this user may grant it, and writing the grant (spec §3.2,
§3.3, §8.3, §9).

:func:`evaluate` reads the directory and runs the decision of :mod:`consentry.domain.consent`.
:func:`accept` writes what a consent page's Accept grants, in one transaction that also spends the page's
interaction, so a form can be submitted once only; it re-runs the decision inside that transaction, so
what is granted is what the directory allows at that moment, never what a form claims.

What a request asks for (``requested``) and lacks (``missing``):

* specific scopes: each named permission on its resource (without a prefix: Microsoft Graph). OpenID
  Connect scopes are Microsoft Graph permissions too; they count as missing only when the client holds no
  delegated grant at all for this user, or when the page is shown anyway.
* ``{resource}/.default``: nothing is missing while any delegated permission is granted for that resource;
  otherwise the client's whole static list (``requiredResourceAccess``, delegated part, every resource).
* the admin consent flow: the static list including application permissions (for the v1 endpoint, v2
  with ``.default``, and ``prompt=admin_consent`` without specific scopes), or the specific scopes asked for;
  only the tenant-wide grant and the client's own app role assignments count as granted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from consentry.domain.apps import ServicePrincipal
from consentry.domain.builtin import MICROSOFT_GRAPH
from consentry.domain.consent import (
    ADMIN_CONSENT,
    CONSENT,
    ROLE,
    SCOPE,
    ConsentSubject,
    Decision,
    Permission,
    decide,
)
from consentry.domain.directory import Tenant, User
from consentry.domain.grants import ALL_PRINCIPALS, OAuth2PermissionGrant, granted_scopes
from consentry.domain.ids import NIL_GUID
from consentry.domain.scopes import OIDC_SCOPES, ScopeRequest, parse_scope
from consentry.errors import (
    APP_DISABLED,
    FLOW_EXPIRED,
    NOT_AUTHORIZED_TO_GRANT,
    RESOURCE_NOT_SUBSCRIBED,
    SCOPE_NOT_FOUND,
    USER_DISABLED,
    ConsentryError,
)
from consentry.services import audit
from consentry.services.access import is_assigned
from consentry.services.apps import ensure_service_principal
from consentry.services.audit import Target
from consentry.services.cache import Shared, cached
from consentry.services.clients import Client, find_client, get_resource
from consentry.services.context import Actor, ServiceContext
from consentry.services.directory import get_tenant, role_template_ids_of
from consentry.services.grants import drop_grant, ensure_assignment, merge_grant
from consentry.services.policies import ConsentSettings, consent_settings, read_consent_settings
from consentry.services.request_outcomes import complete_for_app
from consentry.services.request_policy import read_request_policy
from consentry.store.uow import TenantScope, Transaction


@dataclass(frozen=True, slots=True)
class ConsentQuery:
    """One user's request for one client: what :func:`evaluate` decides about."""

    tenant_id: str
    client_app_id: str
    user_id: str
    scope: str
    prompt: str | None = None
    admin_flow: bool = False


@dataclass(frozen=True, slots=True)
class Evaluation:
    decision: Decision
    tenant: Tenant
    client: Client
    user: User


# --- reading what is asked for and what is granted -----------------------------------------------------
class _Reader:
    """The lookups of one evaluation, inside one transaction."""

    def __init__(self, tx: Transaction, tenant: Tenant, client: Client, user: User, admin_flow: bool,
                 shared: Shared) -> None:
        self.tx = tx
        self.shared = shared
        self.tenant = tenant
        self.scope = tx.tenant(tenant.id)
        self.client = client
        self.user = user
        self.admin_flow = admin_flow
        self._classifications: dict[str, dict[str, str]] = {}
        self._granted: dict[str, set[str]] = {}
        self._own_grant = False  # a grant of this user's own was among those read
        self._resources: dict[str, ServicePrincipal | None] = {}  # each resource read (and decoded) once

    def classification(self, resource: ServicePrincipal, permission_id: str) -> str | None:
        if resource.id not in self._classifications:
            self._classifications[resource.id] = self.shared.get(
                ("classifications", self.tenant.id, resource.id),
                lambda: {row["permission_id"]: row["classification"]
                         for row in self.scope.apps.list_classifications(resource.id)})
        return self._classifications[resource.id].get(permission_id)

    def granted(self, resource: ServicePrincipal) -> set[str]:
        """Delegated values granted for this client and resource: the tenant-wide grant, plus this user's
        own grant except in the admin flow."""
        if resource.id not in self._granted:
            values: set[str] = set()
            if self.client.sp is not None:
                user_id = None if self.admin_flow else self.user.id
                grants = self.scope.grants.list_grants_for_user(self.client.sp.id, resource.id, user_id)
                values = {v.lower() for v in granted_scopes(grants, user_id)}
                self._own_grant = self._own_grant or any(g.principal_id == self.user.id for g in grants)
            self._granted[resource.id] = values
        return self._granted[resource.id]

    def assigned_role_ids(self, resource: ServicePrincipal) -> set[str]:
        if self.client.sp is None:
            return set()
        return {a.app_role_id for a in self.scope.grants.list_assignments(principal_ids=[self.client.sp.id],
                                                                          resource_id=resource.id)}

    def has_any_grant(self) -> bool:
        """Whether the client holds a grant for this user (tenant-wide or her own) for any resource."""
        if self.client.sp is None:
            return False
        if self._own_grant or any(self._granted.values()):
            return True
        return self.scope.grants.has_grant_for_user(self.client.sp.id, self.user.id)

    def graph(self) -> ServicePrincipal:
        return self.resource(MICROSOFT_GRAPH)

    def resource(self, name: str) -> ServicePrincipal:
        """A resource by identifier URI or appId (AADSTS500011 when the tenant has none), read once."""
        key = f"name:{name.rstrip('/').lower()}"
        if key not in self._resources:
            sp = self.shared.get(("resource", self.tenant.id, key), lambda: get_resource(self.tx, self.tenant, name))
            # Named by its appId or by an identifier URI, it is one resource: read (and decoded) once.
            self._resources[key] = self._resources[sp.id] = self._resources[f"name:{sp.app_id.lower()}"] = sp
        found = self._resources[key]
        assert found is not None
        return found

    def resource_by_id(self, resource_id: str) -> ServicePrincipal | None:
        if resource_id not in self._resources:
            self._resources[resource_id] = self.shared.get(
                ("resource", self.tenant.id, resource_id), lambda: self.scope.apps.find_service_principal(resource_id))
        return self._resources[resource_id]

    def resource_by_app_id(self, app_id: str) -> ServicePrincipal:
        key = f"name:{app_id.lower()}"
        if key not in self._resources:
            self._resources[key] = self.shared.get(("resource", self.tenant.id, key),
                                                   lambda: self.scope.apps.find_service_principal_by_app_id(app_id))
        sp = self._resources[key]
        if sp is None:
            raise ConsentryError(RESOURCE_NOT_SUBSCRIBED, resource=app_id, tenant=self.tenant.display_name)
        return sp

    # permissions
    def delegated(self, resource: ServicePrincipal, value: str) -> Permission:
        scope = resource.scope_by_value(value)
        if scope is None:
            raise ConsentryError(SCOPE_NOT_FOUND, app_name=self.client.display_name, scope=value,
                                 resource=resource.display_name)
        return Permission(resource.id, resource.app_id, resource.display_name, SCOPE, scope.id, scope.value,
                          scope.type == "Admin", self.classification(resource, scope.id),
                          scope.user_consent_display_name or scope.admin_consent_display_name,
                          scope.user_consent_description or scope.admin_consent_description,
                          scope.admin_consent_display_name, scope.admin_consent_description)

    def application(self, resource: ServicePrincipal, role_id: str) -> Permission | None:
        role = resource.role_by_id(role_id)
        if role is None or not role.is_enabled or not role.for_applications:
            return None
        return Permission(resource.id, resource.app_id, resource.display_name, ROLE, role.id, role.value or role.id,
                          True, None, role.display_name, role.description, role.display_name, role.description)

    def static_list(self, include_roles: bool) -> list[Permission]:
        """The client's ``requiredResourceAccess``: delegated permissions, and app roles when asked."""
        out: list[Permission] = []
        for entry in self.client.app.required_resource_access:
            resource = self.resource_by_app_id(entry.resource_app_id)
            for access in entry.resource_access:
                if access.type == "Scope":
                    scope = next((s for s in resource.scopes if s.id == access.id and s.is_enabled), None)
                    if scope is not None:
                        out.append(self.delegated(resource, scope.value))
                elif include_roles:
                    role = self.application(resource, access.id)
                    if role is not None:
                        out.append(role)
        return _unique(out)

    def is_granted(self, permission: Permission) -> bool:
        resource = self.resource_by_id(permission.resource_id)
        if resource is None:
            return False
        if permission.is_delegated:
            return permission.value.lower() in self.granted(resource)
        return permission.id in self.assigned_role_ids(resource)


def _unique(permissions: list[Permission]) -> list[Permission]:
    return list({(p.resource_id, p.kind, p.id): p for p in permissions}.values())


def _oidc(reader: _Reader, request: ScopeRequest) -> list[Permission]:
    if not request.oidc:
        return []
    graph = reader.graph()
    return [reader.delegated(graph, value) for value in OIDC_SCOPES if value in request.oidc]


def _requested_and_missing(reader: _Reader, request: ScopeRequest) -> tuple[list[Permission], list[Permission]]:
    oidc = _oidc(reader, request)
    if reader.admin_flow and (request.is_default or not request.items):
        requested = _unique(oidc + reader.static_list(include_roles=True))
        return requested, [p for p in requested if not reader.is_granted(p)]
    if request.is_default:
        requested = _unique(oidc + reader.static_list(include_roles=False))
        targets = [reader.resource(item.resource) for item in request.items]
        if all(reader.granted(t) - set(OIDC_SCOPES) for t in targets):
            return requested, []
        return requested, [p for p in requested if not reader.is_granted(p)]
    named = []
    for resource_name in request.resources:
        resource = reader.resource(resource_name)
        named += [reader.delegated(resource, value) for value in request.values_for(resource_name)]
    missing = [p for p in named if not reader.is_granted(p)]
    if missing or not reader.has_any_grant():
        missing = [p for p in oidc if not reader.is_granted(p)] + missing
    return _unique(oidc + named), _unique(missing)


def _evaluate_in(tx: Transaction, query: ConsentQuery, now: datetime,
                 settings_of: Callable[[TenantScope], ConsentSettings], shared: Shared | None = None) -> Evaluation:
    """The decision, read in ``tx``; what does not depend on the user comes from ``shared`` (nothing is shared
    by default: a transaction that writes decides on what is in the database now)."""
    shared = shared or Shared.none()
    tenant = shared.get(("tenant", query.tenant_id.lower()), lambda: get_tenant(tx, query.tenant_id))
    scope = tx.tenant(tenant.id)
    user = scope.directory.find_user(query.user_id)
    if user is None or not user.account_enabled:
        raise ConsentryError(USER_DISABLED)
    client = shared.get(("client", tenant.id, query.client_app_id.lower()),
                        lambda: find_client(tx, tenant, query.client_app_id))
    reader = _Reader(tx, tenant, client, user, query.admin_flow, shared)
    requested, missing = _requested_and_missing(reader, parse_scope(query.scope, required=False))
    settings = settings_of(scope)
    roles = frozenset(role_template_ids_of(scope, user.id))
    subject = ConsentSubject(
        tenant_id=tenant.id, client_app=client.app, client_sp=client.sp,
        user_assigned=client.sp is not None and client.sp.app_role_assignment_required
        and is_assigned(scope, user, client.sp),
        requested=tuple(requested), missing=tuple(missing), self_policies=settings.self_policies,
        all_policies=settings.role_policies(roles), block_risky_apps=settings.block_user_consent_for_risky_apps,
        now=now, prompt=query.prompt, admin_flow=query.admin_flow,
        request_workflow=shared.get(("request_policy", tenant.id), lambda: read_request_policy(scope)).is_enabled)
    return Evaluation(decide(subject), tenant, client, user)


def evaluate(ctx: ServiceContext, query: ConsentQuery) -> Evaluation:
    """The decision for this request now (cached until the directory next changes)."""
    # Read (or take from the cache) the tenant's settings first: inside ``load`` it would need a second
    # pooled connection while ``load`` holds one, and enough concurrent requests would exhaust the pool.
    settings = consent_settings(ctx, query.tenant_id)
    shared = Shared.of(ctx)

    def load(tx: Transaction) -> Evaluation:
        return _evaluate_in(tx, query, ctx.clock.now(), lambda scope: settings, shared)

    return cached(ctx, ("consent", query), load)


# --- writing consent ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Granted:
    """What Accept wrote (empty when the decision no longer asked for consent)."""

    evaluation: Evaluation
    permissions: tuple[Permission, ...]
    tenant_wide: bool


def accept(ctx: ServiceContext, query: ConsentQuery, interaction_hash: str, actor: Actor, *,
           on_behalf_of_org: bool = False) -> Granted:
    """Grant what the consent page showed, as the directory allows it now; spends the interaction."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.lock(f"consent/{query.tenant_id}/{query.client_app_id.lower()}")
        if not tx.tokens.remove_interaction(interaction_hash):
            raise ConsentryError(FLOW_EXPIRED)
        evaluation = _evaluate_in(tx, query, now, read_consent_settings)
        decision = evaluation.decision
        if decision.step not in (CONSENT, ADMIN_CONSENT):
            return Granted(evaluation, (), False)
        tenant_wide = decision.step == ADMIN_CONSENT or (on_behalf_of_org and decision.org_checkbox)
        _write_consent(tx, now, actor, evaluation, decision, tenant_wide)
        if tenant_wide:
            complete_for_app(tx, evaluation.tenant.id, evaluation.client.app_id, evaluation.user.id, now, actor,
                             base_url=ctx.settings.base_url)
        return Granted(evaluation, decision.permissions, tenant_wide)


def _write_consent(tx: Transaction, now: datetime, actor: Actor, evaluation: Evaluation, decision: Decision,
                   tenant_wide: bool, replace: bool = False) -> None:
    scope = tx.tenant(evaluation.tenant.id)
    user = evaluation.user
    client, _ = ensure_service_principal(tx, evaluation.tenant.id, evaluation.client.app, now, actor)
    principal_id = None if tenant_wide else user.id
    by_resource: dict[str, list[str]] = {}
    for permission in decision.permissions:
        if permission.is_delegated:
            by_resource.setdefault(permission.resource_id, []).append(permission.value)
    written = []
    for resource_id, values in by_resource.items():
        resource = _resource(scope, resource_id)
        written.append(merge_grant(scope, now, actor, client, resource, principal_id, tuple(values), replace=replace))
    if replace:  # tenant-wide grants for resources outside the static list go as well
        for stale in scope.grants.list_grants(client_id=client.id, consent_type=ALL_PRINCIPALS):
            if stale.resource_id not in by_resource:
                drop_grant(scope, now, actor, stale)
    for permission in decision.permissions:
        if not permission.is_delegated and tenant_wide:
            ensure_assignment(tx, scope, now, actor, _resource(scope, permission.resource_id), permission.id,
                              "ServicePrincipal", client.display_name, client.id)
    if not tenant_wide and not scope.grants.list_assignments(principal_ids=[user.id], resource_id=client.id):
        ensure_assignment(tx, scope, now, actor, client, NIL_GUID, "User", user.display_name, user.id)
    app_only = bool(decision.permissions) and not by_resource
    audit.record(scope, now, actor, "Consent to application", "ApplicationManagement", "Assign", [Target(
        client.id, "ServicePrincipal", client.display_name, modified={
            "ConsentContext.IsAdminConsent": (None, tenant_wide),
            "ConsentContext.IsAppOnly": (None, app_only),
            "ConsentContext.OnBehalfOfAll": (None, tenant_wide),
            "ConsentContext.Tags": (None, " ".join(client.tags)),
            "ConsentAction.Permissions": (None, _describe(written)),
        })], details={"AppId": client.app_id, "ConsentReason": decision.reason})


def _resource(scope: TenantScope, resource_id: str) -> ServicePrincipal:
    resource = scope.apps.find_service_principal(resource_id)
    if resource is None:  # removed between the decision and the write, in this same transaction: impossible
        raise ConsentryError(FLOW_EXPIRED)
    return resource


def _describe(grants: list[OAuth2PermissionGrant]) -> str:
    """Entra's ``ConsentAction.Permissions`` text: ``[] => [[Id: …, ClientId: …, …]]``."""
    items = ", ".join(
        f"[Id: {g.id}, ClientId: {g.client_id}, PrincipalId: {g.principal_id or ''}, ResourceId: {g.resource_id}, "
        f"ConsentType: {g.consent_type}, Scope: {g.scope}, CreatedDateTime: {g.created_at.isoformat()}, "
        f"LastModifiedDateTime: {g.modified_at.isoformat()}]" for g in grants)
    return f"[] => [{items}]"


def record_risky_block(ctx: ServiceContext, evaluation: Evaluation, actor: Actor) -> None:
    """A risky request stepped up to admin consent is audited as a failed consent (spec §4, §6.5)."""
    client = evaluation.client
    with ctx.uow.begin() as tx:
        audit.record(tx.tenant(evaluation.tenant.id), ctx.clock.now(), actor, "Consent to application",
                     "ApplicationManagement", "Assign",
                     [Target(client.sp.id if client.sp else None, "ServicePrincipal", client.display_name)],
                     result="failure", reason="Risky application detected",
                     details={"AppId": client.app_id, "ConsentReason": evaluation.decision.reason})


def qualified_scopes(permissions: tuple[Permission, ...], resource_names: dict[str, str]) -> str:
    """Granted permissions as the v2 admin consent redirect's ``scope``: ``https://graph.microsoft.com/User.Read``."""
    out = []
    for p in permissions:
        base = resource_names.get(p.resource_id, p.resource_app_id).rstrip("/")
        out.append(f"{base}/{p.value}")
    return " ".join(dict.fromkeys(out))


def resource_identifiers(ctx: ServiceContext, tenant_id: str, permissions: tuple[Permission, ...]) -> dict[str, str]:
    with ctx.uow.read() as tx:
        scope = tx.tenant(tenant_id)
        out = {}
        for resource_id in {p.resource_id for p in permissions}:
            sp = scope.apps.find_service_principal(resource_id)
            if sp is not None:
                out[resource_id] = sp.primary_identifier
        return out



def grant_tenant_wide_in(tx: Transaction, query: ConsentQuery, now: datetime, actor: Actor, *,
                         replace: bool = False) -> Granted:
    """Tenant-wide admin consent as ``query``'s administrator, inside the caller's transaction (which holds the
    consent lock for the client): refused (AADSTS7000112 for a disabled app, else AADSTS90093) unless the
    administrator may grant all of it; merged into the tenant-wide grants, or replacing them."""
    evaluation = _evaluate_in(tx, query, now, read_consent_settings)
    decision = evaluation.decision
    if decision.step != ADMIN_CONSENT:
        error = APP_DISABLED if decision.error is APP_DISABLED else NOT_AUTHORIZED_TO_GRANT
        raise ConsentryError(error, app_name=evaluation.client.display_name, app_id=query.client_app_id)
    _write_consent(tx, now, actor, evaluation, decision, tenant_wide=True, replace=replace)
    return Granted(evaluation, decision.permissions, True)


def grant_admin_consent_for_tenant(ctx: ServiceContext, tenant_id: str, app_id: str, admin_id: str,
                                   actor: Actor) -> Granted:
    """The portal's "Grant admin consent for {tenant}" (spec §8.3, §13.2): the tenant-wide grant of each
    resource becomes exactly the app's static list, and each application permission of that list is assigned;
    users' own grants are not touched. Admin consent requests for the app are completed as approved."""
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.lock(f"consent/{tenant_id}/{app_id.lower()}")
        granted = grant_tenant_wide_in(tx, ConsentQuery(tenant_id, app_id, admin_id, "", None, admin_flow=True), now,
                                       actor, replace=True)
        complete_for_app(tx, tenant_id, granted.evaluation.client.app_id, admin_id, now, actor,
                         base_url=ctx.settings.base_url)
        return granted
