"""A service principal's relationships over HTTPS: ``/appRoleAssignments`` (application permissions granted
to it, seen in the next app-only token), ``/appRoleAssignedTo`` (users and apps assigned to it),
``/oauth2PermissionGrants`` and ``/delegatedPermissionClassifications``; disabling a service principal
(AADSTS7000112); filtering by appId; permissions, errors and tenant isolation."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msal
import pytest
from tests.graph.conftest import GRAPH_DEFAULT, TEST_ACTOR
from tests.graph.helpers import assert_graph_error as _error
from tests.graph.helpers import audit_events as _events
from tests.graph.helpers import service_principal_id as _sp_id
from tests.graph.helpers import user_id as _user_id
from tests.support.server import RunningServer

from consentry.domain.apps import Application, AppRole
from consentry.domain.builtin import EXCHANGE_ONLINE, MICROSOFT_GRAPH
from consentry.services import app_credentials, apps, grants
from consentry.services.demo import (
    APPLE_INTERNET_ACCOUNTS,
    APPLE_TENANT_ID,
    CONTOSO_TENANT_ID,
)

Graph = Callable[..., httpx.Client]
USER_ROLE = "5b3f6a1e-8a4f-4f0e-9a57-2c4a3f5e8d10"
APP_ROLE = "9e1c2b7d-3f4a-4b8e-8c6d-1a2b3c4d5e6f"
ADELE = "adele@contoso.example"


@dataclass(frozen=True)
class Daemon:
    app_id: str
    sp_id: str
    secret: str


def _daemon(server: RunningServer, tenant: str = CONTOSO_TENANT_ID) -> Daemon:
    """A confidential client with a secret and its service principal, holding no app roles."""
    app = apps.register_application(server.ctx, tenant, Application(
        id=str(uuid.uuid4()), app_id=str(uuid.uuid4()), tenant_id=tenant,
        display_name=f"relations daemon {uuid.uuid4().hex[:6]}"), TEST_ACTOR)
    secret = app_credentials.add_password(server.ctx, tenant, app.id, TEST_ACTOR, display_name="tests")[1]
    return Daemon(app.app_id, _sp_id(server, app.app_id, tenant), secret)


def _api(server: RunningServer) -> str:
    """An API with one app role for users and one for applications; its service principal's id."""
    app = apps.register_application(server.ctx, CONTOSO_TENANT_ID, Application(
        id=str(uuid.uuid4()), app_id=str(uuid.uuid4()), tenant_id=CONTOSO_TENANT_ID,
        display_name=f"relations api {uuid.uuid4().hex[:6]}",
        app_roles=(AppRole(USER_ROLE, "Reports.View", "View reports", "View reports", ("User",)),
                   AppRole(APP_ROLE, "Reports.Export", "Export reports", "Export reports", ("Application",)))),
        TEST_ACTOR)
    return _sp_id(server, app.app_id)


def _token(server: RunningServer, daemon: Daemon, tenant: str = CONTOSO_TENANT_ID) -> dict[str, Any]:
    client = msal.ConfidentialClientApplication(daemon.app_id, client_credential=daemon.secret,
                                                authority=f"{server.base_url}/{tenant}", instance_discovery=False)
    return dict(client.acquire_token_for_client(scopes=GRAPH_DEFAULT))


def _roles(result: dict[str, Any]) -> list[str]:
    assert "access_token" in result, result
    payload = result["access_token"].split(".")[1]
    return list(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("roles", []))


@pytest.fixture
def admin(graph: Graph, admin_token: str) -> httpx.Client:
    return graph(admin_token)


@pytest.fixture
def graph_sp(admin: httpx.Client) -> dict[str, Any]:
    return dict(admin.get(f"/v1.0/servicePrincipals(appId='{MICROSOFT_GRAPH}')").json())


def _role_id(graph_sp: dict[str, Any], value: str) -> str:
    return str(next(r["id"] for r in graph_sp["appRoles"] if r["value"] == value))


# --- application permissions: /appRoleAssignments -------------------------------------------------------
def test_app_role_assignment_reaches_the_next_app_only_token_and_its_removal_too(
        admin: httpx.Client, server: RunningServer, graph_sp: dict[str, Any]) -> None:
    daemon = _daemon(server)
    assert _roles(_token(server, daemon)) == []
    role = _role_id(graph_sp, "User.Read.All")
    url = f"/v1.0/servicePrincipals/{daemon.sp_id}/appRoleAssignments"
    response = admin.post(url, json={"principalId": daemon.sp_id, "resourceId": graph_sp["id"], "appRoleId": role})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["@odata.context"].endswith(f"$metadata#servicePrincipals('{daemon.sp_id}')/appRoleAssignments"
                                              "/$entity")
    assert {k: created[k] for k in ("principalId", "principalType", "resourceId", "resourceDisplayName",
                                    "appRoleId")} == {
        "principalId": daemon.sp_id, "principalType": "ServicePrincipal", "resourceId": graph_sp["id"],
        "resourceDisplayName": "Microsoft Graph", "appRoleId": role}
    for value in ("principalId", "resourceId", "appRoleId"):
        uuid.UUID(created[value])  # msgraph-sdk parses these as GUIDs
    assert _roles(_token(server, daemon)) == ["User.Read.All"]
    listed = admin.get(url).json()
    assert [a["id"] for a in listed["value"]] == [created["id"]]
    by_app_id = admin.get(f"/v1.0/servicePrincipals(appId='{daemon.app_id}')/appRoleAssignments").json()
    assert by_app_id["value"] == listed["value"]
    assert admin.get(f"{url}/{created['id']}").json()["id"] == created["id"]
    _error(admin.post(url, json={"principalId": daemon.sp_id, "resourceId": graph_sp["id"], "appRoleId": role}),
           409, "Request_MultipleObjectsWithSameKeyValue")
    assert admin.delete(f"{url}/{created['id']}").status_code == 204
    assert _roles(_token(server, daemon)) == []
    _error(admin.get(f"{url}/{created['id']}"), 404, "Request_ResourceNotFound")
    [added] = _events(server, "Add app role assignment to service principal", daemon.sp_id)
    props = {p["displayName"]: p["newValue"] for p in added["target_resources"][0]["modifiedProperties"]}
    assert props["AppRole.Value"] == '"User.Read.All"' and added["category"] == "ApplicationManagement"
    assert len(_events(server, "Remove app role assignment from service principal", daemon.sp_id)) == 1


def test_app_role_assignment_errors(admin: httpx.Client, server: RunningServer, graph_sp: dict[str, Any]) -> None:
    daemon = _daemon(server)
    url = f"/v1.0/servicePrincipals/{daemon.sp_id}/appRoleAssignments"
    role = _role_id(graph_sp, "User.Read.All")
    base = {"principalId": daemon.sp_id, "resourceId": graph_sp["id"], "appRoleId": role}
    api = _api(server)
    _error(admin.post(url, json={**base, "principalId": graph_sp["id"]}), 400, "Request_BadRequest")
    _error(admin.post(url, json={**base, "appRoleId": str(uuid.uuid4())}), 400, "Request_BadRequest")
    _error(admin.post(url, json={**base, "resourceId": api, "appRoleId": USER_ROLE}), 400, "Request_BadRequest")
    _error(admin.post(url, json={**base, "appRoleId": "User.Read.All"}), 400, "Request_BadRequest")
    _error(admin.post(url, json={k: v for k, v in base.items() if k != "resourceId"}), 400, "Request_BadRequest")
    _error(admin.post(url, json={**base, "principalType": "ServicePrincipal"}), 400, "Request_BadRequest")
    _error(admin.post(url, json={**base, "resourceId": str(uuid.uuid4())}), 404, "Request_ResourceNotFound")
    for odd in ("nope", "a.b", "x" * 100):
        _error(admin.delete(f"{url}/{odd}"), 404, "Request_ResourceNotFound")
        _error(admin.get(f"{url}/{odd}"), 404, "Request_ResourceNotFound")
    _error(admin.get(f"{url}/a%00b"), 400, "Request_BadRequest")  # refused at the Graph edge
    _error(admin.get(url, params={"$filter": "appRoleId eq 'a\u0000'"}), 400, "Request_BadRequest")
    missing = str(uuid.uuid4())
    _error(admin.get(f"/v1.0/servicePrincipals/{missing}/appRoleAssignments"), 404, "Request_ResourceNotFound")
    _error(admin.post(f"/v1.0/servicePrincipals/{missing}/appRoleAssignments", json={**base, "principalId": missing}),
           404, "Request_ResourceNotFound")


# --- users and apps assigned to a resource: /appRoleAssignedTo ----------------------------------------
def test_assigning_a_user_to_an_app_role_on_a_resource(admin: httpx.Client, server: RunningServer) -> None:
    api = _api(server)
    adele = _user_id(server, ADELE)
    url = f"/v1.0/servicePrincipals/{api}/appRoleAssignedTo"
    response = admin.post(url, json={"principalId": adele, "resourceId": api, "appRoleId": USER_ROLE})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["principalType"] == "User" and created["principalDisplayName"] == "Adele Vance"
    # An application-only role cannot go to a user; the default-access nil GUID can.
    _error(admin.post(url, json={"principalId": adele, "resourceId": api, "appRoleId": APP_ROLE}), 400,
           "Request_BadRequest")
    default = admin.post(url, json={"principalId": adele, "resourceId": api,
                                    "appRoleId": "00000000-0000-0000-0000-000000000000"})
    assert default.status_code == 201, default.text
    daemon = _daemon(server)
    to_app = admin.post(url, json={"principalId": daemon.sp_id, "resourceId": api, "appRoleId": APP_ROLE})
    assert to_app.status_code == 201, to_app.text
    listed = admin.get(url).json()["value"]
    assert {a["id"] for a in listed} == {created["id"], default.json()["id"], to_app.json()["id"]}
    assert admin.get(url, params={"$filter": f"principalId eq '{adele}'"}).json()["value"][0]["principalId"] == adele
    # resourceId must be the service principal in the URL; an assignment is deleted only through its own.
    _error(admin.post(url, json={"principalId": adele, "resourceId": daemon.sp_id, "appRoleId": USER_ROLE}), 400,
           "Request_BadRequest")
    _error(admin.delete(f"/v1.0/servicePrincipals/{daemon.sp_id}/appRoleAssignedTo/{created['id']}"), 404,
           "Request_ResourceNotFound")
    _error(admin.delete(f"/v1.0/servicePrincipals/{api}/appRoleAssignments/{created['id']}"), 404,
           "Request_ResourceNotFound")
    assert admin.delete(f"{url}/{created['id']}").status_code == 204
    added = _events(server, "Add app role assignment grant to user", api)
    assert len(added) == 2 and {e["category"] for e in added} == {"UserManagement"}
    [removed] = _events(server, "Remove app role assignment from user", api)
    assert removed["category"] == "UserManagement"


def test_pages_through_assignments_on_a_resource(admin: httpx.Client, server: RunningServer) -> None:
    api = _api(server)
    made = {admin.post(f"/v1.0/servicePrincipals/{api}/appRoleAssignedTo", json={
        "principalId": _daemon(server).sp_id, "resourceId": api, "appRoleId": APP_ROLE}).json()["id"]
        for _ in range(5)}
    seen: list[str] = []
    url: str | None = f"/v1.0/servicePrincipals/{api}/appRoleAssignedTo"
    params: dict[str, str] | None = {"$top": "2", "$count": "true"}
    while url:
        page = admin.get(url, params=params).json()
        assert len(page["value"]) <= 2 and page["@odata.count"] == 5
        seen += [a["id"] for a in page["value"]]
        url, params = page.get("@odata.nextLink"), None
    assert len(seen) == 5 and set(seen) == made


# --- delegated grants of a client ---------------------------------------------------------------------
def test_a_service_principals_oauth2_permission_grants(admin: httpx.Client, server: RunningServer,
                                                       graph_sp: dict[str, Any]) -> None:
    daemon = _daemon(server)
    grant = admin.post("/v1.0/oauth2PermissionGrants", json={
        "clientId": daemon.sp_id, "consentType": "AllPrincipals", "resourceId": graph_sp["id"],
        "scope": "User.Read"}).json()
    listed = admin.get(f"/v1.0/servicePrincipals/{daemon.sp_id}/oauth2PermissionGrants").json()
    assert [g["id"] for g in listed["value"]] == [grant["id"]]
    other = admin.get(f"/v1.0/servicePrincipals/{graph_sp['id']}/oauth2PermissionGrants").json()
    assert grant["id"] not in {g["id"] for g in other["value"]}


# --- delegated permission classifications --------------------------------------------------------------
def test_classifying_a_delegated_permission_low(admin: httpx.Client, server: RunningServer,
                                                graph_sp: dict[str, Any], graph: Graph,
                                                user_token: Callable[..., str]) -> None:
    url = f"/v1.0/servicePrincipals/{graph_sp['id']}/delegatedPermissionClassifications"
    scope = next(s for s in graph_sp["oauth2PermissionScopes"] if s["value"] == "Contacts.Read")
    response = admin.post(url, json={"permissionId": scope["id"], "permissionName": "Contacts.Read",
                                     "classification": "low"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert {k: created[k] for k in ("permissionId", "permissionName", "classification")} == {
        "permissionId": scope["id"], "permissionName": "Contacts.Read", "classification": "low"}
    assert created["id"] in {c["id"] for c in admin.get(url).json()["value"]}
    _error(admin.post(url, json={"permissionName": "Contacts.Read", "classification": "low"}), 409,
           "Request_MultipleObjectsWithSameKeyValue")
    _error(admin.post(url, json={"permissionName": "No.Such", "classification": "low"}), 400, "Request_BadRequest")
    _error(admin.post(url, json={"permissionId": scope["id"], "permissionName": "Mail.Read",
                                 "classification": "low"}), 400, "Request_BadRequest")
    _error(admin.post(url, json={"permissionName": "Calendars.Read", "classification": "high"}), 400,
           "Request_BadRequest")
    _error(admin.post(url, json={"classification": "low"}), 400, "Request_BadRequest")
    # Spec §6.2: a permission that requires admin consent cannot be classified.
    refused = _error(admin.post(url, json={"permissionName": "User.Read.All", "classification": "low"}), 400,
                     "Request_BadRequest")
    assert "requires admin consent" in refused["message"]
    adele = graph(user_token(ADELE))
    assert adele.get(url).status_code == 200
    _error(adele.post(url, json={"permissionName": "Calendars.Read", "classification": "low"}), 403,
           "Authorization_RequestDenied")
    _error(adele.delete(f"{url}/{created['id']}"), 403, "Authorization_RequestDenied")
    assert admin.delete(f"{url}/{created['id']}").status_code == 204
    _error(admin.delete(f"{url}/{created['id']}"), 404, "Request_ResourceNotFound")
    assert len(_events(server, "Add delegated permission classification", graph_sp["id"])) >= 1
    assert len(_events(server, "Remove delegated permission classification", graph_sp["id"])) >= 1


# --- disabling a service principal, and finding it by appId ------------------------------------------------
def test_disabled_service_principal_gets_no_app_only_token(admin: httpx.Client, server: RunningServer) -> None:
    daemon = _daemon(server)
    found = admin.get("/v1.0/servicePrincipals", params={"$filter": f"appId eq '{daemon.app_id}'"}).json()
    assert [sp["id"] for sp in found["value"]] == [daemon.sp_id]
    assert "access_token" in _token(server, daemon)
    assert admin.patch(f"/v1.0/servicePrincipals/{daemon.sp_id}", json={"accountEnabled": False}).status_code == 204
    refused = _token(server, daemon)
    assert refused.get("error") == "unauthorized_client" and 7000112 in refused["error_codes"], refused
    assert admin.patch(f"/v1.0/servicePrincipals(appId='{daemon.app_id}')",
                       json={"accountEnabled": True}).status_code == 204
    assert "access_token" in _token(server, daemon)


# --- permissions ----------------------------------------------------------------------------------------
def test_who_may_assign_app_roles(graph: Graph, user_token: Callable[..., str], app_token: Callable[..., str],
                                  server: RunningServer, graph_sp: dict[str, Any]) -> None:
    daemon = _daemon(server)
    url = f"/v1.0/servicePrincipals/{daemon.sp_id}/appRoleAssignments"
    body = {"principalId": daemon.sp_id, "resourceId": graph_sp["id"],
            "appRoleId": _role_id(graph_sp, "User.Read.All")}
    adele = graph(user_token(ADELE))
    assert adele.get(url).status_code == 200
    _error(adele.post(url, json=body), 403, "Authorization_RequestDenied")
    reader = graph(app_token(roles=("Application.Read.All",)))
    assert reader.get(url).status_code == 200
    _error(reader.post(url, json=body), 403, "Authorization_RequestDenied")
    alex = graph(user_token("alex@contoso.example"))
    # A Cloud Application Administrator may not grant Microsoft Graph app roles (spec §7.5) ...
    _error(alex.post(url, json=body), 403, "Authorization_RequestDenied")
    # ... but may grant another API's, here Exchange Online's full_access_as_app.
    exchange = _sp_id(server, EXCHANGE_ONLINE)
    full_access = next(r["id"] for r in alex.get(f"/v1.0/servicePrincipals/{exchange}").json()["appRoles"]
                       if r["value"] == "full_access_as_app")
    created = alex.post(url, json={"principalId": daemon.sp_id, "resourceId": exchange, "appRoleId": full_access})
    assert created.status_code == 201, created.text
    _error(adele.delete(f"{url}/{created.json()['id']}"), 403, "Authorization_RequestDenied")
    _error(reader.delete(f"{url}/{created.json()['id']}"), 403, "Authorization_RequestDenied")
    assert alex.delete(f"{url}/{created.json()['id']}").status_code == 204
    _error(graph(None).get(url), 401, "InvalidAuthenticationToken")


# --- tenant isolation, as attacks ------------------------------------------------------------------------
def test_another_tenants_service_principals_and_assignments_are_out_of_reach(
        admin: httpx.Client, server: RunningServer, graph_sp: dict[str, Any], other_tenant: Any) -> None:
    apple_daemon = _daemon(server, APPLE_TENANT_ID)
    apple_assignment = grants.add_app_role_assignment(server.ctx, APPLE_TENANT_ID, apple_daemon.sp_id,
                                                      MICROSOFT_GRAPH, "User.Read.All", TEST_ACTOR)
    apple_graph = _sp_id(server, MICROSOFT_GRAPH, APPLE_TENANT_ID)
    apple_app_sp = _sp_id(server, APPLE_INTERNET_ACCOUNTS, APPLE_TENANT_ID)
    role = _role_id(graph_sp, "User.Read.All")
    for sp in (apple_daemon.sp_id, apple_graph, apple_app_sp):
        for relation in ("appRoleAssignments", "appRoleAssignedTo", "oauth2PermissionGrants",
                         "delegatedPermissionClassifications"):
            _error(admin.get(f"/v1.0/servicePrincipals/{sp}/{relation}"), 404, "Request_ResourceNotFound")
        _error(admin.post(f"/v1.0/servicePrincipals/{sp}/appRoleAssignments", json={
            "principalId": sp, "resourceId": graph_sp["id"], "appRoleId": role}), 404, "Request_ResourceNotFound")
        _error(admin.post(f"/v1.0/servicePrincipals/{sp}/delegatedPermissionClassifications", json={
            "permissionName": "User.Read", "classification": "low"}), 404, "Request_ResourceNotFound")
    # Apple's assignment id through Contoso's own service principals.
    for relation, sp in (("appRoleAssignedTo", graph_sp["id"]), ("appRoleAssignments", graph_sp["id"])):
        _error(admin.get(f"/v1.0/servicePrincipals/{sp}/{relation}/{apple_assignment.id}"), 404,
               "Request_ResourceNotFound")
        _error(admin.delete(f"/v1.0/servicePrincipals/{sp}/{relation}/{apple_assignment.id}"), 404,
               "Request_ResourceNotFound")
    # Contoso's resources and Apple's principals do not mix, either way.
    contoso_daemon = _daemon(server)
    _error(admin.post(f"/v1.0/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo", json={
        "principalId": apple_daemon.sp_id, "resourceId": graph_sp["id"], "appRoleId": role}), 404,
        "Request_ResourceNotFound")
    _error(admin.post(f"/v1.0/servicePrincipals/{contoso_daemon.sp_id}/appRoleAssignments", json={
        "principalId": contoso_daemon.sp_id, "resourceId": apple_graph, "appRoleId": role}), 404,
        "Request_ResourceNotFound")
    api = _api(server)
    for principal in (other_tenant.user_id, other_tenant.group_id):
        _error(admin.post(f"/v1.0/servicePrincipals/{api}/appRoleAssignedTo", json={
            "principalId": principal, "resourceId": api, "appRoleId": USER_ROLE}), 404, "Request_ResourceNotFound")
    listed = admin.get(f"/v1.0/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo", params={"$top": "999"})
    assert apple_assignment.id not in {a["id"] for a in listed.json()["value"]}
    with server.ctx.uow.read() as tx:
        assert tx.tenant(APPLE_TENANT_ID).grants.find_assignment(apple_assignment.id) is not None
    assert _roles(_token(server, apple_daemon, APPLE_TENANT_ID)) == ["User.Read.All"]
