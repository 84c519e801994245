"""The directory audit log and the sign-in log of one tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from consentry.store.mapping import utc_fields
from consentry.store.tables import audit_events, directory_version, sign_in_events

_BUMP_VERSION = (update(directory_version).where(directory_version.c.id == 1)
                 .values(version=directory_version.c.version + 1))


class AuditRepository:
    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    def add_event(self, **values: Any) -> None:
        """Record an audited change. Every directory change is audited, so this is also where the
        directory version that read caches compare against moves on."""
        self.conn.execute(insert(audit_events).values(tenant_id=self.tenant_id, **values))
        self.conn.execute(_BUMP_VERSION)

    def list_events(self, *, since: datetime | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        query = select(audit_events).where(audit_events.c.tenant_id == self.tenant_id)
        if since is not None:
            query = query.where(audit_events.c.activity_date_time >= since)
        query = query.order_by(audit_events.c.activity_date_time.desc(), audit_events.c.id).limit(limit)
        return [utc_fields(r, "activity_date_time") for r in self.conn.execute(query)]

    def add_sign_in(self, **values: Any) -> None:
        self.conn.execute(insert(sign_in_events).values(tenant_id=self.tenant_id, **values))

    def add_sign_ins(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(sign_in_events), rows)

    def list_sign_ins(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        query = (select(sign_in_events).where(sign_in_events.c.tenant_id == self.tenant_id)
                 .order_by(sign_in_events.c.created_date_time.desc(), sign_in_events.c.id).limit(limit))
        return [utc_fields(r, "created_date_time") for r in self.conn.execute(query)]
