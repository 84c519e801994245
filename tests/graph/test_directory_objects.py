"""``/directoryObjects/{id}`` resolves users, groups, applications and service principals of the caller's
tenant, each with its ``@odata.type``; other tenants' ids and non-ids are 404."""

from __future__ import annotations

import uuid

GRAPH = "00000003-0000-0000-c000-000000000000"


def test_each_kind_of_object_is_found_with_its_type(graph, admin_token: str) -> None:
    with graph(admin_token) as client:
        me = client.get("/v1.0/me").json()
        sp = client.get(f"/v1.0/servicePrincipals(appId='{GRAPH}')").json()
        group = client.post("/v1.0/groups", json={"displayName": f"objects-{uuid.uuid4().hex[:6]}",
                                                  "mailEnabled": False, "mailNickname": "objects",
                                                  "securityEnabled": True}).json()
        app = client.post("/v1.0/applications", json={"displayName": "Directory object probe"}).json()
        for object_id, kind in ((me["id"], "user"), (sp["id"], "servicePrincipal"), (group["id"], "group"),
                                (app["id"], "application")):
            found = client.get(f"/v1.0/directoryObjects/{object_id}")
            assert found.status_code == 200, found.text
            assert found.json()["@odata.type"] == f"#microsoft.graph.{kind}"
            assert found.json()["id"] == object_id


def test_unknown_and_foreign_ids_are_not_found(graph, admin_token: str, other_tenant) -> None:
    with graph(admin_token) as client:
        for missing in (str(uuid.uuid4()), "not-a-guid", other_tenant.user_id, other_tenant.group_id):
            response = client.get(f"/v1.0/directoryObjects/{missing}")
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "Request_ResourceNotFound"


def test_a_token_is_required(graph) -> None:
    with graph(None) as client:
        assert client.get(f"/v1.0/directoryObjects/{uuid.uuid4()}").status_code == 401
