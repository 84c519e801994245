"""The portal's Enterprise applications area over HTTP (spec §8.2, §8.3, §8.5, §13.2–13.4): All applications
(search, filters, keyset paging), Properties (the switches and their effect on sign-in and tokens), Delete
(soft, with grants and assignments), Permissions (both tabs, Revoke permission, Grant admin consent), Users
and groups, the app's audit log, and who may see and change what."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest
from tests.protocol.helpers import (
    TEST_ACTOR,
    RegisteredApp,
    assert_entra_error,
    authorize,
    authorize_params,
    jwt_claims,
    make_app,
    make_tenant,
    make_user,
    post_token,
    submit_sign_in,
    unique,
)
from tests.support.server import RunningServer
from tests.web.portal_helpers import csrf, portal_client, post_form, text_of
from tests.web.test_authorize import assert_error_page
from tests.web.test_consent import audit_events, find_sp, grants_of, make_admin, register, scope_of, to_consent_page

from consentry.domain.apps import HIDE_APP_TAG, INTEGRATED_APP_TAG, Application, ServicePrincipal
from consentry.domain.builtin import EXCHANGE_ONLINE, MICROSOFT_GRAPH
from consentry.domain.directory import Tenant, User
from consentry.domain.grants import ALL_PRINCIPALS, PRINCIPAL
from consentry.domain.ids import NIL_GUID, new_guid
from consentry.domain.odata import ODataQuery
from consentry.services import apps, deleted_items, directory, grants

APPS = "/portal/enterprise-apps"
BUILTIN_NAMES = ["Microsoft Graph", "Microsoft Graph Command Line Tools", "Office 365 Exchange Online"]
CLIENT_CREDENTIALS = {"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"}


@pytest.fixture
def browser(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def sp_of(server: RunningServer, tenant: Tenant, app: RegisteredApp) -> ServicePrincipal:
    sp = find_sp(server, tenant.id, app.app_id)
    assert sp is not None
    return sp


def path(sp: ServicePrincipal, tail: str = "") -> str:
    return f"{APPS}/{sp.id}{tail}"


def listed(page: httpx.Response) -> list[str]:
    """The application names of a list page, in order."""
    assert page.status_code == 200, page.text[:500]
    return [html.unescape(n) for n in re.findall(r'<a href="/portal/enterprise-apps/[0-9a-f-]{36}">([^<]+)</a>',
                                                  page.text)]


def next_link(page: httpx.Response) -> str | None:
    match = re.search(r'<a href="([^"]+)" rel="next">', page.text)
    return html.unescape(match.group(1)) if match else None


def followed(client: httpx.Client, response: httpx.Response) -> httpx.Response:
    """The page a POST-redirect-GET lands on."""
    assert response.status_code == 303, (response.status_code, response.text[:800])
    landed = client.get(response.headers["location"])
    assert landed.status_code == 200
    return landed


def named_app(server: RunningServer, tenant: Tenant, name: str) -> RegisteredApp:
    app = Application(id=new_guid(), app_id=new_guid(), tenant_id=tenant.id, display_name=name,
                      sign_in_audience="AzureADMyOrg", web_redirect_uris=("https://app.example/callback",))
    registered = apps.register_application(server.ctx, tenant.id, app, TEST_ACTOR)
    return RegisteredApp(registered, None, "https://app.example/callback")


def graph_role_to(server: RunningServer, tenant: Tenant, sp: ServicePrincipal, value: str = "User.Read.All") -> None:
    graph = find_sp(server, tenant.id, MICROSOFT_GRAPH)
    assert graph is not None
    role = next(r for r in graph.app_roles if r.value == value)
    grants.assign_app_role(server.ctx, tenant.id, sp.id, graph.id, role.id, TEST_ACTOR)


def properties_form(enabled: str = "yes", required: str = "no", visible: str = "yes") -> dict[str, str]:
    return {"account_enabled": enabled, "assignment_required": required, "visible": visible}


# --- All applications ----------------------------------------------------------------------------------
def test_all_applications_lists_every_service_principal_with_its_details(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = make_admin(server, tenant)
    app = make_app(server, tenant)
    sp = sp_of(server, tenant, app)
    with portal_client(server, admin.user_principal_name) as client:
        page = client.get(APPS)
    assert listed(page) == sorted([*BUILTIN_NAMES, sp.display_name])
    row = re.search(rf'<tr>\s*<td data-label="Name"><a href="{path(sp)}">.*?</tr>', page.text, re.S)
    assert row is not None
    cells = text_of(httpx.Response(200, text=row.group(0)))
    assert f"{sp.app_id}" in cells and server.clock.now().strftime("%Y-%m-%d") in cells and "Yes" in cells
    graph = find_sp(server, tenant.id, MICROSOFT_GRAPH)
    assert graph is not None
    graph_row = re.search(rf'<a href="{path(graph)}">Microsoft Graph</a>.*?</tr>', page.text, re.S)
    assert graph_row and "Microsoft Services" in graph_row.group(0) and MICROSOFT_GRAPH in graph_row.group(0)
    assert 'aria-current="page">All applications' in page.text


def test_search_finds_by_name_prefix_in_any_case_or_by_exact_app_id(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = make_admin(server, tenant)
    word = unique("Zeta")
    one, two = named_app(server, tenant, f"{word} Payroll"), named_app(server, tenant, f"{word.lower()} hr")
    named_app(server, tenant, f"Other {word}")
    with portal_client(server, admin.user_principal_name) as client:
        assert listed(client.get(APPS, params={"search": word.upper()})) == sorted(
            [one.app.display_name, two.app.display_name])
        assert listed(client.get(APPS, params={"search": two.app_id.upper()})) == [two.app.display_name]
        empty = client.get(APPS, params={"search": "100%_no\\such"})
        assert listed(empty) == [] and "No application matches the search and filters." in text_of(empty)


def test_filters_by_enabled_admin_consent_and_publisher(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = make_admin(server, tenant)
    consented = make_app(server, tenant)  # tenant-wide grant on Microsoft Graph
    plain = make_app(server, tenant, grant=None)
    daemon = make_app(server, tenant, grant=None)
    graph_role_to(server, tenant, sp_of(server, tenant, daemon))
    apps.update_service_principal(server.ctx, tenant.id, plain.app_id, TEST_ACTOR, account_enabled=False)
    consented_name, plain_name, daemon_name = (a.app.display_name for a in (consented, plain, daemon))
    with portal_client(server, admin.user_principal_name) as client:
        assert listed(client.get(APPS, params={"enabled": "no"})) == [plain_name]
        assert listed(client.get(APPS, params={"consent": "yes"})) == sorted([consented_name, daemon_name])
        assert listed(client.get(APPS, params={"consent": "no"})) == sorted([*BUILTIN_NAMES, plain_name])
        assert listed(client.get(APPS, params={"type": "microsoft"})) == BUILTIN_NAMES
        assert listed(client.get(APPS, params={"type": "third-party"})) == sorted(
            [consented_name, plain_name, daemon_name])
        both = client.get(APPS, params={"type": "third-party", "enabled": "yes", "consent": "no"})
        assert listed(both) == []
        assert 'value="third-party" selected' in both.text and "Reset filters" in both.text


def test_paging_walks_every_app_once_in_name_order(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = make_admin(server, tenant)
    prefix = unique("Bulk")
    for i in range(260):
        named_app(server, tenant, f"{prefix} {i:03d}")
    seen: list[str] = []
    with portal_client(server, admin.user_principal_name) as client:
        page = client.get(APPS, params={"search": prefix})
        assert "First page" not in page.text
        pages = 1
        while (link := next_link(page)) is not None:
            seen += listed(page)
            assert f"search={prefix}" in link
            page = client.get(link)
            pages += 1
            assert "First page" in page.text
        seen += listed(page)
        assert pages == 6
        assert seen == [f"{prefix} {i:03d}" for i in range(260)]
        tampered = client.get(APPS, params={"search": prefix, "page": "abc.def"})
        assert tampered.status_code == 200
        assert listed(tampered)[0] == f"{prefix} 000"
        assert "That page link is not valid any more; showing the first page." in text_of(tampered)


# --- Properties ------------------------------------------------------------------------------------------
def test_disabling_stops_sign_in_and_app_only_tokens_at_once_and_enabling_restores_them(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    admin, user = make_admin(server, tenant), make_user(server, tenant)
    app = make_app(server, tenant)
    sp = sp_of(server, tenant, app)
    graph_role_to(server, tenant, sp)
    with portal_client(server, admin.user_principal_name) as client:
        page = client.get(path(sp))
        assert '<label for="account_enabled">Enabled for users to sign-in?</label>' in page.text
        assert '<label for="assignment_required">Assignment required?</label>' in page.text
        assert '<label for="visible">Visible to users?</label>' in page.text
        saved = followed(client, post_form(client, path(sp), path(sp), properties_form(enabled="no")))
        assert (f"Saved the properties of {sp.display_name}. Enabled for users to sign-in: No. Assignment "
                "required: No. Visible to users: Yes.") in text_of(saved)
        assert '<option value="no" selected>No</option>' in saved.text and "Disabled: sign-in blocked" in saved.text
        first = authorize(browser, tenant.id, authorize_params(app))
        assert_error_page(submit_sign_in(browser, first.headers["location"], user.user_principal_name), 7000112)
        assert_entra_error(post_token(browser, tenant.id, {**CLIENT_CREDENTIALS, **app.credentials()}),
                           "unauthorized_client", 7000112)
        followed(client, post_form(client, path(sp), path(sp), properties_form(enabled="yes")))
    token = post_token(browser, tenant.id, {**CLIENT_CREDENTIALS, **app.credentials()})
    assert token.status_code == 200, token.text
    assert jwt_claims(token.json()["access_token"])["roles"] == ["User.Read.All"]
    assert apps.find_service_principal(server.ctx, tenant.id, object_id=sp.id).account_enabled is True
    [event, *_] = [e for e in audit_events(server, tenant.id, "Update service principal")
                   if e["target_resources"][0]["id"] == sp.id]
    assert event["initiated_by"]["user"]["userPrincipalName"] == admin.user_principal_name


def test_visible_to_users_toggles_the_hide_app_tag_and_assignment_required_is_saved(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = make_admin(server, tenant)
    sp = sp_of(server, tenant, make_app(server, tenant))
    with portal_client(server, admin.user_principal_name) as client:
        followed(client, post_form(client, path(sp), path(sp), properties_form(required="yes", visible="no")))
        hidden = apps.find_service_principal(server.ctx, tenant.id, object_id=sp.id)
        assert hidden.tags == (INTEGRATED_APP_TAG, HIDE_APP_TAG) and hidden.app_role_assignment_required is True
        assert "Hidden" in text_of(client.get(APPS))
        again = followed(client, post_form(client, path(sp), path(sp), properties_form(required="yes", visible="no")))
        assert "Nothing to save: the properties were already as chosen." in text_of(again)
        followed(client, post_form(client, path(sp), path(sp), properties_form()))
        shown = apps.find_service_principal(server.ctx, tenant.id, object_id=sp.id)
        assert shown.tags == (INTEGRATED_APP_TAG,) and shown.app_role_assignment_required is False
        bad = post_form(client, path(sp), path(sp), properties_form(visible="maybe"))
    assert bad.status_code == 400 and 'Choose Yes or No for "Visible to users?".' in text_of(bad)


# --- Delete ------------------------------------------------------------------------------------------------
def test_delete_soft_deletes_with_grants_and_assignments_and_users_consent_again(
        server: RunningServer, browser: httpx.Client) -> None:
    tenant = make_tenant(server)
    admin, user = make_admin(server, tenant), make_user(server, tenant)
    app = make_app(server, tenant)
    sp = sp_of(server, tenant, app)
    grants.add_app_role_assignment(server.ctx, tenant.id, user.id, sp.id, "", TEST_ACTOR)
    with portal_client(server, admin.user_principal_name) as client:
        page = client.get(path(sp))
        assert (f"Deleting {sp.display_name} removes it from this organization with its 1 permission grant (admin and "
                "user consent) and 1 user, group and app role assignment.") in text_of(page)
        assert "Users may then request it again" in text_of(page) and "data-confirm=" in page.text
        landed = followed(client, post_form(client, path(sp), path(sp, "/delete"), {}))
        assert (f"Deleted {sp.display_name} with its permission grants and assignments. It stays in deleted items "
                "for 30 days, where it can be restored.") in text_of(landed)
        assert sp.display_name not in listed(landed)
        assert listed(client.get(APPS, params={"search": sp.app_id})) == []
        assert client.get(path(sp)).status_code == 404
    assert find_sp(server, tenant.id, app.app_id) is None
    with server.ctx.uow.read() as tx:
        scope = tx.tenant(tenant.id)
        assert scope.grants.list_grants(client_id=sp.id) == []
        assert scope.grants.list_assignments(principal_ids=[user.id]) == []
    deleted, _ = deleted_items.list_deleted(server.ctx, tenant.id, deleted_items.SERVICE_PRINCIPAL, ODataQuery())
    [gone] = [d for d in deleted if d.id == sp.id]
    assert len(gone.grants) == 1 and len(gone.assignments) == 1
    consent = to_consent_page(browser, tenant.id, authorize_params(app), user.user_principal_name)
    assert "Permissions requested" in consent.text


# --- Permissions -------------------------------------------------------------------------------------------
def consented_app(server: RunningServer, tenant: Tenant, user: User) -> tuple[RegisteredApp, ServicePrincipal]:
    app = register(server, tenant, delegated={MICROSOFT_GRAPH: ("User.Read",)},
                   roles={EXCHANGE_ONLINE: ("full_access_as_app",)})
    grants.add_grant(server.ctx, tenant.id, app.app_id, MICROSOFT_GRAPH, ALL_PRINCIPALS, "User.Read Contacts.Read",
                     TEST_ACTOR)
    grants.add_grant(server.ctx, tenant.id, app.app_id, MICROSOFT_GRAPH, PRINCIPAL, "Calendars.Read", TEST_ACTOR,
                     principal_id=user.id)
    return app, sp_of(server, tenant, app)


def test_permissions_tabs_list_grants_per_resource_with_who_and_when(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin, user = make_admin(server, tenant), make_user(server, tenant)
    app, sp = consented_app(server, tenant, user)
    graph_role_to(server, tenant, sp, "Application.Read.All")
    when = server.clock.now().strftime("%Y-%m-%d %H:%M UTC")
    with portal_client(server, admin.user_principal_name) as client:
        page = client.get(path(sp, "/permissions"))
        text = text_of(page)
        assert f"Grant admin consent for {tenant.display_name}" in text
        assert f'value="{server.base_url}/{tenant.id}/adminconsent?client_id={app.app_id}"' in page.text
        assert '<label for="consent-url" class="ea-label">Admin consent URL</label>' in page.text
        assert "<h3 id=\"resource-1\">Microsoft Graph</h3>" in page.text
        assert (f"Contacts.Read Delegated Read user contacts {TEST_ACTOR.name} {when} Revoke permission") in text
        assert f"User.Read Delegated Sign in and read user profile {TEST_ACTOR.name} {when}" in text
        assert f"Application.Read.All Application Read all applications {TEST_ACTOR.name} {when}" in text
        assert "Calendars.Read" not in text
        users_tab = text_of(client.get(path(sp, "/permissions"), params={"tab": "user"}))
    assert (f"Calendars.Read Delegated Read user calendars {user.user_principal_name} {TEST_ACTOR.name} {when} "
            "Revoke permission") in users_tab
    assert "Contacts.Read" not in users_tab


def test_revoke_permission_takes_one_permission_out_of_the_grant(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin, user = make_admin(server, tenant), make_user(server, tenant)
    app, sp = consented_app(server, tenant, user)
    other, other_sp = consented_app(server, tenant, user)
    [tenant_wide] = [g for g in grants_of(server, tenant.id, app.app_id) if g.consent_type == ALL_PRINCIPALS]
    [foreign] = [g for g in grants_of(server, tenant.id, other.app_id) if g.consent_type == ALL_PRINCIPALS]
    with portal_client(server, admin.user_principal_name) as client:
        landed = followed(client, post_form(client, path(sp, "/permissions"), path(sp, "/permissions/revoke"),
                                            {"grant_id": tenant_wide.id, "value": "Contacts.Read", "tab": "admin"}))
        assert f"Revoked the delegated permission Contacts.Read of {sp.display_name}." in text_of(landed)
        assert "<code>Contacts.Read</code>" not in landed.text and "<code>User.Read</code>" in landed.text
        refused = post_form(client, path(sp, "/permissions"), path(sp, "/permissions/revoke"),
                            {"grant_id": foreign.id, "value": "Contacts.Read"})
        assert refused.status_code == 404
    assert [scope_of(g) for g in grants_of(server, tenant.id, app.app_id) if g.consent_type == ALL_PRINCIPALS] == [
        {"User.Read"}]
    assert [scope_of(g) for g in grants_of(server, tenant.id, other.app_id)
            if g.consent_type == ALL_PRINCIPALS] == [{"User.Read", "Contacts.Read"}]
    [event, *_] = audit_events(server, tenant.id, "Update delegated permission grant")
    assert event["initiated_by"]["user"]["userPrincipalName"] == admin.user_principal_name
    assert other_sp.id != sp.id


def test_grant_admin_consent_replaces_the_tenant_wide_grant_with_the_static_list(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin, user = make_admin(server, tenant), make_user(server, tenant)
    app, sp = consented_app(server, tenant, user)
    with portal_client(server, admin.user_principal_name) as client:
        landed = followed(client, post_form(client, path(sp, "/permissions"), path(sp, "/permissions/grant"), {}))
    assert (f"Granted admin consent for {tenant.display_name}: full_access_as_app, User.Read."
            in text_of(landed))
    found = {(g.consent_type, g.principal_id): scope_of(g) for g in grants_of(server, tenant.id, app.app_id)}
    assert found == {(ALL_PRINCIPALS, None): {"User.Read"}, (PRINCIPAL, user.id): {"Calendars.Read"}}
    text = text_of(landed)
    assert "full_access_as_app Application" in text and admin.user_principal_name in text
    assert "Contacts.Read" not in text


def test_a_cloud_application_administrator_cannot_grant_graph_app_roles(server: RunningServer) -> None:
    tenant = make_tenant(server)
    alex = make_admin(server, tenant, "Cloud Application Administrator")
    app = register(server, tenant, roles={MICROSOFT_GRAPH: ("User.Read.All",)})
    sp = sp_of(server, tenant, app)
    with portal_client(server, alex.user_principal_name) as client:
        refused = post_form(client, path(sp, "/permissions"), path(sp, "/permissions/grant"), {})
    assert refused.status_code == 400
    text = text_of(refused)
    assert "Admin consent was not granted. AADSTS90093: " in text and "Nothing was changed." in text
    assert ("Cloud Application Administrators and Application Administrators cannot grant application permissions "
            "(app roles) of Microsoft Graph") in text
    with server.ctx.uow.read() as tx:
        assert tx.tenant(tenant.id).grants.list_assignments(principal_ids=[sp.id]) == []


# --- Users and groups ---------------------------------------------------------------------------------------
def test_users_and_groups_are_assigned_and_removed(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin, user = make_admin(server, tenant), make_user(server, tenant)
    group = directory.create_group(server.ctx, tenant.id, unique("Payroll team "), TEST_ACTOR)
    sp = sp_of(server, tenant, make_app(server, tenant))
    users = path(sp, "/users")
    with portal_client(server, admin.user_principal_name) as client:
        found = client.get(users, params={"find": user.display_name[:6]})
        assert f'href="{users}?principal={user.id}#add"' in found.text
        assert '<label for="principal">User or group</label>' in found.text
        added = followed(client, post_form(client, users, users, {"action": "add", "app_role_id": NIL_GUID,
                                                                  "principal": user.user_principal_name}))
        assert f"Assigned {user.display_name} to {sp.display_name} as Default Access." in text_of(added)
        followed(client, post_form(client, users, users, {"action": "add", "app_role_id": NIL_GUID,
                                                          "principal": group.display_name}))
        page = text_of(client.get(users))
        assert f"{user.display_name} User Default Access" in page
        assert f"{group.display_name} Group Default Access" in page
        missing = post_form(client, users, users, {"action": "add", "app_role_id": NIL_GUID, "principal": "nobody"})
        assert missing.status_code == 400 and "No user or group 'nobody' was found" in text_of(missing)
        with server.ctx.uow.read() as tx:
            [held] = tx.tenant(tenant.id).grants.list_assignments(principal_ids=[user.id], resource_id=sp.id)
        removed = followed(client, post_form(client, users, users, {"action": "remove", "assignment_id": held.id,
                                                                    "name": user.display_name}))
        assert f"Removed the assignment of {user.display_name} from {sp.display_name}." in text_of(removed)
        assert f"{user.display_name} User" not in text_of(removed)
    assigned = audit_events(server, tenant.id, "Add app role assignment grant to user")
    assert [e["target_resources"][1]["id"] for e in assigned if e["target_resources"][0]["id"] == sp.id] == [user.id]
    with server.ctx.uow.read() as tx:
        assert [a.principal_id for a in tx.tenant(tenant.id).grants.list_assignments(resource_id=sp.id)] == [group.id]


# --- Audit logs -------------------------------------------------------------------------------------------
def test_audit_logs_show_this_apps_records_only(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = make_admin(server, tenant)
    mine, theirs = sp_of(server, tenant, make_app(server, tenant)), sp_of(server, tenant, make_app(server, tenant))
    apps.update_service_principal(server.ctx, tenant.id, theirs.id, TEST_ACTOR, account_enabled=False)
    with portal_client(server, admin.user_principal_name) as client:
        followed(client, post_form(client, path(mine), path(mine), properties_form(required="yes")))
        page = client.get(path(mine, "/audit"))
        stale = client.get(path(mine, "/audit"), params={"page": "x.[1]"})
    assert stale.status_code == 200
    assert "That page link is not valid any more; showing the newest records." in text_of(stale)
    text = text_of(page)
    assert "Update service principal ApplicationManagement " + admin.user_principal_name in text
    assert "AppRoleAssignmentRequired: False → True" in text
    assert "Add service principal" in text and "Add delegated permission grant" in text
    assert theirs.display_name not in text and "AccountEnabled: True → False" not in text


# --- who may do what -----------------------------------------------------------------------------------------
def test_a_global_reader_sees_everything_disabled_and_cannot_change_anything(server: RunningServer) -> None:
    tenant = make_tenant(server)
    reader = make_admin(server, tenant, "Global Reader")
    user = make_user(server, tenant)
    app, sp = consented_app(server, tenant, user)
    before = grants_of(server, tenant.id, app.app_id)
    with portal_client(server, reader.user_principal_name) as client:
        page = client.get(path(sp))
        assert re.search(r'<select id="account_enabled" name="account_enabled" [^>]*disabled>', page.text)
        assert re.search(r'<button type="submit" class="danger" [^>]*disabled>Delete</button>', page.text)
        assert "You can view this application." in text_of(page)
        perms = client.get(path(sp, "/permissions"))
        assert re.search(r"disabled>Grant admin consent for", perms.text)
        token = csrf(page)
        for action, data in ((path(sp), properties_form(enabled="no")), (path(sp, "/delete"), {}),
                             (path(sp, "/permissions/grant"), {}), (path(sp, "/users"),
                                                                    {"action": "add", "principal": user.id})):
            refused = client.post(action, data={"csrf_token": token, **data})
            assert refused.status_code == 403, action
            assert "Your directory roles let you view this page but not change it." in text_of(refused)
        assert client.get(path(sp, "/users")).status_code == 200 and client.get(path(sp, "/audit")).status_code == 200
    assert apps.find_service_principal(server.ctx, tenant.id, object_id=sp.id).account_enabled is True
    assert grants_of(server, tenant.id, app.app_id) == before


def test_a_user_without_a_directory_role_is_refused(server: RunningServer) -> None:
    tenant = make_tenant(server)
    user = make_user(server, tenant)
    sp = sp_of(server, tenant, make_app(server, tenant))
    with portal_client(server, user.user_principal_name) as client:
        for url in (APPS, path(sp), path(sp, "/permissions"), path(sp, "/users"), path(sp, "/audit")):
            refused = client.get(url)
            assert refused.status_code == 403 and "You don't have access" in refused.text, url


def test_a_form_without_its_anti_forgery_token_changes_nothing(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = make_admin(server, tenant)
    sp = sp_of(server, tenant, make_app(server, tenant))
    with portal_client(server, admin.user_principal_name) as client:
        client.get(path(sp))
        for action, data in ((path(sp), properties_form(enabled="no")), (path(sp, "/delete"), {})):
            refused = client.post(action, data=data)
            assert refused.status_code == 403 and "AADSTS50089" in text_of(refused), action
            forged = client.post(action, data={"csrf_token": "0" * 64, **data})
            assert forged.status_code == 403
    assert apps.find_service_principal(server.ctx, tenant.id, object_id=sp.id).account_enabled is True


def test_another_tenants_or_an_unknown_application_is_not_found(server: RunningServer) -> None:
    tenant, other = make_tenant(server), make_tenant(server)
    admin = make_admin(server, tenant)
    foreign = sp_of(server, other, make_app(server, other))
    own = sp_of(server, tenant, make_app(server, tenant))
    with portal_client(server, admin.user_principal_name) as client:
        for url in (path(foreign), path(foreign, "/permissions"), path(foreign, "/users"), path(foreign, "/audit"),
                    f"{APPS}/{new_guid()}", f"{APPS}/not-a-guid"):
            missing = client.get(url)
            assert missing.status_code == 404 and "Application not found" in missing.text, url
        refused = post_form(client, path(own), path(foreign), properties_form(enabled="no"))
        assert refused.status_code == 404
    assert apps.find_service_principal(server.ctx, other.id, object_id=foreign.id).account_enabled is True

