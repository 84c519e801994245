"""Token endpoint grant failures (spec §3.5, §4, §13): codes (expired, replayed, PKCE, redirect URI,
another client), refresh-token reuse, consent, scopes and resources, client credentials rules, disabled
service principals, and ROPC across tenants and under lockout."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.protocol.helpers import (
    GRAPH_SCOPE,
    TEST_ACTOR,
    RegisteredApp,
    assert_entra_error,
    jwt_claims,
    make_app,
    make_tenant,
    make_user,
    pkce_pair,
    post_token,
    redeem,
    ropc,
    sign_in_for_code,
)
from tests.support.server import RunningServer

from consentry.domain.builtin import MICROSOFT_GRAPH
from consentry.services import apps

GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def refresh(http: httpx.Client, segment: str, app: RegisteredApp, token: str) -> httpx.Response:
    return post_token(http, segment, {"grant_type": "refresh_token", "refresh_token": token,
                                      "scope": GRAPH_SCOPE, **app.credentials()})


def client_credentials(http: httpx.Client, segment: str, app: RegisteredApp,
                       scope: str = GRAPH_DEFAULT) -> httpx.Response:
    return post_token(http, segment, {"grant_type": "client_credentials", "scope": scope, **app.credentials()})


# --- authorization codes ------------------------------------------------------------------------------
def test_code_redeemed_with_its_redirect_uri_gives_tokens(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    code = sign_in_for_code(http, tenant.id, app, user)["code"]
    response = redeem(http, tenant.id, app, code)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"access_token", "refresh_token", "id_token", "expires_in", "ext_expires_in", "scope"} <= body.keys()
    assert jwt_claims(body["access_token"])["oid"] == user.id


def test_expired_code_is_70008(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    code = sign_in_for_code(http, tenant.id, app, user)["code"]
    server.advance(minutes=11)
    assert_entra_error(redeem(http, tenant.id, app, code), "invalid_grant", 70008)


def test_replayed_code_is_54005(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    code = sign_in_for_code(http, tenant.id, app, user)["code"]
    assert redeem(http, tenant.id, app, code).status_code == 200
    assert_entra_error(redeem(http, tenant.id, app, code), "invalid_grant", 54005)


def test_replayed_code_revokes_the_refresh_token_it_gave(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    code = sign_in_for_code(http, tenant.id, app, user)["code"]
    refresh_token = redeem(http, tenant.id, app, code).json()["refresh_token"]
    redeem(http, tenant.id, app, code)
    assert_entra_error(refresh(http, tenant.id, app, refresh_token), "invalid_grant", 50173)


def test_unknown_code_is_70000(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    assert_entra_error(redeem(http, tenant.id, app, "not-a-code"), "invalid_grant", 70000)


def test_pkce_verifier_mismatch_is_501481(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, public=True), make_user(server, tenant)
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    code = sign_in_for_code(http, tenant.id, app, user, challenge=challenge)["code"]
    assert_entra_error(redeem(http, tenant.id, app, code, code_verifier=other_verifier), "invalid_grant", 501481)


def test_missing_pkce_verifier_is_501481(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, public=True), make_user(server, tenant)
    _, challenge = pkce_pair()
    code = sign_in_for_code(http, tenant.id, app, user, challenge=challenge)["code"]
    assert_entra_error(redeem(http, tenant.id, app, code), "invalid_grant", 501481)


def test_matching_pkce_verifier_gives_tokens_to_a_public_client(server: RunningServer,
                                                                http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, public=True), make_user(server, tenant)
    verifier, challenge = pkce_pair()
    code = sign_in_for_code(http, tenant.id, app, user, challenge=challenge)["code"]
    response = redeem(http, tenant.id, app, code, code_verifier=verifier)
    assert response.status_code == 200, response.text
    assert jwt_claims(response.json()["access_token"])["appidacr"] == "0"


def test_redirect_uri_differing_at_redemption_is_refused(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    code = sign_in_for_code(http, tenant.id, app, user)["code"]
    response = redeem(http, tenant.id, app, code, redirect_uri="https://app.example/elsewhere")
    body = assert_entra_error(response, "invalid_grant", 70000)
    assert "redirect_uri" in body["error_description"]


def test_code_issued_to_another_client_is_refused(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    issued_to, thief = make_app(server, tenant), make_app(server, tenant)
    user = make_user(server, tenant)
    code = sign_in_for_code(http, tenant.id, issued_to, user)["code"]
    body = assert_entra_error(redeem(http, tenant.id, thief, code), "invalid_grant", 70000)
    assert "another client" in body["error_description"]
    assert redeem(http, tenant.id, issued_to, code).status_code == 200


def test_code_redeemed_at_another_tenant_is_refused(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    code = sign_in_for_code(http, tenant.id, app, user)["code"]
    other = make_tenant(server)
    assert_entra_error(redeem(http, other.id, app, code), "invalid_grant", 70000)


# --- refresh tokens -------------------------------------------------------------------------------------
def test_refresh_token_rotates(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    first = ropc(http, tenant, app, user).json()["refresh_token"]
    response = refresh(http, tenant.id, app, first)
    assert response.status_code == 200, response.text
    assert response.json()["refresh_token"] != first


def test_refresh_token_reuse_is_50173_and_revokes_the_family(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    first = ropc(http, tenant, app, user).json()["refresh_token"]
    second = refresh(http, tenant.id, app, first).json()["refresh_token"]
    assert_entra_error(refresh(http, tenant.id, app, first), "invalid_grant", 50173)
    assert_entra_error(refresh(http, tenant.id, app, second), "invalid_grant", 50173)


def test_refresh_token_of_another_client_is_refused(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, other, user = make_app(server, tenant), make_app(server, tenant), make_user(server, tenant)
    token = ropc(http, tenant, app, user).json()["refresh_token"]
    assert_entra_error(refresh(http, tenant.id, other, token), "invalid_grant", 9002313)


# --- consent and scopes ---------------------------------------------------------------------------------
def test_missing_grant_is_65001_with_consent_required(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    body = assert_entra_error(ropc(http, tenant, app, user), "invalid_grant", 65001, suberror="consent_required")
    assert app.app_id in body["error_description"]


def test_permission_beyond_the_grant_is_65001(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    response = ropc(http, tenant, app, user, scope="openid Mail.Read")
    assert_entra_error(response, "invalid_grant", 65001, suberror="consent_required")


def test_default_scope_with_oidc_scopes_gives_the_granted_permissions(server: RunningServer,
                                                                      http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    response = ropc(http, tenant, app, user, scope=f"{GRAPH_DEFAULT} openid profile offline_access")
    assert response.status_code == 200, response.text
    assert "User.Read" in jwt_claims(response.json()["access_token"])["scp"].split()


def test_default_scope_mixed_with_another_scope_is_70011(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    response = ropc(http, tenant, app, user, scope=f"{GRAPH_DEFAULT} User.Read")
    assert_entra_error(response, "invalid_scope", 70011)


def test_two_resources_in_one_token_request_is_700022(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    response = ropc(http, tenant, app, user, scope="User.Read https://outlook.office365.com/EAS.AccessAsUser.All")
    assert_entra_error(response, "invalid_scope", 700022)


def test_two_resources_at_code_redemption_is_700022(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    code = sign_in_for_code(http, tenant.id, app, user)["code"]
    response = redeem(http, tenant.id, app, code,
                      scope="User.Read https://outlook.office365.com/EAS.AccessAsUser.All")
    assert_entra_error(response, "invalid_scope", 700022)


# --- client credentials -----------------------------------------------------------------------------------
def test_client_credentials_with_default_scope_gives_an_app_token(server: RunningServer,
                                                                  http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    response = client_credentials(http, tenant.id, app)
    assert response.status_code == 200, response.text
    claims = jwt_claims(response.json()["access_token"])
    assert claims["tid"] == tenant.id and claims["idtyp"] == "app" and claims["appid"] == app.app_id


def test_client_credentials_accepts_a_double_slash_resource_uri(server: RunningServer,
                                                                http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    response = client_credentials(http, tenant.id, app, scope="https://graph.microsoft.com//.default")
    assert response.status_code == 200, response.text
    assert jwt_claims(response.json()["access_token"])["aud"] == "https://graph.microsoft.com"


def test_client_credentials_without_default_is_1002012(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    response = client_credentials(http, tenant.id, app, scope="https://graph.microsoft.com/User.Read")
    assert_entra_error(response, "invalid_scope", 1002012)


@pytest.mark.parametrize("segment", ["common", "organizations"])
def test_client_credentials_on_a_multi_tenant_authority_is_90130(server: RunningServer, http: httpx.Client,
                                                                 segment: str) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    assert_entra_error(client_credentials(http, segment, app), "invalid_request", 90130)


def test_client_credentials_of_a_disabled_service_principal_is_7000112(server: RunningServer,
                                                                       http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    apps.update_service_principal(server.ctx, tenant.id, app.app_id, TEST_ACTOR, account_enabled=False)
    body = assert_entra_error(client_credentials(http, tenant.id, app), "unauthorized_client", 7000112)
    assert "is disabled" in body["error_description"]


# --- resource owner password credentials ----------------------------------------------------------------------
def test_ropc_of_a_disabled_service_principal_is_7000112(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    apps.update_service_principal(server.ctx, tenant.id, app.app_id, TEST_ACTOR, account_enabled=False)
    assert_entra_error(ropc(http, tenant, app, user), "unauthorized_client", 7000112)


def test_ropc_wrong_password_is_50126(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    assert_entra_error(ropc(http, tenant, app, user, password="wrong"), "invalid_grant", 50126)


def test_ropc_unknown_user_is_50126(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    response = ropc(http, tenant, app, f"nobody@{tenant.default_domain}")
    assert_entra_error(response, "invalid_grant", 50126)


def test_ropc_user_of_another_tenant_on_a_tenant_authority_is_50020(server: RunningServer,
                                                                    http: httpx.Client) -> None:
    home = make_tenant(server)
    app = make_app(server, home, multi_tenant=True)
    stranger = make_user(server, make_tenant(server))
    body = assert_entra_error(ropc(http, home, app, stranger), "invalid_request", 50020)
    assert stranger.user_principal_name in body["error_description"]


def test_ropc_by_tenant_domain_is_the_same_tenant(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    response = ropc(http, tenant.default_domain, app, user)
    assert response.status_code == 200, response.text
    assert jwt_claims(response.json()["access_token"])["tid"] == tenant.id


def test_ropc_lockout_after_ten_failures_spares_other_users_and_lifts_after_a_minute(
        server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    victim, bystander = make_user(server, tenant), make_user(server, tenant)
    for _ in range(10):
        assert_entra_error(ropc(http, tenant, app, victim, password="wrong"), "invalid_grant", 50126)
    assert_entra_error(ropc(http, tenant, app, victim), "invalid_grant", 50053)
    assert ropc(http, tenant, app, bystander).status_code == 200
    server.advance(seconds=61)
    response = ropc(http, tenant, app, victim)
    assert response.status_code == 200, response.text


def test_token_scope_lists_granted_graph_permissions(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    body = ropc(http, tenant, app, user).json()
    assert "User.Read" in body["scope"].split()
    assert jwt_claims(body["access_token"])["aud"] in ("https://graph.microsoft.com", MICROSOFT_GRAPH)


# --- tenant isolation at the token endpoint ------------------------------------------------------------------
def test_refresh_token_at_another_tenants_authority_is_refused(server: RunningServer, http: httpx.Client) -> None:
    home, elsewhere = make_tenant(server), make_tenant(server)
    app, user = make_app(server, home, multi_tenant=True), make_user(server, home)
    token = ropc(http, home, app, user).json()["refresh_token"]
    response = refresh(http, elsewhere.id, app, token)
    assert response.status_code == 400, response.text
    assert "access_token" not in response.json()


def test_refresh_token_at_common_is_accepted(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    token = ropc(http, tenant, app, user).json()["refresh_token"]
    response = refresh(http, "organizations", app, token)
    assert response.status_code == 200, response.text
    assert jwt_claims(response.json()["access_token"])["tid"] == tenant.id


def test_single_tenant_app_client_credentials_in_another_tenant_is_700016(server: RunningServer,
                                                                          http: httpx.Client) -> None:
    app = make_app(server, make_tenant(server))
    other = make_tenant(server)
    assert_entra_error(client_credentials(http, other.id, app), "unauthorized_client", 700016)


def test_token_responses_are_not_cacheable(server: RunningServer, http: httpx.Client) -> None:
    tenant = make_tenant(server)
    response = client_credentials(http, tenant.id, make_app(server, tenant))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
