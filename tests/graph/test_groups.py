"""``/groups`` and their members over HTTPS: shapes, OData options, ``$ref`` membership writes with their
audit records, permissions, and tenant isolation."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.graph.conftest import ADMIN, TEST_ACTOR, OtherTenant
from tests.graph.helpers import assert_graph_error as _error
from tests.graph.helpers import audit_events as _events
from tests.support.server import RunningServer

from consentry.domain.directory import Group, User
from consentry.services import directory
from consentry.services.demo import CONTOSO_TENANT_ID, DEMO_PASSWORD

Graph = Callable[..., httpx.Client]


def _new_user(server: RunningServer, display_name: str = "Member") -> User:
    upn = f"g{uuid.uuid4().hex[:10]}@contoso.example"
    return directory.create_user(server.ctx, CONTOSO_TENANT_ID, upn, display_name, DEMO_PASSWORD, TEST_ACTOR)


def _new_group(server: RunningServer, name: str | None = None, members: list[str] | None = None) -> Group:
    return directory.create_group(server.ctx, CONTOSO_TENANT_ID, name or f"Group {uuid.uuid4().hex[:8]}",
                                  TEST_ACTOR, member_ids=members)


def _create_body(name: str, **extra: Any) -> dict[str, Any]:
    return {"displayName": name, "mailEnabled": False, "mailNickname": name.replace(" ", "-")[:60],
            "securityEnabled": True, **extra}


def _ref(server: RunningServer, object_id: str) -> dict[str, str]:
    return {"@odata.id": f"{server.base_url}/v1.0/directoryObjects/{object_id}"}


def _member_ids(client: httpx.Client, group_id: str) -> set[str]:
    r = client.get(f"/v1.0/groups/{group_id}/members", params={"$top": "999"})
    assert r.status_code == 200, r.text
    return {m["id"] for m in r.json()["value"]}


# --- groups -----------------------------------------------------------------------------------------------

def test_an_administrator_creates_a_security_group(server: RunningServer, admin_token: str, graph: Graph) -> None:
    name = f"Engineering {uuid.uuid4().hex[:6]}"
    r = graph(admin_token).post("/v1.0/groups", json=_create_body(
        name, description="Builders", **{"@odata.type": "#microsoft.graph.group", "groupTypes": []}))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#groups/$entity")
    assert (body["displayName"], body["description"]) == (name, "Builders")
    assert (body["securityEnabled"], body["mailEnabled"], body["groupTypes"]) == (True, False, [])
    uuid.UUID(body["id"])
    [event] = _events(server, "Add group", body["id"])
    assert event["category"] == "GroupManagement"
    assert event["initiated_by"]["user"]["userPrincipalName"] == ADMIN


@pytest.mark.parametrize(("change", "property_name"), [
    ({"mailNickname": None}, "mailNickname"), ({"mailNickname": "has space"}, "mailNickname"),
    ({"displayName": ""}, "displayName"), ({"securityEnabled": False}, "securityEnabled"),
])
def test_an_invalid_group_is_a_bad_request(admin_token: str, graph: Graph, change: dict[str, Any],
                                          property_name: str) -> None:
    r = graph(admin_token).post("/v1.0/groups", json={**_create_body("Invalid"), **change})
    _error(r, 400, "Request_BadRequest",
           f"Invalid value specified for property '{property_name}' of resource 'Group'.")


@pytest.mark.parametrize("change", [{"groupTypes": ["Unified"]}, {"mailEnabled": True}, {"visibility": "Public"}])
def test_only_security_groups_can_be_created(admin_token: str, graph: Graph, change: dict[str, Any]) -> None:
    r = graph(admin_token).post("/v1.0/groups", json={**_create_body("Not security"), **change})
    _error(r, 400, "Request_BadRequest")


def test_a_user_without_a_role_reads_groups_but_may_not_write_them(
        server: RunningServer, user_token: Callable[..., str], graph: Graph) -> None:
    group = _new_group(server)
    user = _new_user(server)
    client = graph(user_token("adele@contoso.example"))
    assert client.get(f"/v1.0/groups/{group.id}").status_code == 200
    for response in (client.post("/v1.0/groups", json=_create_body("Adele's")),
                     client.patch(f"/v1.0/groups/{group.id}", json={"displayName": "x"}),
                     client.delete(f"/v1.0/groups/{group.id}"),
                     client.post(f"/v1.0/groups/{group.id}/members/$ref", json=_ref(server, user.id))):
        _error(response, 403, "Authorization_RequestDenied")


def test_an_app_with_group_read_all_reads_but_does_not_write(server: RunningServer, app_token: Callable[..., str],
                                                           graph: Graph) -> None:
    client = graph(app_token(roles=("Group.Read.All",)))
    assert client.get("/v1.0/groups").status_code == 200
    _error(client.post("/v1.0/groups", json=_create_body("App's")), 403, "Authorization_RequestDenied")


def test_groups_are_filtered_selected_counted_and_paged(server: RunningServer, admin_token: str,
                                                        graph: Graph) -> None:
    tag = uuid.uuid4().hex[:8]
    made = [_new_group(server, f"Paged {tag} {i}") for i in range(5)]
    client = graph(admin_token, ConsistencyLevel="eventual")
    r = client.get("/v1.0/groups", params={"$filter": f"startswith(displayName,'Paged {tag}')", "$top": "2",
                                           "$count": "true", "$select": "id,displayName",
                                           "$orderby": "displayName"})
    assert r.json()["@odata.count"] == 5
    names: list[str] = []
    while True:
        body = r.json()
        assert all(set(g) == {"id", "displayName"} for g in body["value"])
        names += [g["displayName"] for g in body["value"]]
        if "@odata.nextLink" not in body:
            break
        r = client.get(body["@odata.nextLink"])
    assert names == sorted(g.display_name for g in made)
    assert client.get("/v1.0/groups", params={"$filter": f"id eq '{made[0].id}'"}).json()["value"][0]["id"] == \
        made[0].id


def test_count_on_groups_needs_consistency_level(admin_token: str, graph: Graph) -> None:
    _error(graph(admin_token).get("/v1.0/groups", params={"$count": "true"}), 400, "Request_BadRequest",
           "$count is not currently supported.")


def test_patch_renames_a_group_and_delete_removes_it(server: RunningServer, admin_token: str, graph: Graph) -> None:
    group = _new_group(server)
    client = graph(admin_token)
    r = client.patch(f"/v1.0/groups/{group.id}", json={"@odata.type": "#microsoft.graph.group",
                                                        "displayName": "Renamed group", "description": None})
    assert r.status_code == 204, r.text
    assert client.get(f"/v1.0/groups/{group.id}").json()["displayName"] == "Renamed group"
    assert _events(server, "Update group", group.id)
    _error(client.patch(f"/v1.0/groups/{group.id}", json={"mailNickname": "x"}), 400, "Request_BadRequest")
    assert client.delete(f"/v1.0/groups/{group.id}").status_code == 204
    _error(client.get(f"/v1.0/groups/{group.id}"), 404, "Request_ResourceNotFound")
    assert _events(server, "Delete group", group.id)


@pytest.mark.parametrize("missing", ["0d7c1a8e-5b7f-4c55-9a51-2f4f0b6e9c11", "not-a-guid"])
def test_an_unknown_group_is_404(admin_token: str, graph: Graph, missing: str) -> None:
    client = graph(admin_token)
    _error(client.get(f"/v1.0/groups/{missing}"), 404, "Request_ResourceNotFound")
    _error(client.get(f"/v1.0/groups/{missing}/members"), 404, "Request_ResourceNotFound")
    _error(client.delete(f"/v1.0/groups/{missing}"), 404, "Request_ResourceNotFound")


# --- members ----------------------------------------------------------------------------------------------

def test_a_member_is_added_listed_and_removed_by_reference(server: RunningServer, admin_token: str,
                                                          graph: Graph) -> None:
    group = _new_group(server)
    user = _new_user(server, "Joiner")
    client = graph(admin_token)
    r = client.post(f"/v1.0/groups/{group.id}/members/$ref", json=_ref(server, user.id))
    assert r.status_code == 204, r.text
    members = client.get(f"/v1.0/groups/{group.id}/members").json()
    assert members["@odata.context"].endswith("/v1.0/$metadata#directoryObjects")
    [member] = members["value"]
    assert member["@odata.type"] == "#microsoft.graph.user"
    assert (member["id"], member["displayName"]) == (user.id, "Joiner")
    [added] = _events(server, "Add member to group", user.id)
    assert {t["id"] for t in added["target_resources"]} == {user.id, group.id}
    assert {m["displayName"]: m["newValue"] for m in added["target_resources"][0]["modifiedProperties"]} == {
        "Group.ObjectID": f'"{group.id}"', "Group.DisplayName": f'"{group.display_name}"'}

    assert client.delete(f"/v1.0/groups/{group.id}/members/{user.id}/$ref").status_code == 204
    assert _member_ids(client, group.id) == set()
    assert _events(server, "Remove member from group", user.id)
    _error(client.delete(f"/v1.0/groups/{group.id}/members/{user.id}/$ref"), 404, "Request_ResourceNotFound")


def test_adding_a_member_twice_is_a_bad_request_as_graph_says(server: RunningServer, admin_token: str,
                                                             graph: Graph) -> None:
    user = _new_user(server)
    group = _new_group(server, members=[user.id])
    r = graph(admin_token).post(f"/v1.0/groups/{group.id}/members/$ref", json=_ref(server, user.id))
    _error(r, 400, "Request_BadRequest", "One or more added object references already exist for the following "
                                         "modified properties: 'members'.")


@pytest.mark.parametrize("reference", [
    {"@odata.id": "not a url"}, {}, {"id": "x"}, {"@odata.id": "https://graph.microsoft.com/v1.0/me"}])
def test_a_malformed_reference_is_a_bad_request(server: RunningServer, admin_token: str, graph: Graph,
                                               reference: dict[str, str]) -> None:
    group = _new_group(server)
    _error(graph(admin_token).post(f"/v1.0/groups/{group.id}/members/$ref", json=reference), 400,
           "Request_BadRequest")


def test_adding_an_unknown_object_is_404(server: RunningServer, admin_token: str, graph: Graph) -> None:
    group = _new_group(server)
    r = graph(admin_token).post(f"/v1.0/groups/{group.id}/members/$ref", json=_ref(server, str(uuid.uuid4())))
    _error(r, 404, "Request_ResourceNotFound")


def test_members_are_paged_and_filtered(server: RunningServer, admin_token: str, graph: Graph) -> None:
    users = [_new_user(server, f"Crew {i}") for i in range(5)]
    group = _new_group(server, members=[u.id for u in users])
    client = graph(admin_token)
    first = client.get(f"/v1.0/groups/{group.id}/members", params={"$top": "3"}).json()
    second = client.get(first["@odata.nextLink"]).json()
    assert "@odata.nextLink" not in second
    assert {m["id"] for m in first["value"] + second["value"]} == {u.id for u in users}
    only = client.get(f"/v1.0/groups/{group.id}/members", params={"$filter": "displayName eq 'Crew 3'"}).json()
    assert [m["id"] for m in only["value"]] == [users[3].id]


def test_a_deleted_group_takes_its_memberships_with_it(server: RunningServer, admin_token: str,
                                                      graph: Graph) -> None:
    user = _new_user(server)
    group = _new_group(server, members=[user.id])
    client = graph(admin_token)
    assert client.delete(f"/v1.0/groups/{group.id}").status_code == 204
    assert client.get(f"/v1.0/users/{user.id}/memberOf").json()["value"] == []


# --- tenant isolation -------------------------------------------------------------------------------------

def test_another_tenants_group_is_invisible_and_untouchable(server: RunningServer, admin_token: str, graph: Graph,
                                                           other_tenant: OtherTenant) -> None:
    client = graph(admin_token)
    group = other_tenant.group_id
    mine = _new_user(server)
    _error(client.get(f"/v1.0/groups/{group}"), 404, "Request_ResourceNotFound")
    _error(client.get(f"/v1.0/groups/{group}/members"), 404, "Request_ResourceNotFound")
    _error(client.patch(f"/v1.0/groups/{group}", json={"displayName": "Pwned"}), 404, "Request_ResourceNotFound")
    _error(client.post(f"/v1.0/groups/{group}/members/$ref", json=_ref(server, mine.id)), 404,
           "Request_ResourceNotFound")
    _error(client.delete(f"/v1.0/groups/{group}/members/{other_tenant.user_id}/$ref"), 404,
           "Request_ResourceNotFound")
    _error(client.delete(f"/v1.0/groups/{group}"), 404, "Request_ResourceNotFound")
    assert client.get("/v1.0/groups", params={"$filter": f"id eq '{group}'"}).json()["value"] == []
    with server.ctx.uow.read() as tx:
        theirs = tx.tenant(other_tenant.tenant_id).directory.find_group(group)
    assert theirs is not None
    assert (theirs.display_name, theirs.member_ids) == ("Fabrikam staff", (other_tenant.user_id,))


def test_another_tenants_user_cannot_be_added_to_my_group(server: RunningServer, admin_token: str, graph: Graph,
                                                         other_tenant: OtherTenant) -> None:
    group = _new_group(server)
    r = graph(admin_token).post(f"/v1.0/groups/{group.id}/members/$ref", json=_ref(server, other_tenant.user_id))
    _error(r, 404, "Request_ResourceNotFound")
    assert _member_ids(graph(admin_token), group.id) == set()
