"""The consent decision as ordered named checks (``consentry.domain.consent.decide``; spec §3.2, §5, §6.3,
§6.5, §7.5, §13), on hand-built subjects: each check of the table, the order between them, and the risky
definition with each of its four conditions toggled."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from consentry.domain.apps import Application, ServicePrincipal
from consentry.domain.builtin import EXCHANGE_ONLINE, MICROSOFT_GRAPH, find_builtin_application
from consentry.domain.consent import (
    ADMIN_CONSENT,
    BLOCKED,
    CONSENT,
    ISSUE,
    NEED_APPROVAL,
    RISKY_APP_MAX_AGE,
    ROLE,
    SCOPE,
    ConsentSubject,
    Decision,
    Permission,
    decide,
    is_risky,
)
from consentry.domain.consent_policy import (
    APPLICATION_ADMIN,
    COMPANY_ADMIN,
    DELEGATED,
    USER_DEFAULT_ALLOW_CONSENT_APPS,
    USER_DEFAULT_LEGACY,
    USER_DEFAULT_LOW,
    USER_DEFAULT_RECOMMENDED,
    ConditionSet,
    PermissionGrantPolicy,
    builtin_policies,
)
from consentry.errors import (
    ADMIN_CONSENT_REQUIRED,
    APP_DISABLED,
    NOT_AUTHORIZED_TO_GRANT,
    RISKY_APP_ADMIN_CONSENT_REQUIRED,
    USER_NOT_ASSIGNED,
)

TENANT = "11111111-1111-1111-1111-111111111111"
OTHER_TENANT = "22222222-2222-2222-2222-222222222222"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GRAPH_SP = "33333333-3333-3333-3333-333333333333"
EXCHANGE_SP = "44444444-4444-4444-4444-444444444444"
CLIENT_APP_ID = "55555555-5555-5555-5555-555555555555"
CLIENT_SP = "66666666-6666-6666-6666-666666666666"
VERIFIED = {"displayName": "Fabrikam Ltd", "verifiedPublisherId": "1234567", "addedDateTime": "2025-01-01T00:00:00Z"}

POLICIES = {p.id: p for p in builtin_policies(TENANT)}
RECOMMENDED = (POLICIES[USER_DEFAULT_RECOMMENDED], POLICIES[USER_DEFAULT_ALLOW_CONSENT_APPS])
LEGACY = (POLICIES[USER_DEFAULT_LEGACY],)
LOW = (POLICIES[USER_DEFAULT_LOW],)
GLOBAL_ADMIN = (POLICIES[COMPANY_ADMIN],)
APP_ADMIN = (POLICIES[APPLICATION_ADMIN],)


# --- building subjects ---------------------------------------------------------------------------------
def delegated(value: str, classification: str | None = None, resource_app_id: str = MICROSOFT_GRAPH) -> Permission:
    resource = find_builtin_application(resource_app_id)
    assert resource is not None
    scope = next(s for s in resource.scopes if s.value.lower() == value.lower())
    return Permission(GRAPH_SP if resource_app_id == MICROSOFT_GRAPH else EXCHANGE_SP, resource_app_id,
                      resource.display_name, SCOPE, scope.id, scope.value, scope.type == "Admin", classification,
                      scope.user_consent_display_name or scope.admin_consent_display_name,
                      scope.user_consent_description or "", scope.admin_consent_display_name,
                      scope.admin_consent_description)


def app_role(value: str, resource_app_id: str = MICROSOFT_GRAPH) -> Permission:
    resource = find_builtin_application(resource_app_id)
    assert resource is not None
    role = next(r for r in resource.app_roles if r.value == value)
    return Permission(GRAPH_SP if resource_app_id == MICROSOFT_GRAPH else EXCHANGE_SP, resource_app_id,
                      resource.display_name, ROLE, role.id, value, True, None, role.display_name, role.description,
                      role.display_name, role.description)


def client_app(*, tenant_id: str | None = TENANT, verified: bool = False, age: timedelta | None = timedelta(days=1),
               multi_tenant: bool = False) -> Application:
    return Application(id="77777777-7777-7777-7777-777777777777", app_id=CLIENT_APP_ID, tenant_id=tenant_id,
                       display_name="Contoso Notes",
                       sign_in_audience="AzureADMultipleOrgs" if multi_tenant else "AzureADMyOrg",
                       verified_publisher=dict(VERIFIED) if verified else {},
                       created_at=None if age is None else NOW - age)


def client_sp(*, enabled: bool = True, assignment_required: bool = False) -> ServicePrincipal:
    return ServicePrincipal(id=CLIENT_SP, tenant_id=TENANT, app_id=CLIENT_APP_ID, display_name="Contoso Notes",
                            app_owner_organization_id=TENANT, account_enabled=enabled,
                            app_role_assignment_required=assignment_required)


def subject(requested: tuple[Permission, ...] = (), missing: tuple[Permission, ...] | None = None, *,
            app: Application | None = None, sp: ServicePrincipal | None = None, assigned: bool = False,
            self_policies: tuple[PermissionGrantPolicy, ...] = RECOMMENDED,
            all_policies: tuple[PermissionGrantPolicy, ...] = (), block_risky: bool = True,
            prompt: str | None = None, admin_flow: bool = False, now: datetime = NOW) -> ConsentSubject:
    """A request for ``requested`` of which ``missing`` (default: all of it) is not granted yet."""
    requested = requested or (delegated("User.Read"),)
    return ConsentSubject(
        tenant_id=TENANT, client_app=app or client_app(), client_sp=sp, user_assigned=assigned,
        requested=requested, missing=requested if missing is None else missing, self_policies=self_policies,
        all_policies=all_policies, block_risky_apps=block_risky, now=now, prompt=prompt, admin_flow=admin_flow)


def risky_subject(**changes: object) -> ConsentSubject:
    """A request Entra would call risky: a new, unverified multi-tenant app of another tenant asking for
    more than the basic sign-in permissions."""
    base = subject((delegated("openid"), delegated("User.Read"), delegated("Mail.Read")),
                   app=client_app(tenant_id=OTHER_TENANT, multi_tenant=True), self_policies=LEGACY)
    return replace(base, **changes)


def values(permissions: tuple[Permission, ...]) -> list[str]:
    return [p.value for p in permissions]


# --- app_disabled --------------------------------------------------------------------------------------
def test_a_disabled_service_principal_blocks_with_7000112() -> None:
    decision = decide(subject(sp=client_sp(enabled=False)))
    assert decision == Decision(BLOCKED, "app_disabled", error=APP_DISABLED)


def test_app_disabled_beats_the_admin_flow() -> None:
    decision = decide(subject(sp=client_sp(enabled=False), all_policies=GLOBAL_ADMIN, admin_flow=True))
    assert (decision.step, decision.reason, decision.error) == (BLOCKED, "app_disabled", APP_DISABLED)


def test_app_disabled_beats_everything_else_that_could_apply() -> None:
    """Assignment required, unassigned, risky, nothing user-consentable and prompt=consent all at once."""
    decision = decide(risky_subject(client_sp=client_sp(enabled=False, assignment_required=True),
                                    requested=(delegated("User.Read.All"),), missing=(), self_policies=(),
                                    prompt="consent"))
    assert (decision.step, decision.reason, decision.error) == (BLOCKED, "app_disabled", APP_DISABLED)


def test_app_disabled_beats_an_already_granted_request() -> None:
    decision = decide(subject(missing=(), sp=client_sp(enabled=False)))
    assert decision.reason == "app_disabled"


def test_an_app_without_service_principal_is_not_disabled() -> None:
    assert decide(subject(sp=None)).reason == "scopes_missing"


# --- the admin flow: admin_consent_requested, role_cannot_grant, admin_role_required ---------------------
def test_admin_flow_for_a_global_administrator_asks_for_everything_requested() -> None:
    requested = (delegated("User.Read"), delegated("User.Read.All"), app_role("User.Read.All"))
    decision = decide(subject(requested, missing=(requested[2],), all_policies=GLOBAL_ADMIN, admin_flow=True))
    assert (decision.step, decision.reason, decision.error) == (ADMIN_CONSENT, "admin_consent_requested", None)
    assert decision.permissions == requested


def test_admin_flow_shows_the_page_even_when_everything_is_granted() -> None:
    decision = decide(subject(missing=(), all_policies=GLOBAL_ADMIN, admin_flow=True))
    assert (decision.step, decision.reason) == (ADMIN_CONSENT, "admin_consent_requested")


def test_application_administrator_cannot_grant_microsoft_graph_app_roles() -> None:
    role = app_role("User.Read.All")
    decision = decide(subject((delegated("User.Read"), role), all_policies=APP_ADMIN, admin_flow=True))
    assert (decision.step, decision.reason) == (NEED_APPROVAL, "role_cannot_grant")
    assert decision.error is NOT_AUTHORIZED_TO_GRANT
    assert decision.uncovered == (role,)


def test_application_administrator_grants_delegated_and_non_graph_app_roles() -> None:
    requested = (delegated("User.Read.All"), app_role("full_access_as_app", EXCHANGE_ONLINE))
    decision = decide(subject(requested, all_policies=APP_ADMIN, admin_flow=True))
    assert (decision.step, decision.reason) == (ADMIN_CONSENT, "admin_consent_requested")
    assert decision.permissions == requested


def test_admin_flow_without_a_consent_role_needs_admin_approval() -> None:
    decision = decide(subject(self_policies=LEGACY, admin_flow=True))
    assert (decision.step, decision.reason, decision.error) == (NEED_APPROVAL, "admin_role_required",
                                                                ADMIN_CONSENT_REQUIRED)


def test_admin_flow_beats_granted_and_assignment() -> None:
    """With the admin flow on, an unassigned admin of an assignment-required app still gets the admin page."""
    decision = decide(subject(missing=(), sp=client_sp(assignment_required=True), assigned=False,
                              all_policies=GLOBAL_ADMIN, admin_flow=True))
    assert decision.reason == "admin_consent_requested"


def test_admin_flow_marks_a_risky_request_as_risky_but_lets_the_admin_consent() -> None:
    decision = decide(risky_subject(all_policies=GLOBAL_ADMIN, admin_flow=True))
    assert (decision.step, decision.risky) == (ADMIN_CONSENT, True)


# --- granted, user_not_assigned ---------------------------------------------------------------------------
def test_nothing_missing_issues_the_code() -> None:
    assert decide(subject(missing=(), sp=client_sp())) == Decision(ISSUE, "granted")


def test_nothing_missing_but_unassigned_where_assignment_is_required_blocks_with_50105() -> None:
    decision = decide(subject(missing=(), sp=client_sp(assignment_required=True), assigned=False))
    assert (decision.step, decision.reason, decision.error) == (BLOCKED, "user_not_assigned", USER_NOT_ASSIGNED)


def test_nothing_missing_and_assigned_where_assignment_is_required_issues_the_code() -> None:
    decision = decide(subject(missing=(), sp=client_sp(assignment_required=True), assigned=True))
    assert (decision.step, decision.reason) == (ISSUE, "granted")


def test_granted_beats_risky_and_disabled_user_consent() -> None:
    decision = decide(risky_subject(missing=(), self_policies=()))
    assert (decision.step, decision.reason) == (ISSUE, "granted")


# --- admin_may_consent: the organization checkbox --------------------------------------------------------
def test_a_global_administrator_gets_the_consent_page_with_the_organization_checkbox() -> None:
    decision = decide(subject((delegated("User.Read.All"),), all_policies=GLOBAL_ADMIN))
    assert (decision.step, decision.reason, decision.org_checkbox) == (CONSENT, "scopes_missing", True)
    assert values(decision.permissions) == ["User.Read.All"]


def test_an_ordinary_user_gets_no_organization_checkbox() -> None:
    decision = decide(subject((delegated("User.Read"),)))
    assert (decision.step, decision.reason, decision.org_checkbox) == (CONSENT, "scopes_missing", False)


def test_admin_may_consent_beats_assignment_required() -> None:
    decision = decide(subject(sp=client_sp(assignment_required=True), all_policies=GLOBAL_ADMIN))
    assert (decision.step, decision.org_checkbox) == (CONSENT, True)


def test_admin_may_consent_beats_risky_and_user_consent_off() -> None:
    decision = decide(risky_subject(all_policies=GLOBAL_ADMIN, self_policies=()))
    assert (decision.step, decision.reason, decision.org_checkbox, decision.risky) == (
        CONSENT, "scopes_missing", True, True)


def test_an_application_administrator_facing_a_graph_app_role_in_the_user_flow_gets_no_checkbox() -> None:
    """App roles never reach the user flow's page; if they did, the checkbox needs every one covered."""
    decision = decide(subject((delegated("User.Read"), app_role("User.Read.All")), all_policies=APP_ADMIN))
    assert decision.org_checkbox is False
    assert (decision.step, decision.reason) == (NEED_APPROVAL, "admin_only_permission")


# --- assignment_required -------------------------------------------------------------------------------
def test_assignment_required_turns_off_user_consent_even_when_policies_allow() -> None:
    decision = decide(subject((delegated("User.Read"),), sp=client_sp(assignment_required=True),
                              self_policies=LEGACY))
    assert (decision.step, decision.reason, decision.error) == (NEED_APPROVAL, "assignment_required",
                                                                ADMIN_CONSENT_REQUIRED)
    assert values(decision.permissions) == ["User.Read"]


def test_assignment_required_turns_off_user_consent_for_assigned_users_too() -> None:
    decision = decide(subject(sp=client_sp(assignment_required=True), assigned=True, self_policies=LEGACY))
    assert decision.reason == "assignment_required"


def test_assignment_required_beats_risky() -> None:
    decision = decide(risky_subject(client_sp=client_sp(assignment_required=True)))
    assert decision.reason == "assignment_required"


# --- risky_app -------------------------------------------------------------------------------------------
def test_a_risky_request_is_stepped_up_to_admin_consent_with_900941() -> None:
    decision = decide(risky_subject())
    assert (decision.step, decision.reason, decision.error, decision.risky) == (
        NEED_APPROVAL, "risky_app", RISKY_APP_ADMIN_CONSENT_REQUIRED, True)


def test_a_risky_request_with_step_up_off_gets_the_consent_page_marked_risky() -> None:
    decision = decide(risky_subject(block_risky_apps=False))
    assert (decision.step, decision.reason, decision.risky) == (CONSENT, "scopes_missing", True)


def test_risky_app_beats_user_consent_not_allowed() -> None:
    assert decide(risky_subject(self_policies=())).reason == "risky_app"


def test_risky_app_beats_uncovered_permissions() -> None:
    assert decide(risky_subject(self_policies=RECOMMENDED)).reason == "risky_app"


# --- user_consent_not_allowed, admin_only_permission, permission_not_allowed ---------------------------
def test_do_not_allow_user_consent_needs_admin_approval() -> None:
    decision = decide(subject(self_policies=()))
    assert (decision.step, decision.reason, decision.error) == (NEED_APPROVAL, "user_consent_not_allowed",
                                                                ADMIN_CONSENT_REQUIRED)


def test_an_admin_only_permission_needs_admin_approval() -> None:
    wanted = (delegated("User.Read"), delegated("User.Read.All"))
    decision = decide(subject(wanted))
    assert (decision.step, decision.reason) == (NEED_APPROVAL, "admin_only_permission")
    assert values(decision.uncovered) == ["User.Read.All"]
    assert values(decision.permissions) == ["User.Read", "User.Read.All"]


def test_an_admin_only_permission_is_refused_even_under_legacy() -> None:
    assert decide(subject((delegated("User.Read.All"),), self_policies=LEGACY)).reason == "admin_only_permission"


def test_an_application_permission_can_never_be_user_consented() -> None:
    decision = decide(subject((app_role("full_access_as_app", EXCHANGE_ONLINE),), self_policies=LEGACY))
    assert decision.reason == "admin_only_permission"


def test_a_permission_excluded_by_the_recommended_policy_is_not_allowed() -> None:
    decision = decide(subject((delegated("User.Read"), delegated("Calendars.Read"))))
    assert (decision.step, decision.reason) == (NEED_APPROVAL, "permission_not_allowed")
    assert values(decision.uncovered) == ["Calendars.Read"]


def test_admin_only_wins_over_permission_not_allowed_when_both_are_uncovered() -> None:
    decision = decide(subject((delegated("Calendars.Read"), delegated("User.Read.All"))))
    assert decision.reason == "admin_only_permission"
    assert values(decision.uncovered) == ["Calendars.Read", "User.Read.All"]


def test_legacy_allows_calendars_read() -> None:
    decision = decide(subject((delegated("Calendars.Read"),), self_policies=LEGACY))
    assert (decision.step, decision.reason) == (CONSENT, "scopes_missing")


def test_the_mail_client_policy_lets_users_consent_to_mail_read_for_a_listed_mail_client() -> None:
    apple_mail = replace(client_app(tenant_id=OTHER_TENANT, multi_tenant=True, verified=True),
                         app_id="f8d98a96-0999-43f5-8af3-69971c7bb423")
    assert decide(subject((delegated("Mail.Read"),), app=apple_mail)).step == CONSENT
    assert decide(subject((delegated("Mail.Read"),))).reason == "permission_not_allowed"


def test_only_the_uncovered_permission_decides_and_any_one_policy_suffices() -> None:
    """Excludes do not cross policies: legacy covers what recommended excludes."""
    decision = decide(subject((delegated("Calendars.Read"),), self_policies=(*RECOMMENDED, *LEGACY)))
    assert decision.step == CONSENT


def test_a_custom_policy_for_one_permission_allows_only_that_permission() -> None:
    calendars = delegated("Calendars.Read")
    custom = PermissionGrantPolicy("custom-calendars", "Calendars", "", (ConditionSet(
        "cs", DELEGATED, resource_application=MICROSOFT_GRAPH, permissions=(calendars.id,)),))
    assert decide(subject((calendars,), self_policies=(custom,))).step == CONSENT
    assert decide(subject((calendars, delegated("Contacts.Read")), self_policies=(custom,))).reason == \
        "permission_not_allowed"


# --- low: classifications, same tenant or verified publisher ---------------------------------------------
def test_low_refuses_unclassified_permissions() -> None:
    assert decide(subject((delegated("User.Read"),), self_policies=LOW)).reason == "permission_not_allowed"


def test_low_allows_low_classified_permissions_for_an_app_of_this_tenant() -> None:
    decision = decide(subject((delegated("User.Read", "low"),), self_policies=LOW))
    assert (decision.step, decision.reason) == (CONSENT, "scopes_missing")


def test_low_refuses_an_unverified_app_of_another_tenant() -> None:
    app = client_app(tenant_id=OTHER_TENANT, multi_tenant=True, age=timedelta(days=365))
    decision = decide(subject((delegated("User.Read", "low"),), app=app, self_policies=LOW))
    assert decision.reason == "permission_not_allowed"


def test_low_allows_a_verified_app_of_another_tenant() -> None:
    app = client_app(tenant_id=OTHER_TENANT, multi_tenant=True, verified=True)
    decision = decide(subject((delegated("User.Read", "low"),), app=app, self_policies=LOW))
    assert decision.step == CONSENT


def test_low_does_not_cover_an_admin_only_permission_even_when_classified_low() -> None:
    decision = decide(subject((delegated("User.Read.All", "low"),), self_policies=LOW))
    assert decision.reason == "admin_only_permission"


# --- scopes_missing, consent_forced, the prompt=consent loop --------------------------------------------
def test_the_consent_page_shows_only_what_is_missing() -> None:
    granted, wanted = delegated("User.Read"), delegated("Contacts.Read")
    decision = decide(subject((granted, wanted), missing=(wanted,)))
    assert (decision.step, decision.reason) == (CONSENT, "scopes_missing")
    assert decision.permissions == (wanted,)


def test_prompt_consent_shows_everything_requested_even_when_granted() -> None:
    requested = (delegated("User.Read"), delegated("Contacts.Read"))
    decision = decide(subject(requested, missing=(), prompt="consent"))
    assert (decision.step, decision.reason) == (CONSENT, "consent_forced")
    assert decision.permissions == requested


def test_prompt_consent_after_admin_consent_loops_a_non_admin_into_need_admin_approval() -> None:
    """Spec §13.5: the admin granted User.Read.All tenant-wide, but prompt=consent asks the user again."""
    decision = decide(subject((delegated("User.Read.All"),), missing=(), prompt="consent"))
    assert (decision.step, decision.reason) == (NEED_APPROVAL, "admin_only_permission")
    assert values(decision.permissions) == ["User.Read.All"]


def test_prompt_consent_with_user_consent_off_loops_into_need_admin_approval() -> None:
    decision = decide(subject(missing=(), prompt="consent", self_policies=()))
    assert (decision.step, decision.reason) == (NEED_APPROVAL, "user_consent_not_allowed")


def test_prompt_consent_after_admin_consent_shows_an_admin_the_consent_page() -> None:
    decision = decide(subject((delegated("User.Read.All"),), missing=(), prompt="consent",
                              all_policies=GLOBAL_ADMIN))
    assert (decision.step, decision.reason, decision.org_checkbox) == (CONSENT, "consent_forced", True)


# --- is_risky: each of its four conditions -------------------------------------------------------------
def test_the_risky_subject_is_risky() -> None:
    assert is_risky(risky_subject()) is True


def test_an_app_of_this_tenant_is_not_risky() -> None:
    assert is_risky(risky_subject(client_app=client_app(tenant_id=TENANT, multi_tenant=True))) is False


def test_a_microsoft_app_is_not_risky() -> None:
    assert is_risky(risky_subject(client_app=client_app(tenant_id=None, multi_tenant=True))) is False


def test_a_verified_publisher_is_not_risky() -> None:
    app = client_app(tenant_id=OTHER_TENANT, multi_tenant=True, verified=True)
    assert is_risky(risky_subject(client_app=app)) is False


def test_an_app_registered_long_ago_is_not_risky() -> None:
    app = client_app(tenant_id=OTHER_TENANT, multi_tenant=True, age=RISKY_APP_MAX_AGE + timedelta(days=1))
    assert is_risky(risky_subject(client_app=app)) is False


def test_app_age_is_measured_against_now() -> None:
    """The same registration is risky a day after it was made and not once RISKY_APP_MAX_AGE has passed."""
    app = client_app(tenant_id=OTHER_TENANT, multi_tenant=True, age=timedelta(days=1))
    assert is_risky(risky_subject(client_app=app, now=NOW)) is True
    assert is_risky(risky_subject(client_app=app, now=NOW + RISKY_APP_MAX_AGE)) is False
    assert is_risky(risky_subject(client_app=app, now=NOW + RISKY_APP_MAX_AGE - timedelta(days=1, seconds=1)))


def test_an_app_of_unknown_age_is_not_risky() -> None:
    assert is_risky(risky_subject(client_app=client_app(tenant_id=OTHER_TENANT, multi_tenant=True, age=None))) \
        is False


def test_basic_sign_in_permissions_alone_are_not_risky() -> None:
    basic = tuple(delegated(v) for v in ("openid", "profile", "email", "offline_access", "User.Read"))
    assert is_risky(risky_subject(requested=basic, missing=basic)) is False
    assert is_risky(risky_subject(requested=(*basic, delegated("Contacts.Read")))) is True


def test_the_risky_check_looks_at_everything_requested_not_only_what_is_missing() -> None:
    mail = delegated("Mail.Read")
    assert is_risky(risky_subject(requested=(delegated("User.Read"), mail), missing=(delegated("User.Read"),)))
