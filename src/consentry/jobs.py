"""Background jobs, safe to run from several instances at once: each is idempotent and takes a lock or lease.

- :func:`run_once`: the minute job. First the admin consent requests that are due as of an instant (expiry
  and reminders, :func:`consentry.services.consent_requests.run_due`, which only queues mail), then the
  delivery of due mail through the Mailer (:func:`consentry.services.outbox.deliver_due`), batch after
  batch. The server runs it every ``CONSENTRY_JOB_INTERVAL`` seconds in each process
  (:func:`run_scheduled`, which skips a round while the previous one still runs in the same process);
  ``consentry jobs run-once [--as-of]`` runs it once. Several processes on one PostgreSQL may run it at the
  same time: requests are expired once (the request job's own lock) and mail goes out once (leases).
- :func:`purge_expired_state`: housekeeping, expired protocol state (codes, device codes, spent
  assertions, interactions, sessions and refresh tokens past their lifetime) and retired signing keys.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import structlog

from consentry.domain.clock import as_utc
from consentry.mail import Mailer
from consentry.services import consent_requests, deleted_items
from consentry.services.consent_requests import DueReport
from consentry.services.context import ServiceContext
from consentry.services.outbox import DeliveryReport, deliver_due

log = structlog.get_logger("consentry.jobs")
MAX_DELIVERY_ROUNDS = 100  # batches per run: the next run, a minute later, goes on with the rest

_running = threading.Lock()  # one scheduled run at a time in this process


@dataclass(frozen=True, slots=True)
class JobReport:
    as_of: datetime
    requests: DueReport  # requests expired and reminded
    delivery: DeliveryReport | None  # None when no Mailer is configured: mail waits in the outbox


def run_once(ctx: ServiceContext, mailer: Mailer | None, as_of: datetime | None = None) -> JobReport:
    """Evaluate the requests due as of ``as_of`` (default: now), then deliver the mail that is due.

    Mail is delivered as of the later of ``as_of`` and now, so that what the request job has just queued
    is due, and a past ``as_of`` does not hold back mail that is due now. Mail is delivered even when the
    request job fails (its error is raised afterwards)."""
    now = as_utc(ctx.clock.now())
    as_of = as_utc(as_of) if as_of is not None else now
    try:
        requests = consent_requests.run_due(ctx, as_of)  # queues mail only: delivery comes next
    finally:
        delivery = deliver_mail(ctx, mailer, max(as_of, now)) if mailer is not None else None
    return JobReport(as_of, requests, delivery)


def run_scheduled(ctx: ServiceContext, mailer: Mailer | None) -> JobReport | None:
    """:func:`run_once` as of now, unless a run is still going on in this process (then None)."""
    if not _running.acquire(blocking=False):
        return None
    try:
        report = run_once(ctx, mailer)
    finally:
        _running.release()
    requests, delivery = report.requests, report.delivery
    if requests.expired or requests.first_reminders or requests.last_reminders:
        log.info("consent requests", expired=requests.expired, first_reminders=requests.first_reminders,
                 last_reminders=requests.last_reminders)
    if delivery is not None and delivery.claimed:
        log.info("mail delivery", sent=delivery.sent, failed=delivery.failed, postponed=delivery.postponed,
                 lost_lease=delivery.lost_lease)
        for failure in delivery.failures:
            log.warning("mail not delivered", message_id=failure.message_id, error=failure.error,
                        retry_at=failure.retry_at.isoformat())
    return report


def deliver_mail(ctx: ServiceContext, mailer: Mailer, now: datetime) -> DeliveryReport:
    """Deliver due mail batch after batch, until a batch is not full or gave messages back (the server
    failing, or time running out), at most :data:`MAX_DELIVERY_ROUNDS` batches."""
    total = DeliveryReport()
    batch = ctx.settings.mail_batch
    for _ in range(MAX_DELIVERY_ROUNDS):
        report = deliver_due(ctx, mailer, now, batch)
        total.add(report)
        if report.claimed < batch or report.postponed or report.lost_lease:
            break
    return total


def purge_expired_state(ctx: ServiceContext) -> None:
    now = ctx.clock.now()
    with ctx.uow.begin() as tx:
        tx.tokens.purge_expired(now)
        tx.keys.purge(now)
    deleted_items.purge_expired(ctx)  # deleted items past their 30 days (its own transaction)
