"""The demo directory that ``consentry serve --demo`` (and ``make run``) seeds, each piece only when absent.

It reproduces the Apple Internet Accounts case (spec §10): tenant *Contoso* with an administrator, an
application administrator and a user without a role; tenant *Apple*, home of the multi-tenant public
client *Apple Internet Accounts* with its Exchange Online and Microsoft Graph permissions. Contoso has
*not* consented to that app, so its users meet "Need admin approval" — but it has consented, tenant-wide,
to *Microsoft Graph Command Line Tools*, so that people and scripts can sign in to manage it. Contoso's user
consent setting is "Do not allow user consent" (spec §6.1: no ``ManagePermissionGrantsForSelf.*`` entry, only
the owned-resource defaults), so every consent there needs an administrator; every other tenant starts with
Microsoft's default for new tenants ("Let Microsoft manage your consent settings"). Each Contoso user has a
few calendar events and contacts, so that ``/me/events`` and ``/me/contacts`` show what consent unlocks.

Tenant ids are fixed so that URLs in the documentation stay valid. The password is for the demo only.
Seeding is idempotent: running it again, or from two processes at once, creates nothing twice; and it sets
Contoso's user consent only while nothing is stored, so an administrator's later choice survives a restart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from consentry.domain.apps import Application, RequiredResourceAccess, ResourceAccess
from consentry.domain.builtin import (
    EXCHANGE_ONLINE,
    GRAPH_COMMAND_LINE_TOOLS,
    MICROSOFT_GRAPH,
    find_builtin_application,
)
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.errors import CONFLICT, ConsentryError
from consentry.services import apps, directory, grants, mailbox, policies
from consentry.services.context import Actor, ServiceContext

DEMO = Actor("system", name="Consentry demo")
DEMO_PASSWORD = "ConsentryDemo1!"

CONTOSO_TENANT_ID = "3be8a25e-b39d-47a6-82c4-e435ded0b536"
CONTOSO_DOMAIN = "contoso.example"
APPLE_TENANT_ID = "865feb37-88fe-4fe4-beed-b2bf9628c3e7"
APPLE_DOMAIN = "apple.example"

APPLE_INTERNET_ACCOUNTS = "f8d98a96-0999-43f5-8af3-69971c7bb423"
APPLE_APP_OBJECT_ID = "0d1ceae3-ba18-4ea0-8e60-3969ed449462"
APPLE_REDIRECT_URIS = ("urn:ietf:wg:oauth:2.0:oob", "http://localhost")
# An illustrative Partner ID; Apple's real one is not published in the material we have.
APPLE_VERIFIED_PUBLISHER = {"displayName": "Apple Inc.", "verifiedPublisherId": "4719327",
                            "addedDateTime": "2020-02-25T00:00:00Z"}
APPLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    EXCHANGE_ONLINE: ("EAS.AccessAsUser.All", "EWS.AccessAsUser.All"),
    MICROSOFT_GRAPH: ("openid", "profile", "offline_access", "User.Read", "Calendars.ReadWrite",
                      "Contacts.ReadWrite"),
}

# What the management API (Graph subset) needs when driven by the Graph command-line tools.
GRAPH_CLI_SCOPES = (
    "openid", "profile", "offline_access", "User.Read", "User.ReadWrite.All", "Directory.ReadWrite.All",
    "Group.ReadWrite.All", "Application.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All", "Policy.Read.All", "Policy.ReadWrite.Authorization",
    "Policy.ReadWrite.PermissionGrant", "Policy.ReadWrite.ConsentRequest", "ConsentRequest.ReadWrite.All",
    "AuditLog.Read.All", "RoleManagement.ReadWrite.Directory", "Organization.Read.All",
)


@dataclass(frozen=True, slots=True)
class DemoUser:
    upn: str
    display_name: str
    role: str | None


CONTOSO_USERS = (
    DemoUser("admin@contoso.example", "MOD Administrator", "Global Administrator"),
    DemoUser("alex@contoso.example", "Alex Wilber", "Cloud Application Administrator"),
    DemoUser("adele@contoso.example", "Adele Vance", None),
)


@dataclass(frozen=True, slots=True)
class DemoSignIn:
    upn: str
    password: str
    role: str | None


@dataclass(frozen=True, slots=True)
class DemoSummary:
    contoso_tenant_id: str
    apple_tenant_id: str
    apple_app_id: str
    sign_ins: tuple[DemoSignIn, ...]
    created: tuple[str, ...] = field(default=())  # what this run added; empty when all was present


def seed_demo(ctx: ServiceContext) -> DemoSummary:
    """Create whatever part of the demo directory is missing, and describe it."""
    created: list[str] = []
    contoso = _ensure_tenant(ctx, "Contoso", CONTOSO_DOMAIN, CONTOSO_TENANT_ID, created)
    for person in CONTOSO_USERS:
        _ensure_user(ctx, contoso, person, created)
    apple = _ensure_tenant(ctx, "Apple", APPLE_DOMAIN, APPLE_TENANT_ID, created)
    _ensure_apple_internet_accounts(ctx, apple, created)
    _ensure_graph_cli_consent(ctx, contoso, created)
    if policies.initialize_user_consent(ctx, contoso, "none", DEMO):
        created.append('user consent setting "Do not allow user consent" (in Contoso)')
    created.extend(mailbox.seed_mailbox(ctx, contoso))
    sign_ins = tuple(DemoSignIn(p.upn, DEMO_PASSWORD, p.role) for p in CONTOSO_USERS)
    return DemoSummary(contoso, apple, APPLE_INTERNET_ACCOUNTS, sign_ins, tuple(created))


T = TypeVar("T")


def _unless_present(create: Callable[[], T], find: Callable[[], T | None]) -> tuple[T, bool]:
    """Create something and say so; if another process created it first, return theirs."""
    try:
        return create(), True
    except (ConsentryError, IntegrityError) as exc:
        if isinstance(exc, ConsentryError) and exc.entry is not CONFLICT:
            raise
        found = find()
        if found is None:
            raise
        return found, False


def _ensure_tenant(ctx: ServiceContext, name: str, domain: str, tenant_id: str, created: list[str]) -> str:
    def find() -> str | None:
        with ctx.uow.read() as tx:
            tenant = directory.find_tenant(tx, tenant_id) or directory.find_tenant(tx, domain)
            return tenant.id if tenant else None

    existing = find()
    if existing is not None:
        return existing
    tenant, made = _unless_present(
        lambda: directory.create_tenant(ctx, name, [domain], DEMO, tenant_id=tenant_id).id, find)
    if made:
        created.append(f"tenant {name} ({domain})")
    return tenant


def _ensure_user(ctx: ServiceContext, tenant_id: str, person: DemoUser, created: list[str]) -> None:
    def find() -> str | None:
        with ctx.uow.read() as tx:
            user = tx.tenant(tenant_id).directory.find_user_by_upn(person.upn)
            return user.id if user else None

    if find() is None:
        _, made = _unless_present(lambda: directory.create_user(ctx, tenant_id, person.upn, person.display_name,
                                                                DEMO_PASSWORD, DEMO).id, find)
        if made:
            created.append(f"user {person.upn}")
    if person.role:
        # assign_role returns an existing assignment; a concurrent seeder's insert may still win the race.
        with contextlib.suppress(IntegrityError):
            directory.assign_role(ctx, tenant_id, person.upn, person.role, DEMO)


def _resource_access(resource_app_id: str, values: tuple[str, ...]) -> RequiredResourceAccess:
    resource = find_builtin_application(resource_app_id)
    if resource is None:
        raise RuntimeError(f"The built-in application {resource_app_id} is missing from builtin_apps.json")
    ids = {scope.value.lower(): scope.id for scope in resource.scopes}
    missing = [v for v in values if v.lower() not in ids]
    if missing:
        raise RuntimeError(f"{resource.display_name} publishes no delegated permission {', '.join(missing)}")
    access = tuple(ResourceAccess(ids[v.lower()], "Scope") for v in values)
    return RequiredResourceAccess(resource_app_id, access)


def apple_internet_accounts(tenant_id: str) -> Application:
    """The registration as Apple's tenant holds it (spec §10)."""
    return Application(
        id=APPLE_APP_OBJECT_ID, app_id=APPLE_INTERNET_ACCOUNTS, tenant_id=tenant_id,
        display_name="Apple Internet Accounts", sign_in_audience="AzureADMultipleOrgs",
        public_client_redirect_uris=APPLE_REDIRECT_URIS, is_fallback_public_client=True,
        required_resource_access=tuple(_resource_access(r, v) for r, v in APPLE_PERMISSIONS.items()),
        publisher_name="Apple", verified_publisher=dict(APPLE_VERIFIED_PUBLISHER))


def _ensure_apple_internet_accounts(ctx: ServiceContext, apple_tenant_id: str, created: list[str]) -> None:
    def find() -> str | None:
        with ctx.uow.read() as tx:
            app = tx.applications.find_home_registration(APPLE_INTERNET_ACCOUNTS)
            return app.app_id if app else None

    if find() is not None:
        return
    _, made = _unless_present(lambda: apps.register_application(
        ctx, apple_tenant_id, apple_internet_accounts(apple_tenant_id), DEMO).app_id, find)
    if made:
        created.append("application Apple Internet Accounts (in Apple)")


def graph_cli_scope() -> str:
    """The management scopes that Microsoft Graph (as built in) actually publishes, in a stable order."""
    graph = find_builtin_application(MICROSOFT_GRAPH)
    published = {scope.value.lower() for scope in graph.scopes} if graph else set()
    return " ".join(v for v in GRAPH_CLI_SCOPES if v.lower() in published)


def _ensure_graph_cli_consent(ctx: ServiceContext, tenant_id: str, created: list[str]) -> None:
    def find() -> str | None:
        with ctx.uow.read() as tx:
            scope = tx.tenant(tenant_id)
            client = scope.apps.find_service_principal_by_app_id(GRAPH_COMMAND_LINE_TOOLS)
            graph = scope.apps.find_service_principal_by_app_id(MICROSOFT_GRAPH)
            if client is None or graph is None:
                return None
            for grant in scope.grants.list_grants(client_id=client.id):
                if grant.resource_id == graph.id and grant.consent_type == ALL_PRINCIPALS:
                    return grant.id
        return None

    if find() is not None:
        return
    _, made = _unless_present(lambda: grants.add_grant(ctx, tenant_id, GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH,
                                                       ALL_PRINCIPALS, graph_cli_scope(), DEMO).id, find)
    if made:
        created.append("tenant-wide consent for Microsoft Graph Command Line Tools (in Contoso)")
