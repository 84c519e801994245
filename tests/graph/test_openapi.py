"""The Graph API's OpenAPI document at ``{base}/v1.0/openapi.json``: served without a token, a valid OpenAPI
3.1 document, listing the resources of issue 3 with their path parameters, the bearer security scheme, Graph's
error envelope, and response schemas that the server's real responses match."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema_rs
import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR
from tests.support.server import RunningServer

Graph = Callable[..., httpx.Client]
PARAMETER = re.compile(r"\{([^}]+)\}")

# (method, path with its parameters written {}) that the document must list: issue 3's resources.
REQUIRED = {
    ("get", "/me"), ("patch", "/me"), ("get", "/me/memberOf"),
    ("get", "/users"), ("post", "/users"), ("get", "/users/{}"), ("patch", "/users/{}"), ("delete", "/users/{}"),
    ("get", "/users/{}/memberOf"),
    ("get", "/groups"), ("post", "/groups"), ("get", "/groups/{}"), ("patch", "/groups/{}"),
    ("delete", "/groups/{}"), ("get", "/groups/{}/members"), ("post", "/groups/{}/members/$ref"),
    ("delete", "/groups/{}/members/{}/$ref"),
    ("get", "/directoryRoles"), ("get", "/directoryRoles/{}"), ("get", "/directoryRoles/{}/members"),
    ("post", "/directoryRoles/{}/members/$ref"), ("delete", "/directoryRoles/{}/members/{}/$ref"),
    ("get", "/roleManagement/directory/roleAssignments"), ("post", "/roleManagement/directory/roleAssignments"),
    ("get", "/roleManagement/directory/roleAssignments/{}"),
    ("delete", "/roleManagement/directory/roleAssignments/{}"),
    ("get", "/organization"), ("get", "/organization/{}"),
    ("get", "/applications"), ("post", "/applications"), ("get", "/applications/{}"),
    ("patch", "/applications/{}"), ("delete", "/applications/{}"), ("post", "/applications/{}/addPassword"),
    ("post", "/applications/{}/removePassword"), ("post", "/applications/{}/addKey"),
    ("post", "/applications/{}/removeKey"),
    ("get", "/servicePrincipals"), ("post", "/servicePrincipals"), ("get", "/servicePrincipals/{}"),
    ("patch", "/servicePrincipals/{}"), ("delete", "/servicePrincipals/{}"),
    ("get", "/servicePrincipals/{}/appRoleAssignments"), ("post", "/servicePrincipals/{}/appRoleAssignments"),
    ("delete", "/servicePrincipals/{}/appRoleAssignments/{}"),
    ("get", "/servicePrincipals/{}/appRoleAssignedTo"), ("post", "/servicePrincipals/{}/appRoleAssignedTo"),
    ("delete", "/servicePrincipals/{}/appRoleAssignedTo/{}"),
    ("get", "/servicePrincipals/{}/oauth2PermissionGrants"),
    ("get", "/servicePrincipals/{}/delegatedPermissionClassifications"),
    ("post", "/servicePrincipals/{}/delegatedPermissionClassifications"),
    ("delete", "/servicePrincipals/{}/delegatedPermissionClassifications/{}"),
    ("get", "/oauth2PermissionGrants"), ("post", "/oauth2PermissionGrants"), ("get", "/oauth2PermissionGrants/{}"),
    ("patch", "/oauth2PermissionGrants/{}"), ("delete", "/oauth2PermissionGrants/{}"),
    ("get", "/directory/deletedItems/microsoft.graph.servicePrincipal"),
    ("get", "/directory/deletedItems/microsoft.graph.application"), ("get", "/directory/deletedItems/{}"),
    ("post", "/directory/deletedItems/{}/restore"), ("delete", "/directory/deletedItems/{}"),
    ("get", "/auditLogs/directoryAudits"), ("get", "/auditLogs/directoryAudits/{}"),
}
METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def document(server: RunningServer) -> dict[str, Any]:
    with server.client() as client:
        response = client.get("/v1.0/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = response.json()
    return doc


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for path, item in document["paths"].items()
            for method, operation in item.items() if method in METHODS]


def _validator(document: dict[str, Any], name: str) -> jsonschema_rs.Validator:
    """A validator for ``#/components/schemas/{name}`` with the document's other schemas in reach."""
    return jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}",
                                        "components": document["components"]})


def test_the_document_is_served_without_a_token_and_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    errors = [str(e) for e in OPENAPI_31_VALIDATOR.iter_errors(document)]
    assert not errors, errors[:5]
    assert document["servers"] == [{"url": "/v1.0"}]
    for schema in document["components"]["schemas"].values():  # each compiles as JSON Schema, its $refs resolve
        jsonschema_rs.validator_for({**schema, "components": document["components"]})
    operation_ids = [o["operationId"] for _, _, o in _operations(document)]
    assert len(operation_ids) == len(set(operation_ids))


def test_it_lists_every_resource_of_the_graph_subset(document: dict[str, Any]) -> None:
    listed = {(method, PARAMETER.sub("{}", path)) for method, path, _ in _operations(document)}
    assert REQUIRED - listed == set()


def test_every_path_parameter_is_declared_and_nothing_else_is(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        declared = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        assert declared == PARAMETER.findall(path), (method, path)
        assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path")


def test_every_operation_needs_the_bearer_token(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"]}
    assert document["security"] == [{"bearerAuth": []}]
    for method, path, operation in _operations(document):
        assert operation["security"] == [{"bearerAuth": []}], (method, path)


def test_errors_are_graphs_envelope_and_success_codes_are_graphs(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for status in ("400", "401", "403", "404", "409"):
        schema = document["components"]["responses"][f"Error{status}"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ODataError"}
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)
        for status in ("400", "401", "403", "404", "409"):
            assert responses[status] == {"$ref": f"#/components/responses/Error{status}"}, (method, path, status)
        successes = {s for s in responses if s.startswith("2")}
        action = path.rsplit("/", 1)[-1] in ("addPassword", "addKey", "restore")
        expected = {"get": {"200"}, "patch": {"204"}, "delete": {"204"},
                    "post": {"200"} if action else {"201"}}[method]
        if method == "post" and path.endswith(("/$ref", "/removePassword", "/removeKey")):
            expected = {"204"}
        assert successes == expected, (method, path, successes)
        if "204" in responses:
            assert "content" not in responses["204"]
        for status in successes - {"204"}:
            assert "schema" in responses[status]["content"]["application/json"], (method, path)


def test_collections_document_graphs_shape(document: dict[str, Any]) -> None:
    users = document["paths"]["/users"]["get"]
    assert users["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/userCollection"}
    collection = document["components"]["schemas"]["userCollection"]
    assert set(collection["properties"]) == {"@odata.context", "@odata.nextLink", "@odata.count", "value"}
    assert collection["required"] == ["value"]
    assert {p["name"] for p in users["parameters"]} == {"$filter", "$select", "$top", "$orderby", "$count",
                                                        "$skiptoken", "ConsistencyLevel"}
    user = document["components"]["schemas"]["user"]
    assert user["additionalProperties"] is True and user["required"] == ["id"]


def test_real_responses_match_their_schemas(server: RunningServer, admin_token: str, graph: Graph,
                                            document: dict[str, Any]) -> None:
    admin = graph(admin_token)
    page = admin.get("/v1.0/servicePrincipals", params={"$top": "2"})
    assert page.status_code == 200 and "@odata.nextLink" in page.json()
    _validator(document, "servicePrincipalCollection").validate(page.json())
    first = page.json()["value"][0]
    got = admin.get(f"/v1.0/servicePrincipals/{first['id']}")
    _validator(document, "servicePrincipal").validate(got.json())
    _validator(document, "userCollection").validate(admin.get("/v1.0/users").json())
    _validator(document, "user").validate(admin.get("/v1.0/me").json())
    _validator(document, "organizationCollection").validate(admin.get("/v1.0/organization").json())
    _validator(document, "directoryAuditCollection").validate(
        admin.get("/v1.0/auditLogs/directoryAudits", params={"$top": "5"}).json())
    _validator(document, "oauth2PermissionGrantCollection").validate(admin.get("/v1.0/oauth2PermissionGrants").json())
    for failure in (graph(None).get("/v1.0/users"), admin.get(f"/v1.0/users/{first['id']}"),
                    admin.get("/v1.0/users", params={"$top": "0"})):
        assert failure.status_code in (400, 401, 404)
        _validator(document, "ODataError").validate(failure.json())
    wrong = {"error": {"code": "x", "message": "y"}}  # no innerError
    assert not _validator(document, "ODataError").is_valid(wrong)
