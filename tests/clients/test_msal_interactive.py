"""MSAL for Python's interactive flows with the browser replaced by httpx submitting Consentry's HTML
forms: authorization code + PKCE (``initiate_auth_code_flow`` / ``acquire_token_by_auth_code_flow``) and
the device code flow (real-clients §1.2)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
from tests.clients.helpers import (
    ADELE,
    GRAPH_CLI,
    approve_device_code,
    decode_jwt,
    sign_in_through_browser,
)
from tests.support.egress import free_port
from tests.support.server import RunningServer

pytestmark = [pytest.mark.clients,
              pytest.mark.filterwarnings("ignore:response_mode=.form_post. is recommended:UserWarning")]

PublicApp = Callable[..., msal.PublicClientApplication]


def _loopback() -> str:
    return f"http://localhost:{free_port()}"


def test_auth_code_flow_with_pkce_returns_tokens_through_the_sign_in_form(
        new_public_app: PublicApp, server: RunningServer, contoso: str) -> None:
    app = new_public_app()
    flow = app.initiate_auth_code_flow(scopes=["User.Read"], redirect_uri=_loopback())
    sent = {k: v[0] for k, v in parse_qs(urlsplit(flow["auth_uri"]).query).items()}
    assert sent["code_challenge_method"] == "S256" and sent["nonce"]

    params = sign_in_through_browser(server, flow["auth_uri"])
    assert params["state"] == flow["state"] and params["code"] and params["client_info"]
    result = app.acquire_token_by_auth_code_flow(flow, params)

    assert "access_token" in result, result
    assert "User.Read" in decode_jwt(result["access_token"])["scp"].split()
    claims = result["id_token_claims"]
    # MSAL itself refuses an id_token whose nonce differs from the one it sent; check the echo too.
    assert claims["nonce"] == sent["nonce"]
    assert claims["aud"] == GRAPH_CLI and claims["preferred_username"] == ADELE
    assert claims["iss"] == f"{server.base_url}/{contoso}/v2.0"
    assert result["refresh_token"]
    assert app.get_accounts()[0]["home_account_id"] == f"{claims['oid']}.{contoso}"


def test_auth_code_redeemed_twice_is_invalid_grant_54005(new_public_app: PublicApp, server: RunningServer) -> None:
    app = new_public_app()
    flow = app.initiate_auth_code_flow(scopes=["User.Read"], redirect_uri=_loopback())
    params = sign_in_through_browser(server, flow["auth_uri"])
    first = app.acquire_token_by_auth_code_flow(dict(flow), params)
    assert "access_token" in first, first
    again = new_public_app().acquire_token_by_auth_code_flow(dict(flow), params)
    assert again.get("error") == "invalid_grant", again
    assert again["error_codes"] == [54005]


def test_auth_code_past_ten_minutes_is_invalid_grant_70008(new_public_app: PublicApp,
                                                            server: RunningServer) -> None:
    app = new_public_app()
    flow = app.initiate_auth_code_flow(scopes=["User.Read"], redirect_uri=_loopback())
    params = sign_in_through_browser(server, flow["auth_uri"])
    server.advance(minutes=11)
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert result.get("error") == "invalid_grant", result
    assert result["error_codes"] == [70008]


def test_auth_code_with_wrong_code_verifier_is_invalid_grant_501481(new_public_app: PublicApp,
                                                                     server: RunningServer) -> None:
    app = new_public_app()
    flow = app.initiate_auth_code_flow(scopes=["User.Read"], redirect_uri=_loopback())
    params = sign_in_through_browser(server, flow["auth_uri"])
    flow["code_verifier"] = "x" * 43
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert result.get("error") == "invalid_grant", result
    assert result["error_codes"] == [501481]


def test_unregistered_redirect_uri_shows_an_error_page_and_never_redirects(server: RunningServer,
                                                                          contoso: str) -> None:
    with server.client() as browser:
        response = browser.get(f"/{contoso}/oauth2/v2.0/authorize", params={
            "client_id": GRAPH_CLI, "response_type": "code", "redirect_uri": "https://evil.example/cb",
            "scope": "User.Read", "code_challenge": "a" * 43, "code_challenge_method": "S256", "state": "s"})
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "AADSTS50011" in response.text


def test_device_code_flow_returns_tokens_after_the_user_approves(new_public_app: PublicApp,
                                                                 server: RunningServer, contoso: str) -> None:
    app = new_public_app()
    flow = app.initiate_device_flow(scopes=["User.Read"])
    assert flow["verification_uri"] == f"{server.base_url}/devicelogin", flow
    assert flow["user_code"] in flow["message"]
    flow["expires_at"] = time.time() + 30  # stop polling after 30 s if the page never completes

    outcome: dict[str, object] = {}

    def browser() -> None:
        try:
            outcome["page"] = approve_device_code(server, flow["user_code"])
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc

    helper = threading.Thread(target=browser, daemon=True)
    helper.start()
    result = app.acquire_token_by_device_flow(flow)
    helper.join(10)
    assert "error" not in outcome, outcome["error"]
    assert "signed in" in outcome["page"].text  # type: ignore[attr-defined]

    assert "access_token" in result, result
    assert "User.Read" in decode_jwt(result["access_token"])["scp"].split()
    assert result["id_token_claims"]["preferred_username"] == ADELE
    assert result["id_token_claims"]["tid"] == contoso
    assert result["refresh_token"]
