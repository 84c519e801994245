"""Permission grant policies as pure rules (``consentry.domain.consent_policy``; spec §6.1, §6.3, §7.5):
condition-set matching field by field, includes and excludes of one policy, any one policy sufficing, the
built-in ``microsoft-*`` policies, and the ``permissionGrantPoliciesAssigned`` helpers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from consentry.domain.builtin import EXCHANGE_ONLINE, MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.consent_policy import (
    ALL_APPLICATION_PERMISSIONS_VERIFIED,
    APPLICATION,
    APPLICATION_ADMIN,
    COMPANY_ADMIN,
    DELEGATED,
    DELEGATED_USER_CONSENTABLE,
    USER_DEFAULT_ALLOW_CONSENT_APPS,
    USER_DEFAULT_LEGACY,
    USER_DEFAULT_LOW,
    USER_DEFAULT_RECOMMENDED,
    ConditionSet,
    PermissionEvent,
    PermissionGrantPolicy,
    all_covered,
    builtin_policies,
    condition_set_matches,
    is_builtin_policy_id,
    policy_matches,
    self_policy_ids,
    uncovered,
    user_consent_setting,
    with_self_policies,
)

TENANT = "3be8a25e-b39d-47a6-82c4-e435ded0b536"
OTHER_TENANT = "865feb37-88fe-4fe4-beed-b2bf9628c3e7"
APPLE_MAIL = "f8d98a96-0999-43f5-8af3-69971c7bb423"
THUNDERBIRD = "9e5f94bc-e8a4-4e73-b8be-63364c29d753"
SOME_CLIENT = "11111111-2222-3333-4444-555555555555"
SOME_API = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
PUBLISHER = "4719327"


def scope_id(resource: str, value: str) -> str:
    app = find_builtin_application(resource)
    assert app is not None
    return next(s.id for s in app.scopes if s.value == value)


def role_id(resource: str, value: str) -> str:
    app = find_builtin_application(resource)
    assert app is not None
    return next(r.id for r in app.app_roles if r.value == value)


def delegated(value: str, resource: str = MICROSOFT_GRAPH, **changes: object) -> PermissionEvent:
    """A user-consentable delegated permission of a built-in API, requested by an unverified client
    registered in another tenant."""
    event = PermissionEvent(DELEGATED, scope_id(resource, value), value, resource, admin_only=False,
                            classification=None, client_app_id=SOME_CLIENT, client_tenant_id=OTHER_TENANT,
                            client_publisher_id=None, client_verified=False)
    return replace(event, **changes)


def app_role(resource: str, role: str, value: str = "x") -> PermissionEvent:
    return PermissionEvent(APPLICATION, role, value, resource, admin_only=True, classification=None,
                           client_app_id=SOME_CLIENT, client_tenant_id=OTHER_TENANT, client_publisher_id=None,
                           client_verified=False)


def builtin(policy_id: str, tenant: str = TENANT) -> PermissionGrantPolicy:
    return next(p for p in builtin_policies(tenant) if p.id == policy_id)


# --- one condition set, field by field -----------------------------------------------------------------
def test_a_condition_set_with_defaults_matches_any_event_of_its_type() -> None:
    cs = ConditionSet("cs", DELEGATED)
    assert condition_set_matches(cs, delegated("User.Read"))
    assert not condition_set_matches(cs, app_role(SOME_API, "r1"))
    assert condition_set_matches(ConditionSet("cs", APPLICATION), app_role(SOME_API, "r1"))


def test_delegated_user_consentable_excludes_admin_only_permissions_and_app_roles() -> None:
    cs = ConditionSet("cs", DELEGATED_USER_CONSENTABLE)
    assert condition_set_matches(cs, delegated("User.Read"))
    assert not condition_set_matches(cs, delegated("User.Read", admin_only=True))
    assert not condition_set_matches(cs, app_role(SOME_API, "r1"))


@pytest.mark.parametrize(("wanted", "classification", "expected"), [
    ("all", None, True), ("all", "high", True), ("low", "low", True), ("low", None, False),
    ("low", "medium", False), ("high", "high", True)])
def test_permission_classification(wanted: str, classification: str | None, expected: bool) -> None:
    cs = ConditionSet("cs", DELEGATED, permission_classification=wanted)
    assert condition_set_matches(cs, delegated("User.Read", classification=classification)) is expected


def test_resource_application_is_any_or_the_api_app_id_in_any_casing() -> None:
    assert condition_set_matches(ConditionSet("cs", DELEGATED, resource_application="any"), delegated("User.Read"))
    assert condition_set_matches(ConditionSet("cs", DELEGATED, resource_application=MICROSOFT_GRAPH.upper()),
                                 delegated("User.Read"))
    assert not condition_set_matches(ConditionSet("cs", DELEGATED, resource_application=EXCHANGE_ONLINE),
                                     delegated("User.Read"))


def test_permissions_list_names_permission_ids() -> None:
    user_read = scope_id(MICROSOFT_GRAPH, "User.Read")
    cs = ConditionSet("cs", DELEGATED, permissions=(user_read.upper(),))
    assert condition_set_matches(cs, delegated("User.Read"))
    assert not condition_set_matches(cs, delegated("Mail.Read"))


def test_client_application_ids() -> None:
    cs = ConditionSet("cs", DELEGATED, client_application_ids=(APPLE_MAIL,))
    assert condition_set_matches(cs, delegated("User.Read", client_app_id=APPLE_MAIL))
    assert not condition_set_matches(cs, delegated("User.Read"))


def test_client_application_tenant_ids_never_match_a_client_without_home_tenant() -> None:
    cs = ConditionSet("cs", DELEGATED, client_application_tenant_ids=(TENANT,))
    assert condition_set_matches(cs, delegated("User.Read", client_tenant_id=TENANT))
    assert not condition_set_matches(cs, delegated("User.Read"))
    assert not condition_set_matches(cs, delegated("User.Read", client_tenant_id=None))


def test_client_application_publisher_ids() -> None:
    cs = ConditionSet("cs", DELEGATED, client_application_publisher_ids=(PUBLISHER,))
    assert condition_set_matches(cs, delegated("User.Read", client_publisher_id=PUBLISHER))
    assert not condition_set_matches(cs, delegated("User.Read", client_publisher_id="999"))
    assert not condition_set_matches(cs, delegated("User.Read"))


def test_verified_publisher_only() -> None:
    cs = ConditionSet("cs", DELEGATED, client_applications_from_verified_publisher_only=True)
    assert condition_set_matches(cs, delegated("User.Read", client_verified=True))
    assert not condition_set_matches(cs, delegated("User.Read", client_verified=False))


def test_every_condition_must_match() -> None:
    cs = ConditionSet("cs", DELEGATED, permission_classification="low", client_application_ids=(APPLE_MAIL,))
    assert condition_set_matches(cs, delegated("User.Read", classification="low", client_app_id=APPLE_MAIL))
    assert not condition_set_matches(cs, delegated("User.Read", classification="low"))
    assert not condition_set_matches(cs, delegated("User.Read", client_app_id=APPLE_MAIL))


# --- policies -----------------------------------------------------------------------------------------
def test_a_policy_needs_one_include_and_no_exclude_of_its_own() -> None:
    mail = scope_id(MICROSOFT_GRAPH, "Mail.Read")
    policy = PermissionGrantPolicy("p", "P", "", (ConditionSet("i1", APPLICATION), ConditionSet("i2", DELEGATED)),
                                   (ConditionSet("e", DELEGATED, permissions=(mail,)),))
    assert policy_matches(policy, delegated("User.Read"))
    assert not policy_matches(policy, delegated("Mail.Read"))


def test_a_policy_without_includes_matches_nothing() -> None:
    assert not policy_matches(PermissionGrantPolicy("empty", "", "", ()), delegated("User.Read"))


def test_an_exclude_of_one_policy_does_not_affect_another_and_any_one_policy_suffices() -> None:
    mail = scope_id(MICROSOFT_GRAPH, "Mail.Read")
    strict = PermissionGrantPolicy("strict", "", "", (ConditionSet("i", DELEGATED),),
                                   (ConditionSet("e", DELEGATED, permissions=(mail,)),))
    mail_only = PermissionGrantPolicy("mail", "", "", (ConditionSet("i", DELEGATED, permissions=(mail,)),))
    events = [delegated("User.Read"), delegated("Mail.Read")]
    assert not all_covered([strict], events)
    assert uncovered([strict], events) == [events[1]]
    assert all_covered([strict, mail_only], events)
    assert all_covered([], [])


# --- built-in policies ----------------------------------------------------------------------------------
def test_builtin_ids_are_reserved_in_any_casing() -> None:
    assert is_builtin_policy_id("microsoft-company-admin") and is_builtin_policy_id("Microsoft-Anything")
    assert not is_builtin_policy_id("my-microsoft-policy")
    assert {p.id for p in builtin_policies(TENANT)} >= {
        USER_DEFAULT_LOW, USER_DEFAULT_LEGACY, USER_DEFAULT_RECOMMENDED, USER_DEFAULT_ALLOW_CONSENT_APPS,
        APPLICATION_ADMIN, COMPANY_ADMIN, ALL_APPLICATION_PERMISSIONS_VERIFIED}
    assert all(p.is_builtin for p in builtin_policies(TENANT))


def test_builtin_condition_set_ids_are_stable_and_differ_per_set() -> None:
    first, second = builtin_policies(TENANT), builtin_policies(TENANT)
    assert first == second
    ids = [cs.id for p in first for cs in (*p.includes, *p.excludes)]
    assert len(ids) == len(set(ids))


def test_low_needs_a_low_classification() -> None:
    low = builtin(USER_DEFAULT_LOW)
    verified = delegated("User.Read", client_verified=True)
    assert not policy_matches(low, verified)
    assert policy_matches(low, replace(verified, classification="low"))
    assert not policy_matches(low, replace(verified, classification="medium"))


def test_low_needs_a_verified_publisher_or_an_app_of_this_tenant() -> None:
    low = builtin(USER_DEFAULT_LOW)
    unverified_elsewhere = delegated("User.Read", classification="low")
    assert not policy_matches(low, unverified_elsewhere)
    assert policy_matches(low, replace(unverified_elsewhere, client_verified=True))
    assert policy_matches(low, replace(unverified_elsewhere, client_tenant_id=TENANT))
    # "this tenant" is the tenant the policies were built for
    assert not policy_matches(builtin(USER_DEFAULT_LOW, OTHER_TENANT), replace(unverified_elsewhere,
                                                                                 client_tenant_id=TENANT))


def test_low_never_covers_admin_only_permissions() -> None:
    event = delegated("User.Read", classification="low", client_verified=True, admin_only=True)
    assert not policy_matches(builtin(USER_DEFAULT_LOW), event)


def test_legacy_covers_any_user_consentable_delegated_permission() -> None:
    legacy = builtin(USER_DEFAULT_LEGACY)
    assert policy_matches(legacy, delegated("Mail.Read"))
    assert not policy_matches(legacy, delegated("Mail.Read", admin_only=True))
    assert not policy_matches(legacy, app_role(SOME_API, "r1"))


@pytest.mark.parametrize("value", ["Mail.Read", "Calendars.ReadWrite", "Contacts.ReadWrite"])
def test_recommended_excludes_mail_calendar_and_contacts_scopes_of_graph(value: str) -> None:
    assert not policy_matches(builtin(USER_DEFAULT_RECOMMENDED), delegated(value))


@pytest.mark.parametrize("value", ["EAS.AccessAsUser.All", "EWS.AccessAsUser.All", "IMAP.AccessAsUser.All",
                                   "POP.AccessAsUser.All"])
def test_recommended_excludes_exchange_mail_protocols(value: str) -> None:
    assert not policy_matches(builtin(USER_DEFAULT_RECOMMENDED), delegated(value, EXCHANGE_ONLINE))


def test_recommended_allows_user_read_and_contacts_read() -> None:
    recommended = builtin(USER_DEFAULT_RECOMMENDED)
    assert policy_matches(recommended, delegated("User.Read"))
    assert policy_matches(recommended, delegated("Contacts.Read"))  # only Contacts.ReadWrite(.Shared) is listed
    assert not policy_matches(recommended, delegated("User.Read", admin_only=True))


@pytest.mark.parametrize(("value", "resource"), [("EAS.AccessAsUser.All", EXCHANGE_ONLINE),
                                                 ("EWS.AccessAsUser.All", EXCHANGE_ONLINE),
                                                 ("Mail.Read", MICROSOFT_GRAPH)])
def test_allow_consent_apps_lets_apple_mail_have_mail_permissions(value: str, resource: str) -> None:
    policy = builtin(USER_DEFAULT_ALLOW_CONSENT_APPS)
    assert policy_matches(policy, delegated(value, resource, client_app_id=APPLE_MAIL))
    assert policy_matches(policy, delegated(value, resource, client_app_id=THUNDERBIRD))
    assert not policy_matches(policy, delegated(value, resource))  # any other client


def test_allow_consent_apps_covers_only_the_mail_permissions() -> None:
    policy = builtin(USER_DEFAULT_ALLOW_CONSENT_APPS)
    assert not policy_matches(policy, delegated("User.Read", client_app_id=APPLE_MAIL))


def test_the_default_pair_lets_apple_mail_consent_to_eas_and_user_read() -> None:
    default = [builtin(USER_DEFAULT_RECOMMENDED), builtin(USER_DEFAULT_ALLOW_CONSENT_APPS)]
    apple = [delegated("EAS.AccessAsUser.All", EXCHANGE_ONLINE, client_app_id=APPLE_MAIL),
             delegated("User.Read", client_app_id=APPLE_MAIL)]
    assert all_covered(default, apple)
    assert not all_covered(default, [delegated("EAS.AccessAsUser.All", EXCHANGE_ONLINE)])


def test_application_admin_excludes_graph_app_roles_but_allows_other_apis_roles_and_delegated() -> None:
    policy = builtin(APPLICATION_ADMIN)
    graph_role = role_id(MICROSOFT_GRAPH, "User.Read.All")
    exchange_role = role_id(EXCHANGE_ONLINE, "full_access_as_app")
    assert not policy_matches(policy, app_role(MICROSOFT_GRAPH, graph_role))
    assert policy_matches(policy, app_role(EXCHANGE_ONLINE, exchange_role))
    assert policy_matches(policy, app_role(SOME_API, "r1"))
    assert policy_matches(policy, delegated("Mail.Read", admin_only=True))


def test_company_admin_covers_everything() -> None:
    policy = builtin(COMPANY_ADMIN)
    assert policy_matches(policy, app_role(MICROSOFT_GRAPH, role_id(MICROSOFT_GRAPH, "User.Read.All")))
    assert policy_matches(policy, app_role(SOME_API, "r1"))
    assert policy_matches(policy, delegated("Mail.ReadWrite", admin_only=True))
    assert policy_matches(policy, delegated("EAS.AccessAsUser.All", EXCHANGE_ONLINE))


def test_all_application_permissions_verified_wants_verified_or_this_tenant() -> None:
    policy = builtin(ALL_APPLICATION_PERMISSIONS_VERIFIED)
    event = app_role(SOME_API, "r1")
    assert not policy_matches(policy, event)
    assert policy_matches(policy, replace(event, client_verified=True))
    assert policy_matches(policy, replace(event, client_tenant_id=TENANT))


# --- permissionGrantPoliciesAssigned --------------------------------------------------------------------
def test_self_policy_ids_take_the_prefix_in_any_casing_and_ignore_other_entries() -> None:
    assigned = ["managePermissionGrantsForSelf.microsoft-user-default-low",
                "ManagePermissionGrantsForSelf.my-policy", "MANAGEPERMISSIONGRANTSFORSELF.Another",
                "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-team",
                "ManagePermissionGrantsForSelf.my-policy"]
    assert self_policy_ids(assigned) == ("microsoft-user-default-low", "my-policy", "Another")
    assert self_policy_ids([]) == ()


def test_with_self_policies_replaces_only_self_entries_and_keeps_the_others_in_place() -> None:
    assigned = ("ManagePermissionGrantsForOwnedResource.DeveloperConsent",
                "managePermissionGrantsForSelf.microsoft-user-default-legacy",
                "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-chat")
    assert with_self_policies(assigned, ["microsoft-user-default-low"]) == (
        "ManagePermissionGrantsForOwnedResource.DeveloperConsent",
        "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-chat",
        "ManagePermissionGrantsForSelf.microsoft-user-default-low")
    assert with_self_policies(assigned, []) == (assigned[0], assigned[2])


@pytest.mark.parametrize(("assigned", "setting"), [
    ([], "none"),
    (["ManagePermissionGrantsForOwnedResource.DeveloperConsent"], "none"),
    (["managePermissionGrantsForSelf.microsoft-user-default-low"], "low"),
    (["ManagePermissionGrantsForSelf.MICROSOFT-USER-DEFAULT-LEGACY"], "legacy"),
    (["ManagePermissionGrantsForSelf.microsoft-user-default-allow-consent-apps",
      "ManagePermissionGrantsForSelf.microsoft-user-default-recommended"], "recommended"),
    (["ManagePermissionGrantsForSelf.microsoft-user-default-recommended"], "custom"),
    (["ManagePermissionGrantsForSelf.microsoft-user-default-low", "ManagePermissionGrantsForSelf.mine"], "custom"),
])
def test_user_consent_setting(assigned: list[str], setting: str) -> None:
    assert user_consent_setting(assigned) == setting
