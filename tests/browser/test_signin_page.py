"""The sign-in page in a real browser: labelled inputs, the "Sign in" button, the wrong-password message,
and the redirect back to the application with a code."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from tests.support.server import RunningServer

pytestmark = pytest.mark.browser
GRAPH_CLI = "14d82eec-204b-4c2f-b7e8-296a70dab67e"


def _authorize_url(server: RunningServer, redirect_uri: str) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = urlencode({"client_id": GRAPH_CLI, "response_type": "code", "redirect_uri": redirect_uri,
                       "scope": "User.Read openid", "state": "browser-state", "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    return f"{server.base_url}/{server.demo.contoso_tenant_id}/oauth2/v2.0/authorize?{query}"


def test_a_person_signs_in_with_the_labelled_form_and_returns_to_the_app(server: RunningServer, browser) -> None:
    context = browser.new_context(ignore_https_errors=False, extra_http_headers={})
    context.route("http://localhost:9/**", lambda route: route.fulfill(status=200, body="back at the app"))
    page = context.new_page()
    try:
        page.goto(_authorize_url(server, "http://localhost:9/"))
        page.get_by_label("Username").fill("adele@contoso.example")
        page.get_by_label("Password").fill("not her password")
        page.get_by_role("button", name="Sign in").click()
        assert "AADSTS50126" in page.content()
        page.get_by_label("Password").fill("ConsentryDemo1!")
        with page.expect_request("http://localhost:9/**") as landed:
            page.get_by_role("button", name="Sign in").click()
        query = parse_qs(urlsplit(landed.value.url).query)
        assert query["state"] == ["browser-state"]
        assert query["code"][0]
    finally:
        context.close()
