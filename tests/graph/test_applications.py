"""``/applications`` over HTTPS with MSAL tokens: Microsoft's shapes, create without a service principal,
merged PATCH, secrets and certificates that real clients then use, paging, permissions, every error
code, tenant isolation, and msgraph-sdk end to end."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import msal
import pytest
from cryptography import x509
from tests.clients.helpers import make_certificate
from tests.graph.conftest import GRAPH_DEFAULT, TEST_ACTOR
from tests.graph.helpers import assert_graph_error as _error
from tests.graph.helpers import audit_events as _events
from tests.support.server import RunningServer

from consentry.domain.builtin import GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH
from consentry.domain.ids import is_guid
from consentry.services import directory, grants
from consentry.services.demo import (
    APPLE_APP_OBJECT_ID,
    APPLE_INTERNET_ACCOUNTS,
    APPLE_TENANT_ID,
    CONTOSO_TENANT_ID,
    DEMO_PASSWORD,
    graph_cli_scope,
)

Graph = Callable[..., httpx.Client]
SCOPE_ID = "7b0a5b7e-6a37-4a53-8a63-7b3a1f0d1c01"
ROLE_ID = "0a6a3b52-1f0e-4d3d-9d52-3bd4f1b8e2a7"


def _name(prefix: str = "graph app") -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def _create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/v1.0/applications", json={"displayName": _name(), **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _confidential(server: RunningServer, tenant: str, app_id: str, credential: Any) -> dict[str, Any]:
    client = msal.ConfidentialClientApplication(app_id, client_credential=credential, instance_discovery=False,
                                                authority=f"{server.base_url}/{tenant}")
    return dict(client.acquire_token_for_client(scopes=GRAPH_DEFAULT))


@pytest.fixture
def admin(graph: Graph, admin_token: str) -> httpx.Client:
    return graph(admin_token)


# --- shapes and reads ---------------------------------------------------------------------------------------
def test_create_returns_201_with_microsofts_shape_and_no_service_principal(admin: httpx.Client,
                                                                           server: RunningServer) -> None:
    body = {"@odata.type": "#microsoft.graph.application", "signInAudience": "AzureADMultipleOrgs",
            "web": {"@odata.type": "#microsoft.graph.webApplication", "redirectUris": ["https://app.example/cb"],
                    "homePageUrl": "https://app.example"},
            "spa": {"redirectUris": ["https://spa.example/"]}, "publicClient": {"redirectUris": ["myapp://auth"]},
            "isFallbackPublicClient": False, "identifierUris": [f"api://{uuid.uuid4()}"],
            "api": {"oauth2PermissionScopes": [{"id": SCOPE_ID, "value": "Things.Read", "type": "User",
                                                "adminConsentDisplayName": "Read things",
                                                "adminConsentDescription": "Reads things", "isEnabled": True}]},
            "appRoles": [{"id": ROLE_ID, "value": "Things.Admin", "displayName": "Things admin",
                          "description": "Administers things", "allowedMemberTypes": ["User", "Application"],
                          "isEnabled": True}],
            "requiredResourceAccess": [{"resourceAppId": MICROSOFT_GRAPH, "resourceAccess": [
                {"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}],
            "info": {"termsOfServiceUrl": "https://app.example/tos"}}
    created = _create(admin, **body)
    assert created["@odata.context"].endswith("/v1.0/$metadata#applications/$entity")
    assert is_guid(created["id"]) and is_guid(created["appId"]) and created["id"] != created["appId"]
    assert created["signInAudience"] == "AzureADMultipleOrgs"
    assert created["web"]["redirectUris"] == ["https://app.example/cb"]
    assert created["web"]["homePageUrl"] == "https://app.example"
    assert created["web"]["implicitGrantSettings"] == {"enableAccessTokenIssuance": False,
                                                       "enableIdTokenIssuance": False}
    assert created["spa"] == {"redirectUris": ["https://spa.example/"]}
    assert created["publicClient"] == {"redirectUris": ["myapp://auth"]}
    assert created["api"]["oauth2PermissionScopes"][0]["id"] == SCOPE_ID
    assert created["appRoles"][0]["allowedMemberTypes"] == ["User", "Application"]
    assert created["requiredResourceAccess"][0]["resourceAppId"] == MICROSOFT_GRAPH
    assert created["info"]["termsOfServiceUrl"] == "https://app.example/tos"
    assert created["passwordCredentials"] == [] and created["keyCredentials"] == []
    assert created["publisherDomain"] == "contoso.example"
    assert created["createdDateTime"].endswith("Z")
    # Graph's POST /applications creates no service principal.
    _error(admin.get(f"/v1.0/servicePrincipals(appId='{created['appId']}')"), 404, "Request_ResourceNotFound")
    [event] = _events(server, "Add application", created["id"])
    assert event["category"] == "ApplicationManagement" and event["operation_type"] == "Add"
    assert event["initiated_by"]["user"]["userPrincipalName"] == "admin@contoso.example"


def test_get_by_id_and_by_app_id_alternate_key_with_select(admin: httpx.Client) -> None:
    created = _create(admin)
    by_id = admin.get(f"/v1.0/applications/{created['id']}").json()
    by_app_id = admin.get(f"/v1.0/applications(appId='{created['appId']}')").json()
    assert by_id == by_app_id and by_id["displayName"] == created["displayName"]
    selected = admin.get(f"/v1.0/applications/{created['id']}", params={"$select": "appId,displayName"}).json()
    assert set(selected) == {"@odata.context", "id", "appId", "displayName"}


def test_list_filters_by_app_id_display_name_and_startswith(admin: httpx.Client) -> None:
    prefix = f"filter-{uuid.uuid4().hex[:6]}"
    first = _create(admin, displayName=f"{prefix} one")
    second = _create(admin, displayName=f"{prefix} two")
    by_app_id = admin.get("/v1.0/applications", params={"$filter": f"appId eq '{first['appId']}'"}).json()
    assert [a["id"] for a in by_app_id["value"]] == [first["id"]]
    by_name = admin.get("/v1.0/applications", params={"$filter": f"displayName eq '{prefix} two'"}).json()
    assert [a["id"] for a in by_name["value"]] == [second["id"]]
    starts = admin.get("/v1.0/applications", params={"$filter": f"startswith(displayName, '{prefix}')",
                                                     "$orderby": "displayName desc"}).json()
    assert [a["id"] for a in starts["value"]] == [second["id"], first["id"]]
    uri = f"api://{uuid.uuid4()}"
    third = _create(admin, identifierUris=[uri])
    by_uri = admin.get("/v1.0/applications", params={"$filter": f"identifierUris/any(x:x eq '{uri}')"}).json()
    assert [a["id"] for a in by_uri["value"]] == [third["id"]]


def test_pages_through_more_applications_than_top(admin: httpx.Client) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    made = {_create(admin, displayName=f"{prefix} {i:02}")["id"] for i in range(7)}
    seen: list[str] = []
    url: str | None = "/v1.0/applications"
    params: dict[str, str] | None = {"$filter": f"startswith(displayName,'{prefix}')", "$top": "3",
                                     "$orderby": "displayName", "$count": "true"}
    pages = 0
    while url:
        page = admin.get(url, params=params, headers={"ConsistencyLevel": "eventual"}).json()
        assert len(page["value"]) <= 3 and page["@odata.count"] == 7
        seen += [a["id"] for a in page["value"]]
        url, params, pages = page.get("@odata.nextLink"), None, pages + 1
        assert url is None or url.startswith("https://")
    assert pages == 3 and len(seen) == 7 and set(seen) == made


# --- updates ---------------------------------------------------------------------------------------------
def test_patch_merges_nested_objects_and_returns_204(admin: httpx.Client, server: RunningServer) -> None:
    created = _create(admin, web={"redirectUris": ["https://merge.example/cb"]},
                      info={"privacyStatementUrl": "https://merge.example/privacy"})
    patched = admin.patch(f"/v1.0/applications/{created['id']}",
                          json={"@odata.type": "#microsoft.graph.application", "displayName": "Merged",
                                "web": {"homePageUrl": "https://merge.example"},
                                "info": {"termsOfServiceUrl": "https://merge.example/tos"}})
    assert patched.status_code == 204 and patched.content == b""
    got = admin.get(f"/v1.0/applications/{created['id']}").json()
    assert got["displayName"] == "Merged"
    assert got["web"]["redirectUris"] == ["https://merge.example/cb"]  # untouched by the nested PATCH
    assert got["web"]["homePageUrl"] == "https://merge.example"
    assert got["info"]["privacyStatementUrl"] == "https://merge.example/privacy"
    assert got["info"]["termsOfServiceUrl"] == "https://merge.example/tos"
    [event] = _events(server, "Update application", created["id"])
    names = {p["displayName"] for p in event["target_resources"][0]["modifiedProperties"]}
    assert {"DisplayName", "HomePageUrl", "Included Updated Properties"} <= names


def test_a_get_body_can_be_sent_back_as_a_patch(admin: httpx.Client) -> None:
    created = _create(admin, web={"redirectUris": ["https://roundtrip.example/cb"]})
    got = admin.get(f"/v1.0/applications/{created['id']}").json()
    body = {k: got[k] for k in ("displayName", "web", "spa", "publicClient", "api", "appRoles", "info",
                                "requiredResourceAccess", "identifierUris", "tags", "notes", "keyCredentials")}
    assert admin.patch(f"/v1.0/applications/{created['id']}", json=body).status_code == 204


def test_published_scopes_and_roles_reach_the_service_principal(admin: httpx.Client) -> None:
    created = _create(admin)
    sp = admin.post("/v1.0/servicePrincipals", json={"appId": created["appId"]}).json()
    scope = {"id": SCOPE_ID, "value": "Widgets.Read", "type": "Admin", "adminConsentDisplayName": "Read widgets",
             "adminConsentDescription": "Reads widgets", "isEnabled": True}
    assert admin.patch(f"/v1.0/applications/{created['id']}",
                       json={"api": {"oauth2PermissionScopes": [scope]}, "appRoles": [
                           {"id": ROLE_ID, "value": "Widgets.All", "displayName": "All widgets",
                            "description": "d", "allowedMemberTypes": ["Application"], "isEnabled": True}],
                             "displayName": "Widgets API"}).status_code == 204
    got = admin.get(f"/v1.0/servicePrincipals/{sp['id']}").json()
    assert [s["value"] for s in got["oauth2PermissionScopes"]] == ["Widgets.Read"]
    assert [r["value"] for r in got["appRoles"]] == ["Widgets.All"]
    assert got["displayName"] == "Widgets API"
    # An enabled permission must be disabled before it is removed (Entra's rule).
    error = _error(admin.patch(f"/v1.0/applications/{created['id']}", json={"api": {"oauth2PermissionScopes": []}}),
                   400, "Request_BadRequest")
    assert "CannotDeleteOrUpdateEnabledEntitlement" in error["message"]
    disabled = {**scope, "isEnabled": False}
    assert admin.patch(f"/v1.0/applications/{created['id']}",
                       json={"api": {"oauth2PermissionScopes": [disabled]}}).status_code == 204
    assert admin.patch(f"/v1.0/applications/{created['id']}",
                       json={"api": {"oauth2PermissionScopes": []}}).status_code == 204


def test_delete_removes_the_application_and_its_home_service_principal(admin: httpx.Client,
                                                                       server: RunningServer) -> None:
    created = _create(admin)
    sp = admin.post("/v1.0/servicePrincipals", json={"appId": created["appId"]}).json()
    assert admin.delete(f"/v1.0/applications/{created['id']}").status_code == 204
    _error(admin.get(f"/v1.0/applications/{created['id']}"), 404, "Request_ResourceNotFound")
    _error(admin.get(f"/v1.0/servicePrincipals/{sp['id']}"), 404, "Request_ResourceNotFound")
    _error(admin.delete(f"/v1.0/applications/{created['id']}"), 404, "Request_ResourceNotFound")
    [event] = _events(server, "Delete application", created["id"])
    assert event["operation_type"] == "Delete"


def test_application_changes_are_in_the_graph_audit_log(admin: httpx.Client) -> None:
    created = _create(admin)
    admin.patch(f"/v1.0/applications/{created['id']}", json={"displayName": "audited"})
    admin.post(f"/v1.0/applications/{created['id']}/addPassword", json={})
    for activity in ("Add application", "Update application",
                     "Update application – Certificates and secrets management"):
        page = admin.get("/v1.0/auditLogs/directoryAudits",
                         params={"$filter": f"activityDisplayName eq '{activity}'", "$top": "50"})
        assert page.status_code == 200, page.text
        records = [r for r in page.json()["value"] if any(t["id"] == created["id"] for t in r["targetResources"])]
        assert len(records) == 1, activity
        assert records[0]["category"] == "ApplicationManagement"
        assert records[0]["initiatedBy"]["user"]["userPrincipalName"] == "admin@contoso.example"


# --- secrets and certificates ----------------------------------------------------------------------------
def test_add_password_shows_the_secret_once_and_client_credentials_work_until_it_is_removed(
        admin: httpx.Client, server: RunningServer) -> None:
    created = _create(admin)
    admin.post("/v1.0/servicePrincipals", json={"appId": created["appId"]})
    response = admin.post(f"/v1.0/applications(appId='{created['appId']}')/addPassword",
                          json={"passwordCredential": {"displayName": "ci secret"}})
    assert response.status_code == 200, response.text
    cred = response.json()
    assert cred["@odata.context"].endswith("$metadata#microsoft.graph.passwordCredential")
    assert is_guid(cred["keyId"]) and cred["displayName"] == "ci secret"
    assert len(cred["secretText"]) >= 16 and cred["hint"] == cred["secretText"][:3]
    assert cred["startDateTime"] < cred["endDateTime"]
    listed = admin.get(f"/v1.0/applications/{created['id']}").json()["passwordCredentials"]
    assert listed == [{**{k: v for k, v in cred.items() if k != "@odata.context"}, "secretText": None}]
    assert "access_token" in _confidential(server, CONTOSO_TENANT_ID, created["appId"], cred["secretText"])
    assert admin.post(f"/v1.0/applications/{created['id']}/removePassword",
                      json={"keyId": cred["keyId"]}).status_code == 204
    refused = _confidential(server, CONTOSO_TENANT_ID, created["appId"], cred["secretText"])
    assert refused.get("error") == "invalid_client", refused
    assert len(_events(server, "Update application – Certificates and secrets management", created["id"])) == 2


def test_add_password_honours_end_date_time(admin: httpx.Client) -> None:
    created = _create(admin)
    cred = admin.post(f"/v1.0/applications/{created['id']}/addPassword", json={"passwordCredential": {
        "displayName": "short", "endDateTime": "2099-01-02T03:04:05.1234567Z"}}).json()
    assert cred["endDateTime"] == "2099-01-02T03:04:05Z"
    _error(admin.post(f"/v1.0/applications/{created['id']}/addPassword", json={"passwordCredential": {
        "endDateTime": "2001-01-01T00:00:00Z"}}), 400, "Request_BadRequest")


def test_key_credentials_by_patch_authenticate_the_client_and_never_show_a_private_key(
        admin: httpx.Client, server: RunningServer) -> None:
    created = _create(admin)
    admin.post("/v1.0/servicePrincipals", json={"appId": created["appId"]})
    cert = make_certificate("graph keyCredentials test")
    key = base64.b64encode(cert.der).decode()
    body = {"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": key,
                                "displayName": "CN=graph keyCredentials test"}]}
    assert admin.patch(f"/v1.0/applications/{created['id']}", json=body).status_code == 204
    [listed] = admin.get(f"/v1.0/applications/{created['id']}").json()["keyCredentials"]
    assert is_guid(listed["keyId"]) and listed["key"] is None
    assert listed["customKeyIdentifier"] == cert.sha1_thumbprint
    assert base64.b64decode(listed["customKeyIdentifier"])  # valid base64 for the Binary type too
    assert listed["type"] == "AsymmetricX509Cert" and listed["usage"] == "Verify"
    selected = admin.get(f"/v1.0/applications/{created['id']}", params={"$select": "keyCredentials"}).json()
    [with_key] = selected["keyCredentials"]
    assert base64.b64decode(with_key["key"]) == cert.der  # the public certificate, nothing more
    assert x509.load_der_x509_certificate(cert.der).subject.rfc4514_string() == "CN=graph keyCredentials test"
    assert "PRIVATE" not in str(selected)
    token = _confidential(server, CONTOSO_TENANT_ID, created["appId"],
                          {"private_key": cert.private_key_pem, "thumbprint": cert.sha1_thumbprint})
    assert "access_token" in token, token
    # Sending the collection back (keyId, no key) keeps it; an empty collection removes it.
    assert admin.patch(f"/v1.0/applications/{created['id']}",
                       json={"keyCredentials": [{"keyId": listed["keyId"], "type": "AsymmetricX509Cert",
                                                 "usage": "Verify"}]}).status_code == 204
    assert len(admin.get(f"/v1.0/applications/{created['id']}").json()["keyCredentials"]) == 1
    assert admin.patch(f"/v1.0/applications/{created['id']}", json={"keyCredentials": []}).status_code == 204
    assert admin.get(f"/v1.0/applications/{created['id']}").json()["keyCredentials"] == []
    assert len(_events(server, "Update application – Certificates and secrets management", created["id"])) == 2


def test_key_credentials_refuse_what_is_not_a_verify_certificate(admin: httpx.Client) -> None:
    created = _create(admin)
    url = f"/v1.0/applications/{created['id']}"
    _error(admin.patch(url, json={"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify",
                                                       "key": base64.b64encode(b"not a cert").decode()}]}),
           400, "Request_BadRequest")
    _error(admin.patch(url, json={"keyCredentials": [{"type": "Symmetric", "usage": "Sign", "key": "AAAA"}]}),
           400, "Request_BadRequest")
    _error(admin.patch(url, json={"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify",
                                                       "key": "%%%"}]}), 400, "Request_BadRequest")
    _error(admin.patch(url, json={"keyCredentials": [{"keyId": str(uuid.uuid4()), "type": "AsymmetricX509Cert",
                                                       "usage": "Verify"}]}), 400, "Request_BadRequest")


def _proof(cert: Any, app_object_id: str, *, iss: str | None = None, nbf_offset: int = 0,
           lifetime: int = 600) -> str:
    """A proof of possession as Microsoft's sample builds it: RS256 with x5t, aud 00000002-…, iss = app id."""
    import time

    from joserfc import jwt
    from joserfc.jwk import RSAKey

    now = int(time.time()) + nbf_offset
    x5t = base64.urlsafe_b64encode(bytes.fromhex(cert.sha1_thumbprint)).decode().rstrip("=")
    return jwt.encode({"alg": "RS256", "typ": "JWT", "x5t": x5t},
                      {"aud": "00000002-0000-0000-c000-000000000000", "iss": iss or app_object_id, "nbf": now,
                       "exp": now + lifetime}, RSAKey.import_key(cert.private_key_pem))


def test_add_key_and_remove_key_roll_a_certificate_with_a_proof_of_possession(
        admin: httpx.Client, graph: Graph, server: RunningServer, app_token: Callable[..., str]) -> None:
    created = _create(admin)
    admin.post("/v1.0/servicePrincipals", json={"appId": created["appId"]})
    old, new = make_certificate("old key"), make_certificate("new key")
    url = f"/v1.0/applications/{created['id']}"
    no_cert = admin.post(f"{url}/addKey", json={"keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify",
                                                                  "key": base64.b64encode(new.der).decode()},
                                                "passwordCredential": None, "proof": _proof(old, created["id"])})
    _error(no_cert, 400, "Request_BadRequest")  # no existing certificate to prove possession of
    admin.patch(url, json={"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify",
                                               "key": base64.b64encode(old.der).decode()}]})
    # The application rolls its own key: an app-only token (from the old certificate) and no permission at all.
    token = _confidential(server, CONTOSO_TENANT_ID, created["appId"],
                          {"private_key": old.private_key_pem, "thumbprint": old.sha1_thumbprint})
    itself = graph(token["access_token"])
    body = {"keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "displayName": "CN=new key",
                              "key": base64.b64encode(new.der).decode()}, "passwordCredential": None}
    for bad_proof in (_proof(new, created["id"]), _proof(old, created["id"], iss=str(uuid.uuid4())),
                      _proof(old, created["id"], nbf_offset=-3600), _proof(old, created["id"], lifetime=3600),
                      "not.a.jwt"):
        _error(itself.post(f"{url}/addKey", json={**body, "proof": bad_proof}), 400, "Request_BadRequest")
    _error(itself.post(f"{url}/addKey", json=body), 400, "Request_BadRequest")
    added = itself.post(f"{url}/addKey", json={**body, "proof": _proof(old, created["id"])})
    assert added.status_code == 200, added.text
    key = added.json()
    assert key["@odata.context"].endswith("$metadata#microsoft.graph.keyCredential")
    assert is_guid(key["keyId"]) and key["customKeyIdentifier"] == new.sha1_thumbprint and key["key"] is None
    old_id = next(k["keyId"] for k in admin.get(url).json()["keyCredentials"] if k["keyId"] != key["keyId"])
    removed = itself.post(f"{url}/removeKey", json={"keyId": old_id, "proof": _proof(new, created["id"])})
    assert removed.status_code == 204, removed.text
    assert [k["keyId"] for k in admin.get(url).json()["keyCredentials"]] == [key["keyId"]]
    assert "access_token" in _confidential(server, CONTOSO_TENANT_ID, created["appId"],
                                           {"private_key": new.private_key_pem, "thumbprint": new.sha1_thumbprint})
    # Another application without Application.ReadWrite.All may not roll this one's keys.
    stranger = graph(app_token())
    _error(stranger.post(f"{url}/addKey", json={**body, "proof": _proof(new, created["id"])}), 403,
           "Authorization_RequestDenied")
    _error(stranger.post(f"{url}/removeKey", json={"keyId": key["keyId"], "proof": _proof(new, created["id"])}),
           403, "Authorization_RequestDenied")


# --- a multi-tenant app used in another tenant -----------------------------------------------------------
def test_multi_tenant_app_with_a_secret_gets_a_service_principal_and_tokens_in_apple(
        admin: httpx.Client, graph: Graph, user_token: Callable[..., str], server: RunningServer) -> None:
    created = _create(admin, signInAudience="AzureADMultipleOrgs")
    secret = admin.post(f"/v1.0/applications/{created['id']}/addPassword", json={}).json()["secretText"]
    before = _confidential(server, APPLE_TENANT_ID, created["appId"], secret)
    assert before.get("error") == "unauthorized_client" and 700016 in before["error_codes"], before
    # Contoso's administrator has no say in Apple; Apple's own administrator provisions the app there.
    upn = f"admin-{uuid.uuid4().hex[:6]}@apple.example"
    directory.create_user(server.ctx, APPLE_TENANT_ID, upn, "Apple Admin", DEMO_PASSWORD, TEST_ACTOR)
    directory.assign_role(server.ctx, APPLE_TENANT_ID, upn, "Global Administrator", TEST_ACTOR)
    with server.ctx.uow.read() as tx:
        consented = tx.tenant(APPLE_TENANT_ID).grants.list_grants(consent_type="AllPrincipals")
    cli = directory_sp_id(server, APPLE_TENANT_ID, GRAPH_COMMAND_LINE_TOOLS)
    if not any(g.client_id == cli for g in consented):
        grants.add_grant(server.ctx, APPLE_TENANT_ID, GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH, "AllPrincipals",
                         graph_cli_scope(), TEST_ACTOR)
    apple = graph(user_token(upn, tenant=APPLE_TENANT_ID))
    sp = apple.post("/v1.0/servicePrincipals", json={"appId": created["appId"]})
    assert sp.status_code == 201, sp.text
    assert sp.json()["appOwnerOrganizationId"] == CONTOSO_TENANT_ID
    _error(apple.post("/v1.0/servicePrincipals", json={"appId": created["appId"]}), 409,
           "Request_MultipleObjectsWithSameKeyValue")
    # The registration itself is not visible from Apple, nor Apple's service principal from Contoso.
    _error(apple.get(f"/v1.0/applications/{created['id']}"), 404, "Request_ResourceNotFound")
    _error(admin.get(f"/v1.0/servicePrincipals/{sp.json()['id']}"), 404, "Request_ResourceNotFound")
    after = _confidential(server, APPLE_TENANT_ID, created["appId"], secret)
    assert "access_token" in after, after


def directory_sp_id(server: RunningServer, tenant: str, app_id: str) -> str:
    with server.ctx.uow.read() as tx:
        sp = tx.tenant(tenant).apps.find_service_principal_by_app_id(app_id)
    assert sp is not None
    return sp.id


# --- permissions -------------------------------------------------------------------------------------------
def test_a_user_without_a_role_may_read_but_not_write(graph: Graph, user_token: Callable[..., str],
                                                      admin: httpx.Client) -> None:
    created = _create(admin)
    adele = graph(user_token("adele@contoso.example"))
    assert adele.get(f"/v1.0/applications/{created['id']}").status_code == 200
    for response in (adele.post("/v1.0/applications", json={"displayName": "nope"}),
                     adele.patch(f"/v1.0/applications/{created['id']}", json={"displayName": "nope"}),
                     adele.delete(f"/v1.0/applications/{created['id']}"),
                     adele.post(f"/v1.0/applications/{created['id']}/addPassword", json={}),
                     adele.post(f"/v1.0/applications/{created['id']}/removePassword",
                                json={"keyId": str(uuid.uuid4())})):
        _error(response, 403, "Authorization_RequestDenied")


def test_a_cloud_application_administrator_may_write(graph: Graph, user_token: Callable[..., str]) -> None:
    alex = graph(user_token("alex@contoso.example"))
    created = _create(alex)
    assert alex.patch(f"/v1.0/applications/{created['id']}", json={"displayName": "by alex"}).status_code == 204
    assert alex.delete(f"/v1.0/applications/{created['id']}").status_code == 204


def test_app_only_with_application_read_all_reads_but_cannot_write(graph: Graph, app_token: Callable[..., str],
                                                                    admin: httpx.Client) -> None:
    created = _create(admin)
    reader = graph(app_token(roles=("Application.Read.All",)))
    assert reader.get("/v1.0/applications", params={"$top": "1"}).status_code == 200
    assert reader.get(f"/v1.0/applications/{created['id']}").status_code == 200
    _error(reader.post("/v1.0/applications", json={"displayName": "nope"}), 403, "Authorization_RequestDenied")
    _error(reader.patch(f"/v1.0/applications/{created['id']}", json={"displayName": "x"}), 403,
           "Authorization_RequestDenied")
    _error(reader.post(f"/v1.0/applications/{created['id']}/addPassword", json={}), 403,
           "Authorization_RequestDenied")
    _error(graph(app_token()).get("/v1.0/applications"), 403, "Authorization_RequestDenied")


# --- errors in plain HTTP ------------------------------------------------------------------------------------
def test_no_or_bad_token_is_401(graph: Graph) -> None:
    _error(graph(None).get("/v1.0/applications"), 401, "InvalidAuthenticationToken")
    _error(graph("not-a-token").post("/v1.0/applications", json={"displayName": "x"}), 401,
           "InvalidAuthenticationToken")


@pytest.mark.parametrize("body", [
    {"displayName": "x", "unknownProperty": 1},
    {"displayName": "x", "web": {"redirectUris": [], "noSuchThing": True}},
    {"displayName": "x", "web": {"logoutUrl": "https://x.example/logout"}},
    {"displayName": "x", "tags": ["a"]},
    {"displayName": "x", "api": {"requestedAccessTokenVersion": 2}},
    {"displayName": "x", "signInAudience": "Everyone"},
    {"displayName": "x", "web": {"redirectUris": ["javascript:alert(1)"]}},
    {"displayName": "x", "web": {"redirectUris": "https://not-a-list.example"}},
    {"displayName": "x", "identifierUris": ["not a uri"]},
    {"displayName": "x", "identifierUris": ["https://graph.microsoft.com"]},
    {"displayName": "x", "api": {"oauth2PermissionScopes": [{"id": "not-a-guid", "value": "A", "type": "User"}]}},
    {"displayName": "x", "api": {"oauth2PermissionScopes": [{"id": SCOPE_ID, "value": "has space", "type": "User"}]}},
    {"displayName": "x", "appRoles": [{"id": ROLE_ID, "value": "R", "displayName": "R", "description": "R",
                                       "allowedMemberTypes": ["Robot"]}]},
    {"displayName": "x", "requiredResourceAccess": [{"resourceAppId": MICROSOFT_GRAPH,
                                                     "resourceAccess": [{"id": SCOPE_ID, "type": "Other"}]}]},
    {"displayName": ""},
    {"displayName": "nul\u0000byte"},
    {"displayName": "x", "identifierUris": ["api://nul\u0000byte"]},
    {"displayName": None},
    {"signInAudience": "AzureADMyOrg"},
])
def test_invalid_bodies_are_400(admin: httpx.Client, body: dict[str, Any]) -> None:
    _error(admin.post("/v1.0/applications", json=body), 400, "Request_BadRequest")


def test_malformed_json_and_non_object_bodies_are_400(admin: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    _error(admin.post("/v1.0/applications", content=b"{not json", headers=headers), 400, "Request_BadRequest")
    _error(admin.post("/v1.0/applications", content=b"[1, 2]", headers=headers), 400, "Request_BadRequest")


def test_an_identifier_uri_belongs_to_one_application(admin: httpx.Client) -> None:
    uri = f"api://{uuid.uuid4()}"
    first = _create(admin, identifierUris=[uri])
    error = _error(admin.post("/v1.0/applications", json={"displayName": "dup", "identifierUris": [uri]}), 400,
                   "Request_BadRequest")
    assert "identifierUris" in error["message"]
    second = _create(admin)
    _error(admin.patch(f"/v1.0/applications/{second['id']}", json={"identifierUris": [uri]}), 400,
           "Request_BadRequest")
    assert admin.patch(f"/v1.0/applications/{first['id']}", json={"identifierUris": [uri]}).status_code == 204


def test_unsupported_queries_are_400_unsupported_query(admin: httpx.Client) -> None:
    _error(admin.get("/v1.0/applications", params={"$filter": "notes eq 'x'"}), 400, "Request_UnsupportedQuery")
    _error(admin.get("/v1.0/applications", params={"$filter": "displayName eq"}), 400, "Request_BadRequest")
    _error(admin.get("/v1.0/applications", params={"$orderby": "appId"}), 400, "Request_BadRequest")
    _error(admin.get("/v1.0/applications", params={"$top": "0"}), 400, "Request_BadRequest")
    _error(admin.get("/v1.0/applications", params={"$skiptoken": "!!"}), 400, "Request_BadRequest")


def test_unknown_ids_are_404(admin: httpx.Client) -> None:
    missing = str(uuid.uuid4())
    for response in (admin.get(f"/v1.0/applications/{missing}"), admin.get("/v1.0/applications/not-a-guid"),
                     admin.get(f"/v1.0/applications(appId='{missing}')"),
                     admin.patch(f"/v1.0/applications/{missing}", json={"displayName": "x"}),
                     admin.delete(f"/v1.0/applications/{missing}"),
                     admin.post(f"/v1.0/applications/{missing}/addPassword", json={}),
                     admin.post(f"/v1.0/applications/{missing}/removePassword", json={"keyId": missing})):
        _error(response, 404, "Request_ResourceNotFound")


def test_remove_password_needs_a_known_guid_key_id(admin: httpx.Client) -> None:
    created = _create(admin)
    url = f"/v1.0/applications/{created['id']}/removePassword"
    _error(admin.post(url, json={}), 400, "Request_BadRequest")
    _error(admin.post(url, json={"keyId": "abc"}), 400, "Request_BadRequest")
    _error(admin.post(url, json={"keyId": str(uuid.uuid4())}), 400, "Request_BadRequest")
    _error(admin.post(f"/v1.0/applications/{created['id']}/addPassword",
                      json={"passwordCredential": {"secretText": "chosen by me"}}), 400, "Request_BadRequest")


def test_a_second_service_principal_for_one_app_is_409(admin: httpx.Client) -> None:
    created = _create(admin)
    assert admin.post("/v1.0/servicePrincipals", json={"appId": created["appId"]}).status_code == 201
    _error(admin.post("/v1.0/servicePrincipals", json={"appId": created["appId"]}), 409,
           "Request_MultipleObjectsWithSameKeyValue")


# --- tenant isolation, as attacks ---------------------------------------------------------------------------
def test_another_tenants_application_is_invisible_and_untouchable(admin: httpx.Client,
                                                                  server: RunningServer) -> None:
    """Apple Internet Accounts is registered in Apple; Contoso's Global Administrator tries everything."""
    for url in (f"/v1.0/applications/{APPLE_APP_OBJECT_ID}", f"/v1.0/applications(appId='{APPLE_INTERNET_ACCOUNTS}')"):
        _error(admin.get(url), 404, "Request_ResourceNotFound")
        _error(admin.patch(url, json={"displayName": "pwned"}), 404, "Request_ResourceNotFound")
        _error(admin.post(f"{url}/addPassword", json={}), 404, "Request_ResourceNotFound")
        _error(admin.post(f"{url}/removePassword", json={"keyId": str(uuid.uuid4())}), 404,
               "Request_ResourceNotFound")
        _error(admin.delete(url), 404, "Request_ResourceNotFound")
    listed = admin.get("/v1.0/applications", params={"$filter": f"appId eq '{APPLE_INTERNET_ACCOUNTS}'"}).json()
    assert listed["value"] == []
    everything = admin.get("/v1.0/applications", params={"$top": "999"}).json()["value"]
    assert APPLE_APP_OBJECT_ID not in {a["id"] for a in everything}
    with server.ctx.uow.read() as tx:
        apple = tx.applications.find_home_registration(APPLE_INTERNET_ACCOUNTS)
    assert apple is not None and apple.display_name == "Apple Internet Accounts"
    assert apple.password_credentials == ()


def test_an_identifier_uri_of_another_tenants_app_cannot_be_taken(admin: httpx.Client, server: RunningServer,
                                                                  other_tenant: Any) -> None:
    from consentry.domain.apps import Application
    from consentry.services import apps

    uri = f"api://{uuid.uuid4()}"
    apps.register_application(server.ctx, other_tenant.tenant_id, Application(
        id=str(uuid.uuid4()), app_id=str(uuid.uuid4()), tenant_id=other_tenant.tenant_id, display_name="theirs",
        identifier_uris=(uri,)), TEST_ACTOR)
    _error(admin.post("/v1.0/applications", json={"displayName": "mine", "identifierUris": [uri]}), 400,
           "Request_BadRequest")


# --- msgraph-sdk -------------------------------------------------------------------------------------------
def test_msgraph_sdk_registers_an_app_adds_a_secret_and_reads_it_back(server: RunningServer,
                                                                      admin_token: str) -> None:
    import asyncio
    import concurrent.futures

    from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator
    from kiota_abstractions.authentication.base_bearer_token_authentication_provider import (
        BaseBearerTokenAuthenticationProvider,
    )
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.applications.applications_request_builder import ApplicationsRequestBuilder
    from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
        AddPasswordPostRequestBody,
    )
    from msgraph.generated.models.api_application import ApiApplication
    from msgraph.generated.models.application import Application as GraphApplication
    from msgraph.generated.models.key_credential import KeyCredential
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.password_credential import PasswordCredential
    from msgraph.generated.models.permission_scope import PermissionScope
    from msgraph.generated.models.service_principal import ServicePrincipal
    from msgraph.generated.models.web_application import WebApplication

    class Token(AccessTokenProvider):
        async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
            return admin_token

        def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
            return AllowedHostsValidator([])

    cert = make_certificate("sdk certificate")

    async def scenario() -> None:
        adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(Token()))
        adapter.base_url = f"{server.base_url}/v1.0"
        sdk = GraphServiceClient(request_adapter=adapter)
        name = _name("sdk app")
        created = await sdk.applications.post(GraphApplication(
            display_name=name, sign_in_audience="AzureADMultipleOrgs",
            web=WebApplication(redirect_uris=["https://sdk.example/cb"]),
            api=ApiApplication(oauth2_permission_scopes=[PermissionScope(
                id=uuid.UUID(SCOPE_ID), value="Sdk.Read", type="User", admin_consent_display_name="Read",
                admin_consent_description="Read", is_enabled=True)])))
        assert created is not None and created.id and created.app_id
        secret = await sdk.applications.by_application_id(created.id).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="sdk")))
        assert secret is not None and secret.secret_text and isinstance(secret.key_id, uuid.UUID)
        await sdk.applications.by_application_id(created.id).patch(GraphApplication(
            key_credentials=[KeyCredential(type="AsymmetricX509Cert", usage="Verify", key=cert.der,
                                           display_name="CN=sdk certificate")]))
        query = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
            filter=f"appId eq '{created.app_id}'")
        found = await sdk.applications.get(RequestConfiguration(query_parameters=query))
        assert found is not None and [a.id for a in found.value or []] == [created.id]
        app = (found.value or [])[0]
        assert app.api is not None and app.api.oauth2_permission_scopes is not None
        assert app.api.oauth2_permission_scopes[0].id == uuid.UUID(SCOPE_ID)
        assert [c.key_id for c in app.password_credentials or []] == [secret.key_id]
        [key] = app.key_credentials or []
        assert isinstance(key.key_id, uuid.UUID) and key.custom_key_identifier
        by_app_id = await sdk.applications_with_app_id(created.app_id).get()
        assert by_app_id is not None and by_app_id.id == created.id
        sp = await sdk.service_principals.post(ServicePrincipal(app_id=created.app_id))
        assert sp is not None and sp.app_id == created.app_id
        await sdk.applications.by_application_id(created.id).delete()
        try:
            await sdk.applications.by_application_id(created.id).get()
        except ODataError as exc:
            assert exc.response_status_code == 404
        else:
            raise AssertionError("the deleted application was found")

    # In a thread of its own: Playwright's session-wide browser keeps an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result()
