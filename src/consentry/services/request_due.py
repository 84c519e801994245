"""What the clock does to admin consent requests (spec §6.6, §7.6): requests expire when their time runs
out, and reviewers are reminded halfway to expiry and the day before — :func:`run_due`, which the job runner
calls every minute and ``consentry jobs run-once --as-of …`` calls once.

Work goes in batches of ``BATCH`` requests, one transaction each, so 100,000 due requests take bounded
memory and commit as they go. Several processes on one PostgreSQL may run it at once:

* expiry: a batch takes the ``EXPIRY_LOCK`` advisory lock, so processes take turns; each request changes
  state with a conditional update, and a batch that finds any of its requests changed by someone else
  (a reviewer's decision, say) rolls back whole and is chosen again — so every request expires once and
  its audit record and mails are written once;
* reminders: a batch skips requests another process holds (``SKIP LOCKED``) and records each reminder with
  a conditional update (``… WHERE last_reminder_at IS NULL``) before queuing its mails, so each reminder
  goes out once. The outbox's event keys would drop a duplicate message anyway.

When both reminders are due at once (a one- or two-day request, or a job that did not run for a while), only
the final reminder goes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from consentry.domain.consent_requests import first_reminder_due, last_reminder_due
from consentry.mail import messages
from consentry.services import outbox
from consentry.services.context import ServiceContext
from consentry.services.request_outcomes import About, Mailing, RequestsChanged, expire_requests
from consentry.store.consent_request_due import (
    FIRST,
    LAST,
    DueRequest,
    list_due_expiries,
    list_due_reminders,
    mark_reminded,
)
from consentry.store.uow import Transaction

BATCH = 500
MAX_RETRIES = 20
EXPIRY_LOCK = "jobs/consent-requests/expiry"
REMINDER_LOCK = "jobs/consent-requests/reminders"

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DueReport:
    """How many requests expired, and how many got their first and their final reminder."""

    expired: int = 0
    first_reminders: int = 0
    last_reminders: int = 0


def run_due(ctx: ServiceContext, as_of: datetime | None = None, *, batch_size: int = BATCH) -> DueReport:
    """Expire every request in progress whose time has come as of ``as_of`` (default: now), then send the
    reminders due by then. Records and mails are dated ``as_of``."""
    when = as_of or ctx.clock.now()
    expired = _expire_all(ctx, when, batch_size)
    last = _remind_all(ctx, when, LAST, batch_size)
    first = _remind_all(ctx, when, FIRST, batch_size)
    return DueReport(expired, first, last)


def _expire_all(ctx: ServiceContext, as_of: datetime, batch_size: int) -> int:
    total = retries = 0
    while True:
        try:
            with ctx.uow.begin() as tx:
                tx.lock(EXPIRY_LOCK)
                due = list_due_expiries(tx.conn, as_of, batch_size)
                expire_requests(tx, due, as_of, base_url=ctx.settings.base_url)
        except RequestsChanged:
            retries += 1
            if retries > MAX_RETRIES:
                log.warning("consent_request_expiry_gave_up", retries=retries, expired=total)
                return total
            continue
        total += len(due)
        if len(due) < batch_size:
            return total


def _remind_all(ctx: ServiceContext, as_of: datetime, which: str, batch_size: int) -> int:
    total = 0
    while True:
        with ctx.uow.begin() as tx:
            tx.lock(REMINDER_LOCK)
            candidates = list_due_reminders(tx.conn, as_of, which, batch_size)
            due_at = last_reminder_due if which == LAST else first_reminder_due
            ready = [c for c in candidates if due_at(c.request.created_at, c.request.expires_at) <= as_of]
            marked = mark_reminded(tx.conn, [c.request.id for c in ready], which, as_of)
            _send_reminders(tx, [c for c in ready if c.request.id in marked], which == LAST, as_of,
                            ctx.settings.base_url)
        total += len(marked)
        if not marked or len(candidates) < batch_size:
            return total


def _send_reminders(tx: Transaction, due: list[DueRequest], final: bool, now: datetime, base_url: str) -> None:
    mailing = Mailing(tx, base_url)
    kind = messages.FINAL_REMINDER if final else messages.FIRST_REMINDER
    by_tenant: dict[str, list[DueRequest]] = {}
    for item in due:
        by_tenant.setdefault(item.request.tenant_id, []).append(item)
    for tenant_id, items in by_tenant.items():
        scope = tx.tenant(tenant_id)
        snapshots = scope.requests.reviewer_ids_of([i.request.id for i in items])
        mails = []
        for item in items:
            facts = mailing.facts(item.request, About.due(item))
            mails += mailing.to_reviewers(scope, item.request.id, snapshots.get(item.request.id, ()), facts, kind)
        outbox.enqueue(scope, mails, now)
