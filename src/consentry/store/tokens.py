"""Short-lived protocol state shared by every server process: sessions, interactions, authorization
codes, refresh tokens, device codes, spent client assertions and lockout counters.

Secrets (codes, tokens, session ids) are stored only as SHA-256 digests. Single use is enforced by the
database: a conditional UPDATE that only one process can win.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from consentry.domain.lockout import EMPTY, LockoutState
from consentry.store.mapping import utc_fields
from consentry.store.tables import (
    authorization_codes,
    device_codes,
    interactions,
    lockouts,
    refresh_tokens,
    sessions,
    used_assertions,
)

Row = dict[str, Any]


class TokenStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # sessions
    def add_session(self, **values: Any) -> None:
        self.conn.execute(insert(sessions).values(**values))

    def find_session(self, id_hash: str) -> Row | None:
        row = self.conn.execute(select(sessions).where(sessions.c.id_hash == id_hash)).first()
        return utc_fields(row, "auth_time", "expires_at", "revoked_at") if row else None

    def revoke_session(self, id_hash: str, now: datetime) -> None:
        self.conn.execute(update(sessions).where(sessions.c.id_hash == id_hash).values(revoked_at=now))

    # interactions
    def add_interaction(self, **values: Any) -> None:
        self.conn.execute(insert(interactions).values(**values))

    def find_interaction(self, id_hash: str) -> Row | None:
        row = self.conn.execute(select(interactions).where(interactions.c.id_hash == id_hash)).first()
        return utc_fields(row, "created_at", "expires_at") if row else None

    def remove_interaction(self, id_hash: str) -> bool:
        """Remove it; False when it was already gone (so a second use of it can be refused)."""
        return bool(self.conn.execute(delete(interactions).where(interactions.c.id_hash == id_hash)).rowcount)

    # authorization codes
    def add_code(self, **values: Any) -> None:
        self.conn.execute(insert(authorization_codes).values(**values))

    def find_code(self, code_hash: str) -> Row | None:
        row = self.conn.execute(select(authorization_codes).where(authorization_codes.c.code_hash == code_hash)).first()
        return utc_fields(row, "auth_time", "created_at", "expires_at", "redeemed_at") if row else None

    def redeem_code(self, code_hash: str, now: datetime) -> bool:
        """Mark a code redeemed; False when another request already did."""
        result = self.conn.execute(update(authorization_codes).where(
            authorization_codes.c.code_hash == code_hash, authorization_codes.c.redeemed_at.is_(None))
            .values(redeemed_at=now))
        return result.rowcount == 1

    # refresh tokens
    def add_refresh_token(self, **values: Any) -> None:
        self.conn.execute(insert(refresh_tokens).values(**values))

    def find_refresh_token(self, token_hash: str) -> Row | None:
        row = self.conn.execute(select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)).first()
        return utc_fields(row, "auth_time", "created_at", "expires_at", "spent_at", "revoked_at") if row else None

    def spend_refresh_token(self, token_hash: str, now: datetime) -> bool:
        result = self.conn.execute(update(refresh_tokens).where(
            refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.spent_at.is_(None),
            refresh_tokens.c.revoked_at.is_(None)).values(spent_at=now))
        return result.rowcount == 1

    def revoke_refresh_family(self, family_id: str, now: datetime) -> None:
        self.conn.execute(update(refresh_tokens).where(refresh_tokens.c.family_id == family_id,
                                                       refresh_tokens.c.revoked_at.is_(None))
                          .values(revoked_at=now))

    def revoke_refresh_tokens_of_user(self, user_id: str, now: datetime) -> None:
        self.conn.execute(update(refresh_tokens).where(refresh_tokens.c.user_id == user_id,
                                                       refresh_tokens.c.revoked_at.is_(None))
                          .values(revoked_at=now))

    # device codes
    def add_device_code(self, **values: Any) -> None:
        self.conn.execute(insert(device_codes).values(**values))

    def find_device_code(self, device_code_hash: str) -> Row | None:
        row = self.conn.execute(select(device_codes).where(
            device_codes.c.device_code_hash == device_code_hash)).first()
        return utc_fields(row, "auth_time", "created_at", "expires_at", "last_poll_at") if row else None

    def find_device_code_by_user_code(self, user_code: str) -> Row | None:
        row = self.conn.execute(select(device_codes).where(device_codes.c.user_code == user_code)).first()
        return utc_fields(row, "auth_time", "created_at", "expires_at", "last_poll_at") if row else None

    def update_device_code(self, device_code_hash: str, *, expect_status: str | None = None,
                           **values: Any) -> bool:
        query = update(device_codes).where(device_codes.c.device_code_hash == device_code_hash)
        if expect_status is not None:
            query = query.where(device_codes.c.status == expect_status)
        return self.conn.execute(query.values(**values)).rowcount == 1

    # client assertions (replay protection)
    def spend_assertion(self, jti_hash: str, expires_at: datetime) -> bool:
        """Record a client assertion's jti; False when it was seen before."""
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(used_assertions).values(jti_hash=jti_hash, expires_at=expires_at))
        except IntegrityError:
            return False
        return True

    # lockout counters
    def get_lockout(self, user_id: str, *, for_update: bool = False) -> LockoutState:
        query = select(lockouts).where(lockouts.c.user_id == user_id)
        if for_update and self.conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        if row is None:
            return EMPTY
        values = utc_fields(row, "window_start", "locked_until")
        return LockoutState(values["failures"], values["window_start"], values["locked_until"])

    def save_lockout(self, user_id: str, state: LockoutState) -> None:
        values = dict(failures=state.failures, window_start=state.window_start, locked_until=state.locked_until)
        if self.conn.execute(update(lockouts).where(lockouts.c.user_id == user_id).values(**values)).rowcount == 0:
            self.conn.execute(insert(lockouts).values(user_id=user_id, **values))

    def clear_lockout(self, user_id: str) -> None:
        self.conn.execute(delete(lockouts).where(lockouts.c.user_id == user_id))

    # housekeeping
    def purge_expired(self, now: datetime) -> None:
        for table in (authorization_codes, device_codes, used_assertions, interactions, refresh_tokens, sessions):
            self.conn.execute(delete(table).where(table.c.expires_at < now))
