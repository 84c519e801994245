"""``/auditLogs/directoryAudits``: changes made through the services (as the CLI makes them) and through Graph
appear with Entra's activity names, categories and record shape (spec §9); ``$filter``, ordering and
paging work; bad queries are 400; the log is the caller's tenant's only and needs AuditLog.Read.All plus a
reader role.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.graph.helpers import assert_graph_error as _error
from tests.support.server import RunningServer

from consentry.domain.apps import Application
from consentry.domain.ids import NIL_GUID, new_guid
from consentry.domain.odata import encode_skiptoken
from consentry.services import apps
from consentry.services.context import CLI, Actor
from consentry.services.demo import APPLE_TENANT_ID, CONTOSO_TENANT_ID

pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")

AUDITS = "/v1.0/auditLogs/directoryAudits"
ADMIN = "admin@contoso.example"
ADELE = "adele@contoso.example"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
Graph = Callable[..., httpx.Client]


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _register(server: RunningServer, actor: Actor, tenant_id: str = CONTOSO_TENANT_ID,
              name: str = "audit log test") -> Application:
    return apps.register_application(server.ctx, tenant_id, Application(
        id=new_guid(), app_id=new_guid(), tenant_id=tenant_id, display_name=name), actor)


def _tester() -> Actor:
    """A made-up initiator, so that a test can find exactly its own records with initiatedBy/user/id."""
    return Actor("user", id=new_guid(), name=f"auditor-{new_guid()[:8]}@contoso.example", ip_address="203.0.113.7")


def _get(client: httpx.Client, params: dict[str, str] | None = None, path: str = AUDITS) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return dict(response.json())


def _all_pages(client: httpx.Client, params: dict[str, str]) -> list[list[dict[str, Any]]]:
    pages = []
    body = _get(client, params)
    pages.append(body["value"])
    while "@odata.nextLink" in body:
        body = _get(client, path=body["@odata.nextLink"])
        pages.append(body["value"])
    return pages


def _since(server: RunningServer) -> str:
    return server.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- what is recorded ---------------------------------------------------------------------------------
def test_changes_made_through_the_services_appear_with_entra_names(
        server: RunningServer, admin_token: str, graph: Graph) -> None:
    since = _since(server)
    app = _register(server, CLI, name="audited through the CLI")
    body = _get(graph(admin_token), {"$filter": f"activityDateTime ge {since} and category eq 'ApplicationManagement'"})
    assert body["@odata.context"].endswith("$metadata#auditLogs/directoryAudits")
    mine = {e["activityDisplayName"]: e for e in body["value"]
            if e["targetResources"][0]["displayName"] == "audited through the CLI"}
    assert set(mine) == {"Add application", "Add service principal"}

    added = mine["Add application"]
    assert set(added) == {"id", "category", "correlationId", "result", "resultReason", "activityDisplayName",
                          "activityDateTime", "loggedByService", "operationType", "initiatedBy", "targetResources",
                          "additionalDetails"}
    assert GUID.match(added["id"]) and GUID.match(added["correlationId"])
    assert (added["category"], added["operationType"], added["result"], added["loggedByService"]) == (
        "ApplicationManagement", "Add", "success", "Core Directory")
    assert datetime.fromisoformat(added["activityDateTime"]) == server.clock.now()
    assert added["initiatedBy"]["user"] is None
    assert added["initiatedBy"]["app"] == {"appId": None, "displayName": "Consentry CLI", "servicePrincipalId": None,
                                           "servicePrincipalName": None}
    [target] = added["targetResources"]
    assert {k: v for k, v in target.items() if k != "modifiedProperties"} == {
        "id": app.id, "displayName": "audited through the CLI", "type": "Application", "userPrincipalName": None,
        "groupType": None}
    assert all(set(m) == {"displayName", "oldValue", "newValue"} for m in target["modifiedProperties"])
    sp_target = mine["Add service principal"]["targetResources"][0]
    assert sp_target["type"] == "ServicePrincipal"
    modified = {m["displayName"]: m for m in sp_target["modifiedProperties"]}
    assert modified["AccountEnabled"] == {"displayName": "AccountEnabled", "oldValue": None, "newValue": '"True"'}
    assert modified["AppPrincipalId"]["newValue"] == json.dumps(app.app_id)


def test_changes_made_through_graph_are_recorded_as_the_signed_in_user(
        server: RunningServer, admin_token: str, graph: Graph) -> None:
    app = _register(server, _tester(), name="audited through graph")
    sp = apps.find_service_principal(server.ctx, CONTOSO_TENANT_ID, app_id=app.app_id)
    admin = graph(admin_token)
    assert admin.patch(f"/v1.0/servicePrincipals/{sp.id}", json={"accountEnabled": False}).status_code == 204

    admin_id = _claims(admin_token)["oid"]
    body = _get(admin, {"$filter": f"initiatedBy/user/id eq '{admin_id}' and "
                                   "activityDisplayName eq 'Update service principal'", "$top": "999"})
    [event] = [e for e in body["value"] if e["targetResources"][0]["id"] == sp.id]
    assert (event["category"], event["operationType"]) == ("ApplicationManagement", "Update")
    assert event["initiatedBy"]["app"] is None
    user = event["initiatedBy"]["user"]
    assert (user["id"], user["userPrincipalName"], user["ipAddress"]) == (admin_id, ADMIN, "127.0.0.1")
    assert set(user) == {"id", "displayName", "userPrincipalName", "ipAddress"}
    [change] = event["targetResources"][0]["modifiedProperties"]
    assert change == {"displayName": "AccountEnabled", "oldValue": '"True"', "newValue": '"False"'}
    # the same record by id
    one = admin.get(f"{AUDITS}/{event['id']}")
    assert one.status_code == 200, one.text
    assert one.json()["@odata.context"].endswith("$metadata#auditLogs/directoryAudits/$entity")
    assert {k: v for k, v in one.json().items() if not k.startswith("@")} == event


# --- $filter ------------------------------------------------------------------------------------------
def _three_moments(server: RunningServer) -> tuple[Actor, list[datetime]]:
    """Three registrations by one made-up user, a minute apart (each writes two records)."""
    actor = _tester()
    times = []
    for n in range(3):
        times.append(server.clock.now())
        _register(server, actor, name=f"moment {n}")
        server.advance(minutes=1)
    return actor, times


def test_filter_on_time_window_initiator_name_and_category(
        server: RunningServer, admin_token: str, graph: Graph) -> None:
    actor, times = _three_moments(server)
    admin = graph(admin_token)
    me = f"initiatedBy/user/id eq '{actor.id}'"

    def names(filter_: str) -> list[str]:
        return [e["targetResources"][0]["displayName"] for e in _get(admin, {"$filter": filter_})["value"]
                if e["activityDisplayName"] == "Add application"]

    assert names(me) == ["moment 2", "moment 1", "moment 0"]  # newest first
    iso = [t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for t in times]
    assert names(f"{me} and activityDateTime ge {iso[1]}") == ["moment 2", "moment 1"]
    assert names(f"{me} and activityDateTime gt {iso[1]}") == ["moment 2"]
    assert names(f"{me} and activityDateTime le {iso[1]}") == ["moment 1", "moment 0"]
    assert names(f"{me} and activityDateTime lt {iso[1]}") == ["moment 0"]
    assert names(f"{me} and activityDateTime eq {iso[2]}") == ["moment 2"]
    # the same instant written with an offset
    plus_two = (times[1] + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.%f+02:00")
    assert names(f"{me} and activityDateTime ge {plus_two}") == ["moment 2", "moment 1"]
    assert names(f"{me} and activityDateTime ge {iso[0]} and activityDateTime le {iso[1]}") == ["moment 1", "moment 0"]
    day = (times[0] + timedelta(days=1)).strftime("%Y-%m-%d")
    assert names(f"{me} and activityDateTime ge {day}") == []

    records = _get(admin, {"$filter": me})["value"]
    assert len(records) == 6
    activity = _get(admin, {"$filter": f"{me} and activityDisplayName eq 'Add service principal'"})["value"]
    assert [e["activityDisplayName"] for e in activity] == ["Add service principal"] * 3
    assert len(_get(admin, {"$filter": f"{me} and startswith(activityDisplayName,'Add serv')"})["value"]) == 3
    assert len(_get(admin, {"$filter": f"{me} and category eq 'ApplicationManagement' and result eq 'success'"})
               ["value"]) == 6
    assert _get(admin, {"$filter": f"{me} and category eq 'UserManagement'"})["value"] == []
    by_upn = _get(admin, {"$filter": f"initiatedBy/user/userPrincipalName eq '{actor.name}'"})["value"]
    assert len(by_upn) == 6
    one = records[3]
    assert [e["id"] for e in _get(admin, {"$filter": f"correlationId eq '{one['correlationId']}'"})["value"]] == [
        one["id"]]
    assert [e["id"] for e in _get(admin, {"$filter": f"id eq '{one['id']}'"})["value"]] == [one["id"]]
    selected = _get(admin, {"$filter": me, "$select": "activityDisplayName,activityDateTime"})["value"][0]
    assert set(selected) == {"id", "activityDisplayName", "activityDateTime"}


def test_pages_follow_next_links_in_order_without_gaps(server: RunningServer, admin_token: str, graph: Graph) -> None:
    actor, _ = _three_moments(server)
    for _ in range(2):  # and a few at the very same instant, which only the id can order
        _register(server, actor, name="same instant")
    admin = graph(admin_token)
    params = {"$filter": f"initiatedBy/user/id eq '{actor.id}'", "$top": "3"}

    pages = _all_pages(admin, params)
    assert [len(p) for p in pages] == [3, 3, 3, 1]
    records = [e for p in pages for e in p]
    assert records == _get(admin, {"$filter": params["$filter"]})["value"]
    assert len({e["id"] for e in records}) == 10
    keys = [(e["activityDateTime"], e["id"]) for e in records]
    assert keys == sorted(keys, reverse=True)
    first = _get(admin, params)
    assert first["@odata.nextLink"].startswith(f"{server.base_url}{AUDITS}?")
    assert "%24skiptoken=" in first["@odata.nextLink"]

    oldest_first = [e for p in _all_pages(admin, {**params, "$orderby": "activityDateTime asc"}) for e in p]
    assert [e["id"] for e in oldest_first] == [e["id"] for e in reversed(records)]


@pytest.mark.parametrize(("params", "code"), [
    ({"$filter": "activityDateTime ge 'yesterday'"}, "Request_UnsupportedQuery"),
    ({"$filter": "activityDateTime ge 2026-13-45T00:00:00Z"}, "Request_BadRequest"),
    ({"$filter": "activityDateTime in (2026-11-26T00:00:00Z, 2026-11-27T00:00:00Z)"}, "Request_UnsupportedQuery"),
    ({"$filter": "activityDisplayName eq"}, "Request_BadRequest"),
    ({"$filter": "secretColumn eq 'x'"}, "Request_UnsupportedQuery"),
    ({"$filter": "initiatedBy/user/password eq 'x'"}, "Request_UnsupportedQuery"),
    ({"$filter": "initiatedBy/user/id ge 'x'"}, "Request_UnsupportedQuery"),
    ({"$filter": "category eq activityDisplayName"}, "Request_UnsupportedQuery"),
    ({"$orderby": "category"}, "Request_BadRequest"),
    ({"$top": "0"}, "Request_BadRequest"),
    ({"$skiptoken": "not a token"}, "Request_BadRequest"),
    ({"$skiptoken": encode_skiptoken(("yesterday", NIL_GUID))}, "Request_UnsupportedQuery"),
    ({"$skiptoken": encode_skiptoken((NIL_GUID,))}, "Request_UnsupportedQuery"),
])
def test_bad_queries_are_400(admin_token: str, graph: Graph, params: dict[str, str], code: str) -> None:
    _error(graph(admin_token).get(AUDITS, params=params), 400, code)


def test_unknown_record_is_404(admin_token: str, graph: Graph) -> None:
    admin = graph(admin_token)
    _error(admin.get(f"{AUDITS}/{new_guid()}"), 404, "Request_ResourceNotFound")
    _error(admin.get(f"{AUDITS}/not-a-guid"), 404, "Request_ResourceNotFound")


# --- who may read it ----------------------------------------------------------------------------------
def test_reading_the_log_needs_audit_permission_and_a_reader_role(
        user_token: Callable[..., str], app_token: Callable[..., str], graph: Graph) -> None:
    _error(graph(user_token(ADELE)).get(AUDITS), 403, "Authorization_RequestDenied")
    _error(graph(None).get(AUDITS), 401, "InvalidAuthenticationToken")
    _error(graph("not.a.token").get(AUDITS), 401, "InvalidAuthenticationToken")
    _error(graph(app_token(roles=("Application.Read.All",))).get(AUDITS), 403, "Authorization_RequestDenied")
    assert graph(app_token(roles=("AuditLog.Read.All",))).get(AUDITS, params={"$top": "1"}).status_code == 200
    assert graph(user_token("alex@contoso.example")).get(AUDITS, params={"$top": "1"}).status_code == 200


def test_another_tenants_records_are_invisible(server: RunningServer, admin_token: str, graph: Graph) -> None:
    actor = _tester()
    apple_app = _register(server, actor, tenant_id=APPLE_TENANT_ID, name="apple audited")
    with server.ctx.uow.read() as tx:
        apple_events = [e for e in tx.tenant(APPLE_TENANT_ID).audit.list_events(limit=50)
                        if e["target_resources"][0]["id"] == apple_app.id]
    assert apple_events
    admin = graph(admin_token)
    for event in apple_events:
        _error(admin.get(f"{AUDITS}/{event['id']}"), 404, "Request_ResourceNotFound")
        assert _get(admin, {"$filter": f"correlationId eq '{event['correlation_id']}'"})["value"] == []
    assert _get(admin, {"$filter": f"initiatedBy/user/id eq '{actor.id}'"})["value"] == []


def test_activity_times_are_utc_with_fractions(server: RunningServer, admin_token: str, graph: Graph) -> None:
    when = server.clock.now().replace(microsecond=123456)
    server.clock.set(when)
    actor = _tester()
    _register(server, actor)
    [event, _] = _get(graph(admin_token), {"$filter": f"initiatedBy/user/id eq '{actor.id}'"})["value"]
    assert event["activityDateTime"] == when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.123456Z")


# --- msgraph-sdk --------------------------------------------------------------------------------------
def test_msgraph_sdk_reads_and_pages_the_audit_log(server: RunningServer, admin_token: str) -> None:
    import asyncio

    from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator
    from kiota_abstractions.authentication.base_bearer_token_authentication_provider import (
        BaseBearerTokenAuthenticationProvider,
    )
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.audit_logs.directory_audits.directory_audits_request_builder import (
        DirectoryAuditsRequestBuilder,
    )
    from msgraph.generated.models.operation_result import OperationResult

    class Token(AccessTokenProvider):
        async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
            return admin_token

        def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
            return AllowedHostsValidator([])

    actor, times = _three_moments(server)

    async def scenario() -> None:
        adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(Token()))
        adapter.base_url = f"{server.base_url}/v1.0"
        sdk = GraphServiceClient(request_adapter=adapter)
        query = DirectoryAuditsRequestBuilder.DirectoryAuditsRequestBuilderGetQueryParameters(
            filter=f"initiatedBy/user/id eq '{actor.id}' and activityDisplayName eq 'Add application'", top=2)
        page = await sdk.audit_logs.directory_audits.get(RequestConfiguration(query_parameters=query))
        records = []
        while page is not None:
            records.extend(page.value or [])
            link = page.odata_next_link
            page = await sdk.audit_logs.directory_audits.with_url(link).get() if link else None
        assert [r.target_resources[0].display_name for r in records if r.target_resources] == [
            "moment 2", "moment 1", "moment 0"]
        assert [r.activity_date_time for r in records] == list(reversed(times))
        first = records[0]
        assert first.result == OperationResult.Success and first.category == "ApplicationManagement"
        assert first.initiated_by is not None and first.initiated_by.user is not None
        assert first.initiated_by.user.id == actor.id and first.initiated_by.user.user_principal_name == actor.name
        assert first.id is not None
        one = await sdk.audit_logs.directory_audits.by_directory_audit_id(first.id).get()
        assert one is not None and one.correlation_id == first.correlation_id

    asyncio.run(scenario())


# --- /auditLogs/signIns ------------------------------------------------------------------------------------
SIGN_INS = "/v1.0/auditLogs/signIns"


def test_sign_in_log_records_authorize_outcomes_with_the_consent_reason(
        server: RunningServer, admin_token: str, graph: Graph) -> None:
    """A user without a role asks a fresh app for an admin-only permission: "Need admin approval", logged with
    its reason."""
    from tests.protocol.helpers import PASSWORD, form_action, hidden_inputs, unique

    from consentry.services import directory

    upn = f"{unique('signin')}@contoso.example"
    directory.create_user(server.ctx, CONTOSO_TENANT_ID, upn, "Sign-in log tester", PASSWORD, CLI)
    app = apps.register_application(server.ctx, CONTOSO_TENANT_ID, Application(
        id=new_guid(), app_id=new_guid(), tenant_id=CONTOSO_TENANT_ID, display_name="sign-in log test",
        web_redirect_uris=("https://signin-log.example/cb",)), CLI)
    with server.client() as browser:
        first = browser.get(f"/{CONTOSO_TENANT_ID}/oauth2/v2.0/authorize", params={
            "client_id": app.app_id, "response_type": "code", "redirect_uri": "https://signin-log.example/cb",
            "scope": "User.Read.All", "state": "s1"})
        page = browser.get(first.headers["location"])
        fields = hidden_inputs(page.text)
        signed_in = browser.post(form_action(page.text), data={**fields, "username": upn, "password": PASSWORD})
        assert "/consent?interaction=" in signed_in.headers.get("location", ""), signed_in.text[:500]
    body = _get(graph(admin_token), {"$filter": f"appId eq '{app.app_id}'"}, path=SIGN_INS)
    assert len(body["value"]) == 1, body
    entry = body["value"][0]
    assert entry["userPrincipalName"] == upn and entry["isInteractive"] is True
    assert entry["status"]["errorCode"] == 90094
    assert entry["status"]["additionalDetails"] in ("consentReason: user_consent_not_allowed",
                                                    "consentReason: admin_only_permission")
    assert GUID.match(entry["correlationId"])


def test_sign_in_log_pages_and_refuses_bad_filters(admin_token: str, graph: Graph) -> None:
    admin = graph(admin_token)
    first = _get(admin, {"$top": "1"}, path=SIGN_INS)
    assert len(first["value"]) == 1 and "@odata.nextLink" in first
    _error(admin.get(SIGN_INS, params={"$filter": "createdDateTime ge 2026-02-30"}), 400, "Request_UnsupportedQuery")
    _error(admin.get(SIGN_INS, params={"$filter": "initiatedBy/user/id eq 'x'"}), 400, "Request_UnsupportedQuery")


def test_reading_the_sign_in_log_needs_a_reader_role(user_token: Callable[..., str], graph: Graph) -> None:
    _error(graph(user_token(ADELE)).get(SIGN_INS), 403, "Authorization_RequestDenied")
