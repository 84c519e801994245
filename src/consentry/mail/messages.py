"""The e-mails of the admin consent request workflow (spec §7.6), each as plain text and HTML.

To reviewers: a new request ("Review request: …"), the halfway reminder, the final reminder (the day before
expiry) and the expiry. To the requester: the confirmation on submission, the approval, the denial or block
(with the reviewer's justification) and the expiry. Every message names the app, the requester, her
justification and the permissions; reviewers' messages carry the link to the request in the portal.

Builders take plain values (:class:`RequestFacts`) and return an :class:`OutgoingMail`; they read nothing.
HTML is rendered with autoescaping on, so a justification such as ``<script>…`` arrives as text. Subjects
are one line (control characters and line breaks become spaces) and bounded in length, so no value can
add a header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from consentry.domain.mail import OutgoingMail

MAX_SUBJECT = 200
MAX_NAME_IN_SUBJECT = 80

_env = Environment(loader=PackageLoader("consentry.mail", "templates"),
                   autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
                   undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                   auto_reload=False)  # the templates ship with the package: no stat() per message
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")

# What each message is: its audience, and the subject and opening line (str.format over the facts).
REVIEW = "review"
FIRST_REMINDER = "first_reminder"
FINAL_REMINDER = "final_reminder"
EXPIRED_FOR_REVIEWER = "expired_for_reviewer"
SUBMITTED = "submitted"
APPROVED = "approved"
DENIED = "denied"
BLOCKED = "blocked"
EXPIRED = "expired"

_MESSAGES: dict[str, tuple[str, str, str]] = {
    REVIEW: ("reviewer", "Review request: {requester} requested access to {app}",
             "{requester} requested access to {app} and needs your approval."),
    FIRST_REMINDER: ("reviewer", "Reminder: {requester}'s request for access to {app} is waiting for review",
                     "{requester}'s request for access to {app} is still waiting for a review. It expires on "
                     "{expires}."),
    FINAL_REMINDER: ("reviewer", "Final reminder: {requester}'s request for access to {app} expires soon",
                     "{requester}'s request for access to {app} expires on {expires}. Review it before then, or "
                     "it will be rejected automatically."),
    EXPIRED_FOR_REVIEWER: ("reviewer", "Request expired: {requester}'s request for access to {app}",
                           "{requester}'s request for access to {app} expired on {expires} without a review."),
    SUBMITTED: ("requester", "Your request for access to {app} was sent for approval",
                "Your request for access to {app} was sent to the administrators who review such requests. "
                "You will receive an e-mail when it is reviewed."),
    APPROVED: ("requester", "Your request for access to {app} was approved",
               "Your request for access to {app} was approved. You can now sign in to the app."),
    DENIED: ("requester", "Your request for access to {app} was denied",
             "Your request for access to {app} was denied. You may send a new request."),
    BLOCKED: ("requester", "Your request for access to {app} was denied",
              "Your request for access to {app} was denied, and the app was blocked in your organization. "
              "No further requests for it are possible."),
    EXPIRED: ("requester", "Your request for access to {app} expired",
              "Your request for access to {app} was not reviewed before {expires} and has expired. You may send a "
              "new request."),
}


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What every message about one user's request shows."""

    app_name: str
    app_id: str
    organization: str  # the tenant's display name
    requester_name: str
    requester_upn: str
    reason: str  # the requester's justification
    permissions: tuple[str, ...]  # one line each, e.g. "User.Read (Microsoft Graph): Sign in and read user profile"
    created_at: datetime
    expires_at: datetime
    link: str  # the request in the portal
    request_id: str  # the aggregate's id, as the portal and Graph know it


def one_line(text: str, limit: int) -> str:
    """A value fit for a header: no control characters or line breaks, runs of space collapsed, bounded."""
    cleaned = " ".join(_CONTROL.sub(" ", text).split())
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 1].rstrip() + "…"


def _when(value: datetime) -> str:
    return value.strftime("%d %B %Y %H:%M UTC")


def build(kind: str, facts: RequestFacts, *, recipient: str, event_key: str,
          justification: str | None = None) -> OutgoingMail:
    """The message of this kind (``REVIEW``, ``FIRST_REMINDER``, … ``EXPIRED``) for one recipient;
    ``justification`` is the reviewer's (for ``DENIED`` and ``BLOCKED``)."""
    audience, subject, opening = _MESSAGES[kind]
    names = {"requester": one_line(facts.requester_name or facts.requester_upn, MAX_NAME_IN_SUBJECT),
             "app": one_line(facts.app_name, MAX_NAME_IN_SUBJECT), "expires": _when(facts.expires_at)}
    values: dict[str, Any] = {
        "kind": kind, "facts": facts, "subject": one_line(subject.format(**names), MAX_SUBJECT),
        "opening": opening.format(requester=facts.requester_name, app=facts.app_name, expires=names["expires"]),
        "justification": justification, "created": _when(facts.created_at), "expires": names["expires"],
    }
    text = _env.get_template(f"{audience}.txt").render(values)
    html = _env.get_template(f"{audience}.html").render(values)
    return OutgoingMail(event_key, recipient, values["subject"], text, html)


def review_request(facts: RequestFacts, *, recipient: str, event_key: str) -> OutgoingMail:
    return build(REVIEW, facts, recipient=recipient, event_key=event_key)


def review_reminder(facts: RequestFacts, *, recipient: str, event_key: str, final: bool) -> OutgoingMail:
    return build(FINAL_REMINDER if final else FIRST_REMINDER, facts, recipient=recipient, event_key=event_key)


def request_expired_for_reviewer(facts: RequestFacts, *, recipient: str, event_key: str) -> OutgoingMail:
    return build(EXPIRED_FOR_REVIEWER, facts, recipient=recipient, event_key=event_key)


def request_submitted(facts: RequestFacts, *, recipient: str, event_key: str) -> OutgoingMail:
    return build(SUBMITTED, facts, recipient=recipient, event_key=event_key)


def request_approved(facts: RequestFacts, *, recipient: str, event_key: str) -> OutgoingMail:
    return build(APPROVED, facts, recipient=recipient, event_key=event_key)


def request_denied(facts: RequestFacts, *, recipient: str, event_key: str, justification: str,
                   blocked: bool = False) -> OutgoingMail:
    return build(BLOCKED if blocked else DENIED, facts, recipient=recipient, event_key=event_key,
                 justification=justification)


def request_expired(facts: RequestFacts, *, recipient: str, event_key: str) -> OutgoingMail:
    return build(EXPIRED, facts, recipient=recipient, event_key=event_key)
