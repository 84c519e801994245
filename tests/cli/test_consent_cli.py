"""``consentry consent settings show|set`` and ``consentry app consent-url``, driven through Typer's CliRunner
against a fresh SQLite database per test (as in ``test_cli.py``); and the demo's "Do not allow user consent"
for Contoso, which a restart does not undo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.cli import Run, as_json, assert_one_error_line, ok

from consentry import runtime
from consentry.config import Settings
from consentry.domain.builtin import MICROSOFT_GRAPH
from consentry.services import grant_policies, policies
from consentry.services.context import CLI
from consentry.services.demo import APPLE_TENANT_ID, CONTOSO_TENANT_ID, seed_demo

TEAM = "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-team"
CHAT = "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-chat"
DEVELOPER = "ManagePermissionGrantsForOwnedResource.DeveloperConsent"
RECOMMENDED = "ManagePermissionGrantsForSelf.microsoft-user-default-recommended"
MAIL_APPS = "ManagePermissionGrantsForSelf.microsoft-user-default-allow-consent-apps"
LOW = "ManagePermissionGrantsForSelf.microsoft-user-default-low"
LEGACY = "ManagePermissionGrantsForSelf.microsoft-user-default-legacy"


@pytest.fixture
def rt(data_dir: Path, contoso: str) -> Iterator[runtime.Runtime]:
    """The runtime over the database the CLI writes to, for setting up and checking."""
    built = runtime.build(Settings(data_dir=data_dir))
    yield built
    built.close()


def show(cli: Run, tenant: str = "contoso.example") -> dict[str, Any]:
    return dict(as_json(cli("consent", "settings", "show", "--tenant", tenant, "--json")))


# --- consent settings show ---------------------------------------------------------------------------------
def test_a_new_tenant_shows_microsofts_default(cli: Run, contoso: str) -> None:
    assert show(cli) == {"tenantId": contoso, "userConsent": "recommended",
                         "permissionGrantPoliciesAssigned": [TEAM, CHAT, RECOMMENDED, MAIL_APPS],
                         "blockUserConsentForRiskyApps": True}


def test_show_as_a_table_names_the_portal_option(cli: Run, contoso: str) -> None:
    out = ok(cli("consent", "settings", "show", "--tenant", contoso)).stdout
    lines = out.splitlines()
    assert lines[0].split() == ["Tenant:", contoso]
    assert lines[1].split(None, 2) == ["User", "consent:", "recommended (Let Microsoft manage your consent settings)"]
    assert [line.strip() for line in lines[3:7]] == [TEAM, CHAT, RECOMMENDED, MAIL_APPS]
    assert lines[-1].split() == ["blockUserConsentForRiskyApps:", "true"]


# --- consent settings set ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("option", "self_entries"), [
    ("none", []), ("low", [LOW]), ("legacy", [LEGACY]), ("recommended", [RECOMMENDED, MAIL_APPS]),
    ("LOW", [LOW])])
def test_each_portal_option_keeps_the_other_entries(cli: Run, rt: runtime.Runtime, contoso: str, option: str,
                                                    self_entries: list[str]) -> None:
    policies.update_authorization_policy(rt.ctx, contoso, CLI, permission_grant_policies_assigned=[
        DEVELOPER, TEAM, "managePermissionGrantsForSelf.microsoft-user-default-legacy"])
    shown = as_json(cli("consent", "settings", "set", "--tenant", "contoso.example", "--user-consent", option,
                        "--json"))
    assert shown["permissionGrantPoliciesAssigned"] == [DEVELOPER, TEAM, *self_entries]
    assert shown["userConsent"] == option.lower()
    assert show(cli) == shown


def test_custom_policies_by_id(cli: Run, rt: runtime.Runtime, contoso: str) -> None:
    grant_policies.create_policy(rt.ctx, contoso, CLI, policy_id="help-desk", display_name="Help desk",
                                 includes=[{"permission_type": "delegated"}])
    custom = as_json(cli("consent", "settings", "set", "--tenant", contoso, "--policy", "help-desk", "--json"))
    assert custom["userConsent"] == "custom"
    assert custom["permissionGrantPoliciesAssigned"] == [TEAM, CHAT, "ManagePermissionGrantsForSelf.help-desk"]
    both = as_json(cli("consent", "settings", "set", "--tenant", contoso, "--user-consent", "low",
                       "--policy", "help-desk", "--json"))
    assert both["permissionGrantPoliciesAssigned"] == [TEAM, CHAT, LOW, "ManagePermissionGrantsForSelf.help-desk"]
    assert both["userConsent"] == "custom"
    settings = policies.get_consent_settings(rt.ctx, contoso)
    assert [p.id for p in settings.self_policies] == ["microsoft-user-default-low", "help-desk"]


def test_risky_apps_block_and_allow(cli: Run, rt: runtime.Runtime, contoso: str) -> None:
    allowed = as_json(cli("consent", "settings", "set", "--tenant", contoso, "--allow-risky-apps", "--json"))
    assert allowed["blockUserConsentForRiskyApps"] is False
    assert allowed["permissionGrantPoliciesAssigned"] == [TEAM, CHAT, RECOMMENDED, MAIL_APPS]
    both = as_json(cli("consent", "settings", "set", "--tenant", contoso, "--block-risky-apps",
                       "--user-consent", "none", "--json"))
    assert (both["blockUserConsentForRiskyApps"], both["userConsent"]) == (True, "none")
    assert policies.get_consent_settings(rt.ctx, contoso).block_user_consent_for_risky_apps is True


def test_changes_are_audited_as_the_cli(cli: Run, rt: runtime.Runtime, contoso: str) -> None:
    ok(cli("consent", "settings", "set", "--tenant", contoso, "--user-consent", "low"))
    ok(cli("consent", "settings", "set", "--tenant", contoso, "--user-consent", "low"))  # no change, no record
    with rt.ctx.uow.read() as tx:
        events = [e for e in tx.tenant(contoso).audit.list_events()
                  if e["activity_display_name"] == "Update authorization policy"]
    (event,) = events
    assert (event["category"], event["operation_type"]) == ("Policy", "Update")
    assert event["initiated_by"]["app"]["displayName"] == "Consentry CLI"
    (change,) = event["target_resources"][0]["modifiedProperties"]
    assert json.loads(change["newValue"]) == [TEAM, CHAT, LOW]


def test_set_prints_a_table_by_default(cli: Run, contoso: str) -> None:
    out = ok(cli("consent", "settings", "set", "--tenant", contoso, "--user-consent", "none")).stdout
    assert "none (Do not allow user consent)" in out
    assert LOW not in out and RECOMMENDED not in out and TEAM in out


@pytest.mark.parametrize(("args", "starts_with"), [
    ((), "error: Nothing to change"),
    (("--user-consent", "everyone"), "error: Unknown user consent setting 'everyone'"),
    (("--policy", "nope"), "error: No permission grant policy 'nope' exists in this tenant"),
    (("--user-consent", "none", "--policy", "microsoft-user-default-low"), "error: User consent 'none' cannot"),
    (("--user-consent", "custom"), "error: User consent 'custom' needs at least one"),
])
def test_set_errors_are_one_line_and_change_nothing(cli: Run, contoso: str, args: tuple[str, ...],
                                                    starts_with: str) -> None:
    before = show(cli)
    assert_one_error_line(cli("consent", "settings", "set", "--tenant", contoso, *args), starts_with)
    assert show(cli) == before


def test_an_unknown_tenant_is_the_AADSTS90002_line(cli: Run, contoso: str) -> None:
    assert_one_error_line(cli("consent", "settings", "show", "--tenant", "nowhere.example"), "error: AADSTS90002:")
    assert_one_error_line(cli("consent", "settings", "set", "--tenant", "nowhere.example", "--user-consent", "low"),
                          "error: AADSTS90002:")


# --- app consent-url ---------------------------------------------------------------------------------------
def test_consent_url_of_a_builtin_app_for_any_organization(cli: Run, contoso: str) -> None:
    lines = ok(cli("app", "consent-url", MICROSOFT_GRAPH.upper())).stdout.splitlines()
    assert lines == ["Admin consent URL for Microsoft Graph:",
                     f"  https://localhost:8443/organizations/adminconsent?client_id={MICROSOFT_GRAPH}",
                     "Short link:", f"  https://localhost:8443/consent/{MICROSOFT_GRAPH}"]


def test_consent_url_for_a_tenant_with_a_base_url(cli: Run, contoso: str) -> None:
    registered = as_json(cli("app", "register", "Payroll", "--tenant", contoso, "--audience", "AzureADMultipleOrgs",
                             "--json"))
    shown = as_json(cli("app", "consent-url", registered["appId"], "--tenant", "contoso.example",
                        "--base-url", "https://id.example.com/", "--json"))
    assert shown == {"appId": registered["appId"], "displayName": "Payroll", "tenant": contoso,
                     "adminConsentUrl": f"https://id.example.com/{contoso}/adminconsent?client_id={registered['appId']}",
                     "consentUrl": f"https://id.example.com/consent/{registered['appId']}"}


def test_consent_url_uses_the_configured_public_url(cli: Run, contoso: str) -> None:
    shown = as_json(cli("app", "consent-url", MICROSOFT_GRAPH, "--json",
                        env={"CONSENTRY_PUBLIC_URL": "https://login.contoso.example/"}))
    assert shown["adminConsentUrl"] == (f"https://login.contoso.example/organizations/adminconsent?"
                                        f"client_id={MICROSOFT_GRAPH}")
    assert shown["consentUrl"] == f"https://login.contoso.example/consent/{MICROSOFT_GRAPH}"


def test_a_single_tenant_app_has_no_consent_url_in_another_tenant(cli: Run, contoso: str) -> None:
    fabrikam = as_json(cli("tenant", "create", "Fabrikam", "--domain", "fabrikam.example", "--json"))["id"]
    registered = as_json(cli("app", "register", "Internal", "--tenant", contoso, "--json"))
    assert_one_error_line(cli("app", "consent-url", registered["appId"], "--tenant", fabrikam),
                          f"error: Internal ({registered['appId']}) is single-tenant")
    assert ok(cli("app", "consent-url", registered["appId"], "--tenant", contoso)).stdout


@pytest.mark.parametrize(("args", "starts_with"), [
    (("not-a-guid",), "error: 'not-a-guid' is not an appId (a GUID)."),
    (("0b3c1d2e-0000-4000-8000-000000000000",),
     "error: No application with appId '0b3c1d2e-0000-4000-8000-000000000000' exists."),
    ((MICROSOFT_GRAPH, "--base-url", "ftp://id.example.com"), "error: --base-url must be an http(s) URL"),
    ((MICROSOFT_GRAPH, "--base-url", "id.example.com"), "error: --base-url must be an http(s) URL"),
    ((MICROSOFT_GRAPH, "--tenant", "nowhere.example"), "error: AADSTS90002:"),
])
def test_consent_url_errors_are_one_line(cli: Run, contoso: str, args: tuple[str, ...], starts_with: str) -> None:
    assert_one_error_line(cli("app", "consent-url", *args), starts_with)


# --- the demo ----------------------------------------------------------------------------------------------
@pytest.fixture
def fresh(data_dir: Path) -> Iterator[runtime.Runtime]:
    built = runtime.build(Settings(data_dir=data_dir))
    runtime.prepare(built)
    yield built
    built.close()


def test_the_demo_contoso_does_not_allow_user_consent_and_other_tenants_keep_the_default(
        cli: Run, fresh: runtime.Runtime) -> None:
    summary = seed_demo(fresh.ctx)
    assert 'user consent setting "Do not allow user consent" (in Contoso)' in summary.created
    contoso = show(cli, CONTOSO_TENANT_ID)
    assert contoso["permissionGrantPoliciesAssigned"] == [TEAM, CHAT]
    assert (contoso["userConsent"], contoso["blockUserConsentForRiskyApps"]) == ("none", True)
    apple = show(cli, APPLE_TENANT_ID)
    assert (apple["userConsent"], apple["permissionGrantPoliciesAssigned"]) == (
        "recommended", [TEAM, CHAT, RECOMMENDED, MAIL_APPS])


def test_an_administrators_choice_survives_seeding_again(cli: Run, fresh: runtime.Runtime) -> None:
    seed_demo(fresh.ctx)
    ok(cli("consent", "settings", "set", "--tenant", "contoso.example", "--user-consent", "low"))
    again = seed_demo(fresh.ctx)
    assert again.created == ()
    assert show(cli)["permissionGrantPoliciesAssigned"] == [TEAM, CHAT, LOW]
    with fresh.ctx.uow.read() as tx:
        events = [e for e in tx.tenant(CONTOSO_TENANT_ID).audit.list_events()
                  if e["activity_display_name"] == "Update authorization policy"]
    assert sorted(e["initiated_by"]["app"]["displayName"] for e in events) == ["Consentry CLI", "Consentry demo"]
