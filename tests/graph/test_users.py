"""``/me`` and ``/users`` over HTTPS with MSAL tokens: shapes, OData options, writes with their audit
records, permissions, and tenant isolation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import msal
import pytest
from tests.graph.conftest import ADMIN, GRAPH_DEFAULT, TEST_ACTOR, OtherTenant
from tests.graph.helpers import assert_graph_error as _error
from tests.graph.helpers import audit_events as _events
from tests.support.server import RunningServer

from consentry.domain.builtin import GRAPH_COMMAND_LINE_TOOLS
from consentry.domain.directory import User
from consentry.services import directory, grants
from consentry.services.demo import CONTOSO_TENANT_ID, DEMO_PASSWORD

Graph = Callable[..., httpx.Client]
NEW_PASSWORD = "Consentry-Graph-2!"


def _upn(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}@contoso.example"


def _new_user(server: RunningServer, display_name: str | None = None, **kw: Any) -> User:
    upn = _upn()
    return directory.create_user(server.ctx, CONTOSO_TENANT_ID, upn, display_name or upn, DEMO_PASSWORD,
                                 TEST_ACTOR, **kw)


def _create_body(upn: str, **extra: Any) -> dict[str, Any]:
    return {"accountEnabled": True, "displayName": "Graph Created", "mailNickname": upn.split("@")[0],
            "userPrincipalName": upn,
            "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": NEW_PASSWORD}, **extra}


def _signs_in(server: RunningServer, upn: str, password: str) -> bool:
    app = msal.PublicClientApplication(GRAPH_COMMAND_LINE_TOOLS, authority=f"{server.base_url}/{CONTOSO_TENANT_ID}",
                                       instance_discovery=False)
    return "access_token" in app.acquire_token_by_username_password(upn, password, scopes=GRAPH_DEFAULT)


# --- /me ---------------------------------------------------------------------------------------------

def test_me_is_the_signed_in_user_with_the_default_properties(server: RunningServer, admin_token: str,
                                                              graph: Graph) -> None:
    r = graph(admin_token).get("/v1.0/me")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["@odata.context"] == f"{server.base_url}/v1.0/$metadata#users/$entity"
    assert body["userPrincipalName"] == ADMIN
    assert body["displayName"] == "MOD Administrator"
    assert set(body) == {"@odata.context", "businessPhones", "displayName", "givenName", "jobTitle", "mail",
                         "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}
    uuid.UUID(body["id"])


def test_me_with_an_app_only_token_is_a_bad_request(app_token: Callable[..., str], graph: Graph) -> None:
    r = graph(app_token(roles=("User.Read.All",))).get("/v1.0/me")
    _error(r, 400, "Request_BadRequest", "/me request is only valid with delegated authentication flow.")


def test_me_member_of_lists_the_callers_directory_roles(admin_token: str, graph: Graph) -> None:
    values = graph(admin_token).get("/v1.0/me/memberOf").json()["value"]
    assert {"@odata.type": "#microsoft.graph.directoryRole", "displayName": "Global Administrator",
            "roleTemplateId": "62e90394-69f5-4237-9190-012177145e10"}.items() <= values[0].items()


def test_without_a_token_graph_answers_401(graph: Graph) -> None:
    _error(graph(None).get("/v1.0/users"), 401, "InvalidAuthenticationToken")


# --- reading users -------------------------------------------------------------------------------------

def test_a_user_without_a_role_may_list_users(user_token: Callable[..., str], graph: Graph) -> None:
    r = graph(user_token("adele@contoso.example")).get("/v1.0/users", params={"$top": "999"})
    assert r.status_code == 200
    assert r.json()["@odata.context"].endswith("/v1.0/$metadata#users")
    assert {ADMIN, "alex@contoso.example", "adele@contoso.example"} <= {
        u["userPrincipalName"] for u in r.json()["value"]}


def test_a_user_is_found_by_id_and_by_user_principal_name(admin_token: str, graph: Graph) -> None:
    client = graph(admin_token)
    me = client.get("/v1.0/me").json()
    assert client.get(f"/v1.0/users/{me['id']}").json()["id"] == me["id"]
    assert client.get(f"/v1.0/users/{me['id'].upper()}").json()["id"] == me["id"]
    assert client.get("/v1.0/users/Admin@Contoso.example").json()["id"] == me["id"]


@pytest.mark.parametrize("missing", ["6a0e1f3b-2c4d-4e5f-8a9b-0c1d2e3f4a5b", "nobody@contoso.example", "not-a-guid"])
def test_an_unknown_user_is_404(admin_token: str, graph: Graph, missing: str) -> None:
    error = _error(graph(admin_token).get(f"/v1.0/users/{missing}"), 404, "Request_ResourceNotFound")
    assert missing in error["message"]


def test_filter_by_user_principal_name_ignores_case(admin_token: str, graph: Graph) -> None:
    r = graph(admin_token).get("/v1.0/users", params={"$filter": "userPrincipalName eq 'ADELE@contoso.example'"})
    assert [u["userPrincipalName"] for u in r.json()["value"]] == ["adele@contoso.example"]


def test_filter_with_startswith_in_and_account_enabled(server: RunningServer, admin_token: str,
                                                       graph: Graph) -> None:
    tag = uuid.uuid4().hex[:8]
    first = _new_user(server, f"Filter {tag} one")
    second = _new_user(server, f"Filter {tag} two", account_enabled=False)
    client = graph(admin_token)

    def ids(expression: str) -> set[str]:
        r = client.get("/v1.0/users", params={"$filter": expression})
        assert r.status_code == 200, r.text
        return {u["id"] for u in r.json()["value"]}

    assert ids(f"startswith(displayName,'filter {tag}')") == {first.id, second.id}
    assert ids(f"startswith(displayName,'Filter {tag}') and accountEnabled eq false") == {second.id}
    assert ids(f"id in ('{first.id}', '{second.id}')") == {first.id, second.id}
    assert ids(f"startswith(userPrincipalName,'{first.user_principal_name[:11]}')") == {first.id}
    assert ids(f"mail eq '{second.mail}' or displayName eq 'Filter {tag} one'") == {first.id, second.id}


def test_an_unsupported_filter_is_a_bad_request(admin_token: str, graph: Graph) -> None:
    client = graph(admin_token)
    assert client.get("/v1.0/users", params={"$filter": "city eq 'Paris'"}).status_code == 400
    assert client.get("/v1.0/users", params={"$filter": "displayName eq"}).status_code == 400


def test_select_returns_only_the_selected_properties(admin_token: str, graph: Graph) -> None:
    r = graph(admin_token).get("/v1.0/users", params={"$select": "id,accountEnabled,createdDateTime",
                                                      "$filter": f"userPrincipalName eq '{ADMIN}'"})
    [user] = r.json()["value"]
    assert set(user) == {"id", "accountEnabled", "createdDateTime"}
    assert user["accountEnabled"] is True


def test_select_of_an_unknown_property_is_a_bad_request(admin_token: str, graph: Graph) -> None:
    r = graph(admin_token).get("/v1.0/me", params={"$select": "id,favouriteColour"})
    _error(r, 400, "Request_BadRequest", "Parsing OData Select and Expand failed: Could not find a property "
                                         "named 'favouriteColour' on type 'microsoft.graph.user'.")


def test_count_needs_consistency_level_eventual(admin_token: str, graph: Graph) -> None:
    params = {"$count": "true", "$filter": "startswith(userPrincipalName,'a')"}
    _error(graph(admin_token).get("/v1.0/users", params=params), 400, "Request_BadRequest",
           "$count is not currently supported.")
    r = graph(admin_token, ConsistencyLevel="eventual").get("/v1.0/users", params=params)
    assert r.status_code == 200
    assert r.json()["@odata.count"] == len(r.json()["value"]) >= 2


def test_pages_follow_the_next_link_until_every_user_is_seen(server: RunningServer, admin_token: str,
                                                             graph: Graph) -> None:
    tag = uuid.uuid4().hex[:8]
    made = {_new_user(server, f"Pager {tag} {i:02d}").id for i in range(7)}
    client = graph(admin_token, ConsistencyLevel="eventual")
    r = client.get("/v1.0/users", params={"$filter": f"startswith(displayName,'Pager {tag}')", "$top": "3",
                                          "$count": "true", "$select": "id,displayName"})
    seen: list[str] = []
    pages = 0
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [u["id"] for u in body["value"]]
        pages += 1
        link = body.get("@odata.nextLink")
        if not link:
            break
        assert link.startswith(f"{server.base_url}/v1.0/users?")
        r = client.get(link)
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == made


def test_pages_in_display_name_order(server: RunningServer, admin_token: str, graph: Graph) -> None:
    tag = uuid.uuid4().hex[:8]
    for name in ("c", "a", "e", "b", "d"):
        _new_user(server, f"Order {tag} {name}")
    client = graph(admin_token)
    names: list[str] = []
    url: str | None = "/v1.0/users"
    params: dict[str, str] | None = {"$filter": f"startswith(displayName,'Order {tag}')", "$top": "2",
                                     "$orderby": "displayName desc"}
    while url:
        body = client.get(url, params=params).json()
        names += [u["displayName"][-1] for u in body["value"]]
        url, params = body.get("@odata.nextLink"), None
    assert names == ["e", "d", "c", "b", "a"]


def test_ordering_by_another_property_is_a_bad_request(admin_token: str, graph: Graph) -> None:
    r = graph(admin_token).get("/v1.0/users", params={"$orderby": "jobTitle"})
    _error(r, 400, "Request_BadRequest")


def test_a_top_out_of_range_is_a_bad_request(admin_token: str, graph: Graph) -> None:
    _error(graph(admin_token).get("/v1.0/users", params={"$top": "0"}), 400, "Request_BadRequest")


# --- creating users -------------------------------------------------------------------------------------

def test_an_administrator_creates_a_user_who_can_then_sign_in(server: RunningServer, admin_token: str,
                                                               graph: Graph) -> None:
    upn = _upn("new")
    r = graph(admin_token).post("/v1.0/users", json=_create_body(
        upn, **{"@odata.type": "#microsoft.graph.user", "givenName": "Nova", "surname": "Newton"}))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#users/$entity")
    assert body["userPrincipalName"] == upn
    assert body["displayName"] == "Graph Created"
    assert (body["givenName"], body["surname"]) == ("Nova", "Newton")
    assert body["mail"] == upn
    uuid.UUID(body["id"])
    [event] = _events(server, "Add user", body["id"])
    assert event["initiated_by"]["user"]["userPrincipalName"] == ADMIN
    assert event["category"] == "UserManagement"
    assert _signs_in(server, upn, NEW_PASSWORD)


def test_a_taken_user_principal_name_is_a_bad_request_as_graph_says(admin_token: str, graph: Graph) -> None:
    r = graph(admin_token).post("/v1.0/users", json=_create_body("alex@contoso.example"))
    _error(r, 400, "Request_BadRequest", "Another object with the same value for property userPrincipalName "
                                         "already exists.")


def test_a_user_principal_name_outside_the_verified_domains_is_refused(
        admin_token: str, graph: Graph, other_tenant: OtherTenant) -> None:
    for upn in (f"x{uuid.uuid4().hex[:6]}@{other_tenant.domain}", f"x{uuid.uuid4().hex[:6]}@example.org"):
        r = graph(admin_token).post("/v1.0/users", json=_create_body(upn))
        _error(r, 400, "Request_BadRequest", "The domain portion of the userPrincipalName property is invalid. "
                                             "You must use one of the verified domain names in your organization.")


@pytest.mark.parametrize(("change", "property_name"), [
    ({"mailNickname": None}, "mailNickname"),
    ({"displayName": ""}, "displayName"),
    ({"accountEnabled": "yes"}, "accountEnabled"),
    ({"passwordProfile": {"forceChangePasswordNextSignIn": False}}, "passwordProfile"),
])
def test_a_missing_or_invalid_property_is_a_bad_request(admin_token: str, graph: Graph, change: dict[str, Any],
                                                        property_name: str) -> None:
    r = graph(admin_token).post("/v1.0/users", json={**_create_body(_upn()), **change})
    _error(r, 400, "Request_BadRequest",
           f"Invalid value specified for property '{property_name}' of resource 'User'.")


def test_an_unknown_property_is_a_bad_request(admin_token: str, graph: Graph) -> None:
    r = graph(admin_token).post("/v1.0/users", json=_create_body(_upn(), favouriteColour="blue"))
    error = _error(r, 400, "Request_BadRequest")
    assert "favouriteColour" in error["message"]


def test_a_weak_password_is_refused_with_graphs_message(admin_token: str, graph: Graph) -> None:
    body = _create_body(_upn())
    body["passwordProfile"]["password"] = "password"
    _error(graph(admin_token).post("/v1.0/users", json=body), 400, "Request_BadRequest",
           "The specified password does not comply with password complexity requirements. Please provide a "
           "different password.")


@pytest.mark.parametrize("upn", ["adele@contoso.example", "alex@contoso.example"])
def test_a_user_without_a_user_administering_role_may_not_create_users(
        user_token: Callable[..., str], graph: Graph, upn: str) -> None:
    r = graph(user_token(upn)).post("/v1.0/users", json=_create_body(_upn()))
    _error(r, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def test_an_app_with_user_read_all_reads_but_does_not_write(app_token: Callable[..., str], graph: Graph) -> None:
    client = graph(app_token(roles=("User.Read.All",)))
    assert client.get("/v1.0/users").status_code == 200
    _error(client.post("/v1.0/users", json=_create_body(_upn())), 403, "Authorization_RequestDenied")


def test_an_app_with_user_read_write_all_creates_a_user(server: RunningServer, app_token: Callable[..., str],
                                                        graph: Graph) -> None:
    r = graph(app_token(roles=("User.ReadWrite.All",))).post("/v1.0/users", json=_create_body(_upn()))
    assert r.status_code == 201, r.text
    [event] = _events(server, "Add user", r.json()["id"])
    assert event["initiated_by"]["app"]["displayName"] == "graph tests daemon"


def test_an_app_without_graph_permissions_may_not_read_users(app_token: Callable[..., str], graph: Graph) -> None:
    _error(graph(app_token()).get("/v1.0/users"), 403, "Authorization_RequestDenied")


# --- updating and deleting users --------------------------------------------------------------------------

def test_patch_changes_the_properties_and_is_audited(server: RunningServer, admin_token: str,
                                                    graph: Graph) -> None:
    user = _new_user(server)
    client = graph(admin_token)
    r = client.patch(f"/v1.0/users/{user.id}", json={
        "@odata.type": "#microsoft.graph.user", "displayName": "Renamed", "jobTitle": "Engineer",
        "givenName": "Rena", "surname": "Med", "mail": "renamed@contoso.example", "accountEnabled": False})
    assert r.status_code == 204, r.text
    assert r.content == b""
    got = client.get(f"/v1.0/users/{user.id}", params={
        "$select": "displayName,jobTitle,givenName,surname,mail,accountEnabled"}).json()
    assert {k: v for k, v in got.items() if not k.startswith("@")} == {
        "id": user.id, "displayName": "Renamed", "jobTitle": "Engineer", "givenName": "Rena", "surname": "Med",
        "mail": "renamed@contoso.example", "accountEnabled": False}
    [event] = _events(server, "Update user", user.id)
    modified = {m["displayName"]: (m["oldValue"], m["newValue"])
                for m in event["target_resources"][0]["modifiedProperties"]}
    assert modified["DisplayName"] == (f'"{user.display_name}"', '"Renamed"')
    assert modified["AccountEnabled"] == ('"True"', '"False"')
    assert not _signs_in(server, user.user_principal_name, DEMO_PASSWORD)  # a disabled account cannot sign in


def test_patch_with_a_null_clears_an_optional_property(server: RunningServer, admin_token: str,
                                                      graph: Graph) -> None:
    user = _new_user(server, job_title="Clerk")
    client = graph(admin_token)
    assert client.patch(f"/v1.0/users/{user.id}", json={"jobTitle": None}).status_code == 204
    assert client.get(f"/v1.0/users/{user.id}").json()["jobTitle"] is None


def test_patch_of_the_password_profile_resets_the_password(server: RunningServer, admin_token: str,
                                                          graph: Graph) -> None:
    user = _new_user(server)
    r = graph(admin_token).patch(f"/v1.0/users/{user.user_principal_name}", json={
        "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": NEW_PASSWORD}})
    assert r.status_code == 204, r.text
    assert _signs_in(server, user.user_principal_name, NEW_PASSWORD)
    assert not _signs_in(server, user.user_principal_name, DEMO_PASSWORD)
    assert _events(server, "Reset user password", user.id)


@pytest.mark.parametrize("body", [{"displayName": 5}, {"displayName": "  "}, {"accountEnabled": None},
                                  {"userType": "Guest"}, {"mail": "x" * 300}])
def test_an_invalid_patch_is_a_bad_request(server: RunningServer, admin_token: str, graph: Graph,
                                           body: dict[str, Any]) -> None:
    user = _new_user(server)
    _error(graph(admin_token).patch(f"/v1.0/users/{user.id}", json=body), 400, "Request_BadRequest")


def test_patch_of_an_unknown_user_is_404(admin_token: str, graph: Graph) -> None:
    r = graph(admin_token).patch(f"/v1.0/users/{uuid.uuid4()}", json={"displayName": "Nobody"})
    _error(r, 404, "Request_ResourceNotFound")


def test_adele_may_not_patch_or_delete_users(server: RunningServer, user_token: Callable[..., str],
                                             graph: Graph) -> None:
    user = _new_user(server)
    client = graph(user_token("adele@contoso.example"))
    _error(client.patch(f"/v1.0/users/{user.id}", json={"displayName": "x"}), 403, "Authorization_RequestDenied")
    _error(client.delete(f"/v1.0/users/{user.id}"), 403, "Authorization_RequestDenied")


def test_delete_removes_the_user_with_their_memberships_roles_and_grants(
        server: RunningServer, admin_token: str, graph: Graph) -> None:
    ctx = server.ctx
    user = _new_user(server)
    group = directory.create_group(ctx, CONTOSO_TENANT_ID, "Doomed member's group", TEST_ACTOR, member_ids=[user.id])
    directory.assign_role(ctx, CONTOSO_TENANT_ID, user.id, "Global Reader", TEST_ACTOR)
    grants.add_grant(ctx, CONTOSO_TENANT_ID, GRAPH_COMMAND_LINE_TOOLS, "00000003-0000-0000-c000-000000000000",
                     "Principal", "User.Read", TEST_ACTOR, principal_id=user.id)
    client = graph(admin_token)
    assert client.delete(f"/v1.0/users/{user.id}").status_code == 204
    _error(client.get(f"/v1.0/users/{user.id}"), 404, "Request_ResourceNotFound")
    _error(client.delete(f"/v1.0/users/{user.id}"), 404, "Request_ResourceNotFound")
    with ctx.uow.read() as tx:
        scope = tx.tenant(CONTOSO_TENANT_ID)
        kept = scope.directory.find_group(group.id)
        assert kept is not None and user.id not in kept.member_ids
        assert scope.directory.list_role_assignments(user.id) == []
        assert scope.grants.list_grants(principal_id=user.id) == []
    assert _events(server, "Delete user", user.id)


def test_member_of_lists_groups_and_roles_with_their_types(server: RunningServer, admin_token: str,
                                                          graph: Graph) -> None:
    user = _new_user(server)
    group = directory.create_group(server.ctx, CONTOSO_TENANT_ID, "Readers", TEST_ACTOR, member_ids=[user.id])
    directory.assign_role(server.ctx, CONTOSO_TENANT_ID, user.id, "Global Reader", TEST_ACTOR)
    r = graph(admin_token).get(f"/v1.0/users/{user.id}/memberOf")
    assert r.status_code == 200
    by_type = {o["@odata.type"]: o for o in r.json()["value"]}
    assert by_type["#microsoft.graph.group"]["id"] == group.id
    assert by_type["#microsoft.graph.group"]["displayName"] == "Readers"
    assert by_type["#microsoft.graph.directoryRole"]["roleTemplateId"] == "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
    first = graph(admin_token).get(f"/v1.0/users/{user.id}/memberOf", params={"$top": "1"}).json()
    assert len(first["value"]) == 1
    assert len(graph(admin_token).get(first["@odata.nextLink"]).json()["value"]) == 1


# --- tenant isolation -------------------------------------------------------------------------------------

def test_another_tenants_user_is_invisible_even_by_id_or_name(admin_token: str, graph: Graph,
                                                             other_tenant: OtherTenant) -> None:
    client = graph(admin_token)
    for key in (other_tenant.user_id, other_tenant.upn):
        _error(client.get(f"/v1.0/users/{key}"), 404, "Request_ResourceNotFound")
        _error(client.get(f"/v1.0/users/{key}/memberOf"), 404, "Request_ResourceNotFound")
    for expression in (f"id eq '{other_tenant.user_id}'", f"userPrincipalName eq '{other_tenant.upn}'",
                       "startswith(displayName,'Megan')"):
        assert client.get("/v1.0/users", params={"$filter": expression}).json()["value"] == []


def test_another_tenants_user_cannot_be_changed_or_deleted(server: RunningServer, admin_token: str, graph: Graph,
                                                          other_tenant: OtherTenant) -> None:
    client = graph(admin_token)
    _error(client.patch(f"/v1.0/users/{other_tenant.user_id}", json={"displayName": "Pwned",
                                                                     "accountEnabled": False}),
           404, "Request_ResourceNotFound")
    _error(client.patch(f"/v1.0/users/{other_tenant.upn}", json={
        "passwordProfile": {"password": NEW_PASSWORD}}), 404, "Request_ResourceNotFound")
    _error(client.delete(f"/v1.0/users/{other_tenant.user_id}"), 404, "Request_ResourceNotFound")
    with server.ctx.uow.read() as tx:
        megan = tx.tenant(other_tenant.tenant_id).directory.find_user(other_tenant.user_id)
    assert megan is not None
    assert (megan.display_name, megan.account_enabled) == ("Megan Bowen", True)


def test_an_app_of_another_tenant_sees_only_its_own_users(app_token: Callable[..., str], graph: Graph,
                                                         other_tenant: OtherTenant) -> None:
    client = graph(app_token(other_tenant.tenant_id, ("User.ReadWrite.All",)))
    assert [u["id"] for u in client.get("/v1.0/users").json()["value"]] == [other_tenant.user_id]
    _error(client.get(f"/v1.0/users/{ADMIN}"), 404, "Request_ResourceNotFound")
    _error(client.delete("/v1.0/users/adele@contoso.example"), 404, "Request_ResourceNotFound")


# --- msgraph-sdk --------------------------------------------------------------------------------------------

def test_msgraph_sdk_creates_reads_updates_and_deletes_a_user(server: RunningServer, admin_token: str) -> None:
    import asyncio

    from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator
    from kiota_abstractions.authentication.base_bearer_token_authentication_provider import (
        BaseBearerTokenAuthenticationProvider,
    )
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.password_profile import PasswordProfile
    from msgraph.generated.models.user import User as GraphUser
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder

    class Token(AccessTokenProvider):
        async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
            return admin_token

        def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
            return AllowedHostsValidator([])

    async def scenario() -> None:
        # The SDK's own httpx client, trusting the test CA through SSL_CERT_FILE (set by the server fixture).
        adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(Token()))
        adapter.base_url = f"{server.base_url}/v1.0"
        sdk = GraphServiceClient(request_adapter=adapter)
        me = await sdk.me.get()
        assert me is not None and me.user_principal_name == ADMIN
        upn = _upn("sdk")
        created = await sdk.users.post(GraphUser(
            account_enabled=True, display_name="SDK User", mail_nickname=upn.split("@")[0], user_principal_name=upn,
            password_profile=PasswordProfile(force_change_password_next_sign_in=False, password=NEW_PASSWORD)))
        assert created is not None and created.id and created.user_principal_name == upn
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter=f"userPrincipalName eq '{upn}'", select=["id", "displayName", "accountEnabled"])
        found = await sdk.users.get(RequestConfiguration(query_parameters=query))
        assert found is not None and [u.id for u in found.value or []] == [created.id]
        await sdk.users.by_user_id(created.id).patch(GraphUser(display_name="SDK Renamed", account_enabled=False))
        got = await sdk.users.by_user_id(created.id).get()
        assert got is not None and got.display_name == "SDK Renamed"
        await sdk.users.by_user_id(created.id).delete()
        try:
            await sdk.users.by_user_id(created.id).get()
        except ODataError as exc:
            assert exc.response_status_code == 404
            assert exc.error is not None and exc.error.code == "Request_ResourceNotFound"
        else:
            raise AssertionError("the deleted user was found")

    asyncio.run(scenario())
