"""The mail outbox (DESIGN "Nothing is lost"): use cases queue messages in their own transaction with
:func:`enqueue`; a background job delivers them through the Mailer, retrying with backoff until delivered,
recording each delivery so that no message goes out twice."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from consentry.domain.ids import new_guid
from consentry.domain.mail import OutgoingMail
from consentry.store.uow import TenantScope

MESSAGE_ID_DOMAIN = "consentry.invalid"


def enqueue(scope: TenantScope, mails: Iterable[OutgoingMail], now: datetime) -> int:
    """Queue messages inside the caller's transaction; a message whose event key is already queued is
    skipped. Returns how many were queued."""
    queued = 0
    for mail in mails:
        mail_id = new_guid()
        if scope.outbox.add(mail, message_id=f"<{mail_id}@{MESSAGE_ID_DOMAIN}>", mail_id=mail_id, now=now):
            queued += 1
    return queued
