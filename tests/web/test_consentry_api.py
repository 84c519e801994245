"""Consentry's decision API outside Graph, ``POST /consentry/v1/consentRequests/{id}/approve|deny|block``, over
TLS with Graph bearer tokens from the token endpoint (ROPC through Microsoft Graph Command Line Tools).

Approve (tenant-wide consent follows, the requests complete as Approve, the app's users get tokens), deny (the
requester may ask again), block (the service principal is disabled, client credentials fail with
AADSTS7000112); who may not: a non-reviewer (403), a reviewer of another tenant (404), a requester deciding
her own request (403), a reviewer without a role that may consent (may deny, may not approve), app-only tokens
and tokens without ConsentRequest.ReadWrite.All; and hostile input (oversized, script-laden or NUL-laden
justifications, wrong types, not JSON).

The tenants are this module's own (*Workflow* with its reviewers, and *Elsewhere*), so nothing here shows in
the other tests' tenants; each test registers its own application, so each has its own requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from tests.protocol.helpers import (
    GUID,
    PASSWORD,
    TEST_ACTOR,
    RegisteredApp,
    assert_entra_error,
    make_app,
    make_tenant,
    make_user,
    post_token,
)
from tests.support.real_clients import (  # noqa: F401 - autouse fixtures for this module
    _no_user_realm_probe,
    _release_client_connections,
    _server_clock_at_real_time,
)
from tests.support.server import RunningServer
from tests.web.test_consent import find_sp, grants_of, scope_of

from consentry.domain.builtin import GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH
from consentry.domain.consent_requests import COMPLETED, IN_PROGRESS, UserConsentRequest, user_reviewer
from consentry.domain.directory import Tenant, User
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.errors import APP_DISABLED, ConsentryError
from consentry.services import consent_requests, directory, grants
from consentry.services.demo import graph_cli_scope

API = "/consentry/v1/consentRequests"
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
ASKED = "openid profile https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Read"
PENDING = [{"displayName": "openid"}, {"displayName": "profile"}, {"displayName": "User.Read"},
           {"displayName": "Mail.Read"}]
STAGE_KEYS = {"id", "displayName", "reviewedDateTime", "reviewResult", "status", "assignedToMe", "justification",
              "reviewedBy"}


# --- the world: a tenant with reviewers, and tokens -----------------------------------------------------------
@dataclass
class Workflow:
    """A tenant where the workflow is on, reviewed by ``admin`` (Global Administrator) and ``helper`` (no
    role); ``app_admin`` (Cloud Application Administrator) is not a reviewer; ``adele`` and ``bianca`` ask."""

    server: RunningServer
    tenant: Tenant
    admin: User
    app_admin: User
    reader: User
    helper: User
    adele: User
    bianca: User
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def tenant_id(self) -> str:
        return self.tenant.id

    def token(self, user: User) -> str:
        if user.id not in self.tokens:
            self.tokens[user.id] = graph_token(self.server, self.tenant_id, user)
        return self.tokens[user.id]

    def submit(self, app: RegisteredApp, user: User, reason: str = "I need it for the quarterly report.",
               scope: str = ASKED) -> UserConsentRequest:
        return consent_requests.submit_request(self.server.ctx, self.tenant_id, app.app_id, user.id, scope, reason,
                                               TEST_ACTOR)

    def new_app(self) -> RegisteredApp:
        return make_app(self.server, self.tenant, grant=None)


def allow_graph_cli(server: RunningServer, tenant_id: str) -> None:
    """Tenant-wide consent to the Graph command-line tools, so that the tenant's users get Graph tokens."""
    grants.add_grant(server.ctx, tenant_id, GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH, ALL_PRINCIPALS,
                     graph_cli_scope(), TEST_ACTOR)


def graph_token(server: RunningServer, tenant_id: str, user: User) -> str:
    with server.client() as client:
        response = post_token(client, tenant_id, {
            "grant_type": "password", "client_id": GRAPH_COMMAND_LINE_TOOLS, "username": user.user_principal_name,
            "password": PASSWORD, "scope": GRAPH_DEFAULT})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def make_workflow(server: RunningServer, *, enable: bool = True) -> Workflow:
    """A new tenant with these users, whose users get Graph tokens; with ``enable``, the workflow on."""
    tenant = make_tenant(server)
    users = {name: make_user(server, tenant) for name in ("admin", "app_admin", "reader", "helper", "adele",
                                                          "bianca")}
    for name, role in (("admin", "Global Administrator"), ("app_admin", "Cloud Application Administrator"),
                       ("reader", "Global Reader")):
        directory.assign_role(server.ctx, tenant.id, users[name].id, role, TEST_ACTOR)
    allow_graph_cli(server, tenant.id)
    if enable:
        consent_requests.update_request_policy(
            server.ctx, tenant.id, TEST_ACTOR, is_enabled=True, notify_reviewers=True,
            reviewers=(user_reviewer(users["admin"].id), user_reviewer(users["helper"].id)))
    return Workflow(server, tenant, **users)


@pytest.fixture(scope="module")
def workflow(server: RunningServer) -> Workflow:
    return make_workflow(server)


@pytest.fixture(scope="module")
def elsewhere(server: RunningServer) -> Workflow:
    """Another tenant with the workflow on; its ``admin`` reviews there."""
    return make_workflow(server)


@pytest.fixture
def api(server: RunningServer) -> Iterator[Callable[..., httpx.Client]]:
    """``api(token)``: an httpx client on the server sending that bearer token."""
    clients: list[httpx.Client] = []

    def make(token: str | None) -> httpx.Client:
        client = server.client(headers={"Authorization": f"Bearer {token}"} if token else {})
        clients.append(client)
        return client
    yield make
    for client in clients:
        client.close()


def decide(api: Callable[..., httpx.Client], token: str | None, app_request_id: str, action: str,
           body: Any = None, **kwargs: Any) -> httpx.Response:
    if body is not None:
        kwargs["json"] = body
    return api(token).post(f"{API}/{app_request_id}/{action}", **kwargs)


def assert_error(response: httpx.Response, status: int, code: str, message: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    if message is not None:
        assert message in error["message"], error["message"]
    return dict(error)


def statuses(workflow: Workflow, app_request_id: str) -> list[tuple[str, str, str]]:
    return [(r.user_principal_name, r.status, r.review_result)
            for r in consent_requests.list_user_requests(workflow.server.ctx, workflow.tenant_id, app_request_id)]


# --- approve --------------------------------------------------------------------------------------------------
def test_a_reviewer_approves_and_the_app_gets_tenant_wide_consent(workflow: Workflow,
                                                                  api: Callable[..., httpx.Client]) -> None:
    app = workflow.new_app()
    first, second = workflow.submit(app, workflow.adele), workflow.submit(app, workflow.bianca)
    assert first.app_request_id == second.app_request_id
    assert grants_of(workflow.server, workflow.tenant_id, app.app_id) == []

    response = decide(api, workflow.token(workflow.admin), first.app_request_id, "approve", {})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#identityGovernance/appConsent/appConsentRequests/$entity")
    assert (body["id"], body["appId"], body["appDisplayName"], body["consentType"]) == (
        first.app_request_id, app.app_id, app.app.display_name, "Dynamic")
    assert body["pendingScopes"] == []  # nothing is pending any more
    done = body["userConsentRequests"]
    assert sorted((u["id"], u["status"], u["createdBy"]["user"]["userPrincipalName"]) for u in done) == sorted([
        (first.id, "Completed", workflow.adele.user_principal_name),
        (second.id, "Completed", workflow.bianca.user_principal_name)])
    [stage] = done[0]["approval"]["stages"]
    assert set(stage) == STAGE_KEYS
    assert (stage["status"], stage["reviewResult"], stage["justification"], stage["assignedToMe"]) == (
        "Completed", "Approve", "Admin consent granted.", True)
    assert stage["reviewedBy"] == {"id": workflow.admin.id, "displayName": workflow.admin.display_name,
                                   "userPrincipalName": workflow.admin.user_principal_name,
                                   "mail": workflow.admin.mail}
    assert done[0]["completedDateTime"] is not None and GUID.match(stage["id"])

    [grant] = grants_of(workflow.server, workflow.tenant_id, app.app_id)
    assert grant.consent_type == ALL_PRINCIPALS
    assert {"User.Read", "Mail.Read"} <= scope_of(grant)
    assert sorted(statuses(workflow, first.app_request_id)) == sorted([
        (workflow.adele.user_principal_name, COMPLETED, "Approve"),
        (workflow.bianca.user_principal_name, COMPLETED, "Approve")])
    # Adele now signs in to the app without any prompt: the consent is tenant-wide.
    with workflow.server.client() as client:
        token = post_token(client, workflow.tenant_id, {
            "grant_type": "password", "username": workflow.adele.user_principal_name, "password": PASSWORD,
            "scope": "https://graph.microsoft.com/Mail.Read", **app.credentials()})
    assert token.status_code == 200, token.text
    assert "Mail.Read" in token.json()["scope"].split()

    # A second decision finds nothing pending.
    again = decide(api, workflow.token(workflow.admin), first.app_request_id, "approve", {})
    assert_error(again, 400, "Request_BadRequest", "no pending user requests")


def test_a_justification_given_on_approval_is_recorded(workflow: Workflow, api: Callable[..., httpx.Client]) -> None:
    app = workflow.new_app()
    request = workflow.submit(app, workflow.adele)
    response = decide(api, workflow.token(workflow.admin), request.app_request_id, "approve",
                      {"justification": "Approved for the finance team."})
    assert response.status_code == 200, response.text
    [done] = response.json()["userConsentRequests"]
    assert done["approval"]["stages"][0]["justification"] == "Approved for the finance team."


def test_a_reviewer_without_a_consent_role_may_deny_but_not_approve(workflow: Workflow,
                                                                    api: Callable[..., httpx.Client]) -> None:
    app = workflow.new_app()
    request = workflow.submit(app, workflow.adele)
    refused = decide(api, workflow.token(workflow.helper), request.app_request_id, "approve", {})
    error = assert_error(refused, 403, "Authorization_RequestDenied")
    assert error["message"].startswith("AADSTS90093: ") and "aren't authorized to grant" in error["message"]
    assert statuses(workflow, request.app_request_id) == [(workflow.adele.user_principal_name, IN_PROGRESS,
                                                           "NotReviewed")]
    assert grants_of(workflow.server, workflow.tenant_id, app.app_id) == []

    denied = decide(api, workflow.token(workflow.helper), request.app_request_id, "deny",
                    {"justification": "Use the approved expense tool instead."})
    assert denied.status_code == 200, denied.text
    [done] = denied.json()["userConsentRequests"]
    stage = done["approval"]["stages"][0]
    assert (done["status"], stage["reviewResult"], stage["justification"], stage["reviewedBy"]["id"]) == (
        "Completed", "Deny", "Use the approved expense tool instead.", workflow.helper.id)
    assert grants_of(workflow.server, workflow.tenant_id, app.app_id) == []


# --- deny and block -------------------------------------------------------------------------------------------
def test_after_a_denial_the_requester_may_ask_again(workflow: Workflow, api: Callable[..., httpx.Client]) -> None:
    app = workflow.new_app()
    request = workflow.submit(app, workflow.adele)
    denied = decide(api, workflow.token(workflow.admin), request.app_request_id, "deny",
                    {"justification": "Not for now."})
    assert denied.status_code == 200, denied.text
    assert statuses(workflow, request.app_request_id) == [(workflow.adele.user_principal_name, COMPLETED, "Deny")]
    again = workflow.submit(app, workflow.adele, "Please reconsider.")
    assert again.id != request.id and again.status == IN_PROGRESS
    assert again.app_request_id == request.app_request_id


def test_block_disables_the_app_and_its_sign_ins_fail_with_7000112(workflow: Workflow,
                                                                   api: Callable[..., httpx.Client]) -> None:
    app = workflow.new_app()
    request = workflow.submit(app, workflow.adele)
    with workflow.server.client() as client:
        before = post_token(client, workflow.tenant_id, {"grant_type": "client_credentials", "scope": GRAPH_DEFAULT,
                                                         **app.credentials()})
    assert before.status_code == 200, before.text

    blocked = decide(api, workflow.token(workflow.admin), request.app_request_id, "block",
                     {"justification": "This app copies mailboxes to an unknown service."})
    assert blocked.status_code == 200, blocked.text
    [done] = blocked.json()["userConsentRequests"]
    assert (done["status"], done["approval"]["stages"][0]["reviewResult"]) == ("Completed", "Deny")
    sp = find_sp(workflow.server, workflow.tenant_id, app.app_id)
    assert sp is not None and sp.account_enabled is False

    with workflow.server.client() as client:
        after = post_token(client, workflow.tenant_id, {"grant_type": "client_credentials", "scope": GRAPH_DEFAULT,
                                                        **app.credentials()})
    assert_entra_error(after, "unauthorized_client", 7000112)
    with pytest.raises(ConsentryError) as refused:
        workflow.submit(app, workflow.bianca)  # no new requests for a blocked app
    assert refused.value.entry is APP_DISABLED


# --- who may not ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["approve", "deny", "block"])
def test_someone_who_is_not_a_reviewer_is_refused(workflow: Workflow, api: Callable[..., httpx.Client],
                                                   action: str) -> None:
    app = workflow.new_app()
    request = workflow.submit(app, workflow.adele)
    # A Cloud Application Administrator could consent, but she is not one of the reviewers.
    response = decide(api, workflow.token(workflow.app_admin), request.app_request_id, action,
                      {"justification": "I think so."})
    assert_error(response, 403, "Authorization_RequestDenied", "Insufficient privileges")
    assert statuses(workflow, request.app_request_id)[0][1] == IN_PROGRESS


@pytest.mark.parametrize("action", ["approve", "deny"])
def test_a_requester_cannot_decide_her_own_request(workflow: Workflow, api: Callable[..., httpx.Client],
                                                   action: str) -> None:
    app = workflow.new_app()
    request = workflow.submit(app, workflow.bianca)
    response = decide(api, workflow.token(workflow.bianca), request.app_request_id, action,
                      {"justification": "I approve of myself."})
    assert_error(response, 403, "Authorization_RequestDenied")
    assert statuses(workflow, request.app_request_id) == [(workflow.bianca.user_principal_name, IN_PROGRESS,
                                                           "NotReviewed")]


def test_a_reviewer_of_another_tenant_finds_no_such_request(workflow: Workflow, elsewhere: Workflow,
                                                            api: Callable[..., httpx.Client]) -> None:
    app = workflow.new_app()
    request = workflow.submit(app, workflow.adele)
    for action in ("approve", "deny", "block"):
        response = decide(api, elsewhere.token(elsewhere.admin), request.app_request_id, action,
                          {"justification": "Cross-tenant."})
        assert_error(response, 404, "Request_ResourceNotFound")
    assert statuses(workflow, request.app_request_id)[0][1] == IN_PROGRESS
    assert find_sp(workflow.server, workflow.tenant_id, app.app_id).account_enabled is True  # type: ignore[union-attr]


def test_tokens_that_do_not_name_a_reviewer_are_refused(workflow: Workflow, api: Callable[..., httpx.Client]) -> None:
    app = workflow.new_app()
    request = workflow.submit(app, workflow.adele)
    assert_error(decide(api, None, request.app_request_id, "deny", {"justification": "x"}), 401,
                 "InvalidAuthenticationToken")
    assert_error(decide(api, "not.a.token", request.app_request_id, "deny", {"justification": "x"}), 401,
                 "InvalidAuthenticationToken")
    # App-only: no reviewer signed in.
    daemon = make_app(workflow.server, workflow.tenant, grant=None)
    with workflow.server.client() as client:
        app_only = post_token(client, workflow.tenant_id, {"grant_type": "client_credentials", "scope": GRAPH_DEFAULT,
                                                           **daemon.credentials()}).json()["access_token"]
    assert_error(decide(api, app_only, request.app_request_id, "deny", {"justification": "x"}), 403,
                 "Authorization_RequestDenied")
    # A delegated token without ConsentRequest.ReadWrite.All: the reviewer signed in to another app.
    reviewer_app = make_app(workflow.server, workflow.tenant, grant="User.Read")
    with workflow.server.client() as client:
        narrow = post_token(client, workflow.tenant_id, {
            "grant_type": "password", "username": workflow.admin.user_principal_name, "password": PASSWORD,
            "scope": "https://graph.microsoft.com/User.Read", **reviewer_app.credentials()}).json()["access_token"]
    assert_error(decide(api, narrow, request.app_request_id, "deny", {"justification": "x"}), 403,
                 "Authorization_RequestDenied")
    assert statuses(workflow, request.app_request_id)[0][1] == IN_PROGRESS


def test_unknown_requests_and_methods(workflow: Workflow, api: Callable[..., httpx.Client]) -> None:
    token = workflow.token(workflow.admin)
    assert_error(decide(api, token, "00000000-0000-0000-0000-000000000000", "approve", {}), 404,
                 "Request_ResourceNotFound")
    assert_error(decide(api, token, "not-a-guid", "deny", {"justification": "x"}), 404, "Request_ResourceNotFound")
    assert_error(decide(api, token, "00000000-0000-0000-0000-000000000000", "escalate", {}), 404,
                 "Request_ResourceNotFound")
    assert_error(api(token).get(f"{API}/00000000-0000-0000-0000-000000000000/approve"), 405, "Request_BadRequest")
    # The API lives outside Graph: Graph has no such route.
    assert_error(api(token).post("/v1.0/consentRequests/00000000-0000-0000-0000-000000000000/approve", json={}),
                 404, "Request_ResourceNotFound")


# --- hostile input --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "message"), [
    ({"justification": "x" * 1001}, "at most 1000 characters"),
    ({"justification": "   "}, "A justification is required"),
    ({}, "A justification is required"),
    ({"justification": None}, "A justification is required"),
    ({"justification": 42}, "a string is required"),
    ({"justification": ["no"]}, "a string is required"),
    ({"justification": "bell\x07"}, "control characters"),
    ({"justification": "nul\x00here"}, "NUL"),
    ({"justification": "ok", "approve": True}, "Property 'approve' is not supported"),
    (["justification"], "must be a JSON object"),
])
def test_bad_justifications_are_refused_and_change_nothing(workflow: Workflow, api: Callable[..., httpx.Client],
                                                           body: Any, message: str) -> None:
    app = workflow.new_app()
    request = workflow.submit(app, workflow.adele)
    response = decide(api, workflow.token(workflow.admin), request.app_request_id, "deny", body)
    assert_error(response, 400, "Request_BadRequest", message)
    assert statuses(workflow, request.app_request_id)[0][1] == IN_PROGRESS


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"x" * (300 * 1024)])
def test_bodies_that_are_not_json_are_refused(workflow: Workflow, api: Callable[..., httpx.Client],
                                              content: bytes) -> None:
    app = workflow.new_app()
    request = workflow.submit(app, workflow.adele)
    response = decide(api, workflow.token(workflow.admin), request.app_request_id, "block", content=content,
                      headers={"content-type": "application/json"})
    assert_error(response, 400, "Request_BadRequest")
    assert statuses(workflow, request.app_request_id)[0][1] == IN_PROGRESS


def test_a_script_laden_justification_is_stored_verbatim_and_returned_as_json(
        workflow: Workflow, api: Callable[..., httpx.Client]) -> None:
    app = workflow.new_app()
    request = workflow.submit(app, workflow.adele, reason='<img src=x onerror="alert(1)">')
    hostile = '</script><script>alert("deny")</script> & "quotes" \u202e'
    response = decide(api, workflow.token(workflow.admin), request.app_request_id, "deny",
                      {"justification": hostile})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    [done] = response.json()["userConsentRequests"]
    assert done["approval"]["stages"][0]["justification"] == hostile
    assert done["reason"] == '<img src=x onerror="alert(1)">'
    assert '\\"deny\\"' in response.text  # JSON-escaped quotes, never raw markup in an HTML context
    [stored] = consent_requests.list_user_requests(workflow.server.ctx, workflow.tenant_id, request.app_request_id)
    assert stored.review_justification == hostile


def test_the_api_documents_itself_outside_graph(workflow: Workflow, api: Callable[..., httpx.Client]) -> None:
    document = api(None).get("/consentry/v1/openapi.json").json()
    assert sorted(document["paths"]) == [f"/consentRequests/{{app_request_id}}/{action}"
                                         for action in ("approve", "block", "deny")]
    body = document["paths"]["/consentRequests/{app_request_id}/deny"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["properties"] == {
        "justification": {"type": "string", "maxLength": 1000}}
    assert_error(api(None).get("/consentry/v1/nothing"), 404, "Request_ResourceNotFound")
    assert_error(api(None).post("/consentry/v1/consentRequests/x%00y/deny", json={}), 400, "Request_BadRequest")
