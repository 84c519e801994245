"""Sign-out (``/{tenant}/oauth2/v2.0/logout``): it ends the SSO session and clears its cookie, and only
sends the browser on to a ``post_logout_redirect_uri`` registered for the named client (no open redirect)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.protocol.helpers import (
    RegisteredApp,
    authorize,
    authorize_params,
    make_app,
    make_tenant,
    make_user,
    submit_sign_in,
)
from tests.support.server import RunningServer


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def signed_in(server: RunningServer, browser: httpx.Client) -> tuple[str, RegisteredApp]:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    first = authorize(browser, tenant.id, authorize_params(app))
    final = submit_sign_in(browser, first.headers["location"], user.user_principal_name)
    assert final.status_code == 302 and "code=" in final.headers["location"]
    assert "consentry_session" in browser.cookies
    return tenant.id, app


def needs_sign_in(browser: httpx.Client, segment: str, app: RegisteredApp) -> bool:
    response = authorize(browser, segment, authorize_params(app))
    return response.status_code == 302 and "/login?interaction=" in response.headers["location"]


def test_unregistered_post_logout_redirect_uri_is_not_followed(server: RunningServer,
                                                               browser: httpx.Client) -> None:
    segment, app = signed_in(server, browser)
    response = browser.get(f"/{segment}/oauth2/v2.0/logout", params={
        "post_logout_redirect_uri": "https://evil.example/", "client_id": app.app_id})
    assert response.status_code == 200
    assert "location" not in response.headers
    assert "signed out" in response.text


def test_post_logout_redirect_uri_without_a_client_is_not_followed(server: RunningServer,
                                                                   browser: httpx.Client) -> None:
    segment, app = signed_in(server, browser)
    response = browser.get(f"/{segment}/oauth2/v2.0/logout",
                           params={"post_logout_redirect_uri": app.redirect_uri})
    assert response.status_code == 200 and "location" not in response.headers


def test_redirect_uri_of_another_client_is_not_followed(server: RunningServer, browser: httpx.Client) -> None:
    segment, app = signed_in(server, browser)
    other = make_app(server, make_tenant(server), redirect_uris=("https://other.example/cb",))
    response = browser.get(f"/{segment}/oauth2/v2.0/logout", params={
        "post_logout_redirect_uri": other.redirect_uri, "client_id": app.app_id})
    assert response.status_code == 200 and "location" not in response.headers


def test_registered_post_logout_redirect_uri_is_followed(server: RunningServer, browser: httpx.Client) -> None:
    segment, app = signed_in(server, browser)
    response = browser.get(f"/{segment}/oauth2/v2.0/logout", params={
        "post_logout_redirect_uri": app.redirect_uri, "client_id": app.app_id})
    assert response.status_code == 302
    assert response.headers["location"] == app.redirect_uri


def test_logout_clears_the_session_cookie(server: RunningServer, browser: httpx.Client) -> None:
    segment, _ = signed_in(server, browser)
    response = browser.get(f"/{segment}/oauth2/v2.0/logout")
    cleared = [c for c in response.headers.get_list("set-cookie") if c.startswith("consentry_session=")]
    assert cleared, response.headers
    assert 'consentry_session=""' in cleared[0] or "max-age=0" in cleared[0].lower()
    assert "consentry_session" not in browser.cookies


def test_logged_out_session_no_longer_skips_sign_in(server: RunningServer, browser: httpx.Client) -> None:
    segment, app = signed_in(server, browser)
    assert not needs_sign_in(browser, segment, app)
    stolen = browser.cookies["consentry_session"]
    browser.get(f"/{segment}/oauth2/v2.0/logout")
    assert needs_sign_in(browser, segment, app)
    browser.cookies.set("consentry_session", stolen, domain="localhost.local")
    assert needs_sign_in(browser, segment, app), "the server must revoke the session, not only the cookie"


def test_v1_logout_also_ends_the_session(server: RunningServer, browser: httpx.Client) -> None:
    segment, app = signed_in(server, browser)
    assert browser.get(f"/{segment}/oauth2/logout").status_code == 200
    assert needs_sign_in(browser, segment, app)
