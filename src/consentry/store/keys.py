"""Token-signing keys, shared by every process (the private key is stored encrypted)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from consentry.store.mapping import utc_fields
from consentry.store.tables import signing_keys


class KeyRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, **values: Any) -> None:
        self.conn.execute(insert(signing_keys).values(**values))

    def list_published(self, now: datetime) -> list[dict[str, Any]]:
        query = select(signing_keys).where(or_(signing_keys.c.published_until.is_(None),
                                               signing_keys.c.published_until > now))
        rows = self.conn.execute(query.order_by(signing_keys.c.signs_from.desc()))
        return [utc_fields(r, "created_at", "signs_from", "signs_until", "published_until") for r in rows]

    def end_signing(self, kid: str, signs_until: datetime, published_until: datetime) -> None:
        self.conn.execute(update(signing_keys).where(signing_keys.c.kid == kid)
                          .values(signs_until=signs_until, published_until=published_until))

    def purge(self, now: datetime) -> None:
        self.conn.execute(delete(signing_keys).where(signing_keys.c.published_until < now))
