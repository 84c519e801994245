"""Hostile input at the browser-facing endpoints never produces a 5xx or a stack trace: arbitrary form
bodies at the sign-in and device pages, arbitrary authorize parameters, and garbage credentials headers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.protocol.helpers import RegisteredApp, make_app, make_tenant, pkce_pair
from tests.support.server import RunningServer

CONTENT_TYPES = st.sampled_from(["application/x-www-form-urlencoded", "text/plain", "application/json", ""])
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def public_app(server: RunningServer) -> tuple[str, RegisteredApp]:
    tenant = make_tenant(server)
    return tenant.id, make_app(server, tenant, public=True)


def assert_no_crash(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    assert "Traceback" not in response.text


@FUZZ
@given(body=st.binary(max_size=300), content_type=CONTENT_TYPES,
       path=st.sampled_from(["/common/login", "/devicelogin", "/devicelogin/signin", "/common/oauth2/v2.0/authorize",
                             "/common/oauth2/v2.0/devicecode", "/common/oauth2/v2.0/logout"]))
def test_form_pages_never_crash_on_arbitrary_bytes(server: RunningServer, http: httpx.Client, body: bytes,
                                                   content_type: str, path: str) -> None:
    http.get("/devicelogin")  # hold an anti-forgery cookie like a browser would
    assert_no_crash(http.post(path, content=body, headers={"content-type": content_type}))


@FUZZ
@given(fields=st.dictionaries(
    st.sampled_from(["response_type", "response_mode", "scope", "state", "prompt", "nonce", "code_challenge",
                     "code_challenge_method", "login_hint", "client_info", "redirect_uri", "resource"]),
    st.text(max_size=80), max_size=8))
def test_authorize_never_crashes_on_arbitrary_parameters(server: RunningServer, http: httpx.Client,
                                                         public_app: tuple[str, RegisteredApp],
                                                         fields: dict[str, str]) -> None:
    segment, app = public_app
    _, challenge = pkce_pair()
    params = {"client_id": app.app_id, "redirect_uri": app.redirect_uri, "response_type": "code",
              "code_challenge": challenge, "code_challenge_method": "S256", **fields}
    response = http.get(f"/{segment}/oauth2/v2.0/authorize", params=params)
    assert_no_crash(response)
    if response.status_code == 302 and "/login?" not in response.headers["location"]:
        assert response.headers["location"].startswith(params["redirect_uri"].split("#")[0])


@FUZZ
@given(header=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60))
def test_garbage_authorization_header_never_crashes_the_token_endpoint(server: RunningServer,
                                                                       http: httpx.Client, header: str) -> None:
    response = http.post("/common/oauth2/v2.0/token", data={"grant_type": "client_credentials",
                                                             "scope": "https://graph.microsoft.com/.default"},
                         headers={"authorization": f"Basic {header}"})
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("encoded", ["//79", "w6g6eA==", "AAAA", "Og==", "=", "bm9jb2xvbg=="])
def test_undecodable_basic_credentials_are_a_4xx(server: RunningServer, http: httpx.Client, encoded: str) -> None:
    response = http.post("/common/oauth2/v2.0/token", data={"grant_type": "client_credentials",
                                                             "scope": "https://graph.microsoft.com/.default"},
                         headers={"authorization": f"Basic {encoded}"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error_description"].startswith("AADSTS")


@pytest.mark.parametrize("cookie", ["x" * 5000, "%C3%A9", "", "a;b", "%00"])
def test_odd_session_cookies_are_ignored(server: RunningServer, http: httpx.Client,
                                         public_app: tuple[str, RegisteredApp], cookie: str) -> None:
    segment, app = public_app
    _, challenge = pkce_pair()
    http.cookies.set("consentry_session", cookie, domain="localhost.local")
    response = http.get(f"/{segment}/oauth2/v2.0/authorize", params={
        "client_id": app.app_id, "redirect_uri": app.redirect_uri, "response_type": "code", "scope": "openid",
        "code_challenge": challenge, "code_challenge_method": "S256"})
    assert response.status_code == 302 and "/login?interaction=" in response.headers["location"]
