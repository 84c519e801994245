"""OData system query options as Microsoft Graph accepts them: ``$filter`` (parsed by odata-query),
``$select``, ``$top``, ``$orderby``, ``$count`` and the server-driven ``$skiptoken``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from consentry.errors import GRAPH_BAD_REQUEST, ConsentryError

DEFAULT_TOP = 100
MAX_TOP = 999
MAX_FILTER_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class ODataQuery:
    filter: ast._Node | None = None
    select: tuple[str, ...] | None = None
    top: int = DEFAULT_TOP
    orderby: tuple[tuple[str, bool], ...] = ()  # (property, descending)
    count: bool = False
    after: tuple[Any, ...] | None = None  # the sort key of the last item of the previous page


def _bad(reason: str) -> ConsentryError:
    return ConsentryError(GRAPH_BAD_REQUEST, reason=reason)


def parse_filter(text: str) -> ast._Node:
    if len(text) > MAX_FILTER_LENGTH:
        raise _bad("The $filter expression is too long.")
    try:
        return ODataParser().parse(ODataLexer().tokenize(text))
    except (ODataException, RecursionError, ValueError, TypeError) as exc:
        raise _bad(f"Invalid filter clause: {text[:200]}") from exc


def encode_skiptoken(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_skiptoken(token: str) -> tuple[Any, ...]:
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _bad("The $skiptoken is not valid.") from exc
    if not isinstance(value, list) or not all(isinstance(v, str | int | float | None) for v in value):
        raise _bad("The $skiptoken is not valid.")
    if any(isinstance(v, int) and not -(2**63) <= v < 2**63 for v in value):  # what a database column can hold
        raise _bad("The $skiptoken is not valid.")
    return tuple(value)


def parse_query(params: dict[str, str], *, orderable: frozenset[str] = frozenset()) -> ODataQuery:
    """Parse the system query options of a request (names with or without ``$``)."""
    def get(name: str) -> str | None:
        return params.get(f"${name}") or params.get(name)

    top = DEFAULT_TOP
    if (raw_top := get("top")) is not None:
        if not (raw_top.isascii() and raw_top.isdigit()) or not 1 <= int(raw_top) <= MAX_TOP:
            raise _bad(f"Invalid page size specified: '{raw_top[:20]}'. Must be between 1 and {MAX_TOP} inclusive.")
        top = int(raw_top)
    select = None
    if raw_select := get("select"):
        select = tuple(p.strip() for p in raw_select.split(",") if p.strip())
    orderby: list[tuple[str, bool]] = []
    if raw_order := get("orderby"):
        for part in raw_order.split(","):
            words = part.split()
            if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
                raise _bad(f"Invalid $orderby: '{raw_order[:100]}'.")
            if words[0] not in orderable:
                raise ConsentryError(GRAPH_BAD_REQUEST, reason=f"Sorting by '{words[0]}' is not supported.")
            orderby.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    raw_count = (get("count") or "false").lower()
    if raw_count not in ("true", "false"):
        raise _bad("$count must be true or false.")
    raw_filter = get("filter")
    skiptoken = get("skiptoken")
    return ODataQuery(filter=parse_filter(raw_filter) if raw_filter else None, select=select, top=top,
                      orderby=tuple(orderby), count=raw_count == "true",
                      after=decode_skiptoken(skiptoken) if skiptoken else None)
