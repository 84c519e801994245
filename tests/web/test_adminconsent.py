"""The admin consent endpoints over HTTP (spec §3.4, §7.5, §8.3, §9, §13.2, §13.15): v1 ``/{tenant}/adminconsent``,
v2 ``/{tenant}/v2.0/adminconsent``, the v1 ``prompt=admin_consent`` URL of the Apple blog, who may grant what, what
admin consent writes, and the short link ``/consent/{appId}``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from tests.protocol.helpers import (
    TEST_ACTOR,
    WEB_REDIRECT,
    RegisteredApp,
    authorize_params,
    jwt_claims,
    make_tenant,
    make_user,
    post_token,
    redirect_params,
    submit_sign_in,
)
from tests.support.server import RunningServer
from tests.web.test_authorize import assert_error_page, error_redirect
from tests.web.test_consent import (
    assignments,
    audit_events,
    find_sp,
    grants_of,
    link,
    make_admin,
    need_admin_approval,
    page_text,
    press,
    register,
    resource_sp,
    scope_of,
)

from consentry.domain.builtin import EXCHANGE_ONLINE, MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.directory import Tenant
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.domain.ids import new_guid
from consentry.services import grants

GRAPH = "https://graph.microsoft.com"
NOT_AUTHORIZED = ("{app} is requesting one or more permissions that you aren't authorized to grant. Contact an "
                  "administrator, who can consent to this application on your behalf.")


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def v1(segment: str) -> str:
    return f"/{segment}/adminconsent"


def v2(segment: str) -> str:
    return f"/{segment}/v2.0/adminconsent"


def signed_in_to(browser: httpx.Client, path: str, params: dict[str, str], upn: str) -> httpx.Response:
    """Open an admin consent URL, sign in, and return where the sign-in sends the browser."""
    first = browser.get(path, params=params or None)
    assert first.status_code == 302, (first.status_code, first.text[:500])
    assert "/login?interaction=" in first.headers["location"], first.headers["location"]
    return submit_sign_in(browser, first.headers["location"], upn)


def admin_page(browser: httpx.Client, path: str, params: dict[str, str], upn: str) -> httpx.Response:
    """The page an admin consent URL shows after sign-in."""
    signed_in = signed_in_to(browser, path, params, upn)
    assert signed_in.status_code == 302, signed_in.text[:500]
    assert "/consent?interaction=" in signed_in.headers["location"], signed_in.headers["location"]
    page = browser.get(signed_in.headers["location"])
    assert page.status_code == 200
    return page


def accept_for_organization(browser: httpx.Client, path: str, params: dict[str, str], upn: str) -> httpx.Response:
    page = admin_page(browser, path, params, upn)
    assert "Accept for your organization" in page.text, page.text
    return press(browser, page, "accept")


def permissions_granted(response: httpx.Response, app: RegisteredApp, tenant: Tenant) -> str:
    assert response.status_code == 200, (response.status_code, response.text[:500])
    assert "location" not in response.headers
    assert "<h1>Permissions granted</h1>" in response.text
    text = page_text(response)
    assert app.app.display_name in text and tenant.display_name in text and tenant.id in text
    return text


def role_id(resource_app_id: str, value: str) -> str:
    resource = find_builtin_application(resource_app_id)
    assert resource is not None
    return next(r.id for r in resource.app_roles if r.value == value)


FULL_STATIC = {MICROSOFT_GRAPH: ("User.Read", "Contacts.Read"), EXCHANGE_ONLINE: ("EAS.AccessAsUser.All",)}
FULL_ROLES = {MICROSOFT_GRAPH: ("User.Read.All",), EXCHANGE_ONLINE: ("full_access_as_app",)}


# --- v1 -----------------------------------------------------------------------------------------------------
def test_v1_redirects_to_the_registered_web_redirect_uri_with_admin_consent_tenant_and_state(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, admin = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)}), make_admin(server, tenant)
    response = accept_for_organization(browser, v1(tenant.id), {"client_id": app.app_id, "state": "v1-state"},
                                       admin.user_principal_name)
    assert response.headers["location"].startswith(WEB_REDIRECT + "?")
    assert redirect_params(response) == {"admin_consent": "True", "tenant": tenant.id, "state": "v1-state"}


def test_v1_for_a_public_client_without_web_redirect_uri_ends_on_permissions_granted(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)}, public=True)
    admin = make_admin(server, tenant)
    response = accept_for_organization(browser, v1(tenant.id), {"client_id": app.app_id},
                                       admin.user_principal_name)
    permissions_granted(response, app, tenant)
    assert [(g.consent_type, scope_of(g)) for g in grants_of(server, tenant.id, app.app_id)] == [
        (ALL_PRINCIPALS, {"User.Read"})]


def test_v1_with_an_unregistered_redirect_uri_ends_on_permissions_granted_and_never_redirects(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, admin = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)}), make_admin(server, tenant)
    params = {"client_id": app.app_id, "redirect_uri": "https://example.com", "state": "s"}
    response = accept_for_organization(browser, v1(tenant.id), params, admin.user_principal_name)
    text = permissions_granted(response, app, tenant)
    assert "https://example.com is not registered for this app, so you were not sent there" in text
    assert [g.consent_type for g in grants_of(server, tenant.id, app.app_id)] == [ALL_PRINCIPALS]


def test_v1_writes_the_static_list_tenant_wide(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated=FULL_STATIC, roles=FULL_ROLES)
    admin = make_admin(server, tenant)
    page = admin_page(browser, v1(tenant.id), {"client_id": app.app_id}, admin.user_principal_name)
    text = page_text(page)
    for shown in ("Sign in and read user profile", "Read user contacts", "Access mailboxes via Exchange ActiveSync",
                  "Read all users' full profiles", "without a signed-in user", "on behalf of the signed-in user"):
        assert shown in text, shown
    redirect_params(press(browser, page, "accept"))
    graph, exchange = resource_sp(server, tenant.id, MICROSOFT_GRAPH), resource_sp(server, tenant.id, EXCHANGE_ONLINE)
    found = {g.resource_id: g for g in grants_of(server, tenant.id, app.app_id)}
    assert {(rid, g.consent_type, g.principal_id) for rid, g in found.items()} == {
        (graph.id, ALL_PRINCIPALS, None), (exchange.id, ALL_PRINCIPALS, None)}
    assert scope_of(found[graph.id]) == {"User.Read", "Contacts.Read"}
    assert scope_of(found[exchange.id]) == {"EAS.AccessAsUser.All"}
    client = resource_sp(server, tenant.id, app.app_id)
    held = {(a.resource_id, a.app_role_id, a.principal_type) for a in assignments(server, tenant.id, client.id)}
    assert held == {(graph.id, role_id(MICROSOFT_GRAPH, "User.Read.All"), "ServicePrincipal"),
                    (exchange.id, role_id(EXCHANGE_ONLINE, "full_access_as_app"), "ServicePrincipal")}
    assert assignments(server, tenant.id, admin.id) == []  # admin consent assigns no user
    assert len(audit_events(server, tenant.id, "Add app role assignment to service principal")) == 2
    [consent] = audit_events(server, tenant.id, "Consent to application")
    props = {p["displayName"]: p["newValue"] for p in consent["target_resources"][0]["modifiedProperties"]}
    assert props["ConsentContext.IsAdminConsent"] == '"True"'


def test_v1_merges_the_static_list_into_the_tenant_wide_grant_and_keeps_user_grants(
        server: RunningServer, browser: httpx.Client) -> None:
    """Accepting at an admin consent URL merges with an existing AllPrincipals grant (the issue's rule; spec
    §12 item 6 leaves it open and §8.3 item 4 calls merging the safer choice) — only the portal's "Grant admin
    consent" button replaces it. Users' own Principal grants are never touched."""
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)})
    admin, user = make_admin(server, tenant), make_user(server, tenant)
    grants.add_grant(server.ctx, tenant.id, app.app_id, MICROSOFT_GRAPH, ALL_PRINCIPALS, "Contacts.Read", TEST_ACTOR)
    grants.add_grant(server.ctx, tenant.id, app.app_id, MICROSOFT_GRAPH, "Principal", "Calendars.Read", TEST_ACTOR,
                     principal_id=user.id)
    redirect_params(accept_for_organization(browser, v1(tenant.id), {"client_id": app.app_id},
                                            admin.user_principal_name))
    found = {g.consent_type: g for g in grants_of(server, tenant.id, app.app_id)}
    assert scope_of(found["Principal"]) == {"Calendars.Read"}
    assert scope_of(found[ALL_PRINCIPALS]) == {"Contacts.Read", "User.Read"}


# --- v2 -----------------------------------------------------------------------------------------------------
def v2_params(app: RegisteredApp, scope: str = f"{GRAPH}/.default", **extra: str) -> dict[str, str]:
    return {"client_id": app.app_id, "redirect_uri": app.redirect_uri, "scope": scope, "state": "v2-state",
            **extra}


def test_v2_with_default_redirects_with_admin_consent_tenant_qualified_scope_and_state(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read", "Contacts.Read")})
    admin = make_admin(server, tenant)
    response = accept_for_organization(browser, v2(tenant.id), v2_params(app), admin.user_principal_name)
    result = redirect_params(response)
    assert response.headers["location"].startswith(WEB_REDIRECT + "?")
    assert (result["admin_consent"], result["tenant"], result["state"]) == ("True", tenant.id, "v2-state")
    assert sorted(result["scope"].split(" ")) == [f"{GRAPH}/Contacts.Read", f"{GRAPH}/User.Read"]
    assert [scope_of(g) for g in grants_of(server, tenant.id, app.app_id)] == [{"User.Read", "Contacts.Read"}]


def test_v2_with_dynamic_scopes_writes_only_those_and_merges_with_the_tenant_wide_grant(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read", "Calendars.Read")})
    admin = make_admin(server, tenant)
    grants.add_grant(server.ctx, tenant.id, app.app_id, MICROSOFT_GRAPH, ALL_PRINCIPALS, "User.Read", TEST_ACTOR)
    response = accept_for_organization(browser, v2(tenant.id), v2_params(app, scope=f"{GRAPH}/Contacts.Read"),
                                       admin.user_principal_name)
    assert redirect_params(response)["scope"] == f"{GRAPH}/Contacts.Read"
    found = grants_of(server, tenant.id, app.app_id)
    assert [(g.consent_type, scope_of(g)) for g in found] == [(ALL_PRINCIPALS, {"User.Read", "Contacts.Read"})]


def test_v2_refuses_common_with_90130(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)}, multi_tenant=True)
    assert_error_page(browser.get(v2("common"), params=v2_params(app)), 90130)


def test_v2_organizations_means_the_admins_home_tenant(server: RunningServer, browser: httpx.Client) -> None:
    home, tenant = make_tenant(server), make_tenant(server)
    app = register(server, home, delegated={MICROSOFT_GRAPH: ("User.Read",)}, multi_tenant=True)
    admin = make_admin(server, tenant)
    result = redirect_params(accept_for_organization(browser, v2("organizations"), v2_params(app),
                                                     admin.user_principal_name))
    assert (result["admin_consent"], result["tenant"]) == ("True", tenant.id)
    assert [g.consent_type for g in grants_of(server, tenant.id, app.app_id)] == [ALL_PRINCIPALS]
    assert grants_of(server, home.id, app.app_id) == []


def test_v2_without_scope_is_an_900144_error_redirect_with_admin_consent(server: RunningServer,
                                                                         browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)})
    params = v2_params(app)
    del params["scope"]
    result = error_redirect(browser.get(v2(tenant.id), params=params), "invalid_request", "v2-state", 900144)
    assert result["admin_consent"] == "True"
    assert "'scope'" in result["error_description"]


def test_v2_with_an_unregistered_redirect_uri_is_an_50011_page(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)})
    response = browser.get(v2(tenant.id), params=v2_params(app, redirect_uri="https://example.com"))
    assert_error_page(response, 50011)


@pytest.mark.parametrize("endpoint", [v1, v2])
def test_an_unknown_client_is_an_700016_page(server: RunningServer, browser: httpx.Client,
                                             endpoint: Callable[[str], str]) -> None:
    tenant = make_tenant(server)
    params = {"client_id": new_guid(), "redirect_uri": WEB_REDIRECT, "scope": f"{GRAPH}/.default", "state": "s"}
    assert_error_page(browser.get(endpoint(tenant.id), params=params), 700016)


def test_cancel_on_the_admin_page_is_access_denied_cancel_65004_with_admin_consent(server: RunningServer,
                                                                                  browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)})
    admin = make_admin(server, tenant)
    page = admin_page(browser, v2(tenant.id), v2_params(app), admin.user_principal_name)
    result = error_redirect(press(browser, page, "cancel"), "access_denied", "v2-state", 65004)
    assert (result["error_subcode"], result["admin_consent"]) == ("cancel", "True")
    assert find_sp(server, tenant.id, app.app_id) is not None
    assert grants_of(server, tenant.id, app.app_id) == []


def test_a_non_admin_opening_the_admin_consent_url_sees_need_admin_approval(server: RunningServer,
                                                                            browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)}), make_user(server, tenant)
    page = admin_page(browser, v1(tenant.id), {"client_id": app.app_id}, user.user_principal_name)
    need_admin_approval(page, "admin_role_required")
    assert "Accept for your organization" not in page.text
    assert grants_of(server, tenant.id, app.app_id) == []


# --- the v1 prompt=admin_consent URL (spec §10) ----------------------------------------------------------
def test_v1_authorize_prompt_admin_consent_with_an_unregistered_redirect_uri_ends_on_permissions_granted(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)}, roles={
        EXCHANGE_ONLINE: ("full_access_as_app",)})
    admin = make_admin(server, tenant)
    params = {"client_id": app.app_id, "response_type": "code", "redirect_uri": "https://example.com",
              "prompt": "admin_consent"}
    response = accept_for_organization(browser, f"/{tenant.id}/oauth2/authorize", params, admin.user_principal_name)
    permissions_granted(response, app, tenant)
    assert [(g.consent_type, scope_of(g)) for g in grants_of(server, tenant.id, app.app_id)] == [
        (ALL_PRINCIPALS, {"User.Read"})]
    client = resource_sp(server, tenant.id, app.app_id)
    assert [a.app_role_id for a in assignments(server, tenant.id, client.id)] == [
        role_id(EXCHANGE_ONLINE, "full_access_as_app")]


# --- who may grant what (spec §7.5) ------------------------------------------------------------------------
def test_a_cloud_application_administrator_cannot_grant_microsoft_graph_app_roles(server: RunningServer,
                                                                                 browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)},
                   roles={MICROSOFT_GRAPH: ("User.Read.All",)})
    admin = make_admin(server, tenant, "Cloud Application Administrator")
    page = admin_page(browser, v1(tenant.id), {"client_id": app.app_id}, admin.user_principal_name)
    need_admin_approval(page, "role_cannot_grant", 90093)
    assert NOT_AUTHORIZED.format(app=app.app.display_name) in page_text(page)
    assert grants_of(server, tenant.id, app.app_id) == []
    client = resource_sp(server, tenant.id, app.app_id)
    assert assignments(server, tenant.id, client.id) == []


def test_a_cloud_application_administrator_grants_delegated_and_non_graph_app_roles(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read", "User.Read.All")},
                   roles={EXCHANGE_ONLINE: ("full_access_as_app",)})
    admin = make_admin(server, tenant, "Cloud Application Administrator")
    result = redirect_params(accept_for_organization(browser, v1(tenant.id), {"client_id": app.app_id},
                                                     admin.user_principal_name))
    assert result["admin_consent"] == "True"
    assert [scope_of(g) for g in grants_of(server, tenant.id, app.app_id)] == [{"User.Read", "User.Read.All"}]
    client = resource_sp(server, tenant.id, app.app_id)
    assert [a.app_role_id for a in assignments(server, tenant.id, client.id)] == [
        role_id(EXCHANGE_ONLINE, "full_access_as_app")]


def test_an_application_administrator_cannot_grant_microsoft_graph_app_roles_either(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, roles={MICROSOFT_GRAPH: ("Mail.Read",)})
    admin = make_admin(server, tenant, "Application Administrator")
    page = admin_page(browser, v1(tenant.id), {"client_id": app.app_id}, admin.user_principal_name)
    need_admin_approval(page, "role_cannot_grant", 90093)


def test_a_global_administrator_grants_graph_app_roles_and_client_credentials_then_carry_roles(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, roles={MICROSOFT_GRAPH: ("User.Read.All", "Group.Read.All")})
    admin = make_admin(server, tenant)
    before = post_token(browser, tenant.id, {"grant_type": "client_credentials", "scope": f"{GRAPH}/.default",
                                             **app.credentials()})
    assert "roles" not in jwt_claims(before.json()["access_token"])
    redirect_params(accept_for_organization(browser, v1(tenant.id), {"client_id": app.app_id},
                                            admin.user_principal_name))
    response = post_token(browser, tenant.id, {"grant_type": "client_credentials", "scope": f"{GRAPH}/.default",
                                               **app.credentials()})
    assert response.status_code == 200, response.text
    claims = jwt_claims(response.json()["access_token"])
    assert sorted(claims["roles"]) == ["Group.Read.All", "User.Read.All"]
    assert "scp" not in claims


def test_a_privileged_role_administrator_grants_graph_app_roles(server: RunningServer,
                                                                browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, roles={MICROSOFT_GRAPH: ("User.Read.All",)})
    admin = make_admin(server, tenant, "Privileged Role Administrator")
    redirect_params(accept_for_organization(browser, v1(tenant.id), {"client_id": app.app_id},
                                            admin.user_principal_name))
    client = resource_sp(server, tenant.id, app.app_id)
    assert [a.app_role_id for a in assignments(server, tenant.id, client.id)] == [
        role_id(MICROSOFT_GRAPH, "User.Read.All")]


# --- the service principal --------------------------------------------------------------------------------
def test_the_first_admin_consent_creates_the_service_principal_exactly_once(server: RunningServer,
                                                                            browser: httpx.Client) -> None:
    home, tenant = make_tenant(server), make_tenant(server)
    app = register(server, home, delegated={MICROSOFT_GRAPH: ("User.Read",)}, multi_tenant=True, verified=True)
    admin = make_admin(server, tenant)
    assert find_sp(server, tenant.id, app.app_id) is None
    redirect_params(accept_for_organization(browser, v1(tenant.id), {"client_id": app.app_id},
                                            admin.user_principal_name))
    again = browser.get(v1(tenant.id), params={"client_id": app.app_id})  # signed in already
    assert "/consent?interaction=" in again.headers["location"]
    redirect_params(press(browser, browser.get(again.headers["location"]), "accept"))
    sp = find_sp(server, tenant.id, app.app_id)
    assert sp is not None and sp.app_owner_organization_id == home.id
    added = audit_events(server, tenant.id, "Add service principal")
    assert [e["target_resources"][0]["id"] for e in added] == [sp.id]
    assert len(grants_of(server, tenant.id, app.app_id)) == 1


def test_need_admin_approval_from_the_admin_endpoint_links_back_to_the_app(server: RunningServer,
                                                                           browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)}), make_user(server, tenant)
    page = admin_page(browser, v2(tenant.id), v2_params(app), user.user_principal_name)
    response = browser.get(link(page, "Return to the application without granting consent"))
    result = error_redirect(response, "access_denied", "v2-state", 90094)
    assert result["error_subcode"] == "cancel"


# --- the short link ------------------------------------------------------------------------------------------
def test_the_short_link_redirects_to_the_organizations_admin_consent_url(server: RunningServer,
                                                                        browser: httpx.Client) -> None:
    app_id = new_guid()
    response = browser.get(f"/consent/{app_id.upper()}")
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert (location.path, location.query) == ("/organizations/adminconsent", f"client_id={app_id}")


def test_the_short_link_with_a_non_guid_is_an_error_page(server: RunningServer, browser: httpx.Client) -> None:
    assert_error_page(browser.get("/consent/not-a-guid"), 700016)


def test_the_short_link_leads_an_admin_to_consent_in_their_own_tenant(server: RunningServer,
                                                                      browser: httpx.Client) -> None:
    home, tenant = make_tenant(server), make_tenant(server)
    app = register(server, home, delegated={MICROSOFT_GRAPH: ("User.Read",)}, multi_tenant=True)
    admin = make_admin(server, tenant)
    location = browser.get(f"/consent/{app.app_id}").headers["location"]
    result = redirect_params(accept_for_organization(browser, location, {}, admin.user_principal_name))
    assert (result["admin_consent"], result["tenant"]) == ("True", tenant.id)
    assert [g.consent_type for g in grants_of(server, tenant.id, app.app_id)] == [ALL_PRINCIPALS]


def test_admin_consent_then_a_user_signs_in_without_a_prompt(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("openid", "profile", "offline_access", "User.Read")})
    admin, user = make_admin(server, tenant), make_user(server, tenant)
    redirect_params(accept_for_organization(browser, v1(tenant.id), {"client_id": app.app_id},
                                            admin.user_principal_name))
    with server.client() as other:
        first = other.get(f"/{tenant.id}/oauth2/v2.0/authorize", params=authorize_params(app))
        result = redirect_params(submit_sign_in(other, first.headers["location"], user.user_principal_name))
    assert "code" in result
