"""The admin consent request workflow in Microsoft Graph, over TLS with real tokens: the tenant's
``adminConsentRequestPolicy`` (GET, PUT, and PATCH through msgraph-sdk; the never-configured value, the version,
every refusal, who may read and change it) and the requests (``appConsentRequests`` with ``$filter`` including
``userConsentRequests/any(…)``, ``$top`` with ``@odata.nextLink``, ``$orderby``, ``$count``, ``$select``,
``$expand``; ``userConsentRequests`` with their approval stage before and after a decision; the approval and
its stages; ``filterByCurrentUser(on='reviewer')`` on both, for a reviewer and for others).

Tenants are this module's own (built as in ``tests/web/test_consentry_api.py``): policy tests each get a fresh
one, request tests share one where the workflow is on (reviewers: a Global Administrator and a user without a
role), each with its own application so its requests are its own. Requests are submitted through
``consent_requests.submit_request``; decisions go through Consentry's API at ``/consentry/v1``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema_rs
import pytest
from msgraph.generated.models.access_review_reviewer_scope import AccessReviewReviewerScope
from msgraph.generated.models.admin_consent_request_policy import AdminConsentRequestPolicy
from tests.graph.helpers import assert_graph_error, audit_events
from tests.graph.test_msgraph_sdk import graph_client, refused, run
from tests.support.server import RunningServer
from tests.web.test_consentry_api import API, ASKED, PENDING, Workflow, make_workflow

from consentry.domain.consent_requests import COMPLETED, UserConsentRequest
from consentry.domain.directory import CLOUD_APPLICATION_ADMINISTRATOR

Graph = Callable[..., httpx.Client]
POLICY = "/v1.0/policies/adminConsentRequestPolicy"
REQUESTS = "/v1.0/identityGovernance/appConsent/appConsentRequests"
MINE = REQUESTS + "/filterByCurrentUser(on='reviewer')"
IN_PROGRESS_FILTER = {"$filter": "userConsentRequests/any(u:u/status eq 'InProgress')"}
NEVER_CONFIGURED = {"isEnabled": False, "notifyReviewers": False, "remindersEnabled": False,
                    "requestDurationInDays": 0, "version": 0, "reviewers": []}
pytestmark = [pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning")]


def user_query(user_id: str) -> dict[str, Any]:
    return {"query": f"/users/{user_id}", "queryType": "MicrosoftGraph", "queryRoot": None}


def policy_body(**changes: Any) -> dict[str, Any]:
    return {"isEnabled": False, "notifyReviewers": False, "remindersEnabled": False, "reviewers": [], **changes}


@pytest.fixture
def fresh(server: RunningServer) -> Workflow:
    """A tenant of its own where the workflow was never configured."""
    return make_workflow(server, enable=False)


@pytest.fixture(scope="module")
def workflow(server: RunningServer) -> Workflow:
    return make_workflow(server)


# --- the policy -----------------------------------------------------------------------------------------------
def test_a_fresh_tenant_shows_the_never_configured_policy(fresh: Workflow, graph: Graph) -> None:
    response = graph(fresh.token(fresh.admin)).get(POLICY)
    assert response.status_code == 200, response.text
    assert response.json() == {"@odata.context": f"{fresh.server.base_url}/v1.0/$metadata#policies/"
                                                 "adminConsentRequestPolicy/$entity", **NEVER_CONFIGURED}
    selected = graph(fresh.token(fresh.admin)).get(POLICY, params={"$select": "isEnabled,version"}).json()
    assert {k: v for k, v in selected.items() if k != "@odata.context"} == {"isEnabled": False, "version": 0}


def test_msgraph_sdk_turns_the_workflow_on_with_a_user_reviewer(server: RunningServer, fresh: Workflow) -> None:
    sdk = graph_client(server, fresh.token(fresh.admin))
    policies = sdk.client.policies.admin_consent_request_policy

    async def scenario() -> None:
        before = await policies.get()
        assert before is not None and (before.is_enabled, before.version, before.reviewers) == (False, 0, [])

        await policies.patch(AdminConsentRequestPolicy(
            is_enabled=True, notify_reviewers=True, reminders_enabled=True, request_duration_in_days=7,
            reviewers=[AccessReviewReviewerScope(query=f"/users/{fresh.helper.id}", query_type="MicrosoftGraph")]))
        after = await policies.get()
        assert after is not None
        assert (after.is_enabled, after.notify_reviewers, after.reminders_enabled, after.request_duration_in_days,
                after.version) == (True, True, True, 7, 1)
        assert [(r.query, r.query_type, r.query_root) for r in after.reviewers or []] == [
            (f"/users/{fresh.helper.id}", "MicrosoftGraph", None)]

        # Each change moves the version on; a PATCH that changes nothing does not.
        await policies.patch(AdminConsentRequestPolicy(request_duration_in_days=14))
        await policies.patch(AdminConsentRequestPolicy(request_duration_in_days=14))
        again = await policies.get()
        assert again is not None and (again.request_duration_in_days, again.version) == (14, 2)

        # The workflow cannot stay on without reviewers.
        error = await refused(policies.patch(AdminConsentRequestPolicy(reviewers=[])), 400, "Request_BadRequest")
        assert error.error is not None and "Select at least one reviewer" in str(error.error.message)
        unchanged = await policies.get()
        assert unchanged is not None and unchanged.version == 2 and len(unchanged.reviewers or []) == 1

    run(scenario, sdk)
    assert len(audit_events(server, "Create governance policy template", fresh.tenant_id, fresh.tenant_id)) == 1
    assert len(audit_events(server, "Update governance policy template", fresh.tenant_id, fresh.tenant_id)) == 1


def test_put_replaces_the_policy_and_needs_every_required_property(fresh: Workflow, graph: Graph) -> None:
    admin = graph(fresh.token(fresh.admin))
    response = admin.put(POLICY, json=policy_body(isEnabled=True, notifyReviewers=True, requestDurationInDays=5,
                                                  reviewers=[user_query(fresh.admin.id),
                                                             user_query(fresh.helper.id)]))
    assert response.status_code == 204, response.text
    assert response.content == b""
    shown = admin.get(POLICY).json()
    assert (shown["isEnabled"], shown["notifyReviewers"], shown["remindersEnabled"], shown["requestDurationInDays"],
            shown["version"]) == (True, True, False, 5, 1)
    assert shown["reviewers"] == [user_query(fresh.admin.id), user_query(fresh.helper.id)]

    # The same PUT again changes nothing; version (read-only) may be sent back and is ignored.
    assert admin.put(POLICY, json={**policy_body(isEnabled=True, notifyReviewers=True, requestDurationInDays=5,
                                                 reviewers=[user_query(fresh.admin.id), user_query(fresh.helper.id)]),
                                   "version": 99}).status_code == 204
    assert admin.get(POLICY).json()["version"] == 1

    for missing in ("isEnabled", "notifyReviewers", "remindersEnabled", "reviewers"):
        body = policy_body(isEnabled=True, reviewers=[user_query(fresh.admin.id)])
        del body[missing]
        assert_graph_error(admin.put(POLICY, json=body), 400, "Request_BadRequest",
                           f"Property '{missing}' is required.")

    # Group and role reviewers, in the query forms the spec gives.
    group_query = {"query": f"/groups/{uuid.uuid4()}/transitiveMembers/microsoft.graph.user",
                   "queryType": "MicrosoftGraph", "queryRoot": None}
    assert_graph_error(admin.patch(POLICY, json={"reviewers": [group_query]}), 400, "Request_BadRequest")
    role_query = {"query": "/beta/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq "
                           f"'{CLOUD_APPLICATION_ADMINISTRATOR.id}'", "queryType": "MicrosoftGraph", "queryRoot": None}
    assert admin.patch(POLICY, json={"reviewers": [role_query]}).status_code == 204
    assert admin.get(POLICY).json()["reviewers"] == [role_query]

    # Turning it off keeps the reviewers.
    assert admin.patch(POLICY, json={"isEnabled": False}).status_code == 204
    off = admin.get(POLICY).json()
    assert (off["isEnabled"], off["reviewers"], off["version"]) == (False, [role_query], 3)


def test_enabling_with_no_reviewers_is_refused_with_a_clear_message(fresh: Workflow, graph: Graph) -> None:
    admin = graph(fresh.token(fresh.admin))
    for method, body in (("put", policy_body(isEnabled=True)), ("patch", {"isEnabled": True}),
                         ("patch", {"isEnabled": True, "reviewers": None})):
        response = admin.request(method.upper(), POLICY, json=body)
        assert_graph_error(response, 400, "Request_BadRequest",
                           "Select at least one reviewer (a user, group or role) before turning on admin consent "
                           "requests.")
    shown = admin.get(POLICY).json()
    assert {k: v for k, v in shown.items() if k != "@odata.context"} == NEVER_CONFIGURED


@pytest.mark.parametrize(("reviewer", "message"), [
    ({"query": "/users/not-a-guid", "queryType": "MicrosoftGraph"}, "is not a user, group or directory role query"),
    ({"query": f"/users/{uuid.uuid4()}", "queryType": "MicrosoftGraph"}, "does not exist in this tenant"),
    ({"query": "/me", "queryType": "MicrosoftGraph"}, "is not a user, group or directory role query"),
    ({"query": "/users/{id}", "queryType": "AzureAD"}, "queryType 'MicrosoftGraph'"),
    ({"query": "/users/{id}", "queryType": "MicrosoftGraph", "queryRoot": "decisions"}, "no queryRoot"),
    ({"query": 5}, "needs a 'query' string"),
    ({"query": ""}, "needs a 'query' string"),
    ({"queryType": "MicrosoftGraph"}, "needs a 'query' string"),
    ({"query": "/users/{id}", "reviewerId": "x"}, "Property 'reviewers.reviewerId' is not supported"),
    ("/users/{id}", "must be an accessReviewReviewerScope object"),
])
def test_bad_reviewer_queries_are_refused(fresh: Workflow, graph: Graph, reviewer: Any, message: str) -> None:
    if isinstance(reviewer, dict) and isinstance(reviewer.get("query"), str):
        reviewer = {**reviewer, "query": reviewer["query"].replace("{id}", fresh.admin.id)}
    elif isinstance(reviewer, str):
        reviewer = reviewer.replace("{id}", fresh.admin.id)
    admin = graph(fresh.token(fresh.admin))
    error = assert_graph_error(admin.patch(POLICY, json={"isEnabled": True, "reviewers": [reviewer]}), 400,
                               "Request_BadRequest")
    assert message in error["message"], error["message"]
    assert admin.get(POLICY).json()["version"] == 0


@pytest.mark.parametrize(("body", "message"), [
    ({"isEnabled": "true"}, "The property 'isEnabled' must be true or false."),
    ({"notifyReviewers": 1}, "The property 'notifyReviewers' must be true or false."),
    ({"requestDurationInDays": 31}, "Requests must expire after 1 to 30 days."),
    ({"requestDurationInDays": -1}, "Requests must expire after 1 to 30 days."),
    ({"requestDurationInDays": "7"}, "must be a whole number of days"),
    ({"requestDurationInDays": 7.5}, "must be a whole number of days"),
    ({"requestDurationInDays": True}, "must be a whole number of days"),
    ({"reviewers": "/users/x"}, "'reviewers' must be a list"),
    ({"reviewers": [{"query": "/users/\u0000"}]}, "NUL"),
    ({"displayName": "Admin consent"}, "Property 'displayName' is not supported"),
    ({"id": "adminConsentRequestPolicy"}, "Property 'id' is not supported"),
])
def test_values_of_the_wrong_type_or_range_are_refused(fresh: Workflow, graph: Graph, body: dict[str, Any],
                                                       message: str) -> None:
    admin = graph(fresh.token(fresh.admin))
    error = assert_graph_error(admin.patch(POLICY, json=body), 400, "Request_BadRequest")
    assert message in error["message"], error["message"]
    for raw in (b"[]", b"not json", b'{"isEnabled": tru'):
        assert_graph_error(admin.patch(POLICY, content=raw, headers={"content-type": "application/json"}), 400,
                           "Request_BadRequest")


def test_who_may_read_and_change_the_policy(fresh: Workflow, graph: Graph,
                                            app_token: Callable[..., str]) -> None:
    change = {"isEnabled": True, "reviewers": [user_query(fresh.admin.id)]}
    adele = graph(fresh.token(fresh.adele))
    assert_graph_error(adele.get(POLICY), 403, "Authorization_RequestDenied")
    assert_graph_error(adele.patch(POLICY, json=change), 403, "Authorization_RequestDenied")
    for user in (fresh.reader, fresh.app_admin):  # Global Reader, Cloud Application Administrator
        client = graph(fresh.token(user))
        assert client.get(POLICY).status_code == 200
        assert_graph_error(client.patch(POLICY, json=change), 403, "Authorization_RequestDenied")
        assert_graph_error(client.put(POLICY, json=policy_body(**change)), 403, "Authorization_RequestDenied")
    assert_graph_error(graph(None).get(POLICY), 401, "InvalidAuthenticationToken")

    reader_app = graph(app_token(fresh.tenant_id, ("Policy.Read.All",)))
    assert reader_app.get(POLICY).json()["version"] == 0
    assert_graph_error(reader_app.patch(POLICY, json=change), 403, "Authorization_RequestDenied")
    assert_graph_error(graph(app_token(fresh.tenant_id, ("ConsentRequest.Read.All",))).get(POLICY), 403,
                       "Authorization_RequestDenied")
    writer_app = graph(app_token(fresh.tenant_id, ("Policy.ReadWrite.ConsentRequest",)))
    assert writer_app.patch(POLICY, json=change).status_code == 204
    assert graph(fresh.token(fresh.reader)).get(POLICY).json()["isEnabled"] is True


def test_each_tenant_has_its_own_policy(fresh: Workflow, workflow: Workflow, graph: Graph) -> None:
    assert graph(fresh.token(fresh.admin)).patch(POLICY, json={"isEnabled": True, "reviewers": [
        user_query(fresh.admin.id)]}).status_code == 204
    theirs = graph(workflow.token(workflow.admin)).get(POLICY).json()
    assert theirs["reviewers"] == [user_query(workflow.admin.id), user_query(workflow.helper.id)]
    # A user of another tenant is not a reviewer here.
    assert_graph_error(graph(fresh.token(fresh.admin)).patch(POLICY, json={"reviewers": [
        user_query(workflow.admin.id)]}), 400, "Request_BadRequest")


# --- requests -------------------------------------------------------------------------------------------------
def submitted(workflow: Workflow, *users: Any, scope: str = ASKED) -> tuple[Any, list[UserConsentRequest]]:
    app = workflow.new_app()
    return app, [workflow.submit(app, user, f"{user.display_name} needs it.", scope) for user in users]


def deny(workflow: Workflow, graph: Graph, app_request_id: str, reviewer: Any, justification: str) -> None:
    response = graph(workflow.token(reviewer)).post(f"{API}/{app_request_id}/deny",
                                                    json={"justification": justification})
    assert response.status_code == 200, response.text


def test_submitted_requests_appear_in_graph_shape(workflow: Workflow, graph: Graph) -> None:
    app, (first, second) = submitted(workflow, workflow.adele, workflow.bianca)
    assert first.app_request_id == second.app_request_id
    aggregate_id = first.app_request_id
    base = workflow.server.base_url
    admin = graph(workflow.token(workflow.admin))

    listed = admin.get(REQUESTS, params={"$filter": f"appId eq '{app.app_id}'"})
    assert listed.status_code == 200, listed.text
    expected = {"id": aggregate_id, "appId": app.app_id, "appDisplayName": app.app.display_name,
                "consentType": "Dynamic", "pendingScopes": PENDING,
                "userConsentRequests@odata.context": f"{base}/v1.0/$metadata#identityGovernance/appConsent/"
                                                     f"appConsentRequests('{aggregate_id}')/userConsentRequests",
                "userConsentRequests": []}
    assert listed.json() == {"@odata.context": f"{base}/v1.0/$metadata#identityGovernance/appConsent/"
                                               "appConsentRequests", "value": [expected]}

    one = admin.get(f"{REQUESTS}/{aggregate_id}", params={"$expand": "userConsentRequests"})
    assert one.status_code == 200, one.text
    body = one.json()
    assert {k: v for k, v in body.items() if k not in ("@odata.context", "userConsentRequests")} == {
        k: v for k, v in expected.items() if k != "userConsentRequests"}
    shown = {u["id"]: u for u in body["userConsentRequests"]}
    assert set(shown) == {first.id, second.id}
    adele = workflow.adele
    assert shown[first.id] == {
        "id": first.id, "reason": f"{adele.display_name} needs it.", "status": "InProgress",
        "createdDateTime": first.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "createdBy": {"user": {"id": adele.id, "displayName": adele.display_name,
                               "userPrincipalName": adele.user_principal_name, "mail": adele.mail}},
        "approval": {"id": first.id, "stages": [{
            "id": shown[first.id]["approval"]["stages"][0]["id"], "displayName": None, "reviewedDateTime": None,
            "reviewResult": "NotReviewed", "status": "InProgress", "assignedToMe": True, "justification": None,
            "reviewedBy": None}]},
        "approvalId": first.id, "completedDateTime": None, "customData": None}
    nested = admin.get(f"{REQUESTS}/{aggregate_id}",
                       params={"$expand": "userConsentRequests($expand=approval($expand=stages))"})
    assert len(nested.json()["userConsentRequests"]) == 2
    assert_graph_error(admin.get(f"{REQUESTS}/{aggregate_id}", params={"$expand": "owners"}), 400,
                       "Request_BadRequest")
    assert_graph_error(admin.get(f"{REQUESTS}/{uuid.uuid4()}"), 404, "Request_ResourceNotFound")


def test_filter_on_requests_in_progress(workflow: Workflow, graph: Graph) -> None:
    _, [pending] = submitted(workflow, workflow.adele)
    _, [denied] = submitted(workflow, workflow.bianca)
    deny(workflow, graph, denied.app_request_id, workflow.admin, "No.")
    admin = graph(workflow.token(workflow.admin))

    def ids(params: dict[str, str]) -> set[str]:
        response = admin.get(REQUESTS, params={**params, "$top": "999"})
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["value"]}

    every = ids({})
    assert {pending.app_request_id, denied.app_request_id} <= every
    in_progress = ids(IN_PROGRESS_FILTER)
    assert pending.app_request_id in in_progress and denied.app_request_id not in in_progress
    spaced = ids({"$filter": "userConsentRequests/any (u:u/status eq 'InProgress')"})  # as Graph's docs write it
    assert spaced == in_progress
    completed = ids({"$filter": "userConsentRequests/any(u:u/status eq 'Completed')"})
    assert denied.app_request_id in completed and pending.app_request_id not in completed
    assert ids({"$filter": f"id eq '{pending.app_request_id}' and userConsentRequests/any(u:u/status eq "
                           "'InProgress')"}) == {pending.app_request_id}
    assert ids({"$filter": "consentType eq 'Static'"}).isdisjoint({pending.app_request_id, denied.app_request_id})
    for bad in ("userConsentRequests/any(u:u/owner eq 'x')", "status eq 'InProgress'", "appId gt 5 or"):
        response = admin.get(REQUESTS, params={"$filter": bad})
        assert response.status_code == 400, response.text


def test_paging_ordering_counting_and_selecting(workflow: Workflow, graph: Graph) -> None:
    for _ in range(3):
        submitted(workflow, workflow.adele)
    admin = graph(workflow.token(workflow.admin))
    total = len(admin.get(REQUESTS, params={"$top": "999"}).json()["value"])
    assert total >= 3

    seen: list[str] = []
    response = admin.get(REQUESTS, params={"$top": "2", "$count": "true", "$orderby": "appDisplayName"})
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["@odata.count"] == total
        seen += [item["appDisplayName"] for item in page["value"]]
        link = page.get("@odata.nextLink")
        if not link:
            break
        assert link.startswith(f"{workflow.server.base_url}/v1.0/identityGovernance/appConsent/appConsentRequests?")
        response = admin.get(link)
    assert len(seen) == total and seen == sorted(seen)

    newest_first = [i["id"] for i in admin.get(REQUESTS, params={"$top": "999"}).json()["value"]]
    oldest_first = [i["id"] for i in admin.get(REQUESTS, params={"$top": "999",
                                                                 "$orderby": "createdDateTime asc"}).json()["value"]]
    assert sorted(newest_first) == sorted(oldest_first) and len(newest_first) == total

    selected = admin.get(REQUESTS, params={"$select": "appId", "$top": "1"}).json()["value"]
    assert [set(item) for item in selected] == [{"id", "appId"}]
    assert_graph_error(admin.get(REQUESTS, params={"$orderby": "pendingScopes"}), 400, "Request_BadRequest")
    assert_graph_error(admin.get(REQUESTS, params={"$top": "0"}), 400, "Request_BadRequest")
    assert_graph_error(admin.get(REQUESTS, params={"$skiptoken": "garbage!"}), 400, "Request_BadRequest")


def test_filter_by_current_user_shows_a_reviewer_her_pending_requests(workflow: Workflow, graph: Graph,
                                                                       app_token: Callable[..., str]) -> None:
    _, [pending] = submitted(workflow, workflow.adele)
    _, [denied] = submitted(workflow, workflow.bianca)
    deny(workflow, graph, denied.app_request_id, workflow.helper, "Not needed.")

    def mine(user: Any, params: dict[str, str] = IN_PROGRESS_FILTER) -> httpx.Response:
        return graph(workflow.token(user)).get(MINE, params=params)

    for reviewer in (workflow.admin, workflow.helper):  # the helper holds no directory role
        response = mine(reviewer)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["@odata.context"] == f"{workflow.server.base_url}/v1.0/$metadata#Collection(appConsentRequest)"
        ids = {item["id"] for item in body["value"]}
        assert pending.app_request_id in ids and denied.app_request_id not in ids
        assert all(item["@odata.type"] == "#microsoft.graph.appConsentRequest" for item in body["value"])
    for outsider in (workflow.app_admin, workflow.adele):  # an administrator who is not a reviewer; a requester
        response = mine(outsider)
        assert response.status_code == 200, response.text
        assert response.json()["value"] == []

    assert_graph_error(mine(workflow.admin, {}), 400, "Request_BadRequest", "filterByCurrentUser requires $filter, "
                       "for example $filter=userConsentRequests/any(u:u/status eq 'InProgress').")
    assert_graph_error(graph(workflow.token(workflow.admin)).get(
        REQUESTS + "/filterByCurrentUser(on='approver')", params=IN_PROGRESS_FILTER), 400, "Request_BadRequest")
    daemon = graph(app_token(workflow.tenant_id, ("ConsentRequest.Read.All",)))
    assert_graph_error(daemon.get(MINE, params=IN_PROGRESS_FILTER), 400, "Request_BadRequest")

    # On one aggregate's user requests: those naming the caller as a reviewer.
    users_mine = f"{REQUESTS}/{pending.app_request_id}/userConsentRequests/filterByCurrentUser(on='reviewer')"
    helper_view = graph(workflow.token(workflow.helper)).get(users_mine).json()["value"]
    assert [(u["id"], u["approval"]["stages"][0]["assignedToMe"]) for u in helper_view] == [(pending.id, True)]
    assert graph(workflow.token(workflow.app_admin)).get(users_mine).json()["value"] == []
    assert graph(workflow.token(workflow.helper)).get(users_mine, params={
        "$filter": "status eq 'Completed'"}).json()["value"] == []


def test_user_requests_and_their_approval_stage_before_and_after_a_denial(workflow: Workflow,
                                                                          graph: Graph) -> None:
    _, [first, second] = submitted(workflow, workflow.adele, workflow.bianca)
    aggregate_id = first.app_request_id
    users = f"{REQUESTS}/{aggregate_id}/userConsentRequests"
    reader = graph(workflow.token(workflow.reader))  # a Global Reader: not a reviewer

    before = reader.get(users)
    assert before.status_code == 200, before.text
    assert before.json()["@odata.context"] == (f"{workflow.server.base_url}/v1.0/$metadata#identityGovernance/"
                                               f"appConsent/appConsentRequests('{aggregate_id}')/userConsentRequests")
    stages = {u["id"]: u["approval"]["stages"][0] for u in before.json()["value"]}
    assert set(stages) == {first.id, second.id}
    assert {(s["status"], s["reviewResult"], s["assignedToMe"], s["reviewedBy"]) for s in stages.values()} == {
        ("InProgress", "NotReviewed", False, None)}

    deny(workflow, graph, aggregate_id, workflow.helper, "Use <the> approved tool & ask again.")
    after = reader.get(users, params={"$filter": "status eq 'Completed'"}).json()["value"]
    assert {u["id"] for u in after} == {first.id, second.id}
    [stage] = next(u for u in after if u["id"] == first.id)["approval"]["stages"]
    assert stage["id"] == stages[first.id]["id"]  # the stage keeps its id
    assert (stage["status"], stage["reviewResult"], stage["justification"], stage["assignedToMe"]) == (
        "Completed", "Deny", "Use <the> approved tool & ask again.", False)
    helper = workflow.helper
    assert stage["reviewedBy"] == {"id": helper.id, "displayName": helper.display_name,
                                   "userPrincipalName": helper.user_principal_name, "mail": helper.mail}
    assert stage["reviewedDateTime"] is not None
    assert reader.get(users, params={"$filter": "status eq 'InProgress'"}).json()["value"] == []

    one = reader.get(f"{users}/{first.id}")
    assert one.status_code == 200, one.text
    assert one.json()["status"] == COMPLETED and one.json()["completedDateTime"] is not None
    approval = reader.get(f"{users}/{first.id}/approval")
    assert approval.status_code == 200, approval.text
    assert {k: v for k, v in approval.json().items() if k != "@odata.context"} == {"id": first.id,
                                                                                 "stages": [stage]}
    listed = reader.get(f"{users}/{first.id}/approval/stages").json()
    assert listed["value"] == [stage]
    by_id = reader.get(f"{users}/{first.id}/approval/stages/{stage['id']}")
    assert {k: v for k, v in by_id.json().items() if k != "@odata.context"} == stage
    assert_graph_error(reader.get(f"{users}/{first.id}/approval/stages/{uuid.uuid4()}"), 404,
                       "Request_ResourceNotFound")
    assert_graph_error(reader.get(f"{users}/{first.id}/approval/stages", params={"$top": "1"}), 400,
                       "Request_BadRequest")
    assert_graph_error(reader.get(f"{users}/{uuid.uuid4()}"), 404, "Request_ResourceNotFound")
    # A user request is only found under its own aggregate.
    _, [other] = submitted(workflow, workflow.adele)
    assert_graph_error(reader.get(f"{REQUESTS}/{other.app_request_id}/userConsentRequests/{first.id}"), 404,
                       "Request_ResourceNotFound")


def test_who_may_read_requests(workflow: Workflow, graph: Graph, app_token: Callable[..., str],
                               server: RunningServer) -> None:
    _, [request] = submitted(workflow, workflow.adele)
    one = f"{REQUESTS}/{request.app_request_id}"
    for user in (workflow.admin, workflow.app_admin, workflow.reader):
        client = graph(workflow.token(user))
        assert client.get(one).status_code == 200
        assert client.get(REQUESTS).status_code == 200
    for user in (workflow.adele, workflow.helper):  # no directory role, even for a reviewer
        client = graph(workflow.token(user))
        assert_graph_error(client.get(REQUESTS), 403, "Authorization_RequestDenied")
        assert_graph_error(client.get(one), 403, "Authorization_RequestDenied")
        assert_graph_error(client.get(f"{one}/userConsentRequests"), 403, "Authorization_RequestDenied")
    assert graph(app_token(workflow.tenant_id, ("ConsentRequest.Read.All",))).get(one).status_code == 200
    assert_graph_error(graph(app_token(workflow.tenant_id, ("Policy.Read.All",))).get(one), 403,
                       "Authorization_RequestDenied")
    assert_graph_error(graph(None).get(REQUESTS), 401, "InvalidAuthenticationToken")
    # Another tenant's administrator sees nothing of this tenant's requests.
    elsewhere = make_workflow(server)
    other = graph(elsewhere.token(elsewhere.admin))
    assert_graph_error(other.get(one), 404, "Request_ResourceNotFound")
    assert_graph_error(other.get(f"{one}/userConsentRequests/{request.id}"), 404, "Request_ResourceNotFound")
    assert request.app_request_id not in {i["id"] for i in other.get(REQUESTS).json()["value"]}


def test_real_responses_match_the_documented_schemas(workflow: Workflow, graph: Graph) -> None:
    """The Schemathesis run has no request in its tenant; here real, decided and pending ones are checked
    against the document the server serves."""
    document = graph(None).get("/v1.0/openapi.json").json()

    def validator(name: str) -> jsonschema_rs.Validator:
        return jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}",
                                            "components": document["components"]})

    _, [denied, other] = submitted(workflow, workflow.adele, workflow.bianca)
    deny(workflow, graph, denied.app_request_id, workflow.admin, "No <thanks>.")
    _, [pending] = submitted(workflow, workflow.adele)
    admin = graph(workflow.token(workflow.admin))
    users = f"{REQUESTS}/{denied.app_request_id}/userConsentRequests"
    checks = [
        ("adminConsentRequestPolicy", admin.get(POLICY)),
        ("appConsentRequestCollection", admin.get(REQUESTS, params={"$top": "2", "$count": "true"})),
        ("appConsentRequestCollection", admin.get(MINE, params=IN_PROGRESS_FILTER)),
        ("appConsentRequest", admin.get(f"{REQUESTS}/{denied.app_request_id}",
                                        params={"$expand": "userConsentRequests"})),
        ("appConsentRequest", admin.get(f"{REQUESTS}/{pending.app_request_id}", params={"$select": "appId"})),
        ("userConsentRequestCollection", admin.get(users)),
        ("userConsentRequestCollection", admin.get(f"{REQUESTS}/{pending.app_request_id}/userConsentRequests/"
                                                   "filterByCurrentUser(on='reviewer')")),
        ("userConsentRequest", admin.get(f"{users}/{other.id}")),
        ("approval", admin.get(f"{users}/{other.id}/approval")),
        ("approvalStageCollection", admin.get(f"{users}/{other.id}/approval/stages")),
    ]
    for name, response in checks:
        assert response.status_code == 200, (name, response.text)
        validator(name).validate(response.json())
    paths = document["paths"]
    assert set(paths[POLICY.removeprefix("/v1.0")]) == {"get", "patch"}
    assert paths[MINE.removeprefix("/v1.0")]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/appConsentRequestCollection"}
