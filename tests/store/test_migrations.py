"""The Alembic migrations create exactly the schema of ``consentry.store.tables``, on SQLite and PostgreSQL,
and ``migrate.upgrade`` is idempotent and safe to run from several processes at once."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, insert, inspect, select, text
from sqlalchemy.engine import make_url

from consentry.store import migrate
from consentry.store.database import make_engine
from consentry.store.tables import metadata, tenants


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _backend(engine: Engine) -> str:
    return "postgres" if engine.dialect.name == "postgresql" else engine.dialect.name


def _columns(engine: Engine, table: str) -> list[dict[str, Any]]:
    dialect = engine.dialect
    return [{"name": c["name"], "type": c["type"].compile(dialect=dialect), "nullable": c["nullable"],
             "default": c["default"]} for c in inspect(engine).get_columns(table)]


def _schema(engine: Engine) -> dict[str, dict[str, Any]]:
    """Everything reflection tells about the tables of ``metadata``, in a comparable form."""
    inspector = inspect(engine)
    schema = {}
    for table in metadata.tables:
        pk = inspector.get_pk_constraint(table)
        schema[table] = {
            "columns": _columns(engine, table),
            "primary_key": (pk["name"], pk["constrained_columns"]),
            "foreign_keys": sorted((fk["name"], fk["constrained_columns"], fk["referred_table"],
                                    fk["referred_columns"], fk["options"].get("ondelete"))
                                   for fk in inspector.get_foreign_keys(table)),
            "unique": sorted((u["name"], u["column_names"]) for u in inspector.get_unique_constraints(table)),
            "indexes": sorted((i["name"], i["column_names"], bool(i["unique"]))
                              for i in inspector.get_indexes(table)),
        }
    return schema


def test_a_new_database_is_at_no_revision(empty_engine: Engine) -> None:
    assert migrate.current_revision(empty_engine) is None
    assert not migrate.is_current(empty_engine)


def test_the_revisions_form_one_line_from_the_initial_one_to_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)

    assert scripts.get_heads() == [migrate.head_revision()]
    assert scripts.get_bases() == ["0001"]


def test_upgrade_creates_every_table_with_the_same_columns(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)

    assert set(inspect(empty_engine).get_table_names()) == {*metadata.tables, "alembic_version"}
    for name, table in metadata.tables.items():
        expected = [(c.name, c.type.compile(dialect=empty_engine.dialect), c.nullable) for c in table.columns]
        actual = [(c["name"], c["type"], c["nullable"]) for c in _columns(empty_engine, name)]
        assert actual == expected, name


def test_upgrade_creates_the_schema_metadata_create_all_would(
        empty_engine: Engine, new_database_url: Callable[[str], str]) -> None:
    reference = make_engine(new_database_url(_backend(empty_engine)))
    try:
        metadata.create_all(reference)
        migrate.upgrade(empty_engine)

        assert _schema(empty_engine) == _schema(reference)
    finally:
        reference.dispose()


def test_is_current_after_upgrade(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)

    assert migrate.current_revision(empty_engine) == migrate.head_revision()
    assert migrate.is_current(empty_engine)


def test_upgrading_twice_is_a_no_op(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(insert(tenants).values(id="t1", display_name="Kept", created_at=datetime.now(UTC)))

    migrate.upgrade(empty_engine)

    assert migrate.is_current(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.execute(select(tenants.c.display_name)).scalars().all() == ["Kept"]
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    with empty_engine.connect() as conn, conn.begin():
        config.attributes["connection"] = conn
        command.downgrade(config, "base")

    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    assert migrate.current_revision(empty_engine) is None

    migrate.upgrade(empty_engine)
    assert set(inspect(empty_engine).get_table_names()) == {*metadata.tables, "alembic_version"}


def _upgrade_concurrently(url: str, count: int = 2) -> list[BaseException]:
    """Run ``migrate.upgrade`` from ``count`` threads at once, each with its own engine; their errors."""
    engines = [make_engine(url) for _ in range(count)]
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(engine: Engine) -> None:
        try:
            start.wait(timeout=10)
            migrate.upgrade(engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "an upgrade did not finish"
    finally:
        for engine in engines:
            engine.dispose()
    return errors


def test_two_concurrent_upgrades_both_succeed(empty_engine: Engine) -> None:
    if empty_engine.dialect.name == "sqlite":
        # Create the file (in WAL mode) first: two connections opening a new file at once is the separate
        # start-up race of the test below.
        with empty_engine.connect():
            pass

    assert _upgrade_concurrently(_url(empty_engine)) == []

    assert migrate.is_current(empty_engine)
    assert set(inspect(empty_engine).get_table_names()) == {*metadata.tables, "alembic_version"}
    with empty_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(text("alembic_version"))).scalar() == 1


def test_upgrade_waits_for_another_process_creating_the_sqlite_file(
        new_database_url: Callable[[str], str]) -> None:
    url = new_database_url("sqlite")
    # Another process, part-way through creating the file: a write transaction, still in rollback mode.
    creator = sqlite3.connect(str(make_url(url).database), isolation_level=None, check_same_thread=False)
    creator.execute("BEGIN IMMEDIATE")
    finish = threading.Timer(0.3, creator.execute, args=("COMMIT",))
    finish.start()
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)

        assert migrate.is_current(engine)
    finally:
        finish.join()
        creator.close()
        engine.dispose()


@pytest.mark.postgres
def test_upgrade_on_postgresql_waits_for_the_advisory_lock(new_database_url: Callable[[str], str]) -> None:
    engine = make_engine(new_database_url("postgres"))
    try:
        _assert_upgrade_waits_for_the_lock(engine)
    finally:
        engine.dispose()


def _assert_upgrade_waits_for_the_lock(engine: Engine) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(engine)
        except BaseException as exc:
            errors.append(exc)

    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": migrate.ADVISORY_LOCK_KEY})
        holder.commit()
        thread = threading.Thread(target=run)
        thread.start()
        time.sleep(1.0)
        assert thread.is_alive(), "upgrade ran while another session held the migration lock"
        assert migrate.current_revision(engine) is None
        holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": migrate.ADVISORY_LOCK_KEY})
        holder.commit()
    thread.join(timeout=60)

    assert not thread.is_alive()
    assert errors == []
    assert migrate.is_current(engine)
