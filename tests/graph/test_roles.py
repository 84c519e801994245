"""``/directoryRoles`` and ``/roleManagement/directory/roleAssignments`` over HTTPS: the activated roles and
their members, assignments created and deleted with their audit records, permissions, the Global
Administrator an administrator cannot remove from herself or from the tenant, and tenant isolation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.graph.conftest import ADMIN, TEST_ACTOR, OtherTenant
from tests.graph.helpers import assert_graph_error as _error
from tests.graph.helpers import audit_events as _events
from tests.graph.helpers import user_id
from tests.support.server import RunningServer

from consentry.domain.directory import (
    CLOUD_APPLICATION_ADMINISTRATOR,
    GLOBAL_ADMINISTRATOR,
    GLOBAL_READER,
    PRIVILEGED_ROLE_ADMINISTRATOR,
    ROLE_TEMPLATES,
    User,
)
from consentry.services import directory
from consentry.services.demo import CONTOSO_TENANT_ID, DEMO_PASSWORD

Graph = Callable[..., httpx.Client]
ASSIGNMENTS = "/v1.0/roleManagement/directory/roleAssignments"


def _new_user(server: RunningServer, display_name: str = "Role holder") -> User:
    upn = f"r{uuid.uuid4().hex[:10]}@contoso.example"
    return directory.create_user(server.ctx, CONTOSO_TENANT_ID, upn, display_name, DEMO_PASSWORD, TEST_ACTOR)


def _assignment(principal_id: str, role: str, **extra: Any) -> dict[str, Any]:
    return {"principalId": principal_id, "roleDefinitionId": role, "directoryScopeId": "/", **extra}


def _roles(client: httpx.Client) -> dict[str, dict[str, Any]]:
    r = client.get("/v1.0/directoryRoles")
    assert r.status_code == 200, r.text
    return {role["roleTemplateId"]: role for role in r.json()["value"]}


# --- /directoryRoles --------------------------------------------------------------------------------------

def test_directory_roles_are_the_activated_templates_with_ids_of_their_own(
        admin_token: str, graph: Graph, app_token: Callable[..., str], other_tenant: OtherTenant) -> None:
    roles = _roles(graph(admin_token))
    assert set(roles) == set(ROLE_TEMPLATES)
    admin_role = roles[GLOBAL_ADMINISTRATOR.id]
    assert set(admin_role) == {"id", "deletedDateTime", "description", "displayName", "roleTemplateId"}
    assert admin_role["displayName"] == "Global Administrator"
    assert admin_role["id"] != GLOBAL_ADMINISTRATOR.id
    uuid.UUID(admin_role["id"])
    assert _roles(graph(admin_token))[GLOBAL_ADMINISTRATOR.id]["id"] == admin_role["id"]  # stable
    theirs = _roles(graph(app_token(other_tenant.tenant_id, ("RoleManagement.Read.Directory",))))
    assert theirs[GLOBAL_ADMINISTRATOR.id]["id"] != admin_role["id"]  # and different in every tenant


def test_a_directory_role_is_found_by_id_and_by_template_id(admin_token: str, graph: Graph) -> None:
    client = graph(admin_token)
    role = _roles(client)[GLOBAL_READER.id]
    assert client.get(f"/v1.0/directoryRoles/{role['id']}").json()["displayName"] == "Global Reader"
    by_template = client.get(f"/v1.0/directoryRoles(roleTemplateId='{GLOBAL_READER.id}')")
    assert by_template.json()["id"] == role["id"]
    _error(client.get(f"/v1.0/directoryRoles/{GLOBAL_READER.id}"), 404, "Request_ResourceNotFound")
    _error(client.get(f"/v1.0/directoryRoles/{uuid.uuid4()}"), 404, "Request_ResourceNotFound")


def test_directory_roles_filter_on_template_id_and_refuse_top(admin_token: str, graph: Graph) -> None:
    client = graph(admin_token)
    r = client.get("/v1.0/directoryRoles", params={"$filter": f"roleTemplateId eq '{GLOBAL_READER.id}'"})
    assert [role["displayName"] for role in r.json()["value"]] == ["Global Reader"]
    _error(client.get("/v1.0/directoryRoles", params={"$top": "1"}), 400, "Request_BadRequest")
    _error(client.get("/v1.0/directoryRoles", params={"$filter": "startswith(displayName,'G')"}), 400,
           "Request_UnsupportedQuery")


def test_role_members_are_the_users_holding_the_role(server: RunningServer, admin_token: str, graph: Graph) -> None:
    client = graph(admin_token)
    role = _roles(client)[GLOBAL_ADMINISTRATOR.id]
    members = client.get(f"/v1.0/directoryRoles/{role['id']}/members").json()
    assert members["@odata.context"].endswith("/v1.0/$metadata#directoryObjects")
    assert ADMIN in {m["userPrincipalName"] for m in members["value"]}
    assert all(m["@odata.type"] == "#microsoft.graph.user" for m in members["value"])


def test_role_members_are_added_and_removed_by_reference(server: RunningServer, admin_token: str,
                                                        graph: Graph) -> None:
    user = _new_user(server)
    client = graph(admin_token)
    role = _roles(client)[GLOBAL_READER.id]
    ref = {"@odata.id": f"{server.base_url}/v1.0/directoryObjects/{user.id}"}
    assert client.post(f"/v1.0/directoryRoles/{role['id']}/members/$ref", json=ref).status_code == 204
    members = client.get(f"/v1.0/directoryRoles/{role['id']}/members", params={"$top": "999"}).json()["value"]
    assert user.id in {m["id"] for m in members}
    _error(client.post(f"/v1.0/directoryRoles/{role['id']}/members/$ref", json=ref), 400, "Request_BadRequest")
    assert client.delete(f"/v1.0/directoryRoles/{role['id']}/members/{user.id}/$ref").status_code == 204
    _error(client.delete(f"/v1.0/directoryRoles/{role['id']}/members/{user.id}/$ref"), 404,
           "Request_ResourceNotFound")
    assert _events(server, "Add member to role", user.id)
    assert _events(server, "Remove member from role", user.id)


# --- /roleManagement/directory/roleAssignments ------------------------------------------------------------

def test_an_assignment_is_created_read_listed_and_deleted(server: RunningServer, admin_token: str,
                                                          graph: Graph) -> None:
    user = _new_user(server)
    client = graph(admin_token)
    r = client.post(ASSIGNMENTS, json=_assignment(user.id, CLOUD_APPLICATION_ADMINISTRATOR.id, **{
        "@odata.type": "#microsoft.graph.unifiedRoleAssignment"}))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["@odata.context"].endswith("/v1.0/$metadata#roleManagement/directory/roleAssignments/$entity")
    assert {k: created[k] for k in ("principalId", "roleDefinitionId", "directoryScopeId")} == {
        "principalId": user.id, "roleDefinitionId": CLOUD_APPLICATION_ADMINISTRATOR.id, "directoryScopeId": "/"}
    got = client.get(f"{ASSIGNMENTS}/{created['id']}").json()
    assert got["principalId"] == user.id
    listed = client.get(ASSIGNMENTS, params={"$filter": f"principalId eq '{user.id}'"}).json()["value"]
    assert [a["id"] for a in listed] == [created["id"]]
    [added] = _events(server, "Add member to role", user.id)
    assert added["category"] == "RoleManagement"
    modified = {m["displayName"]: m["newValue"] for m in added["target_resources"][0]["modifiedProperties"]}
    assert modified["Role.DisplayName"] == '"Cloud Application Administrator"'
    held = client.get(f"/v1.0/users/{user.id}/memberOf").json()["value"]
    assert [o["roleTemplateId"] for o in held] == [CLOUD_APPLICATION_ADMINISTRATOR.id]

    r = client.delete(f"{ASSIGNMENTS}/{created['id']}")
    assert r.status_code == 204, r.text
    _error(client.get(f"{ASSIGNMENTS}/{created['id']}"), 404, "Request_ResourceNotFound")
    assert _events(server, "Remove member from role", user.id)


def test_the_new_role_takes_effect_at_the_next_request(server: RunningServer, admin_token: str,
                                                       user_token: Callable[..., str], graph: Graph) -> None:
    upn = f"r{uuid.uuid4().hex[:10]}@contoso.example"
    user = directory.create_user(server.ctx, CONTOSO_TENANT_ID, upn, "Promoted", DEMO_PASSWORD, TEST_ACTOR)
    theirs = graph(user_token(upn))
    body = {"accountEnabled": True, "displayName": "By promoted", "mailNickname": "bypromoted",
            "userPrincipalName": f"p{uuid.uuid4().hex[:10]}@contoso.example",
            "passwordProfile": {"password": "Promoted-Create-1!"}}
    _error(theirs.post("/v1.0/users", json=body), 403, "Authorization_RequestDenied")
    r = graph(admin_token).post(ASSIGNMENTS, json=_assignment(user.id, GLOBAL_ADMINISTRATOR.id))
    assert r.status_code == 201
    assert theirs.post("/v1.0/users", json=body).status_code == 201


def test_assignments_are_filtered_by_role_and_paged(server: RunningServer, admin_token: str, graph: Graph) -> None:
    users = [_new_user(server) for _ in range(3)]
    client = graph(admin_token, ConsistencyLevel="eventual")
    made = {client.post(ASSIGNMENTS, json=_assignment(u.id, PRIVILEGED_ROLE_ADMINISTRATOR.id)).json()["id"]
            for u in users}
    r = client.get(ASSIGNMENTS, params={"$filter": f"roleDefinitionId eq '{PRIVILEGED_ROLE_ADMINISTRATOR.id}' "
                                                   "and directoryScopeId eq '/'", "$top": "2", "$count": "true"})
    seen: set[str] = set()
    while True:
        body = r.json()
        seen |= {a["id"] for a in body["value"]}
        if "@odata.nextLink" not in body:
            break
        r = client.get(body["@odata.nextLink"])
    assert made <= seen
    upper = client.get(ASSIGNMENTS, params={"$filter": f"principalId eq '{users[0].id.upper()}'"}).json()["value"]
    assert len(upper) == 1
    _error(graph(admin_token).get(ASSIGNMENTS, params={"$count": "true"}), 400, "Request_BadRequest",
           "$count is not currently supported.")


def test_a_duplicate_assignment_is_a_bad_request(server: RunningServer, admin_token: str, graph: Graph) -> None:
    user = _new_user(server)
    client = graph(admin_token)
    assert client.post(ASSIGNMENTS, json=_assignment(user.id, GLOBAL_READER.id)).status_code == 201
    _error(client.post(ASSIGNMENTS, json=_assignment(user.id, GLOBAL_READER.id)), 400, "Request_BadRequest",
           "A conflicting object with one or more of the specified property values is present in the directory.")


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"principalId": "PRINCIPAL", "roleDefinitionId": str(uuid.uuid4()), "directoryScopeId": "/"}, 404,
     "Request_ResourceNotFound"),
    ({"principalId": str(uuid.uuid4()), "roleDefinitionId": GLOBAL_READER.id, "directoryScopeId": "/"}, 404,
     "Request_ResourceNotFound"),
    ({"principalId": "PRINCIPAL", "roleDefinitionId": GLOBAL_READER.id, "directoryScopeId": "/administrativeUnits/x"},
     400, "Request_BadRequest"),
    ({"principalId": "PRINCIPAL", "directoryScopeId": "/"}, 400, "Request_BadRequest"),
    ({"principalId": "PRINCIPAL", "roleDefinitionId": GLOBAL_READER.id, "directoryScopeId": "/", "condition": "x"},
     400, "Request_BadRequest"),
])
def test_an_invalid_assignment_is_refused(server: RunningServer, admin_token: str, graph: Graph,
                                         body: dict[str, Any], status: int, code: str) -> None:
    user = _new_user(server)
    sent = {k: (user.id if v == "PRINCIPAL" else v) for k, v in body.items()}
    _error(graph(admin_token).post(ASSIGNMENTS, json=sent), status, code)


@pytest.mark.parametrize("upn", ["adele@contoso.example", "alex@contoso.example"])
def test_users_without_a_role_administering_role_may_read_but_not_assign(
        server: RunningServer, user_token: Callable[..., str], graph: Graph, upn: str) -> None:
    user = _new_user(server)
    client = graph(user_token(upn))
    assert client.get(ASSIGNMENTS).status_code == 200
    assert client.get("/v1.0/directoryRoles").status_code == 200
    _error(client.post(ASSIGNMENTS, json=_assignment(user.id, GLOBAL_ADMINISTRATOR.id)), 403,
           "Authorization_RequestDenied")


def test_an_app_with_role_management_read_reads_but_does_not_write(
        server: RunningServer, app_token: Callable[..., str], graph: Graph) -> None:
    user = _new_user(server)
    client = graph(app_token(roles=("RoleManagement.Read.Directory",)))
    assert client.get(ASSIGNMENTS).status_code == 200
    _error(client.post(ASSIGNMENTS, json=_assignment(user.id, GLOBAL_READER.id)), 403,
           "Authorization_RequestDenied")
    writer = graph(app_token(roles=("RoleManagement.ReadWrite.Directory",)))
    assert writer.post(ASSIGNMENTS, json=_assignment(user.id, GLOBAL_READER.id)).status_code == 201


# --- the tenant keeps a Global Administrator --------------------------------------------------------------

SELF_REMOVAL = "Removing self from Global Administrator built-in role is not allowed."
LAST_ONE = "The tenant must keep at least one enabled Global Administrator."


def _global_admin_assignment(client: httpx.Client, principal_id: str) -> str:
    r = client.get(ASSIGNMENTS, params={"$filter": f"principalId eq '{principal_id}' and "
                                                   f"roleDefinitionId eq '{GLOBAL_ADMINISTRATOR.id}'"})
    [assignment] = r.json()["value"]
    return str(assignment["id"])


def test_an_administrator_cannot_remove_her_own_global_administrator_role(server: RunningServer, admin_token: str,
                                                                         graph: Graph) -> None:
    client = graph(admin_token)
    me = user_id(server, ADMIN)
    assignment = _global_admin_assignment(client, me)
    role = _roles(client)[GLOBAL_ADMINISTRATOR.id]["id"]
    removals_before = len(_events(server, "Remove member from role", me))
    _error(client.delete(f"{ASSIGNMENTS}/{assignment}"), 400, "Request_BadRequest", SELF_REMOVAL)
    _error(client.delete(f"/v1.0/directoryRoles/{role}/members/{me}/$ref"), 400, "Request_BadRequest",
           SELF_REMOVAL)
    _error(client.delete(f"/v1.0/directoryRoles(roleTemplateId='{GLOBAL_ADMINISTRATOR.id}')/members/{me}/$ref"),
           400, "Request_BadRequest", SELF_REMOVAL)
    assert client.get(f"{ASSIGNMENTS}/{assignment}").status_code == 200
    assert len(_events(server, "Remove member from role", me)) == removals_before


def test_the_tenants_last_enabled_global_administrator_is_kept(
        server: RunningServer, graph: Graph, app_token: Callable[..., str]) -> None:
    domain = f"lone-{uuid.uuid4().hex[:8]}.example"
    tenant = directory.create_tenant(server.ctx, "Lone admin", [domain], TEST_ACTOR)
    admin = directory.create_user(server.ctx, tenant.id, f"admin@{domain}", "Lone Admin", None, TEST_ACTOR)
    directory.assign_role(server.ctx, tenant.id, admin.id, GLOBAL_ADMINISTRATOR.id, TEST_ACTOR)
    client = graph(app_token(tenant.id, ("RoleManagement.ReadWrite.Directory", "User.ReadWrite.All")))
    assignment = _global_admin_assignment(client, admin.id)
    role = _roles(client)[GLOBAL_ADMINISTRATOR.id]["id"]

    for refused in (client.delete(f"{ASSIGNMENTS}/{assignment}"),
                    client.delete(f"/v1.0/directoryRoles/{role}/members/{admin.id}/$ref"),
                    client.patch(f"/v1.0/users/{admin.id}", json={"accountEnabled": False, "jobTitle": "Gone"}),
                    client.delete(f"/v1.0/users/{admin.id}")):
        _error(refused, 400, "Request_BadRequest", LAST_ONE)
    kept = client.get(f"/v1.0/users/{admin.id}", params={"$select": "accountEnabled,jobTitle"}).json()
    assert (kept["accountEnabled"], kept["jobTitle"]) == (True, None)
    assert client.get(f"{ASSIGNMENTS}/{assignment}").status_code == 200
    for activity in ("Remove member from role", "Update user", "Delete user"):
        assert _events(server, activity, admin.id, tenant.id) == []

    deputy = directory.create_user(server.ctx, tenant.id, f"deputy@{domain}", "Deputy", None, TEST_ACTOR)
    assert client.post(ASSIGNMENTS, json=_assignment(deputy.id, GLOBAL_ADMINISTRATOR.id)).status_code == 201
    assert client.delete(f"{ASSIGNMENTS}/{assignment}").status_code == 204
    _error(client.delete(f"/v1.0/users/{deputy.id}"), 400, "Request_BadRequest", LAST_ONE)


# --- tenant isolation -------------------------------------------------------------------------------------

def test_another_tenants_assignments_and_roles_are_invisible_and_untouchable(
        server: RunningServer, admin_token: str, graph: Graph, app_token: Callable[..., str],
        other_tenant: OtherTenant) -> None:
    client = graph(admin_token)
    assignment = other_tenant.role_assignment_id
    _error(client.get(f"{ASSIGNMENTS}/{assignment}"), 404, "Request_ResourceNotFound")
    _error(client.delete(f"{ASSIGNMENTS}/{assignment}"), 404, "Request_ResourceNotFound")
    assert client.get(ASSIGNMENTS, params={"$filter": f"principalId eq '{other_tenant.user_id}'"}).json()[
        "value"] == []
    their_role = _roles(graph(app_token(other_tenant.tenant_id, ("RoleManagement.Read.Directory",))))[
        GLOBAL_ADMINISTRATOR.id]["id"]
    _error(client.get(f"/v1.0/directoryRoles/{their_role}"), 404, "Request_ResourceNotFound")
    _error(client.get(f"/v1.0/directoryRoles/{their_role}/members"), 404, "Request_ResourceNotFound")
    _error(client.delete(f"/v1.0/directoryRoles/{their_role}/members/{other_tenant.user_id}/$ref"), 404,
           "Request_ResourceNotFound")
    mine = _roles(client)[GLOBAL_ADMINISTRATOR.id]["id"]
    _error(client.delete(f"/v1.0/directoryRoles/{mine}/members/{other_tenant.user_id}/$ref"), 404,
           "Request_ResourceNotFound")
    with server.ctx.uow.read() as tx:
        assert tx.tenant(other_tenant.tenant_id).directory.find_role_assignment_by_id(assignment) is not None


def test_another_tenants_user_cannot_be_given_a_role_here(admin_token: str, graph: Graph,
                                                         other_tenant: OtherTenant) -> None:
    r = graph(admin_token).post(ASSIGNMENTS, json=_assignment(other_tenant.user_id, GLOBAL_ADMINISTRATOR.id))
    _error(r, 404, "Request_ResourceNotFound")
