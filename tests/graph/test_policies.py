"""``/policies/authorizationPolicy`` and ``/policies/permissionGrantPolicies`` over HTTPS with MSAL tokens:
Microsoft's default for a new tenant and Contoso's "Do not allow user consent", PATCH as a full-list replace
that keeps unrelated entries, the prefix in any casing, who may read and change what, the built-in policies
(listed first, read-only), custom policies with their includes and excludes, every validation error, the
tenant-wide limit, tenant isolation and the audit records.

Changes happen in tenants of their own (*Northwind*, with a Global Administrator, a Global Reader and a
Privileged Role Administrator), so Contoso's demo settings stay as seeded for the other tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.graph.conftest import TEST_ACTOR, OtherTenant
from tests.graph.helpers import assert_graph_error as _error
from tests.graph.helpers import audit_events
from tests.support.server import RunningServer

from consentry.domain.builtin import GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.services import directory, grants
from consentry.services.demo import DEMO_PASSWORD, graph_cli_scope
from consentry.services.policies import consent_settings, get_consent_settings

pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")
Graph = Callable[..., httpx.Client]
AUTHZ = "/v1.0/policies/authorizationPolicy"
PGP = "/v1.0/policies/permissionGrantPolicies"
TEAM = "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-team"
CHAT = "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-chat"
RECOMMENDED = "ManagePermissionGrantsForSelf.microsoft-user-default-recommended"
MAIL_APPS = "ManagePermissionGrantsForSelf.microsoft-user-default-allow-consent-apps"
LOW = "ManagePermissionGrantsForSelf.microsoft-user-default-low"
DEVELOPER = "ManagePermissionGrantsForOwnedResource.DeveloperConsent"
BUILTIN_IDS = sorted(["microsoft-user-default-low", "microsoft-user-default-legacy",
                      "microsoft-user-default-recommended", "microsoft-user-default-allow-consent-apps",
                      "microsoft-all-application-permissions", "microsoft-all-application-permissions-verified",
                      "microsoft-application-admin", "microsoft-company-admin"])  # listed first, by id
USER_READ = "e1fe6dd8-ba31-4d61-89e7-88639da4683d"
MAIL_READ = "570282fd-fa5c-430d-a7fd-fc8dc98a9dca"
ROLE_DEFAULTS = {"allowedToCreateApps": False, "allowedToCreateSecurityGroups": False,
                 "allowedToCreateTenants": False, "allowedToReadBitlockerKeysForOwnedDevice": True,
                 "allowedToReadOtherUsers": True}


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    admin: str
    reader: str
    role_admin: str


def _new_tenant(server: RunningServer, name: str) -> Tenant:
    """A tenant with a Global Administrator, a Global Reader and a Privileged Role Administrator, where the
    Graph command-line tools are consented tenant-wide (so its users get delegated Graph tokens)."""
    ctx = server.ctx
    domain = f"{name.lower()}-{uuid.uuid4().hex[:8]}.example"
    tenant = directory.create_tenant(ctx, name, [domain], TEST_ACTOR).id
    upns = {}
    for login, role in (("admin", "Global Administrator"), ("reader", "Global Reader"),
                        ("roles", "Privileged Role Administrator")):
        user = directory.create_user(ctx, tenant, f"{login}@{domain}", login.title(), DEMO_PASSWORD, TEST_ACTOR)
        directory.assign_role(ctx, tenant, user.id, role, TEST_ACTOR)
        upns[login] = user.user_principal_name
    grants.add_grant(ctx, tenant, GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH, ALL_PRINCIPALS, graph_cli_scope(),
                     TEST_ACTOR)
    return Tenant(tenant, upns["admin"], upns["reader"], upns["roles"])


@pytest.fixture(scope="module")
def northwind(server: RunningServer) -> Tenant:
    return _new_tenant(server, "Northwind")


@pytest.fixture
def nw_admin(northwind: Tenant, user_token: Callable[..., str], graph: Graph) -> httpx.Client:
    return graph(user_token(northwind.admin, tenant=northwind.tenant_id))


@pytest.fixture
def admin(admin_token: str, graph: Graph) -> httpx.Client:
    return graph(admin_token)


@pytest.fixture
def restore_northwind(northwind: Tenant, nw_admin: httpx.Client) -> Iterator[None]:
    """Put Northwind's authorization policy back as it was after the test."""
    before = nw_admin.get(AUTHZ).json()
    yield
    assigned = before["defaultUserRolePermissions"]["permissionGrantPoliciesAssigned"]
    response = nw_admin.patch(AUTHZ, json={"allowUserConsentForRiskyApps": before["allowUserConsentForRiskyApps"],
                                           "defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": assigned}})
    assert response.status_code == 204, response.text


def _assigned(client: httpx.Client) -> list[str]:
    response = client.get(AUTHZ)
    assert response.status_code == 200, response.text
    return list(response.json()["defaultUserRolePermissions"]["permissionGrantPoliciesAssigned"])


def _patch_assigned(client: httpx.Client, assigned: list[Any]) -> httpx.Response:
    return client.patch(AUTHZ, json={"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": assigned}})


def _policy_id() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


def _create(client: httpx.Client, policy_id: str | None = None, **body: Any) -> dict[str, Any]:
    response = client.post(PGP, json={"id": policy_id or _policy_id(), **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- authorizationPolicy: defaults ---------------------------------------------------------------------
def test_a_new_tenant_has_microsofts_default_user_consent(other_tenant: OtherTenant,
                                                         app_token: Callable[..., str], graph: Graph) -> None:
    reader = graph(app_token(other_tenant.tenant_id, ("Policy.Read.All",)))
    response = reader.get(AUTHZ)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#policies/authorizationPolicy/$entity")
    assert (body["id"], body["displayName"]) == ("authorizationPolicy", "Authorization Policy")
    assert body["defaultUserRolePermissions"] == {**ROLE_DEFAULTS,
                                                  "permissionGrantPoliciesAssigned": [TEAM, CHAT, RECOMMENDED,
                                                                                      MAIL_APPS]}
    assert body["allowUserConsentForRiskyApps"] is False
    assert (body["allowInvitesFrom"], body["guestUserRoleId"]) == ("everyone", "10dae51f-b6af-4016-8d66-8c2a99b929b3")
    assert set(body) == {"@odata.context", "id", "displayName", "description", "allowInvitesFrom",
                         "allowedToSignUpEmailBasedSubscriptions", "allowedToUseSSPR",
                         "allowEmailVerifiedUsersToJoinOrganization", "allowUserConsentForRiskyApps",
                         "blockMsolPowerShell", "guestUserRoleId", "defaultUserRolePermissions"}


def test_contoso_starts_with_user_consent_off(admin: httpx.Client) -> None:
    assert _assigned(admin) == [TEAM, CHAT]
    old_path = admin.get("/v1.0/policies/authorizationPolicy/authorizationPolicy")
    assert old_path.status_code == 200
    assert old_path.json()["defaultUserRolePermissions"]["permissionGrantPoliciesAssigned"] == [TEAM, CHAT]


def test_select_on_the_authorization_policy(admin: httpx.Client) -> None:
    response = admin.get(AUTHZ, params={"$select": "defaultUserRolePermissions"})
    assert response.status_code == 200
    assert set(response.json()) == {"@odata.context", "id", "defaultUserRolePermissions"}


# --- authorizationPolicy: PATCH ------------------------------------------------------------------------
def test_patch_replaces_the_whole_list_and_keeps_what_is_sent(
        server: RunningServer, northwind: Tenant, nw_admin: httpx.Client, restore_northwind: None) -> None:
    assert _assigned(nw_admin) == [TEAM, CHAT, RECOMMENDED, MAIL_APPS]
    wanted = [TEAM, CHAT, DEVELOPER, LOW]
    response = _patch_assigned(nw_admin, wanted)
    assert response.status_code == 204 and response.content == b""
    assert _assigned(nw_admin) == wanted
    settings = consent_settings(server.ctx, northwind.tenant_id)  # the cache sees the change at once
    assert settings.user_consent == "low"
    assert [p.id for p in settings.self_policies] == ["microsoft-user-default-low"]
    event = audit_events(server, "Update authorization policy", "authorizationPolicy", northwind.tenant_id)[0]
    assert (event["category"], event["operation_type"], event["result"]) == ("Policy", "Update", "success")
    target = event["target_resources"][0]
    assert (target["type"], target["displayName"]) == ("Policy", "Authorization Policy")
    assert event["initiated_by"]["user"]["userPrincipalName"] == northwind.admin
    (change,) = target["modifiedProperties"]
    assert change["displayName"] == "DefaultUserRolePermissions.PermissionGrantPoliciesAssigned"
    assert LOW in change["newValue"] and RECOMMENDED in change["oldValue"] and RECOMMENDED not in change["newValue"]


def test_the_self_prefix_is_compared_case_insensitively(server: RunningServer, northwind: Tenant,
                                                        nw_admin: httpx.Client, restore_northwind: None) -> None:
    entry = "managePermissionGrantsForSelf.MICROSOFT-USER-DEFAULT-LEGACY"
    assert _patch_assigned(nw_admin, [TEAM, entry]).status_code == 204
    assert _assigned(nw_admin) == [TEAM, entry]
    settings = get_consent_settings(server.ctx, northwind.tenant_id)
    assert settings.user_consent == "legacy"
    assert [p.id for p in settings.self_policies] == ["microsoft-user-default-legacy"]


def test_an_empty_list_turns_user_consent_off(server: RunningServer, northwind: Tenant, nw_admin: httpx.Client,
                                              restore_northwind: None) -> None:
    assert _patch_assigned(nw_admin, []).status_code == 204
    assert _assigned(nw_admin) == []
    settings = get_consent_settings(server.ctx, northwind.tenant_id)
    assert (settings.user_consent, settings.user_consent_enabled) == ("none", False)


def test_a_patch_without_changes_writes_no_audit_record(server: RunningServer, northwind: Tenant,
                                                        nw_admin: httpx.Client) -> None:
    before = len(audit_events(server, "Update authorization policy", "authorizationPolicy", northwind.tenant_id))
    body = nw_admin.get(AUTHZ).json()
    del body["@odata.context"]
    response = nw_admin.patch(AUTHZ, json=body)  # the whole GET sent back: a read-modify-write round trip
    assert response.status_code == 204, response.text
    assert len(audit_events(server, "Update authorization policy", "authorizationPolicy",
                            northwind.tenant_id)) == before


def test_allow_user_consent_for_risky_apps_is_the_inverse_of_the_block(
        server: RunningServer, northwind: Tenant, nw_admin: httpx.Client, restore_northwind: None) -> None:
    assert nw_admin.patch(AUTHZ, json={"allowUserConsentForRiskyApps": True}).status_code == 204
    assert nw_admin.get(AUTHZ).json()["allowUserConsentForRiskyApps"] is True
    assert get_consent_settings(server.ctx, northwind.tenant_id).block_user_consent_for_risky_apps is False
    event = audit_events(server, "Update authorization policy", "authorizationPolicy", northwind.tenant_id)[0]
    assert event["target_resources"][0]["modifiedProperties"] == [
        {"displayName": "BlockUserConsentForRiskyApps", "oldValue": '"True"', "newValue": '"False"'}]


@pytest.mark.parametrize(("body", "message_part"), [
    ({"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": ["ManagePermissionGrantsForSelf.nope"]}},
     "No permission grant policy 'nope'"),
    ({"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": [
        "managePermissionGrantsForSelf.managePermissionGrantsForSelf.microsoft-user-default-low"]}},
     "No permission grant policy"),
    ({"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": ["x" * 1025]}}, "at most 1024"),
    ({"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": [f"{TEAM}{i}" for i in range(51)]}},
     "at most 50"),
    ({"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": [42]}}, "non-empty string"),
    ({"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": [""]}}, "non-empty string"),
    ({"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": "ManagePermissionGrantsForSelf.x"}},
     "must be a list"),
    ({"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": None}}, "must be a list"),
    ({"defaultUserRolePermissions": [LOW]}, "must be an object"),
    ({"defaultUserRolePermissions": {"permissionGrantPoliciesAssigned": [], "canDoAnything": True}},
     "defaultUserRolePermissions.canDoAnything"),
    ({"defaultUserRolePermissions": {"allowedToCreateApps": True}}, "defaultUserRolePermissions.allowedToCreateApps"),
    ({"displayName": "Mine"}, "Setting 'displayName' is not supported"),
    ({"allowInvitesFrom": "none"}, "Setting 'allowInvitesFrom'"),
    ({"guestUserRoleId": "a0b1b346-4d3e-4e8b-98f8-753987be4970"}, "Setting 'guestUserRoleId'"),
    ({"allowedToUseSSPR": 1}, "Setting 'allowedToUseSSPR'"),
    ({"allowUserConsentForRiskyApps": "yes"}, "a boolean is required"),
    ({"id": "other"}, "Setting 'id'"),
    ({"blockUserConsentForRiskyApps": True}, "Property 'blockUserConsentForRiskyApps' is not supported"),
])
def test_bad_patches_are_refused_and_change_nothing(northwind: Tenant, nw_admin: httpx.Client,
                                                    body: dict[str, Any], message_part: str) -> None:
    before = nw_admin.get(AUTHZ).json()
    error = _error(nw_admin.patch(AUTHZ, json=body), 400, "Request_BadRequest")
    assert message_part in error["message"]
    assert nw_admin.get(AUTHZ).json() == before


def test_malformed_bodies_are_400(nw_admin: httpx.Client) -> None:
    for content in (b"{", b"[]", b'"x"', b'{"displayName": "a\\u0000b"}'):
        _error(nw_admin.patch(AUTHZ, content=content, headers={"Content-Type": "application/json"}), 400,
               "Request_BadRequest")


def test_current_values_of_unstored_properties_are_accepted(nw_admin: httpx.Client) -> None:
    response = nw_admin.patch(AUTHZ, json={"@odata.type": "#microsoft.graph.authorizationPolicy",
                                           "blockMsolPowerShell": None, "allowedToUseSSPR": True,
                                           "defaultUserRolePermissions": {"allowedToCreateApps": False}})
    assert response.status_code == 204, response.text


# --- authorizationPolicy: who may --------------------------------------------------------------------
def test_a_user_without_a_role_may_neither_read_nor_change_it(user_token: Callable[..., str], graph: Graph) -> None:
    adele = graph(user_token("adele@contoso.example"))
    _error(adele.get(AUTHZ), 403, "Authorization_RequestDenied")
    _error(_patch_assigned(adele, [TEAM, CHAT, LOW]), 403, "Authorization_RequestDenied")
    _error(adele.get(PGP), 403, "Authorization_RequestDenied")
    _error(adele.post(PGP, json={"id": _policy_id()}), 403, "Authorization_RequestDenied")


def test_a_cloud_application_administrator_cannot_change_it(admin: httpx.Client, user_token: Callable[..., str],
                                                            graph: Graph) -> None:
    alex = graph(user_token("alex@contoso.example"))
    _error(_patch_assigned(alex, [TEAM, CHAT, LOW]), 403, "Authorization_RequestDenied")
    _error(alex.get(AUTHZ), 403, "Authorization_RequestDenied")  # not one of the reader roles
    assert alex.get(PGP).status_code == 200  # but the policies are readable to application administrators
    _error(alex.post(PGP, json={"id": _policy_id()}), 403, "Authorization_RequestDenied")
    assert _assigned(admin) == [TEAM, CHAT]


def test_a_global_reader_reads_but_cannot_write(northwind: Tenant, user_token: Callable[..., str],
                                                graph: Graph) -> None:
    reader = graph(user_token(northwind.reader, tenant=northwind.tenant_id))
    assert reader.get(AUTHZ).status_code == 200
    assert reader.get(f"{PGP}/microsoft-company-admin").status_code == 200
    _error(_patch_assigned(reader, []), 403, "Authorization_RequestDenied")
    _error(reader.post(PGP, json={"id": _policy_id()}), 403, "Authorization_RequestDenied")
    _error(reader.delete(f"{PGP}/anything"), 403, "Authorization_RequestDenied")


def test_a_privileged_role_administrator_may_change_it(northwind: Tenant, user_token: Callable[..., str],
                                                       graph: Graph, restore_northwind: None) -> None:
    roles = graph(user_token(northwind.role_admin, tenant=northwind.tenant_id))
    assert _patch_assigned(roles, [TEAM, CHAT, LOW]).status_code == 204
    assert _assigned(roles) == [TEAM, CHAT, LOW]
    created = _create(roles)
    assert roles.delete(f"{PGP}/{created['id']}").status_code == 204


def test_app_only_needs_the_application_permissions(northwind: Tenant, app_token: Callable[..., str],
                                                    graph: Graph, restore_northwind: None) -> None:
    reader = graph(app_token(northwind.tenant_id, ("Policy.Read.All",)))
    writer = graph(app_token(northwind.tenant_id, ("Policy.ReadWrite.Authorization",)))
    nothing = graph(app_token(northwind.tenant_id))
    assert reader.get(AUTHZ).status_code == 200
    _error(_patch_assigned(reader, [LOW]), 403, "Authorization_RequestDenied")
    _error(nothing.get(AUTHZ), 403, "Authorization_RequestDenied")
    assert _patch_assigned(writer, [LOW]).status_code == 204
    assert _assigned(writer) == [LOW]
    _error(writer.post(PGP, json={"id": _policy_id()}), 403, "Authorization_RequestDenied")
    grant_writer = graph(app_token(northwind.tenant_id, ("Policy.ReadWrite.PermissionGrant",)))
    created = _create(grant_writer)
    assert grant_writer.get(f"{PGP}/{created['id']}").status_code == 200
    assert grant_writer.delete(f"{PGP}/{created['id']}").status_code == 204


def test_no_token_is_401(graph: Graph) -> None:
    for response in (graph(None).get(AUTHZ), graph(None).get(PGP)):
        _error(response, 401, "InvalidAuthenticationToken")


# --- permission grant policies: built-ins ------------------------------------------------------------------
def test_builtins_are_listed_first(nw_admin: httpx.Client) -> None:
    created = _create(nw_admin, "a-first-by-name")
    try:
        body = nw_admin.get(PGP).json()
        ids = [p["id"] for p in body["value"]]
        assert ids[:len(BUILTIN_IDS)] == BUILTIN_IDS
        assert created["id"] in ids[len(BUILTIN_IDS):]
        assert body["@odata.context"].endswith("/v1.0/$metadata#policies/permissionGrantPolicies")
    finally:
        nw_admin.delete(f"{PGP}/{created['id']}")


def test_a_builtin_policy_in_graphs_shape(nw_admin: httpx.Client) -> None:
    response = nw_admin.get(f"{PGP}/Microsoft-Company-Admin")  # ids are case-insensitive
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "microsoft-company-admin" and body["excludes"] == []
    assert body["@odata.context"].endswith("$metadata#policies/permissionGrantPolicies/$entity")
    assert [s["permissionType"] for s in body["includes"]] == ["delegated", "application"]
    for condition_set in body["includes"]:
        uuid.UUID(condition_set["id"])
        assert {k: v for k, v in condition_set.items() if k not in ("id", "permissionType")} == {
            "permissionClassification": "all", "resourceApplication": "any", "permissions": ["all"],
            "clientApplicationIds": ["all"], "clientApplicationTenantIds": ["all"],
            "clientApplicationPublisherIds": ["all"], "clientApplicationsFromVerifiedPublisherOnly": False}
    again = nw_admin.get(f"{PGP}/microsoft-company-admin/includes").json()["value"]
    assert again == body["includes"]


def test_the_application_admin_policy_excludes_microsoft_graph_app_roles(nw_admin: httpx.Client) -> None:
    body = nw_admin.get(f"{PGP}/microsoft-application-admin").json()
    assert [(s["permissionType"], s["resourceApplication"]) for s in body["excludes"]] == [
        ("application", MICROSOFT_GRAPH)]


def test_builtins_are_read_only(nw_admin: httpx.Client) -> None:
    path = f"{PGP}/microsoft-user-default-low"
    set_id = nw_admin.get(path).json()["includes"][0]["id"]
    for response in (nw_admin.patch(path, json={"displayName": "mine"}), nw_admin.delete(path),
                     nw_admin.post(f"{path}/includes", json={"permissionType": "delegated"}),
                     nw_admin.delete(f"{path}/includes/{set_id}")):
        error = _error(response, 400, "Request_BadRequest")
        assert "read-only" in error["message"]
    assert nw_admin.get(path).json()["includes"][0]["id"] == set_id


# --- permission grant policies: custom -------------------------------------------------------------------
def test_custom_policy_lifecycle_with_includes_and_excludes(server: RunningServer, northwind: Tenant,
                                                            nw_admin: httpx.Client) -> None:
    policy_id = _policy_id()
    created = _create(nw_admin, policy_id, displayName="Just User.Read", description="For the help desk")
    assert created == {"@odata.context": created["@odata.context"], "id": policy_id, "deletedDateTime": None,
                       "displayName": "Just User.Read", "description": "For the help desk", "includes": [],
                       "excludes": []}
    path = f"{PGP}/{policy_id}"
    include = nw_admin.post(f"{path}/includes", json={"permissionType": "delegated",
                                                      "resourceApplication": MICROSOFT_GRAPH.upper(),
                                                      "permissions": [USER_READ]})
    assert include.status_code == 201, include.text
    include_body = include.json()
    assert include_body["@odata.context"].endswith(f"policies/permissionGrantPolicies('{policy_id}')/includes/$entity")
    assert {k: v for k, v in include_body.items() if k not in ("@odata.context", "id")} == {
        "permissionType": "delegated", "permissionClassification": "all", "resourceApplication": MICROSOFT_GRAPH,
        "permissions": [USER_READ], "clientApplicationIds": ["all"], "clientApplicationTenantIds": ["all"],
        "clientApplicationPublisherIds": ["all"], "clientApplicationsFromVerifiedPublisherOnly": False}
    exclude = nw_admin.post(f"{path}/excludes", json={"permissionType": "Delegated",
                                                      "clientApplicationsFromVerifiedPublisherOnly": True,
                                                      "clientApplicationPublisherIds": ["4719327"]})
    assert exclude.status_code == 201, exclude.text
    assert exclude.json()["permissionType"] == "delegated"

    got = nw_admin.get(path).json()
    assert [s["id"] for s in got["includes"]] == [include_body["id"]]
    assert [s["id"] for s in got["excludes"]] == [exclude.json()["id"]]
    listed = nw_admin.get(f"{path}/excludes").json()
    assert listed["@odata.context"].endswith(f"policies/permissionGrantPolicies('{policy_id}')/excludes")
    assert [s["clientApplicationPublisherIds"] for s in listed["value"]] == [["4719327"]]

    assert nw_admin.patch(path, json={"displayName": "Only User.Read"}).status_code == 204
    got = nw_admin.get(path).json()
    assert (got["displayName"], got["description"]) == ("Only User.Read", "For the help desk")

    assert nw_admin.delete(f"{path}/includes/{include_body['id']}").status_code == 204
    assert nw_admin.get(f"{path}/includes").json()["value"] == []
    _error(nw_admin.delete(f"{path}/includes/{include_body['id']}"), 404, "Request_ResourceNotFound")
    _error(nw_admin.delete(f"{path}/includes/{exclude.json()['id']}"), 404, "Request_ResourceNotFound")

    assert nw_admin.delete(path).status_code == 204
    _error(nw_admin.get(path), 404, "Request_ResourceNotFound")
    _error(nw_admin.delete(path), 404, "Request_ResourceNotFound")

    tenant = northwind.tenant_id
    added = audit_events(server, "Add permission grant policy", policy_id, tenant)
    updated = audit_events(server, "Update permission grant policy", policy_id, tenant)
    deleted = audit_events(server, "Delete permission grant policy", policy_id, tenant)
    assert (len(added), len(updated), len(deleted)) == (1, 4, 1)  # two sets added, a rename, a set removed
    assert {e["category"] for e in added + updated + deleted} == {"Policy"}
    assert {e["target_resources"][0]["type"] for e in added + updated + deleted} == {"Policy"}


def test_a_policy_can_be_created_with_its_condition_sets(server: RunningServer, northwind: Tenant,
                                                         nw_admin: httpx.Client) -> None:
    created = _create(nw_admin, includes=[{"@odata.type": "#microsoft.graph.permissionGrantConditionSet",
                                           "id": "ignored", "permissionType": "delegated",
                                           "permissionClassification": "low"}],
                      excludes=[{"permissionType": "delegated", "permissions": [MAIL_READ]}])
    try:
        assert [s["permissionClassification"] for s in created["includes"]] == ["low"]
        assert created["includes"][0]["id"] != "ignored"
        assert [s["permissions"] for s in created["excludes"]] == [[MAIL_READ]]
        settings = get_consent_settings(server.ctx, northwind.tenant_id)
        (stored,) = settings.find_policies((created["id"],))
        assert stored.includes[0].permission_classification == "low"
    finally:
        nw_admin.delete(f"{PGP}/{created['id']}")


def test_an_assigned_policy_grants_user_consent_and_cannot_be_deleted(
        server: RunningServer, northwind: Tenant, nw_admin: httpx.Client, restore_northwind: None) -> None:
    created = _create(nw_admin, includes=[{"permissionType": "delegated", "permissions": [USER_READ]}])
    entry = f"ManagePermissionGrantsForSelf.{created['id']}"
    assert _patch_assigned(nw_admin, [TEAM, CHAT, entry]).status_code == 204
    settings = get_consent_settings(server.ctx, northwind.tenant_id)
    assert settings.user_consent == "custom"
    assert [p.id for p in settings.self_policies] == [created["id"]]
    error = _error(nw_admin.delete(f"{PGP}/{created['id']}"), 400, "Request_BadRequest")
    assert "assigned" in error["message"]
    assert _patch_assigned(nw_admin, [TEAM, CHAT]).status_code == 204
    assert nw_admin.delete(f"{PGP}/{created['id']}").status_code == 204


@pytest.mark.parametrize(("body", "status", "message_part"), [
    ({}, 400, "Property 'id' is required"),
    ({"id": "has.dot"}, 400, "letters, digits"),
    ({"id": "x" * 129}, 400, "letters, digits"),
    ({"id": 7}, 400, "letters, digits"),
    ({"id": "microsoft-mine"}, 400, "reserved"),
    ({"id": "Microsoft-Mine"}, 400, "reserved"),
    ({"id": "ok-id", "displayName": "x" * 257}, 400, "displayName"),
    ({"id": "ok-id", "description": ["x"]}, 400, "description"),
    ({"id": "ok-id", "includes": {"permissionType": "delegated"}}, 400, "'includes' must be a list"),
    ({"id": "ok-id", "includes": ["delegated"]}, 400, "permissionGrantConditionSet object"),
    ({"id": "ok-id", "excludes": [{"permissionType": "delegated", "color": "red"}]}, 400, "'color'"),
    ({"id": "ok-id", "unknown": 1}, 400, "Property 'unknown'"),
])
def test_create_validation(nw_admin: httpx.Client, body: dict[str, Any], status: int, message_part: str) -> None:
    error = _error(nw_admin.post(PGP, json=body), status, "Request_BadRequest")
    assert message_part in error["message"]
    _error(nw_admin.get(f"{PGP}/ok-id"), 404, "Request_ResourceNotFound")


def test_a_duplicate_id_is_409_in_any_casing(nw_admin: httpx.Client) -> None:
    created = _create(nw_admin)
    try:
        _error(nw_admin.post(PGP, json={"id": created["id"].upper()}), 409, "Request_MultipleObjectsWithSameKeyValue")
    finally:
        nw_admin.delete(f"{PGP}/{created['id']}")


@pytest.mark.parametrize(("condition_set", "message_part"), [
    ({}, "Property 'permissionType' is required"),
    ({"permissionType": "delegatedUserConsentable"}, "built-in policies only"),
    ({"permissionType": "everything"}, "permissionType"),
    ({"permissionType": 1}, "permissionType"),
    ({"permissionType": "delegated", "permissionClassification": "urgent"}, "permissionClassification"),
    ({"permissionType": "delegated", "resourceApplication": "graph"}, "resourceApplication"),
    ({"permissionType": "delegated", "permissions": ["User.Read"]}, "GUIDs"),
    ({"permissionType": "delegated", "permissions": ["all", USER_READ]}, "cannot be combined"),
    ({"permissionType": "delegated", "permissions": []}, "a list of 1 to 100"),
    ({"permissionType": "delegated", "permissions": USER_READ}, "a list of 1 to 100"),
    ({"permissionType": "delegated", "permissions": [str(uuid.uuid4()) for _ in range(101)]}, "a list of 1 to 100"),
    ({"permissionType": "delegated", "clientApplicationIds": [None]}, "clientApplicationIds"),
    ({"permissionType": "delegated", "clientApplicationTenantIds": ["contoso.example"]},
     "clientApplicationTenantIds"),
    ({"permissionType": "delegated", "clientApplicationPublisherIds": ["not valid!"]}, "Partner (MPN) ids"),
    ({"permissionType": "delegated", "clientApplicationsFromVerifiedPublisherOnly": "true"}, "a boolean"),
    ({"permissionType": "delegated", "scopeSensitivityLabels": {}}, "'scopeSensitivityLabels'"),
])
def test_condition_set_validation(nw_admin: httpx.Client, condition_set: dict[str, Any], message_part: str) -> None:
    created = _create(nw_admin)
    try:
        for kind in ("includes", "excludes"):
            error = _error(nw_admin.post(f"{PGP}/{created['id']}/{kind}", json=condition_set), 400,
                           "Request_BadRequest")
            assert message_part in error["message"]
        got = nw_admin.get(f"{PGP}/{created['id']}").json()
        assert (got["includes"], got["excludes"]) == ([], [])
    finally:
        nw_admin.delete(f"{PGP}/{created['id']}")


def test_the_tenant_wide_limit_of_100_ids_per_collection_type(server: RunningServer, user_token: Callable[..., str],
                                                              graph: Graph) -> None:
    tenant = _new_tenant(server, "Limits")
    client = graph(user_token(tenant.admin, tenant=tenant.tenant_id))

    def ids(n: int) -> list[str]:
        return [str(uuid.uuid4()) for _ in range(n)]

    first = _create(client, includes=[{"permissionType": "delegated", "permissions": ids(60)}])
    second = _create(client, excludes=[{"permissionType": "delegated", "permissions": ids(40),
                                        "clientApplicationIds": ids(100)}])
    error = _error(client.post(f"{PGP}/{second['id']}/includes", json={"permissionType": "application",
                                                                     "permissions": ids(1)}),
                   400, "Request_BadRequest")
    assert "at most 100 'permissions' entries" in error["message"] and "101" in error["message"]
    error = _error(client.post(PGP, json={"id": _policy_id(), "includes": [
        {"permissionType": "delegated", "clientApplicationIds": ids(1)}]}), 400, "Request_BadRequest")
    assert "'clientApplicationIds'" in error["message"]
    # "all" is not counted, and other ID types have room of their own
    assert client.post(f"{PGP}/{second['id']}/includes", json={
        "permissionType": "application", "permissions": ["all"], "clientApplicationTenantIds": ids(100)}
    ).status_code == 201
    # removing a set makes room again
    set_id = first["includes"][0]["id"]
    assert client.delete(f"{PGP}/{first['id']}/includes/{set_id}").status_code == 204
    assert client.post(f"{PGP}/{second['id']}/includes", json={"permissionType": "application",
                                                             "permissions": ids(60)}).status_code == 201


def test_patch_of_a_custom_policy_validation(nw_admin: httpx.Client) -> None:
    created = _create(nw_admin, displayName="Name")
    path = f"{PGP}/{created['id']}"
    try:
        for body, part in (({"id": "renamed"}, "cannot be changed"), ({"displayName": 5}, "displayName"),
                           ({"includes": []}, "Property 'includes'"), ({"description": "d" * 1025}, "description")):
            assert part in _error(nw_admin.patch(path, json=body), 400, "Request_BadRequest")["message"]
        assert nw_admin.patch(path, json={"id": created["id"], "description": None}).status_code == 204
        assert nw_admin.get(path).json()["displayName"] == "Name"
        _error(nw_admin.patch(f"{PGP}/{_policy_id()}", json={"displayName": "x"}), 404, "Request_ResourceNotFound")
    finally:
        nw_admin.delete(path)


def test_addresses_that_name_no_policy_or_set_are_404(nw_admin: httpx.Client) -> None:
    for path in (f"{PGP}/no.such", f"{PGP}/{'x' * 200}", f"{PGP}/{_policy_id()}", f"{PGP}/{_policy_id()}/includes",
                 f"{PGP}/microsoft-company-admin/includes/not-a-guid"):
        _error(nw_admin.get(path) if "not-a-guid" not in path else nw_admin.delete(path), 404,
               "Request_ResourceNotFound")
    _error(nw_admin.delete(f"{PGP}/microsoft-company-admin/excludes/{uuid.uuid4()}"), 404,
           "Request_ResourceNotFound")
    _error(nw_admin.post(f"{PGP}/{_policy_id()}/excludes", json={"permissionType": "delegated"}), 404,
           "Request_ResourceNotFound")


def test_list_filter_top_skiptoken_and_count(nw_admin: httpx.Client) -> None:
    created = [_create(nw_admin, f"zz-page-{i}-{uuid.uuid4().hex[:6]}", displayName=f"Page {i}") for i in range(3)]
    try:
        only_builtin = nw_admin.get(PGP, params={"$filter": "startswith(id,'microsoft-')", "$count": "true"}).json()
        assert [p["id"] for p in only_builtin["value"]] == BUILTIN_IDS
        assert only_builtin["@odata.count"] == len(BUILTIN_IDS)
        by_name = nw_admin.get(PGP, params={"$filter": "displayName eq 'page 1' or id eq 'microsoft-company-admin'"})
        assert [p["id"] for p in by_name.json()["value"]] == ["microsoft-company-admin", created[1]["id"]]
        seen: list[str] = []
        url: str | None = f"{PGP}?$top=3"
        while url:
            page = nw_admin.get(url).json()
            assert len(page["value"]) <= 3
            seen += [p["id"] for p in page["value"]]
            url = page.get("@odata.nextLink")
        everything = [p["id"] for p in nw_admin.get(PGP).json()["value"]]
        assert seen == everything and len(everything) >= len(BUILTIN_IDS) + 3
        _error(nw_admin.get(PGP, params={"$filter": "includes/any(c: c/permissionType eq 'delegated')"}), 400,
               "Request_UnsupportedQuery")
        _error(nw_admin.get(PGP, params={"$skiptoken": "WyJ4IiwieSJd"}), 400, "Request_BadRequest")
        _error(nw_admin.get(f"{PGP}/microsoft-company-admin/includes", params={"$top": "1"}), 400,
               "Request_BadRequest")
    finally:
        for policy in created:
            nw_admin.delete(f"{PGP}/{policy['id']}")


# --- tenant isolation ---------------------------------------------------------------------------------------
def test_another_tenants_policy_is_invisible_and_untouchable(admin: httpx.Client, nw_admin: httpx.Client) -> None:
    theirs = _create(nw_admin, displayName="Northwind's",
                     includes=[{"permissionType": "delegated", "permissions": [USER_READ]}])
    path = f"{PGP}/{theirs['id']}"
    try:
        _error(admin.get(path), 404, "Request_ResourceNotFound")
        _error(admin.get(f"{path}/includes"), 404, "Request_ResourceNotFound")
        _error(admin.patch(path, json={"displayName": "Contoso's now"}), 404, "Request_ResourceNotFound")
        _error(admin.post(f"{path}/excludes", json={"permissionType": "delegated"}), 404, "Request_ResourceNotFound")
        _error(admin.delete(f"{path}/includes/{theirs['includes'][0]['id']}"), 404, "Request_ResourceNotFound")
        _error(admin.delete(path), 404, "Request_ResourceNotFound")
        assert theirs["id"] not in [p["id"] for p in admin.get(PGP).json()["value"]]
        error = _error(_patch_assigned(admin, [TEAM, CHAT, f"ManagePermissionGrantsForSelf.{theirs['id']}"]), 400,
                       "Request_BadRequest")
        assert theirs["id"] in error["message"]
        # the same id is free in Contoso: each tenant has its own policies
        ours = _create(admin, theirs["id"], displayName="Contoso's")
        assert admin.delete(f"{PGP}/{ours['id']}").status_code == 204
        got = nw_admin.get(path).json()
        assert (got["displayName"], len(got["includes"])) == ("Northwind's", 1)
    finally:
        nw_admin.delete(path)
    assert _assigned(admin) == [TEAM, CHAT]
