"""The consent decision at ``/authorize`` and the admin consent endpoints (spec §3.2 steps 5–11, §5, §7.5,
§13) as an ordered list of named checks. The first check that decides wins; its name is the *reason*
that the sign-in log and the audit log record.

======================== ======================================================= =====================
check (reason)           when                                                    next step
======================== ======================================================= =====================
app_disabled             the client's service principal is disabled              blocked: AADSTS7000112
admin_consent_requested  admin flow, and the user may grant all of it tenant-    admin consent page
                         wide (``managePermissionGrantsForAll``)
role_cannot_grant        admin flow, the user holds a consent role that does not need admin approval
                         cover everything (Graph app roles for an Application    (AADSTS90093)
                         Administrator)
admin_role_required      admin flow, the user holds no consent role              need admin approval
granted                  nothing is missing and no ``prompt=consent``            issue the code …
user_not_assigned        … unless assignment is required and the user is not     blocked: AADSTS50105
                         assigned
admin_may_consent        the user's roles cover everything missing               consent page with the
                                                                                 organization checkbox
assignment_required      the app requires assignment: user consent impossible    need admin approval
risky_app                risk-based step-up is on and the request is risky       need admin approval
                                                                                 (AADSTS900941)
user_consent_not_allowed the tenant lets users consent to nothing                need admin approval
admin_only_permission    a missing permission is admin-only and no policy of     need admin approval
                         the user covers it
permission_not_allowed   a missing permission no policy of the user covers       need admin approval
scopes_missing           the user's policies cover everything missing            consent page
consent_forced           as ``scopes_missing``, because of ``prompt=consent``    consent page
======================== ======================================================= =====================

"Need admin approval" becomes "Approval required" (AADSTS90095) when the tenant's admin consent request
workflow is on; the reason stays the check's.

A request is *risky* (a deterministic stand-in for Entra's risk signal, spec §6.5) when all of these hold:
the client is registered in another tenant (not Microsoft's, not this one), its publisher is not
verified, its registration is less than ``RISKY_APP_MAX_AGE`` old, and it asks for more than the basic
sign-in permissions (``BASIC_PERMISSIONS``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from consentry.domain.apps import Application, ServicePrincipal
from consentry.domain.consent_policy import (
    APPLICATION,
    DELEGATED,
    PermissionEvent,
    PermissionGrantPolicy,
    all_covered,
    uncovered,
)
from consentry.errors import (
    ADMIN_CONSENT_REQUIRED,
    APP_DISABLED,
    APPROVAL_REQUIRED,
    NOT_AUTHORIZED_TO_GRANT,
    RISKY_APP_ADMIN_CONSENT_REQUIRED,
    USER_NOT_ASSIGNED,
    CatalogEntry,
)

SCOPE = "Scope"
ROLE = "Role"
RISKY_APP_MAX_AGE = timedelta(days=30)
BASIC_PERMISSIONS = frozenset({"openid", "profile", "email", "offline_access", "user.read"})

RISKY_APP = "risky_app"

ISSUE = "issue"
CONSENT = "consent"
ADMIN_CONSENT = "admin_consent"
NEED_APPROVAL = "need_admin_approval"
APPROVAL_REQUIRED_STEP = "approval_required"
BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class Permission:
    """One permission a client asks for on one resource, with the texts the consent pages show."""

    resource_id: str  # the resource service principal's object id
    resource_app_id: str
    resource_name: str
    kind: str  # SCOPE (delegated) or ROLE (application)
    id: str
    value: str
    admin_only: bool
    classification: str | None
    user_text: str
    user_description: str
    admin_text: str
    admin_description: str

    @property
    def is_delegated(self) -> bool:
        return self.kind == SCOPE


@dataclass(frozen=True, slots=True)
class ConsentSubject:
    """Everything the decision looks at, read from the directory in one transaction."""

    tenant_id: str
    client_app: Application
    client_sp: ServicePrincipal | None
    user_assigned: bool  # holds an app role of the client (read only when the client requires assignment)
    requested: tuple[Permission, ...]  # what the page would show (the static list when ``.default`` prompts)
    missing: tuple[Permission, ...]  # requested and not yet granted
    self_policies: tuple[PermissionGrantPolicy, ...]  # the user may consent on their own behalf
    all_policies: tuple[PermissionGrantPolicy, ...]  # the user may consent for the whole tenant
    block_risky_apps: bool
    now: datetime
    prompt: str | None = None
    admin_flow: bool = False
    request_workflow: bool = False  # the admin consent request workflow is on


@dataclass(frozen=True, slots=True)
class Decision:
    step: str  # ISSUE, CONSENT, ADMIN_CONSENT, NEED_APPROVAL, APPROVAL_REQUIRED_STEP or BLOCKED
    reason: str
    permissions: tuple[Permission, ...] = ()  # what the page shows and Accept grants
    error: CatalogEntry | None = None  # BLOCKED: the error; NEED_APPROVAL: the variant of the page
    org_checkbox: bool = False  # "Consent on behalf of your organization" is offered
    risky: bool = False
    uncovered: tuple[Permission, ...] = field(default=())  # what the user's policies do not cover


def permission_event(subject: ConsentSubject, permission: Permission) -> PermissionEvent:
    app = subject.client_app
    return PermissionEvent(
        permission_type=DELEGATED if permission.is_delegated else APPLICATION, permission_id=permission.id,
        permission_value=permission.value, resource_app_id=permission.resource_app_id,
        admin_only=permission.admin_only or not permission.is_delegated, classification=permission.classification,
        client_app_id=app.app_id, client_tenant_id=app.tenant_id,
        client_publisher_id=app.verified_publisher.get("verifiedPublisherId"), client_verified=app.verified)


def is_risky(subject: ConsentSubject) -> bool:
    app = subject.client_app
    created = app.created_at
    return (app.tenant_id is not None and app.tenant_id != subject.tenant_id
            and not app.verified
            and created is not None and subject.now - created < RISKY_APP_MAX_AGE
            and any(p.value.lower() not in BASIC_PERMISSIONS for p in subject.requested))


def _events(subject: ConsentSubject, permissions: Sequence[Permission]) -> list[PermissionEvent]:
    return [permission_event(subject, p) for p in permissions]


def _to_show(subject: ConsentSubject) -> tuple[Permission, ...]:
    return subject.requested if subject.prompt == "consent" else subject.missing


def _need_approval(reason: str, subject: ConsentSubject, error: CatalogEntry = ADMIN_CONSENT_REQUIRED,
                   not_covered: Sequence[Permission] = ()) -> Decision:
    risky = error is RISKY_APP_ADMIN_CONSENT_REQUIRED
    if subject.request_workflow:
        return Decision(APPROVAL_REQUIRED_STEP, reason, _to_show(subject) or subject.requested, APPROVAL_REQUIRED,
                        risky=risky, uncovered=tuple(not_covered))
    return Decision(NEED_APPROVAL, reason, _to_show(subject) or subject.requested, error, risky=risky,
                    uncovered=tuple(not_covered))


# --- the checks, in order -------------------------------------------------------------------------
Check = Callable[[ConsentSubject], "Decision | None"]


def check_app_disabled(subject: ConsentSubject) -> Decision | None:
    if subject.client_sp is not None and not subject.client_sp.account_enabled:
        return Decision(BLOCKED, "app_disabled", error=APP_DISABLED)
    return None


def check_admin_flow(subject: ConsentSubject) -> Decision | None:
    if not subject.admin_flow:
        return None
    if not subject.all_policies:
        return _need_approval("admin_role_required", subject)
    not_covered = uncovered(subject.all_policies, _events(subject, subject.requested))
    if not_covered:
        ids = {ev.permission_id for ev in not_covered}
        return _need_approval("role_cannot_grant", subject, NOT_AUTHORIZED_TO_GRANT,
                              [p for p in subject.requested if p.id in ids])
    return Decision(ADMIN_CONSENT, "admin_consent_requested", subject.requested, risky=is_risky(subject))


def check_granted(subject: ConsentSubject) -> Decision | None:
    if subject.missing or subject.prompt == "consent":
        return None
    if subject.client_sp is not None and subject.client_sp.app_role_assignment_required \
            and not subject.user_assigned:
        return Decision(BLOCKED, "user_not_assigned", error=USER_NOT_ASSIGNED)
    return Decision(ISSUE, "granted")


def _consent(subject: ConsentSubject, *, org_checkbox: bool) -> Decision:
    reason = "consent_forced" if subject.prompt == "consent" else "scopes_missing"
    return Decision(CONSENT, reason, _to_show(subject), org_checkbox=org_checkbox, risky=is_risky(subject))


def check_admin_may_consent(subject: ConsentSubject) -> Decision | None:
    shown = _to_show(subject)
    if subject.all_policies and all_covered(subject.all_policies, _events(subject, shown)):
        return _consent(subject, org_checkbox=True)
    return None


def check_assignment_required(subject: ConsentSubject) -> Decision | None:
    if subject.client_sp is not None and subject.client_sp.app_role_assignment_required:
        return _need_approval("assignment_required", subject)
    return None


def check_risky_app(subject: ConsentSubject) -> Decision | None:
    if subject.block_risky_apps and is_risky(subject):
        return _need_approval(RISKY_APP, subject, RISKY_APP_ADMIN_CONSENT_REQUIRED)
    return None


def check_user_consent_allowed(subject: ConsentSubject) -> Decision | None:
    if not subject.self_policies:
        return _need_approval("user_consent_not_allowed", subject)
    return None


def check_policies(subject: ConsentSubject) -> Decision | None:
    shown = _to_show(subject)
    not_covered_ids = {ev.permission_id for ev in uncovered(subject.self_policies, _events(subject, shown))}
    if not not_covered_ids:
        return None
    not_covered = [p for p in shown if p.id in not_covered_ids]
    reason = "admin_only_permission" if any(p.admin_only or not p.is_delegated for p in not_covered) \
        else "permission_not_allowed"
    return _need_approval(reason, subject, not_covered=not_covered)


CHECKS: tuple[Check, ...] = (
    check_app_disabled,
    check_admin_flow,
    check_granted,
    check_admin_may_consent,
    check_assignment_required,
    check_risky_app,
    check_user_consent_allowed,
    check_policies,
)


def decide(subject: ConsentSubject) -> Decision:
    for check in CHECKS:
        decision = check(subject)
        if decision is not None:
            return decision
    return _consent(subject, org_checkbox=False)
