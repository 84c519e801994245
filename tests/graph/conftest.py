"""Fixtures for the Graph API tests: bearer tokens from MSAL and httpx clients that send them.

``user_token(upn)`` signs a demo user in with ROPC through the Graph Command Line Tools client (which
Contoso has consented to tenant-wide); ``admin_token`` is the Global Administrator's token;
``app_token(tenant_id, roles)`` registers a confidential app with Graph application permissions and gets an
app-only token; ``graph(token)`` is an httpx client on the server with that token; ``other_tenant`` is a
second tenant (Fabrikam) with a user, a group and a role assignment, for tenant-isolation attacks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import msal
import pytest
from tests.support.real_clients import (  # noqa: F401 - autouse fixtures for this directory
    _no_user_realm_probe,
    _release_client_connections,
    _server_clock_at_real_time,
)
from tests.support.server import RunningServer

from consentry.domain.apps import Application
from consentry.domain.builtin import GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH
from consentry.domain.ids import new_guid
from consentry.services import app_credentials, apps, directory, grants
from consentry.services.context import Actor
from consentry.services.demo import CONTOSO_TENANT_ID, DEMO_PASSWORD

GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]
ADMIN = "admin@contoso.example"
TEST_ACTOR = Actor("system", name="graph tests")


@pytest.fixture(scope="session")
def _public_apps(server: RunningServer) -> dict[str, msal.PublicClientApplication]:
    return {}


@pytest.fixture
def user_token(server: RunningServer,
               _public_apps: dict[str, msal.PublicClientApplication]) -> Callable[..., str]:
    """``user_token(upn, password=DEMO_PASSWORD, tenant=Contoso)``: a delegated Graph access token."""
    def acquire(upn: str, password: str = DEMO_PASSWORD, tenant: str = CONTOSO_TENANT_ID) -> str:
        app = _public_apps.get(tenant)
        if app is None:
            app = _public_apps[tenant] = msal.PublicClientApplication(
                GRAPH_COMMAND_LINE_TOOLS, authority=f"{server.base_url}/{tenant}", instance_discovery=False)
        accounts = app.get_accounts(username=upn)
        result = app.acquire_token_silent(GRAPH_DEFAULT, account=accounts[0]) if accounts else None
        if not result:
            result = app.acquire_token_by_username_password(upn, password, scopes=GRAPH_DEFAULT)
        assert "access_token" in result, result
        return str(result["access_token"])
    return acquire


@pytest.fixture
def admin_token(user_token: Callable[..., str]) -> str:
    return user_token(ADMIN)


@pytest.fixture
def app_token(server: RunningServer) -> Callable[..., str]:
    """``app_token(tenant_id, roles)``: an app-only Graph token for a new app holding those Graph roles."""
    def acquire(tenant_id: str = CONTOSO_TENANT_ID, roles: tuple[str, ...] = ()) -> str:
        ctx = server.ctx
        app = apps.register_application(ctx, tenant_id, Application(
            id=new_guid(), app_id=new_guid(), tenant_id=tenant_id, display_name="graph tests daemon"), TEST_ACTOR)
        secret = app_credentials.add_password(ctx, tenant_id, app.id, TEST_ACTOR, display_name="tests")[1]
        for role in roles:
            grants.add_app_role_assignment(ctx, tenant_id, principal_id=app.app_id, resource_id=MICROSOFT_GRAPH,
                                           app_role=role, actor=TEST_ACTOR)
        client = msal.ConfidentialClientApplication(app.app_id, client_credential=secret,
                                                    authority=f"{server.base_url}/{tenant_id}",
                                                    instance_discovery=False)
        result = client.acquire_token_for_client(scopes=GRAPH_DEFAULT)
        assert "access_token" in result, result
        return str(result["access_token"])
    return acquire


@pytest.fixture
def graph(server: RunningServer) -> Iterator[Callable[..., httpx.Client]]:
    """``graph(token, **headers)``: an httpx client on ``{base}`` sending the bearer token."""
    clients: list[httpx.Client] = []

    def make(token: str | None, **headers: str) -> httpx.Client:
        sent = dict(headers)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        client = server.client(headers=sent)
        clients.append(client)
        return client
    yield make
    for client in clients:
        client.close()


@dataclass(frozen=True)
class OtherTenant:
    tenant_id: str
    domain: str
    user_id: str
    upn: str
    group_id: str
    role_assignment_id: str


@pytest.fixture(scope="session")
def other_tenant(server: RunningServer) -> OtherTenant:
    """Fabrikam: a tenant with a user (a Global Administrator), a group with that user, and nothing shared
    with Contoso."""
    ctx = server.ctx
    domain = f"fabrikam-{uuid.uuid4().hex[:8]}.example"
    tenant = directory.create_tenant(ctx, "Fabrikam", [domain], TEST_ACTOR)
    user = directory.create_user(ctx, tenant.id, f"megan@{domain}", "Megan Bowen", DEMO_PASSWORD, TEST_ACTOR)
    group = directory.create_group(ctx, tenant.id, "Fabrikam staff", TEST_ACTOR, member_ids=[user.id])
    assignment = directory.assign_role(ctx, tenant.id, user.id, "Global Administrator", TEST_ACTOR)
    return OtherTenant(tenant.id, domain, user.id, user.user_principal_name, group.id, assignment.id)
