"""msgraph-sdk, unmodified, end to end over TLS (issue 3's acceptance scenario).

MSAL signs the administrator in (ROPC through Microsoft Graph Command Line Tools, instance discovery off,
no user-realm probe); the token goes into a ``GraphServiceClient`` through a kiota bearer-token provider, on
an httpx client that trusts the test CA, with its base URL set to ``{base}/v1.0``. Then: a user, a
multi-tenant application with a secret, its service principal in another tenant (with that tenant's own
administrator and token), a delegated grant and an app role assignment added and removed there, paging
past ``$top`` with msgraph-core's ``PageIterator``, a ``$filter`` on ``appId``, a disabled service
principal refusing client credentials (AADSTS7000112), and the audit log showing all of it. And the
permission checks: a user without a role, and an app-only token with only ``Application.Read.All``, are
refused the writes (403 ``Authorization_RequestDenied``).
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msal
import pytest
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator
from kiota_abstractions.authentication.base_bearer_token_authentication_provider import (
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.audit_logs.directory_audits.directory_audits_request_builder import (
    DirectoryAuditsRequestBuilder,
)
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.application import Application as GraphApplication
from msgraph.generated.models.directory_audit import DirectoryAudit
from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.models.user import User
from msgraph.generated.service_principals.service_principals_request_builder import ServicePrincipalsRequestBuilder
from msgraph.graph_request_adapter import options as GRAPH_MIDDLEWARE_OPTIONS
from msgraph_core import GraphClientFactory
from msgraph_core.tasks.page_iterator import PageIterator
from tests.graph.conftest import ADMIN, GRAPH_DEFAULT, TEST_ACTOR
from tests.support.server import RunningServer

from consentry.domain.builtin import GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.services import directory, grants
from consentry.services.demo import CONTOSO_DOMAIN, CONTOSO_TENANT_ID, DEMO_PASSWORD, graph_cli_scope

pytestmark = [pytest.mark.clients,
              pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning")]

NEW_PASSWORD = "Sdk-Passw0rd!2026"


# --- MSAL and the SDK wired together ------------------------------------------------------------------------
def sign_in(server: RunningServer, tenant_id: str, upn: str, password: str = DEMO_PASSWORD) -> str:
    """ROPC through Microsoft Graph Command Line Tools, as ``az``-style scripts do (a new MSAL app each time)."""
    msal.authority.Authority._domains_without_user_realm_discovery.add("localhost")  # no probe on port 443
    app = msal.PublicClientApplication(GRAPH_COMMAND_LINE_TOOLS, authority=f"{server.base_url}/{tenant_id}",
                                       instance_discovery=False)
    result = app.acquire_token_by_username_password(upn, password, scopes=GRAPH_DEFAULT)
    assert "access_token" in result, result
    return str(result["access_token"])


class StaticToken(AccessTokenProvider):
    """Hands the SDK the token MSAL got."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
        return self.token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return AllowedHostsValidator(["localhost"])


@dataclass
class Sdk:
    client: GraphServiceClient
    http: httpx.AsyncClient


def graph_client(server: RunningServer, token: str) -> Sdk:
    """A GraphServiceClient on Consentry: the SDK's own middleware, on an httpx client trusting the test CA."""
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(server.ca_path)), http2=True),
        options=GRAPH_MIDDLEWARE_OPTIONS)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(StaticToken(token)), client=http)
    adapter.base_url = f"{server.base_url}/v1.0"
    return Sdk(GraphServiceClient(request_adapter=adapter), http)


def run(scenario: Callable[[], Awaitable[None]], *clients: Sdk) -> None:
    async def main() -> None:
        try:
            await scenario()
        finally:
            for sdk in clients:
                await sdk.http.aclose()
    asyncio.run(main())


async def refused(call: Awaitable[Any], status: int, code: str) -> ODataError:
    try:
        await call
    except ODataError as exc:
        assert exc.response_status_code == status, exc
        assert exc.error is not None and exc.error.code == code, exc.error
        assert exc.error.inner_error is not None and exc.error.inner_error.request_id
        return exc
    raise AssertionError(f"expected {status} {code}")


def new_tenant(server: RunningServer, name: str) -> tuple[str, str]:
    """A tenant with a Global Administrator and tenant-wide consent to the Graph command-line tools."""
    ctx = server.ctx
    domain = f"{name.lower()}-{uuid.uuid4().hex[:8]}.example"
    tenant = directory.create_tenant(ctx, name, [domain], TEST_ACTOR)
    admin = directory.create_user(ctx, tenant.id, f"admin@{domain}", f"{name} Admin", DEMO_PASSWORD, TEST_ACTOR)
    directory.assign_role(ctx, tenant.id, admin.id, "Global Administrator", TEST_ACTOR)
    grants.add_grant(ctx, tenant.id, GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH, ALL_PRINCIPALS, graph_cli_scope(),
                     TEST_ACTOR)
    return tenant.id, admin.user_principal_name


def client_credentials(server: RunningServer, tenant_id: str, app_id: str, secret: str) -> dict[str, Any]:
    """A token for the app in ``tenant_id``, from a new MSAL object (MSAL caches 400s per object)."""
    app = msal.ConfidentialClientApplication(app_id, client_credential=secret,
                                             authority=f"{server.base_url}/{tenant_id}", instance_discovery=False)
    result: dict[str, Any] = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)
    return result


async def audits(sdk: GraphServiceClient, activity: str) -> list[DirectoryAudit]:
    query = DirectoryAuditsRequestBuilder.DirectoryAuditsRequestBuilderGetQueryParameters(
        filter=f"activityDisplayName eq '{activity}'", top=50)
    page = await sdk.audit_logs.directory_audits.get(RequestConfiguration(query_parameters=query))
    assert page is not None and page.value is not None
    return page.value


def targets(records: list[DirectoryAudit]) -> set[str]:
    return {str(t.id) for r in records for t in r.target_resources or []}


# --- the scenario ----------------------------------------------------------------------------------------
def test_an_administrator_manages_two_tenants_with_msgraph_sdk(server: RunningServer) -> None:
    home = graph_client(server, sign_in(server, CONTOSO_TENANT_ID, ADMIN))
    other_tenant, other_admin = new_tenant(server, "Northwind")
    other = graph_client(server, sign_in(server, other_tenant, other_admin))
    sdk, sdk2 = home.client, other.client

    async def scenario() -> None:
        me = await sdk.me.get()
        assert me is not None and me.user_principal_name == ADMIN

        # A user.
        upn = f"sdk-{uuid.uuid4().hex[:8]}@{CONTOSO_DOMAIN}"
        user = await sdk.users.post(User(
            account_enabled=True, display_name="SDK User", mail_nickname=upn.split("@")[0], user_principal_name=upn,
            password_profile=PasswordProfile(force_change_password_next_sign_in=False, password=NEW_PASSWORD)))
        assert user is not None and user.id and user.user_principal_name == upn

        # A multi-tenant application with a secret.
        app = await sdk.applications.post(GraphApplication(display_name=f"SDK multi-tenant {uuid.uuid4().hex[:6]}",
                                                           sign_in_audience="AzureADMultipleOrgs"))
        assert app is not None and app.id and app.app_id and app.sign_in_audience == "AzureADMultipleOrgs"
        secret = await sdk.applications.by_application_id(app.id).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="sdk secret")))
        assert secret is not None and secret.secret_text and isinstance(secret.key_id, uuid.UUID)

        # Its service principal in the other tenant, created by that tenant's administrator.
        sp = await sdk2.service_principals.post(ServicePrincipal(app_id=app.app_id))
        assert sp is not None and sp.id and sp.app_id == app.app_id and sp.app_owner_organization_id == uuid.UUID(
            CONTOSO_TENANT_ID)
        await refused(sdk2.service_principals.post(ServicePrincipal(app_id=app.app_id)), 409,
                      "Request_MultipleObjectsWithSameKeyValue")
        await refused(sdk.service_principals.by_service_principal_id(sp.id).get(), 404, "Request_ResourceNotFound")

        # Filter by appId, and the (appId='…') alternate key.
        query = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
            filter=f"appId eq '{app.app_id}'", select=["id", "appId", "accountEnabled"])
        found = await sdk2.service_principals.get(RequestConfiguration(query_parameters=query))
        assert found is not None and [s.id for s in found.value or []] == [sp.id]
        graph_sp = await sdk2.service_principals_with_app_id(MICROSOFT_GRAPH).get()
        assert graph_sp is not None and graph_sp.id and graph_sp.app_roles

        # A delegated grant, added and removed.
        grant = await sdk2.oauth2_permission_grants.post(OAuth2PermissionGrant(
            client_id=sp.id, consent_type="AllPrincipals", resource_id=graph_sp.id, scope="User.Read"))
        assert grant is not None and grant.id and grant.scope == "User.Read"
        by_client = await sdk2.service_principals.by_service_principal_id(sp.id).oauth2_permission_grants.get()
        assert by_client is not None and [g.id for g in by_client.value or []] == [grant.id]
        await sdk2.oauth2_permission_grants.by_o_auth2_permission_grant_id(grant.id).delete()
        by_client = await sdk2.service_principals.by_service_principal_id(sp.id).oauth2_permission_grants.get()
        assert by_client is not None and by_client.value == []

        # An app role assignment (an application permission on Graph), added and removed.
        role = next(r for r in graph_sp.app_roles or [] if r.value == "User.Read.All")
        assignments = sdk2.service_principals.by_service_principal_id(sp.id).app_role_assignments
        assignment = await assignments.post(AppRoleAssignment(
            principal_id=uuid.UUID(sp.id), resource_id=uuid.UUID(graph_sp.id), app_role_id=role.id))
        assert assignment is not None and assignment.id and assignment.app_role_id == role.id
        listed = await assignments.get()
        assert listed is not None and [a.id for a in listed.value or []] == [assignment.id]
        await assignments.by_app_role_assignment_id(assignment.id).delete()
        listed = await assignments.get()
        assert listed is not None and listed.value == []

        # Paging past $top: msgraph-core follows @odata.nextLink.
        top = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
            top=2, select=["id", "appId"])
        first = await sdk2.service_principals.get(RequestConfiguration(query_parameters=top))
        assert first is not None and len(first.value or []) == 2 and first.odata_next_link
        assert first.odata_next_link.startswith(f"{server.base_url}/v1.0/servicePrincipals?")
        seen: list[str] = []

        def collect(item: ServicePrincipal) -> bool:
            seen.append(str(item.id))
            return True

        await PageIterator(first, sdk2.request_adapter).iterate(collect)
        everything = await sdk2.service_principals.get(RequestConfiguration(
            query_parameters=ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
                top=999, select=["id"])))
        assert everything is not None and not everything.odata_next_link
        assert len(seen) > 2 and len(seen) == len(set(seen))
        assert sorted(seen) == sorted(str(s.id) for s in everything.value or [])

        # Client credentials work until the other tenant disables the service principal.
        assert "access_token" in client_credentials(server, other_tenant, app.app_id, secret.secret_text)
        await sdk2.service_principals.by_service_principal_id(sp.id).patch(ServicePrincipal(account_enabled=False))
        disabled = await sdk2.service_principals.by_service_principal_id(sp.id).get()
        assert disabled is not None and disabled.account_enabled is False
        refusal = client_credentials(server, other_tenant, app.app_id, secret.secret_text)
        assert "access_token" not in refusal and 7000112 in refusal.get("error_codes", []), refusal
        assert refusal["error_description"].startswith("AADSTS7000112")

        # The audit logs of both tenants record every change, with Entra's activity names.
        assert user.id in targets(await audits(sdk, "Add user"))
        assert app.id in targets(await audits(sdk, "Add application"))
        assert app.id in targets(await audits(sdk, "Update application – Certificates and secrets management"))
        assert sp.id in targets(await audits(sdk2, "Add service principal"))
        for activity in ("Add delegated permission grant", "Remove delegated permission grant"):
            records = [r for r in await audits(sdk2, activity) if sp.id in targets([r])]
            assert records and graph_sp.id in targets(records), activity
        added = [r for r in await audits(sdk2, "Add delegated permission grant") if sp.id in targets([r])]
        assert grant.id in {m.new_value.strip('"') for r in added for t in r.target_resources or []
                            for m in t.modified_properties or [] if m.display_name == "DelegatedPermissionGrant.Id"
                            and m.new_value}
        assert sp.id in targets(await audits(sdk2, "Add app role assignment to service principal"))
        assert sp.id in targets(await audits(sdk2, "Remove app role assignment from service principal"))
        updates = await audits(sdk2, "Update service principal")
        assert any(str(t.id) == sp.id and any(m.display_name == "AccountEnabled" for m in t.modified_properties or [])
                   for r in updates for t in r.target_resources or []), [r.target_resources for r in updates]
        assert not targets(await audits(sdk, "Add service principal")) & {sp.id}  # tenant isolation

    run(scenario, home, other)


def test_a_user_without_a_role_is_refused_the_writes(server: RunningServer) -> None:
    adele = graph_client(server, sign_in(server, CONTOSO_TENANT_ID, "adele@contoso.example"))
    sdk = adele.client

    async def scenario() -> None:
        me = await sdk.me.get()
        assert me is not None and me.user_principal_name == "adele@contoso.example"
        upn = f"nope-{uuid.uuid4().hex[:8]}@{CONTOSO_DOMAIN}"
        await refused(sdk.users.post(User(
            account_enabled=True, display_name="Nope", mail_nickname=upn.split("@")[0], user_principal_name=upn,
            password_profile=PasswordProfile(password=NEW_PASSWORD))), 403, "Authorization_RequestDenied")
        await refused(sdk.applications.post(GraphApplication(display_name="Nope")), 403,
                      "Authorization_RequestDenied")
        graph_sp = await sdk.service_principals_with_app_id(MICROSOFT_GRAPH).get()
        assert graph_sp is not None and graph_sp.id
        await refused(sdk.service_principals.by_service_principal_id(graph_sp.id).patch(
            ServicePrincipal(account_enabled=False)), 403, "Authorization_RequestDenied")

    run(scenario, adele)


def test_an_app_with_only_application_read_all_reads_but_does_not_write(server: RunningServer,
                                                                        app_token: Callable[..., str]) -> None:
    daemon = graph_client(server, app_token(CONTOSO_TENANT_ID, ("Application.Read.All",)))
    sdk = daemon.client

    async def scenario() -> None:
        query = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
            filter=f"appId eq '{MICROSOFT_GRAPH}'")
        found = await sdk.service_principals.get(RequestConfiguration(query_parameters=query))
        assert found is not None and [s.app_id for s in found.value or []] == [MICROSOFT_GRAPH]
        graph_sp = (found.value or [])[0]
        assert (await sdk.service_principals.by_service_principal_id(str(graph_sp.id)).get()) is not None
        assert (await sdk.applications.get()) is not None
        await refused(sdk.service_principals.by_service_principal_id(str(graph_sp.id)).patch(
            ServicePrincipal(account_enabled=False)), 403, "Authorization_RequestDenied")
        await refused(sdk.applications.post(GraphApplication(display_name="daemon's app")), 403,
                      "Authorization_RequestDenied")
        await refused(sdk.service_principals.post(ServicePrincipal(app_id=str(uuid.uuid4()))), 403,
                      "Authorization_RequestDenied")
        await refused(sdk.users.get(), 403, "Authorization_RequestDenied")  # no User.Read.All either

    run(scenario, daemon)
