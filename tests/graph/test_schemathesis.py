"""Schemathesis against the Graph API's own OpenAPI document, over TLS on the session server.

One test per documented operation, listed from the routes at collection time and run against the document
the server serves, with a delegated Global Administrator token. Every response must be no 5xx
(``not_a_server_error``), have a status the document lists (``status_code_conformance``) and a body that
matches the document's schema for that status (``response_schema_conformance``). Each operation gets, all
deterministic (``derandomize``):

- positive and negative examples with everything generated: path ids, query options, bodies;
- unless it is a DELETE, positive examples on objects that exist (path ids of seeded objects) with valid
  OData query options, so that real entities and collections are checked against their schemas, and the
  ``@odata.nextLink`` of a first page is followed and checked too.

The run happens in a tenant of its own (``Schemathesis``, with its own administrator and seeded objects),
so that whatever the examples create or change never shows in the other tests' tenants. DELETEs only ever
get generated ids, so no example deletes an existing object. ``PATCH /me`` is left out: it would change
(possibly disable) the administrator whose token the run uses.

Query options that once crashed the server are kept as explicit examples, sent to every collection.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import msal
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from tests.graph.conftest import GRAPH_DEFAULT, TEST_ACTOR
from tests.support.server import RunningServer

from consentry.domain.apps import Application
from consentry.domain.builtin import GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.domain.ids import new_guid
from consentry.runtime import Runtime
from consentry.services import apps, deleted_items, directory, grants
from consentry.services.demo import DEMO_PASSWORD, graph_cli_scope
from consentry.web.graph.app import create_graph_app

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
EXCLUDED = {("PATCH", "/me")}
GENERATED_EXAMPLES = {"GET": (20, 8), "write": (10, 6)}  # (positive, negative) per operation
EXISTING_EXAMPLES = {"GET": 12, "write": 8}
HYPOTHESIS = settings(derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
COLLECTION_QUERIES: tuple[dict[str, str], ...] = (
    {}, {"$top": "1"}, {"$top": "2", "$select": "id,displayName"}, {"$orderby": "displayName"},
    {"$filter": "displayName eq 'Schemathesis'"}, {"$count": "true"}, {"$top": "1", "$count": "true"})
EVENTUAL = {"ConsistencyLevel": "eventual"}  # what $count on directory objects needs, on every page
ENTITY_QUERIES: tuple[dict[str, str], ...] = ({}, {"$select": "id"}, {"$select": "id,displayName"})
pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")  # MSAL's ROPC


def _skiptoken(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


# Query options that crashed the server once (500), kept as explicit examples for every collection.
HOSTILE_QUERIES: tuple[dict[str, str], ...] = (
    {"$top": "\u00b2"},  # a digit to str.isdigit(), not to int()
    {"$filter": "id eq 99999999999999999999999"},  # no database integer holds it
    {"$skiptoken": _skiptoken([2**70, "x"])},
    {"$skiptoken": _skiptoken(["x", 2**70])},
    {"$filter": "activityDateTime ge 9999-12-31T23:59:59-14:00"},  # after the year 9999 in UTC
    {"$filter": "activityDateTime ge 2026-02-30T00:00:00Z"},  # no such day
    {"$skiptoken": _skiptoken(["9999-12-31T23:59:59-14:00", "x"])},
)


def _operations() -> list[tuple[str, str]]:
    """Every documented (method, path), from the routes themselves (no runtime needed to list them)."""
    document = create_graph_app(cast(Runtime, None)).openapi()
    found = [(method.upper(), path) for path, operations in document["paths"].items() for method in operations]
    return [o for o in found if o not in EXCLUDED]


@dataclass(frozen=True)
class Target:
    schema: Any
    base_url: str
    session: requests.Session
    headers: dict[str, str]
    verify: str
    ids: dict[str, str]  # path parameter -> the id of an existing object
    ids_by_path: dict[str, dict[str, str]]  # where one parameter name means different objects

    def existing(self, path: str, names: list[str]) -> dict[str, str] | None:
        """Ids of existing objects for every parameter of ``path``, or None if one is unknown."""
        known = {**self.ids, **self.ids_by_path.get(path, {})}
        return {n: known[n] for n in names} if all(n in known for n in names) else None


@pytest.fixture(scope="module")
def target(server: RunningServer) -> Iterator[Target]:
    """The served document; a tenant of its own with an administrator's token and one of each object."""
    ctx = server.ctx
    domain = f"schemathesis-{uuid.uuid4().hex[:8]}.example"
    tenant = directory.create_tenant(ctx, "Schemathesis", [domain], TEST_ACTOR).id
    admin = directory.create_user(ctx, tenant, f"admin@{domain}", "Schemathesis Admin", DEMO_PASSWORD, TEST_ACTOR)
    role_assignment = directory.assign_role(ctx, tenant, admin.id, "Global Administrator", TEST_ACTOR)
    grants.add_grant(ctx, tenant, GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH, ALL_PRINCIPALS, graph_cli_scope(),
                     TEST_ACTOR)
    user = directory.create_user(ctx, tenant, f"sam@{domain}", "Sam Schemathesis", DEMO_PASSWORD, TEST_ACTOR)
    group = directory.create_group(ctx, tenant, "Schemathesis group", TEST_ACTOR, member_ids=[user.id])
    app = apps.register_application(ctx, tenant, Application(
        id=new_guid(), app_id=new_guid(), tenant_id=tenant, display_name="Schemathesis app",
        sign_in_audience="AzureADMultipleOrgs"), TEST_ACTOR)
    sp = apps.find_service_principal(ctx, tenant, app_id=app.app_id)
    assignment = grants.add_app_role_assignment(ctx, tenant, principal_id=sp.id, resource_id=MICROSOFT_GRAPH,
                                                app_role="Application.Read.All", actor=TEST_ACTOR)
    grant = grants.add_grant(ctx, tenant, app.app_id, MICROSOFT_GRAPH, ALL_PRINCIPALS, "User.Read", TEST_ACTOR)
    gone = apps.register_application(ctx, tenant, Application(
        id=new_guid(), app_id=new_guid(), tenant_id=tenant, display_name="Schemathesis deleted app"), TEST_ACTOR)
    deleted = deleted_items.soft_delete_application(ctx, tenant, gone.id, TEST_ACTOR)

    public = msal.PublicClientApplication(GRAPH_COMMAND_LINE_TOOLS, authority=f"{server.base_url}/{tenant}",
                                          instance_discovery=False)
    result = public.acquire_token_by_username_password(admin.user_principal_name, DEMO_PASSWORD,
                                                       scopes=GRAPH_DEFAULT)
    assert "access_token" in result, result
    verify = str(server.ca_path)
    headers = {"Authorization": f"Bearer {result['access_token']}"}
    session = requests.Session()
    session.verify = verify
    base_url = f"{server.base_url}/v1.0"
    roles = session.get(f"{base_url}/directoryRoles", headers=headers, timeout=10).json()["value"]
    audits = session.get(f"{base_url}/auditLogs/directoryAudits?$top=1", headers=headers, timeout=10).json()
    ids = {"user_id": user.id, "member_id": user.id, "group_id": group.id, "organization_id": tenant,
           "role_id": next(r["id"] for r in roles if r["displayName"] == "Global Administrator"),
           "audit_id": audits["value"][0]["id"], "item_id": deleted.id, "app_object_id": app.id, "sp_id": sp.id,
           "grant_id": grant.id}
    ids_by_path = {
        "/roleManagement/directory/roleAssignments/{assignment_id}": {"assignment_id": role_assignment.id},
        "/servicePrincipals/{sp_id}/appRoleAssignments/{assignment_id}": {"assignment_id": assignment.id},
        "/servicePrincipals/{sp_id}/appRoleAssignedTo/{assignment_id}": {"sp_id": assignment.resource_id,
                                                                          "assignment_id": assignment.id},
        "/servicePrincipals/{sp_id}/appRoleAssignedTo": {"sp_id": assignment.resource_id},
    }
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", verify=verify)
    yield Target(schema, base_url, session, headers, verify, ids, ids_by_path)
    session.close()


def _negatable(definition: dict[str, Any]) -> bool:
    """Whether any input can be invalid: a body, or a parameter that is not just any string."""
    return "requestBody" in definition or any(p["schema"] != {"type": "string"}
                                              for p in definition.get("parameters", []))


def _is_collection(definition: dict[str, Any]) -> bool:
    return any(p["name"] == "$top" for p in definition.get("parameters", []))


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda v: v)
def test_operation_conforms_to_the_document(target: Target, method: str, path: str) -> None:
    operation = target.schema[path][method]
    definition = target.schema.raw_schema["paths"][path][method.lower()]
    kind = "GET" if method == "GET" else "write"

    def call(case: Any) -> Any:
        return case.call_and_validate(base_url=target.base_url, session=target.session, headers=target.headers,
                                      checks=CHECKS, verify=target.verify)

    # Everything generated.
    positive, negative = GENERATED_EXAMPLES[kind]
    modes = [(GenerationMode.POSITIVE, positive)]
    if _negatable(definition):
        modes.append((GenerationMode.NEGATIVE, negative))
    for mode, examples in modes:
        @settings(HYPOTHESIS, max_examples=examples)
        @given(case=operation.as_strategy(generation_mode=mode, headers=dict(target.headers)))
        def generated(case: Any) -> None:
            call(case)

        generated()

    # Existing objects, with valid query options.
    names = [p["name"] for p in definition.get("parameters", []) if p["in"] == "path"]
    existing = target.existing(path, names)
    if method == "DELETE" or existing is None:
        return
    queries = COLLECTION_QUERIES if _is_collection(definition) else ENTITY_QUERIES

    @settings(HYPOTHESIS, max_examples=EXISTING_EXAMPLES[kind])
    @given(case=operation.as_strategy(path_parameters=existing, headers=dict(target.headers)),
           query=st.sampled_from(queries))
    def on_existing(case: Any, query: dict[str, str]) -> None:
        if method == "GET":
            case.query = dict(query)
            case.headers = {**(case.headers or {}), **EVENTUAL}
        response = call(case)
        link = response.json().get("@odata.nextLink") if response.status_code == 200 else None
        if link:
            page = target.session.get(link, headers={**target.headers, **EVENTUAL}, timeout=10)
            assert page.status_code == 200, page.text
            operation.validate_response(page)

    on_existing()


@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=lambda q: "&".join(f"{k}={v[:30]}" for k, v in q.items()))
def test_hostile_query_options_are_refused_on_every_collection(target: Target, query: dict[str, str]) -> None:
    for path, operations in target.schema.raw_schema["paths"].items():
        definition = operations.get("get")
        if definition is None or not _is_collection(definition):
            continue
        names = [p["name"] for p in definition.get("parameters", []) if p["in"] == "path"]
        case = target.schema[path]["GET"].Case(path_parameters=target.existing(path, names) or {}, query=dict(query),
                                               headers={**target.headers, **EVENTUAL})
        response = case.call_and_validate(base_url=target.base_url, session=target.session, checks=CHECKS,
                                          verify=target.verify)
        # 400, or 200 where the option does not apply (/organization has one item and no paging).
        assert response.status_code in (200, 400), (path, response.text)
