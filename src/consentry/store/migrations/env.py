"""Alembic environment for Consentry's schema, kept inside the package so no ``alembic.ini`` is needed.

Run programmatically by :mod:`consentry.store.migrate`, which hands over an open connection through
``config.attributes["connection"]``. A URL in ``sqlalchemy.url`` also works (offline SQL generation or a
hand-run ``alembic`` with ``-c``). On SQLite, migrations run in batch mode, because SQLite alters a table
only by copying it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from consentry.store.database import make_engine
from consentry.store.tables import metadata

config = context.config
target_metadata = metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"},
                      render_as_batch=bool(url and url.startswith("sqlite")))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("No connection in config.attributes['connection'] and no sqlalchemy.url is set.")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
