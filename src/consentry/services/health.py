"""Readiness: the database answers and its schema is at the latest migration."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from consentry.store import migrate


def readiness(engine: Engine) -> tuple[bool, str]:
    try:
        if not migrate.is_current(engine):
            return False, "database schema is not at the latest migration; run 'consentry db upgrade'"
    except SQLAlchemyError:
        return False, "database unreachable"
    return True, "ok"
