"""The admin consent request workflow end to end with real clients (issue 6, "Tests"): msgraph-sdk turns the
workflow on; MSAL drives Apple Internet Accounts (auth code flow, the pages submitted over httpx; ROPC) for
Adele and a new user, who each reach "Approval required", send a justification, see "Request sent" and bring
``access_denied`` / AADSTS90095 back to the app; reviewers and requesters get real e-mail through a real
aiosmtpd server on loopback; the reviewer denies (through Consentry's decision API), blocks another app
(AADSTS7000112) and approves from the portal (httpx signed in to ``/portal``); expiry and both reminders
happen through ``consentry.jobs.run_once(ctx, mailer, as_of)`` — each exactly once even when the job runs
twice; the SMTP server goes down and comes back and every message arrives exactly once; reviewer snapshots
(a removed reviewer still decides, a newly added one cannot); a reviewer without consent rights may deny but
not approve (AADSTS90093); and hostile input (an oversized or script-laden justification, a requester deciding
her own request, a reviewer of another tenant).

The module runs its own server (a fresh data directory with the demo seeded). Each test sets up what it needs;
tests after the first use applications of their own (registered in Apple's tenant, multi-tenant, public
clients), so each has its own requests and mails. Mail is delivered by the job with an ``SmtpMailer`` pointed
at the test's own ``SmtpSink``; nothing else delivers (the test server runs no background jobs).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import msal
import pytest
from msgraph.generated.models.access_review_reviewer_scope import AccessReviewReviewerScope
from msgraph.generated.models.admin_consent_request_policy import AdminConsentRequestPolicy
from tests.clients.helpers import ADELE, APPLE_INTERNET_ACCOUNTS, GRAPH_CLI, GRAPH_DEFAULT, decode_jwt
from tests.clients.test_consent_story import (
    consent_page,
    follow_link,
    loopback,
    params_sent_to,
    sign_in_at,
)
from tests.graph.helpers import audit_events
from tests.graph.test_msgraph_sdk import graph_client, run
from tests.protocol.helpers import form_action, hidden_inputs
from tests.support.server import RunningServer, start_server
from tests.support.smtp import SmtpSink
from tests.web.portal_helpers import portal_client, text_of

from consentry import jobs
from consentry.domain.apps import Application
from consentry.domain.builtin import GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.consent_requests import COMPLETED, EXPIRED, IN_PROGRESS, UserConsentRequest, user_reviewer
from consentry.domain.directory import User
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.domain.ids import new_guid
from consentry.errors import ConsentryError
from consentry.jobs import JobReport
from consentry.mail.smtp import SmtpMailer
from consentry.services import apps, consent_requests, directory, grants, outbox, policies
from consentry.services.context import Actor
from consentry.services.demo import APPLE_TENANT_ID, CONTOSO_TENANT_ID, DEMO_PASSWORD, graph_cli_scope

pytestmark = [pytest.mark.clients,
              pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:response_mode=.form_post. is recommended:UserWarning")]

APPLE = APPLE_INTERNET_ACCOUNTS
APPLE_NAME = "Apple Internet Accounts"
CONTOSO = CONTOSO_TENANT_ID
ADMIN = "admin@contoso.example"  # Global Administrator: the reviewer
ALEX = "alex@contoso.example"  # Cloud Application Administrator
ACTOR = Actor("system", name="request workflow story tests")
API = "/consentry/v1/consentRequests"
CALENDAR_CONTACTS = ["Calendars.ReadWrite", "Contacts.ReadWrite"]
JUSTIFICATION_LABEL = "Enter justification for requesting this app"
SCRIPT = '<script>alert("pwned")</script> & <img src=x onerror=alert(1)>'
SENDER = "Consentry <no-reply@localhost>"


# --- the module's server ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def story(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own with the demo (Contoso on "Do not allow user consent"); MSAL trusts both this
    server's CA and the session server's (real-clients §5: REQUESTS_CA_BUNDLE)."""
    data_dir = tmp_path_factory.mktemp("request-workflow-story")
    running = start_server(data_dir)
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    try:
        running.clock.set(dt.datetime.now(dt.UTC))
        if policies.consent_settings(running.ctx, CONTOSO).user_consent != "none":
            policies.set_user_consent(running.ctx, CONTOSO, "none", ACTOR)
        bundle = data_dir / "ca-bundle.pem"
        bundle.write_text(Path(server.ca_path).read_text() + "\n" + Path(running.ca_path).read_text())
        os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)
        yield running
    finally:
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved
        gc.collect()  # MSAL sessions caught in reference cycles would hold connections open
        running.stop()


@pytest.fixture(autouse=True)
def _story_clock_at_real_time(story: RunningServer) -> None:
    """MSAL checks tokens against the real time; the server's manual clock must agree."""
    story.clock.set(dt.datetime.now(dt.UTC))


def graph_token(story: RunningServer, upn: str, tenant_id: str = CONTOSO) -> str:
    """A Microsoft Graph token for ``upn`` through the Graph command-line tools (MSAL ROPC)."""
    app = msal.PublicClientApplication(GRAPH_CLI, authority=f"{story.base_url}/{tenant_id}", instance_discovery=False)
    result = app.acquire_token_by_username_password(upn, DEMO_PASSWORD, scopes=GRAPH_DEFAULT)
    assert "access_token" in result, result
    return str(result["access_token"])


@pytest.fixture(scope="module")
def admin_id(story: RunningServer) -> str:
    return directory.find_user(story.ctx, CONTOSO, ADMIN).id


@pytest.fixture(scope="module")
def workflow_on(story: RunningServer, admin_id: str) -> None:
    """The administrator turns the workflow on with msgraph-sdk: herself as reviewer, e-mail and reminders on,
    requests expiring after 3 days."""
    sdk = graph_client(story, graph_token(story, ADMIN))
    policy = sdk.client.policies.admin_consent_request_policy

    async def scenario() -> None:
        await policy.patch(AdminConsentRequestPolicy(
            is_enabled=True, notify_reviewers=True, reminders_enabled=True, request_duration_in_days=3,
            reviewers=[AccessReviewReviewerScope(query=f"/users/{admin_id}", query_type="MicrosoftGraph")]))
        after = await policy.get()
        assert after is not None
        assert (after.is_enabled, after.notify_reviewers, after.reminders_enabled,
                after.request_duration_in_days) == (True, True, True, 3)
        assert [r.query for r in after.reviewers or []] == [f"/users/{admin_id}"]

    run(scenario, sdk)


@pytest.fixture
def reviewers(story: RunningServer, admin_id: str, workflow_on: None) -> Iterator[None]:
    """Tests that change the reviewers give the policy back with the administrator as the only reviewer."""
    yield
    consent_requests.update_request_policy(story.ctx, CONTOSO, ACTOR, reviewers=[user_reviewer(admin_id)])


# --- mail -------------------------------------------------------------------------------------------
@dataclass
class Mail:
    """The test's own SMTP server and a mailer pointed at it; :meth:`deliver` runs the minute job once."""

    story: RunningServer
    sink: SmtpSink
    mailer: SmtpMailer

    def deliver(self, as_of: dt.datetime | None = None) -> JobReport:
        return jobs.run_once(self.story.ctx, self.mailer, as_of)

    def to(self, recipient: str, subject: str = "") -> list[EmailMessage]:
        return [m for m in self.sink.messages if str(m["To"]).lower() == recipient.lower()
                and subject in " ".join(str(m["Subject"]).split())]

    def restart(self) -> None:
        """A new SMTP server on the same port (the old one stopped)."""
        self.sink = SmtpSink(port=self.sink.port).start()


@pytest.fixture
def mail(story: RunningServer, workflow_on: None) -> Iterator[Mail]:
    sink = SmtpSink().start()
    holder = Mail(story, sink, SmtpMailer.from_url(sink.url, SENDER, timeout=5))
    holder.deliver()  # whatever earlier tests left due goes to this server, not to the test's counts
    holder.sink.received.clear()
    try:
        yield holder
    finally:
        with contextlib.suppress(Exception):
            holder.sink.stop()


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None, message
    return str(text.get_content()), str(html.get_content())


# --- directory set-up -------------------------------------------------------------------------------
def new_user(story: RunningServer, name: str) -> User:
    upn = f"{name.split()[0].lower()}.{uuid.uuid4().hex[:6]}@contoso.example"
    return directory.create_user(story.ctx, CONTOSO, upn, name, DEMO_PASSWORD, ACTOR)


def reset_apple(story: RunningServer) -> None:
    with contextlib.suppress(ConsentryError):
        apps.delete_service_principal(story.ctx, CONTOSO, APPLE, ACTOR)


def public_app(story: RunningServer, name: str, *, delegated: tuple[str, ...] = ("User.Read",),
               roles: tuple[str, ...] = ()) -> str:
    """A multi-tenant public client registered in Apple's tenant (``http://localhost``, any port), with a
    static list on Microsoft Graph; Contoso has no service principal for it yet."""
    graph = find_builtin_application(MICROSOFT_GRAPH)
    assert graph is not None
    access = [(next(s.id for s in graph.scopes if s.value == v), "Scope") for v in delegated]
    access += [(next(r.id for r in graph.app_roles if r.value == v), "Role") for v in roles]
    app = apps.register_application(story.ctx, APPLE_TENANT_ID, Application(
        id=new_guid(), app_id=new_guid(), tenant_id=APPLE_TENANT_ID, display_name=f"{name} {uuid.uuid4().hex[:4]}",
        sign_in_audience="AzureADMultipleOrgs", is_fallback_public_client=True,
        public_client_redirect_uris=("http://localhost",),
        required_resource_access=(apps.required_resource_access_for(MICROSOFT_GRAPH, access),)), ACTOR)
    return app.app_id


def app_name(story: RunningServer, app_id: str) -> str:
    with story.ctx.uow.read() as tx:
        app = apps.find_application_anywhere(tx, app_id)
    assert app is not None
    return str(app.display_name)


def submit(story: RunningServer, app_id: str, user: User, reason: str = "I need it for my work.",
           scope: str = "User.Read") -> UserConsentRequest:
    return consent_requests.submit_request(story.ctx, CONTOSO, app_id, user.id, scope, reason, ACTOR)


def granted(story: RunningServer, app_id: str) -> list[Any]:
    """Contoso's delegated grants to the app (none while it has no service principal there)."""
    try:
        return list(grants.list_grants(story.ctx, CONTOSO, app_id))
    except ConsentryError:
        return []


def requests_of(story: RunningServer, app_request_id: str) -> list[UserConsentRequest]:
    return consent_requests.list_user_requests(story.ctx, CONTOSO, app_request_id)


# --- the user's side, through MSAL and the pages ------------------------------------------------------
def msal_app(story: RunningServer, client_id: str = APPLE) -> msal.PublicClientApplication:
    """A new app object each time: MSAL caches 400 answers per object (real-clients §0.5)."""
    return msal.PublicClientApplication(client_id, authority=f"{story.base_url}/{CONTOSO}", instance_discovery=False)


def approval_required_page(story: RunningServer, browser: httpx.Client, upn: str, client_id: str,
                           scopes: list[str]) -> tuple[msal.PublicClientApplication, dict[str, Any], httpx.Response]:
    app = msal_app(story, client_id)
    flow = app.initiate_auth_code_flow(scopes=scopes, redirect_uri=loopback())
    page = consent_page(browser, sign_in_at(browser, flow["auth_uri"], upn))
    assert "<h1>Approval required</h1>" in page.text, page.text[:1500]
    assert JUSTIFICATION_LABEL in page.text and "Request approval</button>" in page.text
    return app, flow, page


def send_justification(browser: httpx.Client, page: httpx.Response, justification: str) -> httpx.Response:
    return browser.post(form_action(page.text), data={**hidden_inputs(page.text), "justification": justification})


def request_through_the_pages(story: RunningServer, upn: str, justification: str, client_id: str = APPLE,
                              scopes: list[str] | None = None) -> None:
    """The user signs in to the app, reaches "Approval required", sends her justification, sees "Request sent",
    and "Back to app" brings MSAL access_denied with AADSTS90095 (state checked by MSAL)."""
    with story.client() as browser:
        app, flow, page = approval_required_page(story, browser, upn, client_id, scopes or CALENDAR_CONTACTS)
        sent = send_justification(browser, page, justification)
        assert sent.status_code == 200 and "<h1>Request sent</h1>" in sent.text, sent.text[:1500]
        back = follow_link(browser, sent, "Back to app")
    params = params_sent_to(back, flow["redirect_uri"])
    assert params["state"] == flow["state"] and params["error"] == "access_denied"
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert result.get("error") == "access_denied", result
    assert result["error_description"].startswith("AADSTS90095: "), result
    assert "access_token" not in result


def ropc(story: RunningServer, upn: str, scopes: list[str], client_id: str = APPLE) -> dict[str, Any]:
    return dict(msal_app(story, client_id).acquire_token_by_username_password(upn, DEMO_PASSWORD, scopes=scopes))


def aggregate_for(story: RunningServer, app_id: str, user_id: str, consent_type: str = "Dynamic") -> str:
    found = consent_requests.find_in_progress(story.ctx, CONTOSO, app_id, user_id, consent_type)
    assert found is not None, "no request in progress"
    return found.app_request_id


# --- the reviewer's side ----------------------------------------------------------------------------
def decide(story: RunningServer, token: str, app_request_id: str, action: str,
           justification: str | None = None) -> httpx.Response:
    body = {"justification": justification} if justification is not None else {}
    with story.client(headers={"Authorization": f"Bearer {token}"}) as api:
        return api.post(f"{API}/{app_request_id}/{action}", json=body)


def approve_in_portal(story: RunningServer, app_request_id: str) -> httpx.Response:
    """The administrator signs in to the portal, opens the request from "My pending", follows "Review
    permissions and consent" and presses Accept; the page the redirect lands on."""
    with portal_client(story, ADMIN, DEMO_PASSWORD) as portal:
        mine = portal.get("/portal/consent-requests")
        assert mine.status_code == 200, mine.text[:800]
        assert f'href="/portal/consent-requests/{app_request_id}"' in mine.text, text_of(mine)[:1500]
        request_page = portal.get(f"/portal/consent-requests/{app_request_id}")
        assert request_page.status_code == 200, request_page.text[:800]
        review = portal.get(f"/portal/consent-requests/{app_request_id}/review")
        assert 'href="/portal/consent-requests/' + app_request_id + '/review"' in request_page.text
        assert review.status_code == 200 and "Permissions requested" in review.text, text_of(review)[:1500]
        accepted = portal.post(f"/portal/consent-requests/{app_request_id}/approve",
                               data={"csrf_token": hidden_inputs(review.text)["csrf_token"]})
        assert accepted.status_code == 303, (accepted.status_code, text_of(accepted)[:1500])
        return portal.get(location_of(accepted))


def location_of(response: httpx.Response) -> str:
    return response.headers["location"]


# --- the story --------------------------------------------------------------------------------------
def test_two_users_request_apple_the_reviewer_denies_then_approves_from_the_portal(
        story: RunningServer, mail: Mail, admin_id: str) -> None:
    reset_apple(story)
    bianca = new_user(story, "Bianca Pham")
    adele = directory.find_user(story.ctx, CONTOSO, ADELE)

    # Before anything is approved, ROPC fails as consent is required.
    before = ropc(story, ADELE, CALENDAR_CONTACTS)
    assert "access_token" not in before and before.get("error_codes") == [65001], before

    request_through_the_pages(story, ADELE, "I need my calendar and contacts on my iPhone.")
    request_through_the_pages(story, bianca.user_principal_name, "Sales needs Apple Mail on the road.")
    aggregate_id = aggregate_for(story, APPLE, adele.id)
    assert aggregate_for(story, APPLE, bianca.id) == aggregate_id  # one aggregate …
    first = requests_of(story, aggregate_id)
    assert sorted((r.user_principal_name, r.status) for r in first) == sorted(  # … two user requests
        [(ADELE, IN_PROGRESS), (bianca.user_principal_name, IN_PROGRESS)])
    assert all(r.reviewer_ids == (admin_id,) for r in first)
    aggregate = consent_requests.get_app_request(story.ctx, CONTOSO, aggregate_id)
    assert aggregate.consent_type == "Dynamic"
    assert {"Calendars.ReadWrite", "Contacts.ReadWrite"} <= set(aggregate.pending_scopes)

    # The reviewer gets one e-mail per request; each requester a confirmation.
    report = mail.deliver()
    assert report.delivery is not None and report.delivery.failed == 0
    review = mail.to(ADMIN, f"requested access to {APPLE_NAME}")
    assert sorted(str(m["Subject"]) for m in review) == sorted([
        f"Review request: Adele Vance requested access to {APPLE_NAME}",
        f"Review request: Bianca Pham requested access to {APPLE_NAME}"])
    link = f"{story.base_url}/portal/consent-requests/{aggregate_id}"
    for message in review:
        text, html = parts(message)
        assert link in text and f'href="{link}"' in html, (text, html)
        assert APPLE_NAME in text and APPLE_NAME in html
        assert "Calendars.ReadWrite" in text and "Calendars.ReadWrite" in html
    adele_review = next(m for m in review if "Adele Vance" in str(m["Subject"]))
    assert "I need my calendar and contacts on my iPhone." in parts(adele_review)[0]
    assert len(mail.to(ADELE, f"Your request for access to {APPLE_NAME} was sent for approval")) == 1
    assert len(mail.to(bianca.user_principal_name, "was sent for approval")) == 1

    # Deny, through Consentry's decision API: both requesters are told why; nothing is granted.
    reason = "Use Outlook for iOS, which IT supports."
    denied = decide(story, graph_token(story, ADMIN), aggregate_id, "deny", reason)
    assert denied.status_code == 200, denied.text
    assert {r.review_result for r in requests_of(story, aggregate_id)} == {"Deny"}
    mail.deliver()
    for upn in (ADELE, bianca.user_principal_name):
        [told] = mail.to(upn, f"Your request for access to {APPLE_NAME} was denied")
        text, html = parts(told)
        assert reason in text and reason in html
    assert "access_token" not in ropc(story, ADELE, CALENDAR_CONTACTS)

    # Adele may ask again: a new request in the same aggregate; the reviewer is told again.
    request_through_the_pages(story, ADELE, "Please reconsider: Outlook cannot sync my CalDAV calendars.")
    again = [r for r in requests_of(story, aggregate_id) if r.status == IN_PROGRESS]
    assert [r.user_principal_name for r in again] == [ADELE]
    assert again[0].id not in {r.id for r in first}
    mail.deliver()
    assert len(mail.to(ADMIN, f"Review request: Adele Vance requested access to {APPLE_NAME}")) == 2

    # Approve from the portal: Review permissions and consent → Accept.
    landed = approve_in_portal(story, aggregate_id)
    assert "Approved: admin consent was granted" in text_of(landed), text_of(landed)[:1500]
    [done] = [r for r in requests_of(story, aggregate_id) if r.id == again[0].id]
    assert (done.status, done.review_result, done.reviewed_by_id) == (COMPLETED, "Approve", admin_id)
    mail.deliver()
    [approved] = mail.to(ADELE, f"Your request for access to {APPLE_NAME} was approved")
    assert "You can now sign in to the app." in parts(approved)[0]
    assert mail.to(bianca.user_principal_name, "was approved") == []  # her request was closed by the denial

    token = ropc(story, ADELE, CALENDAR_CONTACTS)
    assert "access_token" in token, token
    claims = decode_jwt(token["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com" and claims["appid"] == APPLE
    assert {"Calendars.ReadWrite", "Contacts.ReadWrite"} <= set(claims["scp"].split()), claims
    # Each e-mail arrived once.
    assert set(mail.sink.count_by_message_id().values()) == {1}


def test_blocking_another_app_makes_ropc_and_auth_code_fail_with_7000112(story: RunningServer, mail: Mail) -> None:
    app_id = public_app(story, "Mail Forwarder")
    name = app_name(story, app_id)
    adele = directory.find_user(story.ctx, CONTOSO, ADELE)
    request_through_the_pages(story, ADELE, "Forward my mail home.", client_id=app_id, scopes=["User.Read"])
    aggregate_id = aggregate_for(story, app_id, adele.id)

    reason = "Forwarding company mail outside is not allowed."
    blocked = decide(story, graph_token(story, ADMIN), aggregate_id, "block", reason)
    assert blocked.status_code == 200, blocked.text
    mail.deliver()
    [told] = mail.to(ADELE, f"Your request for access to {name} was denied")
    text, html = parts(told)
    assert reason in text and reason in html and "blocked" in text

    result = ropc(story, ADELE, ["User.Read"], client_id=app_id)
    assert result.get("error") == "unauthorized_client" and result.get("error_codes") == [7000112], result
    flow = msal_app(story, app_id).initiate_auth_code_flow(scopes=["User.Read"], redirect_uri=loopback())
    with story.client() as browser:
        page = sign_in_at(browser, flow["auth_uri"], ADELE)
    assert page.status_code == 400 and "location" not in page.headers, (page.status_code, page.text[:800])
    assert "AADSTS7000112" in page.text
    with pytest.raises(ConsentryError):  # and no new request
        submit(story, app_id, new_user(story, "Carol Blocked"))


def test_reminders_and_expiry_through_as_of_each_go_out_exactly_once(story: RunningServer, mail: Mail) -> None:
    app_id = public_app(story, "Expense Scanner")
    name = app_name(story, app_id)
    adele = directory.find_user(story.ctx, CONTOSO, ADELE)
    bianca = new_user(story, "Bianca Expiry")
    start = story.clock.now()
    asked = [submit(story, app_id, adele), submit(story, app_id, bianca)]
    assert all(r.expires_at == start + dt.timedelta(days=3) for r in asked)
    mail.deliver()
    assert len(mail.to(ADMIN, f"Review request: Adele Vance requested access to {name}")) == 1

    def reviewer_mails(subject: str) -> int:
        return len(mail.to(ADMIN, subject))

    for _ in range(2):  # halfway (1.5 days): the first reminder, once per request
        mail.deliver(start + dt.timedelta(days=1, hours=13))
    assert reviewer_mails(f"Reminder: Adele Vance's request for access to {name} is waiting for review") == 1
    assert reviewer_mails(f"Reminder: Bianca Expiry's request for access to {name} is waiting for review") == 1
    assert reviewer_mails(f"Final reminder: Adele Vance's request for access to {name}") == 0

    for _ in range(2):  # a day before expiry (2 days): the final reminder
        mail.deliver(start + dt.timedelta(days=2, hours=1))
    assert reviewer_mails(f"Final reminder: Adele Vance's request for access to {name} expires soon") == 1
    assert reviewer_mails(f"Final reminder: Bianca Expiry's request for access to {name} expires soon") == 1
    [final] = mail.to(ADMIN, f"Final reminder: Adele Vance's request for access to {name}")
    assert f"{story.base_url}/portal/consent-requests/{asked[0].app_request_id}" in parts(final)[0]

    for _ in range(2):  # after expiry: expired, with mails to the requesters and the reviewer
        mail.deliver(start + dt.timedelta(days=3, minutes=5))
    assert [r.status for r in requests_of(story, asked[0].app_request_id)] == [EXPIRED, EXPIRED]
    assert len(mail.to(ADELE, f"Your request for access to {name} expired")) == 1
    assert len(mail.to(bianca.user_principal_name, f"Your request for access to {name} expired")) == 1
    assert reviewer_mails(f"Request expired: Adele Vance's request for access to {name}") == 1
    assert reviewer_mails(f"Request expired: Bianca Expiry's request for access to {name}") == 1
    for request in asked:
        assert len(audit_events(story, "Request expired", request.id)) == 1
    # Reminders stay at one each, and nothing arrived twice.
    assert reviewer_mails(f"Reminder: Adele Vance's request for access to {name}") == 1
    assert set(mail.sink.count_by_message_id().values()) == {1}

    again = submit(story, app_id, adele, "Asking again after expiry.")  # she may ask again
    assert again.id != asked[0].id and again.status == IN_PROGRESS


def test_smtp_down_then_up_every_message_arrives_exactly_once(story: RunningServer, mail: Mail) -> None:
    app_id = public_app(story, "Travel Planner")
    name = app_name(story, app_id)
    users = [directory.find_user(story.ctx, CONTOSO, ADELE), new_user(story, "Dan Down"), new_user(story, "Eve Up")]
    mail.sink.stop()
    asked = [submit(story, app_id, user, f"{user.display_name} travels a lot.") for user in users]
    queued = [m for m in outbox.page_outbox(story.ctx, CONTOSO, status="pending", limit=200)[0] if name in m.subject]
    assert len(queued) == 6  # per request: the requester's confirmation and the reviewer's review request

    down = mail.deliver()
    assert down.delivery is not None and down.delivery.sent == 0
    assert down.delivery.failed >= 1 and down.delivery.failed + down.delivery.postponed >= 6, down.delivery
    failed = [m for m in outbox.page_outbox(story.ctx, CONTOSO, status="failed", limit=200)[0] if name in m.subject]
    assert failed and all(m.attempts >= 1 and m.last_error for m in failed), failed
    assert {m.id for m in outbox.page_outbox(story.ctx, CONTOSO, limit=200)[0] if name in m.subject
            and m.sent_at is None} == {m.id for m in queued}  # nothing lost

    mail.restart()
    too_soon = mail.deliver()  # before the backoff: nothing is due yet
    assert too_soon.delivery is not None and too_soon.delivery.sent == 0, too_soon.delivery
    later = story.clock.now() + dt.timedelta(hours=2)
    for _ in range(2):
        mail.deliver(later)
    arrived = mail.sink.count_by_message_id()
    assert {m.message_id for m in queued} <= set(arrived), (arrived, [m.message_id for m in queued])
    assert all(arrived[m.message_id] == 1 for m in queued)
    assert len(mail.to(ADMIN, f"requested access to {name}")) == len(asked)
    sent = {m.id: m for m in outbox.page_outbox(story.ctx, CONTOSO, status="sent", limit=200)[0]}
    assert {m.id for m in queued} <= set(sent)


def test_a_removed_reviewer_still_decides_and_a_newly_added_one_cannot(
        story: RunningServer, mail: Mail, admin_id: str, reviewers: None) -> None:
    rita, nina = new_user(story, "Rita Removed"), new_user(story, "Nina New")
    consent_requests.update_request_policy(story.ctx, CONTOSO, ACTOR,
                                           reviewers=[user_reviewer(admin_id), user_reviewer(rita.id)])
    app_id = public_app(story, "Whiteboard")
    request = submit(story, app_id, directory.find_user(story.ctx, CONTOSO, ADELE))
    assert set(request.reviewer_ids) == {admin_id, rita.id}
    consent_requests.update_request_policy(story.ctx, CONTOSO, ACTOR,
                                           reviewers=[user_reviewer(admin_id), user_reviewer(nina.id)])

    refused = decide(story, graph_token(story, nina.user_principal_name), request.app_request_id, "deny", "No.")
    assert refused.status_code == 403, refused.text
    assert requests_of(story, request.app_request_id)[0].status == IN_PROGRESS
    allowed = decide(story, graph_token(story, rita.user_principal_name), request.app_request_id, "deny",
                     "We have a whiteboard app already.")
    assert allowed.status_code == 200, allowed.text
    [done] = requests_of(story, request.app_request_id)
    assert (done.status, done.review_result, done.reviewed_by_id) == (COMPLETED, "Deny", rita.id)


def test_a_reviewer_without_consent_rights_may_deny_but_not_approve_90093(
        story: RunningServer, mail: Mail, admin_id: str, reviewers: None) -> None:
    alex = directory.find_user(story.ctx, CONTOSO, ALEX)
    consent_requests.update_request_policy(story.ctx, CONTOSO, ACTOR,
                                           reviewers=[user_reviewer(admin_id), user_reviewer(alex.id)])
    app_id = public_app(story, "Directory Reporter", roles=("User.Read.All",))
    request = submit(story, app_id, directory.find_user(story.ctx, CONTOSO, ADELE),
                     scope="https://graph.microsoft.com/.default")
    token = graph_token(story, ALEX)
    refused = decide(story, token, request.app_request_id, "approve")
    assert refused.status_code == 403, refused.text
    message = refused.json()["error"]["message"]
    assert "aren't authorized to grant" in message, message  # AADSTS90093's text (Graph errors carry no number)
    with portal_client(story, ALEX, DEMO_PASSWORD) as portal:
        review = portal.get(f"/portal/consent-requests/{request.app_request_id}/review")
    assert "AADSTS90093" in text_of(review) and "but not approve it" in text_of(review), text_of(review)[:1500]
    assert requests_of(story, request.app_request_id)[0].status == IN_PROGRESS
    assert granted(story, app_id) == []

    denied = decide(story, token, request.app_request_id, "deny", "Application permissions need a Global Admin.")
    assert denied.status_code == 200, denied.text
    assert requests_of(story, request.app_request_id)[0].review_result == "Deny"


# --- hostile input ----------------------------------------------------------------------------------
def test_an_oversized_justification_is_refused_with_a_clear_message(story: RunningServer, mail: Mail) -> None:
    app_id = public_app(story, "Oversized")
    adele = directory.find_user(story.ctx, CONTOSO, ADELE)
    with story.client() as browser:
        _, _, page = approval_required_page(story, browser, ADELE, app_id, ["User.Read"])
        refused = send_justification(browser, page, "x" * 1001)
    assert refused.status_code == 400, refused.text[:800]
    assert "The justification may be at most 1000 characters." in text_of(refused)
    assert consent_requests.find_in_progress(story.ctx, CONTOSO, app_id, adele.id, "Dynamic") is None


def test_a_script_laden_justification_is_stored_verbatim_and_shown_escaped(story: RunningServer,
                                                                            mail: Mail) -> None:
    app_id = public_app(story, "Script Kiddie")
    name = app_name(story, app_id)
    adele = directory.find_user(story.ctx, CONTOSO, ADELE)
    request_through_the_pages(story, ADELE, SCRIPT, client_id=app_id, scopes=["User.Read"])
    aggregate_id = aggregate_for(story, app_id, adele.id)
    [stored] = requests_of(story, aggregate_id)
    assert stored.reason == SCRIPT

    with portal_client(story, ADMIN, DEMO_PASSWORD) as portal:
        page = portal.get(f"/portal/consent-requests/{aggregate_id}")
    assert page.status_code == 200
    assert SCRIPT not in page.text and "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(" in page.text and SCRIPT in text_of(page)

    mail.deliver()
    [review] = mail.to(ADMIN, f"Review request: Adele Vance requested access to {name}")
    text, html = parts(review)
    assert SCRIPT in text
    assert "<script>" not in html and "<img src=x" not in html and "&lt;script&gt;" in html


def test_a_requester_who_is_not_a_reviewer_cannot_decide_her_own_request(story: RunningServer, mail: Mail) -> None:
    app_id = public_app(story, "Self Service")
    request = submit(story, app_id, directory.find_user(story.ctx, CONTOSO, ADELE))
    token = graph_token(story, ADELE)
    for action in ("approve", "deny", "block"):
        refused = decide(story, token, request.app_request_id, action, "I approve of myself.")
        assert refused.status_code == 403, (action, refused.text)
        assert refused.json()["error"]["code"] == "Authorization_RequestDenied", refused.text
    assert requests_of(story, request.app_request_id)[0].status == IN_PROGRESS
    assert granted(story, app_id) == []


def test_a_reviewer_of_another_tenant_is_refused(story: RunningServer, mail: Mail) -> None:
    domain = f"fabrikam-{uuid.uuid4().hex[:6]}.example"
    tenant = directory.create_tenant(story.ctx, "Fabrikam", [domain], ACTOR)
    other = directory.create_user(story.ctx, tenant.id, f"admin@{domain}", "Fabrikam Admin", DEMO_PASSWORD, ACTOR)
    directory.assign_role(story.ctx, tenant.id, other.id, "Global Administrator", ACTOR)
    grants.add_grant(story.ctx, tenant.id, GRAPH_COMMAND_LINE_TOOLS, MICROSOFT_GRAPH, ALL_PRINCIPALS,
                     graph_cli_scope(), ACTOR)
    consent_requests.update_request_policy(story.ctx, tenant.id, ACTOR, is_enabled=True,
                                           reviewers=[user_reviewer(other.id)])
    app_id = public_app(story, "Cross Tenant")
    request = submit(story, app_id, directory.find_user(story.ctx, CONTOSO, ADELE))
    token = graph_token(story, other.user_principal_name, tenant.id)
    for action in ("approve", "deny", "block"):
        refused = decide(story, token, request.app_request_id, action, "Not yours.")
        assert refused.status_code == 404, (action, refused.text)  # no such request in her tenant
        assert refused.json()["error"]["code"] == "Request_ResourceNotFound", refused.text
    assert requests_of(story, request.app_request_id)[0].status == IN_PROGRESS
