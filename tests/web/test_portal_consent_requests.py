"""The portal's admin consent request pages over HTTP (spec §6.6, §7.3–§7.6): "My pending" and "All", a
request's page (app details, requesters with their justifications shown safely, permissions), Review
permissions and consent → Accept, the admin consent URL, Deny and Block, who may do what (the reviewer
snapshot, AADSTS90093, Global Reader), "Admin consent settings", and the Outbox."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from tests.protocol.helpers import TEST_ACTOR, make_tenant, make_user
from tests.support.server import RunningServer
from tests.web.portal_helpers import csrf, portal_client, post_form, text_of
from tests.web.test_consent import make_admin, press, register

from consentry.domain.builtin import MICROSOFT_GRAPH
from consentry.domain.consent_requests import (
    APPROVE,
    APPROVED,
    BLOCKED,
    COMPLETED,
    DENIED,
    IN_PROGRESS,
    UserConsentRequest,
    group_reviewer,
    role_reviewer,
    user_reviewer,
)
from consentry.domain.directory import CLOUD_APPLICATION_ADMINISTRATOR, GLOBAL_ADMINISTRATOR, Tenant, User
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.services import apps, consent_requests, directory, grants, outbox

GRAPH_STATIC = "https://graph.microsoft.com/.default"
SCRIPT = '<script>alert("pwned")</script> & "quotes"'


# --- set-up through the services ----------------------------------------------------------------------
def enable(server: RunningServer, tenant: Tenant, *reviewers: User) -> None:
    consent_requests.update_request_policy(server.ctx, tenant.id, TEST_ACTOR, is_enabled=True, notify_reviewers=True,
                                           reviewers=[user_reviewer(r.id) for r in reviewers])


def ask(server: RunningServer, tenant: Tenant, app_id: str, user: User, reason: str = "I need it for my work",
        scope: str = GRAPH_STATIC) -> UserConsentRequest:
    return consent_requests.submit_request(server.ctx, tenant.id, app_id, user.id, scope, reason, TEST_ACTOR)


def requests_of(server: RunningServer, tenant: Tenant, app_request_id: str) -> list[UserConsentRequest]:
    return consent_requests.list_user_requests(server.ctx, tenant.id, app_request_id)


def detail_path(app_request_id: str, tail: str = "") -> str:
    return f"/portal/consent-requests/{app_request_id}{tail}"


def listed(page: httpx.Response) -> list[str]:
    """The request ids a list page links to, in order."""
    return re.findall(r'<a href="/portal/consent-requests/([0-9a-f-]{36})">', page.text)


def follow(client: httpx.Client, response: httpx.Response) -> httpx.Response:
    assert response.status_code == 303, (response.status_code, text_of(response)[:800])
    return client.get(response.headers["location"])


def decide(client: httpx.Client, app_request_id: str, action: str, justification: str) -> httpx.Response:
    return post_form(client, detail_path(app_request_id), detail_path(app_request_id, f"/{action}"),
                     {"justification": justification})


def mails_to(server: RunningServer, tenant: Tenant, recipient: str) -> list[outbox.OutboxMessage]:
    messages, _ = outbox.page_outbox(server.ctx, tenant.id, limit=200)
    return [m for m in messages if m.recipient == recipient]


def workflow(server: RunningServer, role: str = "Global Administrator",
             roles: dict[str, tuple[str, ...]] | None = None) -> tuple[Tenant, User, User, str, str]:
    """A tenant whose one reviewer holds ``role``; an app (User.Read, and ``roles``); a user's pending request
    for its static list.
    Returns the tenant, the reviewer, the requester, the app's appId and the request's (aggregate's) id."""
    tenant = make_tenant(server)
    reviewer = make_admin(server, tenant, role)
    enable(server, tenant, reviewer)
    registered = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)}, roles=roles)
    user = make_user(server, tenant)
    asked = ask(server, tenant, registered.app_id, user)
    return tenant, reviewer, user, registered.app_id, asked.app_request_id


# --- the lists ----------------------------------------------------------------------------------------
def test_my_pending_lists_what_the_admin_reviews_and_all_lists_every_request_by_status(
        server: RunningServer) -> None:
    tenant, alex, user, _, first = workflow(server)
    blake = make_admin(server, tenant)
    enable(server, tenant, blake)  # later requests go to Blake only: Alex keeps the first (spec §6.6)
    server.advance(seconds=1)
    second = ask(server, tenant, register(server, tenant).app_id, user).app_request_id
    with portal_client(server, alex.user_principal_name) as client:
        mine = client.get("/portal/consent-requests")
        assert mine.status_code == 200 and listed(mine) == [first]
        assert "My pending" in text_of(mine) and 'aria-current="page">My pending' in mine.text
        row = text_of(mine)
        assert "1 user" in row and "Pending" in row
        assert listed(client.get("/portal/consent-requests?tab=all")) == [second, first]  # newest first
    with portal_client(server, blake.user_principal_name) as client:
        assert listed(client.get("/portal/consent-requests")) == [second]
        follow(client, decide(client, second, "deny", "Not now"))
        assert listed(client.get("/portal/consent-requests")) == []
        assert listed(client.get("/portal/consent-requests?tab=all&status=denied")) == [second]
        assert listed(client.get("/portal/consent-requests?tab=all&status=pending")) == [first]
        assert listed(client.get("/portal/consent-requests?tab=all&status=approved")) == []
        assert listed(client.get("/portal/consent-requests?tab=all&status=nonsense")) == [second, first]


def test_all_is_keyset_paged(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = make_admin(server, tenant)
    enable(server, tenant, admin)
    user = make_user(server, tenant)
    made = [ask(server, tenant, register(server, tenant).app_id, user).app_request_id for _ in range(27)]
    seen: list[str] = []
    with portal_client(server, admin.user_principal_name) as client:
        page = client.get("/portal/consent-requests?tab=all")
        while True:
            seen += listed(page)
            found = re.search(r'<a href="([^"]+)" rel="next">', page.text)
            if not found:
                break
            page = client.get(found.group(1).replace("&amp;", "&"))
        assert sorted(seen) == sorted(made) and len(seen) == len(set(seen)) == 27
        forged = client.get("/portal/consent-requests?tab=all&page=forged")
        assert "That page link is not valid any more" in text_of(forged) and len(listed(forged)) == 25


# --- a request's page ---------------------------------------------------------------------------------
def test_the_request_page_shows_app_details_requesters_and_permissions_with_justifications_escaped(
        server: RunningServer) -> None:
    tenant, reviewer, user, app_id, request_id = workflow(server)
    other = make_user(server, tenant)
    ask(server, tenant, app_id, other, reason=SCRIPT)
    with portal_client(server, reviewer.user_principal_name) as client:
        page = client.get(detail_path(request_id))
    assert page.status_code == 200
    text = text_of(page)
    for heading in ("App details", "Requested by", "Permissions", "Review permissions and consent", "Deny", "Block"):
        assert heading in text
    app = apps.find_application(server.ctx, tenant.id, app_id=app_id)
    assert app.display_name in text and app_id in text and "https://app.example/callback" in text
    assert user.user_principal_name in text and other.user_principal_name in text
    assert "I need it for my work" in text and SCRIPT in text  # shown as text…
    assert "<script>alert" not in page.text  # …never as markup
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; &#34;quotes&#34;" in page.text
    assert "User.Read" in text and "Sign in and read user profile" in text and "Delegated" in text
    assert f'href="{detail_path(request_id, "/review")}"' in page.text  # a reviewer who may approve
    assert text.count("Pending") >= 3  # the request and both users' requests


def test_an_unknown_or_another_tenants_request_is_not_found(server: RunningServer) -> None:
    tenant, _, _, _, request_id = workflow(server)
    elsewhere = make_tenant(server)
    admin = make_admin(server, elsewhere)
    with portal_client(server, admin.user_principal_name) as client:
        assert client.get(detail_path(request_id)).status_code == 404
        assert client.get(detail_path("not-a-guid")).status_code == 404
        token = csrf(client.get("/portal/consent-requests/settings"))
        for action in ("deny", "block", "approve"):
            refused = client.post(detail_path(request_id, f"/{action}"), data={"csrf_token": token,
                                                                               "justification": "no"})
            assert refused.status_code == 404, action
    assert [r.status for r in requests_of(server, tenant, request_id)] == [IN_PROGRESS]


# --- deciding -------------------------------------------------------------------------------------------
def test_deny_needs_a_justification_completes_the_requests_and_tells_the_requester(server: RunningServer) -> None:
    tenant, reviewer, user, app_id, request_id = workflow(server)
    with portal_client(server, reviewer.user_principal_name) as client:
        refused = decide(client, request_id, "deny", "   ")
        assert refused.status_code == 400
        assert "The request was not denied" in text_of(refused) and "A justification is required." in text_of(refused)
        assert [r.status for r in requests_of(server, tenant, request_id)] == [IN_PROGRESS]
        shown = follow(client, decide(client, request_id, "deny", "Use the approved <b>CRM</b> instead"))
        assert "Denied the request for" in text_of(shown) and "They may request it again." in text_of(shown)
        assert "Use the approved <b>CRM</b> instead" in text_of(shown) and "<b>CRM</b>" not in shown.text
        assert "Denied" in text_of(shown) and "You can" not in text_of(shown)
        again = decide(client, request_id, "deny", "twice")
        assert again.status_code == 400 and "already reviewed" in text_of(again)
    [done] = requests_of(server, tenant, request_id)
    assert (done.status, done.outcome, done.reviewed_by_id) == (COMPLETED, DENIED, reviewer.id)
    assert done.review_justification == "Use the approved <b>CRM</b> instead"
    [mail] = [m for m in mails_to(server, tenant, user.mail or "") if "was denied" in m.subject]
    assert "Use the approved <b>CRM</b> instead" in mail.text
    ask(server, tenant, app_id, user, reason="May I now?")  # after a denial the user may ask again


def test_block_disables_the_app_and_completes_the_requests(server: RunningServer) -> None:
    tenant, reviewer, user, app_id, request_id = workflow(server)
    with portal_client(server, reviewer.user_principal_name) as client:
        page = client.get(detail_path(request_id))
        assert "no further requests are possible" in page.text and "data-confirm=" in page.text
        shown = follow(client, decide(client, request_id, "block", "This app is not allowed here"))
    assert "it is disabled in" in text_of(shown) and "Blocked" in text_of(shown)
    assert apps.find_service_principal(server.ctx, tenant.id, app_id=app_id).account_enabled is False
    [done] = requests_of(server, tenant, request_id)
    assert (done.status, done.outcome) == (COMPLETED, BLOCKED)
    assert any("This app is not allowed here" in m.text for m in mails_to(server, tenant, user.mail or ""))


def test_review_permissions_and_consent_then_accept_grants_and_completes_every_pending_request(
        server: RunningServer) -> None:
    tenant, reviewer, user, app_id, request_id = workflow(server)
    ask(server, tenant, app_id, make_user(server, tenant), reason="me too")
    with portal_client(server, reviewer.user_principal_name) as client:
        review = client.get(detail_path(request_id, "/review"))
        assert review.status_code == 200
        text = text_of(review)
        assert "Permissions requested" in text and "User.Read" in text and "Accept" in text
        assert re.search(r'<button type="submit" class="primary"\s*>Accept</button>', review.text)
        shown = follow(client, client.post(detail_path(request_id, "/approve"), data={"csrf_token": csrf(review)}))
    assert "Approved: admin consent was granted" in text_of(shown) and "2 pending requests completed" in text_of(shown)
    done = requests_of(server, tenant, request_id)
    assert [(r.status, r.outcome, r.review_result, r.reviewed_by_id) for r in done] == [
        (COMPLETED, APPROVED, APPROVE, reviewer.id)] * 2
    tenant_wide = [g for g in grants.list_grants(server.ctx, tenant.id, app_id) if g.consent_type == ALL_PRINCIPALS]
    assert [set(g.scope.split()) for g in tenant_wide] == [{"User.Read"}]
    assert any("was approved" in m.subject for m in mails_to(server, tenant, user.mail or ""))


def test_the_admin_consent_url_on_the_review_page_completes_the_requests_too(server: RunningServer) -> None:
    tenant, reviewer, _, _, request_id = workflow(server)
    with portal_client(server, reviewer.user_principal_name) as client:
        review = client.get(detail_path(request_id, "/review"))
        url = re.search(r'id="cr-url" value="([^"]+)"', review.text)
        assert url, review.text
        parts = urlsplit(url.group(1).replace("&amp;", "&"))
        assert parts.path == f"/{tenant.id}/adminconsent"
        started = client.get(f"{parts.path}?{parts.query}")  # the portal's session signs the admin in
        assert started.status_code == 302 and "/consent?interaction=" in started.headers["location"]
        prompt = client.get(started.headers["location"])
        assert "Accept for your organization" in prompt.text
        accepted = press(client, prompt, "accept")
        assert accepted.status_code in (200, 302)
    assert [(r.status, r.outcome) for r in requests_of(server, tenant, request_id)] == [(COMPLETED, APPROVED)]


def test_a_dynamic_request_is_approved_with_its_pending_scopes(server: RunningServer) -> None:
    tenant, reviewer, _, app_id, static_id = workflow(server)
    asked = ask(server, tenant, app_id, make_user(server, tenant), scope="openid Calendars.Read Mail.Read")
    assert asked.app_request_id != static_id  # one aggregate per consent type (spec §7.3)
    with portal_client(server, reviewer.user_principal_name) as client:
        review = client.get(detail_path(asked.app_request_id, "/review"))
        text = text_of(review)
        assert "Dynamic consent request" in text and "Calendars.Read" in text and "Mail.Read" in text
        url = re.search(r'id="cr-url" value="([^"]+)"', review.text)
        assert url and f"/{tenant.id}/v2.0/adminconsent?" in url.group(1) and "Calendars.Read" in url.group(1)
        follow(client, client.post(detail_path(asked.app_request_id, "/approve"), data={"csrf_token": csrf(review)}))
        closed = text_of(client.get(detail_path(asked.app_request_id)))
        permissions = closed.split("Permissions", 2)[-1]
        assert "none is pending now" in closed and "Calendars.Read" in permissions and "Mail.Read" in permissions
        assert "Asked for" in closed  # each requester's own scopes, kept after the decision
    tenant_wide = [g for g in grants.list_grants(server.ctx, tenant.id, app_id) if g.consent_type == ALL_PRINCIPALS]
    assert {"Calendars.Read", "Mail.Read"} <= set(" ".join(g.scope for g in tenant_wide).split())
    assert [r.status for r in requests_of(server, tenant, asked.app_request_id)] == [COMPLETED]
    assert [r.status for r in requests_of(server, tenant, static_id)] == [IN_PROGRESS]  # decided on its own


def test_a_reviewer_without_consent_rights_cannot_approve_but_can_deny(server: RunningServer) -> None:
    tenant, reviewer, _, _, request_id = workflow(server, "Cloud Application Administrator",
                                                  roles={MICROSOFT_GRAPH: ("User.Read.All",)})
    with portal_client(server, reviewer.user_principal_name) as client:
        page = client.get(detail_path(request_id))
        text = text_of(page)
        assert f'href="{detail_path(request_id, "/review")}"' not in page.text
        assert re.search(r'<button type="button" class="primary" disabled[^>]*>Review permissions and consent',
                         page.text)
        assert "AADSTS90093" in text and "User.Read.All" in text and "application permission" in text
        review = client.get(detail_path(request_id, "/review"))
        assert re.search(r'<button type="submit" class="primary" disabled[^>]*>Accept</button>', review.text)
        refused = client.post(detail_path(request_id, "/approve"), data={"csrf_token": csrf(review)})
        assert refused.status_code == 400 and "The request was not approved" in text_of(refused)
        assert "AADSTS90093" in text_of(refused)
        assert [r.status for r in requests_of(server, tenant, request_id)] == [IN_PROGRESS]
        follow(client, decide(client, request_id, "deny", "Ask IT for a Global Administrator"))
    assert [(r.status, r.outcome) for r in requests_of(server, tenant, request_id)] == [(COMPLETED, DENIED)]


def test_an_admin_who_is_not_a_reviewer_sees_the_request_read_only_and_cannot_act(server: RunningServer) -> None:
    tenant, _, _, _, request_id = workflow(server)
    outsider = make_admin(server, tenant)  # a Global Administrator, but not in the snapshot
    with portal_client(server, outsider.user_principal_name) as client:
        page = client.get(detail_path(request_id))
        assert "You are not a reviewer of this request" in text_of(page)
        assert page.text.count('<fieldset class="cr-fieldset" disabled>') == 2
        assert f'href="{detail_path(request_id, "/review")}"' not in page.text
        for action in ("deny", "block"):
            refused = decide(client, request_id, action, "I should not be able to")
            assert refused.status_code == 403 and "Only a reviewer of this request may decide" in text_of(refused)
        review = client.get(detail_path(request_id, "/review"))
        refused = client.post(detail_path(request_id, "/approve"), data={"csrf_token": csrf(review)})
        assert refused.status_code == 403
    assert [r.status for r in requests_of(server, tenant, request_id)] == [IN_PROGRESS]


def test_a_global_reader_reviewer_sees_everything_read_only(server: RunningServer) -> None:
    tenant, _, _, _, request_id = workflow(server, "Global Reader")
    reader = directory.list_users(server.ctx, tenant.id)
    [reviewer] = [u for u in reader if directory.memberships_of(server.ctx, tenant.id, u.id)[1]]
    with portal_client(server, reviewer.user_principal_name) as client:
        assert listed(client.get("/portal/consent-requests")) == [request_id]
        page = client.get(detail_path(request_id))
        assert "Your roles let you view requests but not review them" in text_of(page)
        assert page.text.count('<fieldset class="cr-fieldset" disabled>') == 2
        refused = decide(client, request_id, "deny", "no")
        assert refused.status_code == 403 and "Nothing was changed" in text_of(refused)
        settings = client.get("/portal/consent-requests/settings")
        assert "Changing them needs the Global Administrator role" in text_of(settings)
        assert '<fieldset class="cr-fieldset" disabled>' in settings.text
        refused = post_form(client, "/portal/consent-requests/settings", "/portal/consent-requests/settings",
                            {"is_enabled": "no", "notify_reviewers": "no", "reminders_enabled": "no", "duration": "5"})
        assert refused.status_code == 403
        assert client.get("/portal/outbox").status_code == 200
    assert [r.status for r in requests_of(server, tenant, request_id)] == [IN_PROGRESS]
    assert consent_requests.get_request_policy(server.ctx, tenant.id).is_enabled is True


def test_a_form_without_its_anti_forgery_token_changes_nothing(server: RunningServer) -> None:
    tenant, reviewer, _, _, request_id = workflow(server)
    before = consent_requests.get_request_policy(server.ctx, tenant.id)
    with portal_client(server, reviewer.user_principal_name) as client:
        for action in ("deny", "block", "approve"):
            refused = client.post(detail_path(request_id, f"/{action}"), data={"justification": "forged"})
            assert refused.status_code == 403, action
        refused = client.post("/portal/consent-requests/settings", data={
            "is_enabled": "no", "notify_reviewers": "no", "reminders_enabled": "no", "duration": "3"})
        assert refused.status_code == 403
    assert [r.status for r in requests_of(server, tenant, request_id)] == [IN_PROGRESS]
    assert consent_requests.get_request_policy(server.ctx, tenant.id) == before


# --- Admin consent settings -----------------------------------------------------------------------------
def settings_form(**fields: str) -> dict[str, str]:
    return {"is_enabled": "yes", "notify_reviewers": "yes", "reminders_enabled": "no", "duration": "30", **fields}


def save(client: httpx.Client, data: dict[str, str]) -> httpx.Response:
    return post_form(client, "/portal/consent-requests/settings", "/portal/consent-requests/settings", data)


def test_settings_round_trip_with_users_groups_and_roles(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin, alex = make_admin(server, tenant), make_user(server, tenant)
    group = directory.create_group(server.ctx, tenant.id, "App reviewers", TEST_ACTOR)
    with portal_client(server, admin.user_principal_name) as client:
        first = client.get("/portal/consent-requests/settings")
        assert first.status_code == 200
        text = text_of(first)
        for label in ("Users can request admin consent to apps they are unable to consent to",
                      "Who can review admin consent requests",
                      "Selected users will receive email notifications for requests",
                      "Selected users will receive request expiration reminders",
                      "Consent request expires after (days)", "Global Administrator",
                      "Privileged Role Administrator", "Cloud Application Administrator", "Application Administrator"):
            assert label in text, label
        assert re.search(r'id="is_enabled-no" name="is_enabled" value="no" checked', first.text)
        assert 'value="30"' in first.text
        shown = follow(client, save(client, settings_form(
            add_users=alex.user_principal_name.upper(), add_groups="App reviewers",
            duration="7", **{f"role:{CLOUD_APPLICATION_ADMINISTRATOR.id}": "on"})))
        assert "Admin consent settings saved." in text_of(shown)
        assert re.search(r'id="is_enabled-yes" name="is_enabled" value="yes" checked', shown.text)
        assert 'value="7"' in shown.text
        assert alex.user_principal_name in text_of(shown) and "App reviewers" in text_of(shown)
        assert re.search(rf'name="role:{CLOUD_APPLICATION_ADMINISTRATOR.id}" value="on" checked', shown.text)
        policy = consent_requests.get_request_policy(server.ctx, tenant.id)
        assert (policy.is_enabled, policy.notify_reviewers, policy.reminders_enabled,
                policy.request_duration_in_days) == (True, True, False, 7)
        assert set(policy.reviewers) == {user_reviewer(alex.id), group_reviewer(group.id),
                                         role_reviewer(CLOUD_APPLICATION_ADMINISTRATOR.id)}
        unchanged = follow(client, save(client, settings_form(duration="7", **{
            f"role:{CLOUD_APPLICATION_ADMINISTRATOR.id}": "on"})))
        assert "Nothing to save" in text_of(unchanged)
        follow(client, save(client, settings_form(duration="7", **{
            f"remove:{user_reviewer(alex.id).query}": "on", f"remove:{group_reviewer(group.id).query}": "on",
            f"role:{GLOBAL_ADMINISTRATOR.id}": "on"})))
    policy = consent_requests.get_request_policy(server.ctx, tenant.id)
    assert policy.reviewers == (role_reviewer(GLOBAL_ADMINISTRATOR.id),)


def test_settings_are_validated_and_nothing_is_saved(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = make_admin(server, tenant)
    with portal_client(server, admin.user_principal_name) as client:
        refused = save(client, settings_form())
        assert refused.status_code == 400
        assert "Select at least one reviewer" in text_of(refused) and "The settings were not saved" in text_of(refused)
        assert re.search(r'id="is_enabled-yes" name="is_enabled" value="yes" checked', refused.text)  # kept
        for bad in ("0", "31", "seven", ""):
            refused = save(client, settings_form(duration=bad, **{f"role:{GLOBAL_ADMINISTRATOR.id}": "on"}))
            assert refused.status_code == 400 and "from 1 to 30" in text_of(refused), bad
        refused = save(client, settings_form(add_users="nobody@nowhere.example"))
        assert refused.status_code == 400 and "No user 'nobody@nowhere.example'" in text_of(refused)
        assert "nobody@nowhere.example" in refused.text  # what was typed is kept
        refused = save(client, settings_form(add_groups="No such group"))
        assert refused.status_code == 400 and "No group 'No such group'" in text_of(refused)
        refused = save(client, {"notify_reviewers": "yes", "reminders_enabled": "no", "duration": "5"})
        assert refused.status_code == 400 and "Choose Yes or No" in text_of(refused)
    assert consent_requests.get_request_policy(server.ctx, tenant.id).version == 0


def test_only_a_global_administrator_may_change_the_settings(server: RunningServer) -> None:
    tenant = make_tenant(server)
    cloud = make_admin(server, tenant, "Cloud Application Administrator")
    with portal_client(server, cloud.user_principal_name) as client:
        page = client.get("/portal/consent-requests/settings")
        assert page.status_code == 200 and "Changing them needs the Global Administrator role" in text_of(page)
        refused = save(client, settings_form(**{f"role:{GLOBAL_ADMINISTRATOR.id}": "on"}))
        assert refused.status_code == 403
    assert consent_requests.get_request_policy(server.ctx, tenant.id).version == 0


def test_the_consent_page_links_to_the_settings_and_the_nav_names_the_new_pages(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = make_admin(server, tenant)
    with portal_client(server, admin.user_principal_name) as client:
        page = client.get("/portal/consent")
        assert 'href="/portal/consent-requests/settings"' in page.text
        for label in ("Admin consent requests", "Admin consent settings", "Outbox"):
            assert label in text_of(page)


# --- Outbox ---------------------------------------------------------------------------------------------
def test_the_outbox_lists_mail_newest_first_and_shows_a_message_safely(server: RunningServer) -> None:
    tenant, reviewer, user, app_id, _ = workflow(server)
    ask(server, tenant, app_id, make_user(server, tenant), reason=SCRIPT)
    reader = make_admin(server, tenant, "Global Reader")
    with portal_client(server, reader.user_principal_name) as client:
        page = client.get("/portal/outbox")
        assert page.status_code == 200
        text = text_of(page)
        assert reviewer.user_principal_name in text and user.user_principal_name in text
        assert "Review request:" in text and "Pending" in text
        ids = re.findall(r'<a href="/portal/outbox/([0-9a-f-]{36})">', page.text)
        newest = outbox.page_outbox(server.ctx, tenant.id)[0]
        assert ids == [m.id for m in newest]
        assert client.get("/portal/outbox?status=sent").text.count("/portal/outbox/") == 0
        pending = client.get("/portal/outbox?status=pending")
        assert len(re.findall(r'<a href="/portal/outbox/', pending.text)) == len(ids)
        [review] = [m for m in newest if m.recipient == reviewer.mail and "Review request" in m.subject
                    and SCRIPT in m.text]
        message = client.get(f"/portal/outbox/{review.id}")
        assert client.get("/portal/outbox/00000000-0000-0000-0000-000000000000").status_code == 404
    assert message.status_code == 200
    assert "<script>alert" not in message.text and message.text.count("<body") == 1
    assert re.search(r'<iframe class="cr-mail-frame" title="[^"]+" sandbox="" ', message.text)
    frame = re.search(r'srcdoc="([^"]*)"', message.text)
    assert frame and "&lt;" in frame.group(1) and "<" not in frame.group(1)
    assert SCRIPT in text_of(message)  # the text part, as text
