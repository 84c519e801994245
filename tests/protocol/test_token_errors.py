"""Token endpoint failures in Entra's JSON shape (spec §3.5, §13.9): the right ``error``, AADSTS code and
status, ``error_description`` with its trace/correlation/timestamp lines, and never a 5xx — not even for
bodies that are not a well-formed form."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.protocol.helpers import (
    assert_entra_error,
    make_app,
    make_tenant,
    new_correlation_id,
    post_token,
    token_url,
)
from tests.support.server import RunningServer

GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def client_credentials(app_id: str, secret: str | None = None) -> dict[str, str]:
    data = {"grant_type": "client_credentials", "client_id": app_id, "scope": GRAPH_DEFAULT}
    if secret is not None:
        data["client_secret"] = secret
    return data


def test_error_correlation_id_is_the_client_request_id_sent(server: RunningServer, http: httpx.Client) -> None:
    correlation = new_correlation_id()
    response = post_token(http, "common", {"client_id": "x"}, headers={"client-request-id": correlation})
    body = assert_entra_error(response, "invalid_request", 900144, correlation_id=correlation)
    assert response.headers["client-request-id"] == correlation
    assert response.headers["x-ms-request-id"] == body["trace_id"]


def test_each_error_gets_its_own_trace_id(server: RunningServer, http: httpx.Client) -> None:
    first = post_token(http, "common", {}).json()
    second = post_token(http, "common", {}).json()
    assert first["trace_id"] != second["trace_id"]
    assert first["correlation_id"] != second["correlation_id"]


def test_unknown_tenant_is_90002(server: RunningServer, http: httpx.Client) -> None:
    app = make_app(server, make_tenant(server))
    correlation = new_correlation_id()
    response = post_token(http, "no-such-tenant.example", client_credentials(app.app_id, app.secret),
                          headers={"client-request-id": correlation})
    assert_entra_error(response, "invalid_request", 90002, correlation_id=correlation)


def test_unknown_client_is_700016(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    response = post_token(http, tenant.id, client_credentials("7c2b6d1e-5a1f-4c55-9e7e-000000000000", "secret"))
    body = assert_entra_error(response, "unauthorized_client", 700016)
    assert "7c2b6d1e-5a1f-4c55-9e7e-000000000000" in body["error_description"]


def test_wrong_client_secret_is_7000215_with_401(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    response = post_token(http, tenant.id, client_credentials(app.app_id, "not-the-secret"))
    assert_entra_error(response, "invalid_client", 7000215, status=401)




def test_client_secret_in_basic_auth_is_accepted(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    response = post_token(http, tenant.id, {"grant_type": "client_credentials", "scope": GRAPH_DEFAULT},
                          auth=(app.app_id, app.secret or ""))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"


def test_wrong_client_secret_in_basic_auth_is_7000215_with_401(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    response = post_token(http, tenant.id, {"grant_type": "client_credentials", "scope": GRAPH_DEFAULT},
                          auth=(app.app_id, "not-the-secret"))
    assert_entra_error(response, "invalid_client", 7000215, status=401)


def test_confidential_client_without_credentials_is_7000218_with_401(server: RunningServer,
                                                                     http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    response = post_token(http, tenant.id, client_credentials(app.app_id))
    assert_entra_error(response, "invalid_client", 7000218, status=401)


def test_confidential_client_redeeming_a_code_without_credentials_is_7000218(server: RunningServer,
                                                                             http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    response = post_token(http, tenant.id, {"grant_type": "authorization_code", "client_id": app.app_id,
                                            "code": "whatever", "redirect_uri": app.redirect_uri})
    assert_entra_error(response, "invalid_client", 7000218, status=401)


def test_unsupported_grant_type_is_70003(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    response = post_token(http, tenant.id, {"grant_type": "urn:example:magic", "client_id": app.app_id,
                                            "client_secret": app.secret or ""})
    body = assert_entra_error(response, "unsupported_grant_type", 70003)
    assert "urn:example:magic" in body["error_description"]


def test_missing_grant_type_is_900144(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    response = post_token(http, tenant.id, {"client_id": app.app_id, "client_secret": app.secret or ""})
    body = assert_entra_error(response, "invalid_request", 900144)
    assert "'grant_type'" in body["error_description"]


@pytest.mark.parametrize("v1", [False, True], ids=["v2", "v1"])
def test_get_on_the_token_endpoint_is_900561(server: RunningServer, http: httpx.Client, v1: bool) -> None:
    correlation = new_correlation_id()
    response = http.get(token_url("common", v1), headers={"client-request-id": correlation})
    assert 400 <= response.status_code < 500
    body = assert_entra_error(response, "invalid_request", 900561, status=response.status_code,
                              correlation_id=correlation)
    assert "POST" in body["error_description"] and "GET" in body["error_description"]


def test_get_on_the_devicecode_endpoint_is_900561(server: RunningServer, http: httpx.Client) -> None:
    response = http.get("/common/oauth2/v2.0/devicecode")
    assert_entra_error(response, "invalid_request", 900561, status=response.status_code)
    assert 400 <= response.status_code < 500


# --- malformed bodies -------------------------------------------------------------------------------
FORM = {"content-type": "application/x-www-form-urlencoded"}


def test_non_utf8_body_is_a_400_error(server: RunningServer, http: httpx.Client) -> None:
    response = http.post(token_url("common"), content=b"grant_type=client_credentials&client_id=\xff\xfe",
                         headers=FORM)
    assert_entra_error(response, "invalid_request", 9002313)


def test_json_body_is_a_400_error(server: RunningServer, http: httpx.Client) -> None:
    response = http.post(token_url("common"), json={"grant_type": "client_credentials"})
    assert_entra_error(response, "invalid_request", 9002313)


def test_multipart_body_is_a_400_error(server: RunningServer, http: httpx.Client) -> None:
    response = http.post(token_url("common"), files={"grant_type": (None, "client_credentials")})
    assert_entra_error(response, "invalid_request", 9002313)


def test_oversize_body_is_a_400_error(server: RunningServer, http: httpx.Client) -> None:
    response = http.post(token_url("common"), content=b"grant_type=password&scope=" + b"a" * 200_000,
                         headers=FORM)
    assert_entra_error(response, "invalid_request", 9002313)


def test_nul_byte_in_body_is_a_400_error(server: RunningServer, http: httpx.Client) -> None:
    response = http.post(token_url("common"), content=b"grant_type=client_credentials&client_id=a%00b",
                         headers=FORM)
    assert_entra_error(response, "invalid_request", 9002313)


def test_unparseable_form_is_a_400_error(server: RunningServer, http: httpx.Client) -> None:
    response = http.post(token_url("common"), content=b"&&&===&%%%", headers=FORM)
    assert 400 <= response.status_code < 500
    assert response.json()["error_description"].startswith("AADSTS")


def test_duplicated_parameters_use_the_first_value_and_do_not_crash(server: RunningServer,
                                                                    http: httpx.Client) -> None:
    response = http.post(token_url("common"), headers=FORM,
                         content=b"grant_type=urn:example:first&grant_type=client_credentials&client_id=x")
    assert_entra_error(response, "unsupported_grant_type", 70003)


def test_empty_body_is_missing_grant_type(server: RunningServer, http: httpx.Client) -> None:
    response = http.post(token_url("common"), content=b"", headers=FORM)
    assert_entra_error(response, "invalid_request", 900144)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=400), content_type=st.sampled_from(
    ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1", "text/plain",
     "application/json", "multipart/form-data; boundary=x", ""]))
def test_token_endpoint_never_answers_5xx_to_arbitrary_bytes(server: RunningServer, http: httpx.Client,
                                                             body: bytes, content_type: str) -> None:
    response = http.post(token_url("common"), content=body, headers={"content-type": content_type})
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    payload = response.json()
    assert payload["error_description"].startswith("AADSTS")
    assert isinstance(payload["error_codes"], list)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(st.sampled_from(["grant_type", "client_id", "client_secret", "scope", "code",
                                               "refresh_token", "username", "password", "device_code",
                                               "redirect_uri", "code_verifier", "client_assertion",
                                               "client_assertion_type"]),
                              st.text(max_size=60), max_size=8))
def test_token_endpoint_never_answers_5xx_to_arbitrary_fields(server: RunningServer, http: httpx.Client,
                                                              fields: dict[str, str]) -> None:
    response = post_token(http, "common", fields)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["error_description"].startswith("AADSTS")
