"""Bringing a database's schema up to date with the Alembic migrations kept in ``migrations/``.

Everything is programmatic: no ``alembic.ini`` is read. :func:`upgrade` runs every pending revision in
one transaction. Several processes may call it at once (every server instance does at start-up): on
PostgreSQL they queue on a session advisory lock, taken before the transaction begins so that the one
that waited reads the version the winner committed; on SQLite the write lock that ``BEGIN IMMEDIATE``
takes (see :mod:`consentry.store.database`) serialises them the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from consentry.store.database import READ_ONLY

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# A fixed key in PostgreSQL's advisory lock space: int64 of b"cnsntry\x01", unlikely to collide.
ADVISORY_LOCK_KEY = int.from_bytes(b"cnsntry\x01", "big", signed=True)


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    # Config values go through configparser interpolation; a literal "%" must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision in the migrations directory."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"No migrations found in {MIGRATIONS}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    with engine.connect() as conn:
        conn.info[READ_ONLY] = True
        try:
            return MigrationContext.configure(conn).get_current_revision()
        finally:
            conn.info.pop(READ_ONLY, None)


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    """Hold PostgreSQL's advisory lock for the migration; a no-op elsewhere."""
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    conn.commit()
    try:
        yield
    finally:
        if conn.in_transaction():
            conn.rollback()
        conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
        conn.commit()


def upgrade(engine: Engine) -> None:
    """Apply every pending migration (``alembic upgrade head``); a no-op when the schema is current."""
    with engine.connect() as conn, _migration_lock(conn), conn.begin():
        command.upgrade(_config(conn), "head")
