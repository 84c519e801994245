"""The portal's Consent and permissions pages over HTTP (spec §6.1, §6.2, §6.5, §9): the four user consent
options and what they change for a user signing in, the read-only custom setting, the risky-app switch,
permission classifications, and who may change what (roles, anti-forgery tokens)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from tests.protocol.helpers import TEST_ACTOR, authorize_params, make_app, make_tenant, make_user
from tests.support.server import RunningServer
from tests.web.portal_helpers import portal_client, post_form, text_of
from tests.web.test_consent import need_admin_approval, to_consent_page

from consentry.domain.builtin import EXCHANGE_ONLINE, MICROSOFT_GRAPH
from consentry.domain.consent_policy import USER_CONSENT_SETTINGS
from consentry.domain.directory import Tenant, User
from consentry.domain.odata import ODataQuery
from consentry.services import apps, audit, classifications, directory, grant_policies, policies

TEAM = "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-team"
CHAT = "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-chat"
DEVELOPER = "ManagePermissionGrantsForOwnedResource.DeveloperConsent"
LABELS = {
    "none": "Do not allow user consent",
    "low": "Allow user consent for apps from verified publishers, for selected permissions (Recommended)",
    "legacy": "Allow user consent for apps",
    "recommended": "Let Microsoft manage your consent settings (Recommended)",
}


def admin_with(server: RunningServer, tenant: Tenant, role: str | None) -> User:
    user = make_user(server, tenant)
    if role:
        directory.assign_role(server.ctx, tenant.id, user.user_principal_name, role, TEST_ACTOR)
    return user


def settings_of(server: RunningServer, tenant: Tenant) -> tuple[tuple[str, ...], bool]:
    found = policies.get_consent_settings(server.ctx, tenant.id)
    return found.permission_grant_policies_assigned, found.block_user_consent_for_risky_apps


def audits(server: RunningServer, tenant: Tenant, activity: str) -> list[dict[str, Any]]:
    events, _ = audit.page_directory_audits(server.ctx, tenant.id, ODataQuery(top=100))
    return [e for e in events if e["activity_display_name"] == activity]


def graph_sp_id(server: RunningServer, tenant: Tenant, app_id: str = MICROSOFT_GRAPH) -> str:
    return apps.find_service_principal(server.ctx, tenant.id, app_id=app_id).id


def scope_id(server: RunningServer, tenant: Tenant, value: str, app_id: str = MICROSOFT_GRAPH) -> str:
    sp = apps.find_service_principal(server.ctx, tenant.id, app_id=app_id)
    return next(s.id for s in sp.scopes if s.value == value)


def classified(server: RunningServer, tenant: Tenant, app_id: str = MICROSOFT_GRAPH) -> list[str]:
    return sorted(c.permission_name for c in classifications.list_classifications(
        server.ctx, tenant.id, graph_sp_id(server, tenant, app_id)))


def save(client: httpx.Client, data: dict[str, str]) -> httpx.Response:
    return post_form(client, "/portal/consent", "/portal/consent", data)


def follow(client: httpx.Client, response: httpx.Response) -> httpx.Response:
    assert response.status_code == 303, (response.status_code, text_of(response)[:500])
    return client.get(response.headers["location"])


def checked_option(page: httpx.Response) -> list[str]:
    return re.findall(r'name="user_consent" value="(\w+)"\s+aria-describedby="[^"]+" checked', page.text)


# --- the four options ------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["none", "low", "legacy", "recommended"])
def test_each_user_consent_option_is_saved_keeping_the_other_entries(server: RunningServer, option: str) -> None:
    tenant = make_tenant(server)
    start = "legacy" if option == "none" else "none"
    policies.update_authorization_policy(server.ctx, tenant.id, TEST_ACTOR,
                                         permission_grant_policies_assigned=[TEAM, DEVELOPER, CHAT])
    policies.set_user_consent(server.ctx, tenant.id, start, TEST_ACTOR)
    admin = admin_with(server, tenant, "Global Administrator")
    with portal_client(server, admin.user_principal_name) as client:
        before = client.get("/portal/consent")
        assert checked_option(before) == [start]
        shown = follow(client, save(client, {"user_consent": option, "block_risky_apps": "on"}))
    assert f"User consent settings saved. User consent for applications: {LABELS[option]}." in text_of(shown)
    assert checked_option(shown) == [option]
    self_entries = tuple(f"ManagePermissionGrantsForSelf.{p}" for p in USER_CONSENT_SETTINGS[option])
    assert settings_of(server, tenant) == ((TEAM, DEVELOPER, CHAT, *self_entries), True)
    [record] = [e for e in audits(server, tenant, "Update authorization policy")
                if e["initiated_by"]["user"] and e["initiated_by"]["user"]["id"] == admin.id]
    [target] = record["target_resources"]
    assert target["id"] == "authorizationPolicy"
    [change] = target["modifiedProperties"]
    assert change["displayName"] == "DefaultUserRolePermissions.PermissionGrantPoliciesAssigned"


def test_the_page_uses_entras_labels(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Administrator")
    with portal_client(server, admin.user_principal_name) as client:
        page = client.get("/portal/consent")
        text = text_of(page)
        assert page.status_code == 200
        assert '<h2 id="user-consent">User consent for applications</h2>' in page.text
        for label in LABELS.values():
            assert label in text
        assert checked_option(page) == ["recommended"]  # a new tenant's default
        assert "Block user consent for risky apps" in text
        assert re.search(r'name="block_risky_apps" value="on"\s+aria-describedby="block-risky-apps-help" checked',
                         page.text)
        assert re.search(r'<button type="submit" class="primary"\s*>Save</button>', page.text)
        assert "Admin consent requests" in text and "Admin consent settings" in text
        hrefs = set(re.findall(r'href="(/portal[^"]*)"', page.text))
        assert "/portal/consent/classifications" in hrefs
        assert not any("admin-consent" in h for h in hrefs)  # no link to a page that does not exist yet
        mine = {h for h in hrefs if h.startswith("/portal/consent")}
        assert {h: client.get(h).status_code for h in mine} == dict.fromkeys(mine, 200)


# --- what the setting changes for a user signing in ------------------------------------------------------
def test_do_not_allow_then_let_microsoft_manage_changes_what_a_user_sees(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Administrator")
    user = make_user(server, tenant)
    app = make_app(server, tenant, grant=None)
    with portal_client(server, admin.user_principal_name) as client:
        follow(client, save(client, {"user_consent": "none", "block_risky_apps": "on"}))
    with server.client() as browser:
        page = to_consent_page(browser, tenant.id, authorize_params(app, scope="openid User.Read"),
                               user.user_principal_name)
    need_admin_approval(page, "user_consent_not_allowed")
    with portal_client(server, admin.user_principal_name) as client:
        follow(client, save(client, {"user_consent": "recommended", "block_risky_apps": "on"}))
    with server.client() as browser:
        page = to_consent_page(browser, tenant.id, authorize_params(app, scope="openid User.Read"),
                               user.user_principal_name)
    assert "<h1>Permissions requested</h1>" in page.text
    assert "Need admin approval" not in page.text


def test_low_lets_users_consent_to_what_the_portal_classified(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Administrator")
    user = make_user(server, tenant)
    app = make_app(server, tenant, grant=None)
    with portal_client(server, admin.user_principal_name) as client:
        follow(client, save(client, {"user_consent": "low", "block_risky_apps": "on"}))
        data = {"api": graph_sp_id(server, tenant), "action": "add",
                **{f"permission:{scope_id(server, tenant, v)}": "on" for v in ("openid", "User.Read")}}
        follow(client, post_form(client, "/portal/consent/classifications", "/portal/consent/classifications", data))
    with server.client() as browser:
        page = to_consent_page(browser, tenant.id, authorize_params(app, scope="openid User.Read"),
                               user.user_principal_name)
    assert "<h1>Permissions requested</h1>" in page.text


# --- custom setting and the risky switch -----------------------------------------------------------------
def test_a_setting_customized_through_graph_is_shown_read_only_and_kept(server: RunningServer) -> None:
    tenant = make_tenant(server)
    grant_policies.create_policy(server.ctx, tenant.id, TEST_ACTOR, policy_id="help-desk", display_name="Help desk",
                                 includes=[{"permission_type": "delegated"}])
    policies.set_user_consent(server.ctx, tenant.id, "custom", TEST_ACTOR, custom_policy_ids=["help-desk"])
    admin = admin_with(server, tenant, "Privileged Role Administrator")
    with portal_client(server, admin.user_principal_name) as client:
        page = client.get("/portal/consent")
        text = text_of(page)
        assert "Your user consent settings have been customized using Microsoft Graph" in text
        assert "ManagePermissionGrantsForSelf.help-desk — Help desk" in text
        assert checked_option(page) == []
        shown = follow(client, save(client, {}))  # no option chosen, risky switch off
    assert "User consent for applications: customized using Microsoft Graph. Block user consent for risky apps: " \
           "Off." in text_of(shown)
    assert settings_of(server, tenant) == ((TEAM, CHAT, "ManagePermissionGrantsForSelf.help-desk"), False)


def test_saving_without_an_option_is_refused_when_the_setting_is_not_custom(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Administrator")
    before = settings_of(server, tenant)
    with portal_client(server, admin.user_principal_name) as client:
        refused = save(client, {"block_risky_apps": "on"})
        odd = save(client, {"user_consent": "everything", "block_risky_apps": "on"})
    assert refused.status_code == 400 and odd.status_code == 400
    assert 'Choose one of the options under "User consent for applications".' in text_of(refused)
    assert settings_of(server, tenant) == before


def test_the_risky_app_switch_turns_off_and_on(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Administrator")
    with portal_client(server, admin.user_principal_name) as client:
        off = follow(client, save(client, {"user_consent": "recommended"}))
        assert "Block user consent for risky apps: Off." in text_of(off)
        assert settings_of(server, tenant)[1] is False
        assert 'name="block_risky_apps" value="on"\n               aria-describedby="block-risky-apps-help" >' \
            in off.text
        again = follow(client, save(client, {"user_consent": "recommended"}))
        assert "Nothing to save: the settings were already as chosen." in text_of(again)
        on = follow(client, save(client, {"user_consent": "recommended", "block_risky_apps": "on"}))
        assert "Block user consent for risky apps: On." in text_of(on)
    assert settings_of(server, tenant)[1] is True
    changes = [e["target_resources"][0]["modifiedProperties"] for e in
               audits(server, tenant, "Update authorization policy")]
    risky = [[(m["oldValue"], m["newValue"]) for m in c if m["displayName"] == "BlockUserConsentForRiskyApps"]
             for c in changes]
    assert sorted(r[0] for r in risky if r) == [('"False"', '"True"'), ('"True"', '"False"')]


# --- permission classifications ---------------------------------------------------------------------------
def classifications_page(client: httpx.Client, query: str = "") -> httpx.Response:
    return client.get(f"/portal/consent/classifications{query}")


def test_classifications_are_added_and_removed_and_audited(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Administrator")
    graph = graph_sp_id(server, tenant)
    path = "/portal/consent/classifications"
    with portal_client(server, admin.user_principal_name) as client:
        page = classifications_page(client)
        assert page.status_code == 200
        assert f'<option value="{graph}" selected>Microsoft Graph</option>' in page.text
        offered = re.findall(r'name="permission:([0-9a-f-]+)"', page.text)
        assert scope_id(server, tenant, "User.Read") in offered
        assert scope_id(server, tenant, "User.Read.All") not in offered  # needs an administrator
        assert "No permission of Microsoft Graph is classified as low impact" in text_of(page)
        data = {"api": graph, "action": "add", f"permission:{scope_id(server, tenant, 'openid')}": "on",
                f"permission:{scope_id(server, tenant, 'User.Read')}": "on"}
        shown = follow(client, post_form(client, path, path, data))
        assert "Added to Low for Microsoft Graph: openid, User.Read." in text_of(shown)
        assert re.findall(r'<td data-label="Permission"><code>([^<]+)</code>', shown.text) == ["openid", "User.Read"]
        assert scope_id(server, tenant, "User.Read") not in re.findall(r'name="permission:([0-9a-f-]+)"', shown.text)
        assert classified(server, tenant) == ["User.Read", "openid"]
        user_read = next(c for c in classifications.list_classifications(server.ctx, tenant.id, graph)
                         if c.permission_name == "User.Read")
        removed = follow(client, post_form(client, path, path, {"api": graph, "action": "remove",
                                                                "classification": user_read.id}))
        assert "Removed User.Read from Low for Microsoft Graph." in text_of(removed)
    assert classified(server, tenant) == ["openid"]
    added = audits(server, tenant, "Add delegated permission classification")
    assert sorted(json_value(e) for e in added) == ['"User.Read"', '"openid"']
    assert {e["initiated_by"]["user"]["userPrincipalName"] for e in added} == {admin.user_principal_name}
    [gone] = audits(server, tenant, "Remove delegated permission classification")
    assert gone["target_resources"][0]["id"] == graph
    assert gone["initiated_by"]["user"]["userPrincipalName"] == admin.user_principal_name


def json_value(event: dict[str, Any]) -> str:
    props = event["target_resources"][0]["modifiedProperties"]
    found = next(p for p in props if p["displayName"] == "DelegatedPermissionClassification.PermissionName")
    return str(found["newValue"] or found["oldValue"])


def test_classifying_an_admin_only_or_already_classified_permission_is_a_clear_error(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Cloud Application Administrator")
    graph = graph_sp_id(server, tenant)
    path = "/portal/consent/classifications"
    classifications.classify_permission(server.ctx, tenant.id, graph, TEST_ACTOR, permission_id=None,
                                        permission_name="profile", classification="low")
    with portal_client(server, admin.user_principal_name) as client:
        admin_only = post_form(client, path, path, {"api": graph, "action": "add",
                                                    f"permission:{scope_id(server, tenant, 'User.Read.All')}": "on"})
        twice = post_form(client, path, path, {"api": graph, "action": "add",
                                               f"permission:{scope_id(server, tenant, 'profile')}": "on"})
        none_chosen = post_form(client, path, path, {"api": graph, "action": "add"})
    assert admin_only.status_code == 400
    assert "only permissions that don't need an administrator can be classified" in text_of(admin_only)
    assert twice.status_code == 409 and "The permission 'profile' is already classified." in text_of(twice)
    assert none_chosen.status_code == 400 and "Select at least one permission to add." in text_of(none_chosen)
    assert classified(server, tenant) == ["profile"]


def test_the_api_is_chosen_from_the_service_principals_that_publish_delegated_permissions(
        server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Reader")
    exchange = graph_sp_id(server, tenant, EXCHANGE_ONLINE)
    classifications.classify_permission(server.ctx, tenant.id, exchange, TEST_ACTOR, permission_id=None,
                                        permission_name="IMAP.AccessAsUser.All", classification="low")
    with portal_client(server, admin.user_principal_name) as client:
        page = classifications_page(client, f"?api={exchange}")
        missing = classifications_page(client, "?api=00000000-0000-0000-0000-00000000beef")
    assert page.status_code == 200
    options = re.findall(r'<option value="([0-9a-f-]+)"\s*(selected)?\s*>([^<]+)</option>', page.text)
    assert options[0][2] == "Microsoft Graph"
    assert (exchange, "selected", "Office 365 Exchange Online") in options
    assert re.findall(r'<td data-label="Permission"><code>([^<]+)</code>', page.text) == ["IMAP.AccessAsUser.All"]
    assert missing.status_code == 404
    assert "No API with that ID publishes delegated permissions in this organization." in text_of(missing)


def test_medium_and_high_are_not_available(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Administrator")
    with portal_client(server, admin.user_principal_name) as client:
        medium = classifications_page(client, "?level=medium")
        high = classifications_page(client, "?level=high")
    assert "Medium classifications are not available: only Low is supported" in text_of(medium)
    assert "High classifications are not available: only Low is supported" in text_of(high)
    assert "Add permissions" not in text_of(medium)


# --- who may change what -----------------------------------------------------------------------------
def test_a_cloud_application_administrator_may_classify_but_not_change_user_consent(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Cloud Application Administrator")
    before = settings_of(server, tenant)
    path = "/portal/consent/classifications"
    with portal_client(server, admin.user_principal_name) as client:
        page = client.get("/portal/consent")
        assert page.status_code == 200
        assert "Changing them needs the Global Administrator or Privileged Role Administrator role." in text_of(page)
        assert '<button type="submit" class="primary" disabled>Save</button>' in page.text
        refused = save(client, {"user_consent": "legacy", "block_risky_apps": "on"})
        added = follow(client, post_form(client, path, path, {
            "api": graph_sp_id(server, tenant), "action": "add",
            f"permission:{scope_id(server, tenant, 'email')}": "on"}))
    assert refused.status_code == 403
    assert "Your directory roles let you view this page but not change it. Nothing was changed." in text_of(refused)
    assert settings_of(server, tenant) == before
    assert "Added to Low for Microsoft Graph: email." in text_of(added)
    assert classified(server, tenant) == ["email"]


def test_a_global_reader_sees_everything_but_changes_nothing(server: RunningServer) -> None:
    tenant = make_tenant(server)
    reader = admin_with(server, tenant, "Global Reader")
    before = settings_of(server, tenant)
    graph = graph_sp_id(server, tenant)
    classifications.classify_permission(server.ctx, tenant.id, graph, TEST_ACTOR, permission_id=None,
                                        permission_name="openid", classification="low")
    [openid] = classifications.list_classifications(server.ctx, tenant.id, graph)
    path = "/portal/consent/classifications"
    with portal_client(server, reader.user_principal_name) as client:
        page = client.get("/portal/consent")
        listing = classifications_page(client)
        assert page.status_code == 200 and listing.status_code == 200
        assert checked_option(page) == ["recommended"]
        assert page.text.count('class="cs-group" aria-labelledby="user-consent" disabled') == 1
        assert '<button type="submit" class="danger" aria-label="Remove openid" disabled>Remove</button>' \
            in listing.text
        assert '<button type="submit" class="primary" disabled>Add permissions</button>' in listing.text
        refused = [save(client, {"user_consent": "none"}),
                   post_form(client, path, path, {"api": graph, "action": "add",
                                                  f"permission:{scope_id(server, tenant, 'email')}": "on"}),
                   post_form(client, path, path, {"api": graph, "action": "remove", "classification": openid.id})]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert all("Nothing was changed." in text_of(r) for r in refused)
    assert settings_of(server, tenant) == before
    assert classified(server, tenant) == ["openid"]


def test_a_user_without_a_directory_role_is_refused(server: RunningServer) -> None:
    tenant = make_tenant(server)
    user = admin_with(server, tenant, None)
    with portal_client(server, user.user_principal_name) as client:
        pages = [client.get("/portal/consent"), classifications_page(client)]
        posted = client.post("/portal/consent", data={"user_consent": "none"})
    assert [p.status_code for p in pages] == [403, 403]
    assert all("You don't have access" in text_of(p) for p in pages)
    assert posted.status_code == 403
    assert settings_of(server, tenant)[0] == policies.DEFAULT_ASSIGNED


def test_a_form_without_its_anti_forgery_token_changes_nothing(server: RunningServer) -> None:
    tenant = make_tenant(server)
    admin = admin_with(server, tenant, "Global Administrator")
    graph = graph_sp_id(server, tenant)
    before = settings_of(server, tenant)
    with portal_client(server, admin.user_principal_name) as client:
        client.get("/portal/consent")  # the anti-forgery cookie is set, but the form does not carry its token
        missing = client.post("/portal/consent", data={"user_consent": "none"})
        wrong = client.post("/portal/consent", data={"user_consent": "none", "csrf_token": "0" * 64})
        classify = client.post("/portal/consent/classifications", data={
            "api": graph, "action": "add", f"permission:{scope_id(server, tenant, 'openid')}": "on"})
    for response in (missing, wrong, classify):
        assert response.status_code == 403
        assert "The form could not be verified" in text_of(response)
    assert settings_of(server, tenant) == before
    assert classified(server, tenant) == []
