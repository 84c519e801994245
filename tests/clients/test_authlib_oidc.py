"""A generic OpenID Connect relying party (Authlib's httpx client, validation as Authlib's OpenID mixin does
it) against a confidential web app registered in Contoso: discovery on the tenant-GUID URL, authorization
code + PKCE + nonce, the client secret at the token endpoint (HTTP Basic, Authlib's default, and in the
body), and an id_token whose signature, ``iss``, ``aud`` and ``nonce`` are checked against discovery and
JWKS (real-clients §4.3, §7 scenario 13)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidClaimError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from tests.clients.helpers import ADELE, RegisteredApp, register_app, sign_in_through_browser
from tests.support.real_clients import real_time
from tests.support.server import RunningServer

pytestmark = pytest.mark.clients

REDIRECT_URI = "https://app.contoso.example/signin-oidc"
SCOPE = "openid profile User.Read"


@pytest.fixture(scope="module")
def web_app(server: RunningServer, contoso: str) -> RegisteredApp:
    return register_app(server, contoso, web_redirect_uris=(REDIRECT_URI,), delegated=SCOPE,
                        name="client tests OIDC web app")


@dataclass
class SignedIn:
    metadata: dict[str, Any]
    token: dict[str, Any]
    nonce: str
    token_request_headers: httpx.Headers
    jwks: dict[str, Any]


def _discover(server: RunningServer, segment: str) -> dict[str, Any]:
    with server.client() as http:
        response = http.get(f"/{segment}/v2.0/.well-known/openid-configuration")
    response.raise_for_status()
    return response.json()


def _sign_in(server: RunningServer, contoso: str, web_app: RegisteredApp, **client_options: Any) -> SignedIn:
    metadata = _discover(server, contoso)
    seen: list[httpx.Request] = []
    client = OAuth2Client(web_app.app_id, web_app.secret, scope=SCOPE, redirect_uri=REDIRECT_URI,
                          code_challenge_method="S256", verify=server.ssl_context(),
                          event_hooks={"request": [seen.append]}, **client_options)
    verifier, nonce = generate_token(64), generate_token(24)
    with client:
        url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                     nonce=nonce)
        params = sign_in_through_browser(server, url)
        assert params["state"] == state
        token = client.fetch_token(metadata["token_endpoint"], code=params["code"], code_verifier=verifier)
        token_request_headers = seen[-1].headers
        jwks = client.request("GET", metadata["jwks_uri"], withhold_token=True).json()
    return SignedIn(metadata, dict(token), nonce, token_request_headers, jwks)


@pytest.fixture(scope="module")
def signed_in(server: RunningServer, contoso: str, web_app: RegisteredApp) -> SignedIn:
    """Signed in with Authlib's defaults, so the secret goes to the token endpoint as HTTP Basic (at the real
    time: a module fixture is made before the per-test clock fixture runs)."""
    with real_time(server):
        return _sign_in(server, contoso, web_app)


def _validated_id_token(signed: SignedIn, client_id: str, *, nonce: str | None = None) -> CodeIDToken:
    """What ``authlib.integrations.base_client.sync_openid.OpenIDMixin.parse_id_token`` does."""
    metadata = signed.metadata
    decoded = jwt.decode(signed.token["id_token"], KeySet.import_key_set(signed.jwks),
                         registry=JWSRegistry(algorithms=metadata["id_token_signing_alg_values_supported"],
                                              strict_check_header=False))
    claims = CodeIDToken(decoded.claims, decoded.header,
                         {"iss": {"values": [metadata["issuer"]]}, "aud": {"values": [client_id]}},
                         {"nonce": nonce or signed.nonce, "client_id": client_id,
                          "access_token": signed.token["access_token"]})
    claims.validate(leeway=120)
    return claims


def test_discovery_on_the_tenant_guid_names_that_tenant_as_issuer(server: RunningServer, contoso: str) -> None:
    metadata = _discover(server, contoso)
    assert metadata["issuer"] == f"{server.base_url}/{contoso}/v2.0"
    assert metadata["token_endpoint"] == f"{server.base_url}/{contoso}/oauth2/v2.0/token"
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "client_secret_basic" in metadata["token_endpoint_auth_methods_supported"]


def test_discovery_on_common_has_the_literal_tenantid_issuer(server: RunningServer) -> None:
    assert _discover(server, "common")["issuer"] == f"{server.base_url}/{{tenantid}}/v2.0"


def test_authlib_default_client_secret_basic_is_accepted_at_the_token_endpoint(signed_in: SignedIn) -> None:
    assert signed_in.token_request_headers["authorization"].startswith("Basic ")
    assert signed_in.token["token_type"].lower() == "bearer"
    assert signed_in.token["access_token"] and signed_in.token["id_token"]


def test_authlib_with_client_secret_post_gets_tokens(server: RunningServer, contoso: str,
                                                     web_app: RegisteredApp) -> None:
    signed = _sign_in(server, contoso, web_app, token_endpoint_auth_method="client_secret_post")
    assert "authorization" not in signed.token_request_headers
    assert signed.token["access_token"] and signed.token["id_token"]
    assert _validated_id_token(signed, web_app.app_id)["aud"] == web_app.app_id


def test_id_token_signature_issuer_audience_and_nonce_validate(signed_in: SignedIn, web_app: RegisteredApp,
                                                               contoso: str) -> None:
    claims = _validated_id_token(signed_in, web_app.app_id)
    assert claims["nonce"] == signed_in.nonce
    assert claims["aud"] == web_app.app_id
    assert claims["tid"] == contoso
    assert claims["preferred_username"] == ADELE
    assert claims.header["alg"] == "RS256" and claims.header["kid"]


def test_id_token_with_another_nonce_is_rejected(signed_in: SignedIn, web_app: RegisteredApp) -> None:
    with pytest.raises(InvalidClaimError, match="nonce"):
        _validated_id_token(signed_in, web_app.app_id, nonce="not-the-nonce-sent")


def test_id_token_for_another_client_is_rejected(signed_in: SignedIn) -> None:
    with pytest.raises(InvalidClaimError, match="aud"):
        _validated_id_token(signed_in, "00000000-0000-0000-0000-000000000001")
