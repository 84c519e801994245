"""MSAL for Python's confidential client, app-only: client secret and both certificate assertion forms
(real-clients §1.2), and how a wrong key or a replayed assertion is refused."""

from __future__ import annotations

import uuid
from typing import Any

import msal
import pytest
import requests
from msal.oauth2cli.assertion import JwtAssertionCreator
from tests.clients.helpers import (
    GRAPH_DEFAULT,
    CertificateApp,
    RegisteredApp,
    decode_jwt,
    jwt_header,
    make_certificate,
)
from tests.support.server import RunningServer

pytestmark = pytest.mark.clients


def _confidential(app_id: str, credential: object, authority: str) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(app_id, client_credential=credential, authority=authority,
                                              instance_discovery=False)


def test_client_secret_gets_an_app_only_graph_token_with_the_assigned_role(
        daemon_app: RegisteredApp, authority: str, contoso: str) -> None:
    app = _confidential(daemon_app.app_id, daemon_app.secret, authority)
    result = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert "access_token" in result, result
    assert result["token_type"].lower() == "bearer"
    claims = decode_jwt(result["access_token"])
    assert claims["roles"] == ["User.Read.All"]
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == contoso
    assert claims["appid"] == daemon_app.app_id
    assert claims["idtyp"] == "app"
    assert "scp" not in claims


def test_client_secret_token_is_served_from_the_cache_the_second_time(
        daemon_app: RegisteredApp, authority: str) -> None:
    app = _confidential(daemon_app.app_id, daemon_app.secret, authority)
    first = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)
    second = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert first["token_source"] == "identity_provider"
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]


def test_certificate_with_sha1_thumbprint_authenticates_with_rs256_x5t(
        certificate_app: CertificateApp, authority: str) -> None:
    cert = certificate_app.certificate
    app = _confidential(certificate_app.app.app_id,
                        {"private_key": cert.private_key_pem, "thumbprint": cert.sha1_thumbprint}, authority)
    result = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert "access_token" in result, result
    claims = decode_jwt(result["access_token"])
    assert claims["appid"] == certificate_app.app.app_id
    assert claims["appidacr"] == "2"
    assert claims["roles"] == ["User.Read.All"]


def test_certificate_with_public_certificate_authenticates_with_ps256_x5t_s256_and_x5c(
        certificate_app: CertificateApp, authority: str) -> None:
    cert = certificate_app.certificate
    app = _confidential(certificate_app.app.app_id,
                        {"private_key": cert.private_key_pem, "public_certificate": cert.certificate_pem},
                        authority)
    result = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert "access_token" in result, result
    assert decode_jwt(result["access_token"])["appidacr"] == "2"


def test_msal_builds_the_assertion_forms_the_server_is_tested_against(
        certificate_app: CertificateApp, authority: str) -> None:
    """Guards the two tests above: MSAL's headers really are RS256+x5t and PS256+x5t#S256+x5c."""
    cert = certificate_app.certificate
    seen: list[dict[str, object]] = []

    class Spy(requests.Session):
        def post(self, url: Any, data: Any = None, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            if isinstance(data, dict) and "client_assertion" in data:
                seen.append(jwt_header(data["client_assertion"]))
            return super().post(url, data=data, **kwargs)

    for credential in ({"private_key": cert.private_key_pem, "thumbprint": cert.sha1_thumbprint},
                       {"private_key": cert.private_key_pem, "public_certificate": cert.certificate_pem}):
        app = msal.ConfidentialClientApplication(certificate_app.app.app_id, client_credential=credential,
                                                 authority=authority, instance_discovery=False,
                                                 http_client=Spy())
        app.acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert len(seen) == 2
    assert seen[0]["alg"] == "RS256" and "x5t" in seen[0] and "x5t#S256" not in seen[0]
    assert seen[1]["alg"] == "PS256" and "x5t#S256" in seen[1] and seen[1].get("x5c")


def test_assertion_signed_with_another_key_is_invalid_client_700027(
        certificate_app: CertificateApp, authority: str) -> None:
    registered = certificate_app.certificate
    stranger = make_certificate("not the registered key")
    app = _confidential(certificate_app.app.app_id,
                        {"private_key": stranger.private_key_pem, "thumbprint": registered.sha1_thumbprint},
                        authority)
    result = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert result.get("error") == "invalid_client", result
    assert result["error_codes"] == [700027]


def _assertion(cert_app: CertificateApp, token_endpoint: str) -> str:
    """A client assertion exactly as MSAL builds it for ``{"private_key", "thumbprint"}``."""
    cert = cert_app.certificate
    creator = JwtAssertionCreator(cert.private_key_pem, algorithm="RS256", sha1_thumbprint=cert.sha1_thumbprint)
    assertion = creator.create_normal_assertion(audience=token_endpoint, issuer=cert_app.app.app_id)
    return assertion.decode() if isinstance(assertion, bytes) else assertion


def test_replayed_client_assertion_is_refused(certificate_app: CertificateApp, server: RunningServer,
                                              contoso: str) -> None:
    token_endpoint = f"{server.base_url}/{contoso}/oauth2/v2.0/token"
    assertion = _assertion(certificate_app, token_endpoint)
    form = {"grant_type": "client_credentials", "client_id": certificate_app.app.app_id,
            "scope": GRAPH_DEFAULT[0],
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}
    with server.client() as http:
        first = http.post(token_endpoint, data=form)
        replay = http.post(token_endpoint, data=form, headers={"client-request-id": str(uuid.uuid4())})
    assert first.status_code == 200, first.text
    assert replay.status_code in (400, 401), replay.text
    body = replay.json()
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [50027]
    assert "jti" in body["error_description"]
    assert "access_token" not in body
