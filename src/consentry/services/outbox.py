"""The mail outbox (DESIGN "Nothing is lost"): use cases queue messages in their own transaction with
:func:`enqueue`; the delivery job (:func:`deliver_due`) sends them through the Mailer, retrying with backoff
until delivered and recording each delivery so that no message goes out twice; :func:`page_outbox` shows a
tenant's outbox in the portal (where the demo reads its mail when no SMTP server is configured).

Delivery, per batch::

    1. one transaction: lease up to ``limit`` due messages of every tenant (lease_until = now + lease)
    2. no transaction:  send each through the Mailer, with its stable Message-ID
    3. one transaction per message, right after its send: record it sent (sent_at; lease released),
       or record the failure (attempts + 1, next attempt after the backoff, last_error)
    after three failures in a row, or once the send window (:func:`send_window`) has passed, the rest of
    the batch is given back untried in one transaction (due again after the last backoff, or at once)

SMTP and the database cannot commit together, so delivery is at least once; the window for a duplicate is
a crash (or a lost database) between an SMTP server accepting a message and step 3 committing, for that one
message. The lease then lapses and another sender sends it again, with the same Message-ID, which lets
receiving systems discard the copy. Everything else is exactly once: a leased message is not claimed by
anyone else until its lease lapses; a sender stops starting new sends before its lease could lapse
(:func:`send_window`, measured on a monotonic clock); a message recorded as sent is never claimed again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from consentry.domain.clock import as_utc
from consentry.domain.ids import new_guid
from consentry.domain.mail import OutgoingMail
from consentry.errors import INVALID_VALUE, NOT_FOUND, ConsentryError
from consentry.mail import Mailer
from consentry.services.context import ServiceContext
from consentry.store.outbox import FAILED, PENDING, SENT, STATUSES, OutboxMessage
from consentry.store.uow import TenantScope

__all__ = ["FAILED", "PENDING", "SENT", "STATUSES", "DeliveryReport", "OutboxMessage", "deliver_due",
           "enqueue", "get_outbox_message", "page_outbox", "retry_delay", "send_window"]

MESSAGE_ID_DOMAIN = "consentry.invalid"
MAX_EXPONENT = 30  # 2**30 × base is beyond any sensible maximum: no huge integers for old messages


def enqueue(scope: TenantScope, mails: Iterable[OutgoingMail], now: datetime) -> int:
    """Queue messages inside the caller's transaction; a message whose event key is already queued is
    skipped. Returns how many were queued."""
    ids = []
    for mail in mails:
        mail_id = new_guid()
        ids.append((mail, f"<{mail_id}@{MESSAGE_ID_DOMAIN}>", mail_id))
    return scope.outbox.add_all(ids, now)


# --- delivery ------------------------------------------------------------------------------------

MAX_CONSECUTIVE_FAILURES = 3  # then the server is taken to be down: the rest of the batch waits, untried


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    message_id: str
    recipient: str
    error: str
    retry_at: datetime


@dataclass(slots=True)
class DeliveryReport:
    """What :func:`deliver_due` did: ``claimed`` = ``sent`` + ``failed`` + ``postponed`` (given back untried:
    the server had failed several times in a row, or the lease was running out) + ``lost_lease`` (the lease
    had lapsed and been taken over by the time the outcome was to be recorded)."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    postponed: int = 0
    lost_lease: int = 0
    failures: list[DeliveryFailure] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.failed += other.failed
        self.postponed += other.postponed
        self.lost_lease += other.lost_lease
        self.failures.extend(other.failures)


def retry_delay(attempts: int, base: int, maximum: int) -> timedelta:
    """The wait after a failed attempt, ``attempts`` being the failures before it: base, 2×base, 4×base…,
    at most ``maximum`` seconds. Messages are retried for as long as it takes (nothing is lost)."""
    return timedelta(seconds=min(base * 2 ** min(attempts, MAX_EXPONENT), maximum))


def send_window(lease: float, timeout: float) -> float:
    """Seconds after a claim during which a sender may start sending: half the lease, and never closer to
    its end than four SMTP timeouts (one send is several commands, each allowed ``timeout``)."""
    return max(0.0, min(lease / 2, lease - 4 * timeout))


def deliver_due(ctx: ServiceContext, mailer: Mailer, now: datetime, limit: int | None = None) -> DeliveryReport:
    """Lease up to ``limit`` (default ``CONSENTRY_MAIL_BATCH``) messages due at ``now``, send them and record
    each outcome (see the module's docstring). Safe to run from several processes at once."""
    settings = ctx.settings
    now = as_utc(now)
    lease_until = now + timedelta(seconds=settings.mail_lease)
    with ctx.uow.begin() as tx:
        claimed = tx.claim_due_mail(now, limit or settings.mail_batch, lease_until - now)
    report = DeliveryReport(claimed=len(claimed))
    # Start no send that could outlive the lease: then another sender could claim the message meanwhile.
    deadline = time.monotonic() + send_window(settings.mail_lease, settings.smtp_timeout)
    consecutive_failures = 0
    for index, message in enumerate(claimed):
        if consecutive_failures >= MAX_CONSECUTIVE_FAILURES or time.monotonic() >= deadline:
            retry_at = report.failures[-1].retry_at if consecutive_failures else now
            _postpone(ctx, claimed[index:], lease_until, retry_at, report)
            break
        if _deliver_one(ctx, mailer, message, now, lease_until, report):
            consecutive_failures = 0
        else:
            consecutive_failures += 1
    return report


def _deliver_one(ctx: ServiceContext, mailer: Mailer, message: OutboxMessage, now: datetime,
                 lease_until: datetime, report: DeliveryReport) -> bool:
    """Send one message and record the outcome at once (this commit closes the window for a duplicate)."""
    try:
        mailer.send(message.mail, message.message_id)
    except Exception as exc:  # any failure of any mailer is one failed attempt, retried later
        _record_failure(ctx, message, now, lease_until, _describe(exc), report)
        return False
    with ctx.uow.begin() as tx:
        tx.tenant(message.tenant_id).outbox.record_sent(message.id, max(now, as_utc(ctx.clock.now())))
    report.sent += 1
    return True


def _record_failure(ctx: ServiceContext, message: OutboxMessage, now: datetime, lease_until: datetime,
                    error: str, report: DeliveryReport) -> None:
    settings = ctx.settings
    retry_at = max(now, as_utc(ctx.clock.now())) + retry_delay(message.attempts, settings.mail_retry_base,
                                                                settings.mail_retry_max)
    with ctx.uow.begin() as tx:
        recorded = tx.tenant(message.tenant_id).outbox.record_failure(
            message.id, lease_until=lease_until, error=error, retry_at=retry_at)
    if recorded:
        report.failed += 1
        report.failures.append(DeliveryFailure(message.message_id, message.recipient, error, retry_at))
    else:
        report.lost_lease += 1


def _postpone(ctx: ServiceContext, messages: list[OutboxMessage], lease_until: datetime, retry_at: datetime,
              report: DeliveryReport) -> None:
    with ctx.uow.begin() as tx:
        for message in messages:
            if tx.tenant(message.tenant_id).outbox.release(message.id, lease_until=lease_until, retry_at=retry_at):
                report.postponed += 1
            else:
                report.lost_lease += 1


def _describe(exc: Exception) -> str:
    """The failure as the outbox keeps it: the exception's type and first line (SMTP replies carry the
    server's code and text; no exception here carries the password)."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- the portal's view ---------------------------------------------------------------------------

def page_outbox(ctx: ServiceContext, tenant_id: str, *, status: str | None = None, after: str | None = None,
                limit: int = 50) -> tuple[list[OutboxMessage], str | None]:
    """One page of a tenant's outbox, newest first; ``status`` is pending, failed, sent or None (all);
    ``after`` is the cursor a previous page returned. Returns the messages and the next page's cursor."""
    if status is not None and status not in STATUSES:
        raise ConsentryError(INVALID_VALUE, reason=f"The outbox status is one of {', '.join(STATUSES)}.")
    with ctx.uow.read() as tx:
        messages, next_key = tx.tenant(tenant_id).outbox.page(
            status=status, after=_decode_cursor(after), limit=max(1, min(limit, 200)))
    return messages, _encode_cursor(next_key)


def get_outbox_message(ctx: ServiceContext, tenant_id: str, mail_id: str) -> OutboxMessage:
    with ctx.uow.read() as tx:
        message = tx.tenant(tenant_id).outbox.find(mail_id)
    if message is None:
        raise ConsentryError(NOT_FOUND)
    return message


def _encode_cursor(key: tuple[datetime, str] | None) -> str | None:
    return f"{as_utc(key[0]).isoformat()}~{key[1]}" if key else None


def _decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    when, _, mail_id = cursor.partition("~")
    try:
        return as_utc(datetime.fromisoformat(when)), mail_id
    except (ValueError, OverflowError) as exc:
        raise ConsentryError(INVALID_VALUE, reason="The outbox page cursor is not valid.") from exc
