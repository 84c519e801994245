"""The admin consent request workflow (spec §5.3, §6.6, §7, §11, §13 items 11–12): the tenant's policy,
requests aggregated per app and consent type, and the life of each user's request.

One ``appConsentRequest`` per (app, consent type) holds one ``userConsentRequest`` per submission::

    (submit) ──▶ InProgress ──approve (admin consent, by any path)──▶ Completed  review: Approve
                            ──deny (justification)──────────────────▶ Completed  review: Deny     may ask again
                            ──block (justification)─────────────────▶ Completed  review: Deny     SP disabled
                            ──expiresAt passes──────────────────────▶ Expired                       may ask again

A decision on the aggregate closes every ``InProgress`` request under it. A user with a request in
progress for the same app and consent type does not create another (her resubmission is the same work).
Reviewers are fixed when a user's request is created: whoever the policy named then (groups expanded to
their members, roles to their holders) may act on it, and nobody added later.

Reminders, when enabled: the first about halfway to expiry, the last a day before it (or halfway, for a
one-day request).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

STATIC = "Static"
DYNAMIC = "Dynamic"

IN_PROGRESS = "InProgress"
COMPLETED = "Completed"
EXPIRED = "Expired"

NOT_REVIEWED = "NotReviewed"
APPROVE = "Approve"
DENY = "Deny"

# What ended a request, as Consentry records it (the Graph shape only knows Approve/Deny).
APPROVED = "approved"
DENIED = "denied"
BLOCKED = "blocked"
TIMED_OUT = "expired"

MIN_DURATION_DAYS = 1
MAX_DURATION_DAYS = 30
DEFAULT_DURATION_DAYS = 30
MAX_JUSTIFICATION = 1000
MAX_REVIEWERS = 25

USER_QUERY = re.compile(r"^/(?:v1\.0/|beta/)?users/([0-9a-fA-F-]{36})$")
GROUP_QUERY = re.compile(r"^/(?:v1\.0/|beta/)?groups/([0-9a-fA-F-]{36})/transitiveMembers(?:/microsoft\.graph\.user)?$")
ROLE_QUERY = re.compile(
    r"^/(?:v1\.0/|beta/)?roleManagement/directory/roleAssignments\?\$filter=roleDefinitionId eq '([0-9a-fA-F-]{36})'$")


@dataclass(frozen=True, slots=True)
class Reviewer:
    """An ``accessReviewReviewerScope``: a user, a group's members or a directory role's holders."""

    query: str
    query_type: str = "MicrosoftGraph"
    query_root: str | None = None

    @property
    def kind(self) -> str | None:
        """``user``, ``group`` or ``role`` — None when the query is not one Consentry understands."""
        for kind, pattern in (("user", USER_QUERY), ("group", GROUP_QUERY), ("role", ROLE_QUERY)):
            if pattern.match(self.query):
                return kind
        return None

    @property
    def target_id(self) -> str | None:
        for pattern in (USER_QUERY, GROUP_QUERY, ROLE_QUERY):
            match = pattern.match(self.query)
            if match:
                return match.group(1).lower()
        return None


def user_reviewer(user_id: str) -> Reviewer:
    return Reviewer(f"/users/{user_id}")


def group_reviewer(group_id: str) -> Reviewer:
    return Reviewer(f"/groups/{group_id}/transitiveMembers/microsoft.graph.user")


def role_reviewer(role_template_id: str) -> Reviewer:
    return Reviewer(f"/beta/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '{role_template_id}'")


@dataclass(frozen=True, slots=True)
class RequestPolicy:
    """``adminConsentRequestPolicy`` (one per tenant; ``version`` moves on with every change)."""

    is_enabled: bool = False
    notify_reviewers: bool = False
    reminders_enabled: bool = False
    request_duration_in_days: int = 0  # 0 until first configured, as Graph shows a never-configured policy
    reviewers: tuple[Reviewer, ...] = ()
    version: int = 0

    @property
    def duration(self) -> timedelta:
        return timedelta(days=self.request_duration_in_days or DEFAULT_DURATION_DAYS)


@dataclass(frozen=True, slots=True)
class AppConsentRequest:
    id: str
    tenant_id: str
    app_id: str
    app_display_name: str
    consent_type: str  # STATIC or DYNAMIC
    pending_scopes: tuple[str, ...]  # the union of dynamic scopes asked for; empty for STATIC
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserConsentRequest:
    id: str
    app_request_id: str
    tenant_id: str
    user_id: str
    user_display_name: str
    user_principal_name: str
    user_mail: str | None
    reason: str
    status: str  # IN_PROGRESS, COMPLETED or EXPIRED
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None = None
    outcome: str | None = None  # APPROVED, DENIED, BLOCKED or TIMED_OUT
    review_result: str = NOT_REVIEWED
    reviewed_by_id: str | None = None
    reviewed_by_name: str | None = None
    reviewed_by_upn: str | None = None
    reviewed_at: datetime | None = None
    review_justification: str | None = None
    first_reminder_at: datetime | None = None  # when the halfway reminder went out
    last_reminder_at: datetime | None = None  # when the day-before reminder went out
    reviewer_ids: tuple[str, ...] = field(default=())  # the snapshot taken at creation
    scopes: tuple[str, ...] = field(default=())  # the dynamic scopes this user asked for; empty for STATIC


def first_reminder_due(created_at: datetime, expires_at: datetime) -> datetime:
    return created_at + (expires_at - created_at) / 2


def last_reminder_due(created_at: datetime, expires_at: datetime) -> datetime:
    """A day before expiry; for requests of a day or less, the same moment as the first reminder."""
    return max(expires_at - timedelta(days=1), first_reminder_due(created_at, expires_at))


def validate_justification(text: str) -> str:
    """The user's reason (or a reviewer's): required, at most MAX_JUSTIFICATION characters, no control
    characters except line breaks and tabs. Returns it stripped; raises ValueError with the reason."""
    cleaned = text.strip()
    if not cleaned:
        raise ValueError("A justification is required.")
    if len(cleaned) > MAX_JUSTIFICATION:
        raise ValueError(f"The justification may be at most {MAX_JUSTIFICATION} characters.")
    if any(ord(ch) < 32 and ch not in "\r\n\t" for ch in cleaned) or "\x7f" in cleaned:
        raise ValueError("The justification contains control characters.")
    return cleaned
