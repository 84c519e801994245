"""The authorization endpoint over HTTP (spec §3.1, §13.8): error pages that never redirect until the
client and redirect URI are trusted, error redirects that echo ``state``, the loopback rule, PKCE for
public clients, ``prompt``, and the complete sign-in round trip with each response mode."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from tests.protocol.helpers import (
    GUID,
    PASSWORD,
    TEST_ACTOR,
    TIMESTAMP,
    authorize,
    authorize_params,
    hidden_inputs,
    jwt_claims,
    make_app,
    make_tenant,
    make_user,
    new_correlation_id,
    pkce_pair,
    redirect_params,
    submit_sign_in,
)
from tests.support.server import RunningServer

from consentry.services import apps


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def assert_error_page(response: httpx.Response, code: int, correlation_id: str | None = None,
                      status: int = 400) -> None:
    """Entra's own error page: the AADSTS line and troubleshooting details, and no redirect."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert f"AADSTS{code}: " in html
    request_id = re.search(r"<dt>Request Id</dt><dd>([^<]+)</dd>", html)
    assert request_id and GUID.match(request_id.group(1)), html
    correlation = re.search(r"<dt>Correlation Id</dt><dd>([^<]+)</dd>", html)
    assert correlation and GUID.match(correlation.group(1))
    if correlation_id is not None:
        assert correlation.group(1) == correlation_id
    stamp = re.search(r"<dt>Timestamp</dt><dd>([^<]+)</dd>", html)
    assert stamp and TIMESTAMP.match(stamp.group(1))
    assert "Traceback" not in html


def error_redirect(response: httpx.Response, error: str, state: str, code: int | None = None) -> dict[str, str]:
    params = redirect_params(response)
    assert params["error"] == error, params
    assert params["state"] == state
    if code is not None:
        assert params["error_description"].startswith(f"AADSTS{code}: ")
        assert "\r\nTrace ID: " in params["error_description"]
        assert params["error_uri"].endswith(f"/error?code={code}")
    return params


def sign_in_page_location(response: httpx.Response, segment: str) -> str:
    assert response.status_code == 302, response.text[:500]
    location = response.headers["location"]
    assert location.startswith(f"/{segment}/login?interaction="), location
    return location


# --- errors that must render a page, never a redirect ---------------------------------------------------
def test_unknown_tenant_renders_an_error_page(server: RunningServer, browser: httpx.Client) -> None:
    app = make_app(server, make_tenant(server))
    correlation = new_correlation_id()
    response = browser.get("/no-such-tenant.example/oauth2/v2.0/authorize", params=authorize_params(app),
                           headers={"client-request-id": correlation})
    assert_error_page(response, 90002, correlation)


def test_unknown_client_renders_an_error_page(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    params = authorize_params(app, client_id="0b7bd6a1-58c8-4a4f-8c3b-0d0d1a2b3c4d")
    assert_error_page(authorize(browser, tenant.id, params), 700016)


def test_unknown_client_on_common_renders_an_error_page(server: RunningServer, browser: httpx.Client) -> None:
    app = make_app(server, make_tenant(server))
    params = authorize_params(app, client_id="0b7bd6a1-58c8-4a4f-8c3b-0d0d1a2b3c4d")
    assert_error_page(authorize(browser, "common", params), 700016)


def test_malformed_client_id_renders_an_error_page(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    assert_error_page(authorize(browser, tenant.id, authorize_params(app, client_id="not-a-guid")), 700016)


def test_unregistered_redirect_uri_renders_an_error_page(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    params = authorize_params(app, redirect_uri="https://evil.example/callback")
    response = authorize(browser, tenant.id, params)
    assert_error_page(response, 50011)
    assert "evil.example" not in response.headers.get("location", "")


@pytest.mark.parametrize("uri", ["http://localhost.evil.com:53123", "http://localhost:53123@evil.com",
                                 "http://evil.com@localhost:53123/other"])
def test_loopback_lookalike_renders_an_error_page(server: RunningServer, browser: httpx.Client, uri: str) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant, public=True)
    _, challenge = pkce_pair()
    assert_error_page(authorize(browser, tenant.id, authorize_params(app, redirect_uri=uri, challenge=challenge)),
                      50011)


def test_unregistered_redirect_uri_with_a_bad_response_type_still_never_redirects(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    params = authorize_params(app, redirect_uri="https://evil.example/callback", response_type="token")
    assert_error_page(authorize(browser, tenant.id, params), 50011)


def test_loopback_any_port_matches_a_public_clients_localhost(server: RunningServer,
                                                              browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, public=True), make_user(server, tenant)
    _, challenge = pkce_pair()
    params = authorize_params(app, redirect_uri="http://localhost:53123", challenge=challenge)
    location = sign_in_page_location(authorize(browser, tenant.id, params), tenant.id)
    final = submit_sign_in(browser, location, user.user_principal_name)
    assert final.headers["location"].startswith("http://localhost:53123?code=")


# --- errors that go back to the client, with state --------------------------------------------------------------
@pytest.mark.parametrize("response_type", ["token", "id_token", "code token"])
def test_unsupported_response_type_redirects_with_state(server: RunningServer, browser: httpx.Client,
                                                        response_type: str) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    params = authorize_params(app, response_type=response_type)
    error_redirect(authorize(browser, tenant.id, params), "unsupported_response_type", params["state"], 700054)


def test_public_client_without_pkce_is_redirected_with_9002325(server: RunningServer,
                                                               browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant, public=True)
    params = authorize_params(app, redirect_uri="http://localhost:41000")
    response = authorize(browser, tenant.id, params)
    assert response.headers["location"].startswith("http://localhost:41000?")
    error_redirect(response, "invalid_request", params["state"], 9002325)


def test_default_mixed_with_a_scope_is_redirected_with_70011(server: RunningServer,
                                                             browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    params = authorize_params(app, scope="https://graph.microsoft.com/.default Mail.Read")
    error_redirect(authorize(browser, tenant.id, params), "invalid_scope", params["state"], 70011)


def test_prompt_none_without_a_session_redirects_login_required(server: RunningServer,
                                                                browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    params = authorize_params(app, prompt="none")
    error_redirect(authorize(browser, tenant.id, params), "login_required", params["state"], 50058)


def test_error_redirect_honours_response_mode_fragment(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    params = authorize_params(app, prompt="none", response_mode="fragment")
    response = authorize(browser, tenant.id, params)
    assert urlsplit(response.headers["location"]).fragment
    error_redirect(response, "login_required", params["state"])


# --- the sign-in round trip -------------------------------------------------------------------------------------------
def test_authorize_sends_the_browser_to_the_sign_in_page(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app)), tenant.id)
    page = browser.get(location)
    assert page.status_code == 200
    assert "Username" in page.text and "Password" in page.text and "Sign in" in page.text
    assert {"csrf_token", "interaction"} <= hidden_inputs(page.text).keys()


def test_sign_in_form_returns_code_state_session_state_and_client_info(server: RunningServer,
                                                                       browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    params = authorize_params(app, client_info="1")
    location = sign_in_page_location(authorize(browser, tenant.id, params), tenant.id)
    final = submit_sign_in(browser, location, user.user_principal_name)
    assert final.headers["location"].startswith(app.redirect_uri + "?")
    result = redirect_params(final)
    assert result["code"] and result["state"] == params["state"]
    assert GUID.match(result["session_state"])
    raw = result["client_info"]
    info = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    assert info == {"uid": user.id, "utid": tenant.id}


def test_without_client_info_request_no_client_info_is_returned(server: RunningServer,
                                                                browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app)), tenant.id)
    assert "client_info" not in redirect_params(submit_sign_in(browser, location, user.user_principal_name))


def test_response_mode_fragment_puts_the_code_in_the_fragment(server: RunningServer,
                                                              browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    params = authorize_params(app, response_mode="fragment")
    location = sign_in_page_location(authorize(browser, tenant.id, params), tenant.id)
    final = submit_sign_in(browser, location, user.user_principal_name)
    parts = urlsplit(final.headers["location"])
    assert not parts.query and "code=" in parts.fragment
    assert redirect_params(final)["state"] == params["state"]


def test_response_mode_form_post_auto_submits_the_parameters(server: RunningServer,
                                                             browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    params = authorize_params(app, response_mode="form_post")
    location = sign_in_page_location(authorize(browser, tenant.id, params), tenant.id)
    final = submit_sign_in(browser, location, user.user_principal_name)
    assert final.status_code == 200
    assert "location" not in final.headers
    assert f'<form method="post" action="{app.redirect_uri}">' in final.text
    assert "document.forms[0].submit()" in final.text
    fields = hidden_inputs(final.text)
    assert fields["code"] and fields["state"] == params["state"]


def test_sso_cookie_skips_the_sign_in_page(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app)), tenant.id)
    first = redirect_params(submit_sign_in(browser, location, user.user_principal_name))
    params = authorize_params(app)
    second = redirect_params(authorize(browser, tenant.id, params))
    assert second["code"] != first["code"] and second["state"] == params["state"]
    assert second["session_state"] == first["session_state"]


def test_prompt_none_with_a_session_returns_a_code(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app)), tenant.id)
    submit_sign_in(browser, location, user.user_principal_name)
    assert redirect_params(authorize(browser, tenant.id, authorize_params(app, prompt="none")))["code"]


@pytest.mark.parametrize("prompt", ["login", "select_account"])
def test_prompt_forces_the_sign_in_page_despite_a_session(server: RunningServer, browser: httpx.Client,
                                                          prompt: str) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app)), tenant.id)
    submit_sign_in(browser, location, user.user_principal_name)
    sign_in_page_location(authorize(browser, tenant.id, authorize_params(app, prompt=prompt)), tenant.id)


def test_sign_in_page_cannot_be_framed(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app)), tenant.id)
    page = browser.get(location)
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_sign_in_interaction_cannot_be_used_twice(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app)), tenant.id)
    page = browser.get(location)
    fields = {**hidden_inputs(page.text), "username": user.user_principal_name, "password": PASSWORD}
    assert browser.post(f"/{tenant.id}/login", data=fields).status_code == 302
    assert_error_page(browser.post(f"/{tenant.id}/login", data=fields), 50089)


def test_login_hint_prefills_the_username(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    hint = f"someone@{tenant.default_domain}"
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app, login_hint=hint)),
                                     tenant.id)
    assert f'value="{hint}"' in browser.get(location).text


def test_missing_consent_leads_to_the_consent_page_not_to_the_client(server: RunningServer,
                                                                      browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    params = authorize_params(app)
    location = sign_in_page_location(authorize(browser, tenant.id, params), tenant.id)
    final = submit_sign_in(browser, location, user.user_principal_name)
    assert final.status_code == 302
    assert final.headers["location"].startswith(f"/{tenant.id}/consent?interaction="), final.headers["location"]
    page = browser.get(final.headers["location"])
    assert page.status_code == 200
    assert "Permissions requested" in page.text and app.app.display_name in page.text


def test_prompt_none_with_a_session_but_no_consent_redirects_with_65001(server: RunningServer,
                                                                        browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    consented, unconsented = make_app(server, tenant), make_app(server, tenant, grant=None)
    user = make_user(server, tenant)
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(consented)), tenant.id)
    submit_sign_in(browser, location, user.user_principal_name)
    params = authorize_params(unconsented, prompt="none")
    error_redirect(authorize(browser, tenant.id, params), "consent_required", params["state"], 65001)


def test_disabled_service_principal_renders_7000112_page_after_sign_in(server: RunningServer,
                                                                       browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    apps.update_service_principal(server.ctx, tenant.id, app.app_id, TEST_ACTOR, account_enabled=False)
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app)), tenant.id)
    assert_error_page(submit_sign_in(browser, location, user.user_principal_name), 7000112)


def test_user_of_another_tenant_renders_50020_page(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant, multi_tenant=True)
    stranger = make_user(server, make_tenant(server))
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app)), tenant.id)
    assert_error_page(submit_sign_in(browser, location, stranger.user_principal_name), 50020)


def test_wrong_password_rerenders_the_form_with_50126_and_no_session(server: RunningServer,
                                                                     browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app)), tenant.id)
    response = submit_sign_in(browser, location, user.user_principal_name, password="wrong")
    assert response.status_code == 200
    assert "AADSTS50126" in response.text
    assert "name=\"password\"" in response.text
    assert "consentry_session" not in response.headers.get("set-cookie", "")
    assert "consentry_session" not in browser.cookies
    sign_in_page_location(authorize(browser, tenant.id, authorize_params(app)), tenant.id)


def test_session_cookie_is_httponly_secure_and_samesite_lax(server: RunningServer,
                                                             browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app)), tenant.id)
    response = submit_sign_in(browser, location, user.user_principal_name, PASSWORD)
    cookies = [c for c in response.headers.get_list("set-cookie") if c.startswith("consentry_session=")]
    assert len(cookies) == 1
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookies[0].split(";")[1:]}
    assert "httponly" in attributes and "secure" in attributes
    assert attributes["samesite"].lower() == "samesite=lax"
    assert attributes["path"] == "Path=/"


def test_expired_sign_in_interaction_renders_50089(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    assert_error_page(browser.get(f"/{tenant.id}/login?interaction=not-a-real-interaction"), 50089)


def test_v1_authorize_with_resource_reaches_sign_in(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    params = {"client_id": app.app_id, "response_type": "code", "redirect_uri": app.redirect_uri,
              "resource": "https://graph.microsoft.com", "state": "v1"}
    response = browser.get(f"/{tenant.id}/oauth2/authorize", params=params)
    sign_in_page_location(response, tenant.id)


def test_graph_is_the_default_resource_for_unqualified_scopes(server: RunningServer,
                                                              browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    location = sign_in_page_location(authorize(browser, tenant.id, authorize_params(app, scope="User.Read openid")),
                                     tenant.id)
    code = redirect_params(submit_sign_in(browser, location, user.user_principal_name))["code"]
    response = browser.post(f"/{tenant.id}/oauth2/v2.0/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": app.redirect_uri, **app.credentials()})
    assert response.status_code == 200, response.text
    claims = jwt_claims(response.json()["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert "User.Read" in claims["scp"].split()
    assert claims["ver"] == "1.0"  # Microsoft Graph takes v1.0 tokens
