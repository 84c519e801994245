"""The user's side of the admin consent request workflow (spec §5.3): "Approval required" instead of "Need
admin approval" when the workflow is on, the justification, "Request sent", the pending page, "Back to app"
with AADSTS90095, and approval through the admin consent URL completing the request."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.protocol.helpers import (
    TEST_ACTOR,
    authorize_params,
    form_action,
    hidden_inputs,
    make_app,
    make_tenant,
    make_user,
    redirect_params,
)
from tests.support.server import RunningServer
from tests.web.test_consent import consent_page_again, link, make_admin, page_text, press, to_consent_page

from consentry.domain.consent_requests import COMPLETED, IN_PROGRESS, user_reviewer
from consentry.domain.directory import Tenant, User
from consentry.services import consent_requests, policies
from consentry.services.request_policy import update_request_policy


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def workflow_tenant(server: RunningServer) -> tuple[Tenant, User]:
    """A tenant where users may not consent and requests go to one reviewer, a Global Administrator."""
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "none", TEST_ACTOR)
    reviewer = make_admin(server, tenant)
    update_request_policy(server.ctx, tenant.id, TEST_ACTOR, is_enabled=True, notify_reviewers=True,
                          reviewers=[user_reviewer(reviewer.id)])
    return tenant, reviewer


def request_form(browser: httpx.Client, page: httpx.Response, justification: str) -> httpx.Response:
    fields = hidden_inputs(page.text)
    return browser.post(f"{form_action(page.text)}", data={**fields, "justification": justification})


def test_approval_required_request_sent_and_back_to_app(server: RunningServer, browser: httpx.Client) -> None:
    tenant, _ = workflow_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    params = authorize_params(app)
    page = to_consent_page(browser, tenant.id, params, user.user_principal_name)
    assert "<h1>Approval required</h1>" in page.text
    assert "Enter justification for requesting this app" in page_text(page)
    sent = request_form(browser, page, "I need my <b>calendar</b> on my phone")
    assert sent.status_code == 200 and "<h1>Request sent</h1>" in sent.text
    [pending] = consent_requests.list_user_requests(
        server.ctx, tenant.id, consent_requests.find_in_progress(
            server.ctx, tenant.id, app.app_id, user.id, "Dynamic").app_request_id)  # type: ignore[union-attr]
    assert (pending.status, pending.reason) == (IN_PROGRESS, "I need my <b>calendar</b> on my phone")
    back = redirect_params(browser.get(link(sent, "Back to app")))
    assert back["error"] == "access_denied" and back["error_subcode"] == "cancel"
    assert back["error_description"].startswith("AADSTS90095: ") and back["state"] == params["state"]


def test_a_pending_request_is_shown_instead_of_a_new_form(server: RunningServer, browser: httpx.Client) -> None:
    tenant, _ = workflow_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    request_form(browser, page, "first")
    again = consent_page_again(browser, tenant.id, authorize_params(app))
    assert "Request pending" in again.text and "Request approval</button>" not in again.text
    replay = request_form(browser, page, "second")  # the old form posted again creates no new work
    assert replay.status_code == 200
    aggregate = consent_requests.find_in_progress(server.ctx, tenant.id, app.app_id, user.id, "Dynamic")
    assert aggregate is not None
    [only] = consent_requests.list_user_requests(server.ctx, tenant.id, aggregate.app_request_id)
    assert only.reason == "first"


def test_an_empty_justification_is_refused_and_nothing_is_created(server: RunningServer,
                                                                  browser: httpx.Client) -> None:
    tenant, _ = workflow_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    refused = request_form(browser, page, "   ")
    assert refused.status_code == 400 and "A justification is required." in refused.text
    assert consent_requests.find_in_progress(server.ctx, tenant.id, app.app_id, user.id, "Dynamic") is None


def test_admin_consent_through_the_url_completes_the_pending_request(server: RunningServer,
                                                                     browser: httpx.Client) -> None:
    tenant, reviewer = workflow_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    request_form(browser, page, "please")
    aggregate_id = consent_requests.find_in_progress(
        server.ctx, tenant.id, app.app_id, user.id, "Dynamic").app_request_id  # type: ignore[union-attr]
    with server.client() as admin_browser:
        admin_page = to_consent_page(admin_browser, tenant.id, authorize_params(app, prompt="admin_consent"),
                                     reviewer.user_principal_name)
        assert "Accept for your organization" in admin_page.text
        assert "code" in redirect_params(press(admin_browser, admin_page, "accept"))
    [done] = consent_requests.list_user_requests(server.ctx, tenant.id, aggregate_id)
    assert (done.status, done.review_result, done.reviewed_by_id) == (COMPLETED, "Approve", reviewer.id)
    result = redirect_params(browser.get(f"/{tenant.id}/oauth2/v2.0/authorize", params=authorize_params(app)))
    assert "code" in result


def test_workflow_audit_records_are_logged_by_access_reviews(server: RunningServer, browser: httpx.Client) -> None:
    """Spec §7.7: the workflow's own records come from the "Access Reviews" service; the consent itself from
    "Core Directory"."""
    tenant, _ = workflow_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    request_form(browser, page, "for the audit")
    with server.ctx.uow.read() as tx:
        events = tx.tenant(tenant.id).audit.list_events()
    by_activity = {e["activity_display_name"]: e["logged_by_service"] for e in events}
    assert by_activity["Create request"] == "Access Reviews"
    assert by_activity["Create governance policy template"] == "Access Reviews"
    assert by_activity["Add service principal"] == "Core Directory"
