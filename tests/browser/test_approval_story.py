"""The admin consent request workflow in a real browser (issue 6, "Tests"), as people do it: the administrator
turns the workflow on in "Admin consent settings" with herself as reviewer; Adele signs in to Apple Internet
Accounts, sees "Approval required", writes why she needs it and presses "Request approval"; the administrator
opens "Admin consent requests" → "My pending" → the request → "Review permissions and consent" → Accept; Adele
signs in again and the app gets a code.

The server, the browser, the people and the app (the test plays Apple Internet Accounts) are those of
``tests/browser/test_portal_stories.py``, reused here on this module's own server; screenshots go to
``test-results/browser/<test name>/NN-step.png``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from tests.browser.test_portal_stories import (  # noqa: F401 - the fixtures are this module's too
    ACTOR,
    ADELE,
    ADMIN,
    APPLE_NAME,
    CONTOSO,
    People,
    Steps,
    adele_gets_a_token,
    adele_is_stopped,
    chromium,
    confirmation,
    go_to,
    people,
    portal,
    restore_demo,
    signs_in_to_portal,
    steps,
)
from tests.support.server import RunningServer

from consentry.services import consent_requests

pytestmark = pytest.mark.browser

JUSTIFICATION = "I need my work calendar and contacts on my iPhone."


@pytest.fixture(autouse=True)
def _workflow_off_again(portal: RunningServer) -> Iterator[None]:  # noqa: F811
    """Start and end with the demo's state, and with the workflow off (the seed story expects "Need admin
    approval"); the server's clock agrees with the browser's."""
    portal.clock.set(dt.datetime.now(dt.UTC))
    restore_demo(portal)
    yield
    consent_requests.update_request_policy(portal.ctx, CONTOSO, ACTOR, is_enabled=False)
    restore_demo(portal)


def test_adele_requests_apple_the_admin_approves_in_the_portal_and_apple_gets_a_code(
        portal: RunningServer, people: People, steps: Steps) -> None:  # noqa: F811
    admin = people()
    signs_in_to_portal(admin, steps, ADMIN)
    go_to(admin, "Admin consent settings")
    expect(admin.get_by_role("heading", name="Admin consent settings", level=1)).to_be_visible()
    admin.get_by_role("group", name="Users can request admin consent to apps they are unable to consent to") \
        .get_by_label("Yes").check()
    admin.get_by_label("Add users (sign-in names, separated by commas or spaces)").fill(ADMIN)
    admin.get_by_role("group", name="Selected users will receive email notifications for requests") \
        .get_by_label("Yes").check()
    admin.get_by_label("Consent request expires after (days)").fill("7")
    steps.shot(admin, "settings-filled-in")
    admin.get_by_role("button", name="Save").click()
    expect(confirmation(admin)).to_contain_text("Admin consent settings saved. Users can request admin consent: Yes")
    expect(admin.get_by_role("table", name="Selected users and groups")).to_contain_text(ADMIN)
    steps.shot(admin, "settings-saved")

    adele = adele_is_stopped(portal, people, steps, "Approval required")
    expect(adele.get_by_text(f"{APPLE_NAME} needs permission to access resources in your organization")) \
        .to_be_visible()
    adele.get_by_label("Enter justification for requesting this app").fill(JUSTIFICATION)
    steps.shot(adele, "adele-writes-her-justification")
    adele.get_by_role("button", name="Request approval").click()
    expect(adele.get_by_role("heading", name="Request sent", level=1)).to_be_visible()
    expect(adele.get_by_role("link", name="Back to app")).to_be_visible()
    steps.shot(adele, "adele-request-sent")

    go_to(admin, "Admin consent requests")
    admin.get_by_role("navigation", name="Admin consent requests").get_by_role("link", name="My pending").click()
    steps.shot(admin, "my-pending")
    admin.get_by_role("link", name=APPLE_NAME, exact=True).click()
    expect(admin.get_by_role("heading", name="Requested by")).to_be_visible()
    expect(admin.get_by_role("main")).to_contain_text(JUSTIFICATION)
    expect(admin.get_by_role("main")).to_contain_text(ADELE)
    steps.shot(admin, "the-request")
    admin.get_by_role("link", name="Review permissions and consent").click()
    expect(admin.get_by_role("heading", name="Permissions requested — accept for your organization")).to_be_visible()
    steps.shot(admin, "review-permissions-and-consent")
    admin.get_by_role("button", name="Accept").click()
    expect(confirmation(admin)).to_contain_text("Approved: admin consent was granted")
    steps.shot(admin, "approved")

    adele_gets_a_token(portal, people, steps)
