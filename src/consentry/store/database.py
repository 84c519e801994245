"""Engines for SQLite (WAL, foreign keys on, busy timeout) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _set_wal(cursor: Any) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite reports "database is locked" at once,
    # without calling the busy handler, when another connection is switching it at the same moment.
    deadline = time.monotonic() + 10
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    _set_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


READ_ONLY = "consentry_read_only"
POOL_SIZE = 10  # PostgreSQL connections kept open per process, and as many again in overflow
POOL_TIMEOUT = 30.0  # seconds a transaction waits for a connection before it fails


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock up front, so two processes never deadlock upgrading a read lock.
    conn.exec_driver_sql("BEGIN" if conn.info.get(READ_ONLY) else "BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10},
                               pool_size=8, max_overflow=8)
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_transactions(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE, pool_timeout=POOL_TIMEOUT,
                         pool_pre_ping=True)
