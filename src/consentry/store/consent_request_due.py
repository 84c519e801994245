"""What the admin consent request job reads and changes, across tenants by design: requests due to
expire, reminders due to go out, and the conditional updates that make each change happen once (the
caller acts only on the rows an update returned). Every function takes a Connection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, func, select, update

from consentry.domain.consent_requests import IN_PROGRESS, MAX_DURATION_DAYS, UserConsentRequest
from consentry.store.consent_requests import Closing, user_request_from_row
from consentry.store.tables import admin_consent_request_policies, app_consent_requests, user_consent_requests

_pol = admin_consent_request_policies
_acr = app_consent_requests
_ucr = user_consent_requests

# SQLite's julianday() and PostgreSQL's epoch differ by this many days.
_UNIX_EPOCH_JULIAN_DAY = 2440587.5
# Rounding in the database's time arithmetic: candidates are chosen with this much slack and checked exactly.
_SLACK_SECONDS = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class DueRequest:
    """A request in progress the job must act on, with what it needs to know about its aggregate."""

    request: UserConsentRequest
    app_id: str
    app_display_name: str
    consent_type: str


def _epoch(conn: Connection, column: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - _UNIX_EPOCH_JULIAN_DAY) * 86400.0


def _due_query() -> Any:
    return (select(_ucr, _acr.c.app_id, _acr.c.app_display_name, _acr.c.consent_type)
            .join(_acr, _acr.c.id == _ucr.c.app_request_id))


def _due(row: Any) -> DueRequest:
    return DueRequest(user_request_from_row(row), row.app_id, row.app_display_name, row.consent_type)


def list_due_expiries(conn: Connection, as_of: datetime, limit: int) -> list[DueRequest]:
    """Across tenants: requests in progress whose expiry time has come, oldest first."""
    query = (_due_query().where(_ucr.c.status == IN_PROGRESS, _ucr.c.expires_at <= as_of)
             .order_by(_ucr.c.expires_at, _ucr.c.id).limit(limit))
    return [_due(r) for r in conn.execute(query)]


def expire(conn: Connection, user_request_ids: Sequence[str], closing: Closing) -> list[UserConsentRequest]:
    """Across tenants: expire those of these requests still in progress; returns the ones this call expired."""
    if not user_request_ids:
        return []
    rows = conn.execute(update(_ucr).where(_ucr.c.id.in_(list(user_request_ids)), _ucr.c.status == IN_PROGRESS)
                        .values(**closing.values()).returning(*_ucr.c))
    return [user_request_from_row(r) for r in rows]


FIRST = "first"
LAST = "last"


def list_due_reminders(conn: Connection, as_of: datetime, which: str, limit: int) -> list[DueRequest]:
    """Across tenants: requests in progress, not yet expired, whose reminder (``FIRST``: halfway; ``LAST``: the
    day before expiry) is due as of ``as_of`` and has not gone out, in tenants whose policy sends reminders.

    A request whose last reminder went out gets no first reminder afterwards. The database chooses with a
    second of slack; the caller checks each candidate exactly (``first_reminder_due``/``last_reminder_due``)."""
    halfway_passed = (_epoch(conn, _ucr.c.created_at) + _epoch(conn, _ucr.c.expires_at)
                      <= 2 * as_of.timestamp() + _SLACK_SECONDS)
    horizon = timedelta(days=1) if which == LAST else timedelta(days=MAX_DURATION_DAYS / 2)
    not_sent: ColumnElement[bool] = _ucr.c.last_reminder_at.is_(None)
    if which == FIRST:
        not_sent = and_(not_sent, _ucr.c.first_reminder_at.is_(None))
    policy_sends = exists().where(_pol.c.tenant_id == _ucr.c.tenant_id, _pol.c.reminders_enabled.is_(True),
                                  _pol.c.notify_reviewers.is_(True))
    query = (_due_query().where(
        _ucr.c.status == IN_PROGRESS, _ucr.c.expires_at > as_of,
        _ucr.c.expires_at <= as_of + horizon + timedelta(seconds=_SLACK_SECONDS),
        not_sent, halfway_passed, policy_sends).order_by(_ucr.c.expires_at, _ucr.c.id).limit(limit))
    if conn.dialect.name == "postgresql":
        # Rows another process is reminding about right now are skipped, not waited for.
        query = query.with_for_update(of=_ucr, skip_locked=True)
    return [_due(r) for r in conn.execute(query)]


def mark_reminded(conn: Connection, user_request_ids: Sequence[str], which: str, as_of: datetime) -> set[str]:
    """Across tenants: record that the reminder went out, for those still without it; returns their ids."""
    if not user_request_ids:
        return set()
    column = _ucr.c.first_reminder_at if which == FIRST else _ucr.c.last_reminder_at
    rows = conn.execute(update(_ucr).where(_ucr.c.id.in_(list(user_request_ids)), _ucr.c.status == IN_PROGRESS,
                                           column.is_(None)).values({column: as_of}).returning(_ucr.c.id))
    return set(rows.scalars())

