"""OData ``$filter`` trees (from odata-query) translated into SQL over a whitelist of Graph properties,
and keyset paging: a page after the sort key of the previous page's last row, so that page 1,000 costs
what page 1 costs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from odata_query import ast
from sqlalchemy import ColumnElement, Connection, Select, and_, false, func, not_, or_, select, true, tuple_
from sqlalchemy.dialects.postgresql import JSONB

from consentry.errors import GRAPH_UNSUPPORTED_QUERY, ConsentryError

Lambda = Callable[[ast.Lambda, ast.CollectionLambda], ColumnElement[bool]]


@dataclass(frozen=True)
class Fields:
    """The filterable and sortable Graph properties of one resource."""

    columns: Mapping[str, Any]
    collections: Mapping[str, Lambda] | None = None


def _unsupported(what: str) -> ConsentryError:
    return ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason=f"Unsupported query: {what}.")


def _literal(node: ast._Node) -> Any:
    if isinstance(node, ast.String | ast.Integer | ast.Boolean | ast.GUID | ast.Float):
        value = node.py_val
        if isinstance(value, int) and not -(2**63) <= value < 2**63:  # what a database column can hold
            raise _unsupported("an integer literal out of range")
        return str(value) if isinstance(node, ast.GUID) else value
    if isinstance(node, ast.Null):
        return None
    raise _unsupported("the right side of a comparison must be a literal")


def _column(node: ast._Node, fields: Fields) -> Any:
    if isinstance(node, ast.Identifier) and not node.namespace and node.name in fields.columns:
        return fields.columns[node.name]
    name = getattr(node, "name", type(node).__name__)
    raise _unsupported(f"filtering on '{name}'")


_COMPARE: dict[type, Callable[[Any, Any], ColumnElement[bool]]] = {
    ast.Eq: lambda c, v: c.is_(None) if v is None else c == v,
    ast.NotEq: lambda c, v: c.is_not(None) if v is None else c != v,
    ast.Lt: lambda c, v: c < v, ast.LtE: lambda c, v: c <= v,
    ast.Gt: lambda c, v: c > v, ast.GtE: lambda c, v: c >= v,
}


def _fits(column: Any, value: Any) -> bool:
    """Whether a literal can be compared with a column at all: ``displayName eq 5`` matches nothing
    (PostgreSQL would refuse to compare text with a number)."""
    if value is None:
        return True
    try:
        expected = column.type.python_type
    except (AttributeError, NotImplementedError):
        return True
    if expected is bool:
        return isinstance(value, bool)
    if expected in (int, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, expected)


def to_where(node: ast._Node, fields: Fields) -> ColumnElement[bool]:
    if isinstance(node, ast.BoolOp):
        left, right = to_where(node.left, fields), to_where(node.right, fields)
        return and_(left, right) if isinstance(node.op, ast.And) else or_(left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not_(to_where(node.operand, fields))
    if isinstance(node, ast.Compare):
        column = _column(node.left, fields)
        if isinstance(node.comparator, ast.In):
            if not isinstance(node.right, ast.List) or not node.right.val:
                raise _unsupported("'in' needs a non-empty list")
            values = [v for v in (_literal(item) for item in node.right.val) if _fits(column, v)]
            return column.in_(values) if values else false()
        compare = _COMPARE.get(type(node.comparator))
        if compare is None:
            raise _unsupported(type(node.comparator).__name__)
        value = _literal(node.right)
        if _fits(column, value):
            return compare(column, value)
        return true() if isinstance(node.comparator, ast.NotEq) else false()
    if isinstance(node, ast.Call) and node.func.name.lower() == "startswith" and len(node.args) == 2:
        prefix = _literal(node.args[1])
        if not isinstance(prefix, str):
            raise _unsupported("startswith needs a string")
        column = _column(node.args[0], fields)
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return func.lower(column).like(escaped.lower() + "%", escape="\\")
    if isinstance(node, ast.CollectionLambda) and isinstance(node.owner, ast.Identifier):
        handler = (fields.collections or {}).get(node.owner.name)
        if handler is not None and isinstance(node.operator, ast.Any) and node.lambda_ is not None:
            return handler(node.lambda_, node)
    raise _unsupported(type(node).__name__)


def lambda_value(lam: ast.Lambda) -> Any:
    """The literal of the only supported lambda body shape: ``x: x eq 'value'``."""
    body = lam.expression
    if (isinstance(body, ast.Compare) and isinstance(body.comparator, ast.Eq)
            and isinstance(body.left, ast.Identifier) and body.left.name == lam.identifier.name):
        return _literal(body.right)
    raise _unsupported("only 'x: x eq value' is supported inside any()")


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_after: tuple[Any, ...] | None
    count: int | None = None


def fetch_page(conn: Connection, query: Select[Any], order: Sequence[Any], *, descending: bool,
               after: tuple[Any, ...] | None, limit: int, count: bool = False) -> Page:
    """Rows of ``query`` sorted by ``order`` (its last column unique), after the key ``after``."""
    total = None
    if count:
        total = int(conn.execute(select(func.count()).select_from(query.subquery())).scalar() or 0)
    if after is not None:
        matches = len(after) == len(order) and all(
            v is not None and _fits(c, v) for c, v in zip(order, after, strict=True))
        if not matches:
            raise ConsentryError(GRAPH_UNSUPPORTED_QUERY, reason="The $skiptoken does not match this query.")
        key = tuple_(*order)
        query = query.where(key < tuple_(*after) if descending else key > tuple_(*after))
    query = query.order_by(*[c.desc() if descending else c.asc() for c in order]).limit(limit + 1)
    rows = list(conn.execute(query))
    more = len(rows) > limit
    rows = rows[:limit]
    next_after = tuple(getattr(rows[-1], c.key) for c in order) if more and rows else None
    return Page(rows, next_after, total)


def json_array_contains(conn: Connection, column: Any, value: Any) -> ColumnElement[bool]:
    """``value`` is an element of the JSON array in ``column`` (SQLite json_each; PostgreSQL jsonb ``@>``)."""
    if conn.dialect.name == "postgresql":
        return column.cast(JSONB).contains([value])
    each = func.json_each(column).table_valued("value").alias("element")
    return select(1).select_from(each).where(each.c.value == value).exists()
