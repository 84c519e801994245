"""``/directory/deletedItems``: soft-deleted service principals and applications (spec §8.2) — listed for
30 days, restored with the same ids and with their consent, deleted for good on request or after 30 days.

The soft delete itself is called through the service here (the DELETE routes switch to it separately);
everything else goes over HTTP. The last test moves the clock 31 days on: keep it last.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msal
import pytest
from tests.graph.helpers import assert_graph_error as _error
from tests.support.server import RunningServer

from consentry.domain.apps import Application, PermissionScope
from consentry.domain.builtin import GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH
from consentry.domain.ids import NIL_GUID, new_guid
from consentry.errors import ConsentryError
from consentry.jobs import purge_expired_state
from consentry.services import app_credentials, apps, deleted_items, grants
from consentry.services.context import Actor
from consentry.services.demo import APPLE_TENANT_ID, CONTOSO_TENANT_ID, DEMO_PASSWORD

pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")

ACTOR = Actor("system", name="deleted items tests")
ADMIN = "admin@contoso.example"
ADELE = "adele@contoso.example"
GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]
DELETED = "/v1.0/directory/deletedItems"
Graph = Callable[..., httpx.Client]


@dataclass(frozen=True)
class Registered:
    app: Application
    sp_id: str
    secret: str


def _register(server: RunningServer, tenant_id: str = CONTOSO_TENANT_ID, name: str = "deleted items test",
              scopes: tuple[PermissionScope, ...] = ()) -> Registered:
    app = apps.register_application(server.ctx, tenant_id, Application(
        id=new_guid(), app_id=new_guid(), tenant_id=tenant_id, display_name=name, scopes=scopes), ACTOR)
    secret = app_credentials.add_password(server.ctx, tenant_id, app.id, ACTOR, display_name="tests")[1]
    sp = apps.find_service_principal(server.ctx, tenant_id, app_id=app.app_id)
    return Registered(apps.get_application(server.ctx, tenant_id, app.id), sp.id, secret)


@dataclass(frozen=True)
class Consented:
    client: Registered
    resource: Registered
    grant_ids: set[str]
    assignment_ids: set[str]
    classification_id: str


def _consented(server: RunningServer) -> Consented:
    """A client SP with an admin grant and a user grant on Graph, a Graph app role, adele assigned to it,
    and a grant on another API of ours that classifies one of its permissions; the client SP is the one the
    tests delete."""
    ctx = server.ctx
    scope = PermissionScope(new_guid(), "Widgets.Read", "User", "Read widgets", "Read widgets", None, None)
    resource = _register(server, name="deleted items test api", scopes=(scope,))
    client = _register(server, name="deleted items test client")
    adele = _user_id(server, ADELE)
    made = [grants.add_grant(ctx, CONTOSO_TENANT_ID, client.sp_id, MICROSOFT_GRAPH, "AllPrincipals", "User.Read",
                             ACTOR),
            grants.add_grant(ctx, CONTOSO_TENANT_ID, client.sp_id, MICROSOFT_GRAPH, "Principal", "Mail.Read", ACTOR,
                             principal_id=adele),
            grants.add_grant(ctx, CONTOSO_TENANT_ID, client.sp_id, resource.sp_id, "AllPrincipals", "Widgets.Read",
                             ACTOR)]
    assigned = [grants.add_app_role_assignment(ctx, CONTOSO_TENANT_ID, client.sp_id, MICROSOFT_GRAPH, "User.Read.All",
                                               ACTOR),
                grants.add_app_role_assignment(ctx, CONTOSO_TENANT_ID, adele, client.sp_id, NIL_GUID, ACTOR)]
    classification_id = new_guid()
    with ctx.uow.begin() as tx:
        tx.tenant(CONTOSO_TENANT_ID).deleted.add_classifications(client.sp_id, (
            {"id": classification_id, "permission_id": scope.id, "permission_name": "Widgets.Read",
             "classification": "low"},))
    return Consented(client, resource, {g.id for g in made}, {a.id for a in assigned}, classification_id)


def _user_id(server: RunningServer, upn: str) -> str:
    with server.ctx.uow.read() as tx:
        user = tx.tenant(CONTOSO_TENANT_ID).directory.find_user_by_upn(upn)
    assert user is not None
    return user.id


def _grant_ids_of(server: RunningServer, sp_id: str) -> set[str]:
    with server.ctx.uow.read() as tx:
        scope = tx.tenant(CONTOSO_TENANT_ID)
        return {g.id for g in [*scope.grants.list_grants(client_id=sp_id),
                               *scope.grants.list_grants(resource_id=sp_id)]}


def _assignment_ids_of(server: RunningServer, sp_id: str) -> set[str]:
    with server.ctx.uow.read() as tx:
        scope = tx.tenant(CONTOSO_TENANT_ID)
        return {a.id for a in [*scope.grants.list_assignments(principal_ids=[sp_id]),
                               *scope.grants.list_assignments(resource_id=sp_id)]}


def _classification_ids_of(server: RunningServer, sp_id: str) -> set[str]:
    with server.ctx.uow.read() as tx:
        return {c["id"] for c in tx.tenant(CONTOSO_TENANT_ID).deleted.list_classifications(sp_id)}


def _audits(client: httpx.Client, activity: str, target_id: str) -> list[dict[str, Any]]:
    response = client.get("/v1.0/auditLogs/directoryAudits",
                          params={"$filter": f"activityDisplayName eq '{activity}'", "$top": "999"})
    assert response.status_code == 200, response.text
    return [e for e in response.json()["value"] if any(t["id"] == target_id for t in e["targetResources"])]


# --- soft delete and the lists ------------------------------------------------------------------------
def test_soft_deleted_service_principal_leaves_service_principals_and_lists_in_deleted_items(
        server: RunningServer, admin_token: str, graph: Graph) -> None:
    consented = _consented(server)
    sp_id, app_id = consented.client.sp_id, consented.client.app.app_id
    deleted_items.soft_delete_service_principal(server.ctx, CONTOSO_TENANT_ID, sp_id, ACTOR)
    admin = graph(admin_token)

    assert admin.get(f"/v1.0/servicePrincipals/{sp_id}").status_code == 404
    assert _grant_ids_of(server, sp_id) == set() and _assignment_ids_of(server, sp_id) == set()
    assert _classification_ids_of(server, sp_id) == set()
    listed = admin.get(f"{DELETED}/microsoft.graph.servicePrincipal", params={"$filter": f"appId eq '{app_id}'"})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["@odata.context"].endswith("$metadata#directory/deletedItems/microsoft.graph.servicePrincipal")
    [item] = body["value"]
    assert item["id"] == sp_id and item["appId"] == app_id
    assert item["@odata.type"] == "#microsoft.graph.servicePrincipal"
    assert item["deletedDateTime"] and item["deletedDateTime"].endswith("Z")
    # the SDKs' short cast, and the object by id
    alias = admin.get(f"{DELETED}/graph.servicePrincipal", params={"$filter": f"id eq '{sp_id}'"}).json()
    assert [i["id"] for i in alias["value"]] == [sp_id]
    one = admin.get(f"{DELETED}/{sp_id}")
    assert one.status_code == 200, one.text
    assert one.json()["@odata.context"].endswith("$metadata#directoryObjects/$entity")
    assert one.json()["displayName"] == "deleted items test client"
    # an SP is not an application
    apps_listed = admin.get(f"{DELETED}/microsoft.graph.application", params={"$filter": f"id eq '{sp_id}'"})
    assert apps_listed.json()["value"] == []
    [removed] = _audits(admin, "Remove service principal", sp_id)
    assert removed["category"] == "ApplicationManagement" and removed["operationType"] == "Delete"


def test_restore_brings_back_the_service_principal_with_its_grants_and_assignments(
        server: RunningServer, admin_token: str, graph: Graph) -> None:
    consented = _consented(server)
    sp_id = consented.client.sp_id
    assert _grant_ids_of(server, sp_id) == consented.grant_ids
    deleted_items.soft_delete_service_principal(server.ctx, CONTOSO_TENANT_ID, sp_id, ACTOR)
    admin = graph(admin_token)

    restored = admin.post(f"{DELETED}/{sp_id}/restore")
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert body["@odata.type"] == "#microsoft.graph.servicePrincipal"
    assert body["@odata.context"].endswith("$metadata#directoryObjects/$entity")
    assert (body["id"], body["appId"], body["deletedDateTime"]) == (sp_id, consented.client.app.app_id, None)

    assert admin.get(f"/v1.0/servicePrincipals/{sp_id}").status_code == 200
    assert _grant_ids_of(server, sp_id) == consented.grant_ids
    assert _assignment_ids_of(server, sp_id) == consented.assignment_ids
    assert _classification_ids_of(server, sp_id) == {consented.classification_id}
    assert admin.get(f"{DELETED}/{sp_id}").status_code == 404
    [sp_event] = _audits(admin, "Restore service principal", sp_id)
    [consent_event] = _audits(admin, "Restore consent", sp_id)
    assert sp_event["correlationId"] == consent_event["correlationId"]
    assert sp_event["initiatedBy"]["user"]["userPrincipalName"] == ADMIN
    modified = {m["displayName"]: m["newValue"] for m in consent_event["targetResources"][0]["modifiedProperties"]}
    assert all(grant_id in modified["ConsentAction.Permissions"] for grant_id in consented.grant_ids)


def test_restore_is_refused_when_the_app_has_a_new_service_principal(
        server: RunningServer, admin_token: str, graph: Graph) -> None:
    registered = _register(server)
    deleted_items.soft_delete_service_principal(server.ctx, CONTOSO_TENANT_ID, registered.sp_id, ACTOR)
    fresh = apps.create_service_principal(server.ctx, CONTOSO_TENANT_ID, registered.app.app_id, ACTOR)

    response = graph(admin_token).post(f"{DELETED}/{registered.sp_id}/restore")
    _error(response, 409, "Request_MultipleObjectsWithSameKeyValue")
    assert apps.find_service_principal(server.ctx, CONTOSO_TENANT_ID, app_id=registered.app.app_id).id == fresh.id
    assert graph(admin_token).get(f"{DELETED}/{registered.sp_id}").status_code == 200  # still restorable later


def test_hard_delete_removes_a_deleted_service_principal_for_good(
        server: RunningServer, admin_token: str, graph: Graph) -> None:
    registered = _register(server)
    deleted_items.soft_delete_service_principal(server.ctx, CONTOSO_TENANT_ID, registered.sp_id, ACTOR)
    admin = graph(admin_token)

    response = admin.delete(f"{DELETED}/{registered.sp_id}")
    assert response.status_code == 204, response.text
    assert response.content == b""
    _error(admin.get(f"{DELETED}/{registered.sp_id}"), 404, "Request_ResourceNotFound")
    _error(admin.post(f"{DELETED}/{registered.sp_id}/restore"), 404, "Request_ResourceNotFound")
    _error(admin.delete(f"{DELETED}/{registered.sp_id}"), 404, "Request_ResourceNotFound")
    [event] = _audits(admin, "Hard delete service principal", registered.sp_id)
    assert event["operationType"] == "Delete" and event["initiatedBy"]["user"]["userPrincipalName"] == ADMIN


# --- applications -------------------------------------------------------------------------------------
def test_deleting_an_application_takes_its_service_principal_and_restore_brings_both_back(
        server: RunningServer, admin_token: str, graph: Graph) -> None:
    registered = _register(server, name="deleted items test app")
    app = registered.app
    deleted_items.soft_delete_application(server.ctx, CONTOSO_TENANT_ID, app.id, ACTOR)
    admin = graph(admin_token)

    with pytest.raises(ConsentryError):
        apps.get_application(server.ctx, CONTOSO_TENANT_ID, app.id)
    listed = admin.get(f"{DELETED}/microsoft.graph.application", params={"$filter": f"appId eq '{app.app_id}'"})
    [item] = listed.json()["value"]
    assert item["@odata.type"] == "#microsoft.graph.application"
    assert (item["id"], item["displayName"]) == (app.id, "deleted items test app")
    assert [c["keyId"] for c in item["passwordCredentials"]] == [app.password_credentials[0].key_id]
    assert item["passwordCredentials"][0]["secretText"] is None and item["deletedDateTime"]
    sps = admin.get(f"{DELETED}/microsoft.graph.servicePrincipal", params={"$filter": f"appId eq '{app.app_id}'"})
    assert [i["id"] for i in sps.json()["value"]] == [registered.sp_id]
    assert _audits(admin, "Delete application", app.id)

    restored = admin.post(f"{DELETED}/{app.id}/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["@odata.type"] == "#microsoft.graph.application"
    assert (restored.json()["id"], restored.json()["appId"]) == (app.id, app.app_id)
    assert apps.get_application(server.ctx, CONTOSO_TENANT_ID, app.id).password_credentials == app.password_credentials
    assert admin.get(f"/v1.0/servicePrincipals/{registered.sp_id}").status_code == 200
    assert admin.get(f"{DELETED}/{registered.sp_id}").status_code == 404
    assert _audits(admin, "Restore application", app.id)
    # the restored secret is the same secret: the app signs in with it
    confidential = msal.ConfidentialClientApplication(app.app_id, client_credential=registered.secret,
                                                      authority=f"{server.base_url}/{CONTOSO_TENANT_ID}",
                                                      instance_discovery=False)
    assert "access_token" in confidential.acquire_token_for_client(scopes=GRAPH_DEFAULT)


def test_hard_deleting_an_application_takes_its_deleted_service_principal(
        server: RunningServer, admin_token: str, graph: Graph) -> None:
    registered = _register(server)
    deleted_items.soft_delete_application(server.ctx, CONTOSO_TENANT_ID, registered.app.app_id, ACTOR)
    admin = graph(admin_token)

    assert admin.delete(f"{DELETED}/{registered.app.id}").status_code == 204
    assert admin.get(f"{DELETED}/{registered.app.id}").status_code == 404
    assert admin.get(f"{DELETED}/{registered.sp_id}").status_code == 404
    assert _audits(admin, "Hard Delete application", registered.app.id)
    assert _audits(admin, "Hard delete service principal", registered.sp_id)


# --- paging, errors, permissions, isolation ----------------------------------------------------------
def test_deleted_items_page_with_top_and_skiptoken(server: RunningServer, admin_token: str, graph: Graph) -> None:
    prefix = f"paging {new_guid()[:8]}"
    ids = set()
    for n in range(5):
        registered = _register(server, name=f"{prefix} {n}")
        deleted_items.soft_delete_service_principal(server.ctx, CONTOSO_TENANT_ID, registered.sp_id, ACTOR)
        ids.add(registered.sp_id)
    admin = graph(admin_token)

    url: str | None = f"{server.base_url}{DELETED}/microsoft.graph.servicePrincipal"
    params: dict[str, str] | None = {"$filter": f"startswith(displayName,'{prefix}')", "$top": "2",
                                     "$orderby": "displayName"}
    pages: list[list[str]] = []
    while url:
        response = admin.get(url, params=params)
        assert response.status_code == 200, response.text
        pages.append([i["displayName"] for i in response.json()["value"]])
        url, params = response.json().get("@odata.nextLink"), None
    assert pages == [[f"{prefix} 0", f"{prefix} 1"], [f"{prefix} 2", f"{prefix} 3"], [f"{prefix} 4"]]


@pytest.mark.parametrize(("path", "params", "status", "code"), [
    (DELETED, {}, 400, "Request_BadRequest"),
    (f"{DELETED}/not-a-guid", {}, 404, "Request_ResourceNotFound"),
    (f"{DELETED}/{NIL_GUID}", {}, 404, "Request_ResourceNotFound"),
    (f"{DELETED}/microsoft.graph.servicePrincipal", {"$filter": "appId eq"}, 400, "Request_BadRequest"),
    (f"{DELETED}/microsoft.graph.servicePrincipal", {"$filter": "tags/any(t:t eq 'x')"}, 400,
     "Request_UnsupportedQuery"),
    (f"{DELETED}/microsoft.graph.application", {"$orderby": "appId"}, 400, "Request_BadRequest"),
    (f"{DELETED}/microsoft.graph.application", {"$skiptoken": "!!"}, 400, "Request_BadRequest"),
])
def test_bad_deleted_items_requests(admin_token: str, graph: Graph, path: str, params: dict[str, str], status: int,
                                    code: str) -> None:
    _error(graph(admin_token).get(path, params=params), status, code)


def test_reading_needs_application_read_and_restoring_an_application_administrator(
        server: RunningServer, user_token: Callable[..., str], app_token: Callable[..., str], graph: Graph) -> None:
    registered = _register(server)
    deleted_items.soft_delete_service_principal(server.ctx, CONTOSO_TENANT_ID, registered.sp_id, ACTOR)
    adele = graph(user_token(ADELE))
    reader = graph(app_token(roles=("Application.Read.All",)))

    assert adele.get(f"{DELETED}/microsoft.graph.servicePrincipal").status_code == 200  # any member may read
    _error(adele.post(f"{DELETED}/{registered.sp_id}/restore"), 403, "Authorization_RequestDenied")
    _error(adele.delete(f"{DELETED}/{registered.sp_id}"), 403, "Authorization_RequestDenied")
    assert reader.get(f"{DELETED}/{registered.sp_id}").status_code == 200
    _error(reader.post(f"{DELETED}/{registered.sp_id}/restore"), 403, "Authorization_RequestDenied")
    _error(graph(None).get(f"{DELETED}/microsoft.graph.servicePrincipal"), 401, "InvalidAuthenticationToken")
    _error(graph(app_token(roles=("User.Read.All",))).get(f"{DELETED}/{registered.sp_id}"), 403,
           "Authorization_RequestDenied")
    assert deleted_items.get_deleted(server.ctx, CONTOSO_TENANT_ID, registered.sp_id).id == registered.sp_id


def test_another_tenants_deleted_items_cannot_be_seen_restored_or_destroyed(
        server: RunningServer, admin_token: str, graph: Graph) -> None:
    apple = _register(server, tenant_id=APPLE_TENANT_ID, name="apple deleted item")
    deleted_items.soft_delete_application(server.ctx, APPLE_TENANT_ID, apple.app.id, ACTOR)
    admin = graph(admin_token)

    for object_id in (apple.app.id, apple.sp_id):
        _error(admin.get(f"{DELETED}/{object_id}"), 404, "Request_ResourceNotFound")
        _error(admin.post(f"{DELETED}/{object_id}/restore"), 404, "Request_ResourceNotFound")
        _error(admin.delete(f"{DELETED}/{object_id}"), 404, "Request_ResourceNotFound")
    for cast in ("microsoft.graph.application", "microsoft.graph.servicePrincipal"):
        listed = admin.get(f"{DELETED}/{cast}", params={"$filter": f"appId eq '{apple.app.app_id}'"})
        assert listed.json()["value"] == []
    # still there, untouched, in its own tenant
    assert deleted_items.get_deleted(server.ctx, APPLE_TENANT_ID, apple.app.id).application is not None
    assert deleted_items.get_deleted(server.ctx, APPLE_TENANT_ID, apple.sp_id).service_principal is not None


# --- msgraph-sdk --------------------------------------------------------------------------------------
def test_msgraph_sdk_lists_restores_and_destroys_deleted_items(server: RunningServer, admin_token: str) -> None:
    import asyncio

    from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator
    from kiota_abstractions.authentication.base_bearer_token_authentication_provider import (
        BaseBearerTokenAuthenticationProvider,
    )
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph import GraphRequestAdapter, GraphServiceClient
    from msgraph.generated.directory.deleted_items.graph_service_principal.graph_service_principal_request_builder import (  # noqa: E501
        GraphServicePrincipalRequestBuilder,
    )
    from msgraph.generated.models.application import Application as GraphApplication
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.service_principal import ServicePrincipal as GraphServicePrincipal

    class Token(AccessTokenProvider):
        async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
            return admin_token

        def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
            return AllowedHostsValidator([])

    kept = _register(server, name="sdk restored")
    dropped = _register(server, name="sdk destroyed")
    deleted_items.soft_delete_service_principal(server.ctx, CONTOSO_TENANT_ID, kept.sp_id, ACTOR)
    deleted_items.soft_delete_application(server.ctx, CONTOSO_TENANT_ID, dropped.app.id, ACTOR)

    async def scenario() -> None:
        adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(Token()))
        adapter.base_url = f"{server.base_url}/v1.0"
        sdk = GraphServiceClient(request_adapter=adapter)
        query = GraphServicePrincipalRequestBuilder.GraphServicePrincipalRequestBuilderGetQueryParameters(
            filter=f"appId eq '{kept.app.app_id}'")
        listed = await sdk.directory.deleted_items.graph_service_principal.get(
            RequestConfiguration(query_parameters=query))
        assert listed is not None and [sp.id for sp in listed.value or []] == [kept.sp_id]
        assert listed.value is not None and listed.value[0].deleted_date_time is not None
        applications = await sdk.directory.deleted_items.graph_application.get()
        assert applications is not None and dropped.app.id in [a.id for a in applications.value or []]
        item = await sdk.directory.deleted_items.by_directory_object_id(dropped.app.id).get()
        assert isinstance(item, GraphApplication) and item.app_id == dropped.app.app_id
        restored = await sdk.directory.deleted_items.by_directory_object_id(kept.sp_id).restore.post()
        assert isinstance(restored, GraphServicePrincipal) and restored.id == kept.sp_id
        assert restored.deleted_date_time is None
        await sdk.directory.deleted_items.by_directory_object_id(dropped.app.id).delete()
        try:
            await sdk.directory.deleted_items.by_directory_object_id(dropped.app.id).get()
        except ODataError as exc:
            assert exc.response_status_code == 404
        else:
            raise AssertionError("the destroyed application is still in deleted items")

    asyncio.run(scenario())
    assert apps.find_service_principal(server.ctx, CONTOSO_TENANT_ID, object_id=kept.sp_id).display_name == (
        "sdk restored")


# --- keep last: the clock moves 31 days on ------------------------------------------------------------
def test_deleted_items_are_purged_after_30_days(server: RunningServer, admin_token: str, graph: Graph) -> None:
    sp_only = _register(server, name="purged service principal")
    whole_app = _register(server, name="purged application")
    deleted_items.soft_delete_service_principal(server.ctx, CONTOSO_TENANT_ID, sp_only.sp_id, ACTOR)
    deleted_items.soft_delete_application(server.ctx, CONTOSO_TENANT_ID, whole_app.app.id, ACTOR)
    assert graph(admin_token).get(f"{DELETED}/{sp_only.sp_id}").status_code == 200

    server.advance(days=29)
    assert deleted_items.get_deleted(server.ctx, CONTOSO_TENANT_ID, sp_only.sp_id)
    server.advance(days=2)
    admin = graph(_fresh_admin_token(server))  # the cached token expired with the jump
    _error(admin.get(f"{DELETED}/{sp_only.sp_id}"), 404, "Request_ResourceNotFound")
    _error(admin.post(f"{DELETED}/{whole_app.app.id}/restore"), 404, "Request_ResourceNotFound")
    listed = admin.get(f"{DELETED}/microsoft.graph.servicePrincipal", params={"$filter": f"id eq '{sp_only.sp_id}'"})
    assert listed.json()["value"] == []

    purge_expired_state(server.ctx)
    with server.ctx.uow.read() as tx:
        scope = tx.tenant(CONTOSO_TENANT_ID)
        assert all(scope.deleted.find(i) is None for i in (sp_only.sp_id, whole_app.app.id, whole_app.sp_id))
    [event] = _audits(admin, "Hard delete service principal", sp_only.sp_id)
    assert event["initiatedBy"]["user"] is None and event["initiatedBy"]["app"]["displayName"] == "Consentry"
    assert _audits(admin, "Hard Delete application", whole_app.app.id)
    assert _audits(admin, "Hard delete service principal", whole_app.sp_id)
    assert deleted_items.purge_expired(server.ctx) == 0  # idempotent


def _fresh_admin_token(server: RunningServer) -> str:
    app = msal.PublicClientApplication(GRAPH_COMMAND_LINE_TOOLS, authority=f"{server.base_url}/{CONTOSO_TENANT_ID}",
                                       instance_discovery=False)
    result = app.acquire_token_by_username_password(ADMIN, DEMO_PASSWORD, scopes=GRAPH_DEFAULT)
    assert "access_token" in result, result
    claims = json.loads(base64.urlsafe_b64decode(result["access_token"].split(".")[1] + "=="))
    assert claims["exp"] > server.clock.now().timestamp()
    return str(result["access_token"])
