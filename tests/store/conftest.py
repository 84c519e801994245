"""Database fixtures for the store tests: every test runs on SQLite and on PostgreSQL.

``engine`` is a migrated database: a fresh SQLite file per test, or one PostgreSQL database per test
module (created on the server named by ``CONSENTRY_TEST_POSTGRES_URL`` and dropped afterwards), so tests
sharing it use fresh ids. ``empty_engine`` is a fresh database with no schema, one per test.
Without ``CONSENTRY_TEST_POSTGRES_URL`` the PostgreSQL cases are skipped, with a reason naming it (which
the suite's conftest turns into a failure when ``CONSENTRY_REQUIRE_POSTGRES=1``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.support.postgres import postgres_database, postgres_server_url_or_skip

from consentry.store import migrate
from consentry.store.database import make_engine

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    return postgres_server_url_or_skip()


@pytest.fixture(scope="module")
def postgres_module_url(postgres_server_url: str) -> Iterator[str]:
    """One database for the whole test module."""
    with postgres_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def new_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Make fresh, empty databases for this test: ``new_database_url("sqlite" | "postgres")``."""
    with ExitStack() as stack:
        def make(backend: str) -> str:
            if backend == "sqlite":
                return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
            server_url = request.getfixturevalue("postgres_server_url")
            return stack.enter_context(postgres_database(server_url))

        yield make


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'consentry.db'}"
    else:
        url = request.getfixturevalue("postgres_module_url")
    with _engine(url) as engine:
        migrate.upgrade(engine)
        yield engine


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, new_database_url: Callable[[str], str]) -> Iterator[Engine]:
    """A fresh database with no tables at all."""
    with _engine(new_database_url(request.param)) as engine:
        yield engine
