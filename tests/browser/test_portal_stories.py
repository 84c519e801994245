"""The admin portal and the enterprise application lifecycle in a real browser, one story per test, done as
people do it: Adele signs in to Apple Internet Accounts, the administrator works in the portal, and Adele
sees what changed.

"The app" is the test: it builds the authorize URL (PKCE S256, a loopback redirect URI on a free port — the
registered ``http://localhost`` matches any port), lets the person's browser go there, catches the final
redirect to the loopback address (nothing listens on it: Playwright answers it) and redeems the code with
httpx at the token endpoint as a public client.

This module runs its own server (a fresh data directory with the demo seeded, plus a Global Reader), since
its stories consent to, disable and delete Apple Internet Accounts in Contoso. Every test starts from and
returns to the demo's state: Apple never consented to (Entra's delete-to-reset), Contoso on "Do not allow
user consent". Each person is a browser context of their own, so nobody rides on another's session.

Each step leaves a screenshot in ``test-results/browser/<test name>/NN-step.png`` under the repository, or
under ``$CONSENTRY_SCREENSHOTS_DIR/<test name>/`` when that is set.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import expect
from tests.browser.conftest import chromium_trusting
from tests.clients.helpers import decode_jwt
from tests.support.egress import EgressGuard, free_port
from tests.support.server import RunningServer, start_server

from consentry.domain.odata import ODataQuery
from consentry.errors import ConsentryError
from consentry.services import apps, consent, deleted_items, directory, policies
from consentry.services.context import Actor
from consentry.services.demo import (
    APPLE_INTERNET_ACCOUNTS,
    CONTOSO_TENANT_ID,
    DEMO_PASSWORD,
    seed_demo,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Dialog, Locator, Page, Route

pytestmark = pytest.mark.browser

APPLE = APPLE_INTERNET_ACCOUNTS
APPLE_NAME = "Apple Internet Accounts"
CONTOSO = CONTOSO_TENANT_ID
ADMIN = "admin@contoso.example"  # Global Administrator
ADELE = "adele@contoso.example"  # no role
READER = "reader@contoso.example"  # Global Reader, added by this module
ACTOR = Actor("system", name="portal story tests")
# What Apple Internet Accounts asks Microsoft Graph for when Adele adds her calendars and contacts.
APPLE_SCOPES = "openid profile offline_access Calendars.ReadWrite Contacts.ReadWrite"
NEED_APPROVAL_TEXT = (f"{APPLE_NAME} needs permission to access resources in your organization that only an admin "
                      "can grant")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMEOUT_MS = 10_000
SHOTS_ROOT = Path(os.environ.get("CONSENTRY_SCREENSHOTS_DIR")
                  or Path(__file__).resolve().parents[2] / "test-results" / "browser")


# --- the module's server and browser ----------------------------------------------------------------
@pytest.fixture(scope="module")
def portal(egress_guard: EgressGuard, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server of its own with the demo directory, and a Global Reader in Contoso."""
    running = start_server(tmp_path_factory.mktemp("portal-stories"))
    try:
        seed_demo(running.ctx)  # start_server seeds it too; seeding is idempotent, this documents the start
        directory.create_user(running.ctx, CONTOSO, READER, "Grace Reader", DEMO_PASSWORD, ACTOR)
        directory.assign_role(running.ctx, CONTOSO, READER, "Global Reader", ACTOR)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def chromium(portal: RunningServer) -> Iterator[Browser]:
    with chromium_trusting(portal) as launched:
        yield launched


def reset_apple(portal: RunningServer) -> None:
    """Entra's delete-to-reset: without its service principal (live or in deleted items), Contoso has never
    consented to Apple Internet Accounts."""
    ctx = portal.ctx
    with contextlib.suppress(ConsentryError):  # there was none
        apps.delete_service_principal(ctx, CONTOSO, APPLE, ACTOR)
    found, _ = deleted_items.list_deleted(ctx, CONTOSO, deleted_items.SERVICE_PRINCIPAL, ODataQuery(top=100))
    for deleted in found:
        if deleted.app_id == APPLE:
            deleted_items.hard_delete(ctx, CONTOSO, deleted.id, ACTOR)
    assert not [sp for sp in apps.list_service_principals(ctx, CONTOSO) if sp.app_id == APPLE]


def consent_for_contoso(portal: RunningServer) -> None:
    """Tenant-wide admin consent for Apple's static list, as the portal's button does, by the administrator."""
    admin = directory.find_user(portal.ctx, CONTOSO, ADMIN)
    consent.grant_admin_consent_for_tenant(portal.ctx, CONTOSO, APPLE, admin.id, ACTOR)


def restore_demo(portal: RunningServer) -> None:
    reset_apple(portal)
    if policies.get_consent_settings(portal.ctx, CONTOSO).user_consent != "none":
        policies.set_user_consent(portal.ctx, CONTOSO, "none", ACTOR)


@pytest.fixture(autouse=True)
def _demo_state(portal: RunningServer) -> Iterator[None]:
    """Each test starts from the demo's state and leaves it so; the server's clock agrees with the browser's."""
    portal.clock.set(dt.datetime.now(dt.UTC))
    restore_demo(portal)
    yield
    restore_demo(portal)


# --- screenshots and people -------------------------------------------------------------------------
class Steps:
    """Numbered screenshots of one test: ``NN-step.png``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    def shot(self, page: Page, name: str) -> None:
        self.count += 1
        page.screenshot(path=str(self.directory / f"{self.count:02d}-{name}.png"), full_page=True)


@pytest.fixture
def steps(request: pytest.FixtureRequest) -> Steps:
    directory = SHOTS_ROOT / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return Steps(directory)


People = Callable[[], "Page"]


@pytest.fixture
def people(chromium: Browser, portal: RunningServer) -> Iterator[People]:
    """``people()`` is a new person: a browser context of their own (cookies, session), closed after the test."""
    opened: list[BrowserContext] = []

    def new_person() -> Page:
        context = chromium.new_context(base_url=portal.base_url, locale="en-US")
        context.set_default_timeout(TIMEOUT_MS)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal.base_url)
        opened.append(context)
        return context.new_page()

    yield new_person
    for context in opened:
        context.close()


# --- the app: Apple Internet Accounts, driven by the test -------------------------------------------
@dataclass(frozen=True)
class AppSignIn:
    url: str
    redirect_uri: str
    state: str
    verifier: str


def apple_sign_in(portal: RunningServer) -> AppSignIn:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    redirect_uri, state = f"http://localhost:{free_port()}", secrets.token_urlsafe(12)
    query = urlencode({"client_id": APPLE, "response_type": "code", "redirect_uri": redirect_uri,
                       "scope": APPLE_SCOPES, "state": state, "code_challenge": challenge,
                       "code_challenge_method": "S256", "response_mode": "query"})
    return AppSignIn(f"{portal.base_url}/{CONTOSO}/oauth2/v2.0/authorize?{query}", redirect_uri, state, verifier)


def opens_apple_and_signs_in(page: Page, app: AppSignIn, steps: Steps, upn: str = ADELE) -> None:
    """Apple Internet Accounts sends the person to sign in; they type their name and password. The caller
    clicks "Sign in" (so that it can wait for what follows)."""
    def the_app_answers(route: Route) -> None:  # nothing listens on the loopback port: answer for the app
        route.fulfill(status=200, content_type="text/html",
                      body=f"<title>{APPLE_NAME}</title><h1>Back in {APPLE_NAME}</h1>")

    page.context.route(f"{app.redirect_uri}/**", the_app_answers)
    page.goto(app.url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("to continue to")).to_contain_text(APPLE_NAME)
    page.get_by_label("Username").fill(upn)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    steps.shot(page, f"{upn.split('@')[0]}-signs-in-to-apple")


def code_reaches_apple(page: Page, app: AppSignIn, click: Callable[[], None]) -> str:
    """Do ``click`` and catch the redirect back to the app: its code (state checked)."""
    with page.expect_request(f"{app.redirect_uri}/**") as landed:
        click()
    query = parse_qs(urlsplit(landed.value.url).query)
    assert query.get("state") == [app.state], landed.value.url
    assert "error" not in query, landed.value.url
    expect(page.get_by_role("heading", name=f"Back in {APPLE_NAME}")).to_be_visible()
    return query["code"][0]


def apple_redeems(portal: RunningServer, app: AppSignIn, code: str) -> dict[str, Any]:
    """The app's token request (public client: no secret); the access token's claims."""
    with portal.client() as http:
        response = http.post(f"/{CONTOSO}/oauth2/v2.0/token", data={
            "grant_type": "authorization_code", "client_id": APPLE, "code": code, "redirect_uri": app.redirect_uri,
            "code_verifier": app.verifier, "scope": APPLE_SCOPES})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["access_token"] and body["id_token"], body
    claims = decode_jwt(body["access_token"])
    assert claims["appid"] == APPLE and claims["tid"] == CONTOSO, claims
    return claims


def adele_gets_a_token(portal: RunningServer, people: People, steps: Steps) -> dict[str, Any]:
    """Adele signs in to Apple Internet Accounts and it gets a code, then a token for her."""
    page, app = people(), apple_sign_in(portal)
    opens_apple_and_signs_in(page, app, steps)
    code = code_reaches_apple(page, app, page.get_by_role("button", name="Sign in").click)
    steps.shot(page, "apple-receives-a-code")
    claims = apple_redeems(portal, app, code)
    assert ADELE in (claims.get("upn"), claims.get("preferred_username")), claims
    assert {"Calendars.ReadWrite", "Contacts.ReadWrite"} <= set(claims["scp"].split()), claims
    return claims


def adele_is_stopped(portal: RunningServer, people: People, steps: Steps, heading: str) -> Page:
    """Adele signs in to Apple Internet Accounts and ends on a page with ``heading``; the app receives nothing."""
    page, app = people(), apple_sign_in(portal)
    reached: list[str] = []
    page.on("request", lambda request: reached.append(request.url) if request.url.startswith(app.redirect_uri)
            else None)
    opens_apple_and_signs_in(page, app, steps)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
    page.wait_for_load_state()
    assert not reached, reached
    return page


def expect_need_admin_approval(page: Page) -> None:
    expect(page.get_by_role("heading", name="Need admin approval")).to_be_visible()
    expect(page.get_by_text(NEED_APPROVAL_TEXT)).to_be_visible()
    expect(page.get_by_text("AADSTS90094")).to_be_visible()
    expect(page.get_by_role("link", name="Have an admin account? Sign in with that account")).to_be_visible()


# --- the portal ---------------------------------------------------------------------------------------
def signs_in_to_portal(page: Page, steps: Steps, upn: str) -> None:
    page.goto("/portal")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(upn)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    steps.shot(page, f"{upn.split('@')[0]}-signs-in-to-the-portal")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.get_by_text(upn, exact=True)).to_be_visible()
    steps.shot(page, "overview")


def go_to(page: Page, link: str) -> None:
    page.get_by_role("navigation", name="Portal").get_by_role("link", name=link).click()


def search_applications(page: Page, text: str) -> None:
    go_to(page, "All applications")
    expect(page.get_by_role("heading", name="Enterprise applications | All applications")).to_be_visible()
    page.get_by_label("Search by name or Application ID").fill(text)
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/portal/enterprise-apps\?search="))
    expect(page.get_by_label("Search by name or Application ID")).to_have_value(text)


def opens_application(page: Page, name: str) -> None:
    search_applications(page, name)
    page.get_by_role("table", name="Applications").get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()


def tab(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Application pages").get_by_role("link", name=name).click()
    expect(page.get_by_role("navigation", name="Application pages").get_by_role("link", name=name)) \
        .to_have_attribute("aria-current", "page")


def copies(page: Page, button: str) -> str:
    """Click a Copy button; what it put on the clipboard."""
    page.wait_for_load_state()  # the Copy buttons work once the page's script has run
    page.get_by_role("button", name=button).click()
    expect(page.get_by_role("button", name=button)).to_have_text("Copied")
    # The aria-label hides the button's text from screen readers: a live region announces the copy.
    expect(page.get_by_role("status").filter(has_text=button.replace("Copy", "Copied", 1))).to_be_attached()
    return str(page.evaluate("navigator.clipboard.readText()"))


def accepts_next_dialog(page: Page) -> list[str]:
    """Answer the next confirm dialog with OK, keeping its text (checked by the caller)."""
    page.wait_for_load_state()  # the confirmations are asked by the page's script
    seen: list[str] = []

    def accept(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    return seen


def confirmation(page: Page) -> Locator:
    return page.get_by_role("main").get_by_role("status").first


# --- the stories ------------------------------------------------------------------------------------
def test_seed_story_adele_needs_approval_the_admin_consents_for_contoso_and_apple_gets_a_token(
        portal: RunningServer, people: People, steps: Steps) -> None:
    adele = adele_is_stopped(portal, people, steps, "Need admin approval")
    expect_need_admin_approval(adele)
    steps.shot(adele, "adele-needs-admin-approval")

    admin = people()
    signs_in_to_portal(admin, steps, ADMIN)
    expect(admin.get_by_text("Global Administrator")).to_be_visible()
    tenant_id = copies(admin, "Copy Tenant ID to clipboard")
    assert GUID.match(tenant_id), tenant_id
    assert tenant_id == CONTOSO
    expect(admin.get_by_role("main")).to_contain_text(tenant_id)
    steps.shot(admin, "tenant-id-copied")

    search_applications(admin, "Apple")
    expect(admin.get_by_text("No application matches the search and filters.")).to_be_visible()
    steps.shot(admin, "apple-not-yet-an-enterprise-app")

    consent_url = f"{portal.base_url}/{tenant_id}/adminconsent?client_id={APPLE}"
    admin.goto(consent_url)
    expect(admin.get_by_role("heading", name="Permissions requested")).to_be_visible()
    expect(admin.get_by_text("Accept for your organization")).to_be_visible()
    expect(admin.get_by_text(APPLE_NAME, exact=True)).to_be_visible()
    expect(admin.get_by_text("for all users in Contoso")).to_be_visible()
    steps.shot(admin, "admin-consent-prompt")
    admin.get_by_role("button", name="Accept").click()
    expect(admin.get_by_role("heading", name="Permissions granted")).to_be_visible()
    expect(admin.get_by_role("status")).to_contain_text(f"{APPLE_NAME} can now access resources in Contoso")
    steps.shot(admin, "permissions-granted")

    admin.goto("/portal")
    opens_application(admin, APPLE_NAME)
    expect(admin.get_by_role("main")).to_contain_text(f"Application ID {APPLE}")
    expect(admin.get_by_text("Verified", exact=True)).to_be_visible()  # Apple's verified publisher
    tab(admin, "Permissions")
    expect(admin.get_by_role("textbox", name="Admin consent URL")).to_have_value(consent_url)
    granted = admin.get_by_role("table", name="Microsoft Graph")
    for value in ("Calendars.ReadWrite", "Contacts.ReadWrite", "User.Read"):
        expect(granted.get_by_role("cell", name=value, exact=True)).to_be_visible()
    expect(admin.get_by_role("table", name="Office 365 Exchange Online")
           .get_by_role("cell", name="EAS.AccessAsUser.All", exact=True)).to_be_visible()
    steps.shot(admin, "apple-permissions-admin-consent")

    adele_gets_a_token(portal, people, steps)


def test_disabled_app_gives_aadsts7000112_and_after_delete_adele_meets_consent_again(
        portal: RunningServer, people: People, steps: Steps) -> None:
    consent_for_contoso(portal)
    admin = people()
    signs_in_to_portal(admin, steps, ADMIN)
    opens_application(admin, APPLE_NAME)
    enabled = admin.get_by_label("Enabled for users to sign-in?")
    expect(enabled).to_have_value("yes")
    enabled.select_option(label="No")
    steps.shot(admin, "enabled-set-to-no")
    admin.get_by_role("button", name="Save").click()
    expect(confirmation(admin)).to_contain_text(f"Saved the properties of {APPLE_NAME}. "
                                                "Enabled for users to sign-in: No.")
    expect(confirmation(admin)).to_be_focused()  # read out on arrival
    expect(admin.get_by_label("Enabled for users to sign-in?")).to_have_value("no")
    expect(admin.get_by_text("Disabled: sign-in blocked")).to_be_visible()
    steps.shot(admin, "apple-disabled")

    search_applications(admin, "Apple")
    row = admin.get_by_role("table", name="Applications").get_by_role("row").filter(has_text=APPLE_NAME)
    expect(row.get_by_role("cell").last).to_have_text("No")  # the Enabled column
    steps.shot(admin, "apple-listed-as-not-enabled")

    adele = adele_is_stopped(portal, people, steps, "We couldn't sign you in")
    expect(adele.get_by_role("alert")).to_contain_text("AADSTS7000112")
    steps.shot(adele, "adele-sees-aadsts7000112")

    row.get_by_role("link", name=APPLE_NAME, exact=True).click()
    question = accepts_next_dialog(admin)
    admin.get_by_role("button", name="Delete").click()
    expect(confirmation(admin)).to_contain_text(f"Deleted {APPLE_NAME} with its permission grants and assignments.")
    assert question and question[0].startswith(f"Delete {APPLE_NAME}?"), question
    expect(admin.get_by_role("heading", name="Enterprise applications | All applications")).to_be_visible()
    expect(admin.get_by_role("link", name=APPLE_NAME, exact=True)).to_have_count(0)
    steps.shot(admin, "apple-deleted")

    adele = adele_is_stopped(portal, people, steps, "Need admin approval")
    expect_need_admin_approval(adele)
    steps.shot(adele, "adele-meets-consent-again")


def test_revoking_a_permission_in_the_permissions_tab_stops_adele_until_the_admin_consents_again(
        portal: RunningServer, people: People, steps: Steps) -> None:
    consent_for_contoso(portal)
    admin = people()
    signs_in_to_portal(admin, steps, ADMIN)
    opens_application(admin, APPLE_NAME)
    tab(admin, "Permissions")
    admin_tab = admin.get_by_role("navigation", name="Granted permissions").get_by_role("link", name="Admin consent")
    expect(admin_tab).to_have_attribute("aria-current", "page")
    graph = admin.get_by_role("table", name="Microsoft Graph")
    expect(graph.get_by_role("cell", name="Contacts.ReadWrite", exact=True)).to_be_visible()
    steps.shot(admin, "admin-consent-tab")

    question = accepts_next_dialog(admin)
    admin.get_by_role("button", name="Revoke permission Contacts.ReadWrite of Microsoft Graph").click()
    expect(confirmation(admin)).to_contain_text(
        f"Revoked the delegated permission Contacts.ReadWrite of {APPLE_NAME}.")
    assert question == [f"Revoke Contacts.ReadWrite (Microsoft Graph) from {APPLE_NAME}?"], question
    graph = admin.get_by_role("table", name="Microsoft Graph")
    expect(graph.get_by_role("cell", name="Contacts.ReadWrite", exact=True)).to_have_count(0)
    expect(graph.get_by_role("cell", name="Calendars.ReadWrite", exact=True)).to_be_visible()
    steps.shot(admin, "contacts-revoked")

    adele = adele_is_stopped(portal, people, steps, "Need admin approval")
    expect_need_admin_approval(adele)
    steps.shot(adele, "adele-needs-approval-for-contacts")

    consent_url = copies(admin, "Copy admin consent URL to clipboard")
    assert consent_url == admin.get_by_role("textbox", name="Admin consent URL").input_value()
    assert consent_url == f"{portal.base_url}/{CONTOSO}/adminconsent?client_id={APPLE}"
    admin.goto(consent_url)
    expect(admin.get_by_role("heading", name="Permissions requested")).to_be_visible()
    steps.shot(admin, "admin-consent-prompt")
    admin.get_by_role("button", name="Accept").click()
    expect(admin.get_by_role("heading", name="Permissions granted")).to_be_visible()
    admin.goto("/portal")
    opens_application(admin, APPLE_NAME)
    tab(admin, "Permissions")
    expect(admin.get_by_role("table", name="Microsoft Graph").get_by_role("cell", name="Contacts.ReadWrite",
                                                                           exact=True)).to_be_visible()
    steps.shot(admin, "contacts-granted-again")

    adele_gets_a_token(portal, people, steps)


def test_changing_the_user_consent_setting_changes_what_adele_sees(
        portal: RunningServer, people: People, steps: Steps) -> None:
    adele = adele_is_stopped(portal, people, steps, "Need admin approval")
    expect_need_admin_approval(adele)
    steps.shot(adele, "adele-needs-admin-approval")

    admin = people()
    signs_in_to_portal(admin, steps, ADMIN)
    go_to(admin, "Consent and permissions")
    expect(admin.get_by_role("heading", name="Consent and permissions", level=1)).to_be_visible()
    expect(admin.get_by_label("Do not allow user consent")).to_be_checked()
    admin.get_by_label("Allow user consent for apps", exact=True).check()
    steps.shot(admin, "allow-user-consent-chosen")
    admin.get_by_role("button", name="Save").click()
    expect(confirmation(admin)).to_contain_text(
        "User consent settings saved. User consent for applications: Allow user consent for apps.")
    expect(admin.get_by_label("Allow user consent for apps", exact=True)).to_be_checked()
    steps.shot(admin, "user-consent-saved")

    page, app = people(), apple_sign_in(portal)
    opens_apple_and_signs_in(page, app, steps)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Permissions requested")).to_be_visible()
    expect(page.get_by_text("Accept for your organization")).to_have_count(0)
    expect(page.get_by_text("Accepting these permissions means that you allow this app to use your data")) \
        .to_be_visible()
    steps.shot(page, "adele-consents-for-herself")
    code = code_reaches_apple(page, app, page.get_by_role("button", name="Accept").click)
    steps.shot(page, "apple-receives-a-code")
    claims = apple_redeems(portal, app, code)
    assert {"Calendars.ReadWrite", "Contacts.ReadWrite"} <= set(claims["scp"].split()), claims

    opens_application(admin, APPLE_NAME)  # Adele's consent added it to Contoso
    tab(admin, "Permissions")
    admin.get_by_role("navigation", name="Granted permissions").get_by_role("link", name="User consent").click()
    expect(admin.get_by_text("No permissions have been granted")).to_have_count(0)
    contacts = admin.get_by_role("table", name="Microsoft Graph").get_by_role("row").filter(
        has=admin.get_by_role("cell", name="Contacts.ReadWrite", exact=True))
    expect(contacts).to_contain_text(ADELE)
    expect(contacts.get_by_role("button", name=f"Revoke permission Contacts.ReadWrite of Microsoft Graph for "
                                               f"{ADELE}")).to_be_enabled()
    steps.shot(admin, "user-consent-tab-shows-adele")

    go_to(admin, "Consent and permissions")
    admin.get_by_label("Do not allow user consent").check()
    admin.get_by_role("button", name="Save").click()
    expect(confirmation(admin)).to_contain_text("User consent for applications: Do not allow user consent.")
    steps.shot(admin, "user-consent-turned-off-again")
    # "A change applies to future consents only: permissions already granted stay granted."
    adele_gets_a_token(portal, people, steps)


def test_a_global_reader_sees_everything_and_cannot_save(portal: RunningServer, people: People, steps: Steps) -> None:
    consent_for_contoso(portal)
    reader = people()
    signs_in_to_portal(reader, steps, READER)
    expect(reader.get_by_text("Global Reader", exact=True)).to_be_visible()

    go_to(reader, "Consent and permissions")
    expect(reader.get_by_text("You can view these settings. Changing them needs the Global Administrator")) \
        .to_be_visible()
    expect(reader.get_by_label("Do not allow user consent")).to_be_checked()
    expect(reader.get_by_label("Allow user consent for apps", exact=True)).to_be_disabled()
    expect(reader.get_by_role("button", name="Save")).to_be_disabled()
    steps.shot(reader, "consent-settings-read-only")

    opens_application(reader, APPLE_NAME)
    expect(reader.get_by_text("You can view this application.")).to_be_visible()
    expect(reader.get_by_label("Enabled for users to sign-in?")).to_be_disabled()
    expect(reader.get_by_role("button", name="Save")).to_be_disabled()
    expect(reader.get_by_role("button", name="Delete")).to_be_disabled()
    steps.shot(reader, "properties-read-only")
    tab(reader, "Permissions")
    expect(reader.get_by_role("button", name="Grant admin consent for Contoso")).to_be_disabled()
    revoke = reader.get_by_role("button", name="Revoke permission Contacts.ReadWrite of Microsoft Graph")
    expect(revoke).to_be_disabled()
    steps.shot(reader, "permissions-read-only")

    # Someone who re-enables the form in the browser's developer tools is still refused by the server.
    go_to(reader, "Consent and permissions")
    reader.evaluate("document.querySelectorAll('[disabled]').forEach(e => e.removeAttribute('disabled'))")
    reader.get_by_label("Allow user consent for apps", exact=True).check()
    reader.get_by_role("button", name="Save").click()
    expect(reader.get_by_role("heading", name="You don't have access")).to_be_visible()
    expect(reader.get_by_role("alert")).to_have_text(
        "Your directory roles let you view this page but not change it. Nothing was changed.")
    steps.shot(reader, "save-refused")
    assert policies.get_consent_settings(portal.ctx, CONTOSO).user_consent == "none"
