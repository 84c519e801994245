"""The mail outbox: messages written with the events that caused them, kept until delivered.

A message's life, as its row records it::

    (enqueued) ── pending ──claim (lease_until set)──▶ leased ──sent──────▶ sent (sent_at; final)
                     ▲                                    │
                     ├──── failure: attempts+1, ──────────┤   failed: pending with a last_error
                     │     next_attempt_at = now + backoff, last_error
                     └──── released unattempted, or the lease lapses (a crashed sender)

:class:`OutboxRepository` is the outbox of one tenant (queue, record the outcome of a delivery, page it for
the portal). :func:`claim_due` is the one read that crosses tenants: the delivery job takes due messages of
every tenant under a lease. The lease value doubles as a fencing token: a sender whose lease lapsed and was
taken over cannot record a failure over the new holder's lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import ColumnElement

from consentry.domain.clock import as_utc
from consentry.domain.mail import OutgoingMail
from consentry.store.tables import outbox

PENDING = "pending"  # not sent, never failed
FAILED = "failed"  # not sent, the last attempt failed: it is retried after its backoff
SENT = "sent"
STATUSES = (PENDING, FAILED, SENT)
MAX_ERROR = 512  # the last_error column


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One outbox row: the message and where its delivery stands."""

    id: str
    tenant_id: str
    event_key: str
    message_id: str
    recipient: str
    subject: str
    text: str
    html: str
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    lease_until: datetime | None
    sent_at: datetime | None
    last_error: str | None

    @property
    def mail(self) -> OutgoingMail:
        return OutgoingMail(self.event_key, self.recipient, self.subject, self.text, self.html)

    @property
    def status(self) -> str:
        if self.sent_at is not None:
            return SENT
        return FAILED if self.last_error is not None else PENDING


def _message(row: Row[Any]) -> OutboxMessage:
    return OutboxMessage(
        id=row.id, tenant_id=row.tenant_id, event_key=row.event_key, message_id=row.message_id,
        recipient=row.recipient, subject=row.subject, text=row.body_text, html=row.body_html,
        created_at=as_utc(row.created_at), attempts=int(row.attempts), next_attempt_at=as_utc(row.next_attempt_at),
        lease_until=as_utc(row.lease_until) if row.lease_until is not None else None,
        sent_at=as_utc(row.sent_at) if row.sent_at is not None else None, last_error=row.last_error)


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(outbox.c.sent_at.is_(None), outbox.c.next_attempt_at <= now,
                or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now))


def claim_due(conn: Connection, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
    """Lease up to ``limit`` unsent messages of any tenant that are due at ``now`` and not leased by anyone
    else, oldest due first; each comes back with ``lease_until = now + lease``.

    Safe with concurrent claimers: PostgreSQL skips rows another transaction is claiming (``FOR UPDATE
    SKIP LOCKED``), SQLite writers hold the database's write lock (``BEGIN IMMEDIATE``), and the update
    re-checks the claim condition, so a row is leased by one claimer at a time."""
    now = as_utc(now)
    due = (select(outbox.c.id).where(_claimable(now))
           .order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit))
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(conn.execute(due).scalars())
    if not ids:
        return []
    lease_until = now + lease
    claimed = conn.execute(update(outbox).where(outbox.c.id.in_(ids), _claimable(now))
                           .values(lease_until=lease_until).returning(*outbox.c))
    return sorted((_message(r) for r in claimed), key=lambda m: (m.next_attempt_at, m.id))


class OutboxRepository:
    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    def add_all(self, mails: Sequence[tuple[OutgoingMail, str, str]], now: datetime) -> int:
        """Queue messages, each given as (mail, Message-ID, row id), in one statement, skipping any whose
        event key exists — also when another transaction queues the same key at the same moment
        (``ON CONFLICT DO NOTHING``). Returns how many were queued."""
        if not mails:
            return 0
        rows = [dict(id=mail_id, tenant_id=self.tenant_id, event_key=mail.event_key, message_id=message_id,
                     recipient=mail.recipient, subject=mail.subject, body_text=mail.text, body_html=mail.html,
                     created_at=now, attempts=0, next_attempt_at=now, lease_until=None, sent_at=None,
                     last_error=None) for mail, message_id, mail_id in mails]
        dialect_insert = postgresql_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        statement = (dialect_insert(outbox).on_conflict_do_nothing(index_elements=["event_key"])
                     .returning(outbox.c.id))
        return len(self.conn.execute(statement, rows).all())

    def find(self, mail_id: str) -> OutboxMessage | None:
        row = self.conn.execute(select(outbox).where(outbox.c.tenant_id == self.tenant_id,
                                                     outbox.c.id == mail_id)).first()
        return _message(row) if row is not None else None

    def record_sent(self, mail_id: str, now: datetime) -> bool:
        """Record a delivery and release the lease in one statement; False when it was already recorded.

        Not fenced by the lease: a message that went out is recorded as sent whoever holds the lease now,
        so that no one sends it again."""
        done = self.conn.execute(update(outbox).where(
            outbox.c.tenant_id == self.tenant_id, outbox.c.id == mail_id, outbox.c.sent_at.is_(None),
        ).values(sent_at=as_utc(now), attempts=outbox.c.attempts + 1, lease_until=None, last_error=None))
        return done.rowcount == 1

    def record_failure(self, mail_id: str, *, lease_until: datetime, error: str, retry_at: datetime) -> bool:
        """Count a failed attempt and schedule the next at ``retry_at``, releasing the lease; only while the
        caller still holds it (``lease_until`` is the value its claim set). False when it no longer does."""
        done = self.conn.execute(update(outbox).where(
            outbox.c.tenant_id == self.tenant_id, outbox.c.id == mail_id, outbox.c.sent_at.is_(None),
            outbox.c.lease_until == as_utc(lease_until),
        ).values(attempts=outbox.c.attempts + 1, next_attempt_at=as_utc(retry_at), lease_until=None,
                 last_error=error[:MAX_ERROR]))
        return done.rowcount == 1

    def release(self, mail_id: str, *, lease_until: datetime, retry_at: datetime) -> bool:
        """Give a leased message back unattempted, due again at ``retry_at`` (attempts and last error kept);
        only while the caller still holds the lease. False when it no longer does."""
        done = self.conn.execute(update(outbox).where(
            outbox.c.tenant_id == self.tenant_id, outbox.c.id == mail_id, outbox.c.sent_at.is_(None),
            outbox.c.lease_until == as_utc(lease_until),
        ).values(next_attempt_at=as_utc(retry_at), lease_until=None))
        return done.rowcount == 1

    def page(self, *, status: str | None = None, after: tuple[datetime, str] | None = None,
             limit: int = 50) -> tuple[list[OutboxMessage], tuple[datetime, str] | None]:
        """One page of the tenant's outbox, newest first, after the key ``(created_at, id)`` ``after``;
        ``status`` is one of :data:`STATUSES` or None for all. The walk follows the (tenant, created_at, id)
        index. Returns the messages and the key of the next page (None on the last)."""
        o = outbox
        query = select(o).where(o.c.tenant_id == self.tenant_id)
        if status == SENT:
            query = query.where(o.c.sent_at.is_not(None))
        elif status == PENDING:
            query = query.where(o.c.sent_at.is_(None), o.c.last_error.is_(None))
        elif status == FAILED:
            query = query.where(o.c.sent_at.is_(None), o.c.last_error.is_not(None))
        if after is not None:
            key = tuple_(o.c.created_at, o.c.id)
            query = query.where(key < tuple_(as_utc(after[0]), after[1]))
        rows = list(self.conn.execute(query.order_by(o.c.created_at.desc(), o.c.id.desc()).limit(limit + 1)))
        messages = [_message(r) for r in rows[:limit]]
        if len(rows) > limit and messages:
            return messages, (messages[-1].created_at, messages[-1].id)
        return messages, None
