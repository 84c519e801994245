"""The list plumbing the directory pages share: a search box that becomes a ``startswith`` filter, and keyset
paging with an opaque cursor. The cursor is signed, so a tampered one is simply ignored (the first page is
shown), never a failure."""

from __future__ import annotations

from functools import reduce
from typing import Any
from urllib.parse import urlencode

from odata_query import ast
from starlette.requests import Request

from consentry.domain.odata import ODataQuery, decode_skiptoken, encode_skiptoken
from consentry.errors import ConsentryError
from consentry.web.http import signed, unsigned

PAGE_SIZE = 50
MAX_SEARCH = 100
_CURSOR = "after:"


def search_text(request: Request) -> str:
    """The search box's text: control characters removed, at most :data:`MAX_SEARCH` characters."""
    raw = request.query_params.get("search", "")
    return "".join(c for c in raw if c.isprintable()).strip()[:MAX_SEARCH]


def cursor_of(request: Request) -> tuple[Any, ...] | None:
    """Where the requested page starts; None (the first page) for a missing, altered or foreign cursor."""
    value = unsigned(request, request.query_params.get("after"))
    if not value or not value.startswith(_CURSOR):
        return None
    try:
        key = decode_skiptoken(value[len(_CURSOR):])
    except ConsentryError:
        return None
    return key if len(key) == 2 and all(isinstance(v, str) and "\x00" not in v for v in key) else None


def listing_query(request: Request, fields: tuple[str, ...], *, searchable: bool = True) -> ODataQuery:
    """One page sorted by display name; with a search text, names in ``fields`` starting with it."""
    text = search_text(request) if searchable else ""
    found: ast._Node | None = None
    if text:
        calls: list[ast._Node] = [ast.Call(ast.Identifier("startswith"), [ast.Identifier(f), ast.String(text)])
                                  for f in fields]
        found = reduce(lambda a, b: ast.BoolOp(ast.Or(), a, b), calls)
    return ODataQuery(filter=found, top=PAGE_SIZE, orderby=(("displayName", False),), after=cursor_of(request))


def paging(request: Request, next_after: tuple[Any, ...] | None) -> dict[str, Any]:
    """The pager's links: the next page (None at the end) and the first page (None on the first)."""
    keep = {"search": search_text(request)} if search_text(request) else {}
    first = f"{request.url.path}?{urlencode(keep)}" if cursor_of(request) is not None else None
    following = None
    if next_after is not None:
        token = signed(request, _CURSOR + encode_skiptoken(next_after))
        following = f"{request.url.path}?{urlencode({**keep, 'after': token})}"
    return {"next_link": following, "first_link": first}
