"""Consent under concurrency, on SQLite and on PostgreSQL (spec §8.3, §13.2, §13.13): many people pressing
Accept for the same never-consented app at the same moment must leave the directory as if they had pressed
it one after the other — one service principal, one grant per user (or one tenant-wide grant per resource,
holding the union of what every administrator granted), one assignment per user — and every browser must
get its answer.

Each person is driven over HTTP with a browser of their own (an httpx client with its own cookies) through
authorize (or the admin consent endpoint) → sign-in → consent page; then all the Accept posts are released
together by a barrier. The server is a fresh one per test, on a fresh database (a new SQLite file, or a new
PostgreSQL database on ``CONSENTRY_TEST_POSTGRES_URL``). What was written is read back through
``consentry.services``. Timeouts here only keep a broken run from hanging; nothing measures time.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import Engine, event
from tests.protocol.helpers import form_action, hidden_inputs, submit_sign_in, unique
from tests.support.postgres import postgres_database, postgres_server_url_or_skip
from tests.support.server import RunningServer, start_server

from consentry.domain.apps import Application, ServicePrincipal
from consentry.domain.builtin import EXCHANGE_ONLINE, MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.directory import Tenant, User
from consentry.domain.grants import OAuth2PermissionGrant
from consentry.domain.ids import NIL_GUID, new_guid
from consentry.domain.odata import ODataQuery
from consentry.services import apps, audit, directory, grants, policies
from consentry.services.context import Actor

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ACTOR = Actor("system", name="consent concurrency tests")
PASSWORD = "Correct-Horse-1!"
REDIRECT_URI = "https://app.example/callback"
USERS = 20
GUARD = 120.0  # seconds: only a failure guard for a hung run
VERIFIED = {"displayName": "Contoso Test Publisher", "verifiedPublisherId": "1234567",
            "addedDateTime": "2024-01-01T00:00:00Z"}


# --- a fresh server per test, per backend --------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def consent_server(request: pytest.FixtureRequest, tmp_path: Path, egress_guard: object) -> Iterator[RunningServer]:
    if request.param == "sqlite":
        running = start_server(tmp_path / "data")
        try:
            yield running
        finally:
            running.stop()
        return
    with postgres_database(postgres_server_url_or_skip()) as db_url:
        running = start_server(tmp_path / "data", db_url)
        try:
            yield running
        finally:
            running.stop()


# --- directory set-up ----------------------------------------------------------------------------------
def make_tenant(server: RunningServer) -> Tenant:
    name = unique("concurrency")
    return directory.create_tenant(server.ctx, name, [f"{name}.example"], ACTOR)


def make_users(server: RunningServer, tenant: Tenant, count: int, role: str | None = None) -> list[User]:
    users = []
    for _ in range(count):
        upn = f"{unique('user')}@{tenant.default_domain}"
        users.append(directory.create_user(server.ctx, tenant.id, upn, upn.split("@")[0], PASSWORD, ACTOR))
        if role:
            directory.assign_role(server.ctx, tenant.id, upn, role, ACTOR)
    return users


def _graph_ids(delegated: tuple[str, ...], roles: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    graph = find_builtin_application(MICROSOFT_GRAPH)
    assert graph is not None
    return ([(next(s.id for s in graph.scopes if s.value == v), "Scope") for v in delegated]
            + [(next(r.id for r in graph.app_roles if r.value == v), "Role") for v in roles])


def _exchange_ids(delegated: tuple[str, ...]) -> list[tuple[str, str]]:
    exchange = find_builtin_application(EXCHANGE_ONLINE)
    assert exchange is not None
    return [(next(s.id for s in exchange.scopes if s.value == v), "Scope") for v in delegated]


def make_multi_tenant_app(server: RunningServer, static: dict[str, list[tuple[str, str]]] | None = None) -> str:
    """A multi-tenant web app from a publisher's own (verified) tenant, never consented anywhere else: the
    first consent in another tenant creates its service principal there."""
    home = make_tenant(server)
    access = tuple(apps.required_resource_access_for(resource, ids) for resource, ids in (static or {}).items())
    app = apps.register_application(server.ctx, home.id, Application(
        id=new_guid(), app_id=new_guid(), tenant_id=home.id, display_name=unique("Concurrent app "),
        sign_in_audience="AzureADMultipleOrgs", web_redirect_uris=(REDIRECT_URI,),
        verified_publisher=dict(VERIFIED), required_resource_access=access), ACTOR)
    return app.app_id


# --- browsers ------------------------------------------------------------------------------------------
@dataclass
class PendingConsent:
    """One person's browser, parked on a consent page, with the Accept post ready to send."""

    browser: httpx.Client
    action: str
    form: dict[str, str]
    state: str
    response: httpx.Response | None = None
    error: BaseException | None = None


def location(response: httpx.Response) -> str:
    assert response.status_code == 302, (response.status_code, response.text[:800])
    return response.headers["location"]


def park_on_consent_page(server: RunningServer, start: tuple[str, dict[str, str]], upn: str, state: str,
                         heading: str) -> PendingConsent:
    """Open ``start`` (path and query) in a new browser, sign in as ``upn``, and stop on the consent page."""
    browser = server.client(timeout=GUARD)
    path, params = start
    login = location(browser.get(path, params=params))
    assert "/login?interaction=" in login, login
    page_url = location(submit_sign_in(browser, login, upn, PASSWORD))
    assert "/consent?interaction=" in page_url, page_url
    page = browser.get(page_url)
    assert page.status_code == 200 and heading in page.text, page.text[:1500]
    return PendingConsent(browser, form_action(page.text), {**hidden_inputs(page.text), "decision": "accept"},
                          state)


def accept_all_at_once(pending: list[PendingConsent]) -> None:
    """Release every Accept post together, and wait for all the answers."""
    barrier = threading.Barrier(len(pending))

    def press(item: PendingConsent) -> None:
        try:
            barrier.wait(timeout=GUARD)
            item.response = item.browser.post(item.action, data=item.form)
        except BaseException as exc:  # reported below, by the test's thread
            item.error = exc

    threads = [threading.Thread(target=press, args=(item,), daemon=True) for item in pending]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=GUARD)
    for item in pending:
        item.browser.close()
    assert not any(t.is_alive() for t in threads), "an Accept post never returned"
    errors = [item.error for item in pending if item.error is not None]
    assert not errors, errors


def sent_to_client(item: PendingConsent) -> dict[str, str]:
    assert item.response is not None
    target = location(item.response)
    assert target.startswith(REDIRECT_URI + "?"), target
    params = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
    assert params.get("state") == item.state, params
    return params


# --- reading back what was written -------------------------------------------------------------------------
def the_service_principal(server: RunningServer, tenant: Tenant, app_id: str) -> ServicePrincipal:
    found = [sp for sp in apps.list_service_principals(server.ctx, tenant.id) if sp.app_id == app_id]
    assert len(found) == 1, f"{len(found)} service principals for the app"
    return found[0]


def resource_app_id(server: RunningServer, tenant: Tenant, grant: OAuth2PermissionGrant) -> str:
    return apps.find_service_principal(server.ctx, tenant.id, object_id=grant.resource_id).app_id


def audit_count(server: RunningServer, tenant: Tenant, activity: str, target_id: str) -> int:
    events, _ = audit.page_directory_audits(server.ctx, tenant.id, ODataQuery(top=999))
    return sum(1 for e in events if e["activity_display_name"] == activity
               and f" {target_id.lower()} " in (e["target_ids"] or ""))


def user_assignments(server: RunningServer, tenant: Tenant, sp: ServicePrincipal) -> list[tuple[str, str, str]]:
    """(principal type, principal id, app role id) of every assignment made on the app's service principal."""
    found, _ = grants.page_assignments(server.ctx, tenant.id, ODataQuery(top=999), resource_id=sp.id)
    return sorted((a.principal_type, a.principal_id, a.app_role_id) for a in found)


class PoolNesting:
    """Watches an engine's pool: where any thread checked out a second connection while holding one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.local = threading.local()
        self.nested: list[str] = []

    def _checkout(self, *_: object) -> None:
        self.local.depth = getattr(self.local, "depth", 0) + 1
        if self.local.depth > 1:
            self.nested.append("".join(line for line in traceback.format_stack() if "/consentry/" in line))

    def _checkin(self, *_: object) -> None:
        self.local.depth = getattr(self.local, "depth", 1) - 1

    def __enter__(self) -> PoolNesting:
        event.listen(self.engine, "checkout", self._checkout)
        event.listen(self.engine, "checkin", self._checkin)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "checkout", self._checkout)
        event.remove(self.engine, "checkin", self._checkin)


def test_a_consent_flow_never_holds_two_pooled_connections_at_once(consent_server: RunningServer) -> None:
    """The reason the twenty-user test below needs this: a request that holds one pooled connection and
    waits for a second deadlocks the pool as soon as as many requests as there are connections (16 on
    SQLite, 20 on PostgreSQL) do so at once — each holds one, all wait — until the pool's 30 s timeout
    fails them with a 500."""
    server = consent_server
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "legacy", ACTOR)
    app_id = make_multi_tenant_app(server)
    [user] = make_users(server, tenant, 1)
    params = {"client_id": app_id, "response_type": "code", "redirect_uri": REDIRECT_URI,
              "scope": "openid User.Read", "state": "one"}
    with PoolNesting(server.ctx.uow.engine) as pool:
        pending = park_on_consent_page(server, (f"/{tenant.id}/oauth2/v2.0/authorize", params),
                                       user.user_principal_name, "one", "Permissions requested")
        accept_all_at_once([pending])
    assert sent_to_client(pending)["code"]
    assert not pool.nested, "a second pooled connection was checked out while one was held:\n" + pool.nested[0]


# --- twenty users, one app ---------------------------------------------------------------------------------
def test_twenty_users_accepting_at_once_leave_one_service_principal_and_twenty_grants(
        consent_server: RunningServer) -> None:
    server = consent_server
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "legacy", ACTOR)  # users may consent to these
    app_id = make_multi_tenant_app(server)
    users = make_users(server, tenant, USERS)
    scope = "openid profile offline_access User.Read Calendars.Read"

    pending = []
    for index, user in enumerate(users):
        state = f"user-{index}"
        params = {"client_id": app_id, "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": scope,
                  "state": state}
        pending.append(park_on_consent_page(server, (f"/{tenant.id}/oauth2/v2.0/authorize", params),
                                            user.user_principal_name, state, "Permissions requested"))
    assert not [sp for sp in apps.list_service_principals(server.ctx, tenant.id) if sp.app_id == app_id]

    accept_all_at_once(pending)

    statuses = [item.response.status_code for item in pending if item.response is not None]
    assert statuses == [302] * USERS, f"Accept answers: {sorted(statuses)}"
    for item in pending:
        assert sent_to_client(item)["code"]
    sp = the_service_principal(server, tenant, app_id)
    assert audit_count(server, tenant, "Add service principal", sp.id) == 1
    found = grants.list_grants(server.ctx, tenant.id, app_id)
    assert sorted((g.consent_type, g.principal_id) for g in found) == sorted(("Principal", u.id) for u in users)
    for grant in found:
        assert resource_app_id(server, tenant, grant) == MICROSOFT_GRAPH
        assert set(grant.scope.split()) == set(scope.split()), grant
    assert user_assignments(server, tenant, sp) == sorted(("User", u.id, NIL_GUID) for u in users)


# --- two administrators, tenant-wide ------------------------------------------------------------------------
def _admins_accept_at_once(server: RunningServer, tenant: Tenant, app_id: str, scopes: list[str]) -> list[
        PendingConsent]:
    admins = make_users(server, tenant, len(scopes), role="Global Administrator")
    pending = []
    for index, (admin, scope) in enumerate(zip(admins, scopes, strict=True)):
        state = f"admin-{index}"
        params = {"client_id": app_id, "scope": scope, "redirect_uri": REDIRECT_URI, "state": state}
        pending.append(park_on_consent_page(server, (f"/{tenant.id}/v2.0/adminconsent", params),
                                            admin.user_principal_name, state, "Accept for your organization"))
    accept_all_at_once(pending)
    for item in pending:
        assert sent_to_client(item)["admin_consent"] == "True"
    return pending


def test_two_admins_granting_different_dynamic_scopes_at_once_leave_one_grant_with_the_union(
        consent_server: RunningServer) -> None:
    server = consent_server
    tenant = make_tenant(server)
    app_id = make_multi_tenant_app(server)
    scopes = ["https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Read",
              "https://graph.microsoft.com/User.Read https://graph.microsoft.com/Calendars.Read"]

    done = _admins_accept_at_once(server, tenant, app_id, scopes)

    granted_back = [set(sent_to_client(item)["scope"].split()) for item in done]
    assert granted_back == [set(s.split()) for s in scopes]  # each admin is told what they granted
    sp = the_service_principal(server, tenant, app_id)
    assert audit_count(server, tenant, "Add service principal", sp.id) == 1
    [grant] = grants.list_grants(server.ctx, tenant.id, app_id)
    assert grant.consent_type == "AllPrincipals" and grant.principal_id is None
    assert resource_app_id(server, tenant, grant) == MICROSOFT_GRAPH
    assert set(grant.scope.split()) == {"User.Read", "Mail.Read", "Calendars.Read"}  # no scope lost
    assert user_assignments(server, tenant, sp) == []  # tenant-wide consent assigns nobody


def test_two_admins_granting_the_static_list_at_once_leave_one_grant_per_resource_and_one_app_role(
        consent_server: RunningServer) -> None:
    server = consent_server
    tenant = make_tenant(server)
    app_id = make_multi_tenant_app(server, static={
        MICROSOFT_GRAPH: _graph_ids(("User.Read", "Mail.Read"), roles=("User.Read.All",)),
        EXCHANGE_ONLINE: _exchange_ids(("EWS.AccessAsUser.All",)),
    })

    _admins_accept_at_once(server, tenant, app_id, ["https://graph.microsoft.com/.default"] * 2)

    sp = the_service_principal(server, tenant, app_id)
    assert audit_count(server, tenant, "Add service principal", sp.id) == 1
    found = grants.list_grants(server.ctx, tenant.id, app_id)
    by_resource = {resource_app_id(server, tenant, g): g for g in found}
    assert len(by_resource) == len(found) == 2, found
    assert all(g.consent_type == "AllPrincipals" and g.principal_id is None for g in found)
    assert set(by_resource[MICROSOFT_GRAPH].scope.split()) == {"User.Read", "Mail.Read"}
    assert set(by_resource[EXCHANGE_ONLINE].scope.split()) == {"EWS.AccessAsUser.All"}
    graph_sp = apps.find_service_principal(server.ctx, tenant.id, app_id=MICROSOFT_GRAPH)
    role_id = next(r.id for r in graph_sp.app_roles if r.value == "User.Read.All")
    held, _ = grants.page_assignments(server.ctx, tenant.id, ODataQuery(top=999), principal_id=sp.id)
    assert [(a.resource_id, a.app_role_id, a.principal_type) for a in held] == [
        (graph_sp.id, role_id, "ServicePrincipal")]


# --- a user and an administrator at the same moment ------------------------------------------------------
def test_a_user_and_an_admin_accepting_at_once_leave_one_service_principal_and_both_grants(
        consent_server: RunningServer) -> None:
    server = consent_server
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "legacy", ACTOR)
    app_id = make_multi_tenant_app(server)
    [user] = make_users(server, tenant, 1)
    [admin] = make_users(server, tenant, 1, role="Global Administrator")
    user_params = {"client_id": app_id, "response_type": "code", "redirect_uri": REDIRECT_URI,
                   "scope": "openid User.Read", "state": "user"}
    admin_params = {"client_id": app_id, "scope": "https://graph.microsoft.com/Mail.Read",
                    "redirect_uri": REDIRECT_URI, "state": "admin"}
    pending = [
        park_on_consent_page(server, (f"/{tenant.id}/oauth2/v2.0/authorize", user_params), user.user_principal_name,
                             "user", "Permissions requested"),
        park_on_consent_page(server, (f"/{tenant.id}/v2.0/adminconsent", admin_params), admin.user_principal_name,
                             "admin", "Accept for your organization"),
    ]

    accept_all_at_once(pending)

    assert sent_to_client(pending[0])["code"] and sent_to_client(pending[1])["admin_consent"] == "True"
    sp = the_service_principal(server, tenant, app_id)
    assert audit_count(server, tenant, "Add service principal", sp.id) == 1
    found = {(g.consent_type, g.principal_id): set(g.scope.split())
             for g in grants.list_grants(server.ctx, tenant.id, app_id)}
    assert found == {("Principal", user.id): {"openid", "User.Read"}, ("AllPrincipals", None): {"Mail.Read"}}
    assert user_assignments(server, tenant, sp) == [("User", user.id, NIL_GUID)]
