"""Units of work: one database transaction, with the repositories that work inside it.

``tx.tenant(tenant_id)`` gives the repositories built for one tenant: every query they run is scoped to
it. The few reads that cross tenants (a multi-tenant application's home registration, a user found by
sign-in name) are methods named for what they do on :class:`Transaction` itself.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select

from consentry.store.apps import ApplicationCatalog, AppRepository
from consentry.store.audit import DIRECTORY_CHANGED, AuditRepository
from consentry.store.consent_requests import ConsentRequestRepository
from consentry.store.database import POOL_SIZE, POOL_TIMEOUT, READ_ONLY
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


class FairGate:
    """Lets at most ``capacity`` threads in at once and admits waiting threads strictly in arrival order.

    A connection pool's own queue is not fair: a thread that returns a connection and asks again at once
    gets it back ahead of the threads already waiting, which can starve them (seen as multi-second tails
    when more threads than connections queue on one advisory lock). A thread already inside passes again
    without taking another place, so a nested transaction never waits behind others for its own thread."""

    def __init__(self, capacity: int, timeout: float) -> None:
        self._capacity = capacity
        self._timeout = timeout
        self._mutex = threading.Lock()
        self._free = capacity
        self._waiting: deque[threading.Event] = deque()
        self._inside = threading.local()

    @property
    def waiting(self) -> int:
        """How many threads are queued for a place."""
        with self._mutex:
            return len(self._waiting)

    @contextmanager
    def enter(self) -> Iterator[None]:
        depth = getattr(self._inside, "depth", 0)
        if depth == 0:
            self._acquire()
        self._inside.depth = depth + 1
        try:
            yield
        finally:
            self._inside.depth = depth
            if depth == 0:
                self._release()

    def _acquire(self) -> None:
        with self._mutex:
            if self._free and not self._waiting:
                self._free -= 1
                return
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(self._timeout):
            return
        with self._mutex:
            if turn.is_set():  # handed a place just as the wait ran out
                return
            self._waiting.remove(turn)
        raise TimeoutError(f"no database connection became free within {self._timeout:g} s "
                           f"({self._capacity} in use)")

    def _release(self) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()  # the place passes straight to the longest waiter
            else:
                self._free += 1


class UnitOfWork:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.on_directory_change: list[Callable[[], None]] = []
        # PostgreSQL transactions queue here, in arrival order, for one of the pool's steady connections; the
        # pool's overflow is left for nested reads and for what runs outside units of work (migrations).
        self._gate = None if engine.dialect.name == "sqlite" else FairGate(POOL_SIZE, POOL_TIMEOUT)
        # SQLite has one writer at a time, and its busy handler is not fair: under many writing threads one
        # can wait past the busy timeout. Queueing this process's writers here first makes them take turns.
        self._writers = threading.RLock() if engine.dialect.name == "sqlite" else None

    def _turn(self) -> AbstractContextManager[None]:
        return self._gate.enter() if self._gate is not None else nullcontext()

    @contextmanager
    def begin(self) -> Iterator[Transaction]:
        """A read-write transaction, committed when the block ends without an exception. When it changed
        the directory, the ``on_directory_change`` callbacks run after the commit."""
        with self._turn(), self._writers or nullcontext(), self.engine.connect() as conn:
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
        """A read-only transaction (on SQLite it does not take the write lock). On PostgreSQL it runs in
        autocommit: each statement sees what is committed when it starts, exactly as in a READ COMMITTED
        transaction, without the BEGIN and COMMIT round trips."""
        with self._turn(), self.engine.connect() as conn:
            if self._gate is not None:
                conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.info[READ_ONLY] = True
            try:
                with conn.begin():
                    yield Transaction(conn)
            finally:
                conn.info.pop(READ_ONLY, None)
