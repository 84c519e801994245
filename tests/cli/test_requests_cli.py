"""``consentry requests settings show|set``, ``requests list|show`` and ``requests approve|deny|block``, through
Typer's CliRunner on a fresh SQLite database per test (as in ``test_consent_cli.py``); requests are submitted
through the services on the same database. Every failure is one ``error:`` line on stderr and a non-zero exit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.cli import Run, as_json, assert_one_error_line, ok

from consentry import runtime
from consentry.config import Settings
from consentry.domain.apps import Application
from consentry.domain.consent_requests import APPROVE, COMPLETED, DENY, IN_PROGRESS, UserConsentRequest
from consentry.domain.directory import CLOUD_APPLICATION_ADMINISTRATOR, User
from consentry.domain.grants import ALL_PRINCIPALS
from consentry.domain.ids import new_guid
from consentry.services import apps, consent_requests, directory, grants
from consentry.services.context import SYSTEM

ASKED = "openid https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Read"


@dataclass
class World:
    rt: runtime.Runtime
    tenant_id: str
    admin: User  # Global Administrator, a reviewer
    helper: User  # no role, a reviewer
    outsider: User  # Cloud Application Administrator, not a reviewer
    adele: User
    bianca: User
    app: Application  # multi-tenant, registered in another tenant

    def submit(self, user: User, reason: str = "For the quarterly report.") -> UserConsentRequest:
        return consent_requests.submit_request(self.rt.ctx, self.tenant_id, self.app.app_id, user.id, ASKED, reason,
                                               SYSTEM)


@pytest.fixture
def world(cli: Run, data_dir: Path) -> Iterator[World]:
    tenant_id = str(as_json(cli("tenant", "create", "Contoso", "--domain", "contoso.example", "--json"))["id"])
    publisher = str(as_json(cli("tenant", "create", "Fabrikam", "--domain", "fabrikam.example", "--json"))["id"])
    rt = runtime.build(Settings(data_dir=data_dir))
    try:
        ctx = rt.ctx

        def user(name: str, role: str | None = None) -> User:
            made = directory.create_user(ctx, tenant_id, f"{name}@contoso.example", name.title(), None, SYSTEM)
            if role:
                directory.assign_role(ctx, tenant_id, made.id, role, SYSTEM)
            return made

        registered = apps.register_application(ctx, publisher, Application(
            id=new_guid(), app_id=new_guid(), tenant_id=publisher, display_name="Fabrikam Reports",
            sign_in_audience="AzureADMultipleOrgs", web_redirect_uris=("https://reports.fabrikam.example/cb",)),
            SYSTEM)
        yield World(rt, tenant_id, user("admin", "Global Administrator"), user("helper"),
                    user("outsider", CLOUD_APPLICATION_ADMINISTRATOR.display_name), user("adele"), user("bianca"),
                    registered)
    finally:
        rt.close()


def enable(cli: Run, world: World) -> None:
    ok(cli("requests", "settings", "set", "--tenant", "contoso.example", "--enable", "--notify",
           "--reviewer-user", "admin@contoso.example", "--reviewer-user", world.helper.id))


# --- settings -------------------------------------------------------------------------------------------------
def test_settings_show_a_never_configured_policy(cli: Run, world: World) -> None:
    assert as_json(cli("requests", "settings", "show", "--tenant", "contoso.example", "--json")) == {
        "tenantId": world.tenant_id, "isEnabled": False, "notifyReviewers": False, "remindersEnabled": False,
        "requestDurationInDays": 0, "version": 0, "reviewers": []}
    text = ok(cli("requests", "settings", "show", "--tenant", world.tenant_id)).stdout
    assert "isEnabled:               false" in text and "reviewers:               (none)" in text


def test_settings_set_round_trip(cli: Run, world: World) -> None:
    group = directory.create_group(world.rt.ctx, world.tenant_id, "Consent reviewers", SYSTEM,
                                   member_ids=[world.helper.id])
    shown = as_json(cli("requests", "settings", "set", "--tenant", "contoso.example", "--enable", "--notify",
                        "--reminders", "--duration", "7", "--reviewer-user", "admin@contoso.example",
                        "--reviewer-group", group.id, "--reviewer-role", "cloud application administrator",
                        "--json"))
    assert shown == {
        "tenantId": world.tenant_id, "isEnabled": True, "notifyReviewers": True, "remindersEnabled": True,
        "requestDurationInDays": 7, "version": 1, "reviewers": [
            {"query": f"/users/{world.admin.id}", "queryType": "MicrosoftGraph", "queryRoot": None, "kind": "user",
             "name": "admin@contoso.example"},
            {"query": f"/groups/{group.id}/transitiveMembers/microsoft.graph.user", "queryType": "MicrosoftGraph",
             "queryRoot": None, "kind": "group", "name": "Consent reviewers"},
            {"query": "/beta/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq "
                      f"'{CLOUD_APPLICATION_ADMINISTRATOR.id}'", "queryType": "MicrosoftGraph", "queryRoot": None,
             "kind": "role", "name": "Cloud Application Administrator"}]}
    # Turning it off keeps everything else; the version moves on.
    off = as_json(cli("requests", "settings", "set", "--tenant", "contoso.example", "--disable", "--json"))
    assert (off["isEnabled"], off["requestDurationInDays"], len(off["reviewers"]), off["version"]) == (False, 7, 3, 2)
    assert consent_requests.get_request_policy(world.rt.ctx, world.tenant_id).version == 2
    text = ok(cli("requests", "settings", "show", "--tenant", "contoso.example")).stdout
    assert "  group Consent reviewers  (/groups/" in text and "version:                 2" in text


@pytest.mark.parametrize(("args", "message"), [
    (("--enable",), "error: Select at least one reviewer"),
    ((), "error: Nothing to change"),
    (("--reviewer-user", "nobody@contoso.example"), "error: No user 'nobody@contoso.example' in this tenant."),
    (("--reviewer-role", "Janitor"), "error: No directory role 'Janitor'. Roles: Application Administrator"),
    (("--reviewer-group", "staff"), "error: --reviewer-group takes a group's id (a GUID), not 'staff'."),
    (("--reviewer-group", "00000000-0000-0000-0000-000000000001"), "error: The reviewer group"),
    (("--duration", "31"), "error: Requests must expire after 1 to 30 days."),
    (("--enable", "--duration", "0", "--reviewer-user", "admin@contoso.example"),
     "error: Requests must expire after 1 to 30 days."),
])
def test_settings_set_refusals(cli: Run, world: World, args: tuple[str, ...], message: str) -> None:
    assert_one_error_line(cli("requests", "settings", "set", "--tenant", "contoso.example", *args), message)
    assert consent_requests.get_request_policy(world.rt.ctx, world.tenant_id).version == 0


def test_an_unknown_tenant_is_one_error_line(cli: Run, world: World) -> None:
    assert_one_error_line(cli("requests", "settings", "show", "--tenant", "nowhere.example"), "error: AADSTS90002")
    assert_one_error_line(cli("requests", "list", "--tenant", "nowhere.example"), "error: AADSTS90002")


# --- list and show --------------------------------------------------------------------------------------------
def test_list_and_show(cli: Run, world: World) -> None:
    enable(cli, world)
    assert ok(cli("requests", "list", "--tenant", "contoso.example")).stdout == "No admin consent requests.\n"
    first = world.submit(world.adele, 'I need "Reports"\non my phone')
    second = world.submit(world.bianca)
    assert first.app_request_id == second.app_request_id

    [listed] = as_json(cli("requests", "list", "--tenant", "contoso.example", "--json"))
    assert listed == {"id": first.app_request_id, "appId": world.app.app_id, "appDisplayName": "Fabrikam Reports",
                      "consentType": "Dynamic", "pendingScopes": ["openid", "User.Read", "Mail.Read"],
                      "createdDateTime": listed["createdDateTime"], "pending": 2, "requests": 2}
    assert as_json(cli("requests", "list", "--tenant", "contoso.example", "--status", "pending", "--json")) == [listed]
    assert as_json(cli("requests", "list", "--tenant", "contoso.example", "--status", "denied", "--json")) == []
    table = ok(cli("requests", "list", "--tenant", "contoso.example")).stdout.splitlines()
    assert table[0].split() == ["ID", "APP", "APP", "ID", "TYPE", "PENDING", "REQUESTS", "CREATED"]
    assert first.app_request_id in table[1] and "Fabrikam Reports" in table[1]

    shown = as_json(cli("requests", "show", first.app_request_id, "--tenant", "contoso.example", "--json"))
    by_user = {r["createdBy"]["userPrincipalName"]: r for r in shown["userConsentRequests"]}
    assert by_user["adele@contoso.example"]["reason"] == 'I need "Reports"\non my phone'
    assert (by_user["adele@contoso.example"]["status"], by_user["adele@contoso.example"]["reviewedBy"]) == (
        IN_PROGRESS, None)
    assert sorted(by_user["adele@contoso.example"]["reviewerIds"]) == sorted([world.admin.id, world.helper.id])
    text = ok(cli("requests", "show", first.app_request_id, "--tenant", "contoso.example")).stdout
    assert "App:             Fabrikam Reports" in text and "Requested by (2 pending of 2):" in text
    assert '"I need \\"Reports\\"\\non my phone"' in text  # user text on one line, quoted

    assert_one_error_line(cli("requests", "show", "00000000-0000-0000-0000-000000000000", "--tenant",
                              "contoso.example"), "error: No admin consent request")
    assert_one_error_line(cli("requests", "list", "--tenant", "contoso.example", "--status", "open"),
                          "error: --status must be one of pending, approved, denied, blocked, expired")


# --- decisions ------------------------------------------------------------------------------------------------
def test_approve_as_a_reviewer(cli: Run, world: World) -> None:
    enable(cli, world)
    request = world.submit(world.adele)
    out = ok(cli("requests", "approve", request.app_request_id, "--tenant", "contoso.example", "--as",
                 "admin@contoso.example")).stdout
    assert out.splitlines()[0] == (f"Approved the request for Fabrikam Reports ({world.app.app_id}) as "
                                   "admin@contoso.example: 1 user request(s) completed.")
    [done] = consent_requests.list_user_requests(world.rt.ctx, world.tenant_id, request.app_request_id)
    assert (done.status, done.review_result, done.reviewed_by_id) == (COMPLETED, APPROVE, world.admin.id)
    [grant] = [g for g in grants.list_grants(world.rt.ctx, world.tenant_id, world.app.app_id)
               if g.consent_type == ALL_PRINCIPALS]
    assert {"User.Read", "Mail.Read"} <= set(grant.scope.split())
    assert [i["id"] for i in as_json(cli("requests", "list", "--tenant", "contoso.example", "--status", "approved",
                                         "--json"))] == [request.app_request_id]
    assert_one_error_line(cli("requests", "approve", request.app_request_id, "--tenant", "contoso.example", "--as",
                              "admin@contoso.example"), "error: This request has no pending user requests")


def test_a_reviewer_without_a_consent_role_may_deny_but_not_approve(cli: Run, world: World) -> None:
    enable(cli, world)
    request = world.submit(world.adele)
    assert_one_error_line(cli("requests", "approve", request.app_request_id, "--tenant", "contoso.example", "--as",
                              "helper@contoso.example"), "error: AADSTS90093: ")
    assert_one_error_line(cli("requests", "deny", request.app_request_id, "--tenant", "contoso.example", "--as",
                              "helper@contoso.example"), "error: A justification is required.")
    done = as_json(cli("requests", "deny", request.app_request_id, "--tenant", "contoso.example", "--as",
                       "helper@contoso.example", "--justification", "Use the approved tool.", "--json"))
    assert (done["decision"], done["reviewer"], [c["reviewResult"] for c in done["completed"]]) == (
        "deny", "helper@contoso.example", [DENY])
    assert done["completed"][0]["justification"] == "Use the approved tool."
    again = world.submit(world.adele, "Please reconsider.")  # after a denial she may ask again
    assert again.status == IN_PROGRESS and again.id != request.id


def test_block_disables_the_app(cli: Run, world: World) -> None:
    enable(cli, world)
    request = world.submit(world.bianca)
    ok(cli("requests", "block", request.app_request_id, "--tenant", "contoso.example", "--as", world.admin.id,
           "--justification", "Copies mail elsewhere."))
    sp = apps.find_service_principal(world.rt.ctx, world.tenant_id, app_id=world.app.app_id)
    assert sp.account_enabled is False
    assert [i["id"] for i in as_json(cli("requests", "list", "--tenant", "contoso.example", "--status", "blocked",
                                         "--json"))] == [request.app_request_id]


def test_who_may_not_decide(cli: Run, world: World) -> None:
    enable(cli, world)
    request = world.submit(world.adele)
    for user in ("outsider@contoso.example", "adele@contoso.example"):  # not a reviewer; the requester herself
        assert_one_error_line(cli("requests", "deny", request.app_request_id, "--tenant", "contoso.example", "--as",
                                  user, "--justification", "No."),
                              f"error: {user} is not a reviewer of a pending request in '{request.app_request_id}'")
    assert_one_error_line(cli("requests", "deny", request.app_request_id, "--tenant", "contoso.example", "--as",
                              "ghost@contoso.example", "--justification", "No."),
                          "error: No user 'ghost@contoso.example' in this tenant.")
    assert_one_error_line(cli("requests", "approve", new_guid(), "--tenant", "contoso.example", "--as",
                              "admin@contoso.example"), "error: No admin consent request")
    # The request is Contoso's: Fabrikam's administrator finds no such request there.
    fabrikam_admin = directory.create_user(world.rt.ctx, world.app.tenant_id or "", "megan@fabrikam.example",
                                           "Megan", None, SYSTEM)
    directory.assign_role(world.rt.ctx, fabrikam_admin.tenant_id, fabrikam_admin.id, "Global Administrator", SYSTEM)
    assert_one_error_line(cli("requests", "approve", request.app_request_id, "--tenant", "fabrikam.example", "--as",
                              "megan@fabrikam.example"), "error: No admin consent request")
    assert_one_error_line(cli("requests", "approve", request.app_request_id, "--tenant", "contoso.example", "--as",
                              "megan@fabrikam.example"), "error: No user 'megan@fabrikam.example' in this tenant.")
    [pending] = consent_requests.list_user_requests(world.rt.ctx, world.tenant_id, request.app_request_id)
    assert pending.status == IN_PROGRESS


@pytest.mark.parametrize(("justification", "message"), [
    ("x" * 1001, "error: The justification may be at most 1000 characters."),
    ("bell\x07", "error: The justification contains control characters."),
    ("   ", "error: A justification is required."),
])
def test_bad_justifications_are_refused(cli: Run, world: World, justification: str, message: str) -> None:
    enable(cli, world)
    request = world.submit(world.adele)
    assert_one_error_line(cli("requests", "deny", request.app_request_id, "--tenant", "contoso.example", "--as",
                              "admin@contoso.example", "--justification", justification), message)
    [pending] = consent_requests.list_user_requests(world.rt.ctx, world.tenant_id, request.app_request_id)
    assert pending.status == IN_PROGRESS


def test_a_script_laden_justification_is_kept_verbatim(cli: Run, world: World) -> None:
    enable(cli, world)
    request = world.submit(world.adele)
    hostile = '<script>alert("x")</script>\nsecond line'
    ok(cli("requests", "deny", request.app_request_id, "--tenant", "contoso.example", "--as",
           "admin@contoso.example", "--justification", hostile))
    [done] = consent_requests.list_user_requests(world.rt.ctx, world.tenant_id, request.app_request_id)
    assert done.review_justification == hostile
    text = ok(cli("requests", "show", request.app_request_id, "--tenant", "contoso.example")).stdout
    assert '"<script>alert(\\"x\\")</script>\\nsecond line"' in text
