"""The directory audit log and the sign-in log of one tenant.

The audit log is read as Graph's ``/auditLogs/directoryAudits``: ``$filter`` over a few properties
(``activityDateTime`` compared with OData DateTime literals, ``initiatedBy/user/id`` and friends read from
the JSON initiator), newest first, keyset-paged on ``(activityDateTime, id)``. The sign-in log likewise as
``/auditLogs/signIns`` on ``(createdDateTime, id)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from odata_query import ast
from sqlalchemy import ColumnElement, Connection, and_, func, insert, not_, or_, select, update

from consentry.domain.clock import as_utc
from consentry.domain.odata import ODataQuery
from consentry.errors import GRAPH_UNSUPPORTED_QUERY, ConsentryError
from consentry.store.mapping import utc_fields
from consentry.store.odata import Fields, Page, fetch_page, to_where
from consentry.store.tables import audit_events, directory_version, sign_in_events

DIRECTORY_CHANGED = "consentry_directory_changed"
_BUMP_VERSION = (update(directory_version).where(directory_version.c.id == 1)
                 .values(version=directory_version.c.version + 1))


def _target_ids(values: dict[str, Any]) -> str:
    """The ids of a record's targets, space-delimited on both sides, for a ``LIKE '% id %'`` search."""
    ids = " ".join(str(t.get("id")).lower() for t in values.get("target_resources") or () if t.get("id"))
    return f" {ids} "


class AuditRepository:
    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    def add_events(self, events: Sequence[dict[str, Any]]) -> None:
        """Record audited changes, in one statement. Every directory change is audited, so this is also where
        the directory version that read caches compare against moves on (once per call)."""
        if not events:
            return
        self.conn.execute(insert(audit_events), [
            {**values, "tenant_id": self.tenant_id, "target_ids": _target_ids(values)} for values in events])
        self.conn.execute(_BUMP_VERSION)
        self.conn.info[DIRECTORY_CHANGED] = True

    def list_events(self, *, since: datetime | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        query = select(audit_events).where(audit_events.c.tenant_id == self.tenant_id)
        if since is not None:
            query = query.where(audit_events.c.activity_date_time >= since)
        query = query.order_by(audit_events.c.activity_date_time.desc(), audit_events.c.id).limit(limit)
        return [utc_fields(r, "activity_date_time") for r in self.conn.execute(query)]

    def find_event(self, event_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(audit_events).where(audit_events.c.tenant_id == self.tenant_id,
                                                           audit_events.c.id == event_id)).first()
        return utc_fields(row, "activity_date_time") if row else None

    def page_events(self, query: ODataQuery, *, target_id: str | None = None) -> tuple[list[dict[str, Any]], Page]:
        """One page of the audit log, newest first unless ``$orderby=activityDateTime asc``; with
        ``target_id``, only the records about that object."""
        e = audit_events
        base = select(e).where(e.c.tenant_id == self.tenant_id)
        if target_id is not None:
            base = base.where(e.c.target_ids.contains(f" {target_id.lower()} ", autoescape=True))
        if query.filter is not None:
            base = base.where(_where(query.filter, _AUDIT_LOG))
        descending = not query.orderby or query.orderby[0][1]
        page = fetch_page(self.conn, base, [e.c.activity_date_time, e.c.id], descending=descending,
                          after=_decode_key(query.after), limit=query.top, count=query.count)
        rows = [utc_fields(r, "activity_date_time") for r in page.rows]
        return rows, Page(rows, _encode_key(page.next_after), page.count)

    def page_sign_ins(self, query: ODataQuery) -> tuple[list[dict[str, Any]], Page]:
        """One page of the sign-in log, newest first unless ``$orderby=createdDateTime asc``."""
        s = sign_in_events
        base = select(s).where(s.c.tenant_id == self.tenant_id)
        if query.filter is not None:
            base = base.where(_where(query.filter, _SIGN_IN_LOG))
        descending = not query.orderby or query.orderby[0][1]
        page = fetch_page(self.conn, base, [s.c.created_date_time, s.c.id], descending=descending,
                          after=_decode_key(query.after), limit=query.top, count=query.count)
        rows = [utc_fields(r, "created_date_time") for r in page.rows]
        return rows, Page(rows, _encode_key(page.next_after), page.count)

    def add_sign_in(self, **values: Any) -> None:
        self.conn.execute(insert(sign_in_events).values(tenant_id=self.tenant_id, **values))

    def add_sign_ins(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(sign_in_events), rows)

    def list_sign_ins(self, *, limit: int = 1000) -> list[dict[str, Any]]:
        query = (select(sign_in_events).where(sign_in_events.c.tenant_id == self.tenant_id)
                 .order_by(sign_in_events.c.created_date_time.desc(), sign_in_events.c.id).limit(limit))
        return [utc_fields(r, "created_date_time") for r in self.conn.execute(query)]


# --- $filter over the audit and sign-in logs ----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Log:
    time_property: str
    time_column: Any
    fields: Fields
    initiator: bool  # filters on initiatedBy/... are allowed


_e = audit_events
_AUDIT_LOG = _Log("activityDateTime", _e.c.activity_date_time, Fields({
    "id": _e.c.id, "activityDisplayName": _e.c.activity_display_name, "category": _e.c.category,
    "result": _e.c.result, "correlationId": _e.c.correlation_id, "loggedByService": _e.c.logged_by_service,
    "operationType": _e.c.operation_type}), initiator=True)
_s = sign_in_events
_SIGN_IN_LOG = _Log("createdDateTime", _s.c.created_date_time, Fields({
    "id": _s.c.id, "userId": _s.c.user_id, "userPrincipalName": _s.c.user_principal_name, "appId": _s.c.app_id,
    "appDisplayName": _s.c.app_display_name, "correlationId": _s.c.correlation_id,
    "resourceDisplayName": _s.c.resource_display_name}), initiator=False)
_INITIATOR = {"initiatedBy/user/id", "initiatedBy/user/displayName", "initiatedBy/user/userPrincipalName",
              "initiatedBy/app/appId", "initiatedBy/app/displayName", "initiatedBy/app/servicePrincipalId"}
_COMPARE: dict[type, Callable[[Any, Any], ColumnElement[bool]]] = {
    ast.Eq: lambda c, v: c == v, ast.NotEq: lambda c, v: c != v,
    ast.Lt: lambda c, v: c < v, ast.LtE: lambda c, v: c <= v,
    ast.Gt: lambda c, v: c > v, ast.GtE: lambda c, v: c >= v,
}


def _unsupported(what: str) -> ConsentryError:
    return ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason=f"Unsupported query: {what}.")


def _where(node: ast._Node, log: _Log) -> ColumnElement[bool]:
    """Like :func:`consentry.store.odata.to_where`, plus the two shapes the logs need: times and (audit log)
    the initiator's properties. Anything else goes through ``to_where`` over the plain columns."""
    if isinstance(node, ast.BoolOp):
        left, right = _where(node.left, log), _where(node.right, log)
        return and_(left, right) if isinstance(node.op, ast.And) else or_(left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not_(_where(node.operand, log))
    if isinstance(node, ast.Compare) and _is_identifier(node.left, log.time_property):
        compare = _COMPARE.get(type(node.comparator))
        if compare is None:
            raise _unsupported(f"{log.time_property} takes eq, ne, lt, le, gt or ge")
        return compare(log.time_column, _datetime(node.right, log.time_property))
    if not log.initiator:
        return to_where(node, log.fields)
    if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute):
        if not isinstance(node.comparator, ast.Eq | ast.NotEq):
            raise _unsupported(f"'{_path(node.left)}' takes eq or ne")
        return _COMPARE[type(node.comparator)](_initiator(node.left), _string(node.right))
    if (isinstance(node, ast.Call) and node.func.name.lower() == "startswith" and len(node.args) == 2
            and isinstance(node.args[0], ast.Attribute)):
        prefix = _string(node.args[1])
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return func.lower(_initiator(node.args[0])).like(escaped.lower() + "%", escape="\\")
    return to_where(node, log.fields)


def _is_identifier(node: ast._Node, name: str) -> bool:
    return isinstance(node, ast.Identifier) and not node.namespace and node.name == name


def _path(node: ast._Node) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_path(node.owner)}/{node.attr}"
    return str(getattr(node, "name", type(node).__name__))


def _initiator(node: ast.Attribute) -> Any:
    path = _path(node)
    if path not in _INITIATOR:
        raise _unsupported(f"filtering on '{path}'")
    _, who, prop = path.split("/")
    return _e.c.initiated_by[(who, prop)].as_string()


def _string(node: ast._Node) -> str:
    if isinstance(node, ast.String | ast.GUID):
        return str(node.py_val)
    raise _unsupported("the right side of this comparison must be a string")


def _datetime(node: ast._Node, name: str) -> datetime:
    """An OData DateTimeOffset (``2026-11-26T00:00:00Z``, unquoted) or Date literal, in UTC: SQLite keeps
    times as UTC text without a zone, so every bound value must be UTC too."""
    try:
        if isinstance(node, ast.DateTime):
            value = node.py_val
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(node, ast.Date):
            day: date = node.py_val
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
    except (ValueError, OverflowError) as exc:  # no such day (2026-02-30), or beyond year 1-9999 in UTC
        raise _unsupported(f"{name} must be compared with a valid date and time") from exc
    raise _unsupported(f"{name} must be compared with a date and time such as 2026-11-26T00:00:00Z")


def _encode_key(key: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    """The skiptoken is JSON: the time goes in as ISO 8601 text."""
    if key is None:
        return None
    when, event_id = key
    return as_utc(when).isoformat(), event_id


def _decode_key(key: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    if key is None:
        return None
    try:
        when, event_id = key
        return as_utc(datetime.fromisoformat(when)), str(event_id)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason="The $skiptoken does not match this query.") from exc
