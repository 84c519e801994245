"""Errors as real clients see them: through MSAL (which returns the error dict, or raises for an unknown
tenant) and on the wire in Microsoft Entra's JSON shape (real-clients §1.4, §6)."""

from __future__ import annotations

import re
import uuid

import msal
import pytest
from tests.clients.helpers import GRAPH_DEFAULT, RegisteredApp
from tests.support.server import RunningServer

pytestmark = pytest.mark.clients

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$")


def _token_url(server: RunningServer, tenant: str) -> str:
    return f"{server.base_url}/{tenant}/oauth2/v2.0/token"


def _client_credentials(client_id: str, secret: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
            "scope": GRAPH_DEFAULT[0]}


def test_unknown_tenant_makes_msal_raise_value_error_on_construction(server: RunningServer) -> None:
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        msal.ConfidentialClientApplication(str(uuid.uuid4()), client_credential="secret",
                                           authority=f"{server.base_url}/{uuid.uuid4()}", instance_discovery=False)


def test_unknown_tenant_discovery_is_400_json_aadsts90002(server: RunningServer) -> None:
    with server.client() as http:
        response = http.get(f"/{uuid.uuid4()}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]


def test_unknown_client_is_unauthorized_client_700016(authority: str) -> None:
    client_id = str(uuid.uuid4())
    app = msal.ConfidentialClientApplication(client_id, client_credential="secret", authority=authority,
                                             instance_discovery=False)
    result = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert result.get("error") == "unauthorized_client", result
    assert result["error_codes"] == [700016]
    assert client_id in result["error_description"]


def test_wrong_secret_is_invalid_client_7000215(daemon_app: RegisteredApp, authority: str) -> None:
    app = msal.ConfidentialClientApplication(daemon_app.app_id, client_credential="not-the-secret",
                                             authority=authority, instance_discovery=False)
    result = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert result.get("error") == "invalid_client", result
    assert result["error_codes"] == [7000215]


def test_wrong_secret_is_http_401(daemon_app: RegisteredApp, server: RunningServer, contoso: str) -> None:
    with server.client() as http:
        response = http.post(_token_url(server, contoso), data=_client_credentials(daemon_app.app_id, "nope"))
    assert response.status_code == 401
    assert response.json()["error_codes"] == [7000215]


def test_token_error_has_the_full_entra_shape(daemon_app: RegisteredApp, server: RunningServer,
                                              contoso: str) -> None:
    correlation = str(uuid.uuid4())
    with server.client() as http:
        response = http.post(_token_url(server, contoso), data=_client_credentials(daemon_app.app_id, "nope"),
                             headers={"client-request-id": correlation})
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_description"].startswith("AADSTS7000215: ")
    assert "\r\nTrace ID: " in body["error_description"]
    assert f"\r\nCorrelation ID: {correlation}" in body["error_description"]
    assert isinstance(body["error_codes"], list) and all(type(c) is int for c in body["error_codes"])
    assert TIMESTAMP.match(body["timestamp"]), body["timestamp"]
    assert str(uuid.UUID(body["trace_id"])) == body["trace_id"]
    assert body["trace_id"] in body["error_description"]
    assert body["correlation_id"] == correlation


def test_get_on_the_token_endpoint_is_a_json_error_900561(server: RunningServer, contoso: str) -> None:
    with server.client() as http:
        response = http.get(_token_url(server, contoso))
    assert 400 <= response.status_code < 500
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_codes"] == [900561]


@pytest.mark.parametrize("content", [
    pytest.param({"content": b'{"grant_type": "client_credentials"}',
                  "headers": {"content-type": "application/json"}}, id="json-body"),
    pytest.param({"content": b"grant_type=%zz&&==", "headers": {"content-type": "application/x-www-form-urlencoded"}},
                 id="bad-percent-encoding"),
    pytest.param({"content": b"\xff\xfe\xfd", "headers": {"content-type": "application/x-www-form-urlencoded"}},
                 id="not-utf8"),
])
def test_malformed_token_request_body_is_invalid_request_9002313(server: RunningServer, contoso: str,
                                                                  content: dict[str, object]) -> None:
    with server.client() as http:
        response = http.post(_token_url(server, contoso), **content)  # type: ignore[arg-type]
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_codes"] == [9002313]


def test_msal_error_dict_keeps_the_trace_and_correlation_ids(daemon_app: RegisteredApp, authority: str) -> None:
    app = msal.ConfidentialClientApplication(daemon_app.app_id, client_credential="still-not-the-secret",
                                             authority=authority, instance_discovery=False)
    result = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"} <= set(result)
    assert TIMESTAMP.match(result["timestamp"])


def test_unknown_tenant_domain_discovery_is_400_json_not_an_html_page(server: RunningServer) -> None:
    with server.client() as http:
        response = http.get("/nowhere.example/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error_codes"] == [90002]
