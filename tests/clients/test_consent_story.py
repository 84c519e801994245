"""The seed story end to end with MSAL for Python (spec §10, §3.2–§3.4, §5, §8.3, §13): Contoso does not let
users consent, so Adele's Apple Internet Accounts fails (ROPC: AADSTS65001; interactive: "Need admin
approval"); an administrator consents for the organization through each admin consent URL form; Adele's
mail, calendar and contacts then work; cancel, the Cloud Application Administrator's limits, revocation and
disabling behave as Entra does.

Everything runs on this module's own server (a fresh data directory with the demo seeded), so consenting in
Contoso does not disturb the session server other tests share. Each test puts Apple Internet Accounts in the
state it needs first — never consented (Entra's delete-to-reset: deleting the service principal removes its
grants) or consented tenant-wide — so the tests do not depend on each other's order.

MSAL's requests use ``REQUESTS_CA_BUNDLE`` (real-clients §5), which the session fixture points at the
session server's CA; this module points it at a bundle holding both CAs while it runs. The browser is httpx
submitting Consentry's HTML forms; MSAL builds every authorize URL and redeems every code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import html
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import msal
import pytest
from tests.clients.helpers import ADELE, APPLE_INTERNET_ACCOUNTS, GRAPH_CLI, GRAPH_DEFAULT, decode_jwt
from tests.protocol.helpers import form_action, hidden_inputs, submit_sign_in
from tests.support.egress import free_port
from tests.support.server import RunningServer, start_server

from consentry.domain.apps import Application
from consentry.domain.builtin import EXCHANGE_ONLINE, MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.ids import new_guid
from consentry.errors import ConsentryError
from consentry.services import apps, grants, mailbox, policies
from consentry.services.context import Actor
from consentry.services.demo import APPLE_TENANT_ID, CONTOSO_TENANT_ID, DEMO_PASSWORD

pytestmark = [pytest.mark.clients,
              pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:response_mode=.form_post. is recommended:UserWarning")]

APPLE = APPLE_INTERNET_ACCOUNTS
CONTOSO = CONTOSO_TENANT_ID
ADMIN = "admin@contoso.example"  # Global Administrator
ALEX = "alex@contoso.example"  # Cloud Application Administrator
ACTOR = Actor("system", name="consent story tests")

EAS = "https://outlook.office365.com/EAS.AccessAsUser.All"
EWS = "https://outlook.office365.com/EWS.AccessAsUser.All"
MAIL_SCOPES = [EAS, EWS]
CALENDAR_CONTACTS = ["Calendars.ReadWrite", "Contacts.ReadWrite"]
# Apple's static list (requiredResourceAccess), which every admin consent form below grants tenant-wide.
STATIC_SCOPES = {
    MICROSOFT_GRAPH: {"openid", "profile", "offline_access", "User.Read", "Calendars.ReadWrite", "Contacts.ReadWrite"},
    EXCHANGE_ONLINE: {"EAS.AccessAsUser.All", "EWS.AccessAsUser.All"},
}
NEED_APPROVAL_TEXT = ("Apple Internet Accounts needs permission to access resources in your organization that "
                      "only an admin can grant")


# --- the module's server ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def story(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own, seeded with the demo directory and the demo mailboxes, Contoso on "Do not allow
    user consent"; MSAL trusts both this server's CA and the session server's."""
    data_dir = tmp_path_factory.mktemp("consent-story")
    running = start_server(data_dir)
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    try:
        ctx = running.ctx
        running.clock.set(dt.datetime.now(dt.UTC))
        if policies.consent_settings(ctx, CONTOSO).user_consent != "none":
            policies.set_user_consent(ctx, CONTOSO, "none", ACTOR)
        mailbox.seed_mailbox(ctx, CONTOSO)
        bundle = data_dir / "ca-bundle.pem"
        bundle.write_text(Path(server.ca_path).read_text() + "\n" + Path(running.ca_path).read_text())
        os.environ["REQUESTS_CA_BUNDLE"] = str(bundle)
        yield running
    finally:
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved
        gc.collect()  # MSAL's sessions caught in reference cycles would hold connections open (see conftest)
        running.stop()


@pytest.fixture(autouse=True)
def _story_clock_at_real_time(story: RunningServer) -> None:
    """MSAL checks tokens against the real time; the server's manual clock must agree."""
    story.clock.set(dt.datetime.now(dt.UTC))


@pytest.fixture(scope="module")
def admin_graph(story: RunningServer) -> Iterator[httpx.Client]:
    """Microsoft Graph as the Global Administrator, through the Graph command-line tools (consented
    tenant-wide in the demo), token from MSAL ROPC."""
    app = msal.PublicClientApplication(GRAPH_CLI, authority=f"{story.base_url}/{CONTOSO}", instance_discovery=False)
    result = app.acquire_token_by_username_password(ADMIN, DEMO_PASSWORD, scopes=GRAPH_DEFAULT)
    assert "access_token" in result, result
    with story.client(headers={"Authorization": f"Bearer {result['access_token']}"}) as client:
        yield client


# --- directory state --------------------------------------------------------------------------------
def reset_apple(story: RunningServer) -> None:
    """Entra's delete-to-reset: without its service principal, Contoso has never consented to the app."""
    with contextlib.suppress(ConsentryError):  # there was none
        apps.delete_service_principal(story.ctx, CONTOSO, APPLE, ACTOR)
    assert not [sp for sp in apps.list_service_principals(story.ctx, CONTOSO) if sp.app_id == APPLE]


def consent_for_contoso(story: RunningServer) -> None:
    """Start from "never consented", then let the administrator consent through the v1 endpoint."""
    reset_apple(story)
    with story.client() as browser:
        done = admin_accepts(browser, f"/{CONTOSO}/adminconsent?client_id={APPLE}")
    assert done.status_code == 200 and "Permissions granted" in done.text, done.text[:500]


def apple_sp(graph: httpx.Client) -> dict[str, Any] | None:
    response = graph.get("/v1.0/servicePrincipals", params={"$filter": f"appId eq '{APPLE}'"})
    assert response.status_code == 200, response.text
    found = response.json()["value"]
    assert len(found) <= 1, found
    return found[0] if found else None


def apple_grants(graph: httpx.Client, sp_id: str) -> list[dict[str, Any]]:
    response = graph.get("/v1.0/oauth2PermissionGrants", params={"$filter": f"clientId eq '{sp_id}'"})
    assert response.status_code == 200, response.text
    return list(response.json()["value"])


def assert_consented_tenant_wide(graph: httpx.Client) -> dict[str, Any]:
    """Through Graph: Apple's service principal exists and is enabled, and holds one AllPrincipals grant per
    resource of its static list, with exactly the static scopes."""
    sp = apple_sp(graph)
    assert sp is not None, "no service principal for Apple Internet Accounts in Contoso"
    assert sp["displayName"] == "Apple Internet Accounts" and sp["accountEnabled"] is True
    assert sp["appOwnerOrganizationId"] == APPLE_TENANT_ID
    by_resource: dict[str, set[str]] = {}
    for grant in apple_grants(graph, sp["id"]):
        assert grant["consentType"] == "AllPrincipals" and grant["principalId"] is None, grant
        resource = graph.get(f"/v1.0/servicePrincipals/{grant['resourceId']}")
        assert resource.status_code == 200, resource.text
        app_id = resource.json()["appId"]
        assert app_id not in by_resource, f"two AllPrincipals grants on {app_id}"
        by_resource[app_id] = set(grant["scope"].split())
    assert by_resource == STATIC_SCOPES
    return sp


# --- MSAL -------------------------------------------------------------------------------------------
def apple_app(story: RunningServer) -> msal.PublicClientApplication:
    """A new Apple Internet Accounts app object: MSAL caches 400 answers per object (real-clients §0.5)."""
    return msal.PublicClientApplication(APPLE, authority=f"{story.base_url}/{CONTOSO}", instance_discovery=False)


def ropc(story: RunningServer, scopes: list[str], upn: str = ADELE) -> dict[str, Any]:
    return apple_app(story).acquire_token_by_username_password(upn, DEMO_PASSWORD, scopes=scopes)


def loopback() -> str:
    """A loopback redirect URI: Apple registers ``http://localhost``, which matches any port (RFC 8252)."""
    return f"http://localhost:{free_port()}"


def assert_consent_required(result: dict[str, Any]) -> None:
    assert result.get("error") == "invalid_grant", result
    assert result["error_codes"] == [65001], result
    assert result["suberror"] == "consent_required", result
    assert result["error_description"].startswith("AADSTS65001: ")
    assert APPLE in result["error_description"]


# --- the browser ------------------------------------------------------------------------------------
def location(response: httpx.Response) -> str:
    assert response.status_code == 302, (response.status_code, response.text[:800])
    return response.headers["location"]


def to_sign_in(browser: httpx.Client, url: str) -> str:
    """Open ``url`` and follow Consentry's own redirects to the sign-in page; its address."""
    target = location(browser.get(url))
    for _ in range(3):
        if "/login?interaction=" in target:
            return target
        target = location(browser.get(target))
    raise AssertionError(f"never reached the sign-in page: {target}")


def sign_in(browser: httpx.Client, login: str, upn: str) -> httpx.Response:
    return submit_sign_in(browser, login, upn, DEMO_PASSWORD)


def sign_in_at(browser: httpx.Client, url: str, upn: str) -> httpx.Response:
    """Open ``url``, reach the sign-in page, and sign in as ``upn``: the response to the sign-in form."""
    return sign_in(browser, to_sign_in(browser, url), upn)


def consent_page(browser: httpx.Client, after_sign_in: httpx.Response) -> httpx.Response:
    target = location(after_sign_in)
    assert "/consent?interaction=" in target, target
    page = browser.get(target)
    assert page.status_code == 200, page.text[:800]
    return page


def press(browser: httpx.Client, page: httpx.Response, decision: str) -> httpx.Response:
    return browser.post(form_action(page.text), data={**hidden_inputs(page.text), "decision": decision})


def follow_link(browser: httpx.Client, page: httpx.Response, text: str) -> httpx.Response:
    match = re.search(r'<a href="([^"]+)">' + re.escape(text) + "</a>", page.text)
    assert match, f"no link {text!r} on the page: {page.text[:1500]}"
    return browser.get(html.unescape(match.group(1)))


def params_sent_to(response: httpx.Response, redirect_uri: str) -> dict[str, str]:
    """The query of a 302 to the client's redirect URI (not followed: nothing listens there)."""
    target = location(response)
    assert target.startswith(redirect_uri + "?"), target
    return {k: v[0] for k, v in parse_qs(urlsplit(target).query, keep_blank_values=True).items()}


def admin_consent_page(browser: httpx.Client, url: str, upn: str = ADMIN,
                       app_name: str = "Apple Internet Accounts") -> httpx.Response:
    """Open an admin consent URL, sign in, and land on "Permissions requested – Accept for your
    organization"."""
    page = consent_page(browser, sign_in_at(browser, url, upn))
    assert "Permissions requested" in page.text and "Accept for your organization" in page.text, page.text[:1500]
    assert app_name in page.text
    return page


def admin_accepts(browser: httpx.Client, url: str, upn: str = ADMIN,
                  app_name: str = "Apple Internet Accounts") -> httpx.Response:
    return press(browser, admin_consent_page(browser, url, upn, app_name), "accept")


def adele_reaches_need_admin_approval(story: RunningServer, browser: httpx.Client, app: msal.PublicClientApplication,
                                      scopes: list[str]) -> tuple[dict[str, Any], httpx.Response]:
    """Adele's interactive sign-in to Apple Internet Accounts, up to the page it stops on."""
    flow = app.initiate_auth_code_flow(scopes=scopes, redirect_uri=loopback())
    assert flow["auth_uri"].startswith(f"{story.base_url}/{CONTOSO}/oauth2/v2.0/authorize?")
    page = consent_page(browser, sign_in_at(browser, flow["auth_uri"], ADELE))
    return flow, page


# --- before consent ---------------------------------------------------------------------------------
def test_before_consent_adele_ropc_is_invalid_grant_65001_consent_required(story: RunningServer) -> None:
    reset_apple(story)
    app = apple_app(story)
    assert_consent_required(app.acquire_token_by_username_password(ADELE, DEMO_PASSWORD, scopes=[EAS]))
    assert_consent_required(app.acquire_token_by_username_password(ADELE, DEMO_PASSWORD,
                                                                   scopes=["Calendars.ReadWrite"]))


def test_before_consent_adele_sees_need_admin_approval_and_returning_gives_msal_access_denied_90094(
        story: RunningServer) -> None:
    reset_apple(story)
    app = apple_app(story)
    with story.client() as browser:
        flow, page = adele_reaches_need_admin_approval(story, browser, app, CALENDAR_CONTACTS)
        assert "Need admin approval" in page.text
        assert NEED_APPROVAL_TEXT in page.text
        assert "Have an admin account? Sign in with that account" in page.text
        back = follow_link(browser, page, "Return to the application without granting consent")
    params = params_sent_to(back, flow["redirect_uri"])
    assert params["state"] == flow["state"]
    assert params["error"] == "access_denied" and params["error_subcode"] == "cancel"

    result = app.acquire_token_by_auth_code_flow(flow, params)  # raises on a state mismatch
    assert result["error"] == "access_denied", result
    assert result["error_description"].startswith("AADSTS90094: "), result
    assert "access_token" not in result
    assert not [sp for sp in apps.list_service_principals(story.ctx, CONTOSO) if sp.app_id == APPLE]


# --- admin consent, through each URL form -----------------------------------------------------------
def _v1_adminconsent(story: RunningServer, browser: httpx.Client) -> None:
    done = admin_accepts(browser, f"/{CONTOSO}/adminconsent?client_id={APPLE}")
    assert done.status_code == 200 and "Permissions granted" in done.text, done.text[:800]
    assert "location" not in done.headers


def _v1_authorize_prompt_admin_consent(story: RunningServer, browser: httpx.Client) -> None:
    """The blog's hand-made URL (spec §10): https://example.com is not registered, so the flow ends on a page
    instead of a redirect (Entra's AADSTS900561 there is harmless; the grant is already written)."""
    query = urlencode({"client_id": APPLE, "response_type": "code", "redirect_uri": "https://example.com",
                       "prompt": "admin_consent"})
    done = admin_accepts(browser, f"/{CONTOSO}/oauth2/authorize?{query}")
    assert done.status_code == 200 and "Permissions granted" in done.text, done.text[:800]
    assert "location" not in done.headers
    assert "https://example.com" in done.text  # named as the address the browser was not sent to


def _v2_adminconsent(story: RunningServer, browser: httpx.Client) -> None:
    """v2 needs an exactly registered redirect URI. Apple registers only ``urn:ietf:wg:oauth:2.0:oob`` and
    ``http://localhost``. Both are accepted, but a redirect to the out-of-band URN is something only a broker
    or an embedded web view can catch (httpx cannot even represent it as a next request); the loopback URI
    is what a native app's loopback listener — or this test — receives, so it is the one used."""
    query = urlencode({"client_id": APPLE, "scope": "https://graph.microsoft.com/.default",
                       "redirect_uri": "http://localhost", "state": "v2-state"})
    done = admin_accepts(browser, f"/organizations/v2.0/adminconsent?{query}")
    params = params_sent_to(done, "http://localhost")
    assert params["admin_consent"] == "True" and params["tenant"] == CONTOSO and params["state"] == "v2-state"
    # .default asks for the whole static list, on every resource in it (spec §3.3, §3.4).
    assert set(params["scope"].split()) >= {"https://graph.microsoft.com/Calendars.ReadWrite",
                                            "https://graph.microsoft.com/Contacts.ReadWrite", EAS, EWS}


def _short_link(story: RunningServer, browser: httpx.Client) -> None:
    """``/consent/{appId}`` (Consentry's stand-in for aka.ms/ConsentAppleApp): the admin's own tenant."""
    done = admin_accepts(browser, f"/consent/{APPLE}")
    assert done.status_code == 200 and "Permissions granted" in done.text, done.text[:800]
    assert CONTOSO in done.text


def _have_an_admin_account(story: RunningServer, browser: httpx.Client) -> None:
    """Adele's sign-in stops at "Need admin approval"; "Have an admin account?" lets the administrator sign
    in and accept for the organization, and the flow then returns a code to the app (the admin's)."""
    app = apple_app(story)
    flow, page = adele_reaches_need_admin_approval(story, browser, app, GRAPH_DEFAULT)
    assert "Need admin approval" in page.text
    switch = follow_link(browser, page, "Have an admin account? Sign in with that account")
    admin_page = consent_page(browser, sign_in(browser, location(switch), ADMIN))
    assert "Accept for your organization" in admin_page.text
    params = params_sent_to(press(browser, admin_page, "accept"), flow["redirect_uri"])
    assert params["admin_consent"] == "True" and params["state"] == flow["state"] and params["code"]
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ADMIN
    assert set(decode_jwt(result["access_token"])["scp"].split()) >= {"Calendars.ReadWrite", "Contacts.ReadWrite"}


ADMIN_CONSENT_FORMS = {
    "v1-adminconsent": _v1_adminconsent,
    "v1-authorize-prompt-admin_consent": _v1_authorize_prompt_admin_consent,
    "v2-organizations-adminconsent": _v2_adminconsent,
    "short-link-consent-appId": _short_link,
    "have-an-admin-account-link": _have_an_admin_account,
}


@pytest.mark.parametrize("form", list(ADMIN_CONSENT_FORMS))
def test_admin_consent_form_creates_the_service_principal_and_tenant_wide_grants(
        story: RunningServer, admin_graph: httpx.Client, form: str) -> None:
    reset_apple(story)
    assert apple_sp(admin_graph) is None
    with story.client() as browser:
        ADMIN_CONSENT_FORMS[form](story, browser)
    assert_consented_tenant_wide(admin_graph)


# --- after consent ----------------------------------------------------------------------------------
def test_after_consent_adele_ropc_gets_mail_and_graph_tokens(story: RunningServer) -> None:
    consent_for_contoso(story)
    exchange = ropc(story, MAIL_SCOPES)
    assert "access_token" in exchange, exchange
    claims = decode_jwt(exchange["access_token"])
    assert claims["aud"] == "https://outlook.office365.com", claims
    assert set(claims["scp"].split()) >= {"EAS.AccessAsUser.All", "EWS.AccessAsUser.All"}
    assert claims["appid"] == APPLE and claims["tid"] == CONTOSO

    graph = ropc(story, CALENDAR_CONTACTS)
    assert "access_token" in graph, graph
    claims = decode_jwt(graph["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com", claims
    assert set(claims["scp"].split()) >= {"Calendars.ReadWrite", "Contacts.ReadWrite"}
    assert graph["id_token_claims"]["preferred_username"] == ADELE

    # .default: everything granted on that resource (spec §3.3).
    exchange_default = ropc(story, ["https://outlook.office365.com/.default"])
    assert "access_token" in exchange_default, exchange_default
    assert set(decode_jwt(exchange_default["access_token"])["scp"].split()) == STATIC_SCOPES[EXCHANGE_ONLINE]
    graph_default = ropc(story, GRAPH_DEFAULT)
    assert "access_token" in graph_default, graph_default
    assert set(decode_jwt(graph_default["access_token"])["scp"].split()) >= {"User.Read", *CALENDAR_CONTACTS}


def test_after_consent_adele_reads_her_events_and_contacts_with_her_graph_token(story: RunningServer) -> None:
    consent_for_contoso(story)
    result = ropc(story, ["User.Read", *CALENDAR_CONTACTS])
    assert "access_token" in result, result
    with story.client(headers={"Authorization": f"Bearer {result['access_token']}"}) as graph:
        me = graph.get("/v1.0/me")
        events = graph.get("/v1.0/me/events")
        contacts = graph.get("/v1.0/me/contacts")
    assert me.status_code == 200 and me.json()["userPrincipalName"] == ADELE, me.text
    assert events.status_code == 200, events.text
    assert contacts.status_code == 200, contacts.text
    # Her own mailbox, as the demo seeds it: events she organizes, and her contacts.
    assert {e["subject"] for e in events.json()["value"]} == {e[3] for e in mailbox.DEMO_EVENTS}
    assert {e["organizer"]["emailAddress"]["address"] for e in events.json()["value"]} == {ADELE}
    assert {c["displayName"] for c in contacts.json()["value"]} == {c.display_name for c in mailbox.DEMO_CONTACTS}


def test_after_consent_adele_interactive_flow_returns_a_code_msal_redeems(story: RunningServer) -> None:
    consent_for_contoso(story)
    app = apple_app(story)
    flow = app.initiate_auth_code_flow(scopes=CALENDAR_CONTACTS, redirect_uri=loopback())
    with story.client() as browser:
        done = sign_in_at(browser, flow["auth_uri"], ADELE)
    params = params_sent_to(done, flow["redirect_uri"])  # no consent page: the tenant-wide grant covers it
    assert params["state"] == flow["state"] and params["code"]
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert "access_token" in result, result
    assert set(decode_jwt(result["access_token"])["scp"].split()) >= {"Calendars.ReadWrite", "Contacts.ReadWrite"}
    assert result["id_token_claims"]["preferred_username"] == ADELE
    assert result["refresh_token"]


def test_prompt_consent_after_admin_consent_still_stops_adele_at_need_admin_approval(story: RunningServer) -> None:
    """Spec §13.5: ``prompt=consent`` forces the page even when everything is granted; for a user who may
    not consent that is "Need admin approval" (the well-known admin consent loop), not a code."""
    consent_for_contoso(story)
    app = apple_app(story)
    flow = app.initiate_auth_code_flow(scopes=CALENDAR_CONTACTS, redirect_uri=loopback(), prompt="consent")
    with story.client() as browser:
        page = consent_page(browser, sign_in_at(browser, flow["auth_uri"], ADELE))
    assert "Need admin approval" in page.text and NEED_APPROVAL_TEXT in page.text


def test_admin_consent_again_adds_no_second_grant(story: RunningServer, admin_graph: httpx.Client) -> None:
    consent_for_contoso(story)
    before = {g["id"]: g["scope"] for g in apple_grants(admin_graph, assert_consented_tenant_wide(admin_graph)["id"])}
    with story.client() as browser:
        done = admin_accepts(browser, f"/consent/{APPLE}")
    assert "Permissions granted" in done.text
    after = {g["id"]: g["scope"] for g in apple_grants(admin_graph, assert_consented_tenant_wide(admin_graph)["id"])}
    assert after == before


def test_the_blog_url_opened_by_adele_shows_need_admin_approval_and_never_sends_her_to_example_com(
        story: RunningServer) -> None:
    """The hand-made v1 URL with an unregistered redirect URI (spec §10) is for administrators; a user who
    opens it is told to ask one, and "Return to the application" ends on an error page: an unregistered
    redirect URI never receives anything."""
    reset_apple(story)
    query = urlencode({"client_id": APPLE, "response_type": "code", "redirect_uri": "https://example.com",
                       "prompt": "admin_consent", "state": "blog"})
    with story.client() as browser:
        page = consent_page(browser, sign_in_at(browser, f"/{CONTOSO}/oauth2/authorize?{query}",
                                             ADELE))
        assert "Need admin approval" in page.text and NEED_APPROVAL_TEXT in page.text
        back = follow_link(browser, page, "Return to the application without granting consent")
    assert back.status_code == 400 and "location" not in back.headers, (back.status_code, back.headers)
    assert "AADSTS90094" in back.text
    assert not [sp for sp in apps.list_service_principals(story.ctx, CONTOSO) if sp.app_id == APPLE]


# --- cancel -----------------------------------------------------------------------------------------
def test_cancel_on_the_admin_consent_page_gives_msal_access_denied_cancel_65004(story: RunningServer) -> None:
    reset_apple(story)
    app = apple_app(story)
    with story.client() as browser:
        flow, page = adele_reaches_need_admin_approval(story, browser, app, CALENDAR_CONTACTS)
        switch = follow_link(browser, page, "Have an admin account? Sign in with that account")
        admin_page = consent_page(browser, sign_in(browser, location(switch), ADMIN))
        assert "Accept for your organization" in admin_page.text
        params = params_sent_to(press(browser, admin_page, "cancel"), flow["redirect_uri"])
    assert params["error"] == "access_denied" and params["error_subcode"] == "cancel"
    assert params["state"] == flow["state"]
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert result["error"] == "access_denied", result
    assert result["error_description"].startswith("AADSTS65004: "), result
    assert not [sp for sp in apps.list_service_principals(story.ctx, CONTOSO) if sp.app_id == APPLE]


def test_cancel_on_the_v2_admin_consent_endpoint_redirects_with_admin_consent_and_65004(
        story: RunningServer) -> None:
    reset_apple(story)
    query = urlencode({"client_id": APPLE, "scope": "https://graph.microsoft.com/.default",
                       "redirect_uri": "http://localhost", "state": "cancelled"})
    with story.client() as browser:
        page = admin_consent_page(browser, f"/{CONTOSO}/v2.0/adminconsent?{query}")
        params = params_sent_to(press(browser, page, "cancel"), "http://localhost")
    assert params["error"] == "access_denied" and params["error_subcode"] == "cancel"
    assert params["error_description"].startswith("AADSTS65004: ")
    assert params["admin_consent"] == "True" and params["state"] == "cancelled"
    assert not [sp for sp in apps.list_service_principals(story.ctx, CONTOSO) if sp.app_id == APPLE]


# --- what a Cloud Application Administrator may grant ----------------------------------------------
def _multi_tenant_app(story: RunningServer, name: str, *, delegated: tuple[str, ...],
                      roles: tuple[str, ...] = ()) -> str:
    """A multi-tenant app registered in Apple's tenant, with a static list on Microsoft Graph."""
    graph = find_builtin_application(MICROSOFT_GRAPH)
    assert graph is not None
    access = [(next(s.id for s in graph.scopes if s.value == v), "Scope") for v in delegated]
    access += [(next(r.id for r in graph.app_roles if r.value == v), "Role") for v in roles]
    app = apps.register_application(story.ctx, APPLE_TENANT_ID, Application(
        id=new_guid(), app_id=new_guid(), tenant_id=APPLE_TENANT_ID, display_name=name,
        sign_in_audience="AzureADMultipleOrgs",
        required_resource_access=(apps.required_resource_access_for(MICROSOFT_GRAPH, access),)), ACTOR)
    return app.app_id


def test_cloud_application_administrator_cannot_grant_a_graph_application_permission(
        story: RunningServer) -> None:
    app_id = _multi_tenant_app(story, "Contoso Directory Reporter", delegated=("User.Read",),
                               roles=("User.Read.All",))
    with story.client() as browser:
        page = consent_page(browser, sign_in_at(browser, f"/{CONTOSO}/adminconsent?client_id={app_id}",
                                             ALEX))
    assert "Need admin approval" in page.text
    assert "AADSTS90093" in page.text
    assert "is requesting one or more permissions that you aren&#39;t authorized to grant" in page.text \
        or "is requesting one or more permissions that you aren't authorized to grant" in page.text
    assert 'name="decision"' not in page.text  # nothing to accept
    assert not [sp for sp in apps.list_service_principals(story.ctx, CONTOSO) if sp.app_id == app_id]


def test_cloud_application_administrator_grants_an_app_with_only_delegated_permissions(
        story: RunningServer, admin_graph: httpx.Client) -> None:
    reset_apple(story)
    with story.client() as browser:
        done = admin_accepts(browser, f"/{CONTOSO}/adminconsent?client_id={APPLE}", upn=ALEX)
    assert done.status_code == 200 and "Permissions granted" in done.text, done.text[:800]
    assert_consented_tenant_wide(admin_graph)


def test_cloud_application_administrator_grants_another_delegated_only_app(story: RunningServer) -> None:
    app_id = _multi_tenant_app(story, "Contoso Calendar Sync", delegated=("User.Read", "Calendars.Read"))
    with story.client() as browser:
        done = admin_accepts(browser, f"/{CONTOSO}/adminconsent?client_id={app_id}", ALEX, "Contoso Calendar Sync")
    assert done.status_code == 200 and "Permissions granted" in done.text, done.text[:800]
    [grant] = grants.list_grants(story.ctx, CONTOSO, app_id)
    assert grant.consent_type == "AllPrincipals" and set(grant.scope.split()) == {"User.Read", "Calendars.Read"}


# --- revocation and disabling -----------------------------------------------------------------------
def test_deleting_the_grants_makes_adele_refresh_fail_with_65001(story: RunningServer,
                                                                admin_graph: httpx.Client) -> None:
    consent_for_contoso(story)
    app = apple_app(story)
    first = app.acquire_token_by_username_password(ADELE, DEMO_PASSWORD, scopes=CALENDAR_CONTACTS)
    assert "access_token" in first, first
    [account] = app.get_accounts(username=ADELE)
    assert app.acquire_token_silent(CALENDAR_CONTACTS, account=account)  # from the cache

    sp = apple_sp(admin_graph)
    assert sp is not None
    for grant in apple_grants(admin_graph, sp["id"]):
        deleted = admin_graph.delete(f"/v1.0/oauth2PermissionGrants/{grant['id']}")
        assert deleted.status_code == 204, deleted.text
    assert apple_grants(admin_graph, sp["id"]) == []

    refreshed = app.acquire_token_silent_with_error(CALENDAR_CONTACTS, account=account, force_refresh=True)
    assert refreshed is not None
    assert_consent_required(refreshed)
    assert app.acquire_token_silent(CALENDAR_CONTACTS, account=account, force_refresh=True) is None
    assert_consent_required(ropc(story, CALENDAR_CONTACTS))


def test_disabling_the_service_principal_blocks_ropc_and_sign_in_with_7000112_until_re_enabled(
        story: RunningServer, admin_graph: httpx.Client) -> None:
    consent_for_contoso(story)
    sp = apple_sp(admin_graph)
    assert sp is not None
    signed_in = apple_app(story)
    assert "access_token" in signed_in.acquire_token_by_username_password(ADELE, DEMO_PASSWORD,
                                                                          scopes=CALENDAR_CONTACTS)
    [account] = signed_in.get_accounts(username=ADELE)
    patched = admin_graph.patch(f"/v1.0/servicePrincipals/{sp['id']}", json={"accountEnabled": False})
    assert patched.status_code == 204, patched.text
    try:
        refreshed = signed_in.acquire_token_silent_with_error(CALENDAR_CONTACTS, account=account, force_refresh=True)
        assert refreshed is not None and refreshed.get("error") == "unauthorized_client", refreshed
        assert refreshed["error_codes"] == [7000112]

        result = ropc(story, CALENDAR_CONTACTS)
        assert result.get("error") == "unauthorized_client", result
        assert result["error_codes"] == [7000112]
        assert result["error_description"].startswith("AADSTS7000112: ")

        flow = apple_app(story).initiate_auth_code_flow(scopes=CALENDAR_CONTACTS, redirect_uri=loopback())
        with story.client() as browser:
            page = sign_in_at(browser, flow["auth_uri"], ADELE)
        assert page.status_code == 400, (page.status_code, page.text[:800])
        assert "location" not in page.headers  # an error page; the app hears nothing
        assert "AADSTS7000112" in page.text

        # No consent page either, not even an administrator's (spec §8.5).
        with story.client() as browser:
            blocked = sign_in_at(browser, f"/{CONTOSO}/adminconsent?client_id={APPLE}", ADMIN)
        assert blocked.status_code == 400 and "AADSTS7000112" in blocked.text, blocked.text[:800]
    finally:
        restored = admin_graph.patch(f"/v1.0/servicePrincipals/{sp['id']}", json={"accountEnabled": True})
        assert restored.status_code == 204, restored.text

    result = ropc(story, CALENDAR_CONTACTS)  # a new app object: MSAL would replay its cached 400
    assert "access_token" in result, result
    app = apple_app(story)
    flow = app.initiate_auth_code_flow(scopes=CALENDAR_CONTACTS, redirect_uri=loopback())
    with story.client() as browser:
        done = sign_in_at(browser, flow["auth_uri"], ADELE)
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, params_sent_to(done, flow["redirect_uri"]))

