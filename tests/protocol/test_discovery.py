"""Discovery as Entra serves it (spec §2.2, §2.3, §13.10): the v2.0 and v1 OpenID configuration, the JWKS
and its key ids, instance discovery, user realm discovery, and signing-key rotation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from tests.protocol.helpers import (
    assert_entra_error,
    jwt_header,
    make_app,
    make_tenant,
    make_user,
    ropc,
)
from tests.support.server import RunningServer

from consentry.services import keys as key_service
from consentry.services.demo import CONTOSO_DOMAIN, CONTOSO_TENANT_ID

V2_KEYS = {"token_endpoint", "token_endpoint_auth_methods_supported", "jwks_uri", "response_modes_supported",
           "subject_types_supported", "id_token_signing_alg_values_supported", "response_types_supported",
           "scopes_supported", "issuer", "request_uri_parameter_supported", "userinfo_endpoint",
           "authorization_endpoint", "device_authorization_endpoint", "http_logout_supported",
           "frontchannel_logout_supported", "end_session_endpoint", "claims_supported", "kerberos_endpoint",
           "tenant_region_scope", "cloud_instance_name", "cloud_graph_host_name", "msgraph_host", "rbac_url"}


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def v2_config(http: httpx.Client, segment: str) -> httpx.Response:
    return http.get(f"/{segment}/v2.0/.well-known/openid-configuration")


def test_v2_document_has_entras_keys(server: RunningServer, http: httpx.Client) -> None:
    response = v2_config(http, CONTOSO_TENANT_ID)
    assert response.status_code == 200
    assert response.json().keys() >= V2_KEYS


def test_v2_document_values(server: RunningServer, http: httpx.Client) -> None:
    doc = v2_config(http, CONTOSO_TENANT_ID).json()
    root = f"{server.base_url}/{CONTOSO_TENANT_ID}"
    assert doc["issuer"] == f"{root}/v2.0"
    assert doc["authorization_endpoint"] == f"{root}/oauth2/v2.0/authorize"
    assert doc["token_endpoint"] == f"{root}/oauth2/v2.0/token"
    assert doc["device_authorization_endpoint"] == f"{root}/oauth2/v2.0/devicecode"
    assert doc["end_session_endpoint"] == f"{root}/oauth2/v2.0/logout"
    assert doc["jwks_uri"] == f"{root}/discovery/v2.0/keys"
    assert doc["response_modes_supported"] == ["query", "fragment", "form_post"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["subject_types_supported"] == ["pairwise"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_post", "private_key_jwt",
                                                                 "client_secret_basic"}
    assert doc["scopes_supported"] == ["openid", "profile", "email", "offline_access"]
    assert doc["request_uri_parameter_supported"] is False
    assert doc["tenant_region_scope"] == "WW"


def test_v2_issuer_names_the_tenant_guid_when_requested_by_domain(server: RunningServer,
                                                                  http: httpx.Client) -> None:
    doc = v2_config(http, CONTOSO_DOMAIN).json()
    assert doc["issuer"] == f"{server.base_url}/{CONTOSO_TENANT_ID}/v2.0"
    assert doc["token_endpoint"] == f"{server.base_url}/{CONTOSO_DOMAIN}/oauth2/v2.0/token"


@pytest.mark.parametrize("segment", ["common", "organizations"])
def test_multi_tenant_document_has_tenantid_placeholder_and_keeps_the_segment(
        server: RunningServer, http: httpx.Client, segment: str) -> None:
    doc = v2_config(http, segment).json()
    assert doc["issuer"] == f"{server.base_url}/{{tenantid}}/v2.0"
    assert doc["token_endpoint"] == f"{server.base_url}/{segment}/oauth2/v2.0/token"
    assert doc["authorization_endpoint"] == f"{server.base_url}/{segment}/oauth2/v2.0/authorize"
    assert doc["tenant_region_scope"] is None


def test_discovery_has_cache_and_cors_headers(server: RunningServer, http: httpx.Client) -> None:
    headers = v2_config(http, "common").headers
    assert headers["cache-control"] == "max-age=86400, private"
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "GET, OPTIONS"


def test_unknown_tenant_discovery_is_a_4xx_with_90002(server: RunningServer, http: httpx.Client) -> None:
    assert_entra_error(v2_config(http, "nowhere.example"), "invalid_request", 90002)


def test_v1_document(server: RunningServer, http: httpx.Client) -> None:
    response = http.get(f"/{CONTOSO_DOMAIN}/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == f"{server.base_url}/{CONTOSO_TENANT_ID}/"
    assert doc["token_endpoint"] == f"{server.base_url}/{CONTOSO_DOMAIN}/oauth2/token"
    assert doc["authorization_endpoint"] == f"{server.base_url}/{CONTOSO_DOMAIN}/oauth2/authorize"
    assert doc["jwks_uri"] == f"{server.base_url}/{CONTOSO_DOMAIN}/discovery/keys"


def test_jwks_kid_matches_the_id_token_header(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    id_token = ropc(http, tenant, app, user).json()["id_token"]
    doc = v2_config(http, tenant.id).json()
    jwks = http.get(doc["jwks_uri"]).json()
    kid = jwt_header(id_token)["kid"]
    assert kid in {key["kid"] for key in jwks["keys"]}
    claims = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert claims["iss"] == doc["issuer"] and claims["aud"] == app.app_id


def test_jwks_publishes_only_public_rsa_keys(server: RunningServer, http: httpx.Client) -> None:
    for path in ("/common/discovery/v2.0/keys", "/common/discovery/keys"):
        keys = http.get(path).json()["keys"]
        assert keys
        for key in keys:
            assert key["kty"] == "RSA" and key["use"] == "sig" and {"n", "e", "kid", "x5t"} <= key.keys()
            assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()


def test_instance_discovery_shape(server: RunningServer, http: httpx.Client) -> None:
    response = http.get("/common/discovery/instance", params={
        "api-version": "1.1",
        "authorization_endpoint": f"{server.base_url}/{CONTOSO_TENANT_ID}/oauth2/v2.0/authorize"})
    assert response.status_code == 200
    doc = response.json()
    assert doc["tenant_discovery_endpoint"] == (
        f"{server.base_url}/{CONTOSO_TENANT_ID}/v2.0/.well-known/openid-configuration")
    assert doc["api-version"] == "1.1"
    metadata = doc["metadata"]
    assert isinstance(metadata, list) and metadata
    assert {"preferred_network", "preferred_cache", "aliases"} <= metadata[0].keys()
    assert isinstance(metadata[0]["aliases"], list)


def test_user_realm_of_a_known_domain_is_managed(server: RunningServer, http: httpx.Client) -> None:
    response = http.get("/common/userrealm/adele@contoso.example", params={"api-version": "1.0"})
    assert response.status_code == 200
    body = response.json()
    assert body["account_type"] == "Managed"
    assert body["domain_name"] == CONTOSO_DOMAIN


def test_user_realm_of_an_unknown_domain_is_unknown(server: RunningServer, http: httpx.Client) -> None:
    body = http.get("/common/userrealm/someone@nowhere.example").json()
    assert body["account_type"] == "Unknown"


def test_rotated_key_is_published_and_signs_while_the_old_one_stays_published(server: RunningServer,
                                                                              http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    old_kid = jwt_header(ropc(http, tenant, app, user).json()["access_token"])["kid"]
    assert server.runtime.settings.key_publish_delay == 0
    new_kid = key_service.rotate_signing_key(server.ctx, server.runtime.kek)
    server.runtime.keyring.invalidate()
    published = {key["kid"] for key in http.get(f"/{tenant.id}/discovery/v2.0/keys").json()["keys"]}
    assert {old_kid, new_kid} <= published
    body = ropc(http, tenant, app, user).json()
    assert jwt_header(body["access_token"])["kid"] == new_kid
    assert jwt_header(body["id_token"])["kid"] == new_kid


def test_unknown_tenant_jwks_is_a_4xx_with_90002(server: RunningServer, http: httpx.Client) -> None:
    assert_entra_error(http.get("/nowhere.example/discovery/v2.0/keys"), "invalid_request", 90002)


def test_jwks_by_domain_and_by_guid_are_the_same_keys(server: RunningServer, http: httpx.Client) -> None:
    by_domain = {k["kid"] for k in http.get(f"/{CONTOSO_DOMAIN}/discovery/v2.0/keys").json()["keys"]}
    by_guid = {k["kid"] for k in http.get(f"/{CONTOSO_TENANT_ID}/discovery/v2.0/keys").json()["keys"]}
    assert by_domain == by_guid and by_domain
