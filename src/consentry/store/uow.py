"""Units of work: one database transaction, with the repositories that work inside it.

``tx.tenant(tenant_id)`` gives the repositories built for one tenant: every query they run is scoped to
it. The few reads that cross tenants (a multi-tenant application's home registration, a user found by
sign-in name) are methods named for what they do on :class:`Transaction` itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select

from consentry.store.apps import ApplicationCatalog, AppRepository
from consentry.store.audit import DIRECTORY_CHANGED, AuditRepository
from consentry.store.consent_requests import ConsentRequestRepository
from consentry.store.database import READ_ONLY
from consentry.store.deleted import DeletedObjectRepository
from consentry.store.directory import DirectoryRepository, TenantRegistry
from consentry.store.grants import GrantRepository
from consentry.store.keys import KeyRepository
from consentry.store.mailbox import MailboxRepository
from consentry.store.outbox import OutboxMessage, OutboxRepository, claim_due
from consentry.store.policies import PolicyRepository
from consentry.store.tables import directory_version
from consentry.store.tokens import TokenStore

_VERSION = select(directory_version.c.version).where(directory_version.c.id == 1)


class TenantScope:
    """Every repository for one tenant."""

    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.directory = DirectoryRepository(conn, tenant_id)
        self.apps = AppRepository(conn, tenant_id)
        self.grants = GrantRepository(conn, tenant_id)
        self.audit = AuditRepository(conn, tenant_id)
        self.deleted = DeletedObjectRepository(conn, tenant_id)
        self.policies = PolicyRepository(conn, tenant_id)
        self.outbox = OutboxRepository(conn, tenant_id)
        self.mailbox = MailboxRepository(conn, tenant_id)
        self.requests = ConsentRequestRepository(conn, tenant_id)


class Transaction:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.tenants = TenantRegistry(conn)
        self.applications = ApplicationCatalog(conn)
        self.tokens = TokenStore(conn)
        self.keys = KeyRepository(conn)

    def tenant(self, tenant_id: str) -> TenantScope:
        return TenantScope(self.conn, tenant_id)

    def directory_version(self) -> int:
        """A number that moves on with every audited directory change, anywhere."""
        return int(self.conn.execute(_VERSION).scalar() or 0)

    def lock(self, key: str) -> None:
        """Serialize this transaction with every other one that locks the same key, until it ends.

        SQLite needs nothing: a writing transaction already holds the database's write lock. PostgreSQL
        takes a transaction-scoped advisory lock."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))

    def claim_due_mail(self, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
        """Lease due outbox messages of every tenant for delivery (see :func:`consentry.store.outbox.claim_due`);
        the outcome of each is then recorded through its own tenant's ``outbox``."""
        return claim_due(self.conn, now, limit, lease)

    def add_sign_ins(self, rows: list[dict[str, object]]) -> None:
        """Sign-in log rows of any tenants, written in one statement."""
        AuditRepository(self.conn, "").add_sign_ins(rows)


class UnitOfWork:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.on_directory_change: list[Callable[[], None]] = []
        # SQLite has one writer at a time, and its busy handler is not fair: under many writing threads one
        # can wait past the busy timeout. Queueing this process's writers here first makes them take turns.
        self._writers = threading.RLock() if engine.dialect.name == "sqlite" else None

    @contextmanager
    def begin(self) -> Iterator[Transaction]:
        """A read-write transaction, committed when the block ends without an exception. When it changed
        the directory, the ``on_directory_change`` callbacks run after the commit."""
        with self._writers or nullcontext(), self.engine.connect() as conn:
            try:
                with conn.begin():
                    yield Transaction(conn)
                changed = conn.info.get(DIRECTORY_CHANGED, False)
            finally:
                conn.info.pop(DIRECTORY_CHANGED, None)
        if changed:
            for callback in self.on_directory_change:
                callback()

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        """A read-only transaction (on SQLite it does not take the write lock)."""
        with self.engine.connect() as conn:
            conn.info[READ_ONLY] = True
            try:
                with conn.begin():
                    yield Transaction(conn)
            finally:
                conn.info.pop(READ_ONLY, None)
