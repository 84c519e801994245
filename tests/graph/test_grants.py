"""``/oauth2PermissionGrants`` over HTTPS with MSAL tokens: create, filter, page, PATCH of ``scope`` seen
by the next token, delete seen as AADSTS65001, audit records, permissions, every error code, and tenant
isolation as attacks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import msal
import pytest
from tests.graph.conftest import TEST_ACTOR
from tests.graph.helpers import assert_graph_error as _error
from tests.graph.helpers import service_principal_id as _sp_id
from tests.graph.helpers import user_id as _user_id
from tests.support.server import RunningServer

from consentry.domain.apps import Application
from consentry.domain.builtin import MICROSOFT_GRAPH
from consentry.services import apps, grants
from consentry.services.demo import (
    APPLE_INTERNET_ACCOUNTS,
    APPLE_TENANT_ID,
    CONTOSO_TENANT_ID,
    DEMO_PASSWORD,
)

pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")
Graph = Callable[..., httpx.Client]
ADELE = "adele@contoso.example"


def _events(server: RunningServer, activity: str, grant_id: str) -> list[dict[str, Any]]:
    with server.ctx.uow.read() as tx:
        events = tx.tenant(CONTOSO_TENANT_ID).audit.list_events(limit=100_000)
    return [e for e in events if e["activity_display_name"] == activity and any(
        p["displayName"] == "DelegatedPermissionGrant.Id" and grant_id in (p["newValue"] or "")
        for t in e["target_resources"] for p in t["modifiedProperties"])]


def _public_client(server: RunningServer, tenant: str = CONTOSO_TENANT_ID) -> Application:
    """A public client (ROPC allowed) registered with its service principal, and no consent."""
    return apps.register_application(server.ctx, tenant, Application(
        id=str(uuid.uuid4()), app_id=str(uuid.uuid4()), tenant_id=tenant,
        display_name=f"grant client {uuid.uuid4().hex[:6]}", is_fallback_public_client=True), TEST_ACTOR)


def _ropc(server: RunningServer, app_id: str, scopes: list[str]) -> dict[str, Any]:
    client = msal.PublicClientApplication(app_id, authority=f"{server.base_url}/{CONTOSO_TENANT_ID}",
                                          instance_discovery=False)
    return dict(client.acquire_token_by_username_password(ADELE, DEMO_PASSWORD, scopes=scopes))


def _scp(result: dict[str, Any]) -> set[str]:
    import base64
    import json

    payload = result["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return set(claims["scp"].split())


@pytest.fixture
def admin(graph: Graph, admin_token: str) -> httpx.Client:
    return graph(admin_token)


@pytest.fixture
def graph_sp(server: RunningServer) -> str:
    return _sp_id(server, MICROSOFT_GRAPH)


def _post(admin: httpx.Client, client_id: str, resource_id: str, scope: str, consent_type: str = "AllPrincipals",
          principal_id: str | None = None) -> dict[str, Any]:
    body = {"clientId": client_id, "consentType": consent_type, "resourceId": resource_id, "scope": scope}
    if principal_id:
        body["principalId"] = principal_id
    response = admin.post("/v1.0/oauth2PermissionGrants", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- the life of a grant, as tokens see it -------------------------------------------------------------------
def test_grant_patch_and_delete_drive_what_the_next_token_carries(admin: httpx.Client, server: RunningServer,
                                                                  graph_sp: str) -> None:
    client_app = _public_client(server)
    client_sp = _sp_id(server, client_app.app_id)
    before = _ropc(server, client_app.app_id, ["User.Read"])
    assert before.get("error") == "invalid_grant" and 65001 in before["error_codes"], before
    grant = _post(admin, client_sp, graph_sp, "User.Read")
    assert grant["@odata.context"].endswith("$metadata#oauth2PermissionGrants/$entity")
    assert {k: grant[k] for k in ("clientId", "consentType", "principalId", "resourceId", "scope")} == {
        "clientId": client_sp, "consentType": "AllPrincipals", "principalId": None, "resourceId": graph_sp,
        "scope": "User.Read"}
    assert _scp(_ropc(server, client_app.app_id, ["User.Read"])) >= {"User.Read"}
    patched = admin.patch(f"/v1.0/oauth2PermissionGrants/{grant['id']}", json={
        "@odata.type": "#microsoft.graph.oAuth2PermissionGrant", "scope": "User.Read Mail.Read"})
    assert patched.status_code == 204 and patched.content == b""
    assert admin.get(f"/v1.0/oauth2PermissionGrants/{grant['id']}").json()["scope"] == "User.Read Mail.Read"
    assert _scp(_ropc(server, client_app.app_id, ["User.Read", "Mail.Read"])) >= {"User.Read", "Mail.Read"}
    assert admin.delete(f"/v1.0/oauth2PermissionGrants/{grant['id']}").status_code == 204
    _error(admin.get(f"/v1.0/oauth2PermissionGrants/{grant['id']}"), 404, "Request_ResourceNotFound")
    after = _ropc(server, client_app.app_id, ["User.Read"])
    assert after.get("error") == "invalid_grant" and 65001 in after["error_codes"], after
    [added] = _events(server, "Add delegated permission grant", grant["id"])
    assert added["category"] == "ApplicationManagement"
    props = {p["displayName"]: p["newValue"] for p in added["target_resources"][0]["modifiedProperties"]}
    assert props["DelegatedPermissionGrant.Scope"] == '"User.Read"'
    assert props["DelegatedPermissionGrant.ConsentType"] == '"AllPrincipals"'
    assert added["initiated_by"]["user"]["userPrincipalName"] == "admin@contoso.example"
    assert len(_events(server, "Update delegated permission grant", grant["id"])) == 1
    assert len(_events(server, "Remove delegated permission grant", grant["id"])) == 1


def test_a_principal_grant_names_its_user(admin: httpx.Client, server: RunningServer, graph_sp: str) -> None:
    client_sp = _sp_id(server, _public_client(server).app_id)
    adele = _user_id(server, ADELE)
    grant = _post(admin, client_sp, graph_sp, "User.Read", "Principal", adele)
    assert grant["principalId"] == adele and grant["consentType"] == "Principal"
    _error(admin.post("/v1.0/oauth2PermissionGrants", json={
        "clientId": client_sp, "consentType": "Principal", "resourceId": graph_sp, "scope": "User.Read"}),
        400, "Request_BadRequest")
    _error(admin.post("/v1.0/oauth2PermissionGrants", json={
        "clientId": client_sp, "consentType": "Principal", "resourceId": graph_sp, "scope": "User.Read",
        "principalId": str(uuid.uuid4())}), 404, "Request_ResourceNotFound")


# --- reads: filters and paging -------------------------------------------------------------------------------
def test_list_filters_by_client_consent_type_principal_and_resource(admin: httpx.Client, server: RunningServer,
                                                                    graph_sp: str) -> None:
    client_sp = _sp_id(server, _public_client(server).app_id)
    adele = _user_id(server, ADELE)
    tenant_wide = _post(admin, client_sp, graph_sp, "User.Read")
    personal = _post(admin, client_sp, graph_sp, "Mail.Read", "Principal", adele)

    def ids(filter_: str) -> set[str]:
        response = admin.get("/v1.0/oauth2PermissionGrants", params={"$filter": filter_})
        assert response.status_code == 200, response.text
        return {g["id"] for g in response.json()["value"]}

    assert ids(f"clientId eq '{client_sp}'") == {tenant_wide["id"], personal["id"]}
    assert ids(f"clientId eq '{client_sp}' and consentType eq 'Principal'") == {personal["id"]}
    assert ids(f"clientId eq '{client_sp}' and consentType eq 'AllPrincipals'") == {tenant_wide["id"]}
    assert personal["id"] in ids(f"principalId eq '{adele}'")
    assert {tenant_wide["id"], personal["id"]} <= ids(f"resourceId eq '{graph_sp}'")
    _error(admin.get("/v1.0/oauth2PermissionGrants", params={"$filter": "scope eq 'User.Read'"}), 400,
           "Request_UnsupportedQuery")


def test_pages_through_more_grants_than_top(admin: httpx.Client, server: RunningServer, graph_sp: str) -> None:
    made = set()
    for _ in range(5):
        made.add(_post(admin, _sp_id(server, _public_client(server).app_id), graph_sp, "User.Read")["id"])
    everything = admin.get("/v1.0/oauth2PermissionGrants", params={"$top": "999"}).json()["value"]
    assert made <= {g["id"] for g in everything}
    seen: list[str] = []
    url: str | None = "/v1.0/oauth2PermissionGrants"
    params: dict[str, str] | None = {"$top": "2", "$count": "true"}
    while url:
        page = admin.get(url, params=params).json()
        assert len(page["value"]) <= 2 and page["@odata.count"] == len(everything)
        seen += [g["id"] for g in page["value"]]
        url, params = page.get("@odata.nextLink"), None
    assert len(seen) == len(set(seen)) == len(everything)
    assert set(seen) == {g["id"] for g in everything}


# --- errors ------------------------------------------------------------------------------------------------
def test_write_errors_in_plain_http(admin: httpx.Client, server: RunningServer, graph_sp: str) -> None:
    client_sp = _sp_id(server, _public_client(server).app_id)
    base = {"clientId": client_sp, "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": "User.Read"}
    url = "/v1.0/oauth2PermissionGrants"
    _error(admin.post(url, json={**base, "consentType": "Everyone"}), 400, "Request_BadRequest")
    _error(admin.post(url, json={**base, "scope": "No.Such.Permission"}), 400, "Request_BadRequest")
    _error(admin.post(url, json={**base, "expiryTime": "2030-01-01T00:00:00Z"}), 400, "Request_BadRequest")
    _error(admin.post(url, json={k: v for k, v in base.items() if k != "clientId"}), 400, "Request_BadRequest")
    _error(admin.post(url, json={**base, "clientId": 42}), 400, "Request_BadRequest")
    _error(admin.post(url, json={**base, "clientId": "not-a-guid"}), 400, "Request_BadRequest")
    _error(admin.post(url, json={**base, "principalId": "a\u0000b", "consentType": "Principal"}), 400,
           "Request_BadRequest")
    _error(admin.get(url, params={"$filter": "clientId eq 'a\u0000b'"}), 400, "Request_BadRequest")
    assert admin.get(url, params={"$filter": "clientId eq 5"}).json()["value"] == []
    _error(admin.post(url, json={**base, "clientId": str(uuid.uuid4())}), 404, "Request_ResourceNotFound")
    _error(admin.post(url, json={**base, "resourceId": str(uuid.uuid4())}), 404, "Request_ResourceNotFound")
    grant = admin.post(url, json=base).json()
    _error(admin.post(url, json=base), 409, "Request_MultipleObjectsWithSameKeyValue")
    _error(admin.patch(f"{url}/{grant['id']}", json={"scope": "Not.A.Scope"}), 400, "Request_BadRequest")
    _error(admin.patch(f"{url}/{grant['id']}", json={"consentType": "Principal"}), 400, "Request_BadRequest")
    for response in (admin.get(f"{url}/nope"), admin.patch(f"{url}/nope", json={"scope": "User.Read"}),
                     admin.delete(f"{url}/nope"), admin.get(f"{url}/{'x' * 300}"), admin.get(f"{url}/a.b")):
        _error(response, 404, "Request_ResourceNotFound")
    _error(admin.get(f"{url}/a%00b"), 400, "Request_BadRequest")  # refused at the Graph edge
    _error(admin.put(f"{url}/{grant['id']}", json=base), 400, "Request_BadRequest")


def test_no_token_is_401(graph: Graph) -> None:
    _error(graph(None).get("/v1.0/oauth2PermissionGrants"), 401, "InvalidAuthenticationToken")
    _error(graph("x.y.z").delete("/v1.0/oauth2PermissionGrants/abc"), 401, "InvalidAuthenticationToken")


# --- permissions ------------------------------------------------------------------------------------------
def test_a_user_without_a_role_cannot_write_grants(graph: Graph, user_token: Callable[..., str],
                                                   admin: httpx.Client, server: RunningServer,
                                                   graph_sp: str) -> None:
    client_sp = _sp_id(server, _public_client(server).app_id)
    grant = _post(admin, client_sp, graph_sp, "User.Read")
    adele = graph(user_token(ADELE))
    _error(adele.post("/v1.0/oauth2PermissionGrants", json={
        "clientId": client_sp, "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": "Mail.Read"}),
        403, "Authorization_RequestDenied")
    _error(adele.patch(f"/v1.0/oauth2PermissionGrants/{grant['id']}", json={"scope": "User.Read Mail.Read"}),
           403, "Authorization_RequestDenied")
    _error(adele.delete(f"/v1.0/oauth2PermissionGrants/{grant['id']}"), 403, "Authorization_RequestDenied")
    assert admin.get(f"/v1.0/oauth2PermissionGrants/{grant['id']}").json()["scope"] == "User.Read"


def test_a_cloud_application_administrator_may_grant(graph: Graph, user_token: Callable[..., str],
                                                     server: RunningServer, graph_sp: str) -> None:
    alex = graph(user_token("alex@contoso.example"))
    grant = _post(alex, _sp_id(server, _public_client(server).app_id), graph_sp, "User.Read")
    assert alex.delete(f"/v1.0/oauth2PermissionGrants/{grant['id']}").status_code == 204


def test_app_only_with_application_read_all_reads_grants_but_cannot_write(
        graph: Graph, app_token: Callable[..., str], server: RunningServer, graph_sp: str) -> None:
    reader = graph(app_token(roles=("Application.Read.All",)))
    assert reader.get("/v1.0/oauth2PermissionGrants", params={"$top": "1"}).status_code == 200
    client_sp = _sp_id(server, _public_client(server).app_id)
    _error(reader.post("/v1.0/oauth2PermissionGrants", json={
        "clientId": client_sp, "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": "User.Read"}),
        403, "Authorization_RequestDenied")
    _error(graph(app_token()).get("/v1.0/oauth2PermissionGrants"), 403, "Authorization_RequestDenied")


# --- tenant isolation, as attacks ----------------------------------------------------------------------------
def test_another_tenants_grants_and_service_principals_are_out_of_reach(admin: httpx.Client,
                                                                        server: RunningServer,
                                                                        graph_sp: str, other_tenant: Any) -> None:
    apple_client = apps.register_application(server.ctx, APPLE_TENANT_ID, Application(
        id=str(uuid.uuid4()), app_id=str(uuid.uuid4()), tenant_id=APPLE_TENANT_ID, display_name="apple client",
        is_fallback_public_client=True), TEST_ACTOR)
    apple_grant = grants.add_grant(server.ctx, APPLE_TENANT_ID, apple_client.app_id, MICROSOFT_GRAPH,
                                   "AllPrincipals", "User.Read", TEST_ACTOR)
    apple_client_sp = _sp_id(server, apple_client.app_id, APPLE_TENANT_ID)
    apple_graph_sp = _sp_id(server, MICROSOFT_GRAPH, APPLE_TENANT_ID)
    url = f"/v1.0/oauth2PermissionGrants/{apple_grant.id}"
    _error(admin.get(url), 404, "Request_ResourceNotFound")
    _error(admin.patch(url, json={"scope": "User.Read Mail.ReadWrite"}), 404, "Request_ResourceNotFound")
    _error(admin.delete(url), 404, "Request_ResourceNotFound")
    for filter_ in (f"clientId eq '{apple_client_sp}'", f"resourceId eq '{apple_graph_sp}'"):
        assert admin.get("/v1.0/oauth2PermissionGrants", params={"$filter": filter_}).json()["value"] == []
    everything = admin.get("/v1.0/oauth2PermissionGrants", params={"$top": "999"}).json()["value"]
    assert apple_grant.id not in {g["id"] for g in everything}
    # Contoso's administrator cannot consent for Apple's service principals, nor with them.
    contoso_client = _sp_id(server, _public_client(server).app_id)
    for client_id, resource_id in ((apple_client_sp, graph_sp), (contoso_client, apple_graph_sp),
                                   (apple_client_sp, apple_graph_sp)):
        _error(admin.post("/v1.0/oauth2PermissionGrants", json={
            "clientId": client_id, "consentType": "AllPrincipals", "resourceId": resource_id,
            "scope": "Mail.Read"}), 404, "Request_ResourceNotFound")
    _error(admin.post("/v1.0/oauth2PermissionGrants", json={
        "clientId": contoso_client, "consentType": "Principal", "resourceId": graph_sp, "scope": "User.Read",
        "principalId": other_tenant.user_id}), 404, "Request_ResourceNotFound")
    with server.ctx.uow.read() as tx:
        still = tx.tenant(APPLE_TENANT_ID).grants.find_grant(apple_grant.id)
    assert still is not None and still.scope == "User.Read"
    _error(admin.get(f"/v1.0/servicePrincipals(appId='{APPLE_INTERNET_ACCOUNTS}')/oauth2PermissionGrants"), 404,
           "Request_ResourceNotFound")
