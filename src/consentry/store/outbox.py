"""The mail outbox of one tenant: messages written with the events that caused them, until delivered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from consentry.domain.mail import OutgoingMail
from consentry.store.tables import outbox


class OutboxRepository:
    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    def add(self, mail: OutgoingMail, *, message_id: str, mail_id: str, now: datetime) -> bool:
        """Queue a message unless one with the same event key exists (then False)."""
        exists = self.conn.execute(select(outbox.c.id).where(outbox.c.event_key == mail.event_key)).first()
        if exists is not None:
            return False
        self.conn.execute(insert(outbox).values(
            id=mail_id, tenant_id=self.tenant_id, event_key=mail.event_key, message_id=message_id,
            recipient=mail.recipient, subject=mail.subject, body_text=mail.text, body_html=mail.html,
            created_at=now, attempts=0, next_attempt_at=now, lease_until=None, sent_at=None, last_error=None))
        return True
