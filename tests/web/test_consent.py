"""The consent step at /authorize over HTTP (spec §3.2, §3.3, §5.1, §5.2, §6.1–§6.5, §8.3, §8.5, §9, §13): the
consent page, Accept and Cancel, "Need admin approval" and its two links, what each writes, what the
token endpoint then allows, and forms that a hostile browser tampers with."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from tests.protocol.helpers import (
    GRAPH_SCOPE,
    LOOPBACK,
    TEST_ACTOR,
    WEB_REDIRECT,
    RegisteredApp,
    assert_entra_error,
    authorize,
    authorize_params,
    form_action,
    hidden_inputs,
    jwt_claims,
    make_app,
    make_tenant,
    make_user,
    post_token,
    redeem,
    redirect_params,
    ropc,
    submit_sign_in,
    unique,
)
from tests.support.server import RunningServer
from tests.web.test_authorize import assert_error_page, error_redirect

from consentry.domain.apps import Application, RequiredResourceAccess, ResourceAccess, ServicePrincipal
from consentry.domain.builtin import EXCHANGE_ONLINE, MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.directory import Tenant, User
from consentry.domain.grants import ALL_PRINCIPALS, OAuth2PermissionGrant
from consentry.domain.ids import NIL_GUID, new_guid
from consentry.services import app_credentials, apps, audit, classifications, directory, grants, policies

VERIFIED_PUBLISHER = {"displayName": "Fabrikam Verified Ltd", "verifiedPublisherId": "7654321",
                      "addedDateTime": "2025-01-01T00:00:00Z"}
NEED_ADMIN_APPROVAL = ("{app} needs permission to access resources in your organization that only an admin can "
                       "grant. Please ask an admin to grant permission to this app before you can use it.")


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


# --- helpers (test_adminconsent.py uses them too) --------------------------------------------------------
def to_consent_page(browser: httpx.Client, segment: str, params: dict[str, str], upn: str) -> httpx.Response:
    first = authorize(browser, segment, params)
    signed_in = submit_sign_in(browser, first.headers["location"], upn)
    assert signed_in.status_code == 302, signed_in.text[:300]
    location = signed_in.headers["location"]
    assert f"/{segment}/consent?interaction=" in location, location
    page = browser.get(location)
    assert page.status_code == 200
    return page


def consent_page_again(browser: httpx.Client, segment: str, params: dict[str, str]) -> httpx.Response:
    """The consent step of another request in a browser that is already signed in."""
    first = authorize(browser, segment, params)
    assert first.status_code == 302, first.text[:300]
    assert f"/{segment}/consent?interaction=" in first.headers["location"], first.headers["location"]
    page = browser.get(first.headers["location"])
    assert page.status_code == 200
    return page


def link(page: httpx.Response, text: str) -> str:
    match = re.search(r'<a href="([^"]+)">' + re.escape(text) + "</a>", page.text)
    assert match, page.text
    return html.unescape(match.group(1))


def press(browser: httpx.Client, page: httpx.Response, decision: str, **extra: str) -> httpx.Response:
    return browser.post(form_action(page.text), data={**hidden_inputs(page.text), "decision": decision, **extra})


def hidden_interaction(page: httpx.Response) -> str:
    """The interaction id a consent page's links or form carry."""
    match = re.search(r"interaction=([A-Za-z0-9_-]+)", page.text)
    assert match, page.text
    return match.group(1)


def page_text(page: httpx.Response) -> str:
    """The page's text with tags removed and whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def static_list(delegated: Mapping[str, tuple[str, ...]],
                roles: Mapping[str, tuple[str, ...]]) -> tuple[RequiredResourceAccess, ...]:
    """``requiredResourceAccess`` naming built-in permissions by value."""
    out = []
    for resource_app_id in dict.fromkeys([*delegated, *roles]):
        resource = find_builtin_application(resource_app_id)
        assert resource is not None
        scope_ids = {s.value.lower(): s.id for s in resource.scopes}
        role_ids = {r.value.lower(): r.id for r in resource.app_roles if r.value}
        access = [ResourceAccess(scope_ids[v.lower()], "Scope") for v in delegated.get(resource_app_id, ())]
        access += [ResourceAccess(role_ids[v.lower()], "Role") for v in roles.get(resource_app_id, ())]
        out.append(RequiredResourceAccess(resource_app_id, tuple(access)))
    return tuple(out)


def register(server: RunningServer, tenant: Tenant, *, delegated: Mapping[str, tuple[str, ...]] | None = None,
             roles: Mapping[str, tuple[str, ...]] | None = None, multi_tenant: bool = False, verified: bool = False,
             public: bool = False, redirect_uris: tuple[str, ...] | None = None) -> RegisteredApp:
    """A fresh application in its home ``tenant`` with a static permission list and no consent."""
    uris = redirect_uris if redirect_uris is not None else ((LOOPBACK,) if public else (WEB_REDIRECT,))
    app = Application(
        id=new_guid(), app_id=new_guid(), tenant_id=tenant.id, display_name=unique("Consent App "),
        sign_in_audience="AzureADMultipleOrgs" if multi_tenant else "AzureADMyOrg",
        web_redirect_uris=() if public else uris, public_client_redirect_uris=uris if public else (),
        is_fallback_public_client=public, required_resource_access=static_list(delegated or {}, roles or {}),
        verified_publisher=dict(VERIFIED_PUBLISHER) if verified else {})
    app = apps.register_application(server.ctx, tenant.id, app, TEST_ACTOR)
    secret = None if public else app_credentials.add_password(server.ctx, tenant.id, app.id, TEST_ACTOR)[1]
    return RegisteredApp(app, secret, uris[0] if uris else "")


def make_admin(server: RunningServer, tenant: Tenant, role: str = "Global Administrator") -> User:
    admin = make_user(server, tenant)
    directory.assign_role(server.ctx, tenant.id, admin.user_principal_name, role, TEST_ACTOR)
    return admin


def find_sp(server: RunningServer, tenant_id: str, app_id: str) -> ServicePrincipal | None:
    with server.ctx.uow.read() as tx:
        return tx.tenant(tenant_id).apps.find_service_principal_by_app_id(app_id)


def grants_of(server: RunningServer, tenant_id: str, app_id: str) -> list[OAuth2PermissionGrant]:
    """Every delegated grant of the app in the tenant (none while it has no service principal)."""
    if find_sp(server, tenant_id, app_id) is None:
        return []
    return grants.list_grants(server.ctx, tenant_id, app_id)


def scope_of(grant: OAuth2PermissionGrant) -> set[str]:
    return set(grant.scope.split())


def resource_sp(server: RunningServer, tenant_id: str, resource_app_id: str) -> ServicePrincipal:
    sp = find_sp(server, tenant_id, resource_app_id)
    assert sp is not None
    return sp


def assignments(server: RunningServer, tenant_id: str, principal_id: str,
                resource_id: str | None = None) -> list[Any]:
    with server.ctx.uow.read() as tx:
        return list(tx.tenant(tenant_id).grants.list_assignments(principal_ids=[principal_id],
                                                                  resource_id=resource_id))


def audit_events(server: RunningServer, tenant_id: str, activity: str) -> list[dict[str, Any]]:
    with server.ctx.uow.read() as tx:
        events = tx.tenant(tenant_id).audit.list_events(limit=100_000)
    return [e for e in events if e["activity_display_name"] == activity]


def modified(event: dict[str, Any], name: str) -> str | None:
    for target in event["target_resources"]:
        for prop in target["modifiedProperties"]:
            if prop["displayName"] == name:
                return prop["newValue"]
    raise AssertionError(f"{name} not in {event['target_resources']}")


def details(event: dict[str, Any]) -> dict[str, str]:
    return {d["key"]: d["value"] for d in event["additional_details"]}


def token_scopes(browser: httpx.Client, tenant: Tenant, app: RegisteredApp, result: dict[str, str]) -> set[str]:
    response = redeem(browser, tenant.id, app, result["code"])
    assert response.status_code == 200, response.text
    return set(jwt_claims(response.json()["access_token"])["scp"].split())


def refresh(browser: httpx.Client, tenant: Tenant, app: RegisteredApp, token: str) -> httpx.Response:
    return post_token(browser, tenant.id, {"grant_type": "refresh_token", "refresh_token": token,
                                           "scope": GRAPH_SCOPE, **app.credentials()})


def need_admin_approval(page: httpx.Response, reason: str, code: int = 90094) -> None:
    assert "<h1>Need admin approval</h1>" in page.text, page.text
    assert f"AADSTS{code} · {reason}" in page_text(page), page_text(page)
    assert "Permissions requested" not in page.text


def sign_in_elsewhere(server: RunningServer, browser: httpx.Client, tenant: Tenant, user: User) -> None:
    """Give ``browser`` a session for ``user`` through an app that needs no consent."""
    other = make_app(server, tenant)
    first = authorize(browser, tenant.id, authorize_params(other))
    assert "code" in redirect_params(submit_sign_in(browser, first.headers["location"], user.user_principal_name))


# --- user consent under the tenant's policies ------------------------------------------------------------
def test_user_consent_records_a_principal_grant_and_issues_the_code(server: RunningServer,
                                                                     browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    params = authorize_params(app)
    page = to_consent_page(browser, tenant.id, params, user.user_principal_name)
    assert "Permissions requested" in page.text and "Accept for your organization" not in page.text
    assert "Consent on behalf of your organization" not in page.text
    result = redirect_params(press(browser, page, "accept"))
    assert result["state"] == params["state"]
    token = redeem(browser, tenant.id, app, result["code"]).json()
    assert set(jwt_claims(token["access_token"])["scp"].split()) >= {"User.Read"}
    found = grants.list_grants(server.ctx, tenant.id, app.app_id)
    assert [(g.consent_type, g.principal_id) for g in found] == [("Principal", user.id)]
    assert set(found[0].scope.split()) == {"openid", "profile", "offline_access", "User.Read"}


def test_recommended_refuses_calendars_read_as_permission_not_allowed(server: RunningServer,
                                                                      browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app, scope="openid Calendars.Read"),
                           user.user_principal_name)
    need_admin_approval(page, "permission_not_allowed")
    assert "Read your calendars" in page.text
    assert grants_of(server, tenant.id, app.app_id) == []


def test_recommended_refuses_user_read_all_as_admin_only_permission(server: RunningServer,
                                                                    browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app, scope="openid User.Read User.Read.All"),
                           user.user_principal_name)
    need_admin_approval(page, "admin_only_permission")


def test_do_not_allow_user_consent_needs_admin_approval(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "none", TEST_ACTOR)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    need_admin_approval(page, "user_consent_not_allowed")


def test_low_refuses_when_nothing_is_classified(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "low", TEST_ACTOR)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    need_admin_approval(page, "permission_not_allowed")


def classify_sign_in_permissions_low(server: RunningServer, tenant: Tenant) -> None:
    graph = resource_sp(server, tenant.id, MICROSOFT_GRAPH)
    for value in ("openid", "profile", "offline_access", "User.Read"):
        classifications.classify_permission(server.ctx, tenant.id, graph.id, TEST_ACTOR, permission_id=None,
                                            permission_name=value, classification="low")


def test_low_allows_permissions_classified_low_for_an_app_of_this_tenant(server: RunningServer,
                                                                         browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "low", TEST_ACTOR)
    classify_sign_in_permissions_low(server, tenant)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    assert "<h1>Permissions requested</h1>" in page.text
    assert "code" in redirect_params(press(browser, page, "accept"))
    assert [g.consent_type for g in grants_of(server, tenant.id, app.app_id)] == ["Principal"]


def test_low_refuses_an_unverified_multi_tenant_app_of_another_tenant(server: RunningServer,
                                                                      browser: httpx.Client) -> None:
    home, tenant = make_tenant(server), make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "low", TEST_ACTOR)
    classify_sign_in_permissions_low(server, tenant)
    app, user = register(server, home, multi_tenant=True), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    need_admin_approval(page, "permission_not_allowed")
    assert find_sp(server, tenant.id, app.app_id) is None


def test_low_allows_a_verified_multi_tenant_app_of_another_tenant(server: RunningServer,
                                                                  browser: httpx.Client) -> None:
    home, tenant = make_tenant(server), make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "low", TEST_ACTOR)
    classify_sign_in_permissions_low(server, tenant)
    app, user = register(server, home, multi_tenant=True, verified=True), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    assert "<h1>Permissions requested</h1>" in page.text
    assert "code" in redirect_params(press(browser, page, "accept"))
    assert [(g.consent_type, g.principal_id) for g in grants_of(server, tenant.id, app.app_id)] == [
        ("Principal", user.id)]


def test_legacy_allows_calendars_read(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "legacy", TEST_ACTOR)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app, scope="openid Calendars.Read"),
                           user.user_principal_name)
    assert "Read your calendars" in page.text
    assert "code" in redirect_params(press(browser, page, "accept"))
    assert [scope_of(g) for g in grants_of(server, tenant.id, app.app_id)] == [{"openid", "Calendars.Read"}]


# --- what the page shows -------------------------------------------------------------------------------
def test_the_consent_page_names_the_app_its_unverified_publisher_and_plain_language_permissions(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    text = page_text(page)
    assert app.app.display_name in text and user.user_principal_name in text
    assert '<span class="badge unverified">Unverified</span>' in page.text and "✓ Verified" not in page.text
    assert "Sign you in and read your profile" in text  # User.Read's userConsentDisplayName
    assert "Maintain access to data you have given it access to" in text
    assert '<button type="submit" name="decision" value="accept" class="primary">Accept</button>' in page.text
    assert '<button type="submit" name="decision" value="cancel">Cancel</button>' in page.text


def test_the_consent_page_shows_a_verified_publisher_with_its_badge(server: RunningServer,
                                                                     browser: httpx.Client) -> None:
    home, tenant = make_tenant(server), make_tenant(server)
    app, user = register(server, home, multi_tenant=True, verified=True), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    assert "Fabrikam Verified Ltd" in page.text and "✓ Verified" in page.text
    assert "Unverified" not in page.text


def test_openid_alone_prompts_for_sign_you_in(server: RunningServer, browser: httpx.Client) -> None:
    """Spec §3.1: without any grant, even the OpenID Connect scopes need consent; ``openid`` shows as
    "Sign you in" and ``offline_access`` as "Maintain access to data you have given it access to"."""
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app, scope="openid profile offline_access"),
                           user.user_principal_name)
    text = page_text(page)
    assert "<h1>Permissions requested</h1>" in page.text
    assert "Maintain access to data you have given it access to" in text
    assert "View your basic profile" in text
    assert "Sign you in" in text, text


# --- what Accept writes ---------------------------------------------------------------------------------
def test_accept_assigns_the_user_the_default_role(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    redirect_params(press(browser, page, "accept"))
    client = resource_sp(server, tenant.id, app.app_id)
    held = assignments(server, tenant.id, user.id, client.id)
    assert [(a.app_role_id, a.principal_type, a.resource_id) for a in held] == [(NIL_GUID, "User", client.id)]


def test_accept_audits_consent_to_application_as_user_consent(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    redirect_params(press(browser, page, "accept"))
    client = resource_sp(server, tenant.id, app.app_id)
    [event] = audit_events(server, tenant.id, "Consent to application")
    assert (event["result"], event["category"], event["operation_type"]) == ("success", "ApplicationManagement",
                                                                             "Assign")
    assert event["target_resources"][0]["id"] == client.id
    assert modified(event, "ConsentContext.IsAdminConsent") == '"False"'
    assert modified(event, "ConsentContext.OnBehalfOfAll") == '"False"'
    assert details(event)["ConsentReason"] == "scopes_missing"
    assert details(event)["AppId"] == app.app_id
    assert event["initiated_by"]["user"]["userPrincipalName"] == user.user_principal_name


def test_accept_audits_add_delegated_permission_grant(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    redirect_params(press(browser, page, "accept"))
    [grant] = grants.list_grants(server.ctx, tenant.id, app.app_id)
    [event] = audit_events(server, tenant.id, "Add delegated permission grant")
    assert modified(event, "DelegatedPermissionGrant.ConsentType") == '"Principal"'
    assert modified(event, "DelegatedPermissionGrant.Id") == f'"{grant.id}"'
    assert set(str(modified(event, "DelegatedPermissionGrant.Scope")).strip('"').split()) == scope_of(grant)


def test_incremental_consent_adds_to_the_same_grant(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    first = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    redirect_params(press(browser, first, "accept"))
    second = consent_page_again(browser, tenant.id, authorize_params(app, scope="openid Contacts.Read"))
    assert "Read your contacts" in second.text and "Sign you in and read your profile" not in second.text
    result = redirect_params(press(browser, second, "accept"))
    assert "code" in result
    found = grants.list_grants(server.ctx, tenant.id, app.app_id)
    assert len(found) == 1
    assert scope_of(found[0]) == {"openid", "profile", "offline_access", "User.Read", "Contacts.Read"}
    assert token_scopes(browser, tenant, app, result) >= {"Contacts.Read"}


def test_cancel_redirects_with_access_denied_cancel_and_65004(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    params = authorize_params(app)
    page = to_consent_page(browser, tenant.id, params, user.user_principal_name)
    result = redirect_params(press(browser, page, "cancel"))
    assert result["error"] == "access_denied" and result["error_subcode"] == "cancel"
    assert result["error_description"].startswith("AADSTS65004: ")
    assert result["state"] == params["state"]
    assert grants.list_grants(server.ctx, tenant.id, app.app_id) == []
    assert audit_events(server, tenant.id, "Consent to application") == []
    assert assignments(server, tenant.id, user.id) == []


# --- "Need admin approval" -------------------------------------------------------------------------------
def test_need_admin_approval_says_what_entra_says(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "none", TEST_ACTOR)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    assert NEED_ADMIN_APPROVAL.format(app=app.app.display_name) in page_text(page)
    assert "Have an admin account? Sign in with that account" in page.text
    assert "Return to the application without granting consent" in page.text


def test_return_to_the_application_redirects_with_access_denied_and_90094(server: RunningServer,
                                                                          browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "none", TEST_ACTOR)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    params = authorize_params(app)
    page = to_consent_page(browser, tenant.id, params, user.user_principal_name)
    response = browser.get(link(page, "Return to the application without granting consent"))
    result = error_redirect(response, "access_denied", params["state"], 90094)
    assert result["error_subcode"] == "cancel"
    assert response.headers["location"].startswith(WEB_REDIRECT + "?")
    assert grants.list_grants(server.ctx, tenant.id, app.app_id) == []


def test_need_admin_approval_then_an_admin_consents_for_the_organization(server: RunningServer,
                                                                          browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "none", TEST_ACTOR)
    app, user, admin = make_app(server, tenant, grant=None), make_user(server, tenant), make_user(server, tenant)
    directory.assign_role(server.ctx, tenant.id, admin.user_principal_name, "Global Administrator", TEST_ACTOR)
    params = authorize_params(app)
    page = to_consent_page(browser, tenant.id, params, user.user_principal_name)
    assert "Need admin approval" in page.text
    assert "needs permission to access resources in your organization that only an admin can grant" in page.text
    switch = browser.get(link(page, "Have an admin account? Sign in with that account"))
    assert "/login?interaction=" in switch.headers["location"]
    signed_in = submit_sign_in(browser, switch.headers["location"], admin.user_principal_name)
    admin_page = browser.get(signed_in.headers["location"])
    assert "Accept for your organization" in admin_page.text
    result = redirect_params(press(browser, admin_page, "accept"))
    assert result["admin_consent"] == "True" and "code" in result
    assert result["state"] == params["state"]
    found = grants.list_grants(server.ctx, tenant.id, app.app_id)
    assert [(g.consent_type, g.principal_id) for g in found] == [("AllPrincipals", None)]
    assert redirect_params(browser.get(f"/{tenant.id}/oauth2/v2.0/authorize",
                                       params=authorize_params(app, login_hint=user.user_principal_name)))


# --- the organization checkbox ---------------------------------------------------------------------------
def test_a_global_admin_leaving_the_org_checkbox_unticked_consents_for_themselves_only(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, admin = make_app(server, tenant, grant=None), make_admin(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), admin.user_principal_name)
    assert "Consent on behalf of your organization" in page.text
    assert 'name="on_behalf_of_org" value="1"' in page.text and "checked" not in page.text
    assert "code" in redirect_params(press(browser, page, "accept"))
    found = grants.list_grants(server.ctx, tenant.id, app.app_id)
    assert [(g.consent_type, g.principal_id) for g in found] == [("Principal", admin.id)]


def test_a_global_admin_ticking_the_org_checkbox_consents_for_everyone(server: RunningServer,
                                                                        browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, admin = make_app(server, tenant, grant=None), make_admin(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), admin.user_principal_name)
    assert "code" in redirect_params(press(browser, page, "accept", on_behalf_of_org="1"))
    found = grants.list_grants(server.ctx, tenant.id, app.app_id)
    assert [(g.consent_type, g.principal_id) for g in found] == [("AllPrincipals", None)]
    [event] = audit_events(server, tenant.id, "Consent to application")
    assert modified(event, "ConsentContext.IsAdminConsent") == '"True"'
    assert modified(event, "ConsentContext.OnBehalfOfAll") == '"True"'


def test_a_non_admin_posting_on_behalf_of_org_still_gets_only_a_principal_grant(server: RunningServer,
                                                                                browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    assert "on_behalf_of_org" not in page.text
    assert "code" in redirect_params(press(browser, page, "accept", on_behalf_of_org="1"))
    found = grants.list_grants(server.ctx, tenant.id, app.app_id)
    assert [(g.consent_type, g.principal_id) for g in found] == [("Principal", user.id)]


# --- prompt -------------------------------------------------------------------------------------------------
ADMIN_GRANTED = "openid profile offline_access User.Read User.Read.All"


def test_after_admin_consent_a_non_admin_signs_in_without_a_prompt(server: RunningServer,
                                                                   browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=ADMIN_GRANTED), make_user(server, tenant)
    first = authorize(browser, tenant.id, authorize_params(app, scope=ADMIN_GRANTED))
    result = redirect_params(submit_sign_in(browser, first.headers["location"], user.user_principal_name))
    assert "code" in result


def test_prompt_consent_after_admin_consent_loops_a_non_admin_into_need_admin_approval(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=ADMIN_GRANTED), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app, scope=ADMIN_GRANTED, prompt="consent"),
                           user.user_principal_name)
    need_admin_approval(page, "admin_only_permission")


def test_prompt_consent_after_admin_consent_shows_an_admin_the_consent_page(server: RunningServer,
                                                                             browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, admin = make_app(server, tenant, grant=ADMIN_GRANTED), make_admin(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app, scope=ADMIN_GRANTED, prompt="consent"),
                           admin.user_principal_name)
    assert "<h1>Permissions requested</h1>" in page.text
    assert "Read all users&#39; full profiles" in page.text or "Read all users' full profiles" in page.text
    assert "Consent on behalf of your organization" in page.text
    assert "code" in redirect_params(press(browser, page, "accept"))


def test_prompt_none_without_consent_redirects_with_65001_and_state(server: RunningServer,
                                                                    browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    user = make_user(server, tenant)
    sign_in_elsewhere(server, browser, tenant, user)
    app = make_app(server, tenant, grant=None)
    params = authorize_params(app, prompt="none")
    response = authorize(browser, tenant.id, params)
    result = error_redirect(response, "consent_required", params["state"], 65001)
    assert "code" not in result
    assert grants.list_grants(server.ctx, tenant.id, app.app_id) == []


# --- a disabled service principal ----------------------------------------------------------------------
def disable(server: RunningServer, tenant: Tenant, app: RegisteredApp) -> None:
    apps.update_service_principal(server.ctx, tenant.id, app.app_id, TEST_ACTOR, account_enabled=False)


def test_a_disabled_app_is_an_7000112_error_page_at_authorize(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    disable(server, tenant, app)
    first = authorize(browser, tenant.id, authorize_params(app))
    assert_error_page(submit_sign_in(browser, first.headers["location"], user.user_principal_name), 7000112)


def test_a_disabled_app_gets_7000112_for_a_refresh_token(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    refresh_token = ropc(browser, tenant, app, user).json()["refresh_token"]
    disable(server, tenant, app)
    assert_entra_error(refresh(browser, tenant, app, refresh_token), "unauthorized_client", 7000112)


def test_a_disabled_app_gets_7000112_for_client_credentials(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    disable(server, tenant, app)
    response = post_token(browser, tenant.id, {"grant_type": "client_credentials",
                                               "scope": "https://graph.microsoft.com/.default", **app.credentials()})
    assert_entra_error(response, "unauthorized_client", 7000112)


# --- assignment required ------------------------------------------------------------------------------------
def require_assignment(server: RunningServer, tenant: Tenant, app: RegisteredApp) -> None:
    apps.update_service_principal(server.ctx, tenant.id, app.app_id, TEST_ACTOR, app_role_assignment_required=True)


def test_assignment_required_without_consent_needs_admin_approval_even_under_legacy(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "legacy", TEST_ACTOR)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    require_assignment(server, tenant, app)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    need_admin_approval(page, "assignment_required")
    assert grants.list_grants(server.ctx, tenant.id, app.app_id) == []


def test_assignment_required_after_tenant_wide_consent_blocks_an_unassigned_user_with_50105(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    require_assignment(server, tenant, app)
    first = authorize(browser, tenant.id, authorize_params(app))
    assert_error_page(submit_sign_in(browser, first.headers["location"], user.user_principal_name), 50105)


def test_assignment_required_after_tenant_wide_consent_lets_an_assigned_user_in(server: RunningServer,
                                                                               browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    require_assignment(server, tenant, app)
    grants.add_app_role_assignment(server.ctx, tenant.id, user.id, app.app_id, NIL_GUID, TEST_ACTOR)
    first = authorize(browser, tenant.id, authorize_params(app))
    result = redirect_params(submit_sign_in(browser, first.headers["location"], user.user_principal_name))
    assert "code" in result
    assert token_scopes(browser, tenant, app, result) >= {"User.Read"}


# --- .default (spec §3.3) -------------------------------------------------------------------------------
GRAPH_DEFAULT = "https://graph.microsoft.com/.default openid profile offline_access"
STATIC = {MICROSOFT_GRAPH: ("User.Read", "Contacts.Read", "Calendars.Read"),
          EXCHANGE_ONLINE: ("EAS.AccessAsUser.All",)}


def test_default_with_nothing_granted_prompts_for_the_whole_static_list_across_resources(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "legacy", TEST_ACTOR)
    app, user = register(server, tenant, delegated=STATIC), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app, scope=GRAPH_DEFAULT), user.user_principal_name)
    text = page_text(page)
    for shown in ("Microsoft Graph", "Office 365 Exchange Online", "Sign you in and read your profile",
                  "Read your contacts", "Read your calendars", "Access mailboxes via Exchange ActiveSync"):
        assert shown in text, shown


def test_default_after_consent_records_every_resource_and_the_token_has_only_the_target_resource(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "legacy", TEST_ACTOR)
    app, user = register(server, tenant, delegated=STATIC), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app, scope=GRAPH_DEFAULT), user.user_principal_name)
    result = redirect_params(press(browser, page, "accept"))
    graph = resource_sp(server, tenant.id, MICROSOFT_GRAPH)
    exchange = resource_sp(server, tenant.id, EXCHANGE_ONLINE)
    by_resource = {g.resource_id: g for g in grants.list_grants(server.ctx, tenant.id, app.app_id)}
    assert set(by_resource) == {graph.id, exchange.id}
    assert {g.consent_type for g in by_resource.values()} == {"Principal"}
    assert scope_of(by_resource[graph.id]) >= {"User.Read", "Contacts.Read", "Calendars.Read"}
    assert scope_of(by_resource[exchange.id]) == {"EAS.AccessAsUser.All"}
    token = redeem(browser, tenant.id, app, result["code"]).json()
    claims = jwt_claims(token["access_token"])
    assert claims["aud"] in (MICROSOFT_GRAPH, "https://graph.microsoft.com")
    scopes = set(claims["scp"].split())
    assert {"User.Read", "Contacts.Read", "Calendars.Read"} <= scopes
    assert "EAS.AccessAsUser.All" not in scopes


def test_default_with_one_graph_permission_granted_does_not_prompt_and_carries_all_granted(
        server: RunningServer, browser: httpx.Client) -> None:
    """Example 3 of the doc: the static list grew, but a grant exists, so no prompt and the token carries
    what is granted (including a granted scope that is not in the static list)."""
    tenant = make_tenant(server)
    app, user = register(server, tenant, delegated=STATIC), make_user(server, tenant)
    grants.add_grant(server.ctx, tenant.id, app.app_id, MICROSOFT_GRAPH, ALL_PRINCIPALS,
                     "openid profile offline_access User.Read Mail.Send", TEST_ACTOR)
    first = authorize(browser, tenant.id, authorize_params(app, scope=GRAPH_DEFAULT))
    result = redirect_params(submit_sign_in(browser, first.headers["location"], user.user_principal_name))
    scopes = token_scopes(browser, tenant, app, result)
    assert {"User.Read", "Mail.Send"} <= scopes
    assert not {"Contacts.Read", "Calendars.Read", "EAS.AccessAsUser.All"} & scopes


def test_default_mixed_with_a_specific_scope_is_an_70011_error_redirect(server: RunningServer,
                                                                        browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app = make_app(server, tenant)
    params = authorize_params(app, scope="https://graph.microsoft.com/.default Mail.Read")
    result = error_redirect(authorize(browser, tenant.id, params), "invalid_scope", params["state"], 70011)
    assert ".default scope can't be combined with resource-specific scopes" in result["error_description"]


def test_prompt_consent_with_default_prompts_even_when_granted(server: RunningServer,
                                                               browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read", "Contacts.Read")}), \
        make_user(server, tenant)
    grants.add_grant(server.ctx, tenant.id, app.app_id, MICROSOFT_GRAPH, ALL_PRINCIPALS, "User.Read", TEST_ACTOR)
    page = to_consent_page(browser, tenant.id, authorize_params(app, scope=GRAPH_DEFAULT, prompt="consent"),
                           user.user_principal_name)
    assert "<h1>Permissions requested</h1>" in page.text
    assert "Read your contacts" in page.text and "Sign you in and read your profile" in page.text
    result = redirect_params(press(browser, page, "accept"))
    assert token_scopes(browser, tenant, app, result) >= {"User.Read", "Contacts.Read"}


# --- the sign-in log ----------------------------------------------------------------------------------------
def test_the_sign_in_log_records_consent_reasons(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    redirect_params(press(browser, page, "accept"))
    need_admin_approval(consent_page_again(browser, tenant.id, authorize_params(app, scope="openid Mail.Read")),
                        "permission_not_allowed")
    rows = [r for r in audit.list_sign_ins(server.ctx, tenant.id) if r["app_id"] == app.app_id]
    assert sorted((r["consent_reason"], r["error_code"]) for r in rows) == [
        ("granted", 0), ("permission_not_allowed", 90094), ("scopes_missing", 65001)]
    assert all(r["user_id"] == user.id for r in rows)


# --- the token endpoint before and after consent -----------------------------------------------------------
def test_ropc_before_consent_is_65001_consent_required(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    assert_entra_error(ropc(browser, tenant, app, user), "invalid_grant", 65001, suberror="consent_required")


def test_ropc_after_admin_consent_gets_a_token(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user, admin = make_app(server, tenant, grant=None), make_user(server, tenant), make_admin(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), admin.user_principal_name)
    redirect_params(press(browser, page, "accept", on_behalf_of_org="1"))
    response = ropc(browser, tenant, app, user)
    assert response.status_code == 200, response.text
    claims = jwt_claims(response.json()["access_token"])
    assert "User.Read" in claims["scp"].split() and claims["oid"] == user.id


def test_removing_the_grant_makes_the_refresh_token_fail_with_65001(server: RunningServer,
                                                                    browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant), make_user(server, tenant)
    refresh_token = ropc(browser, tenant, app, user).json()["refresh_token"]
    [grant] = grants.list_grants(server.ctx, tenant.id, app.app_id)
    grants.remove_grant(server.ctx, tenant.id, grant.id, TEST_ACTOR)
    assert_entra_error(refresh(browser, tenant, app, refresh_token), "invalid_grant", 65001,
                       suberror="consent_required")


# --- risk-based step-up (spec §6.5) ----------------------------------------------------------------------
RISKY_SCOPE = "openid profile offline_access Mail.Read"


def risky_setup(server: RunningServer) -> tuple[Tenant, RegisteredApp, User]:
    """A multi-tenant, unverified app registered just now in another tenant, asking for Mail.Read in a
    tenant whose users may consent to it (legacy)."""
    home, tenant = make_tenant(server), make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "legacy", TEST_ACTOR)
    return tenant, register(server, home, multi_tenant=True), make_user(server, tenant)


def test_a_risky_app_needs_admin_approval_with_900941(server: RunningServer, browser: httpx.Client) -> None:
    tenant, app, user = risky_setup(server)
    page = to_consent_page(browser, tenant.id, authorize_params(app, scope=RISKY_SCOPE), user.user_principal_name)
    need_admin_approval(page, "risky_app", 900941)
    assert "This app might be risky. If you trust this app, ask your admin to grant you access." in page.text
    rows = [r for r in audit.list_sign_ins(server.ctx, tenant.id) if r["app_id"] == app.app_id]
    assert [(r["consent_reason"], r["error_code"]) for r in rows] == [("risky_app", 900941)]
    assert grants_of(server, tenant.id, app.app_id) == []


def test_a_risky_app_block_is_audited_as_a_failed_consent(server: RunningServer, browser: httpx.Client) -> None:
    """Spec §6.5, §9, §13.14: "Consent to application", result failure, "Risky application detected"."""
    tenant, app, user = risky_setup(server)
    to_consent_page(browser, tenant.id, authorize_params(app, scope=RISKY_SCOPE), user.user_principal_name)
    events = audit_events(server, tenant.id, "Consent to application")
    assert [(e["result"], e["result_reason"]) for e in events] == [("failure", "Risky application detected")]
    assert details(events[0])["AppId"] == app.app_id


def test_a_risky_app_with_step_up_off_gets_the_consent_page_with_a_warning(server: RunningServer,
                                                                           browser: httpx.Client) -> None:
    tenant, app, user = risky_setup(server)
    policies.set_block_risky_apps(server.ctx, tenant.id, False, TEST_ACTOR)
    page = to_consent_page(browser, tenant.id, authorize_params(app, scope=RISKY_SCOPE), user.user_principal_name)
    assert "<h1>Permissions requested</h1>" in page.text
    assert "This app might be risky. Only continue if you trust this app." in page.text
    assert "code" in redirect_params(press(browser, page, "accept"))
    [grant] = grants.list_grants(server.ctx, tenant.id, app.app_id)
    assert "Mail.Read" in scope_of(grant)


# --- hostile browsers ---------------------------------------------------------------------------------------
def nothing_written(server: RunningServer, tenant: Tenant, app: RegisteredApp, user: User) -> None:
    assert grants_of(server, tenant.id, app.app_id) == []
    assert audit_events(server, tenant.id, "Consent to application") == []
    assert assignments(server, tenant.id, user.id) == []


def test_a_consent_form_without_csrf_token_is_403_and_writes_nothing(server: RunningServer,
                                                                     browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    fields = hidden_inputs(page.text)
    response = browser.post(form_action(page.text), data={"interaction": fields["interaction"], "decision": "accept"})
    assert_error_page(response, 50089, status=403)
    nothing_written(server, tenant, app, user)
    assert "code" in redirect_params(press(browser, page, "accept"))  # the real form still works


def test_a_consent_interaction_submitted_from_another_browser_session_is_refused(server: RunningServer,
                                                                               browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, victim, attacker = make_app(server, tenant, grant=None), make_user(server, tenant), make_user(server, tenant)
    victim_page = to_consent_page(browser, tenant.id, authorize_params(app), victim.user_principal_name)
    with server.client() as other:
        own_page = to_consent_page(other, tenant.id, authorize_params(app), attacker.user_principal_name)
        forged = {**hidden_inputs(own_page.text), "interaction": hidden_inputs(victim_page.text)["interaction"],
                  "decision": "accept"}
        response = other.post(form_action(own_page.text), data=forged)
    assert_error_page(response, 50089)
    nothing_written(server, tenant, app, victim)
    assert assignments(server, tenant.id, attacker.id) == []


def test_a_replayed_accept_is_50089_and_duplicates_nothing(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    assert "code" in redirect_params(press(browser, page, "accept"))
    assert_error_page(press(browser, page, "accept"), 50089)
    assert len(grants.list_grants(server.ctx, tenant.id, app.app_id)) == 1
    assert len(audit_events(server, tenant.id, "Consent to application")) == 1
    assert len(audit_events(server, tenant.id, "Add delegated permission grant")) == 1
    assert len(assignments(server, tenant.id, user.id)) == 1


def test_an_extra_scope_field_grants_only_what_the_page_showed(server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    result = redirect_params(press(browser, page, "accept",
                                   scope="https://graph.microsoft.com/User.ReadWrite.All Directory.ReadWrite.All"))
    [grant] = grants.list_grants(server.ctx, tenant.id, app.app_id)
    assert scope_of(grant) == {"openid", "profile", "offline_access", "User.Read"}
    assert not {"User.ReadWrite.All", "Directory.ReadWrite.All"} & token_scopes(browser, tenant, app, result)


def test_an_interaction_of_another_tenants_flow_posted_to_this_tenant_is_refused(server: RunningServer,
                                                                               browser: httpx.Client) -> None:
    tenant, this_tenant = make_tenant(server), make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    response = browser.post(f"/{this_tenant.id}/consent", data={**hidden_inputs(page.text), "decision": "accept"})
    assert response.status_code == 400 and "location" not in response.headers, (
        response.status_code, response.headers.get("location"))
    assert "AADSTS" in response.text
    nothing_written(server, tenant, app, user)


def test_an_interaction_of_another_tenant_posted_by_a_user_of_this_tenant_is_refused(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant, this_tenant = make_tenant(server), make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    victim_page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    local_app, local_user = make_app(server, this_tenant, grant=None), make_user(server, this_tenant)
    with server.client() as other:
        own_page = to_consent_page(other, this_tenant.id, authorize_params(local_app),
                                   local_user.user_principal_name)
        response = other.post(f"/{this_tenant.id}/consent", data={
            **hidden_inputs(own_page.text), "interaction": hidden_inputs(victim_page.text)["interaction"],
            "decision": "accept"})
    assert_error_page(response, 50089)
    nothing_written(server, tenant, app, user)
    assert grants_of(server, this_tenant.id, app.app_id) == []


@pytest.mark.parametrize("text", ["Return to the application without granting consent",
                                  "Have an admin account? Sign in with that account"])
def test_the_need_admin_approval_links_of_another_browser_session_are_refused(server: RunningServer,
                                                                             browser: httpx.Client,
                                                                             text: str) -> None:
    """The consent interaction is bound to the browser session that started it (protocol/consent_flow.py's
    docstring): another browser that learns the link must neither end the victim's flow (and read its
    ``state`` in the redirect) nor restart it under its own sign-in."""
    tenant = make_tenant(server)
    policies.set_user_consent(server.ctx, tenant.id, "none", TEST_ACTOR)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    params = authorize_params(app)
    page = to_consent_page(browser, tenant.id, params, user.user_principal_name)
    with server.client() as other:
        sign_in_elsewhere(server, other, tenant, make_user(server, tenant))
        response = other.get(link(page, text))
    assert params["state"] not in response.headers.get("location", "")
    assert_error_page(response, 50089)
    assert "Need admin approval" in browser.get(f"/{tenant.id}/consent",
                                                params={"interaction": hidden_interaction(page)}).text


@pytest.mark.parametrize("path", [
    "/consent", "/consent?interaction=", "/consent?interaction=not-an-interaction",
    "/consent?interaction=" + "x" * 500, "/consent/admin?interaction=bogus", "/consent/admin",
    "/consent/return?interaction=bogus", "/consent/return"])
def test_a_malformed_or_missing_interaction_is_an_error_page(server: RunningServer, browser: httpx.Client,
                                                             path: str) -> None:
    tenant = make_tenant(server)
    assert_error_page(browser.get(f"/{tenant.id}{path}"), 50089)


@pytest.mark.parametrize("interaction", ["", "bogus", "%00'\"<script>", "y" * 5000])
def test_posting_a_malformed_or_missing_interaction_is_an_error_page(server: RunningServer, browser: httpx.Client,
                                                                     interaction: str) -> None:
    tenant = make_tenant(server)
    app, user = make_app(server, tenant, grant=None), make_user(server, tenant)
    page = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    fields = {**hidden_inputs(page.text), "interaction": interaction, "decision": "accept"}
    assert_error_page(browser.post(form_action(page.text), data=fields), 50089)
    nothing_written(server, tenant, app, user)
