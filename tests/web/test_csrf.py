"""Anti-forgery protection on every form (issue 2 §4): a POST without the token, with a wrong one, or with
a token bound to another browser's cookie is refused with a 403 page (AADSTS50089) and creates no session."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.protocol.helpers import (
    PASSWORD,
    authorize,
    authorize_params,
    form_action,
    hidden_inputs,
    make_app,
    make_tenant,
    make_user,
)
from tests.support.server import RunningServer


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def assert_forbidden(response: httpx.Response) -> None:
    assert response.status_code == 403, (response.status_code, response.text[:300])
    assert "AADSTS50089" in response.text
    assert "location" not in response.headers
    assert "consentry_session" not in response.headers.get("set-cookie", "")


def open_sign_in(server: RunningServer, browser: httpx.Client) -> tuple[str, dict[str, str], str, str]:
    """(form action, hidden fields, username, segment) of a fresh sign-in page."""
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    first = authorize(browser, tenant.id, authorize_params(app))
    page = browser.get(first.headers["location"])
    return form_action(page.text), hidden_inputs(page.text), user.user_principal_name, tenant.id


def still_needs_sign_in(server: RunningServer, browser: httpx.Client, segment: str) -> bool:
    app = make_app(server, make_tenant(server))
    response = authorize(browser, segment, authorize_params(app))
    return response.status_code == 302 and "/login?interaction=" in response.headers["location"]


def test_sign_in_without_csrf_token_is_403(server: RunningServer, browser: httpx.Client) -> None:
    action, fields, username, _ = open_sign_in(server, browser)
    response = browser.post(action, data={"interaction": fields["interaction"], "username": username,
                                          "password": PASSWORD})
    assert_forbidden(response)
    assert "consentry_session" not in browser.cookies


def test_sign_in_with_wrong_csrf_token_is_403(server: RunningServer, browser: httpx.Client) -> None:
    action, fields, username, _ = open_sign_in(server, browser)
    response = browser.post(action, data={**fields, "csrf_token": "0" * 64, "username": username,
                                          "password": PASSWORD})
    assert_forbidden(response)
    assert "consentry_session" not in browser.cookies


def test_sign_in_with_another_browsers_token_is_403(server: RunningServer, browser: httpx.Client) -> None:
    action, fields, username, _ = open_sign_in(server, browser)
    with server.client() as attacker:
        attacker.get("/devicelogin")  # the attacker's own anti-forgery cookie
        assert "consentry_csrf" in attacker.cookies
        response = attacker.post(action, data={**fields, "username": username, "password": PASSWORD})
        assert_forbidden(response)
        assert "consentry_session" not in attacker.cookies


def test_sign_in_with_token_but_without_its_cookie_is_403(server: RunningServer, browser: httpx.Client) -> None:
    action, fields, username, _ = open_sign_in(server, browser)
    with server.client() as cookieless:
        response = cookieless.post(action, data={**fields, "username": username, "password": PASSWORD})
        assert_forbidden(response)


def test_refused_sign_in_creates_no_session(server: RunningServer, browser: httpx.Client) -> None:
    action, fields, username, _ = open_sign_in(server, browser)
    browser.post(action, data={**fields, "csrf_token": "forged", "username": username, "password": PASSWORD})
    assert still_needs_sign_in(server, browser, "common")


def test_sign_in_with_the_right_token_succeeds(server: RunningServer, browser: httpx.Client) -> None:
    action, fields, username, _ = open_sign_in(server, browser)
    response = browser.post(action, data={**fields, "username": username, "password": PASSWORD})
    assert response.status_code == 302 and "code=" in response.headers["location"]


def test_csrf_cookie_is_httponly_secure_and_strict(server: RunningServer, browser: httpx.Client) -> None:
    response = browser.get("/devicelogin")
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("consentry_csrf="))
    lowered = cookie.lower()
    assert "httponly" in lowered and "secure" in lowered and "samesite=strict" in lowered


def test_device_code_entry_without_csrf_token_is_403(server: RunningServer, browser: httpx.Client) -> None:
    browser.get("/devicelogin")
    assert_forbidden(browser.post("/devicelogin", data={"user_code": "BCDFGHJKL"}))


def test_device_code_entry_with_wrong_csrf_token_is_403(server: RunningServer, browser: httpx.Client) -> None:
    browser.get("/devicelogin")
    assert_forbidden(browser.post("/devicelogin", data={"user_code": "BCDFGHJKL", "csrf_token": "x" * 64}))


def test_device_code_entry_with_another_browsers_token_is_403(server: RunningServer,
                                                              browser: httpx.Client) -> None:
    page = browser.get("/devicelogin")
    token = hidden_inputs(page.text)["csrf_token"]
    with server.client() as attacker:
        attacker.get("/devicelogin")
        assert_forbidden(attacker.post("/devicelogin", data={"user_code": "BCDFGHJKL", "csrf_token": token}))


def test_device_sign_in_without_csrf_token_is_403(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    user = make_user(server, tenant)
    browser.get("/devicelogin")
    response = browser.post("/devicelogin/signin", data={"user_code": "BCDFGHJKL",
                                                         "username": user.user_principal_name,
                                                         "password": PASSWORD})
    assert_forbidden(response)
    assert "consentry_session" not in browser.cookies
