"""The device code flow (RFC 8628; spec real-clients §1.2): the devicecode endpoint, polling with both
grant type spellings, the verification pages, decline, expiry and single redemption."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.protocol.helpers import (
    GRAPH_SCOPE,
    PASSWORD,
    RegisteredApp,
    assert_entra_error,
    hidden_inputs,
    jwt_claims,
    make_app,
    make_tenant,
    make_user,
    post_token,
)
from tests.support.server import RunningServer

URN = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def start(http: httpx.Client, segment: str, app: RegisteredApp, scope: str = GRAPH_SCOPE) -> dict[str, Any]:
    response = http.post(f"/{segment}/oauth2/v2.0/devicecode", data={"client_id": app.app_id, "scope": scope})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def poll(http: httpx.Client, segment: str, app: RegisteredApp, device_code: str, grant_type: str = URN,
         **extra: str) -> httpx.Response:
    return post_token(http, segment, {"grant_type": grant_type, "client_id": app.app_id,
                                      "device_code": device_code, **extra})


def decide(server: RunningServer, user_code: str, username: str, decision: str) -> httpx.Response:
    """Go through the verification pages in a fresh browser: enter the code, sign in, decide."""
    with server.client() as browser:
        page = browser.get("/devicelogin")
        entered = browser.post("/devicelogin", data={"csrf_token": hidden_inputs(page.text)["csrf_token"],
                                                     "user_code": user_code})
        assert entered.status_code == 200 and 'action="/devicelogin/signin"' in entered.text, entered.text
        confirm = browser.post("/devicelogin/signin", data={**hidden_inputs(entered.text), "username": username,
                                                            "password": PASSWORD})
        assert confirm.status_code == 200 and 'value="continue"' in confirm.text, confirm.text
        done = browser.post("/devicelogin", data={**hidden_inputs(confirm.text), "decision": decision})
        assert done.status_code == 200, done.text
        return done


def test_devicecode_endpoint_returns_the_rfc8628_fields(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant, public=True)
    body = start(http, tenant.id, app)
    assert {"user_code", "device_code", "verification_uri", "expires_in", "interval", "message"} <= body.keys()
    assert body["verification_uri"] == f"{server.base_url}/devicelogin"
    assert body["expires_in"] == 900 and body["interval"] == 5
    assert body["user_code"] in body["message"] and body["verification_uri"] in body["message"]


def test_devicecode_endpoint_unknown_client_is_700016(server: RunningServer, http: httpx.Client) -> None:
    response = http.post("/common/oauth2/v2.0/devicecode",
                         data={"client_id": "5a0c3b59-2f4e-4a8e-9d5a-123456789abc", "scope": GRAPH_SCOPE})
    assert_entra_error(response, "unauthorized_client", 700016)


def test_devicecode_endpoint_unknown_tenant_is_90002(server: RunningServer, http: httpx.Client) -> None:
    app = make_app(server, make_tenant(server), public=True)
    response = http.post("/nowhere.example/oauth2/v2.0/devicecode", data={"client_id": app.app_id,
                                                                          "scope": GRAPH_SCOPE})
    assert_entra_error(response, "invalid_request", 90002)


@pytest.mark.parametrize("grant_type", [URN, "device_code"])
def test_polling_before_approval_is_authorization_pending(server: RunningServer, http: httpx.Client,
                                                          grant_type: str) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant, public=True)
    device_code = start(http, tenant.id, app)["device_code"]
    assert_entra_error(poll(http, tenant.id, app, device_code, grant_type), "authorization_pending", 70016)


def test_polling_with_a_duplicate_code_parameter_is_accepted(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant, public=True)
    device_code = start(http, tenant.id, app)["device_code"]
    response = poll(http, tenant.id, app, device_code, "device_code", code=device_code)
    assert_entra_error(response, "authorization_pending", 70016)


def test_polling_with_only_a_code_parameter_is_accepted(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant, public=True)
    device_code = start(http, tenant.id, app)["device_code"]
    response = post_token(http, tenant.id, {"grant_type": URN, "client_id": app.app_id, "code": device_code})
    assert_entra_error(response, "authorization_pending", 70016)


def test_polling_with_an_unknown_device_code_is_refused(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant, public=True)
    assert_entra_error(poll(http, tenant.id, app, "nonsense"), "invalid_grant", 70000)


def test_unknown_user_code_rerenders_the_code_page(server: RunningServer) -> None:
    with server.client() as browser:
        page = browser.get("/devicelogin")
        response = browser.post("/devicelogin", data={"csrf_token": hidden_inputs(page.text)["csrf_token"],
                                                      "user_code": "ZZZZZZZZZ"})
        assert response.status_code == 400
        assert "not valid" in response.text and 'name="user_code"' in response.text


def test_declined_device_code_is_access_denied_65004(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, public=True), make_user(server, tenant)
    started = start(http, tenant.id, app)
    done = decide(server, started["user_code"], user.user_principal_name, "cancel")
    assert "cancelled" in done.text
    assert_entra_error(poll(http, tenant.id, app, started["device_code"]), "access_denied", 65004)


def test_expired_device_code_is_expired_token_70019(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant, public=True)
    device_code = start(http, tenant.id, app)["device_code"]
    server.advance(minutes=15, seconds=30)
    assert_entra_error(poll(http, tenant.id, app, device_code), "expired_token", 70019)


def test_approved_device_code_gives_tokens_once(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, public=True), make_user(server, tenant)
    started = start(http, tenant.id, app)
    assert "signed in" in decide(server, started["user_code"], user.user_principal_name, "continue").text
    response = poll(http, tenant.id, app, started["device_code"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"access_token", "refresh_token", "id_token"} <= body.keys()
    assert jwt_claims(body["access_token"])["oid"] == user.id
    second = poll(http, tenant.id, app, started["device_code"])
    assert_entra_error(second, "invalid_grant", 54005)


def test_approved_device_code_with_bare_grant_type_gives_tokens(server: RunningServer,
                                                                http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, public=True), make_user(server, tenant)
    started = start(http, tenant.id, app)
    decide(server, started["user_code"], user.user_principal_name, "continue")
    response = poll(http, tenant.id, app, started["device_code"], "device_code", code=started["device_code"])
    assert response.status_code == 200, response.text


def test_device_code_of_another_client_is_refused(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, other = make_app(server, tenant, public=True), make_app(server, tenant, public=True)
    device_code = start(http, tenant.id, app)["device_code"]
    assert_entra_error(poll(http, tenant.id, other, device_code), "invalid_grant", 70000)


def test_device_code_polled_at_another_tenants_authority_is_refused(server: RunningServer,
                                                                    http: httpx.Client) -> None:
    tenant, elsewhere = make_tenant(server), make_tenant(server)
    app, user = make_app(server, tenant, public=True, multi_tenant=True), make_user(server, tenant)
    started = start(http, tenant.id, app)
    decide(server, started["user_code"], user.user_principal_name, "continue")
    response = poll(http, elsewhere.id, app, started["device_code"])
    assert response.status_code == 400, response.text
    assert "access_token" not in response.json()
