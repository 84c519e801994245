"""Throwaway PostgreSQL databases on the server named by ``CONSENTRY_TEST_POSTGRES_URL``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from consentry.store.database import normalize_url

POSTGRES_URL_ENV = "CONSENTRY_TEST_POSTGRES_URL"
POSTGRES_SKIP_REASON = f"PostgreSQL not configured: set {POSTGRES_URL_ENV} to run the PostgreSQL tests"


def postgres_server_url_or_skip() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(POSTGRES_SKIP_REASON)
    return url


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A new, uniquely named database on the server at ``server_url``; dropped when the block ends."""
    name = f"consentry_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(normalize_url(server_url)).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                # FORCE: a connection a failed test left open must not keep the database alive.
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
